/* The "child" source kind's internal interface (not installed): a composite
 * twin's beliefs of one child twin (src/twin/children.c loads the children
 * and binds each child source to its child; this adapter reads the child's
 * estimator at every poll and offers the belief of the group the mapping
 * reads). The adapter knows an estimator, never a twin. */
#ifndef DTWIN_SRC_ADAPTERS_CHILD_SOURCE_H
#define DTWIN_SRC_ADAPTERS_CHILD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/estimator.h"
#include "dtwin/fusion.h"

/* The source's own keys, read by open, validate and the binding. */
typedef struct dt__child_cfg {
    const char *child; /* the child's id (a view of the description) */
    dt_fuse_mode mode; /* CI trace (default), CI det, or independent */
} dt__child_cfg;

/* Reads the source object's "child", "independent" and "criterion", and
 * refuses a "clock" (a child shares the parent's time base). DT_OK, or
 * DT_EPARSE with "key: why" in err. */
int dt__child_source_config(const dt_config *cfg, dt__child_cfg *out, char *err, size_t cap);

/* What the twin resolved for one child source: the child's estimator, the
 * group (its states the mapping reads, closed under their dependencies
 * through A and Q, in state order) and each mapping entry's place in it. */
typedef struct dt__child_binding {
    dt_est *est;
    size_t n; /* group states, 1..DT_REMOTE_STATES_MAX */
    uint32_t state[DT_REMOTE_STATES_MAX]; /* the child's state index of each */
    size_t m; /* mapping entries, 1..DT_REMOTE_MAPPED_MAX */
    uint32_t index[DT_REMOTE_MAPPED_MAX];  /* the group state each one reads */
    uint32_t signal[DT_REMOTE_MAPPED_MAX]; /* the parent's signal */
    double scale[DT_REMOTE_MAPPED_MAX], offset[DT_REMOTE_MAPPED_MAX];
    dt_fuse_mode mode;
} dt__child_binding;

/* Whether source i of io is of the "child" kind. */
int dt__child_source_is(const dt_io *io, size_t i);
/* Binds source i (a child source) to its child: the instance exists in every
 * mode, so a replayed or checked twin is bound too (only an opened one
 * polls). @retval DT_EINVAL not a child source. */
int dt__child_source_bind(dt_io *io, size_t i, const dt__child_binding *b);

#endif
