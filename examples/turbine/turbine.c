/* Gas turbine speed loop (simplified Rowen model, per unit): the delay margin
 * from dt_delay_margin, checked against a numerical sweep of the simulated
 * loop, and runs below and above it.
 *
 *   fuel valve     Tv dWf/dt = u - Wf                 (lag)
 *   combustor      Wf reaches the rotor after Tcd     (transport delay)
 *   rotor          2H dw/dt  = Wf(t - Tcd) - TL - D (w - 1)
 *   governor       u = kp e + ki int e,  e = 1 - w(t - latency)
 *
 * Then the twin (examples/turbine/twin.json): the same turbine as a "sim"
 * plant, a KF on speed, fuel flow and load torque, the PI governor acting on
 * the estimate, and the runtime's latency rule with the speed-variance bound
 * set so that the latency budget tau_max equals the delay margin. With the
 * sensor's latency at half the margin the twin regulates the load step; at 1.5
 * times the margin the runtime sees the belief's age exceed its budget and
 * holds the safe state (a fixed fuel schedule) instead of closing the loop.
 *
 * Usage: turbine [TWIN.json [OUTDIR]]   (default examples/turbine/twin.json and
 * the current directory; writes turbine_stable.csv, turbine_unstable.csv,
 * turbine_twin_stable.csv and turbine_twin_late.csv there) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <dtwin/dtwin.h>

static const double H2 = 8.0, D = 1.0, TV = 0.05, TCD = 0.02; /* 2H, damping, valve, combustor */
static const double KP = 12.0, KI = 6.0;                       /* PI governor */
#define DT 1e-4                                                /* integration step, s */

typedef struct run_out {
    double final_error;  /* |w - 1| averaged over the last second */
    double growth;       /* oscillation amplitude, last 5 s over the 5 s before */
} run_out;

/* Simulates 40 s with a +0.1 pu load step at 1 s and `latency` seconds of
 * measurement delay on top of the combustor's. */
static run_out simulate(double latency, FILE *trace)
{
    size_t nd = (size_t)((TCD + latency) / DT) + 2, ncd = (size_t)(TCD / DT + 0.5);
    size_t nl = (size_t)(latency / DT + 0.5);
    double *buf_f = calloc(nd, sizeof *buf_f), *buf_w = calloc(nd, sizeof *buf_w);
    if (buf_f == NULL || buf_w == NULL)
        exit(3);
    for (size_t i = 0; i < nd; i++) {
        buf_f[i] = 1.0;
        buf_w[i] = 1.0;
    }
    double w = 1, wf = 1, integ = 1.0 / KI, tl = 1;
    double amp[8] = {0};
    const int steps = (int)(40.0 / DT);
    double err_sum = 0;
    int err_n = 0;
    for (int k = 0; k < steps; k++) {
        double t = k * DT;
        if (t >= 1.0)
            tl = 1.1;
        size_t at = (size_t)k % nd;
        double w_meas = buf_w[(at + nd - nl) % nd];   /* delayed measurement */
        double wf_rotor = buf_f[(at + nd - ncd) % nd]; /* combustor delay */
        double e = 1 - w_meas;
        integ += e * DT;
        double u = KP * e + KI * integ;
        wf += (u - wf) / TV * DT;
        w += (wf_rotor - tl - D * (w - 1)) / H2 * DT;
        buf_f[(at + 1) % nd] = wf;
        buf_w[(at + 1) % nd] = w;
        if (t >= 30.0) {
            double a = fabs(w - 1.0);
            int slot = t >= 35.0 ? 1 : 0;
            amp[slot] = a > amp[slot] ? a : amp[slot];
        }
        if (t >= 39.0) {
            err_sum += fabs(w - 1.0);
            err_n++;
        }
        if (trace != NULL && k % 100 == 0)
            fprintf(trace, "%.3f,%.6f,%.6f,%.6f\n", t, w, u, tl);
    }
    free(buf_f);
    free(buf_w);
    run_out r = {err_sum / err_n, amp[0] > 0 ? amp[1] / amp[0] : 0};
    return r;
}

/* Growing oscillation: the amplitude rises from one 5 s window to the next. */
static int unstable(double latency)
{
    run_out r = simulate(latency, NULL);
    return !isfinite(r.growth) || r.growth > 1.0 || !isfinite(r.final_error) ||
           r.final_error > 1.0;
}

