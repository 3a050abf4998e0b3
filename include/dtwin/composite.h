/** @file
 * dtwin: composite twins. A twin's description may declare "children"
 * (docs/model.md, "Composite twins"): whole twins loaded with it, in the same
 * process and on the same thread, which it starts before itself, steps at the
 * start of each of its own steps with the same `now`, stops and destroys with
 * itself, and records in its own flight log. Its "child" sources fuse their
 * beliefs into its estimate. These calls read the children. */
#ifndef DTWIN_COMPOSITE_H
#define DTWIN_COMPOSITE_H

#include <stddef.h>

#include "dtwin/export.h"
#include "dtwin/twin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most children one twin declares. A child has no children itself. */
#define DT_TWIN_CHILDREN_MAX 16

/** The number of children of a twin (0 for NULL, or a twin without any). */
DT_API size_t dt_twin_child_count(const dt_twin *twin);
/** Child i, in the order of the description's "children" (NULL out of range).
 *  Owned by the parent: read it (its estimator, model, stats), observe it or
 *  submit commands to it like any twin, but never start, step, stop, record,
 *  replay or destroy it yourself: the parent does, in step with itself.
 *  Twin's thread. */
DT_API dt_twin *dt_twin_child(dt_twin *twin, size_t i);
/** The "id" of child i in the description (NULL out of range); valid while
 *  the parent lives. */
DT_API const char *dt_twin_child_id(const dt_twin *twin, size_t i);
/** The index of the child with that id.
 *  @retval DT_OK *index set. @retval DT_ENOTFOUND no such child.
 *  @retval DT_EINVAL a NULL argument. */
DT_API int dt_twin_find_child(const dt_twin *twin, const char *id, size_t *index);

#ifdef __cplusplus
}
#endif
#endif
