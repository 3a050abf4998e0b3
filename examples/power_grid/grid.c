/* AC power flow: case loading, admittance matrix, injections, flows, Newton-Raphson. */
#include "grid.h"

#include <complex.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const double DEG = 3.14159265358979323846 / 180.0;

static int fail(char *err, size_t len, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err != NULL && len > 0)
        vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* A required finite number field of element `what`[k]. */
static int num(const cJSON *o, const char *what, size_t k, const char *key, double *out,
               char *err, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(err, len, "%s[%zu].%s: missing or not a finite number", what, k, key);
    *out = v->valuedouble;
    return 0;
}

static int find_bus(const grid *g, double id, size_t *out)
{
    for (size_t i = 0; i < g->nb; i++)
        if ((double)g->bus_id[i] == id) {
            *out = i;
            return 0;
        }
    return -1;
}

static char *read_text(const char *path, char *err, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail(err, len, "%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n < 0 || n > 64L * 1024 * 1024)
        fail(err, len, "%s: unreadable or larger than 64 MiB", path);
    else if (fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL)
        fail(err, len, "%s: out of memory", path);
    else if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fail(err, len, "%s: read error", path);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

static const cJSON *array(const cJSON *root, const char *key, size_t max, size_t *count,
                          char *err, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a)) {
        fail(err, len, "%s: missing or not an array", key);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(a);
    if (n == 0 || n > max) {
        fail(err, len, "%s: %zu entries (1..%zu allowed)", key, n, max);
        return NULL;
    }
    *count = n;
    return a;
}

static int alloc_arrays(grid *g)
{
    size_t nb = g->nb, m = 2 * nb;
    g->bus_id = calloc(nb, sizeof *g->bus_id);
    g->type = calloc(nb, sizeof *g->type);
    g->pd = calloc(nb, sizeof *g->pd);
    g->qd = calloc(nb, sizeof *g->qd);
    g->pg = calloc(nb, sizeof *g->pg);
    g->vset = calloc(nb, sizeof *g->vset);
    g->G = calloc(nb * nb, sizeof *g->G);
    g->B = calloc(nb * nb, sizeof *g->B);
    g->vm = calloc(nb, sizeof *g->vm);
    g->va = calloc(nb, sizeof *g->va);
    g->J = calloc(m * m, sizeof *g->J);
    g->rhs = calloc(m, sizeof *g->rhs);
    g->dx = calloc(m, sizeof *g->dx);
    g->perm = calloc(m, sizeof *g->perm);
    g->col = calloc(m, sizeof *g->col);
    g->scratch = calloc(2 * m, sizeof *g->scratch);
    return g->bus_id && g->type && g->pd && g->qd && g->pg && g->vset && g->G && g->B &&
                   g->vm && g->va && g->J && g->rhs && g->dx && g->perm && g->col && g->scratch
               ? 0
               : -1;
}

static int load_buses(grid *g, const cJSON *buses, char *err, size_t len)
{
    size_t k = 0, refs = 0;
    for (const cJSON *b = buses->child; b != NULL; b = b->next, k++) {
        double id = 0, type = 0, gs = 0, bs = 0;
        if (!cJSON_IsObject(b))
            return fail(err, len, "bus[%zu]: expected an object", k);
        if (num(b, "bus", k, "bus_i", &id, err, len) || num(b, "bus", k, "type", &type, err, len) ||
            num(b, "bus", k, "Pd", &g->pd[k], err, len) ||
            num(b, "bus", k, "Qd", &g->qd[k], err, len) || num(b, "bus", k, "Gs", &gs, err, len) ||
            num(b, "bus", k, "Bs", &bs, err, len) || num(b, "bus", k, "Vm", &g->vm[k], err, len) ||
            num(b, "bus", k, "Va", &g->va[k], err, len))
            return -1;
        if (id < 1 || id > 1e9 || id != floor(id))
            return fail(err, len, "bus[%zu].bus_i: a positive integer", k);
        size_t dup;
        if (find_bus(g, id, &dup) == 0)
            return fail(err, len, "bus[%zu].bus_i: bus %d appears twice", k, (int)id);
        if (type != GRID_PQ && type != GRID_PV && type != GRID_REF)
            return fail(err, len, "bus[%zu].type: 1 (PQ), 2 (PV) or 3 (reference) (isolated "
                                  "buses are not supported)", k);
        if (!(g->vm[k] > 0.5 && g->vm[k] < 1.5))
            return fail(err, len, "bus[%zu].Vm: start value outside (0.5, 1.5) pu", k);
        g->bus_id[k] = (int)id;
        g->nb = k + 1; /* find_bus sees the buses read so far */
        g->type[k] = (int)type;
        g->pd[k] /= g->base_mva;
        g->qd[k] /= g->base_mva;
        g->va[k] *= DEG;
        g->pg[k] = gs; /* stash shunts until the matrix layout is fixed */
        g->vset[k] = bs;
        if (type == GRID_REF) {
            if (refs++ == 0)
                g->ref = k;
        }
    }
    if (refs != 1)
        return fail(err, len, "bus: %zu reference buses (type 3); exactly one is supported", refs);
    return 0;
}

static int load_gens(grid *g, const cJSON *gens, char *err, size_t len)
{
    int *has_gen = calloc(g->nb, sizeof *has_gen);
    if (has_gen == NULL)
        return fail(err, len, "out of memory");
    size_t k = 0;
    int rc = 0;
    for (const cJSON *e = gens->child; e != NULL && rc == 0; e = e->next, k++) {
        double bus = 0, pg = 0, vg = 0, status = 0;
        size_t i;
        if (!cJSON_IsObject(e))
            rc = fail(err, len, "gen[%zu]: expected an object", k);
        else if (num(e, "gen", k, "bus", &bus, err, len) || num(e, "gen", k, "Pg", &pg, err, len) ||
                 num(e, "gen", k, "Vg", &vg, err, len) ||
                 num(e, "gen", k, "status", &status, err, len))
            rc = -1;
        else if (find_bus(g, bus, &i) != 0)
            rc = fail(err, len, "gen[%zu].bus: no bus %g", k, bus);
        else if (!(vg > 0.5 && vg < 1.5))
            rc = fail(err, len, "gen[%zu].Vg: outside (0.5, 1.5) pu", k);
        else if (status > 0) {
            g->pg[i] += pg / g->base_mva;
            g->vset[i] = vg; /* MATPOWER: the generator's Vg fixes the bus voltage */
            has_gen[i] = 1;
        }
    }
    for (size_t i = 0; rc == 0 && i < g->nb; i++) {
        if (g->type[i] == GRID_PV && !has_gen[i])
            g->type[i] = GRID_PQ; /* as MATPOWER: a PV bus without a running generator */
        if (g->type[i] == GRID_REF && !has_gen[i])
            rc = fail(err, len, "bus[%zu]: the reference bus has no generator in service", i);
        if (g->type[i] != GRID_PQ)
            g->vm[i] = g->vset[i];
    }
    free(has_gen);
    return rc;
}

static int load_branches(grid *g, const cJSON *branches, char *err, size_t len)
{
    size_t k = 0, n = 0;
    size_t nb = g->nb;
    for (const cJSON *e = branches->child; e != NULL; e = e->next, k++) {
        double f = 0, t = 0, r = 0, x = 0, b = 0, ratio = 0, angle = 0, status = 0;
        size_t fi, ti;
        if (!cJSON_IsObject(e))
            return fail(err, len, "branch[%zu]: expected an object", k);
        if (num(e, "branch", k, "fbus", &f, err, len) ||
            num(e, "branch", k, "tbus", &t, err, len) || num(e, "branch", k, "r", &r, err, len) ||
            num(e, "branch", k, "x", &x, err, len) || num(e, "branch", k, "b", &b, err, len) ||
            num(e, "branch", k, "ratio", &ratio, err, len) ||
            num(e, "branch", k, "angle", &angle, err, len) ||
            num(e, "branch", k, "status", &status, err, len))
            return -1;
        if (find_bus(g, f, &fi) != 0)
            return fail(err, len, "branch[%zu].fbus: no bus %g", k, f);
        if (find_bus(g, t, &ti) != 0)
            return fail(err, len, "branch[%zu].tbus: no bus %g", k, t);
        if (fi == ti)
            return fail(err, len, "branch[%zu]: connects bus %g to itself", k, f);
        if (r == 0 && x == 0)
            return fail(err, len, "branch[%zu]: zero impedance (r = x = 0)", k);
        if (ratio < 0)
            return fail(err, len, "branch[%zu].ratio: negative", k);
        if (status <= 0)
            continue;
        /* MATPOWER's branch model: series admittance ys, total charging b, an
         * ideal transformer (ratio, shift) at the from end. */
        double complex ys = 1.0 / (r + I * x);
        double complex tap = (ratio == 0 ? 1.0 : ratio) * cexp(I * angle * DEG);
        double complex ytt = ys + I * b / 2;
        double complex yff = ytt / (tap * conj(tap));
        double complex yft = -ys / conj(tap);
        double complex ytf = -ys / tap;
        grid_branch *br = &g->br[n++];
        br->f = fi;
        br->t = ti;
        br->gff = creal(yff), br->bff = cimag(yff);
        br->gft = creal(yft), br->bft = cimag(yft);
        br->gtf = creal(ytf), br->btf = cimag(ytf);
        br->gtt = creal(ytt), br->btt = cimag(ytt);
        g->G[fi * nb + fi] += br->gff, g->B[fi * nb + fi] += br->bff;
        g->G[fi * nb + ti] += br->gft, g->B[fi * nb + ti] += br->bft;
        g->G[ti * nb + fi] += br->gtf, g->B[ti * nb + fi] += br->btf;
        g->G[ti * nb + ti] += br->gtt, g->B[ti * nb + ti] += br->btt;
    }
    g->nl = n;
    return 0;
}

int grid_load(const char *path, grid **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text = read_text(path, err, errlen);
    if (text == NULL)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (root == NULL)
        return fail(err, errlen, "%s: not valid JSON", path);
    grid *g = calloc(1, sizeof *g);
    int rc = g == NULL ? fail(err, errlen, "out of memory") : 0;
    const cJSON *buses = NULL, *gens = NULL, *branches = NULL;
    size_t nb = 0, ng = 0, nl = 0;
    if (rc == 0) {
        const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "baseMVA");
        if (!cJSON_IsNumber(base) || !(base->valuedouble > 0) || !isfinite(base->valuedouble))
            rc = fail(err, errlen, "baseMVA: missing or not a positive number");
        else
            g->base_mva = base->valuedouble;
    }
    if (rc == 0 && ((buses = array(root, "bus", GRID_MAX_BUS, &nb, err, errlen)) == NULL ||
                    (gens = array(root, "gen", GRID_MAX_GEN, &ng, err, errlen)) == NULL ||
                    (branches = array(root, "branch", GRID_MAX_BRANCH, &nl, err, errlen)) == NULL))
        rc = -1;
    if (rc == 0) {
        g->nb = nb;
        g->ng = ng;
        g->br = calloc(nl, sizeof *g->br);
        if (alloc_arrays(g) != 0 || g->br == NULL)
            rc = fail(err, errlen, "out of memory (%zu buses)", nb);
    }
    if (rc == 0) {
        g->nb = 0;
        rc = load_buses(g, buses, err, errlen);
        g->nb = nb;
    }
    if (rc == 0) {
        /* shunts were stashed in pg (Gs) and vset (Bs), in MW / MVAr at 1 pu */
        for (size_t i = 0; i < nb; i++) {
            g->G[i * nb + i] = g->pg[i] / g->base_mva;
            g->B[i * nb + i] = g->vset[i] / g->base_mva;
            g->pg[i] = g->vset[i] = 0;
        }
        rc = load_gens(g, gens, err, errlen);
    }
    if (rc == 0)
        rc = load_branches(g, branches, err, errlen);
    cJSON_Delete(root);
    if (rc != 0) {
        grid_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void grid_free(grid *g)
{
    if (g == NULL)
        return;
    free(g->bus_id), free(g->type), free(g->pd), free(g->qd), free(g->pg), free(g->vset);
    free(g->G), free(g->B), free(g->br), free(g->vm), free(g->va);
    free(g->J), free(g->rhs), free(g->dx), free(g->perm), free(g->col), free(g->scratch);
    free(g);
}

void grid_injection(const grid *g, const double *va, const double *vm, size_t i, double *p,
                    double *q, double *dp, double *dq)
{
    size_t nb = g->nb;
    const double *G = g->G + i * nb, *B = g->B + i * nb;
    double vi = vm[i], P = vi * vi * G[i], Q = -vi * vi * B[i];
    double dpi = 0, dqi = 0;
    if (dp != NULL) {
        memset(dp, 0, 2 * nb * sizeof *dp);
        memset(dq, 0, 2 * nb * sizeof *dq);
    }
    for (size_t k = 0; k < nb; k++) {
        if (k == i || (G[k] == 0 && B[k] == 0))
            continue;
        double t = va[i] - va[k], c = cos(t), s = sin(t);
        double a = G[k] * c + B[k] * s, b = G[k] * s - B[k] * c;
        P += vi * vm[k] * a;
        Q += vi * vm[k] * b;
        if (dp != NULL) {
            dp[k] = vi * vm[k] * b;
            dp[nb + k] = vi * a;
            dq[k] = -vi * vm[k] * a;
            dq[nb + k] = vi * b;
            dpi -= vi * vm[k] * b;
            dqi += vi * vm[k] * a;
        }
    }
    if (dp != NULL) {
        dp[i] = dpi;
        dp[nb + i] = P / vi + G[i] * vi;
        dq[i] = dqi;
        dq[nb + i] = Q / vi - B[i] * vi;
    }
    *p = P;
    *q = Q;
}

void grid_flow(const grid *g, const double *va, const double *vm, size_t k, double *p,
               double *q, double *dp, double *dq)
{
    const grid_branch *br = &g->br[k];
    size_t f = br->f, t = br->t, nb = g->nb;
    double vf = vm[f], vt = vm[t], th = va[f] - va[t], c = cos(th), s = sin(th);
    double a = br->gft * c + br->bft * s, b = br->gft * s - br->bft * c;
    *p = vf * vf * br->gff + vf * vt * a;
    *q = -vf * vf * br->bff + vf * vt * b;
    if (dp == NULL)
        return;
    memset(dp, 0, 2 * nb * sizeof *dp);
    memset(dq, 0, 2 * nb * sizeof *dq);
    dp[f] = -vf * vt * b;
    dp[t] = vf * vt * b;
    dp[nb + f] = 2 * vf * br->gff + vt * a;
    dp[nb + t] = vf * a;
    dq[f] = vf * vt * a;
    dq[t] = -vf * vt * a;
    dq[nb + f] = -2 * vf * br->bff + vt * b;
    dq[nb + t] = vf * b;
}

void grid_generation(const grid *g, size_t i, double *p, double *q)
{
    grid_injection(g, g->va, g->vm, i, p, q, NULL, NULL);
    *p += g->pd[i];
    *q += g->qd[i];
}

/* In-place LU with partial pivoting, then the solve: a x = b (a is m x m). */
static int lu_solve(double *a, size_t m, size_t *perm, double *b, double *x)
{
    for (size_t i = 0; i < m; i++)
        perm[i] = i;
    for (size_t k = 0; k < m; k++) {
        size_t piv = k;
        double best = fabs(a[perm[k] * m + k]);
        for (size_t i = k + 1; i < m; i++)
            if (fabs(a[perm[i] * m + k]) > best)
                best = fabs(a[perm[i] * m + k]), piv = i;
        if (!(best > 1e-14))
            return -1;
        size_t tmp = perm[k];
        perm[k] = perm[piv];
        perm[piv] = tmp;
        const double *rk = a + perm[k] * m;
        for (size_t i = k + 1; i < m; i++) {
            double *ri = a + perm[i] * m;
            double l = ri[k] / rk[k];
            ri[k] = l;
            if (l != 0)
                for (size_t j = k + 1; j < m; j++)
                    ri[j] -= l * rk[j];
        }
    }
    for (size_t i = 0; i < m; i++) { /* forward: L y = P b */
        const double *ri = a + perm[i] * m;
        double s = b[perm[i]];
        for (size_t j = 0; j < i; j++)
            s -= ri[j] * x[j];
        x[i] = s;
    }
    for (size_t i = m; i-- > 0;) { /* back: U x = y */
        const double *ri = a + perm[i] * m;
        double s = x[i];
        for (size_t j = i + 1; j < m; j++)
            s -= ri[j] * x[j];
        x[i] = s / ri[i];
    }
    return 0;
}

/* Mismatches (computed - scheduled) into g->rhs, Jacobian rows into g->J when
 * jac; returns the largest |mismatch| and where it is. */
static double mismatch(grid *g, size_t m, int jac, size_t *worst, double *dp, double *dq)
{
    size_t nb = g->nb, *col = g->col;
    double big = 0;
    *worst = 0;
    for (size_t i = 0; i < nb; i++) {
        if (col[i] == SIZE_MAX)
            continue;
        double p, q;
        grid_injection(g, g->va, g->vm, i, &p, &q, jac ? dp : NULL, jac ? dq : NULL);
        size_t rp = col[i], rq = col[nb + i];
        g->rhs[rp] = p - (g->pg[i] - g->pd[i]);
        if (fabs(g->rhs[rp]) > big || !isfinite(g->rhs[rp]))
            big = isfinite(g->rhs[rp]) ? fabs(g->rhs[rp]) : INFINITY, *worst = i;
        if (rq != SIZE_MAX) {
            g->rhs[rq] = q - (-g->qd[i]);
            if (fabs(g->rhs[rq]) > big || !isfinite(g->rhs[rq]))
                big = isfinite(g->rhs[rq]) ? fabs(g->rhs[rq]) : INFINITY, *worst = i;
        }
        if (!jac)
            continue;
        for (size_t k = 0; k < 2 * nb; k++) {
            if (col[k] == SIZE_MAX)
                continue;
            g->J[rp * m + col[k]] = dp[k];
            if (rq != SIZE_MAX)
                g->J[rq * m + col[k]] = dq[k];
        }
    }
    return big;
}

int grid_solve(grid *g, int max_iter, double tol, grid_result *res, char *err, size_t errlen)
{
    size_t nb = g->nb, m = 0;
    /* unknowns: every non-reference angle, every PQ magnitude; equations in the same slots */
    for (size_t i = 0; i < nb; i++)
        g->col[i] = i == g->ref ? SIZE_MAX : m++;
    for (size_t i = 0; i < nb; i++)
        g->col[nb + i] = g->type[i] == GRID_PQ ? m++ : SIZE_MAX;
    double *dp = g->scratch, *dq = g->scratch + 2 * nb;
    res->iterations = 0;
    int rc = 0;
    for (;;) {
        res->mismatch = mismatch(g, m, 1, &res->worst_bus, dp, dq);
        if (!isfinite(res->mismatch)) {
            rc = fail(err, errlen, "Newton-Raphson diverged (non-finite mismatch at bus %d "
                                   "after %d iterations)",
                      g->bus_id[res->worst_bus], res->iterations);
            break;
        }
        if (res->mismatch < tol)
            break;
        if (res->iterations >= max_iter) {
            rc = fail(err, errlen, "Newton-Raphson did not converge in %d iterations: largest "
                                   "mismatch %.3g pu at bus %d",
                      max_iter, res->mismatch, g->bus_id[res->worst_bus]);
            break;
        }
        if (lu_solve(g->J, m, g->perm, g->rhs, g->dx) != 0) {
            rc = fail(err, errlen, "Newton-Raphson: singular Jacobian at iteration %d (is the "
                                   "network connected?)",
                      res->iterations + 1);
            break;
        }
        for (size_t i = 0; i < nb; i++) {
            if (g->col[i] != SIZE_MAX)
                g->va[i] -= g->dx[g->col[i]];
            if (g->col[nb + i] != SIZE_MAX)
                g->vm[i] -= g->dx[g->col[nb + i]];
        }
        res->iterations++;
    }
    return rc;
}
