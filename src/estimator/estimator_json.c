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

typedef struct jctx {
    const dt_model *model;
    dt_diag *diag;
    const dt_allocator *alloc;
    const dt_est_config *cfg;
    dt_est *est; /* what the reader built */
} jctx;

#define fail dt__fail

static const char *const est_keys[] = {"states",        "inputs",     "process", "A",  "B",
                                       "Q",             "G",          "Qc",      "x0", "P0",
                                       "measurements",  "gate",       "history",
                                       "recover_after", "parameters", "bounds",  "kind", NULL};

/* The largest variance the description may give (Q, P0; signals' noise has the
 * same limit in model_load.c): the update multiplies two covariance entries,
 * and above sqrt(DBL_MAX) ~ 1.3e154 that product overflows. */
#define VARIANCE_MAX 1e150
/* The largest |entry| of A (per second) or of the discrete F (per step): a
 * guard against typos (1e300), not a numerical limit. A fast stable mode
 * (an electrical transient at -1e12/s, faster than the nanosecond clock) is
 * exact for every step: the discretization is balanced, evaluated on a short
 * step and doubled, so e^(-A dt) never appears. A fast unstable one
 * overflows over a long step, which the estimator reports as a lost belief. */
#define RATE_MAX 1e15
/* The discrete F's entries multiply P twice per step: 1e9 keeps F P F' far
 * from overflow for every P a description may give. */
#define STEP_MAX 1e9
/* Positive semi-definiteness: an LDL' elimination whose pivots may be 0 but
 * not below -PSD_TOL x the largest diagonal entry. 1e-9 is ~1e7 roundings of
 * a double: a rank-deficient matrix written with 10 or more significant
 * digits (G G' printed by a program, or [[1,1],[1,1]] by hand) passes, while
 * a negative eigenvalue larger than a billionth of the largest variance
 * cannot come from rounding and is refused. */
#define PSD_TOL 1e-9


/* "got ..." for a value that is not a finite number. */
static const char *got(const dt_config *e, char *buf, size_t cap)
{
    if (dt__cfg_is_number(e))
        return dt__num(dt__cfg_num(e), buf, cap); /* inf: 1e999 overflowed */
    dt__fmt(buf, cap, "%s",
            dt__cfg_is_string(e)   ? "a string"
            : dt__cfg_is_array(e)  ? "an array"
            : dt__cfg_is_object(e) ? "an object"
                                   : dt__cfg_type_name(e));
    return buf;
}

/* A rows x cols matrix as an array of rows; with diag_ok, a square matrix may
 * be given as its diagonal (an array of numbers: taken as one when its first
 * element is not a row, so that [null] is "element 0: ... got null"). */
static int matrix(jctx *c, const dt_config *v, const char *path, size_t rows, size_t cols,
                  int diag_ok, double *out)
{
    if (!dt__cfg_is_array(v))
        return fail(c, DT_EPARSE, path, "expected an array");
    size_t nr = (size_t)dt__cfg_count(v);
    memset(out, 0, rows * cols * sizeof *out);
    if (diag_ok && rows == cols && nr == rows && dt__cfg_child(v) && !dt__cfg_is_array(dt__cfg_child(v))) {
        size_t i = 0;
        for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e), i++) {
            char gb[32];
            if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
                return fail(c, DT_EPARSE, path, "element %zu: expected a finite number, got %s",
                            i, got(e, gb, sizeof gb));
            out[i * cols + i] = dt__cfg_num(e);
        }
        return DT_OK;
    }
    if (nr != rows)
        return fail(c, DT_EPARSE, path, "expected %zu rows of %zu numbers%s, got %zu rows",
                    rows, cols, diag_ok ? " (or the diagonal)" : "", nr);
    size_t i = 0;
    for (const dt_config *r = dt__cfg_child(v); r; r = dt__cfg_next(r), i++) {
        char p[160];
        dt__fmt(p, sizeof p, "%s[%zu]", path, i);
        if (!dt__cfg_is_array(r) || (size_t)dt__cfg_count(r) != cols)
            return fail(c, DT_EPARSE, p, "expected %zu numbers", cols);
        size_t j = 0;
        for (const dt_config *e = dt__cfg_child(r); e; e = dt__cfg_next(e), j++) {
            char gb[32];
            if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
                return fail(c, DT_EPARSE, p, "element %zu: expected a finite number, got %s", j,
                            got(e, gb, sizeof gb));
            out[i * cols + j] = dt__cfg_num(e);
        }
    }
    return DT_OK;
}

