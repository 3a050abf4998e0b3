/* The planes of a twin: three handles living in the twin, each allowed its
 * own entry points (include/dtwin/plane.h). Every entry point checks the
 * handle's kind before anything else, so a handle given to a component can
 * never reach another plane's capability whatever else it passes; each
 * refusal is counted on the handle that tried. */
#include <math.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../platform/internal.h"
#include "children_internal.h"
#include "twin_internal.h"

int dt_twin_planes(dt_twin *t, dt_planes *out)
{
    if (t == NULL || out == NULL)
        return DT_EINVAL;
    if (t->in_step || t->depth > 0) /* a child is stepped by its parent */
        return DT_ESTATE;
    if (t->partitioned) { /* once: a second caller gets no handle */
        t->raw_refused++;
        return DT_EPERM;
    }
    static const int kinds[3] = {DT_PLANE_DATA, DT_PLANE_CONTROL, DT_PLANE_MGMT};
    for (int i = 0; i < 3; i++) {
        memset(&t->planes[i], 0, sizeof t->planes[i]);
        t->planes[i].kind = kinds[i];
        t->planes[i].twin = t;
    }
    t->partitioned = 1;
    dt__io_partition(t->io); /* a pointer kept from dt_twin_io applies nothing more */
    /* a child's raw pointer (dt_twin_child) would reach its io and submit:
     * the children are partitioned with their parent (no handles of their
     * own: the parent's planes steer the composite) */
    for (size_t i = 0; i < t->n_kids; i++) {
        t->kids[i].t->partitioned = 1;
        dt__io_partition(t->kids[i].t->io);
    }
    out->data = &t->planes[0];
    out->control = &t->planes[1];
    out->mgmt = &t->planes[2];
    return DT_OK;
}

/* The kind check, first in every entry point; the handle's twin on success. */
static dt_twin *enter(dt_plane *p, int kind, int *rc)
{
    if (p == NULL) {
        *rc = DT_EINVAL;
        return NULL;
    }
    p->calls++;
    if (p->kind != kind) {
        p->plane_refused++;
        *rc = DT_EPLANE;
        return NULL;
    }
    *rc = DT_OK;
    return p->twin;
}

/* The outcome counted on the handle: a value out of range, or a call refused
 * for its arguments or the twin's state (what a component probing the twin
 * through its handle leaves behind). */
static int leave(dt_plane *p, int rc)
{
    if (rc == DT_ERANGE)
        p->range_refused++;
    else if (rc == DT_EINVAL || rc == DT_ENOTFOUND || rc == DT_EUNSUPPORTED || rc == DT_ESTATE ||
             rc == DT_EFULL || rc == DT_EPARSE)
        p->refused++;
    return rc;
}

int dt_plane_kind_of(const dt_plane *p) { return p != NULL ? p->kind : 0; }

int dt_plane_stats_get(const dt_plane *p, dt_plane_stats *out)
{
    if (p == NULL || out == NULL)
        return DT_EINVAL;
    out->calls = p->calls;
    out->plane_refused = p->plane_refused;
    out->range_refused = p->range_refused;
    out->refused = p->refused;
    const dt_twin *t = p->twin;
    out->raw_refused = t->raw_refused + dt__io_plane_refused(t->io);
    for (size_t i = 0; i < t->n_kids; i++) /* a kept pointer of a child's io */
        out->raw_refused += dt__io_plane_refused(t->kids[i].t->io);
    return DT_OK;
}

/* ---- data plane ---- */

static int data_push(dt_twin *t, const char *source_id, const char *native, dt_time t_source,
                     double value)
{
    if (source_id == NULL || native == NULL)
        return DT_EINVAL;
    size_t i;
    if (dt_io_find_source(t->io, source_id, &i) != DT_OK)
        return DT_ENOTFOUND;
    return dt__io_push_native(t->io, i, native, t_source, value);
}

int dt_data_push(dt_plane *p, const char *source_id, const char *native, dt_time t_source,
                 double value)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_push(t, source_id, native, t_source, value));
}

static int data_belief(dt_twin *t, dt_signal_id sig, dt_time at, dt_belief *out)
{
    if (out == NULL)
        return DT_EINVAL;
    if (t->est == NULL)
        return DT_EUNSUPPORTED;
    if (sig >= t->n_sig) /* the host's number, checked before the filter sees it */
        return DT_ENOTFOUND;
    if (!dt_time_valid(at))
        return DT_ERANGE;
    return t->est->ops.belief(t->est->self, sig, at, out);
}

int dt_data_belief(dt_plane *p, dt_signal_id sig, dt_time at, dt_belief *out)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_belief(t, sig, at, out));
}

static int data_stats(dt_twin *t, dt_twin_stats *out)
{
    if (out == NULL)
        return DT_EINVAL;
    dt_twin_stats_get(t, out);
    return DT_OK;
}

int dt_data_stats(dt_plane *p, dt_twin_stats *out)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_stats(t, out));
}

static int data_source_counters(dt_twin *t, const char *source_id, dt_counter *out, size_t max,
                                size_t *n)
{
    if (source_id == NULL || n == NULL || (out == NULL && max > 0))
        return DT_EINVAL;
    size_t i;
    if (dt_io_find_source(t->io, source_id, &i) != DT_OK)
        return DT_ENOTFOUND;
    *n = dt_io_source_counters(t->io, i, out, max);
    return DT_OK;
}

int dt_data_source_counters(dt_plane *p, const char *source_id, dt_counter *out, size_t max,
                            size_t *n)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_source_counters(t, source_id, out, max, n));
}

