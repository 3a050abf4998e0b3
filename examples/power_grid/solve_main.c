/* power_grid --solve CASE.json: the AC power flow of any case in the JSON case
 * format, one CSV row per bus. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "grid.h"
#include "power_grid.h"

int pg_solve_case(const char *path)
{
    char err[256];
    grid *g;
    if (grid_load(path, &g, err, sizeof err) != 0) {
        fprintf(stderr, "power_grid: %s%s%s\n", strncmp(err, path, strlen(path)) ? path : "",
                strncmp(err, path, strlen(path)) ? ": " : "", err);
        return 2;
    }
    grid_result r;
    if (grid_solve(g, PG_MAX_ITER, PG_TOL, &r, err, sizeof err) != 0) {
        fprintf(stderr, "power_grid: %s: %s\n", path, err);
        grid_free(g);
        return 1;
    }
    printf("bus,vm_pu,va_deg,pg_mw,qg_mvar\n");
    for (size_t i = 0; i < g->nb; i++) {
        double p = 0, q = 0;
        if (g->type[i] != GRID_PQ)
            grid_generation(g, i, &p, &q);
        p *= g->base_mva, q *= g->base_mva;
        printf("%d,%.6f,%.6f,%.4f,%.4f\n", g->bus_id[i], g->vm[i], g->va[i] * 180 / PG_PI,
               fabs(p) < 5e-5 ? 0.0 : p, fabs(q) < 5e-5 ? 0.0 : q); /* no "-0.0000" */
    }
    double p, q;
    grid_generation(g, g->ref, &p, &q);
    fprintf(stderr,
            "power_grid: %zu buses, %zu branches: converged in %d iterations (largest "
            "mismatch %.1e pu); slack bus %d: P %.4f MW, Q %.4f MVAr\n",
            g->nb, g->nl, r.iterations, r.mismatch, g->bus_id[g->ref], p * g->base_mva,
            q * g->base_mva);
    grid_free(g);
    return 0;
}
