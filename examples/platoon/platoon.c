/* Truck platoon, cooperative perception: four trucks, each its own twin on its
 * own clock, sharing beliefs through a real mosquitto (reached through
 * tests/tools/linkproxy.py, which this program commands to slow and lose the
 * V2V link), and the simulated world they drive in.
 *
 * The world (truth): an obstacle ahead of the lead truck (cruising at 22 m/s,
 * braking hard at HAZARD_T to 12 m/s, then back to 22 m/s) and four trucks
 * with a first-order drivetrain lag each, stepped on one platoon frame time
 * base t (50 Hz) paced against CLOCK_MONOTONIC, so the broker's and the
 * proxy's latency are on the same base (a host not scheduled for more than
 * a frame pauses the world rather than catching up: counted paused_s).
 * Truck i's twin runs on its own clock now_i = t + offset_i; the followers'
 * `twin` sources learn the offsets.
 *
 * Each truck's twin: its own sensors (wheel speed, accelerometer, radar gap
 * and range rate to what is ahead; host-fed memory source), a Kalman filter,
 * belief group "motion" (its speed and acceleration; the lead also "hazard":
 * the obstacle's, from its radar) published every 0.1 s, and (followers) two
 * `twin` sources: its predecessor's motion and the lead's hazard, fused by
 * covariance intersection. A callback controller keeps the gap; the
 * dispatcher limits the command (hard limits, jerk, a braking safe state).
 * Each follower also has a second twin on the same sensor samples and no V2V:
 * what its own sensors alone know (the reference of the lead time).
 *
 * Usage: platoon --port BROKER_OR_PROXY --control PROXY_CONTROL --delay MS
 *                --loss PCT --stage NAME [--out DIR] [--seed N] [--policy age|fixed]
 * (--policy fixed: the followers keep the cooperative time gap whatever the
 * belief's age and never fall back: the comparison for string stability)
 * Prints one `stage ...` line of figures (run.py reads them) and writes
 * OUTDIR/platoon_NAME.csv. */
#define _POSIX_C_SOURCE 200809L
#include "platoon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_LINK 8.0   /* s: the link degrades (offsets learned on the nominal link before) */
#define HAZARD_T 10.0 /* s: the obstacle brakes */
#define T_END 15.5 /* short: later, the clocks read more of the added delay as skew (platoon_bus.c) */
#define V0 22.0
#define R0 5.0          /* standstill distance, m */
#define H0 0.6          /* cooperative time gap, s */
#define K_AGE 1.0       /* time gap added per second of the remote belief's age */
#define H_ACC 1.6       /* own sensors only (ACC) */
#define H_LEAD 1.4      /* the lead to the obstacle */
#define H_HAZARD 0.3    /* added while the lead's hazard belief says it brakes */
#define BUDGET 0.35     /* s: a remote belief older than this is not used */
#define THR (-2.0)      /* m/s2: "braking" for the lead-time detections */
#define KP 0.2
#define KD 0.7
#define D_SAFE R0 /* m: the gap never below the standstill distance */
#define H_START (H0 + K_AGE * 0.08) /* the time gap at a nominal belief age */

static const double OFFSETS[NTRUCK] = {0.137, 0.352, -0.268, 0.461};
static const double TAU[NTRUCK] = {0.45, 0.5, 0.55, 0.5};

static truck trucks[NTRUCK];
static const dt_time T0 = 10 * 1000000000LL; /* keeps every clock positive */
static int measuring; /* past T_LINK: the controllers' modes are counted */
static int fixed_policy; /* --policy fixed: H0 whatever the age, never falls back (for comparison) */

/* ---- noise ---- */
static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

/* ---- the controllers ---- */

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* The gap policy: desired gap R0 + h v; h grows with the age of the
 * predecessor's belief while it is within BUDGET (and uses its acceleration
 * as feed-forward), else it falls back to the radar alone with H_ACC. */