/* ---- the twin ---- */

#define TWIN_RUN_S 40.0
#define TWIN_STEP_AT_S 5.0
#define NDELAY 200 /* combustor delay TCD / DT */

/* The "physical" turbine for the sim adapters: Euler at DT inside each step. */
typedef struct gt_plant {
    double w, wf, tl, fuel_in;
    double delay[NDELAY]; /* fuel flow on its way through the combustor */
    size_t head;
} gt_plant;

static const char *const gt_in[] = {"fuel"};
static const char *const gt_out[] = {"speed"};

static int gt_step(void *self, double t, double dt, const double *u, double *y)
{
    gt_plant *p = self;
    p->fuel_in = u[0];
    int n = (int)(dt / DT + 0.5);
    for (int k = 0; k < n; k++) {
        double tk = t + k * DT;
        p->tl = tk >= TWIN_STEP_AT_S ? 1.1 : 1.0;
        double wf_rotor = p->delay[p->head]; /* entered TCD ago */
        p->wf += (u[0] - p->wf) / TV * DT;
        p->delay[p->head] = p->wf;
        p->head = (p->head + 1) % NDELAY;
        p->w += (wf_rotor - p->tl - D * (p->w - 1)) / H2 * DT;
    }
    y[0] = p->w;
    return 0;
}

static const dt_plant_ops gt_ops = {DT_PLANT_ABI, 1, 1, gt_in, gt_out, gt_step};

typedef struct twin_out {
    double tau_max, final_error, load_err, speed_min, speed_max;
    double growth; /* peak-to-peak speed in 35..40 s over that in 30..35 s */
    uint64_t safe_entries;
    int safe_at_end;
} twin_out;

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && n < 1 << 20 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) == (size_t)n)
            buf[n] = '\0';
        else
            free(buf), buf = NULL;
    }
    fclose(f);
    return buf;
}

/* The description with the sensor latency and the bound's limit set (a bound
 * of 0 keeps the file's). */
static char *describe(const char *path, double latency, double bound)
{
    char *text = read_all(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "sources"), 0);
    cJSON *est = cJSON_GetObjectItemCaseSensitive(root, "estimator");
    cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(est, "bounds"), 0);
    if (src == NULL || b == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(src, "latency", cJSON_CreateNumber(latency));
    if (bound > 0)
        cJSON_ReplaceItemInObjectCaseSensitive(b, "max", cJSON_CreateNumber(bound));
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static dt_twin *load_twin(const char *path, double latency, double bound, dt_registry *reg)
{
    char *doc = describe(path, latency, bound);
    if (doc == NULL) {
        fprintf(stderr, "turbine: %s: cannot read the description\n", path);
        return NULL;
    }
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent(); /* the safe-state entries are counted and printed below */
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK)
        fprintf(stderr, "turbine: %s: %s\n", path, d.message);
    free(doc);
    return t;
}

/* The speed variance the estimator reaches `tau` seconds after its last
 * speed reading, starting from the filter's periodic steady state (the
 * speed sensor at its period and noise, as the runtime computes it): used as
 * the bound, it makes the latency budget equal tau. */
static int bound_for(const char *path, double tau, double *var)
{
    dt_registry *reg;
    gt_plant p;
    memset(&p, 0, sizeof p);
    if (dt_registry_create(NULL, &reg) != DT_OK)
        return -1;
    dt_registry_add_plant(reg, "turbine", &gt_ops, &p);
    dt_twin *t = load_twin(path, 0, 0, reg);
    int rc = t ? DT_OK : DT_EPARSE;
    dt_signal_id speed;
    if (rc == DT_OK)
        rc = dt_model_find_signal(dt_twin_model(t), "gt1.speed", &speed);
    if (rc == DT_OK) {
        const dt_signal_info *si = dt_model_signal(dt_twin_model(t), speed);
        dt_kf *kf = dt_est_kf(dt_twin_estimator(t));
        /* the description measures the first state, the speed deviation */
        static const double h[3] = {1, 0, 0}, w[3] = {1, 0, 0};
        dt_periodic_meas row = {h, si->noise_var, dt_time_to_sec(si->period)};
        dt_bound b = {w, 0, 1.0};
        double Pw[9], P[9], metric, work[DT_PERIODIC_WORK(3)];
        rc = dt_cov_periodic(3, dt_kf_model_A(kf), dt_kf_model_Q(kf), dt_kf_cov(kf), &row, 1, &b,
                             Pw, &metric, work);
        if (rc == DT_OK)
            rc = dt_cov_after(3, dt_kf_model_A(kf), dt_kf_model_Q(kf), Pw, tau, P, work);
        *var = P[0];
    }
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    return rc;
}