static int vector(jctx *c, const dt_config *v, const char *path, size_t n, double *out)
{
    if (!dt__cfg_is_array(v) || (size_t)dt__cfg_count(v) != n)
        return fail(c, DT_EPARSE, path, "expected an array of %zu numbers", n);
    size_t i = 0;
    for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e), i++) {
        char gb[32];
        if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
            return fail(c, DT_EPARSE, path, "element %zu: expected a finite number, got %s", i,
                        got(e, gb, sizeof gb));
        out[i] = dt__cfg_num(e);
    }
    return DT_OK;
}

static int signal_list(jctx *c, const dt_config *v, const char *path, dt_role role,
                       dt_signal_id *out, size_t *n)
{
    if (!dt__cfg_is_array(v))
        return fail(c, DT_EPARSE, path, "expected an array of signal ids");
    size_t k = (size_t)dt__cfg_count(v);
    if (k > DT_LA_MAX || (role == DT_ROLE_ESTIMATED && k == 0))
        return fail(c, DT_ELIMIT, path, "between %d and %d signals, got %zu",
                    role == DT_ROLE_ESTIMATED ? 1 : 0, DT_LA_MAX, k);
    size_t i = 0;
    for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e), i++) {
        char p[160];
        dt__fmt(p, sizeof p, "%s[%zu]", path, i);
        if (!dt__cfg_is_string(e))
            return fail(c, DT_EPARSE, p, "expected a signal id");
        if (dt_model_find_signal(c->model, dt__cfg_str(e), &out[i]) != DT_OK)
            return fail(c, DT_EPARSE, p, "unknown signal \"%s\"", dt__cfg_str(e));
        const dt_signal_info *si = dt_model_signal(c->model, out[i]);
        if (role == DT_ROLE_ESTIMATED && si->role != DT_ROLE_ESTIMATED)
            return fail(c, DT_EPARSE, p, "signal \"%s\" is %s, not estimated",
                        dt__cfg_str(e), dt_role_name(si->role));
        for (size_t j = 0; j < i; j++)
            if (out[j] == out[i])
                return fail(c, DT_EPARSE, p, "signal \"%s\" listed twice", dt__cfg_str(e));
    }
    *n = k;
    return DT_OK;
}

/* {"state id": weight, ...} -> n weights. */
static int weights(jctx *c, const dt_config *v, const char *path, dt_est *est, double *w)
{
    size_t n = dt_est_dim(est);
    memset(w, 0, n * sizeof *w);
    if (!dt__cfg_is_object(v) || dt__cfg_child(v) == NULL)
        return fail(c, DT_EPARSE, path, "expected an object of state: weight");
    for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e)) {
        char p[160];
        dt__fmt(p, sizeof p, "%s.%s", path, dt__cfg_key(e));
        dt_signal_id sid;
        int idx = dt_model_find_signal(c->model, dt__cfg_key(e), &sid) == DT_OK
                      ? dt_est_state_index(est, sid)
                      : -1;
        if (idx < 0)
            return fail(c, DT_EPARSE, p, "\"%s\" is not a state of the estimator", dt__cfg_key(e));
        char gb[32];
        if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
            return fail(c, DT_EPARSE, p, "expected a finite number, got %s",
                        got(e, gb, sizeof gb));
        w[idx] = dt__cfg_num(e);
    }
    return DT_OK;
}

/* A (or the discrete F): every entry within RATE_MAX. */
static int rates(jctx *c, const double *A, size_t n, int discrete)
{
    double max = discrete ? STEP_MAX : RATE_MAX;
    for (size_t i = 0; i < n * n; i++)
        if (fabs(A[i]) > max) {
            char p[64], nb[32];
            dt__fmt(p, sizeof p, "estimator.A[%zu]", i / n);
            return fail(c, DT_EPARSE, p, "element %zu is %s, beyond the limit of %g %s", i % n,
                        dt__num(A[i], nb, sizeof nb), max,
                        discrete ? "per step (F P F' would overflow)"
                                 : "per second (faster than any physical process: a typo?)");
        }
    return DT_OK;
}

/* One index of a covariance for messages: ` (state "x")` for the states'
 * covariances (Q, P0), nothing for Qc (its indices are noise inputs). */
static const char *index_name(jctx *c, const dt_signal_id *states, size_t i, char *buf,
                              size_t cap)
{
    if (states == NULL)
        return "";
    dt__fmt(buf, cap, " (state \"%s\")", dt_model_signal(c->model, states[i])->id);
    return buf;
}

