/* The twin's memory budget: every limit of a description holds alone, but
 * their product may not (64 sources with 2^24-slot rings touch ~42 GB). The
 * largest consumers are estimated from the description before anything is
 * allocated, and a twin above its budget is refused, naming them. */
#include <math.h>
#include <stdio.h>
#include <string.h>


#include "../desc/desc.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "dtwin/ingest.h"
#include "dtwin/twin.h"
#include "twin_internal.h"

#define TOP 3

typedef struct consumer {
    char what[96];
    double bytes;
} consumer;

typedef struct tally {
    consumer top[TOP];
    double total;
} tally;

static void add(tally *t, double bytes, const char *fmt, ...) DT__PRINTF(3, 4);
static void add(tally *t, double bytes, const char *fmt, ...)
{
    t->total += bytes;
    int at = TOP;
    while (at > 0 && t->top[at - 1].bytes < bytes)
        at--;
    if (at == TOP)
        return;
    memmove(&t->top[at + 1], &t->top[at], (TOP - 1 - (size_t)at) * sizeof *t->top);
    t->top[at].bytes = bytes;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(t->top[at].what, sizeof t->top[at].what, fmt, ap);
    va_end(ap);
}

/* A member's number, or `def` when absent or not a usable number: the
 * loaders that follow give the exact message for a bad value. */
static double member(const dt_config *o, const char *key, double def, double max)
{
    const dt_config *v = dt_config_get(o, key);
    /* a value out of range is its reader's to refuse, with its own message:
     * here it counts as the default */
    if (!dt__cfg_is_number(v) || !(dt__cfg_num(v) >= 0) || dt__cfg_num(v) > max)
        return def;
    return dt__cfg_num(v);
}

static void sources(tally *t, const dt_config *arr)
{
    size_t k = 0;
    for (const dt_config *s = arr ? dt__cfg_child(arr) : NULL; s; s = dt__cfg_next(s), k++) {
        double ring = member(s, "ring", 1024, DT_RING_MAX_CAPACITY);
        double reorder = member(s, "reorder", 4096, DT_RING_MAX_CAPACITY);
        /* the adapters' own buffers, counted high for every kind: a CSV
         * source's read buffer (64 KiB), line (max_line, default 4096) and
         * fields (8 KiB), a UDP source's datagram buffer (64 KiB) */
        double line = member(s, "max_line", 4096, 1 << 20);
        double bytes = (ring + reorder) * sizeof(dt_sample) + sizeof(dt_clock) + 2 * line +
                       2 * 65536.0 + 8192.0;
        add(t, bytes, "sources[%zu] (ring %.0f + reorder %.0f)", k, ring, reorder);
    }
}

static void sinks(tally *t, const dt_config *arr)
{
    size_t k = 0;
    for (const dt_config *s = arr ? dt__cfg_child(arr) : NULL; s; s = dt__cfg_next(s), k++) {
        double cap = member(s, "capacity", 0, 1 << 24); /* memory sink queue */
        add(t, cap * sizeof(dt_command) + 65536.0, "sinks[%zu] (capacity %.0f)", k, cap);
    }
}

static void estimator(tally *t, const dt_config *e)
{
    if (e == NULL)
        return;
    double n = (double)dt__cfg_count(dt_config_get(e, "states"));
    double p = (double)dt__cfg_count(dt_config_get(e, "inputs"));
    double h = member(e, "history", 128, 65536);
    /* a state snapshot (x, P, u) per history slot plus an event each */
    double bytes = (h + 1) * (n + n * n + (p > 0 ? p : 1)) * sizeof(double) + h * 48;
    add(t, bytes, "estimator (history %.0f of %.0f states)", h, n);
}

int dt__twin_memory_check(const dt_model *m, const dt_allocator *a, dt_diag *diag,
                          double *need, double *budget)
{
    double max = DT_TWIN_MEMORY_DEFAULT;
    tally t;
    memset(&t, 0, sizeof t);
    /* the sections that cost memory, whichever layer reads them */
    const char *names[] = {"memory", "sources", "sinks", "estimator", "dispatcher"};
    const dt_config *sec[5] = {NULL};
    dt__desc_use u;
    int rc = dt__desc_begin(m, a, &u, diag);
    for (int i = 0; rc == DT_OK && i < 5; i++)
        sec[i] = dt__desc_get(&u, names[i]);
    if (rc == DT_OK && sec[0] != NULL) {
        char gb[40];
        const dt_config *v = dt_config_get(sec[0], "max_bytes");
        if (!dt__cfg_is_object(sec[0]) || v == NULL || v != dt__cfg_child(sec[0]) ||
            dt__cfg_next(v) != NULL)
            rc = dt__diag(diag, DT_EPARSE, "memory", "expected {\"max_bytes\": bytes}, got %s",
                          dt__cfg_is_object(sec[0]) ? "other keys"
                                                    : dt__cfg_got(sec[0], gb, sizeof gb));
        else if (!dt__cfg_is_number(v) || !(dt__cfg_num(v) >= DT_TWIN_MEMORY_MIN &&
                                         dt__cfg_num(v) <= DT_TWIN_MEMORY_MAX) ||
                 dt__cfg_num(v) != floor(dt__cfg_num(v)))
            rc = dt__diag(diag, DT_EPARSE, "memory.max_bytes",
                          "%.17g is not an integer in %.0f..%.0f bytes (1 MiB .. 1 TiB)",
                          dt__cfg_is_number(v) ? dt__cfg_num(v) : NAN, DT_TWIN_MEMORY_MIN,
                          DT_TWIN_MEMORY_MAX);
        else
            max = dt__cfg_num(v);
    }
    if (rc == DT_OK) {
        size_t ns = dt_model_signal_count(m);
        /* per signal: the ingest's snapshots and the dispatcher's arrays */
        add(&t, (double)ns * (DT_SNAPSHOT_DEPTH * 40.0 + 160.0), "signals (%zu)", ns);
        sources(&t, sec[1]);
        sinks(&t, sec[2]);
        estimator(&t, sec[3]);
        /* the description's sections, kept as text for saving */
        double kept = 0;
        for (size_t i = 0; i < dt__model_section_count(m); i++) {
            const char *key;
            const char *text = dt__model_section_at(m, i, &key);
            kept += text != NULL ? (double)strlen(text) + 1 : 0;
        }
        add(&t, kept, "the description's sections (%.0f bytes)", kept);
        double audit = sec[4] ? member(sec[4], "audit", 64, 65536) : 64;
        add(&t, audit * sizeof(dt_audit), "dispatcher.audit (%.0f)", audit);
        if (t.total > max) {
            char list[3 * 140] = "";
            size_t len = 0;
            for (int i = 0; i < TOP && t.top[i].bytes > 0; i++) {
                int w = snprintf(list + len, sizeof list - len, "%s%s %.0f MiB",
                                 i ? ", " : "", t.top[i].what, t.top[i].bytes / 1048576.0);
                if (w < 0 || (size_t)w >= sizeof list - len)
                    break;
                len += (size_t)w;
            }
            rc = dt__diag(diag, DT_ELIMIT, sec[0] ? "memory.max_bytes" : "memory",
                          "the twin needs about %.0f MiB, above its budget of %.0f MiB; "
                          "largest: %s", t.total / 1048576.0, max / 1048576.0, list);
        }
    }
    dt__desc_done(&u);
    *need = t.total;
    *budget = max;
    return rc;
}
