/* Internal to the twin module. */
#ifndef DTWIN_TWIN_INTERNAL_H
#define DTWIN_TWIN_INTERNAL_H

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/model.h"

/* The description's memory estimate against its budget ("memory.max_bytes",
 * default DT_TWIN_MEMORY_DEFAULT), before anything is allocated; DT_ELIMIT
 * names the largest consumers. */
int dt__twin_memory_check(const dt_model *m, const dt_allocator *a, dt_diag *diag);

#endif
