/* Delay margin against closed forms. */
#include "test_util.h"

#include "dtwin/dtwin.h"

static void test_first_order_closed_form(void **state)
{
    (void)state;
    /* L(s) = c / (s - a): crossover sqrt(c^2 - a^2), margin arccos(a/c) / w */
    const double cases[][2] = {{1.0, 3.0}, {-2.0, 5.0}, {0.5, 0.9}, {0.0, 2.0}};
    for (size_t i = 0; i < 4; i++) {
        double a = cases[i][0], c = cases[i][1];
        double num[1] = {c}, den[2] = {1, -a};
        dt_loop_tf L = {num, 1, den, 2, 0};
        dt_margin m;
        assert_int_equal(dt_delay_margin(&L, &m), 0);
        double w = sqrt(c * c - a * a);
        assert_close(m.crossover, w, 1e-9, 0);
        assert_close(m.delay, acos(a / c) / w, 1e-9, 0);
        assert_int_equal(m.crossovers, 1);
        /* a known dead time takes its share */
        L.dead_time = 0.25 * m.delay;
        dt_margin m2;
        assert_int_equal(dt_delay_margin(&L, &m2), 0);
        assert_close(m2.delay, 0.75 * m.delay, 1e-9, 0);
        L.dead_time = 1.5 * m.delay;
        assert_int_equal(dt_delay_margin(&L, &m2), DT_EUNSTABLE);
    }
}

static void test_pi_on_first_order_plant(void **state)
{
    (void)state;
    /* P = K / (tau s + 1), C = kp + ki / s: L = K (kp s + ki) / (tau s^2 + s) */
    const double K = 2.0, tau = 0.5, kp = 1.5, ki = 3.0;
    double num[2] = {K * kp, K * ki}, den[3] = {tau, 1, 0};
    dt_loop_tf L = {num, 2, den, 3, 0};
    dt_margin m;
    assert_int_equal(dt_delay_margin(&L, &m), 0);
    /* |L|^2 = 1: tau^2 x^2 + (1 - K^2 kp^2) x - K^2 ki^2 = 0 with x = w^2 */
    double b = 1 - K * K * kp * kp, c = -K * K * ki * ki;
    double x = (-b + sqrt(b * b - 4 * tau * tau * c)) / (2 * tau * tau), w = sqrt(x);
    double pm = 3.14159265358979323846 + atan2(kp * w, ki) - 3.14159265358979323846 / 2 -
                atan(tau * w);
    assert_close(m.crossover, w, 1e-9, 0);
    assert_close(m.phase, pm, 1e-9, 0);
    assert_close(m.delay, pm / w, 1e-9, 0);
}

static void test_unbounded_unstable_and_invalid(void **state)
{
    (void)state;
    dt_margin m;
    double n1[1] = {0.5}, d1[2] = {1, 1};
    dt_loop_tf small = {n1, 1, d1, 2, 0};
    assert_int_equal(dt_delay_margin(&small, &m), 0);
    assert_true(isinf(m.delay));
    assert_int_equal(m.crossovers, 0);
    double n2[1] = {2}, d2[2] = {1, -3}; /* c < a: closed loop unstable */
    dt_loop_tf unst = {n2, 1, d2, 2, 0};
    assert_int_equal(dt_delay_margin(&unst, &m), DT_EUNSTABLE);
    double n3[3] = {1, 2, 3}, d3[2] = {1, 1}; /* improper */
    dt_loop_tf imp = {n3, 3, d3, 2, 0};
    assert_int_equal(dt_delay_margin(&imp, &m), DT_EINVAL);
    /* biproper with |L(inf)| >= 1: no delay is tolerated */
    double n4[2] = {2, 1}, d4[2] = {1, 4};
    dt_loop_tf bip = {n4, 2, d4, 2, 0};
    assert_int_equal(dt_delay_margin(&bip, &m), 0);
    assert_close(m.delay, 0, 0, 0);
    /* third order: Routh says unstable for k > 8 on (s + 1)^3 */
    double d5[4] = {1, 3, 3, 1}, k9[1] = {9}, k4[1] = {4};
    dt_loop_tf hi = {k9, 1, d5, 4, 0}, lo = {k4, 1, d5, 4, 0};
    assert_int_equal(dt_delay_margin(&hi, &m), DT_EUNSTABLE);
    assert_int_equal(dt_delay_margin(&lo, &m), 0);
    /* |L| = 4 / (1 + w^2)^(3/2) = 1 at w = sqrt(4^(2/3) - 1) */
    double w = sqrt(pow(4.0, 2.0 / 3.0) - 1);
    assert_close(m.crossover, w, 1e-9, 0);
    assert_close(m.delay, (3.14159265358979323846 - 3 * atan(w)) / w, 1e-9, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_first_order_closed_form),
    cmocka_unit_test(test_pi_on_first_order_plant),
    cmocka_unit_test(test_unbounded_unstable_and_invalid),
};

DTT_MAIN(tests)
