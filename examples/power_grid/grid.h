/* AC power flow for MATPOWER-format cases stored as JSON (examples/power_grid/
 * case14.json shows the format): the bus admittance matrix, bus injections and
 * branch flows with their derivatives (shared by Newton-Raphson and the twin's
 * EKF), and a full polar Newton-Raphson solver. Per unit on the case's MVA base;
 * angles in radians. Example code: built only on the C library and cJSON. */
#ifndef GRID_H
#define GRID_H

#include <stddef.h>

/* Bounds on what a case file may declare (checked before allocating). */
#define GRID_MAX_BUS 2000
#define GRID_MAX_BRANCH 8000
#define GRID_MAX_GEN 2000

enum { GRID_PQ = 1, GRID_PV = 2, GRID_REF = 3 };

typedef struct grid_branch {
    size_t f, t;     /* bus indices (0-based, in file order) */
    double gff, bff; /* Yff: self admittance seen from the from end */
    double gft, bft; /* Yft */
    double gtf, btf; /* Ytf */
    double gtt, btt; /* Ytt */
} grid_branch;

typedef struct grid {
    size_t nb, nl, ng;
    double base_mva;
    size_t ref;        /* index of the reference bus */
    int *bus_id;       /* external bus numbers */
    int *type;         /* GRID_PQ / GRID_PV / GRID_REF after generator status */
    double *pd, *qd;   /* loads, pu */
    double *pg;        /* scheduled generation per bus, pu (sum of in-service gens) */
    double *vset;      /* voltage setpoint of PV and reference buses */
    double *G, *B;     /* dense bus admittance matrix, nb x nb, row-major */
    grid_branch *br;   /* in-service branches only */
    double *vm, *va;   /* operating point: start values, then the solution */
    /* Newton-Raphson workspace */
    double *J, *rhs, *dx;
    size_t *perm, *col; /* col: unknown index of each bus's angle / magnitude */
    double *scratch;    /* 4 nb: one bus's derivative rows */
} grid;

/* Loads a case. On failure returns -1 and writes a message naming the JSON path. */
int grid_load(const char *path, grid **out, char *err, size_t errlen);
void grid_free(grid *g);

/* Net injection P + jQ at bus i for the operating point (va, vm) (length nb each),
 * and when dp/dq are given, the derivatives with respect to every bus's angle
 * and magnitude: dp[0..nb) = dP/dva, dp[nb..2nb) = dP/dvm (same for dq). */
void grid_injection(const grid *g, const double *va, const double *vm, size_t i, double *p,
                    double *q, double *dp, double *dq);

/* Flow P + jQ into branch k at its from end, with derivatives as above. */
void grid_flow(const grid *g, const double *va, const double *vm, size_t k, double *p,
               double *q, double *dp, double *dq);

typedef struct grid_result {
    int iterations;
    double mismatch;    /* largest |mismatch| in pu at exit */
    size_t worst_bus;   /* where it is */
} grid_result;

/* Newton-Raphson from the current (va, vm): converged when every mismatch is
 * below tol (pu). Returns 0, or -1 with a message (no convergence within
 * max_iter, a singular Jacobian, a non-finite step). */
int grid_solve(grid *g, int max_iter, double tol, grid_result *res, char *err, size_t errlen);

/* Generation at bus i (net injection plus load) in pu, from the current point. */
void grid_generation(const grid *g, size_t i, double *p, double *q);

#endif
