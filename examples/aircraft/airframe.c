/* The simulated aircraft: pitch axis, engine wear, pilot demand, pitch law.
 *
 * Short-period dynamics about trim (deg, deg/s), from the Boeing 747 cruise
 * case (Mach 0.8 at 40,000 ft) of Etkin & Reid, Dynamics of Flight:
 * Stability and Control (3rd ed., Wiley, 1996), whose longitudinal matrix has
 * Z_w = -0.3151 1/s, M_w = -0.001026 1/(ft s), M_q = -0.4285 1/s (M_wdot
 * folded in) at u0 = 773.98 ft/s. With alpha = w / u0 the short-period
 * approximation is
 *
 *   alpha' = Z_a alpha + q + Z_de de        Z_a = Z_w = -0.3151 1/s
 *   q'     = M_a alpha + M_q q + M_de de    M_a = M_w u0 = -0.7941 1/s^2
 *
 * (roots -0.372 +- 0.889i: the full model's short period is
 * -0.3719 +- 0.8875i). The elevator derivatives are ours, of the order of a
 * large transport at that dynamic pressure: M_de = -1.0 1/s^2, Z_de = -0.02
 * 1/s. The elevator follows its command through a 0.05 s first-order
 * actuator; a vertical gust (a first-order Gauss-Markov process, 0.15 deg,
 * 1 s correlation, fixed seed) disturbs the angle of attack.
 *
 * The engine's EGT margin erodes at a constant 3 K per 1000 flight hours,
 * an illustrative figure for a high-bypass turbofan in service; with time
 * compressed AC_FH_PER_S flight hours to the second, that is 0.3 K/s. */
#include "airframe.h"

#include <math.h>
#include <string.h>

static const double ZA = -0.3151, MA = -0.7941, MQ = -0.4285; /* Etkin & Reid, 747 cruise */
static const double ZDE = -0.02, MDE = -1.0, TAU_ACT = 0.05;   /* elevator: ours */
static const double GUST_STD = 0.15, GUST_TC = 1.0;            /* deg, s */
static const double MARGIN0 = 45.0, MARGIN_RATE = -0.3;        /* K, K/s (3 K / 1000 FH) */
static const double KP = 5.0, KI = 4.0;                        /* deg per deg/s, per deg */
static const double INTEG_MAX = 4.0;                           /* |KI integ| <= 16 deg */

static const char *const airframe_in[] = {"elevator"};
static const char *const airframe_out[] = {"alpha", "q"};
static const char *const engine_out[] = {"egt_margin"};

/* xorshift64* and Box-Muller: a fixed sequence, the same on every run. */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * UINT64_C(2685821657736338717)) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(uint64_t *s)
{
    double u1 = uniform(s), u2 = uniform(s);
    return sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(2.0 * 3.141592653589793 * u2);
}

/* Euler in the sim source's steps (1 ms, 20 steps per actuator time
 * constant: accurate enough for a plant, the twin's filter is exact). */
static int airframe_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)t;
    ac_airframe *a = self;
    a->elevator_in = u[0];
    double g = exp(-dt / GUST_TC);
    a->gust = g * a->gust + sqrt(1.0 - g * g) * GUST_STD * normal(&a->rng);
    double aa = a->alpha + a->gust; /* the angle of attack the wing sees */
    double da = ZA * aa + a->q + ZDE * a->de;
    double dq = MA * aa + MQ * a->q + MDE * a->de;
    double dd = (u[0] - a->de) / TAU_ACT;
    a->alpha += dt * da;
    a->q += dt * dq;
    a->de += dt * dd;
    y[0] = a->alpha;
    y[1] = a->q;
    return 0;
}

static int engine_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)u;
    ac_engine *e = self;
    e->margin = ac_margin_truth(t + dt);
    y[0] = e->margin;
    return 0;
}

const dt_plant_ops ac_airframe_ops = {DT_PLANT_ABI, 1, 2, airframe_in, airframe_out,
                                      airframe_step};
const dt_plant_ops ac_engine_ops = {DT_PLANT_ABI, 0, 1, NULL, engine_out, engine_step};

void ac_airframe_init(ac_airframe *a)
{
    memset(a, 0, sizeof *a);
    a->rng = UINT64_C(0x9E3779B97F4A7C15);
}

void ac_engine_init(ac_engine *e)
{
    e->margin = MARGIN0;
}

double ac_margin_truth(double t)
{
    return MARGIN0 + MARGIN_RATE * t;
}

double ac_margin_rate_truth(void)
{
    return MARGIN_RATE;
}

/* 0 -> 1 over [0, 1], cosine-shaped */
static double ease(double x)
{
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    return 0.5 - 0.5 * cos(3.141592653589793 * x);
}

double ac_q_ref(double t)
{
    double p = fmod(t, 8.0);
    return 2.0 * (ease((p - 1.0) / 0.5) - ease((p - 3.0) / 0.5)) -
           2.0 * (ease((p - 4.0) / 0.5) - ease((p - 6.0) / 0.5));
}

int ac_pitch_law_init(ac_pitch_law *law, const dt_model *m)
{
    memset(law, 0, sizeof *law);
    int rc = dt_model_find_signal(m, "ac.alpha_est", &law->alpha_est);
    if (rc == DT_OK)
        rc = dt_model_find_signal(m, "ac.q_est", &law->q_est);
    if (rc == DT_OK)
        rc = dt_model_find_signal(m, "ac.elevator_cmd", &law->elevator_cmd);
    return rc;
}

/* Every frame: one elevator command. A positive elevator pitches the nose
 * down (M_de < 0), hence the minus sign. The integral is bounded so that it
 * cannot wind up against the elevator's limits. */
int ac_pitch_law_run(void *user, dt_ctrl_ctx *ctx)
{
    ac_pitch_law *law = user;
    double q;
    int rc = dt_ctrl_value(ctx, law->q_est, &q);
    if (rc != DT_OK)
        return rc;
    double t = dt_time_to_sec(dt_ctrl_now(ctx));
    double e = ac_q_ref(t) - q;
    law->integ += e * dt_ctrl_dt(ctx);
    law->integ = fmax(-INTEG_MAX, fmin(INTEG_MAX, law->integ));
    law->last = -(KP * e + KI * law->integ);
    law->runs++;
    return dt_ctrl_command(ctx, law->elevator_cmd, law->last);
}
