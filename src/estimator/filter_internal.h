/* The twin's handle on its estimator: a filter kind's table (the registry's
 * copy, defaults filled, so no slot is NULL) and the instance it allocated.
 * filter.c creates it from the description; filter_kf.c is the built-in
 * kind "kf" (dt_est behind dt_filter_ops). */
#ifndef DT_FILTER_INTERNAL_H
#define DT_FILTER_INTERNAL_H

#include "dtwin/filter.h"

typedef struct dt__filter {
    dt_filter_ops ops; /* every slot set */
    void *self;        /* ops.instance_size bytes */
    dt_allocator alloc;
    int inited; /* init ran: deinit is due */
} dt__filter;

/* Creates the filter the description's "estimator" section declares: its
 * optional "kind" (default "kf") looked up in reg. DT_EPARSE naming
 * "estimator.kind" for an unknown kind; init's own errors otherwise. */
int dt__filter_create(const dt_registry *reg, const dt_model *model, const dt_allocator *a,
                      const dt_logger *lg, dt__filter **out, dt_diag *diag);
/* Deinits and frees. NULL: no-op. */
void dt__filter_destroy(dt__filter *f);
/* The dt_est of a "kf" filter, NULL for any other kind (or NULL f). */
dt_est *dt__filter_kf(const dt__filter *f);
/* Fills a table's optional slots that are NULL with their defaults. */
void dt__filter_defaults(dt_filter_ops *o);
/* registry.c: "kf, alpha_beta": the filter kinds registered, for a message
 * naming what an unknown kind could have been. */
const char *dt__registry_filter_kinds(const dt_registry *r, char *buf, size_t cap);
/* The built-in "kf" kind. */
extern const dt_filter_ops dt__kf_filter_ops;

#endif
