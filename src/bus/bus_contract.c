/* A twin's contract on the bus ($contract, retained JSON): for each belief
 * group it publishes, the states with their quantity, unit and semantic id,
 * and the continuous model (A, Q) of the group, with which a reader ages a
 * belief to its own time; the commanded signals it accepts; for each sample
 * stream, its signals (quantity, unit, semantic id) and max_age. Its
 * version is a hash of its text: the same description gives the same version
 * after a restart, and a reader that knows it needs no new contract. */
#include <string.h>

#include "../desc/bus_json.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus_internal.h"

/* The signal of estimator state j (its id, for a message). */
static const char *state_name(const dt__bus *b, dt_est *est, size_t j)
{
    for (size_t s = 0; s < dt_model_signal_count(b->model); s++)
        if (dt_est_state_index(est, (dt_signal_id)s) == (int)j)
            return dt_model_signal(b->model, (dt_signal_id)s)->id;
    return "?";
}

static const char *input_name(const dt__bus *b, dt_est *est, size_t u)
{
    for (size_t s = 0; s < dt_model_signal_count(b->model); s++)
        if (dt_est_input_index(est, (dt_signal_id)s) == (int)u)
            return dt_model_signal(b->model, (dt_signal_id)s)->id;
    return "?";
}

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h != 0 ? h : 1; /* 0 is no contract */
}

static dt__jw *matrix(dt__jw *obj, const char *key, const double *M, size_t N,
                      const dt__bus_group *g)
{
    dt__jw *rows = dt__jw_add_array(obj, key);
    for (size_t i = 0; i < g->n; i++) {
        dt__jw *row = dt__jw_add_array(rows, NULL);
        for (size_t j = 0; j < g->n; j++)
            if (!dt__jw_add_number(row, NULL, M[(size_t)g->idx[i] * N + (size_t)g->idx[j]]))
                return NULL;
    }
    return rows;
}

/* The contract's text, with "version": version unless it is 0. */
static char *build(const dt__bus *b, const double *A, const double *Q, size_t N,
                   uint32_t version)
{
    dt__jw *root = dt__jw_root();
    int ok = dt__jw_add_number(root, "dtwin_contract", 1) != 0 &&
             dt__jw_add_string(root, "realm", b->realm) != 0 &&
             dt__jw_add_string(root, "twin", b->twin) != 0 &&
             (version == 0 || dt__jw_add_number(root, "version", version) != 0);
    dt__jw *groups = dt__jw_add_array(root, "beliefs");
    for (size_t k = 0; ok && k < b->n_groups; k++) {
        const dt__bus_group *g = &b->group[k];
        dt__jw *o = dt__jw_add_object(groups, NULL);
        ok = dt__jw_add_string(o, "group", g->name) != 0 &&
             dt__jw_add_text(o, "independent", g->independent ? "true" : "false") != 0;
        dt__jw *st = dt__jw_add_array(o, "states");
        for (size_t i = 0; ok && i < g->n; i++) {
            const dt_signal_info *si = dt_model_signal(b->model, g->sig[i]);
            dt__jw *s = dt__jw_add_object(st, NULL);
            ok = dt__jw_add_string(s, "signal", si->id) != 0 &&
                 dt__jw_add_string(s, "quantity", dt_unit_class_name(si->quantity)) != 0 &&
                 dt__jw_add_string(s, "unit", si->unit_symbol) != 0 &&
                 dt__jw_add_string(s, "semantic_id", si->semantic_id) != 0;
        }
        ok = ok && matrix(o, "A", A, N, g) != NULL && matrix(o, "Q", Q, N, g) != NULL;
    }
    if (ok && b->n_accept > 0) { /* left out without: a belief-only contract is unchanged */
        dt__jw *acc = dt__jw_add_array(root, "accept");
        ok = acc != NULL;
        for (size_t k = 0; ok && k < b->n_accept; k++) {
            const dt_signal_info *si = dt_model_signal(b->model, b->accept[k].sig);
            dt__jw *s = dt__jw_add_object(acc, NULL);
            ok = dt__jw_add_string(s, "signal", si->id) != 0 &&
                 dt__jw_add_string(s, "quantity", dt_unit_class_name(si->quantity)) != 0 &&
                 dt__jw_add_string(s, "unit", si->unit_symbol) != 0 &&
                 dt__jw_add_string(s, "semantic_id", si->semantic_id) != 0 &&
                 dt__jw_add_number(s, "deadline_max",
                                   dt_time_to_sec(b->accept[k].deadline_max)) != 0 &&
                 (!si->has_limits || (dt__jw_add_number(s, "min", si->min) != 0 &&
                                      dt__jw_add_number(s, "max", si->max) != 0));
        }
    }
    if (ok && b->streams.n > 0) { /* left out without, as accept */
        dt__jw *arr = dt__jw_add_array(root, "streams");
        ok = arr != NULL;
        for (size_t k = 0; ok && k < b->streams.n; k++) {
            const dt__bus_stream *st = &b->streams.s[k];
            dt__jw *o = dt__jw_add_object(arr, NULL);
            ok = dt__jw_add_string(o, "stream", st->name) != 0 &&
                 dt__jw_add_number(o, "max_age", st->max_age_s) != 0;
            dt__jw *sigs = ok ? dt__jw_add_array(o, "signals") : NULL;
            ok = sigs != NULL;
            for (size_t i = 0; ok && i < st->n; i++) {
                const dt_signal_info *si = dt_model_signal(b->model, st->sig[i]);
                dt__jw *s = dt__jw_add_object(sigs, NULL);
                ok = dt__jw_add_string(s, "signal", si->id) != 0 &&
                     dt__jw_add_string(s, "quantity", dt_unit_class_name(si->quantity)) != 0 &&
                     dt__jw_add_string(s, "unit", si->unit_symbol) != 0 &&
                     dt__jw_add_string(s, "semantic_id", si->semantic_id) != 0;
            }
        }
    }
    if (!ok || groups == NULL) {
        dt__jw_free(root);
        return NULL;
    }
    return dt__jw_finish(root);
}