static int gap_ctl(void *user, dt_ctrl_ctx *ctx)
{
    truck *T = user;
    size_t n = T->idx == 0 ? 5 : 7;
    if (dt_ctrl_belief(ctx, T->x, T->P, n) != DT_OK)
        return 0; /* no command: the last one holds */
    T->have_belief = 1;
    double v = T->x[0], a = T->x[1], g = T->x[2], pv = T->x[3], pa = T->x[4];
    double dt = dt_ctrl_dt(ctx), u;
    if (T->idx == 0) {
        T->h = H_LEAD;
        double e = g - (R0 + H_LEAD * v);
        u = KP * e + KD * (pv - v - H_LEAD * a) + pa; /* the obstacle's acceleration: own radar */
    } else {
        T->coop = fixed_policy || T->age_pred <= BUDGET;
        if (!measuring) {
            T->fallback_frames = T->coop_frames = T->fallback_entries = 0;
        }
        if (!isfinite(T->age_pred)) {
            T->h_target = T->h; /* starting: no belief heard yet, the gap it started at */
        } else if (fixed_policy) {
            T->h_target = H0;
        } else if (T->coop) {
            T->coop_frames++;
            T->h_target = H0 + K_AGE * T->age_pred;
            if (T->age_lead <= BUDGET && T->x[6] < THR)
                T->h_target += H_HAZARD; /* the lead sees the hazard brake: make room early */
        } else {
            T->fallback_frames++;
            if (T->was_coop)
                T->fallback_entries++;
            T->h_target = H_ACC;
        }
        T->was_coop = T->coop;
        if (dt > 0) /* the policy moves at most 0.5 s/s up, 0.1 s/s down */
            T->h = clampd(T->h_target, T->h - 0.1 * dt, T->h + 0.5 * dt);
        double e = g - (R0 + T->h * v);
        u = KP * e + KD * (pv - v - T->h * a) + (T->coop ? pa : 0.0);
    }
    T->u_ctl = u;
    return dt_ctrl_command(ctx, T->sig_u, u);
}

/* The own-sensor twin's newest belief (an observer: it has no controller). */
static double own_x[NTRUCK][5];
static void on_own(void *user, const dt_event *ev)
{
    truck *T = user;
    if (ev->kind == DT_EVENT_BELIEF && ev->u.belief.x != NULL && ev->u.belief.n == 5)
        memcpy(own_x[T->idx], ev->u.belief.x, sizeof own_x[0]);
}

/* ---- the world ---- */

typedef struct body {
    double x, v, a, tau, len;
} body;

static body obstacle, veh[NTRUCK];

static double obstacle_target(double t, double v)
{
    static int phase; /* 0 cruise, 1 braking, 2 holding, 3 back up */
    static double t_hold;
    if (phase == 0 && t >= HAZARD_T)
        phase = 1;
    if (phase == 1 && v <= 12.0) {
        phase = 2;
        t_hold = t;
    }
    if (phase == 2 && t >= t_hold + 1.0)
        phase = 3;
    if (phase == 3 && v >= V0)
        phase = 4;
    return phase == 1 ? -6.0 : phase == 3 ? 1.0 : 0.0;
}

static void world_step(double t, const double *u)
{
    const int sub = 10;
    double h = FRAME_S / sub;
    for (int s = 0; s < sub; s++) {
        double ua = obstacle_target(t + s * h, obstacle.v);
        obstacle.a += (ua - obstacle.a) / obstacle.tau * h;
        obstacle.v = fmax(0, obstacle.v + obstacle.a * h);
        obstacle.x += obstacle.v * h;
        for (int i = 0; i < NTRUCK; i++) {
            body *b = &veh[i];
            b->a += (u[i] - b->a) / b->tau * h;
            if (b->v <= 0 && b->a < 0)
                b->a = 0;
            b->v = fmax(0, b->v + b->a * h);
            b->x += b->v * h;
        }
    }
}

static const body *ahead(int i) { return i == 0 ? &obstacle : &veh[i - 1]; }
static double gap_of(int i) { return ahead(i)->x - ahead(i)->len - veh[i].x; }

/* ---- figures ---- */

typedef struct nees_acc {
    double sum, sum_dec, se_v, se_a;
    long n, n_in, n_dec;
} nees_acc;

static void nees_add(nees_acc *acc, const double *x, const double *P, double tv, double ta, int dec)
{
    double ev = x[0] - tv, ea = x[1] - ta;
    double det = P[0] * P[3] - P[1] * P[2];
    if (!(det > 0))
        return;
    double q = (P[3] * ev * ev - (P[1] + P[2]) * ev * ea + P[0] * ea * ea) / det;
    acc->sum += q;
    acc->n++;
    acc->n_in += q <= 5.991; /* chi-square, 2 dof, 95 % */
    acc->se_v += ev * ev;
    acc->se_a += ea * ea;
    if (dec) {
        acc->sum_dec += q;
        acc->n_dec++;
    }
}

