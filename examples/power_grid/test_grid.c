/* Checks the power-flow model's derivatives (used by Newton-Raphson and by the
 * twin's EKF) against central differences, and the solver's result against an
 * independent evaluation of the power balance. Usage: test_grid CASE.json */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "grid.h"
#include "power_grid.h"

static double worst = 0;

/* Relative-or-absolute error of an analytic derivative against a central
 * difference with step h (truncation O(h^2) ~ 1e-10, rounding ~1e-16/h). */
static void compare(double analytic, double numeric)
{
    double e = fabs(analytic - numeric) / fmax(1.0, fabs(numeric));
    if (e > worst)
        worst = e;
}

typedef void (*fn)(const grid *, const double *, const double *, size_t, double *, double *,
                   double *, double *);

static void check(const grid *g, fn f, size_t count, double *va, double *vm)
{
    size_t nb = g->nb;
    double *dp = calloc(2 * nb, sizeof *dp), *dq = calloc(2 * nb, sizeof *dq);
    const double h = 1e-6;
    for (size_t i = 0; i < count; i++) {
        double p, q;
        f(g, va, vm, i, &p, &q, dp, dq);
        for (size_t k = 0; k < 2 * nb; k++) {
            double *x = k < nb ? &va[k] : &vm[k - nb], x0 = *x, pp, qp, pm, qm;
            *x = x0 + h;
            f(g, va, vm, i, &pp, &qp, NULL, NULL);
            *x = x0 - h;
            f(g, va, vm, i, &pm, &qm, NULL, NULL);
            *x = x0;
            compare(dp[k], (pp - pm) / (2 * h));
            compare(dq[k], (qp - qm) / (2 * h));
        }
    }
    free(dp);
    free(dq);
}

int main(int argc, char **argv)
{
    char err[256];
    grid *g;
    if (argc != 2 || grid_load(argv[1], &g, err, sizeof err) != 0) {
        fprintf(stderr, "test_grid: %s\n", argc == 2 ? err : "usage: test_grid CASE.json");
        return 2;
    }
    grid_result r;
    if (grid_solve(g, PG_MAX_ITER, PG_TOL, &r, err, sizeof err) != 0) {
        fprintf(stderr, "test_grid: %s\n", err);
        return 1;
    }
    /* derivatives at the solution and at a perturbed, unbalanced point */
    double *va = calloc(g->nb, sizeof *va), *vm = calloc(g->nb, sizeof *vm);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < g->nb; i++) {
            va[i] = g->va[i] + (pass ? 0.05 * sin(3.0 * (double)i) : 0);
            vm[i] = g->vm[i] + (pass ? 0.03 * cos(5.0 * (double)i) : 0);
        }
        check(g, grid_injection, g->nb, va, vm);
        check(g, grid_flow, g->nl, va, vm);
    }
    printf("derivatives: worst relative error vs central differences %.2e (tol 1e-7)\n", worst);
    /* Power balance, evaluated branch by branch (independent of the bus
     * admittance matrix the solver used): net injection = flows out of both
     * branch ends + shunt conductance losses. */
    double inj = 0, flows = 0, shunt = 0, gen = 0;
    for (size_t i = 0; i < g->nb; i++) {
        double p, q, gs = g->G[i * g->nb + i];
        grid_injection(g, g->va, g->vm, i, &p, &q, NULL, NULL);
        inj += p;
        gen += p + g->pd[i];
        for (size_t k = 0; k < g->nl; k++) /* the shunt part of the diagonal */
            gs -= g->br[k].f == i ? g->br[k].gff : g->br[k].t == i ? g->br[k].gtt : 0;
        shunt += gs * g->vm[i] * g->vm[i];
    }
    for (size_t k = 0; k < g->nl; k++) {
        const grid_branch *b = &g->br[k];
        double pf, qf, vf = g->vm[b->f], vt = g->vm[b->t], th = g->va[b->t] - g->va[b->f];
        grid_flow(g, g->va, g->vm, k, &pf, &qf, NULL, NULL);
        flows += pf + vt * vt * b->gtt + vt * vf * (b->gtf * cos(th) + b->btf * sin(th));
    }
    double imbalance = fabs(inj - flows - shunt);
    printf("power balance: generation %.4f MW, losses %.4f MW, |injections - branch flows - "
           "shunts| %.1e pu (tol 1e-9)\n",
           gen * g->base_mva, (flows + shunt) * g->base_mva, imbalance);
    int ok = worst < 1e-7 && imbalance < 1e-9 && r.mismatch < PG_TOL;
    printf("test_grid: %s\n", ok ? "PASS" : "FAIL");
    free(va);
    free(vm);
    grid_free(g);
    return ok ? 0 : 1;
}
