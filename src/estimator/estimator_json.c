/* The description's "estimator" section -> a configured dt_est. */
#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "../desc/desc.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "dtwin/estimator.h"
#include "../linalg/la_internal.h"
#include "est_internal.h"
#include "latency_internal.h"
#include "est_json.h"


#define fail dt__fail

static const char *const est_keys[] = {"states",        "inputs",     "process", "A",  "B",
                                       "Q",             "G",          "Qc",      "x0", "P0",
                                       "measurements",  "gate",       "history",
                                       "recover_after", "parameters", "bounds",  "kind", NULL};

static const char *const meas_keys[] = {"signal", "H", "offset", NULL};
static const char *const bound_keys[] = {"name",     "max",       "variance", "trace",
                                         "weights",  "quadratic", NULL};

static int build(jctx *c, const dt_config *o, const dt_est_config *cfg, dt_est **out)
{
    const char *P = "estimator";
    if (o == NULL)
        return fail(c, DT_ENOTFOUND, P, "the description has no estimator");
    if (!dt__cfg_is_object(o))
        return fail(c, DT_EPARSE, P, "expected an object");
    /* another filter kind's section (include/dtwin/filter.h) is not for this loader */
    const dt_config *kind = dt_config_get(o, "kind");
    const char *kv = NULL;
    if (kind != NULL && !(dt_config_string(kind, &kv) == DT_OK && strcmp(kv, "kf") == 0))
        return fail(c, DT_EPARSE, "estimator.kind",
                    "\"%.64s\" is not the built-in Kalman filter \"kf\" (another kind is "
                    "loaded by a twin whose registry has it)",
                    kv != NULL ? kv : "(not a string)");
    int rc = dt__cfg_check_keys(c->diag, o, P, est_keys, NULL);
    if (rc != DT_OK)
        return rc;
    dt_signal_id states[DT_LA_MAX] = {0}, inputs[DT_LA_MAX] = {0}; /* zeroed for the analyzer */
    size_t n = 0, p = 0;
    const dt_config *v = dt_config_get(o, "states");
    if (v == NULL)
        return fail(c, DT_EPARSE, "estimator.states", "missing (required array)");
    rc = dt__ej_signal_list(c, v, "estimator.states", DT_ROLE_ESTIMATED, states, &n);
    if (rc == DT_OK && (v = dt_config_get(o, "inputs")) != NULL)
        rc = dt__ej_signal_list(c, v, "estimator.inputs", DT_ROLE_COMMANDED, inputs, &p);
    if (rc != DT_OK)
        return rc;
    dt_est_config ec;
    if (dt__est_config_read(cfg, &ec) != DT_OK)
        return fail(c, DT_EABI, P, "dt_est_config.size %zu is not a known layout",
                    cfg->size);
    double hist;
    if ((v = dt_config_get(o, "gate")) != NULL) {
        char gb[32];
        if (!dt__cfg_is_number(v) || !(dt__cfg_num(v) > 0 && dt__cfg_num(v) <= 1))
            return fail(c, DT_EPARSE, "estimator.gate",
                        "a probability in (0, 1] (1 disables gating), got %s",
                        dt__ej_got(v, gb, sizeof gb));
        ec.gate_probability = dt__cfg_num(v);
    }
    if ((v = dt_config_get(o, "history")) != NULL) {
        hist = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        char gb[32];
        if (!(hist >= 1 && hist <= 65536 && hist == floor(hist)))
            return fail(c, DT_EPARSE, "estimator.history", "an integer in 1..65536, got %s",
                        dt__ej_got(v, gb, sizeof gb));
        ec.history = (size_t)hist;
    }
    if ((v = dt_config_get(o, "recover_after")) != NULL) {
        double ra = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        char gb[32];
        if (!(ra >= DT_EST_RECOVER_AFTER_MIN && ra <= DT_EST_RECOVER_AFTER_MAX &&
              ra == floor(ra)))
            return fail(c, DT_EPARSE, "estimator.recover_after", "an integer in %d..%d, got %s",
                        DT_EST_RECOVER_AFTER_MIN, DT_EST_RECOVER_AFTER_MAX,
                        dt__ej_got(v, gb, sizeof gb));
        ec.recover_after = (uint32_t)ra;
    }
    dt_est *est;
    rc = dt_est_create(c->model, states, n, inputs, p, &ec, &est);
    if (rc != DT_OK)
        return fail(c, rc, P, "cannot create the estimator: %s", dt_strerror(rc));
    /* matrices: work in one scratch block */
    double *m = dt__calloc(c->alloc, 4 * n * n + 2 * n * (p ? p : 1) + 2 * n, sizeof *m);
    if (m == NULL) {
        dt_est_destroy(est);
        return fail(c, DT_ENOMEM, P, "out of memory");
    }
    double *A = m, *Q = A + n * n, *P0 = Q + n * n, *B = P0 + n * n, *x0 = B + n * (p ? p : 1),
           *h = x0 + n;
    const char *proc = "continuous";
    if ((v = dt_config_get(o, "process")) != NULL) {
        char gb[32];
        if (!dt__cfg_is_string(v))
            rc = fail(c, DT_EPARSE, "estimator.process", "continuous or discrete, got %s",
                      dt__ej_got(v, gb, sizeof gb));
        else if (strcmp(dt__cfg_str(v), "continuous") != 0 &&
                 strcmp(dt__cfg_str(v), "discrete") != 0)
            rc = fail(c, DT_EPARSE, "estimator.process", "continuous or discrete, got \"%.40s\"",
                      dt__cfg_str(v));
        else
            proc = dt__cfg_str(v);
    }
    const dt_config *jA = dt_config_get(o, "A");
    const dt_config *jQ = dt_config_get(o, "Q");
    const dt_config *jG = dt_config_get(o, "G");
    const dt_config *jQc = dt_config_get(o, "Qc");
    const dt_config *jB = dt_config_get(o, "B");
    if (rc == DT_OK && jA == NULL)
        rc = fail(c, DT_EPARSE, "estimator.A", "missing (required %zu x %zu matrix)", n, n);
    /* the process noise: Q, or G and Qc for Q = G Qc G' */
    if (rc == DT_OK && jQ != NULL && (jG != NULL || jQc != NULL))
        rc = fail(c, DT_EPARSE, jG != NULL ? "estimator.G" : "estimator.Qc",
                  "given with Q: give Q, or G and Qc (Q = G Qc G'), not both");
    if (rc == DT_OK && jQ == NULL && jG == NULL && jQc == NULL)
        rc = fail(c, DT_EPARSE, "estimator.Q",
                  "missing (required %zu x %zu matrix, or G and Qc for Q = G Qc G')", n, n);
    if (rc == DT_OK && jG != NULL && jQc == NULL)
        rc = fail(c, DT_EPARSE, "estimator.Qc",
                  "missing (required with G: g x g matrix or its diagonal, Q = G Qc G')");
    if (rc == DT_OK && jQc != NULL && jG == NULL)
        rc = fail(c, DT_EPARSE, "estimator.G",
                  "missing (required with Qc: %zu x g matrix, Q = G Qc G')", n);
    /* scratch for the semi-definiteness checks: the block has n^2 + n p spare */
    double *W = h + n;
    if (rc == DT_OK)
        rc = dt__ej_matrix(c, jA, "estimator.A", n, n, 0, A);
    if (rc == DT_OK)
        rc = dt__ej_rates(c, A, n, strcmp(proc, "discrete") == 0);
    if (rc == DT_OK && jQ != NULL)
        rc = dt__ej_matrix(c, jQ, "estimator.Q", n, n, 1, Q);
    if (rc == DT_OK && jQ != NULL)
        rc = dt__ej_covariance(c, "estimator.Q", "", Q, n, states, W);
    if (rc == DT_OK && jQ == NULL)
        rc = dt__ej_noise_input(c, jG, jQc, n, states, Q);
    if (rc == DT_OK && p > 0) {
        if (jB == NULL)
            rc = fail(c, DT_EPARSE, "estimator.B", "missing (required %zu x %zu matrix)", n, p);
        else
            rc = dt__ej_matrix(c, jB, "estimator.B", n, p, 0, B);
    } else if (rc == DT_OK && jB != NULL) {
        rc = fail(c, DT_EPARSE, "estimator.B", "given without inputs");
    }
    if (rc == DT_OK) {
        rc = strcmp(proc, "discrete") == 0 ? dt_kf_set_discrete(dt_est_kf(est), A, B, Q)
                                           : dt_kf_set_continuous(dt_est_kf(est), A, B, Q);
        if (rc != DT_OK)
            rc = rc == DT_ENOMEM ? fail(c, rc, "estimator", "out of memory")
                                 : fail(c, rc, "estimator", "the process model was refused: %s",
                                        dt_strerror(rc)); /* checked above: not reached */
    }
    if (rc == DT_OK) {
        v = dt_config_get(o, "x0");
        rc = v ? dt__ej_vector(c, v, "estimator.x0", n, x0) : DT_OK;
    }
    if (rc == DT_OK) {
        v = dt_config_get(o, "P0");
        if (v == NULL)
            rc = fail(c, DT_EPARSE, "estimator.P0", "missing (required covariance)");
        else
            rc = dt__ej_matrix(c, v, "estimator.P0", n, n, 1, P0);
    }
    if (rc == DT_OK)
        rc = dt__ej_covariance(c, "estimator.P0", "", P0, n, states, W);
    /* the initial estimate lies within the states' hard limits */
    for (size_t i = 0; rc == DT_OK && i < n; i++) {
        const dt_signal_info *si = dt_model_signal(c->model, states[i]);
        char n1[32], n2[32], n3[32];
        if (si->has_limits && !(x0[i] >= si->min && x0[i] <= si->max))
            rc = fail(c, DT_EPARSE, "estimator.x0",
                      "element %zu (state \"%s\") is %s, outside its limits [%s, %s]", i, si->id,
                      dt__num(x0[i], n1, sizeof n1), dt__num(si->min, n2, sizeof n2),
                      dt__num(si->max, n3, sizeof n3));
    }
    if (rc == DT_OK && dt_kf_set_state(dt_est_kf(est), x0, P0) != DT_OK)
        rc = fail(c, DT_EPARSE, "estimator.P0",
                  "must be symmetric with a non-negative diagonal"); /* checked above */
    /* measurements */
    const dt_config *ms = dt_config_get(o, "measurements");
    if (rc == DT_OK && ms != NULL && !dt__cfg_is_array(ms))
        rc = fail(c, DT_EPARSE, "estimator.measurements", "expected an array");
    size_t k = 0;
    for (const dt_config *e = ms ? dt__cfg_child(ms) : NULL; rc == DT_OK && e; e = dt__cfg_next(e), k++) {
        char mp[96], kp[128];
        dt__fmt(mp, sizeof mp, "estimator.measurements[%zu]", k);
        if (!dt__cfg_is_object(e)) {
            rc = fail(c, DT_EPARSE, mp, "expected an object");
            break;
        }
        rc = dt__cfg_check_keys(c->diag, e, mp, meas_keys, NULL);
        const dt_config *js = dt_config_get(e, "signal");
        const dt_config *jh = dt_config_get(e, "H");
        const dt_config *jo = dt_config_get(e, "offset");
        dt_signal_id sid = 0;
        dt__fmt(kp, sizeof kp, "%s.signal", mp);
        if (rc == DT_OK && !dt__cfg_is_string(js))
            rc = fail(c, DT_EPARSE, kp, "missing (required signal id)");
        if (rc == DT_OK && dt_model_find_signal(c->model, dt__cfg_str(js), &sid) != DT_OK)
            rc = fail(c, DT_EPARSE, kp, "unknown signal \"%s\"", dt__cfg_str(js));
        /* a second row for a signal would silently replace the first */
        for (const dt_config *f = dt__cfg_child(ms); rc == DT_OK && f != e; f = dt__cfg_next(f)) {
            const dt_config *fs = dt_config_get(f, "signal");
            if (dt__cfg_is_string(fs) && strcmp(dt__cfg_str(fs), dt__cfg_str(js)) == 0)
                rc = fail(c, DT_EPARSE, kp,
                          "signal \"%s\" already has a measurement row (one per signal)",
                          dt__cfg_str(js));
        }
        /* A signal without noise has R = 0: after its first update the filter
         * believes it exactly and gates nearly every later sample. Samples
         * that carry their own variance still override the declared one. */
        if (rc == DT_OK && c->model->signal_recs[sid].noise_kind == 0)
            rc = fail(c, DT_EPARSE, kp,
                      "signal \"%s\" has no noise (give the signal a noise std or variance)",
                      dt__cfg_str(js));
        if (rc == DT_OK && !(dt_model_signal(c->model, sid)->noise_var > 0))
            rc = fail(c, DT_EPARSE, kp,
                      "signal \"%s\" has zero noise (the filter would believe it exactly; "
                      "give a noise std or variance > 0)",
                      dt__cfg_str(js));
        dt__fmt(kp, sizeof kp, "%s.H", mp);
        if (rc == DT_OK && jh == NULL)
            rc = fail(c, DT_EPARSE, kp, "missing (required {state: coefficient})");
        if (rc == DT_OK)
            rc = dt__ej_weights(c, jh, kp, est, h);
        double off = 0;
        for (size_t i = 0; rc == DT_OK; i++) {
            if (i == n) {
                rc = fail(c, DT_EPARSE, kp,
                          "every coefficient is 0 (the measurement observes no state)");
                break;
            }
            if (h[i] != 0)
                break;
        }
        if (rc == DT_OK && jo != NULL) {
            char gb[32];
            dt__fmt(kp, sizeof kp, "%s.offset", mp);
            if (!dt__cfg_is_number(jo) || !isfinite(dt__cfg_num(jo)))
                rc = fail(c, DT_EPARSE, kp, "expected a finite number, got %s",
                          dt__ej_got(jo, gb, sizeof gb));
            else
                off = dt__cfg_num(jo);
        }
        if (rc == DT_OK && (rc = dt_est_set_measurement(est, sid, h, off)) != DT_OK) {
            /* an allocation failure is not the description's fault (found by
             * the twin-creation allocation sweep) */
            dt__fmt(kp, sizeof kp, "%s.signal", mp);
            rc = rc == DT_ENOMEM ? fail(c, DT_ENOMEM, kp, "out of memory")
                                 : fail(c, DT_EPARSE, kp,
                                        "signal \"%s\" is not measured or a parameter",
                                        dt__cfg_str(js));
        }
    }
    /* parameters */
    const dt_config *pr = dt_config_get(o, "parameters");
    if (rc == DT_OK && pr != NULL && !dt__cfg_is_object(pr))
        rc = fail(c, DT_EPARSE, "estimator.parameters", "expected an object");
    for (const dt_config *e = pr ? dt__cfg_child(pr) : NULL; rc == DT_OK && e; e = dt__cfg_next(e)) {
        char pp[128];
        dt__fmt(pp, sizeof pp, "estimator.parameters.%s", dt__cfg_key(e));
        dt_signal_id sid;
        char gb[32], n2[32], n3[32];
        const dt_signal_info *si = dt_model_find_signal(c->model, dt__cfg_key(e), &sid) == DT_OK
                                       ? dt_model_signal(c->model, sid)
                                       : NULL;
        if (si == NULL)
            rc = fail(c, DT_EPARSE, pp, "unknown signal \"%s\"", dt__cfg_key(e));
        else if (si->role != DT_ROLE_PARAMETER)
            rc = fail(c, DT_EPARSE, pp, "signal \"%s\" is %s, not a parameter", dt__cfg_key(e),
                      dt_role_name(si->role));
        else if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
            rc = fail(c, DT_EPARSE, pp, "expected a finite number, got %s", dt__ej_got(e, gb, sizeof gb));
        else if (si->has_limits && !(dt__cfg_num(e) >= si->min && dt__cfg_num(e) <= si->max))
            rc = fail(c, DT_EPARSE, pp, "%s is outside the signal's limits [%s, %s]",
                      dt__num(dt__cfg_num(e), gb, sizeof gb), dt__num(si->min, n2, sizeof n2),
                      dt__num(si->max, n3, sizeof n3));
        else if (dt_est_set_param(est, sid, dt__cfg_num(e)) != DT_OK)
            rc = fail(c, DT_EPARSE, pp, "expected a parameter signal with a finite number");
    }
    /* bounds */
    const dt_config *bs = dt_config_get(o, "bounds");
    if (rc == DT_OK && bs != NULL && !dt__cfg_is_array(bs))
        rc = fail(c, DT_EPARSE, "estimator.bounds", "expected an array");
    k = 0;
    for (const dt_config *e = bs ? dt__cfg_child(bs) : NULL; rc == DT_OK && e; e = dt__cfg_next(e), k++) {
        char bp[96], kp[128];
        dt__fmt(bp, sizeof bp, "estimator.bounds[%zu]", k);
        if (!dt__cfg_is_object(e)) {
            rc = fail(c, DT_EPARSE, bp, "expected an object");
            break;
        }
        rc = dt__cfg_check_keys(c->diag, e, bp, bound_keys, NULL);
        const dt_config *jn = dt_config_get(e, "name");
        const dt_config *jm = dt_config_get(e, "max");
        const dt_config *jv = dt_config_get(e, "variance");
        const dt_config *jt = dt_config_get(e, "trace");
        const dt_config *jw = dt_config_get(e, "weights");
        const dt_config *jq = dt_config_get(e, "quadratic");
        char gb[32];
        if (rc == DT_OK && (!dt__cfg_is_string(jn) || dt__cfg_str(jn)[0] == '\0')) {
            dt__fmt(kp, sizeof kp, "%s.name", bp);
            rc = fail(c, DT_EPARSE, kp, "required, a non-empty string");
        }
        if (rc == DT_OK && (!dt__cfg_is_number(jm) || !(dt__cfg_num(jm) > 0) ||
                            !isfinite(dt__cfg_num(jm)))) {
            dt__fmt(kp, sizeof kp, "%s.max", bp);
            rc = jm ? fail(c, DT_EPARSE, kp, "a positive finite number, got %s",
                           dt__ej_got(jm, gb, sizeof gb))
                    : fail(c, DT_EPARSE, kp, "missing (required, a positive number)");
        }
        int forms = (jv != NULL) + (jt != NULL) + (jw != NULL) + (jq != NULL);
        if (rc == DT_OK && forms != 1)
            rc = fail(c, DT_EPARSE, bp, "give exactly one of variance, trace, weights, quadratic");
        if (rc != DT_OK)
            break;
        dt_bound b = {h, jq != NULL, dt__cfg_num(jm)};
        memset(h, 0, n * sizeof *h);
        if (jv != NULL) {
            dt_signal_id sid;
            int idx = dt__cfg_is_string(jv) &&
                              dt_model_find_signal(c->model, dt__cfg_str(jv), &sid) == DT_OK
                          ? dt_est_state_index(est, sid)
                          : -1;
            dt__fmt(kp, sizeof kp, "%s.variance", bp);
            if (idx < 0)
                rc = fail(c, DT_EPARSE, kp, "expected a state of the estimator");
            else
                h[idx] = 1;
        } else if (jt != NULL) {
            if (!dt__cfg_is_true(jt)) {
                dt__fmt(kp, sizeof kp, "%s.trace", bp);
                rc = fail(c, DT_EPARSE, kp, "expected true");
            }
            for (size_t i = 0; i < n; i++)
                h[i] = 1;
        } else {
            dt__fmt(kp, sizeof kp, "%s.%s", bp, jw ? "weights" : "quadratic");
            rc = dt__ej_weights(c, jw ? jw : jq, kp, est, h);
            for (size_t i = 0; rc == DT_OK && jw && i < n; i++)
                if (h[i] < 0)
                    rc = fail(c, DT_EPARSE, kp, "weights must be >= 0, got %s for \"%s\"",
                              dt__num(h[i], gb, sizeof gb),
                              dt_model_signal(c->model, states[i])->id);
            int any = 0;
            for (size_t i = 0; i < n; i++)
                any |= h[i] != 0;
            if (rc == DT_OK && !any)
                rc = fail(c, DT_EPARSE, kp, "every weight is 0 (the bound could never trip)");
        }
        if (rc == DT_OK && (rc = dt_est_add_bound(est, dt__cfg_str(jn), &b)) != DT_OK)
            rc = rc == DT_ENOMEM ? fail(c, rc, bp, "out of memory")
                                 : fail(c, DT_ELIMIT, bp, "at most 16 bounds");
    }
    dt__free(c->alloc, m);
    if (rc != DT_OK) {
        dt_est_destroy(est);
        return rc;
    }
    *out = est;
    return DT_OK;
}

int dt_est_create_json(const dt_model *model, const dt_est_config *cfg, dt_est **out,
                       dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (model == NULL || out == NULL)
        return DT_EINVAL;
    if (cfg != NULL && cfg->size != sizeof *cfg)
        return DT_EABI;
    const dt_allocator *a =
        cfg != NULL && cfg->allocator != NULL ? cfg->allocator : dt_allocator_default();
    jctx c = {model, diag, a, cfg, NULL};
    dt__desc_use u;
    int rc = dt__desc_begin(model, a, &u, diag);
    if (rc == DT_OK)
        rc = dt__desc_read(&u, dt__est_sections, &c, diag);
    dt__desc_done(&u);
    if (rc == DT_OK)
        *out = c.est;
    return rc;
}

static int read_estimator(void *layer, const dt_config *section, dt_diag *diag)
{
    jctx *c = layer;
    (void)diag; /* c->diag */
    return build(c, section, c->cfg, &c->est);
}

/* The sections the estimator reads. */
const dt__section_def dt__est_sections[] = {{"estimator", read_estimator}, {NULL, NULL}};
