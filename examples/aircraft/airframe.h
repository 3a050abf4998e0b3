/* The simulated aircraft of examples/aircraft: its pitch axis (short-period
 * dynamics with an elevator actuator and a light gust), an engine whose EGT
 * margin erodes, the pilot's pitch-rate demand and the edge twin's pitch-rate
 * law. Shared by the edge host (aircraft.c); nothing here knows the bus. */
#ifndef AIRCRAFT_AIRFRAME_H
#define AIRCRAFT_AIRFRAME_H

#include <stdint.h>

#include <dtwin/dtwin.h>

/* Degradation time is compressed: one second of the twins' time is this many
 * flight hours (a one-minute run covers some 6000 flight hours of wear). */
#define AC_FH_PER_S 100.0
/* The EGT margin at which the engine is due for removal, K. */
#define AC_MARGIN_LIMIT_K 10.0

/* The pitch axis: angle of attack and pitch rate (deg, deg/s) about trim,
 * elevator position (deg) behind a first-order actuator. */
typedef struct ac_airframe {
    double alpha, q, de;  /* state */
    double gust;          /* vertical gust, as an angle of attack (deg) */
    uint64_t rng;         /* the gust's generator (fixed seed) */
    double elevator_in;   /* the last command the actuator was given, deg */
} ac_airframe;

/* The engine's EGT margin, K, eroding at a constant rate. */
typedef struct ac_engine {
    double margin;
} ac_engine;

extern const dt_plant_ops ac_airframe_ops; /* inputs: elevator; outputs: alpha, q */
extern const dt_plant_ops ac_engine_ops;   /* outputs: egt_margin */

void ac_airframe_init(ac_airframe *a);
void ac_engine_init(ac_engine *e);
/* The truth the engine follows: margin at t seconds of twin time, K, and
 * its rate, K per second (= per AC_FH_PER_S flight hours). */
double ac_margin_truth(double t);
double ac_margin_rate_truth(void);

/* The pilot's pitch-rate demand at t, deg/s: a repeating 8 s pattern of
 * pull-ups and push-overs (each eased in over 0.5 s). */
double ac_q_ref(double t);

/* The edge twin's pitch-rate law, a callback controller: PI on the
 * pitch-rate error of the estimate, plus angle-of-attack feedback. */
typedef struct ac_pitch_law {
    dt_signal_id alpha_est, q_est, elevator_cmd;
    double integ;  /* integral of the pitch-rate error, deg */
    double last;   /* the last command it asked for, deg */
    uint64_t runs;
} ac_pitch_law;

/* Resolves the signals; 0 or a negative DT_E*. */
int ac_pitch_law_init(ac_pitch_law *law, const dt_model *m);
/* dt_ctrl_fn for dt_twin_set_callback. */
int ac_pitch_law_run(void *user, dt_ctrl_ctx *ctx);

#endif
