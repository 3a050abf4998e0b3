/* Truck platoon example: what platoon.c (the world, the loop, the figures)
 * and platoon_bus.c (the trucks' descriptions, the link proxy's control)
 * share. */
#ifndef PLATOON_H
#define PLATOON_H

#include <stdint.h>
#include <stdio.h>

#include <dtwin/dtwin.h>

#define NTRUCK 4
#define FRAME_S 0.02 /* the platoon's frame: 50 Hz */

/* One truck's twins and the host's view of them. */
typedef struct truck {
    int idx;
    double offset_s;   /* its clock: now_i = t + offset_s (on the platoon base t) */
    dt_twin *tw;       /* its twin (bus, twin sources, controller) */
    dt_twin *own;      /* followers: the same sensors, no V2V (the reference) */
    size_t src_mem, src_pred, src_lead, sink; /* indexes in tw's io */
    dt_signal_id sig_u;
    /* what the controller used this frame (for the trace) */
    double age_pred, age_lead; /* s, on its own clock; INFINITY: none yet */
    double h, h_target;        /* the time gap in force and its target, s */
    int coop;                  /* 1: cooperative (fresh belief), 0: own sensors */
    double u_ctl;              /* the controller's command before the dispatcher */
    double x[7], P[49];        /* the belief at the cycle (followers 7, lead 5) */
    int have_belief;
    uint64_t fallback_frames, fallback_entries, coop_frames;
    int was_coop;
} truck;

/* platoon_bus.c */
int pl_describe(char *buf, size_t cap, int i, int own, const char *realm, int port);
int pl_proxy_command(int port, const char *line);

#endif