static int data_sink_read(dt_twin *t, const char *sink_id, dt_command *out, size_t max, size_t *n)
{
    if (sink_id == NULL || n == NULL || (out == NULL && max > 0))
        return DT_EINVAL;
    size_t i;
    if (dt_io_find_sink(t->io, sink_id, &i) != DT_OK)
        return DT_ENOTFOUND;
    *n = max > 0 ? dt__io_sink_take(t->io, i, out, max) : 0;
    return DT_OK;
}

int dt_data_sink_read(dt_plane *p, const char *sink_id, dt_command *out, size_t max, size_t *n)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_sink_read(t, sink_id, out, max, n));
}

static int data_source_belief(dt_twin *t, const char *source_id, dt_remote_belief *out,
                              dt_time *arrival)
{
    if (source_id == NULL || out == NULL)
        return DT_EINVAL;
    size_t i;
    if (dt_io_find_source(t->io, source_id, &i) != DT_OK)
        return DT_ENOTFOUND;
    return dt_io_source_belief(t->io, i, out, arrival);
}

int dt_data_source_belief(dt_plane *p, const char *source_id, dt_remote_belief *out,
                          dt_time *arrival)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_source_belief(t, source_id, out, arrival));
}

static int data_source_clock(dt_twin *t, const char *source_id, const dt_clock **out)
{
    if (source_id == NULL || out == NULL)
        return DT_EINVAL;
    size_t i;
    if (dt_io_find_source(t->io, source_id, &i) != DT_OK)
        return DT_ENOTFOUND;
    *out = dt_ingest_clock(t->ing, dt_io_source_ingest_id(t->io, i));
    return DT_OK;
}

int dt_data_source_clock(dt_plane *p, const char *source_id, const dt_clock **out)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_DATA, &rc);
    return t == NULL ? rc : leave(p, data_source_clock(t, source_id, out));
}

/* ---- control plane ---- */

int dt_control_submit(dt_plane *p, const dt_command *cmd)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_CONTROL, &rc);
    return t == NULL ? rc : leave(p, dt__twin_submit_host(t, cmd));
}

int dt_control_submit_signed(dt_plane *p, const void *record, size_t len)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_CONTROL, &rc);
    return t == NULL ? rc : leave(p, dt__twin_submit_signed(t, record, len));
}

/* A value the host sets for a signal: finite, and within the signal's hard
 * limits when the model gives them. */
static int in_limits(const dt_twin *t, dt_signal_id sig, double v)
{
    if (!isfinite(v))
        return 0;
    const dt_signal_info *si = dt_model_signal(t->model, sig);
    return si == NULL || !si->has_limits || (v >= si->min && v <= si->max);
}

int dt__twin_setpoint(dt_twin *t, size_t k, double value)
{
    if (k >= t->n_ctl)
        return DT_ENOTFOUND;
    if (t->in_step) /* from an observer, the verify hook or a controller */
        return DT_ESTATE;
    dt_signal_id sig = 0;
    int has = dt__ctrl_setpoint_signal(t->ctl[k].ops, t->ctl[k].self, &sig);
    if (has < 0)
        return DT_EUNSUPPORTED;
    if (!isfinite(value) || (has > 0 && !in_limits(t, sig, value)))
        return DT_ERANGE;
    t->ctl[k].sp_next = value; /* the next step takes it */
    t->ctl[k].sp_pending = 1;
    if (t->rec_write != NULL)
        dt__twin_rec_setpoint(t, (uint32_t)k, value);
    return DT_OK;
}

static int control_setpoint(dt_twin *t, const char *controller_id, double value)
{
    if (controller_id == NULL)
        return DT_EINVAL;
    size_t k = 0;
    while (k < t->n_ctl && strcmp(t->ctl[k].id, controller_id) != 0)
        k++;
    return dt__twin_setpoint(t, k, value);
}

int dt_control_setpoint(dt_plane *p, const char *controller_id, double value)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_CONTROL, &rc);
    return t == NULL ? rc : leave(p, control_setpoint(t, controller_id, value));
}

int dt__twin_param(dt_twin *t, dt_signal_id sig, double value)
{
    dt_est *kf = dt__filter_kf(t->est);
    if (kf == NULL)
        return DT_EUNSUPPORTED;
    if (sig >= t->n_sig || dt_model_signal(t->model, sig)->role != DT_ROLE_PARAMETER)
        return DT_ENOTFOUND;
    if (t->in_step)
        return DT_ESTATE;
    if (!in_limits(t, sig, value))
        return DT_ERANGE;
    int rc = dt_est_set_param(kf, sig, value);
    if (rc == DT_OK && t->rec_write != NULL)
        dt__twin_rec_param(t, sig, value);
    return rc;
}

int dt_control_param(dt_plane *p, dt_signal_id sig, double value)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_CONTROL, &rc);
    return t == NULL ? rc : leave(p, dt__twin_param(t, sig, value));
}

/* ---- management plane ---- */

int dt_mgmt_start(dt_plane *p, dt_time now)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, dt_twin_start(t, now));
}

int dt_mgmt_stop(dt_plane *p)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, dt_twin_stop(t));
}

int dt_mgmt_record(dt_plane *p, dt_record_write_fn fn, void *user)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, dt_twin_record(t, fn, user));
}

int dt_mgmt_export(dt_plane *p, char *buf, size_t cap, size_t *needed)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, dt_model_save_json(t->model, buf, cap, needed));
}

static int mgmt_contract(dt_twin *t, const char **out)
{
    if (out == NULL)
        return DT_EINVAL;
    *out = dt_twin_contract(t);
    return DT_OK;
}

int dt_mgmt_revoke(dt_plane *p, const char *key_id)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, dt__twin_revoke(t, key_id));
}

int dt_mgmt_contract(dt_plane *p, const char **out)
{
    int rc;
    dt_twin *t = enter(p, DT_PLANE_MGMT, &rc);
    return t == NULL ? rc : leave(p, mgmt_contract(t, out));
}