/* A covariance (Q, P0, Qc, and Q = G Qc G'): diagonal in [0, VARIANCE_MAX],
 * then symmetric and positive semi-definite by the library's own tests
 * (dt__symmetric, dt__psd with PSD_TOL), the ones the filter and the latency
 * budgets apply, so what loads here is never refused later. When a test
 * fails, the message says where: the pair that breaks symmetry, or the pivot
 * of dt__psd's LDL' elimination that fails (replayed here for the message).
 * what: "" or a prefix naming a computed matrix ("G Qc G' "). states: names
 * the indices (NULL: plain indices). S: n x n scratch. */
static int covariance(jctx *c, const char *path, const char *what, const double *M, size_t n,
                      const dt_signal_id *states, double *S)
{
    char n1[32], n2[32], n3[32], lb[320];
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = M[i * n + i];
        if (d < 0)
            return fail(c, DT_EPARSE, path,
                        "%sdiagonal element %zu%s is %s: a variance must be >= 0", what, i,
                        index_name(c, states, i, lb, sizeof lb), dt__num(d, n1, sizeof n1));
        if (d > VARIANCE_MAX)
            return fail(c, DT_EPARSE, path,
                        "%sdiagonal element %zu%s is %s, beyond the limit of %g", what, i,
                        index_name(c, states, i, lb, sizeof lb), dt__num(d, n1, sizeof n1),
                        VARIANCE_MAX);
        scale = d > scale ? d : scale;
    }
    if (!dt__symmetric(n, M)) {
        /* the first pair that fails the same test */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                double a = M[i * n + j], b = M[j * n + i], pair[4] = {0, a, b, 0};
                if (!dt__symmetric(2, pair))
                    return fail(c, DT_EPARSE, path,
                                "%snot symmetric (element [%zu][%zu] is %s, element [%zu][%zu] "
                                "is %s)",
                                what, i, j, dt__num(a, n1, sizeof n1), j, i,
                                dt__num(b, n2, sizeof n2));
            }
    }
    if (dt__psd(n, M, S))
        return DT_OK;
    /* refused: replay dt__psd's elimination to name the failing pivot */
    memcpy(S, M, n * n * sizeof *S);
    const double tol = PSD_TOL * scale;
    for (size_t k = 0; k < n; k++) {
        double d = S[k * n + k];
        if (d < -tol)
            return fail(c, DT_EPARSE, path, "%snot positive semi-definite (pivot %zu is %s)", what,
                        k + 1, dt__num(d, n1, sizeof n1));
        if (d <= tol) {
            /* a zero pivot: its column must vanish too, else the 2 x 2 minor
             * d s_jj - s_jk^2 is negative */
            for (size_t j = k + 1; j < n; j++) {
                double o = S[j * n + k], sj = S[j * n + j];
                if (o * o > (d > 0 ? d : 0) * (sj > 0 ? sj : 0) + tol * scale)
                    return fail(c, DT_EPARSE, path,
                                "%snot positive semi-definite (pivot %zu is %s, yet its "
                                "column holds %s in row %zu)",
                                what, k + 1, dt__num(d, n1, sizeof n1),
                                dt__num(o, n3, sizeof n3), j + 1);
            }
            continue;
        }
        for (size_t i = k + 1; i < n; i++) {
            double l = S[i * n + k] / d;
            for (size_t j = k + 1; j < n; j++)
                S[i * n + j] -= l * S[k * n + j];
        }
    }
    return fail(c, DT_EPARSE, path, "%snot positive semi-definite", what); /* not reached */
}

/* ---- Q = G Qc G' ----
 * Evaluated in double-double: a two-product (fma) and two-sum are exact, so
 * every entry is within about (2 g + 2) 2^-104 of sum_kl |G_ik Qc_kl G_jl|
 * of the exact value: the nearest double to it, unless the entry cancels to
 * below about 2^-45 of that sum. A plain double evaluation of G = [0.1, 0.3],
 * Qc = [[9, -3], [-3, 1]] (rank one: the exact result is 2^-110 = 7.7e-34)
 * gives -5.6e-18, a negative variance. Only the upper triangle is computed
 * and mirrored: the result is exactly symmetric. */
typedef struct ddv {
    double hi, lo;
} ddv;

static ddv two_sum(double a, double b) /* exact: hi + lo == a + b */
{
    double s = a + b, v = s - a;
    ddv r = {s, (a - (s - v)) + (b - v)};
    return r;
}

/* x + (phi + plo), |plo| <= ulp(phi): the error is about 2^-106 of the
 * larger operand. */
static ddv dd_sum(ddv x, double phi, double plo)
{
    ddv s = two_sum(x.hi, phi);
    return two_sum(s.hi, s.lo + x.lo + plo);
}