int dt__bus_contract_build(dt__bus *b, dt_est *est, dt_diag *diag)
{
    dt_kf *kf = est != NULL ? dt_est_kf(est) : NULL;
    const double *A = kf != NULL ? dt_kf_model_A(kf) : NULL;
    const double *Q = kf != NULL ? dt_kf_model_Q(kf) : NULL;
    size_t N = est != NULL ? dt_est_dim(est) : 0, p = 0;
    const double *B = kf != NULL ? dt_kf_model_B(kf, &p) : NULL;
    if ((A == NULL || Q == NULL) && b->n_groups > 0)
        return dt__diag(diag, DT_EUNSUPPORTED, "bus.beliefs",
                        "the estimator has no continuous model (A, Q), which a contract must "
                        "give its readers to age a belief");
    /* a group must be closed under the model: a state outside it that drives
     * one inside would make the group's own (A, Q) age it wrongly */
    for (size_t k = 0; k < b->n_groups; k++) {
        const dt__bus_group *g = &b->group[k];
        for (size_t i = 0; i < g->n; i++)
            for (size_t j = 0; j < N; j++) {
                int inside = 0;
                for (size_t m = 0; m < g->n; m++)
                    inside |= (size_t)g->idx[m] == j;
                double a = A[(size_t)g->idx[i] * N + j], q = Q[(size_t)g->idx[i] * N + j];
                if (!inside && (a != 0 || q != 0))
                    return dt__diag(diag, DT_EPARSE, "bus.beliefs",
                                    "group \"%s\": %s depends on %s (A or Q couples them), "
                                    "which is not in the group: add it, or a reader could "
                                    "not age the group with its own model",
                                    g->name, dt_model_signal(b->model, g->sig[i])->id,
                                    state_name(b, est, j));
            }
        /* nor may an input drive it: the contract's (A, Q) has no input, so
         * a reader would age the group as if the input were zero */
        for (size_t i = 0; B != NULL && i < g->n; i++)
            for (size_t u = 0; u < p; u++)
                if (B[(size_t)g->idx[i] * p + u] != 0)
                    return dt__diag(diag, DT_EPARSE, "bus.beliefs",
                                    "group \"%s\": the input %s drives %s (B couples them): a "
                                    "reader ages a group with its (A, Q) alone, as if no input "
                                    "acted; publish groups of states no input drives",
                                    g->name, input_name(b, est, u),
                                    dt_model_signal(b->model, g->sig[i])->id);
    }
    dt__json_scope sc;
    dt__json_enter(&sc, &b->alloc);
    char *text = build(b, A, Q, N, 0);
    uint32_t v = text != NULL ? fnv1a(text, strlen(text)) : 0;
    dt__free(&b->alloc, text);
    text = v != 0 ? build(b, A, Q, N, v) : NULL;
    dt__json_leave(&sc);
    if (text == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus", "out of memory (the contract)");
    if (strlen(text) > DT__BUS_JSON_MAX) {
        size_t len = strlen(text);
        dt__free(&b->alloc, text);
        return dt__diag(diag, DT_ELIMIT, "bus.beliefs",
                        "the contract of these groups takes %zu bytes, above the %u a reader "
                        "parses: publish fewer or smaller groups",
                        len, DT__BUS_JSON_MAX);
    }
    b->contract = text;
    b->contract_len = strlen(text);
    b->contract_version = v;
    return DT_OK;
}