static void nees_print(const char *name, const nees_acc *a)
{
    double lo = NAN, hi = NAN;
    if (a->n_dec > 0) {
        dt_chi2_quantile(0.025, (unsigned)(2 * a->n_dec), &lo);
        dt_chi2_quantile(0.975, (unsigned)(2 * a->n_dec), &hi);
    }
    printf(" %s_nees_mean=%.3f %s_nees_in95=%.4f %s_nees_dec=%.3f %s_nees_dec_lo=%.3f "
           "%s_nees_dec_hi=%.3f %s_n_dec=%ld %s_rms_v=%.4f %s_rms_a=%.4f",
           name, a->sum / (double)a->n, name, (double)a->n_in / (double)a->n, name,
           a->sum_dec / (double)a->n_dec, name, lo / (double)a->n_dec, name, hi / (double)a->n_dec,
           name, a->n_dec, name, sqrt(a->se_v / (double)a->n), name, sqrt(a->se_a / (double)a->n));
}

static double fin(double x) { return isfinite(x) ? x : NAN; } /* "nan" in a CSV: no point */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, const dt_twin *tw)
{
    fprintf(stderr, "platoon: %s%s%s\n", what, tw ? ": " : "", tw ? dt_twin_errmsg(tw) : "");
    exit(2);
}

/* The age of the newest belief truck T's source src received, on T's clock:
 * its data time as the source's clock mapped it (dt_io_source_belief). */
static double belief_age(truck *T, size_t src, dt_time now)
{
    dt_remote_belief b;
    if (dt_io_source_belief(dt_twin_io(T->tw), src, &b, NULL) != DT_OK)
        return INFINITY;
    return (double)(now - b.t_data) * 1e-9;
}

/* What last-writer-wins uses: the newest belief of the source as it was
 * sent (mean and covariance, not aged), NULL before the first. */
static const dt_remote_belief *newest(truck *T, size_t src, dt_remote_belief *b)
{
    return dt_io_source_belief(dt_twin_io(T->tw), src, b, NULL) == DT_OK && b->n == 2 ? b : NULL;
}

static double offset_learned(truck *T, size_t src, int from, double t)
{
    dt_time t_src = T0 + (dt_time)llround((t + trucks[from].offset_s) * 1e9);
    dt_io *io = dt_twin_io(T->tw);
    const dt_clock *clk = dt_ingest_clock(dt_twin_ingest(T->tw), dt_io_source_ingest_id(io, src));
    return clk ? dt_clock_offset_s(clk, t_src) : NAN;
}

