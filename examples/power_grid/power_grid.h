/* The power-grid example's shared constants. */
#ifndef POWER_GRID_H
#define POWER_GRID_H

#define PG_PI 3.14159265358979323846
#define PG_MAX_ITER 20   /* Newton-Raphson iterations before giving up */
#define PG_TOL 1e-10     /* largest mismatch accepted, pu */

/* --solve mode: prints the solved case as CSV; returns the exit code. */
int pg_solve_case(const char *path);

#endif