static int twin_run(const char *path, double latency, double bound, FILE *trace, twin_out *o)
{
    gt_plant p;
    memset(&p, 0, sizeof p);
    p.w = p.wf = p.tl = p.fuel_in = 1.0;
    for (size_t i = 0; i < NDELAY; i++)
        p.delay[i] = 1.0;
    dt_registry *reg;
    if (dt_registry_create(NULL, &reg) != DT_OK)
        return -1;
    dt_registry_add_plant(reg, "turbine", &gt_ops, &p);
    dt_twin *t = load_twin(path, latency, bound, reg);
    int rc = t ? dt_twin_start(t, 0) : DT_EPARSE;
    dt_est *est = t ? dt_twin_estimator(t) : NULL;
    dt_signal_id s_speed = 0, s_load = 0;
    if (rc == DT_OK) {
        dt_model_find_signal(dt_twin_model(t), "gt1.speed_dev_est", &s_speed);
        dt_model_find_signal(dt_twin_model(t), "gt1.load_est", &s_load);
        dt_est_latency_budget(est, 0, &o->tau_max, NULL);
    }
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY}, err_sum = 0;
    int err_n = 0;
    o->speed_min = INFINITY, o->speed_max = -INFINITY;
    const int steps = (int)(TWIN_RUN_S / 0.01 + 0.5);
    for (int k = 1; rc == DT_OK && k <= steps; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        double tk = k * 0.01;
        rc = dt_twin_step(t, now);
        dt_belief bs, bl;
        dt_est_belief(est, s_speed, now, &bs);
        dt_est_belief(est, s_load, now, &bl);
        dt_twin_stats ts;
        dt_twin_stats_get(t, &ts);
        if (tk >= TWIN_STEP_AT_S) {
            o->speed_min = fmin(o->speed_min, p.w);
            o->speed_max = fmax(o->speed_max, p.w);
        }
        if (tk >= 30) { /* peak to peak in two 5 s windows: grows only if it oscillates */
            int slot = tk >= 35;
            lo[slot] = fmin(lo[slot], p.w);
            hi[slot] = fmax(hi[slot], p.w);
        }
        if (tk >= 38) {
            err_sum += fabs(p.w - 1.0);
            err_n++;
        }
        o->load_err = bl.value - p.tl;
        o->safe_at_end = ts.safe_state;
        o->safe_entries = ts.safe_entries;
        if (trace != NULL && k % 5 == 0)
            fprintf(trace, "%.2f,%.6f,%.6f,%.6f,%.5f,%.5f,%.5f,%d,%.4f\n", tk, p.w, 1 + bs.value,
                    2 * sqrt(bs.variance), p.tl, bl.value, p.fuel_in, ts.safe_state,
                    ts.belief_age_s);
    }
    o->final_error = err_n ? err_sum / err_n : NAN;
    o->growth = hi[0] > lo[0] ? (hi[1] - lo[1]) / (hi[0] - lo[0]) : 0;
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    return rc;
}

static FILE *open_trace(const char *dir, const char *name, const char *header)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fprintf(f, "%s\n", header);
    return f;
}

