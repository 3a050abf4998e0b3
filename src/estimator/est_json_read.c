/* The estimator section's readers: matrices, vectors, signal lists,
 * weights, rates, covariance checks with the evidence, and Q = G Qc G'. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "../linalg/la_internal.h"
#include "est_internal.h"
#include "est_json.h"
#include "latency_internal.h"

#define fail dt__fail

/* "got ..." for a value that is not a finite number. */
const char *dt__ej_got(const dt_config *e, char *buf, size_t cap)
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
int dt__ej_matrix(jctx *c, const dt_config *v, const char *path, size_t rows, size_t cols,
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
                            i, dt__ej_got(e, gb, sizeof gb));
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
                            dt__ej_got(e, gb, sizeof gb));
            out[i * cols + j] = dt__cfg_num(e);
        }
    }
    return DT_OK;
}

int dt__ej_vector(jctx *c, const dt_config *v, const char *path, size_t n, double *out)
{
    if (!dt__cfg_is_array(v) || (size_t)dt__cfg_count(v) != n)
        return fail(c, DT_EPARSE, path, "expected an array of %zu numbers", n);
    size_t i = 0;
    for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e), i++) {
        char gb[32];
        if (!dt__cfg_is_number(e) || !isfinite(dt__cfg_num(e)))
            return fail(c, DT_EPARSE, path, "element %zu: expected a finite number, got %s", i,
                        dt__ej_got(e, gb, sizeof gb));
        out[i] = dt__cfg_num(e);
    }
    return DT_OK;
}

int dt__ej_signal_list(jctx *c, const dt_config *v, const char *path, dt_role role,
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
int dt__ej_weights(jctx *c, const dt_config *v, const char *path, dt_est *est, double *w)
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
                        dt__ej_got(e, gb, sizeof gb));
        w[idx] = dt__cfg_num(e);
    }
    return DT_OK;
}

/* A (or the discrete F): every entry within RATE_MAX. */
int dt__ej_rates(jctx *c, const double *A, size_t n, int discrete)
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
const char *dt__ej_index_name(jctx *c, const dt_signal_id *states, size_t i, char *buf,
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
int dt__ej_covariance(jctx *c, const char *path, const char *what, const double *M, size_t n,
                      const dt_signal_id *states, double *S)
{
    char n1[32], n2[32], n3[32], lb[320];
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = M[i * n + i];
        if (d < 0)
            return fail(c, DT_EPARSE, path,
                        "%sdiagonal element %zu%s is %s: a variance must be >= 0", what, i,
                        dt__ej_index_name(c, states, i, lb, sizeof lb), dt__num(d, n1, sizeof n1));
        if (d > VARIANCE_MAX)
            return fail(c, DT_EPARSE, path,
                        "%sdiagonal element %zu%s is %s, beyond the limit of %g", what, i,
                        dt__ej_index_name(c, states, i, lb, sizeof lb), dt__num(d, n1, sizeof n1),
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
int dt__ej_noise_input(jctx *c, const dt_config *jG, const dt_config *jQc, size_t n,
                       const dt_signal_id *states, double *Q)
{
    char gb[32];
    if (!dt__cfg_is_array(jG))
        return fail(c, DT_EPARSE, "estimator.G",
                    "expected %zu rows (one per state) of g numbers (one per noise input), got %s",
                    n, dt__ej_got(jG, gb, sizeof gb));
    if ((size_t)dt__cfg_count(jG) != n)
        return fail(c, DT_EPARSE, "estimator.G",
                    "expected %zu rows (one per state) of g numbers (one per noise input), got "
                    "%d row%s",
                    n, dt__cfg_count(jG), dt__cfg_count(jG) == 1 ? "" : "s");
    if (!dt__cfg_is_array(dt__cfg_child(jG)))
        return fail(c, DT_EPARSE, "estimator.G[0]",
                    "expected an array of g numbers (one per noise input), got %s",
                    dt__ej_got(dt__cfg_child(jG), gb, sizeof gb));
    size_t g = (size_t)dt__cfg_count(dt__cfg_child(jG));
    if (g < 1 || g > DT_LA_MAX)
        return fail(c, DT_ELIMIT, "estimator.G[0]",
                    "between 1 and %d noise inputs (columns), got %zu", DT_LA_MAX, g);
    if (!dt__cfg_is_array(jQc))
        return fail(c, DT_EPARSE, "estimator.Qc",
                    "expected %zu x %zu (G has %zu column%s) or its diagonal, got %s", g, g, g,
                    g == 1 ? "" : "s", dt__ej_got(jQc, gb, sizeof gb));
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
    int rc = dt__ej_matrix(c, jG, "estimator.G", n, g, 0, G);
    if (rc == DT_OK)
        rc = dt__ej_matrix(c, jQc, "estimator.Qc", g, g, 1, Qc);
    if (rc == DT_OK)
        rc = dt__ej_covariance(c, "estimator.Qc", "", Qc, g, NULL, W);
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
                              i, j, dt__ej_index_name(c, i == j ? states : NULL, i, lb, sizeof lb));
            }
        /* a variance that is negative only by rounding (the exact value
         * cancels to within the evaluation's error bound) is 0 */
        for (size_t i = 0; rc == DT_OK && i < n; i++)
            if (Q[i * n + i] < 0 && -Q[i * n + i] <= 0x1p-90 * B[i * n + i])
                Q[i * n + i] = 0;
        /* then what a given Q must be; Qc's tolerance for semi-definite
         * (PSD_TOL) can leave a direction G keeps slightly negative */
        if (rc == DT_OK)
            rc = dt__ej_covariance(c, "estimator.G", "G Qc G' ", Q, n, states, W2);
    }
    dt__free(c->alloc, m);
    return rc;
}

