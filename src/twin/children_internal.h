/* Internal to the twin module: a composite's children, shared by
 * children.c (loading, binding, running them) and children_log.c (their
 * flight log inside the parent's). */
#ifndef DTWIN_TWIN_CHILDREN_INTERNAL_H
#define DTWIN_TWIN_CHILDREN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/log.h"
#include "dtwin/twin.h"

struct dt__kid {
    char *id;
    dt_twin *t;
    dt_twin *parent;
    uint32_t index;
    int in_seg;        /* inside a call of the parent that records this child */
    size_t seg_writes; /* the child's writes in this segment */
    int last_rc;       /* of its last step */
    dt_logger log;     /* the parent's, with "child ID: " before each message */
};
typedef struct dt__kid kid;

/* A segment of the child's writes: begun before a call of the parent that
 * may make the child write (record, start, step), ended after it (a
 * REC_CHILD of length 0 when the child wrote anything). */
void dt__kid_seg_begin(kid *k);
void dt__kid_seg_end(kid *k);

#endif