int main(int argc, char **argv)
{
    const char *twin_path = argc > 1 ? argv[1] : "examples/turbine/twin.json";
    const char *outdir = argc > 2 ? argv[2] : ".";
    /* L(s) = (kp s + ki) / (s (Tv s + 1) (2H s + D)) e^{-s Tcd} */
    double num[2] = {KP, KI};
    double den[4] = {H2 * TV, TV * D + H2, D, 0};
    dt_loop_tf loop = {num, 2, den, 4, TCD};
    dt_margin m;
    int rc = dt_delay_margin(&loop, &m);
    if (rc != DT_OK) {
        fprintf(stderr, "turbine: %s\n", dt_strerror(rc));
        return 1;
    }
    printf("governor loop: gain crossover %.4f rad/s, phase margin %.2f deg\n", m.crossover,
           m.phase * 180 / 3.14159265358979323846);
    printf("delay margin (dt_delay_margin): %.4f s of added measurement latency\n", m.delay);

    /* numerical sweep: bisection on the latency where oscillations start growing */
    double lo = 0, hi = 3 * m.delay;
    if (!unstable(hi) || unstable(lo)) {
        fprintf(stderr, "turbine: sweep bracket failed\n");
        return 1;
    }
    while (hi - lo > 1e-4) {
        double mid = 0.5 * (lo + hi);
        if (unstable(mid))
            hi = mid;
        else
            lo = mid;
    }
    double onset = 0.5 * (lo + hi), rel = fabs(onset - m.delay) / m.delay;
    printf("simulated onset of instability: %.4f s (%.1f %% from the computed margin)\n", onset,
           100 * rel);

    FILE *fs = open_trace(outdir, "turbine_stable.csv", "time_s,speed_pu,fuel_cmd_pu,load_pu");
    FILE *fu = open_trace(outdir, "turbine_unstable.csv", "time_s,speed_pu,fuel_cmd_pu,load_pu");
    run_out below = simulate(0.5 * m.delay, fs);
    run_out above = simulate(1.5 * m.delay, fu);
    if (fs)
        fclose(fs);
    if (fu)
        fclose(fu);
    printf("latency %.4f s (half the margin): speed error after the load step %.2e pu, "
           "oscillation ratio %.3f (settles)\n",
           0.5 * m.delay, below.final_error, below.growth);
    printf("latency %.4f s (1.5 x the margin): oscillation ratio %.3f (grows)\n", 1.5 * m.delay,
           above.growth);
    int ok = rel <= 0.10 && below.final_error < 1e-3 && below.growth < 1.0 && above.growth > 1.0;
    printf("self-check margin: %s\n", ok ? "PASS" : "FAIL");

    /* the twin, with the latency budget set to the margin */
    double bound;
    if (bound_for(twin_path, m.delay, &bound) != DT_OK) {
        fprintf(stderr, "turbine: cannot compute the speed-variance bound\n");
        return 1;
    }
    static const char *hdr = "time_s,speed_pu,speed_est_pu,speed_2sigma_pu,load_pu,load_est_pu,"
                             "fuel_cmd_pu,safe,belief_age_s";
    FILE *ts = open_trace(outdir, "turbine_twin_stable.csv", hdr);
    FILE *tl = open_trace(outdir, "turbine_twin_late.csv", hdr);
    twin_out a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int rc_a = twin_run(twin_path, 0.5 * m.delay, bound, ts, &a);
    int rc_b = twin_run(twin_path, 1.5 * m.delay, bound, tl, &b);
    if (ts)
        fclose(ts);
    if (tl)
        fclose(tl);
    if (rc_a != DT_OK || rc_b != DT_OK) {
        fprintf(stderr, "turbine: twin run failed: %s\n", dt_strerror(rc_a ? rc_a : rc_b));
        return 1;
    }
    printf("twin: speed-variance bound %.3e pu^2 gives latency budget tau_max %.4f s "
           "(the delay margin)\n",
           bound, a.tau_max);
    printf("twin, sensor latency %.3f s: speed error at the end %.2e pu, load estimate error "
           "%.4f pu, safe-state entries %llu (start-up only), oscillation ratio %.3f\n",
           0.5 * m.delay, a.final_error, a.load_err, (unsigned long long)a.safe_entries,
           a.growth);
    printf("twin, sensor latency %.3f s: belief older than tau_max -> safe state (fixed fuel "
           "1.0 pu) %s at the end; speed stays in [%.4f, %.4f] pu, oscillation ratio %.3f\n",
           1.5 * m.delay, b.safe_at_end ? "engaged" : "NOT engaged", b.speed_min, b.speed_max,
           b.growth);
    int ok_twin = fabs(a.tau_max - m.delay) <= 0.01 * m.delay && a.final_error < 1e-3 &&
                  fabs(a.load_err) < 0.01 && a.safe_entries == 1 && !a.safe_at_end &&
                  b.safe_at_end && b.growth <= 1.0 && b.speed_min > 0.85;
    printf("self-check twin: %s\n", ok_twin ? "PASS" : "FAIL");
    return ok && ok_twin ? 0 : 1;
}