/* T (n x g in double-double: 2 n g) = G S, then Q_ij = sum_l T_il G_jl for
 * i <= j, mirrored; B_ij = sum_kl |G_ik S_kl| |G_jl|, the scale of the
 * rounding error, with Ta (n x g) = |G| |S| as scratch. S: the symmetric
 * part of Qc (g x g). */
static void gqg(size_t n, size_t g, const double *G, const double *S, double *T, double *Ta,
                double *Q, double *B)
{
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l < g; l++) {
            ddv t = {0, 0};
            double a = 0;
            for (size_t k = 0; k < g; k++) {
                double p = G[i * g + k] * S[k * g + l];
                t = dd_sum(t, p, fma(G[i * g + k], S[k * g + l], -p));
                a += fabs(p);
            }
            T[2 * (i * g + l)] = t.hi;
            T[2 * (i * g + l) + 1] = t.lo;
            Ta[i * g + l] = a;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            ddv q = {0, 0};
            double b = 0;
            for (size_t l = 0; l < g; l++) {
                double th = T[2 * (i * g + l)], tl = T[2 * (i * g + l) + 1], gj = G[j * g + l];
                double p = th * gj;
                q = dd_sum(q, p, fma(th, gj, -p) + tl * gj);
                b += Ta[i * g + l] * fabs(gj);
            }
            Q[i * n + j] = Q[j * n + i] = q.hi + q.lo;
            B[i * n + j] = B[j * n + i] = b;
        }
}

