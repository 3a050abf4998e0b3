/* Shared helpers for the CMocka unit tests. */
#ifndef DTWIN_TEST_UTIL_H
#define DTWIN_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* cmocka 1.1.5's assert_float_equal casts to float; this one keeps double and
 * passes when |actual - expected| <= abs_tol + rel_tol * |expected|. */
#define assert_close(actual, expected, rel_tol, abs_tol)                       \
    dtt_assert_close((actual), (expected), (rel_tol), (abs_tol), #actual,      \
                     __FILE__, __LINE__)

static inline void dtt_assert_close(double actual, double expected,
                                    double rel_tol, double abs_tol,
                                    const char *expr, const char *file,
                                    int line)
{
    double err = fabs(actual - expected);
    double tol = abs_tol + rel_tol * fabs(expected);
    if (!(err <= tol)) {
        print_error("%s = %.17g, expected %.17g: |error| %.3g > tolerance %.3g "
                    "(rel %.1g, abs %.1g)\n",
                    expr, actual, expected, err, tol, rel_tol, abs_tol);
        _fail(file, line);
    }
}

/* Matrices: every entry within tolerance. */
#define assert_mat_close(n, m, A, B, rel_tol, abs_tol)                         \
    do {                                                                       \
        for (size_t i_ = 0; i_ < (size_t)(n) * (size_t)(m); i_++)              \
            dtt_assert_close((A)[i_], (B)[i_], (rel_tol), (abs_tol), #A,       \
                             __FILE__, __LINE__);                              \
    } while (0)

/* Runs the group, or only the tests whose name matches argv[1] (ctest
 * registers each test by name this way). */
#define DTT_MAIN(tests)                                                        \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        if (argc > 1)                                                          \
            cmocka_set_test_filter(argv[1]);                                   \
        return cmocka_run_group_tests(tests, NULL, NULL);                      \
    }

#endif
