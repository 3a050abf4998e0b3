/* The twin's internals a host beside the core may use: its allocator (dt__twin_allocator). */
#ifndef DTWIN_SRC_TWIN_HOST_H
#define DTWIN_SRC_TWIN_HOST_H

#include "dtwin/alloc.h"
#include "dtwin/twin.h"

/* The allocator a twin was created with; t is never NULL. No file calls it:
 * the uv driver uses the public dt_twin_allocator, which also answers NULL. */
const dt_allocator *dt__twin_allocator(const dt_twin *t);

#endif