/* G (n x g) and Qc (g x g, or its diagonal) -> Q = G Qc G' (n x n). */
static int noise_input(jctx *c, const dt_config *jG, const dt_config *jQc, size_t n,
                       const dt_signal_id *states, double *Q)
{
    char gb[32];
    if (!dt__cfg_is_array(jG))
        return fail(c, DT_EPARSE, "estimator.G",
                    "expected %zu rows (one per state) of g numbers (one per noise input), got %s",
                    n, got(jG, gb, sizeof gb));
    if ((size_t)dt__cfg_count(jG) != n)
        return fail(c, DT_EPARSE, "estimator.G",
                    "expected %zu rows (one per state) of g numbers (one per noise input), got "
                    "%d row%s",
                    n, dt__cfg_count(jG), dt__cfg_count(jG) == 1 ? "" : "s");
    if (!dt__cfg_is_array(dt__cfg_child(jG)))
        return fail(c, DT_EPARSE, "estimator.G[0]",
                    "expected an array of g numbers (one per noise input), got %s",
                    got(dt__cfg_child(jG), gb, sizeof gb));
    size_t g = (size_t)dt__cfg_count(dt__cfg_child(jG));
    if (g < 1 || g > DT_LA_MAX)
        return fail(c, DT_ELIMIT, "estimator.G[0]",
                    "between 1 and %d noise inputs (columns), got %zu", DT_LA_MAX, g);
    if (!dt__cfg_is_array(jQc))
        return fail(c, DT_EPARSE, "estimator.Qc",
                    "expected %zu x %zu (G has %zu column%s) or its diagonal, got %s", g, g, g,
                    g == 1 ? "" : "s", got(jQc, gb, sizeof gb));
    if ((size_t)dt__cfg_count(jQc) != g)
        return fail(c, DT_EPARSE, "estimator.Qc",
                    "expected %zu x %zu (G has %zu column%s) or its diagonal of %zu, got %d "
                    "elements",
                    g, g, g, g == 1 ? "" : "s", g, dt__cfg_count(jQc));
    /* G, Qc, its symmetric part, T (double-double), B and the scratch of
     * the checks */
    double *m = dt__calloc(c->alloc, 4 * n * g + 3 * g * g + 2 * n * n, sizeof *m);
    if (m == NULL)
        return fail(c, DT_ENOMEM, "estimator", "out of memory");
    double *G = m, *Qc = G + n * g, *S = Qc + g * g, *W = S + g * g, *T = W + g * g,
           *Ta = T + 2 * n * g, *B = Ta + n * g, *W2 = B + n * n;
    int rc = matrix(c, jG, "estimator.G", n, g, 0, G);
    if (rc == DT_OK)
        rc = matrix(c, jQc, "estimator.Qc", g, g, 1, Qc);
    if (rc == DT_OK)
        rc = covariance(c, "estimator.Qc", "", Qc, g, NULL, W);
    if (rc == DT_OK) {
        /* the symmetric part (x' Qc x sees only it): Qc itself when it is
         * exactly symmetric, as a diagonal or a hand-written one is */
        for (size_t k = 0; k < g; k++)
            for (size_t l = 0; l < g; l++)
                S[k * g + l] = Qc[k * g + l] / 2 + Qc[l * g + k] / 2;
        gqg(n, g, G, S, T, Ta, Q, B);
        for (size_t i = 0; rc == DT_OK && i < n; i++)
            for (size_t j = i; rc == DT_OK && j < n; j++) {
                char lb[320];
                if (!isfinite(Q[i * n + j]) || !isfinite(B[i * n + j]))
                    rc = fail(c, DT_EPARSE, "estimator.G",
                              "G Qc G' overflows at element [%zu][%zu]%s (entries of G or Qc too "
                              "large)",
                              i, j, index_name(c, i == j ? states : NULL, i, lb, sizeof lb));
            }
        /* a variance that is negative only by rounding (the exact value
         * cancels to within the evaluation's error bound) is 0 */
        for (size_t i = 0; rc == DT_OK && i < n; i++)
            if (Q[i * n + i] < 0 && -Q[i * n + i] <= 0x1p-90 * B[i * n + i])
                Q[i * n + i] = 0;
        /* then what a given Q must be; Qc's tolerance for semi-definite
         * (PSD_TOL) can leave a direction G keeps slightly negative */
        if (rc == DT_OK)
            rc = covariance(c, "estimator.G", "G Qc G' ", Q, n, states, W2);
    }
    dt__free(c->alloc, m);
    return rc;
}

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
    rc = signal_list(c, v, "estimator.states", DT_ROLE_ESTIMATED, states, &n);
    if (rc == DT_OK && (v = dt_config_get(o, "inputs")) != NULL)
        rc = signal_list(c, v, "estimator.inputs", DT_ROLE_COMMANDED, inputs, &p);
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
                        got(v, gb, sizeof gb));
        ec.gate_probability = dt__cfg_num(v);
    }
    if ((v = dt_config_get(o, "history")) != NULL) {
        hist = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        char gb[32];
        if (!(hist >= 1 && hist <= 65536 && hist == floor(hist)))
            return fail(c, DT_EPARSE, "estimator.history", "an integer in 1..65536, got %s",
                        got(v, gb, sizeof gb));
        ec.history = (size_t)hist;
    }
    if ((v = dt_config_get(o, "recover_after")) != NULL) {
        double ra = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        char gb[32];
        if (!(ra >= DT_EST_RECOVER_AFTER_MIN && ra <= DT_EST_RECOVER_AFTER_MAX &&
              ra == floor(ra)))
            return fail(c, DT_EPARSE, "estimator.recover_after", "an integer in %d..%d, got %s",
                        DT_EST_RECOVER_AFTER_MIN, DT_EST_RECOVER_AFTER_MAX,
                        got(v, gb, sizeof gb));
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
                      got(v, gb, sizeof gb));
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
        rc = matrix(c, jA, "estimator.A", n, n, 0, A);
    if (rc == DT_OK)
        rc = rates(c, A, n, strcmp(proc, "discrete") == 0);
    if (rc == DT_OK && jQ != NULL)
        rc = matrix(c, jQ, "estimator.Q", n, n, 1, Q);
    if (rc == DT_OK && jQ != NULL)
        rc = covariance(c, "estimator.Q", "", Q, n, states, W);
    if (rc == DT_OK && jQ == NULL)
        rc = noise_input(c, jG, jQc, n, states, Q);
    if (rc == DT_OK && p > 0) {
        if (jB == NULL)
            rc = fail(c, DT_EPARSE, "estimator.B", "missing (required %zu x %zu matrix)", n, p);
        else
            rc = matrix(c, jB, "estimator.B", n, p, 0, B);
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
        rc = v ? vector(c, v, "estimator.x0", n, x0) : DT_OK;
    }
    if (rc == DT_OK) {
        v = dt_config_get(o, "P0");
        if (v == NULL)
            rc = fail(c, DT_EPARSE, "estimator.P0", "missing (required covariance)");
        else
            rc = matrix(c, v, "estimator.P0", n, n, 1, P0);
    }
    if (rc == DT_OK)
        rc = covariance(c, "estimator.P0", "", P0, n, states, W);
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
            rc = weights(c, jh, kp, est, h);
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
                          got(jo, gb, sizeof gb));
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
            rc = fail(c, DT_EPARSE, pp, "expected a finite number, got %s", got(e, gb, sizeof gb));
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
                           got(jm, gb, sizeof gb))
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
            rc = weights(c, jw ? jw : jq, kp, est, h);
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