int main(int argc, char **argv)
{
    int port = 0, control = 0, seed = 1;
    double delay_ms = 0, loss_pct = 0;
    const char *stage = "s", *out = ".";
    for (int k = 1; k + 1 < argc; k += 2) {
        if (!strcmp(argv[k], "--port"))
            port = atoi(argv[k + 1]);
        else if (!strcmp(argv[k], "--control"))
            control = atoi(argv[k + 1]);
        else if (!strcmp(argv[k], "--delay"))
            delay_ms = atof(argv[k + 1]);
        else if (!strcmp(argv[k], "--loss"))
            loss_pct = atof(argv[k + 1]);
        else if (!strcmp(argv[k], "--stage"))
            stage = argv[k + 1];
        else if (!strcmp(argv[k], "--out"))
            out = argv[k + 1];
        else if (!strcmp(argv[k], "--policy") && !strcmp(argv[k + 1], "fixed"))
            fixed_policy = 1;
        else if (!strcmp(argv[k], "--policy") && !strcmp(argv[k + 1], "age"))
            fixed_policy = 0;
        else if (!strcmp(argv[k], "--seed"))
            seed = atoi(argv[k + 1]);
        else {
            fprintf(stderr, "platoon: unknown option %s\n", argv[k]);
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || control < 0 || control > 65535 || !(delay_ms >= 0) ||
        delay_ms > 5000 || !(loss_pct >= 0) || loss_pct > 100 || strlen(stage) > 32) {
        fprintf(stderr, "usage: platoon --port P --control C --delay MS --loss PCT --stage NAME "
                        "[--out DIR] [--seed N] [--policy age|fixed]\n");
        return 2;
    }
    rng_state ^= (uint64_t)(unsigned)seed * 0x9E3779B97F4A7C15ull;
    char realm[64];
    snprintf(realm, sizeof realm, "platoon-%s", stage);

    /* the world at t = 0: at cruise, at the gaps the policies want */
    obstacle = (body){0, V0, 0, 0.15, 5};
    {
        double front = obstacle.x - obstacle.len;
        for (int i = 0; i < NTRUCK; i++) {
            double g = R0 + (i == 0 ? H_LEAD : fixed_policy ? H0 : H_START) * V0;
            veh[i] = (body){front - g, V0, 0, TAU[i], 12.0};
            front = veh[i].x - veh[i].len;
        }
    }

    static char doc[16384];
    for (int i = 0; i < NTRUCK; i++) {
        truck *T = &trucks[i];
        T->idx = i;
        T->offset_s = OFFSETS[i];
        T->age_pred = T->age_lead = INFINITY;
        T->h = i == 0 ? H_LEAD : fixed_policy ? H0 : H_START; /* the platoon starts formed */
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        dt_diag d;
        for (int own = 0; own <= (i > 0); own++) {
            if (pl_describe(doc, sizeof doc, i, own, realm, port) != 0)
                die("description too long", NULL);
            dt_twin **tp = own ? &T->own : &T->tw;
            if (dt_twin_load_json(doc, strlen(doc), &o, tp, &d) != DT_OK) {
                fprintf(stderr, "platoon: truck %d%s: %s\n", i, own ? " (own)" : "", d.message);
                return 2;
            }
        }
        dt_io *io = dt_twin_io(T->tw);
        if (dt_io_find_source(io, "sensors", &T->src_mem) != DT_OK ||
            dt_io_find_sink(io, "drive", &T->sink) != DT_OK ||
            (i > 0 && (dt_io_find_source(io, "pred", &T->src_pred) != DT_OK ||
                       dt_io_find_source(io, "lead", &T->src_lead) != DT_OK)))
            die("a source or sink is missing", T->tw);
        if (dt_model_find_signal(dt_twin_model(T->tw), "u", &T->sig_u) != DT_OK)
            die("no signal u", T->tw);
        if (dt_twin_set_callback(T->tw, "gap", gap_ctl, T) != DT_OK)
            die("callback", T->tw);
        if (T->own != NULL) {
            dt_observer ob = DT_OBSERVER_INIT;
            ob.mask = DT_EVENT_BIT(DT_EVENT_BELIEF);
            ob.on_event = on_own;
            ob.user = T;
            if (dt_twin_observe(T->own, &ob) != DT_OK)
                die("observe", T->own);
        }
    }
    for (int i = 0; i < NTRUCK; i++) {
        dt_time now = T0 + (dt_time)llround(trucks[i].offset_s * 1e9);
        if (dt_twin_start(trucks[i].tw, now) != DT_OK || (trucks[i].own && dt_twin_start(trucks[i].own, now) != DT_OK))
            die("start", trucks[i].tw);
    }

    char path[512];
    snprintf(path, sizeof path, "%s/platoon_%s.csv", out, stage);
    FILE *csv = fopen(path, "w");
    if (csv == NULL)
        die("cannot write the trace", NULL);
    fprintf(csv, "t,obst_v,v0,v1,v2,v3,gap0,gap1,gap2,gap3,age1,age2,age3,h1,h2,h3,coop1,coop2,"
                 "coop3,u0,u1,u2,u3,ha3_fused,pa3_own,ha3_true\n");

    double u[NTRUCK] = {0};
    fflush(stdout);
    double t_lead_det = NAN, t_coop = NAN, t_own = NAN, t_true = NAN, min_gap = INFINITY;
    nees_acc fz_h = {0}, lww_h = {0}, fz_p = {0}, lww_p = {0};
    double off_at_h[NTRUCK][2] = {{0}};
    double e2[NTRUCK] = {0}, ea2[NTRUCK] = {0}, v_h[NTRUCK] = {0}, age_sum[NTRUCK] = {0}, h_sum[NTRUCK] = {0};
    long age_n[NTRUCK] = {0};
    double age_max = 0;
    long late_frames = 0;
    double stall_s = 0;
    const long K = (long)llround(T_END / FRAME_S);
    int64_t start = mono_ns() + 20000000;
    for (long k = 0; k <= K; k++) {
        double t = (double)k * FRAME_S;
        int64_t due = start + (int64_t)llround(t * 1e9);
        struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
        }
        int64_t late = mono_ns() - due;
        if (late > 10000000)
            late_frames++;
        if (late > (int64_t)(FRAME_S * 1e9)) {
            /* the host was not scheduled for more than a frame: the world
             * pauses instead of catching up in a burst of frames, during
             * which no message could travel (the beliefs would look late) */
            start += late;
            stall_s += (double)late * 1e-9;
        }
        if (k == (long)llround(T_LINK / FRAME_S) && control > 0) {
            char cmd[64];
            snprintf(cmd, sizeof cmd, "delay %g c2s", delay_ms);
            if (pl_proxy_command(control, cmd) != 0)
                return 2;
            snprintf(cmd, sizeof cmd, "lose %g c2s", loss_pct / 100.0);
            if (pl_proxy_command(control, cmd) != 0)
                return 2;
        }
        measuring = t >= T_LINK;
        for (int i = 0; i < NTRUCK; i++) {
            truck *T = &trucks[i];
            dt_time now = T0 + (dt_time)llround((t + T->offset_s) * 1e9);
            const body *b = &veh[i], *p = ahead(i);
            dt_io *io = dt_twin_io(T->tw);
            double z[4] = {b->v + 0.05 * gauss(), b->a + 0.15 * gauss(), gap_of(i) + 0.25 * gauss(),
                           p->v - b->v + 0.1 * gauss()};
            static const char *const nat[4] = {"v", "acc", "gap", "rr"};
            for (int m = 0; m < 4; m++) {
                if (dt_memory_source_push(io, T->src_mem, nat[m], now, z[m]) != DT_OK)
                    die("push", T->tw);
                if (T->own && dt_memory_source_push(dt_twin_io(T->own), 0, nat[m], now, z[m]) != DT_OK)
                    die("push", T->own);
            }
            if (i > 0) {
                T->age_pred = belief_age(T, T->src_pred, now);
                T->age_lead = belief_age(T, T->src_lead, now);
            }
            int rc;
            if (T->own && (rc = dt_twin_step(T->own, now)) != DT_OK) {
                fprintf(stderr, "platoon: truck %d (own sensors) step: %s\n", i, dt_strerror(rc));
                die("step", T->own);
            }
            if ((rc = dt_twin_step(T->tw, now)) != DT_OK) {
                fprintf(stderr, "platoon: truck %d step at %.2f s: %s\n", i, t, dt_strerror(rc));
                die("step", T->tw);
            }
            dt_command c[8];
            size_t nc = dt_memory_sink_read(io, T->sink, c, 8);
            if (nc > 0)
                u[i] = c[nc - 1].value;
        }
        /* the figures at this frame (truth before it moves on) */
        for (int i = 0; i < NTRUCK; i++) {
            min_gap = fmin(min_gap, gap_of(i));
            if (k == (long)llround(HAZARD_T / FRAME_S)) {
                v_h[i] = veh[i].v;
                if (i > 0) {
                    off_at_h[i][0] = offset_learned(&trucks[i], trucks[i].src_pred, i - 1, t);
                    off_at_h[i][1] = offset_learned(&trucks[i], trucks[i].src_lead, 0, t);
                }
            }
            if (t >= HAZARD_T) { /* the speed error: from its speed when the obstacle brakes */
                e2[i] += (veh[i].v - v_h[i]) * (veh[i].v - v_h[i]) * FRAME_S;
                ea2[i] += veh[i].a * veh[i].a * FRAME_S;
            }
            if (i > 0 && t >= T_LINK + 1 && isfinite(trucks[i].age_pred)) {
                age_sum[i] += trucks[i].age_pred;
                h_sum[i] += trucks[i].h;
                age_n[i]++;
                age_max = fmax(age_max, trucks[i].age_pred);
            }
        }
        truck *L = &trucks[NTRUCK - 1];
        if (t >= HAZARD_T) {
            if (isnan(t_true) && obstacle.a < THR)
                t_true = t;
            if (isnan(t_lead_det) && trucks[0].x[4] < THR)
                t_lead_det = t;
            if (isnan(t_coop) && L->x[6] < THR)
                t_coop = t;
            if (isnan(t_own) && own_x[NTRUCK - 1][4] < THR)
                t_own = t;
        }
        if (t >= T_LINK + 1) {
            int dec = k % 50 == 0; /* 1 s apart: about independent errors */
            for (int i = 1; i < NTRUCK; i++) {
                truck *T = &trucks[i];
                double P2[4];
                P2[0] = T->P[5 * 7 + 5], P2[1] = T->P[5 * 7 + 6], P2[2] = T->P[6 * 7 + 5], P2[3] = T->P[6 * 7 + 6];
                nees_add(&fz_h, &T->x[5], P2, obstacle.v, obstacle.a, dec);
                dt_remote_belief b;
                const dt_remote_belief *hh = newest(T, T->src_lead, &b);
                if (hh != NULL)
                    nees_add(&lww_h, hh->x, hh->P, obstacle.v, obstacle.a, dec);
                P2[0] = T->P[3 * 7 + 3], P2[1] = T->P[3 * 7 + 4], P2[2] = T->P[4 * 7 + 3], P2[3] = T->P[4 * 7 + 4];
                nees_add(&fz_p, &T->x[3], P2, veh[i - 1].v, veh[i - 1].a, dec);
                const dt_remote_belief *hp = newest(T, T->src_pred, &b);
                if (hp != NULL)
                    nees_add(&lww_p, hp->x, hp->P, veh[i - 1].v, veh[i - 1].a, dec);
            }
        }
        if (k % 5 == 0)
            fprintf(csv,
                    "%.2f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,%.3f,%.3f,%.3f,"
                    "%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
                    t, obstacle.v, veh[0].v, veh[1].v, veh[2].v, veh[3].v, gap_of(0), gap_of(1),
                    gap_of(2), gap_of(3), fin(trucks[1].age_pred), fin(trucks[2].age_pred), fin(trucks[3].age_pred),
                    trucks[1].h, trucks[2].h, trucks[3].h, trucks[1].coop, trucks[2].coop,
                    trucks[3].coop, u[0], u[1], u[2], u[3], L->x[6], own_x[NTRUCK - 1][4], obstacle.a);
        world_step(t, u);
    }
    fclose(csv);

    /* the offsets the followers' sources learned (when the obstacle braked
     * and at the end), against the true ones */
    for (int i = 1; i < NTRUCK; i++)
        printf("offset %s truck%d: from truck%d learned %+.4f s (at %g s) %+.4f s (at the end), "
               "true %+.4f s; from truck0 learned %+.4f s, %+.4f s, true %+.4f s\n",
               stage, i, i - 1, off_at_h[i][0], HAZARD_T,
               offset_learned(&trucks[i], trucks[i].src_pred, i - 1, T_END),
               trucks[i].offset_s - trucks[i - 1].offset_s, off_at_h[i][1],
               offset_learned(&trucks[i], trucks[i].src_lead, 0, T_END),
               trucks[i].offset_s - trucks[0].offset_s);
    printf("stage %s fixed=%d delay_ms=%g loss_pct=%g lead_detect_s=%.3f last_fused_s=%.3f last_own_s=%.3f "
           "lead_time_s=%.3f min_gap_m=%.3f d_safe_m=%g late_frames=%ld paused_s=%.3f",
           stage, fixed_policy, delay_ms, loss_pct, t_lead_det - t_true, t_coop - t_true, t_own - t_true,
           t_own - t_coop, min_gap, D_SAFE, late_frames, stall_s);
    for (int i = 1; i < NTRUCK; i++)
        printf(" age%d=%.4f h%d=%.4f fallback_frames%d=%llu fallback_entries%d=%llu coop_frames%d=%llu", i,
               age_sum[i] / (double)age_n[i], i, h_sum[i] / (double)age_n[i], i,
               (unsigned long long)trucks[i].fallback_frames, i,
               (unsigned long long)trucks[i].fallback_entries, i,
               (unsigned long long)trucks[i].coop_frames);
    printf(" age_max=%.4f", age_max);
    for (int i = 0; i < NTRUCK; i++)
        printf(" verr%d=%.4f", i, sqrt(e2[i]));
    for (int i = 1; i < NTRUCK; i++)
        printf(" amp%d=%.4f amp_a%d=%.4f", i, sqrt(e2[i] / e2[i - 1]), i, sqrt(ea2[i] / ea2[i - 1]));
    nees_print("fused_hazard", &fz_h);
    nees_print("lww_hazard", &lww_h);
    nees_print("fused_pred", &fz_p);
    nees_print("lww_pred", &lww_p);
    for (int i = 1; i < NTRUCK; i++) {
        dt_twin_stats s;
        dt_twin_stats_get(trucks[i].tw, &s);
        printf(" fused%d=%llu offered%d=%llu kept%d=%llu refused%d=%llu gated%d=%llu", i,
               (unsigned long long)s.beliefs_fused, i, (unsigned long long)s.beliefs_offered, i,
               (unsigned long long)s.beliefs_kept, i, (unsigned long long)s.beliefs_refused, i,
               (unsigned long long)s.estimator.beliefs_gated);
    }
    printf("\n");
    for (int i = 0; i < NTRUCK; i++) {
        dt_twin_stop(trucks[i].tw);
        dt_twin_destroy(trucks[i].tw);
        dt_twin_destroy(trucks[i].own);
    }
    return 0;
}
