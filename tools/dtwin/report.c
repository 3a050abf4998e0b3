/* dtwin: what a run reports (the summary, its JSON form, the stats line)
 * and the library's messages on stderr. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* ---- the logger: every warning reaches stderr, each kind a few times ---- */

#define LOG_KINDS 64
#define LOG_SHOWN 5 /* messages of one kind printed before holding back */

static struct {
    const char *prog;
    dt_logger logger;
    uint64_t total;
    struct {
        uint64_t key;   /* hash of the module and the whole message without its numbers */
        char first[160]; /* the first message of the kind (its start), said at the end */
        uint64_t count;
    } kind[LOG_KINDS];
    size_t n;
    uint64_t other; /* messages of kinds beyond LOG_KINDS, all printed */
    int progress;   /* a progress line is on the terminal: clear it first */
} lg;

static int id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

static int digit(char c) { return c >= '0' && c <= '9'; }

/* Messages differ in their numbers only ("belief age 0.312 s"): the kind is
 * the whole text without its numbers (a number starts a word: "tank2" is a
 * name, not a number), hashed (FNV-1a) so that a long id does not cut off
 * what tells two messages apart. */
static uint64_t log_key(const char *module, const char *msg)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = module; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
    for (const char *p = msg; *p;) {
        int starts = (p == msg || !id_char(p[-1])) &&
                     (digit(*p) || ((*p == '-' || *p == '+' || *p == '.') && digit(p[1])));
        if (starts) {
            p += !digit(*p);
            while (digit(*p) || *p == '.')
                p++;
            if ((*p == 'e' || *p == 'E') &&
                (digit(p[1]) || ((p[1] == '-' || p[1] == '+') && digit(p[2]))))
                for (p += 2; digit(*p); p++)
                    ;
            h = (h ^ '#') * 1099511628211ull;
            continue;
        }
        h = (h ^ (unsigned char)*p++) * 1099511628211ull;
    }
    return h;
}

static void cli_log(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)user;
    if (level <= DT_LOG_WARN)
        lg.total++;
    uint64_t key = log_key(module, msg);
    size_t i = 0;
    while (i < lg.n && lg.kind[i].key != key)
        i++;
    if (i == lg.n && lg.n < LOG_KINDS) {
        lg.kind[i].key = key;
        (void)snprintf(lg.kind[i].first, sizeof lg.kind[i].first, "%s: %s", module, msg);
        lg.n++;
    }
    if (i < lg.n && ++lg.kind[i].count > LOG_SHOWN)
        return;
    if (lg.progress) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
    fprintf(stderr, "%s: %s: %s: %s%s\n", lg.prog, dt_log_level_name(level), module, msg,
            i < lg.n && lg.kind[i].count == LOG_SHOWN ? " (further messages like this one "
                                                        "are counted, not shown)"
                                                      : "");
}

const dt_logger *cli_logger(const char *prog, int verbose)
{
    memset(&lg, 0, sizeof lg);
    lg.prog = prog;
    lg.logger.fn = cli_log;
    lg.logger.max_level = verbose ? DT_LOG_INFO : DT_LOG_WARN;
    return &lg.logger;
}

void cli_logger_progress(int on) { lg.progress = on; }

uint64_t cli_logger_finish(void)
{
    for (size_t i = 0; i < lg.n; i++)
        if (lg.kind[i].count > LOG_SHOWN) {
            size_t len = strlen(lg.kind[i].first);
            uint64_t more = lg.kind[i].count - LOG_SHOWN;
            fprintf(stderr, "%s: %llu more message%s like \"%s%s\" %s not shown\n", lg.prog,
                    (unsigned long long)more, more == 1 ? "" : "s", lg.kind[i].first,
                    len + 1 == sizeof lg.kind[i].first ? "..." : "", more == 1 ? "was" : "were");
        }
    return lg.total;
}

/* ---- counting the data ---- */

typedef struct tally {
    uint64_t offered, applied, gated, unmodelled, too_old, excluded, failed, est_bad_time,
        refused, dropped, pending, delivered, adapter_lost, unaccounted;
} tally;

static uint64_t refused_of(const dt_source_stats *g)
{
    return g->rejected_nonfinite + g->rejected_bad_variance + g->rejected_unknown_signal +
           g->rejected_wrong_role + g->rejected_out_of_limits + g->rejected_future +
           g->rejected_bad_time + g->rejected_clock_step;
}

static uint64_t dropped_of(const dt_source_stats *g)
{
    return g->dropped_newest + g->dropped_oldest + g->dropped_reorder_full + g->dropped_too_late;
}

/* Where every offered sample ended: offered = refused + dropped + pending +
 * delivered, and (with an estimator) delivered = applied + gated + ... */
static void count(dt_twin *t, const dt_twin_stats *s, tally *c)
{
    const dt_source_stats *g = &s->ingest.total;
    const dt_est_stats *e = &s->estimator;
    memset(c, 0, sizeof *c);
    c->offered = g->offered;
    c->refused = refused_of(g);
    c->dropped = dropped_of(g);
    c->pending = g->pending_ring + g->pending_merge;
    c->delivered = g->released + g->late;
    c->applied = e->updates;
    c->gated = e->gated;
    c->unmodelled = e->unmodelled;
    c->too_old = e->too_old;
    c->excluded = e->excluded;
    c->failed = e->numeric_failures;
    c->est_bad_time = e->bad_time;
    dt_io *io = dt_twin_io(t);
    /* what an adapter could not turn into samples (reordered ones it did) */
    for (size_t i = 0; i < dt_io_source_count(io); i++)
        c->adapter_lost += dt_io_source_events(io, i, DT_EV_MALFORMED) +
                           dt_io_source_events(io, i, DT_EV_LOST) +
                           dt_io_source_events(io, i, DT_EV_DUPLICATE) +
                           dt_io_source_events(io, i, DT_EV_UNMAPPED) +
                           dt_io_source_events(io, i, DT_EV_REFUSED);
    uint64_t parts = c->refused + c->dropped + c->pending +
                     (dt_twin_estimator(t) != NULL
                          ? c->applied + c->gated + c->unmodelled + c->too_old + c->excluded +
                                c->failed + c->est_bad_time
                          : c->delivered);
    c->unaccounted = c->offered > parts ? c->offered - parts : 0;
}

uint64_t cli_data_lost(dt_twin *t)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    tally c;
    count(t, &s, &c);
    uint64_t lost = c.adapter_lost + c.refused + c.dropped + c.gated + c.too_old + c.excluded +
                    c.failed + c.est_bad_time + c.unaccounted;
    for (size_t k = 0; k < dt_twin_child_count(t); k++) /* a composite's children */
        lost += cli_data_lost(dt_twin_child(t, k));
    return lost;
}

double cli_safe_share(dt_twin *t, double t_end_s)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    double safe = dt_time_to_sec(s.safe_time);
    return t_end_s > 0 ? (safe < t_end_s ? safe / t_end_s : 1.0) : (s.safe_state ? 1.0 : 0.0);
}

/* ---- text ---- */

/* ", N what" when N is not zero; *first tracks the list's separator. */
static void part(FILE *f, int *first, uint64_t n, const char *what)
{
    if (n == 0)
        return;
    fprintf(f, "%s%llu %s", *first ? "" : ", ", (unsigned long long)n, what);
    *first = 0;
}

static void print_reasons(FILE *f, const dt_source_stats *g, const tally *c)
{
    int first = 1;
    if (c->refused) {
        fprintf(f, "  refused at ingest: ");
        part(f, &first, g->rejected_nonfinite, "not finite");
        part(f, &first, g->rejected_bad_variance, "negative variance");
        part(f, &first, g->rejected_unknown_signal, "unknown signal");
        part(f, &first, g->rejected_wrong_role, "not a measured or parameter signal");
        part(f, &first, g->rejected_out_of_limits, "outside the hard limits");
        part(f, &first, g->rejected_future, "in the future");
        part(f, &first, g->rejected_bad_time, "time out of range");
        part(f, &first, g->rejected_clock_step, "completing a clock step");
        fprintf(f, "\n");
    }
    if (c->dropped) {
        first = 1;
        fprintf(f, "  dropped: ");
        part(f, &first, g->dropped_newest, "ring full (newest refused)");
        part(f, &first, g->dropped_oldest, "ring full (oldest overwritten)");
        part(f, &first, g->dropped_reorder_full, "reorder buffer full");
        part(f, &first, g->dropped_too_late, "too late (behind the horizon)");
        fprintf(f, "\n");
    }
    if (g->late || g->clamped_to_arrival || g->flagged_out_of_limits) {
        first = 1;
        fprintf(f, "  delayed or altered: ");
        part(f, &first, g->late, "released late (behind the watermark)");
        part(f, &first, g->clamped_to_arrival, "time cut to arrival (sender clock ahead)");
        part(f, &first, g->flagged_out_of_limits, "flagged outside the hard limits");
        fprintf(f, "\n");
    }
}

static void print_adapters(FILE *f, dt_io *io)
{
    static const dt_source_event kinds[] = {DT_EV_MALFORMED, DT_EV_LOST,     DT_EV_DUPLICATE,
                                            DT_EV_REORDERED, DT_EV_UNMAPPED, DT_EV_REFUSED};
    static const char *const what[] = {"malformed", "lost",     "duplicate",
                                       "reordered", "unmapped", "refused"};
    enum { N = sizeof kinds / sizeof kinds[0] };
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        uint64_t ev[N], any = 0;
        for (int k = 0; k < N; k++)
            any += ev[k] = dt_io_source_events(io, i, kinds[k]);
        if (!any)
            continue;
        int first = 1;
        fprintf(f, "  source \"%s\" (%s): ", dt_io_source_id(io, i), dt_io_source_kind(io, i));
        for (int k = 0; k < N; k++)
            part(f, &first, ev[k], what[k]);
        fprintf(f, " before ingest\n");
    }
    for (size_t i = 0; i < dt_io_link_count(io); i++) {
        dt_counter c[64];
        size_t n = dt_io_link_counters(io, i, c, 64);
        fprintf(f, "  link \"%s\":", dt_io_link_name(io, i));
        int any = 0;
        for (size_t k = 0; k < n && k < 64; k++)
            if (c[k].value != 0) {
                fprintf(f, "%s %s %llu", any ? "," : "", c[k].name, (unsigned long long)c[k].value);
                any = 1;
            }
        fprintf(f, "%s\n", any ? "" : " nothing yet");
    }
    for (size_t i = 0; i < dt_io_sink_count(io); i++) {
        dt_sink_stats ss;
        if (dt_io_sink_stats(io, i, &ss) == DT_OK && ss.errors)
            fprintf(f, "  sink \"%s\" (%s): %llu of %llu commands refused\n", dt_io_sink_id(io, i),
                    dt_io_sink_kind(io, i), (unsigned long long)ss.errors,
                    (unsigned long long)ss.applied);
    }
}

/* A composite's children, one line each: what each one stepped and read. */
static void print_children(FILE *f, dt_twin *t)
{
    for (size_t k = 0; k < dt_twin_child_count(t); k++) {
        dt_twin *ch = dt_twin_child(t, k);
        dt_twin_stats s;
        dt_twin_stats_get(ch, &s);
        tally c;
        count(ch, &s, &c);
        fprintf(f, "child %s: %llu cycles, %llu samples applied, %llu lost or refused",
                dt_twin_child_id(t, k), (unsigned long long)s.cycles,
                (unsigned long long)(dt_twin_estimator(ch) ? c.applied : c.delivered),
                (unsigned long long)cli_data_lost(ch));
        if (isinf(s.belief_age_s))
            fprintf(f, "; belief age at the end: no data\n");
        else
            fprintf(f, "; belief age at the end: %.10g s\n", s.belief_age_s);
    }
}

void cli_print_text(FILE *f, dt_twin *t, const cli_summary *r)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    tally c;
    count(t, &s, &c);
    fprintf(f, "t = %.10g s: %llu cycles\n", r->t_end_s, (unsigned long long)s.cycles);
    fprintf(f, "samples: %llu offered = ", (unsigned long long)c.offered);
    int first = 1;
    if (dt_twin_estimator(t) != NULL) {
        fprintf(f, "%llu applied", (unsigned long long)c.applied);
        first = 0;
        part(f, &first, c.gated, "gated");
        part(f, &first, c.unmodelled, "without a measurement model");
        part(f, &first, c.too_old, "older than the history");
        part(f, &first, c.excluded, "from isolated sensors");
        part(f, &first, c.failed, "failed updates");
        part(f, &first, c.est_bad_time, "time out of range");
    } else {
        fprintf(f, "%llu delivered (no estimator)", (unsigned long long)c.delivered);
        first = 0;
    }
    part(f, &first, c.refused, "refused");
    part(f, &first, c.dropped, "dropped");
    part(f, &first, c.pending, "pending");
    part(f, &first, c.unaccounted, "unaccounted");
    fprintf(f, "\n");
    print_reasons(f, &s.ingest.total, &c);
    print_adapters(f, dt_twin_io(t));
    fprintf(f, "commands: %llu decided = %llu sent + %llu expired + %llu refused by every sink",
            (unsigned long long)s.commands, (unsigned long long)s.sent,
            (unsigned long long)s.expired, (unsigned long long)s.sink_errors);
    if (s.refused)
        fprintf(f, " + %llu refused (a signature that does not verify, or the verify hook)",
                (unsigned long long)s.refused);
    /* the dispatcher alters a command before a sink takes or refuses it */
    first = 1;
    if (s.clamped || s.rate_limited || s.interlocked || s.safe_stated) {
        fprintf(f, "; of the sent and refused: ");
        part(f, &first, s.clamped, "clamped");
        part(f, &first, s.rate_limited, "rate-limited");
        part(f, &first, s.interlocked, "interlocked");
        part(f, &first, s.safe_stated, "safe values");
    }
    if (s.unconfirmed)
        fprintf(f, "; of the sent: %llu unconfirmed", (unsigned long long)s.unconfirmed);
    fprintf(f, "\n");
    cli_print_signed(f, t);
    if (s.events_lost)
        fprintf(f, "  %llu events lost: an event queue was full\n",
                (unsigned long long)s.events_lost);
    if (s.beliefs_offered || s.beliefs_time_refused)
        fprintf(f,
                "remote beliefs: %llu offered = %llu fused + %llu kept (no weight) + %llu "
                "refused + %llu superseded (+ %llu refused for their time before the offer)\n",
                (unsigned long long)s.beliefs_offered, (unsigned long long)s.beliefs_fused,
                (unsigned long long)s.beliefs_kept, (unsigned long long)s.beliefs_refused,
                (unsigned long long)s.beliefs_superseded,
                (unsigned long long)s.beliefs_time_refused);
    double safe = dt_time_to_sec(s.safe_time);
    fprintf(f, "safe state: %llu %s, %.10g s of %.10g s (%.4g %%)%s\n",
            (unsigned long long)s.safe_entries, s.safe_entries == 1 ? "entry" : "entries", safe,
            r->t_end_s,
            100 * cli_safe_share(t, r->t_end_s), s.safe_state ? ", engaged at the end" : "");
    if (isinf(s.tau_max_s))
        fprintf(f, "latency budget: none");
    else
        fprintf(f, "latency budget: %.10g s", s.tau_max_s);
    if (isinf(s.belief_age_s))
        fprintf(f, "; belief age at the end: no data\n");
    else
        fprintf(f, "; belief age at the end: %.10g s\n", s.belief_age_s);
    if (dt_twin_estimator(t) != NULL && s.estimator.updates)
        fprintf(f, "estimator: mean NIS %.4g (about 1 when consistent)%s\n", s.estimator.nis_mean,
                s.estimator.diverging ? ", DIVERGING" : "");
    print_children(f, t);
    if (r->log_messages)
        fprintf(f, "%llu warnings or errors logged (stderr)\n",
                (unsigned long long)r->log_messages);
}

void cli_print_line(FILE *f, dt_twin *t, double t_s)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    tally c;
    count(t, &s, &c);
    fprintf(f, "t = %.10g s: %llu cycles, %llu samples (%llu applied, %llu lost or refused), "
               "%llu commands sent, %s\n",
            t_s, (unsigned long long)s.cycles, (unsigned long long)c.offered,
            (unsigned long long)(dt_twin_estimator(t) ? c.applied : c.delivered),
            (unsigned long long)cli_data_lost(t), (unsigned long long)s.sent,
            s.safe_state ? "SAFE STATE" : "normal");
}

/* ---- JSON: every figure at full precision, null where there is none ---- */

static void jnum(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, "\"%s\":%.17g", key, v);
    else
        fprintf(f, "\"%s\":null", key);
}

static void ju(FILE *f, const char *key, uint64_t v)
{
    fprintf(f, "\"%s\":%llu", key, (unsigned long long)v);
}

/* A JSON string of s: the ids come from the description (quotes, controls). */
static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* An adapter's own counters (its counters slot), as a JSON object. */
static void json_counters(FILE *f, const dt_counter *c, size_t n)
{
    fprintf(f, ",\"counters\":{");
    for (size_t k = 0; k < n; k++) {
        fputs(k ? "," : "", f);
        ju(f, c[k].name, c[k].value);
    }
    fputc('}', f);
}

#define MAX_COUNTERS 64

static void json_adapters(FILE *f, dt_io *io)
{
    dt_counter ctr[MAX_COUNTERS];
    static const char *const ev_name[DT_EV__COUNT] = {
        "malformed", "lost", "duplicate", "reordered", "unmapped", "ended", "refused"};
    fprintf(f, "\"sources\":[");
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        fprintf(f, "%s{\"id\":", i ? "," : "");
        jstr(f, dt_io_source_id(io, i));
        fprintf(f, ",\"kind\":");
        jstr(f, dt_io_source_kind(io, i));
        for (int k = 0; k < DT_EV__COUNT; k++) {
            fputc(',', f);
            ju(f, ev_name[k], dt_io_source_events(io, i, (dt_source_event)k));
        }
        size_t n = dt_io_source_counters(io, i, ctr, MAX_COUNTERS);
        json_counters(f, ctr, n < MAX_COUNTERS ? n : MAX_COUNTERS);
        fputc('}', f);
    }
    fprintf(f, "],\"sinks\":[");
    for (size_t i = 0; i < dt_io_sink_count(io); i++) {
        dt_sink_stats ss = {0, 0};
        (void)dt_io_sink_stats(io, i, &ss);
        fprintf(f, "%s{\"id\":", i ? "," : "");
        jstr(f, dt_io_sink_id(io, i));
        fprintf(f, ",\"kind\":");
        jstr(f, dt_io_sink_kind(io, i));
        fputc(',', f);
        ju(f, "applied", ss.applied);
        fputc(',', f);
        ju(f, "errors", ss.errors);
        size_t n = dt_io_sink_counters(io, i, ctr, MAX_COUNTERS);
        json_counters(f, ctr, n < MAX_COUNTERS ? n : MAX_COUNTERS);
        fputc('}', f);
    }
    fprintf(f, "],\"links\":[");
    for (size_t i = 0; i < dt_io_link_count(io); i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        jstr(f, dt_io_link_name(io, i));
        size_t n = dt_io_link_counters(io, i, ctr, MAX_COUNTERS);
        json_counters(f, ctr, n < MAX_COUNTERS ? n : MAX_COUNTERS);
        fputc('}', f);
    }
    fputc(']', f);
}

void cli_print_json(FILE *f, dt_twin *t, const cli_summary *r)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    tally c;
    count(t, &s, &c);
    const dt_source_stats *g = &s.ingest.total;
    const dt_est_stats *e = &s.estimator;
    fprintf(f, "{\"cycles\":%llu,", (unsigned long long)s.cycles);
    jnum(f, "t_end_s", r->t_end_s);
    fprintf(f, ",\"samples\":{");
#define U(k, v) (ju(f, k, v), fputc(',', f))
    U("offered", c.offered);
    U("accepted", g->accepted);
    U("delivered", c.delivered);
    U("released", g->released);
    U("late", g->late);
    U("applied", c.applied);
    U("gated", c.gated);
    U("unmodelled", c.unmodelled);
    U("too_old", c.too_old);
    U("excluded", c.excluded);
    U("failed", c.failed);
    U("bad_time", c.est_bad_time);
    U("clamped_to_arrival", g->clamped_to_arrival);
    U("flagged_out_of_limits", g->flagged_out_of_limits);
    U("pending", c.pending);
    U("unaccounted", c.unaccounted);
    U("lost_or_refused", cli_data_lost(t));
    fprintf(f, "\"rejected\":{");
    U("total", c.refused);
    U("nonfinite", g->rejected_nonfinite);
    U("bad_variance", g->rejected_bad_variance);
    U("unknown_signal", g->rejected_unknown_signal);
    U("wrong_role", g->rejected_wrong_role);
    U("out_of_limits", g->rejected_out_of_limits);
    U("future", g->rejected_future);
    U("bad_time", g->rejected_bad_time);
    ju(f, "clock_step", g->rejected_clock_step);
    fprintf(f, "},\"dropped\":{");
    U("total", c.dropped);
    U("ring_full_newest", g->dropped_newest);
    U("ring_full_oldest", g->dropped_oldest);
    U("reorder_full", g->dropped_reorder_full);
    ju(f, "too_late", g->dropped_too_late);
    fprintf(f, "}},\"adapters\":{");
    json_adapters(f, dt_twin_io(t));
    fprintf(f, "},\"estimator\":{");
    U("updates", e->updates);
    U("gated", e->gated);
    U("too_old", e->too_old);
    U("late_applied", e->late_applied);
    U("recoveries", e->recoveries);
    U("isolations", e->isolations);
    U("excluded", e->excluded);
    U("belief_lost", e->belief_lost);
    U("divergence_events", e->divergence_events);
    jnum(f, "nis_mean", e->updates ? e->nis_mean : NAN);
    fprintf(f, ",\"diverging\":%s},\"remote_beliefs\":{", e->diverging ? "true" : "false");
    U("offered", s.beliefs_offered);
    U("superseded", s.beliefs_superseded);
    U("time_refused", s.beliefs_time_refused);
    U("fused", s.beliefs_fused);
    U("kept", s.beliefs_kept);
    U("refused", s.beliefs_refused);
    U("gated", e->beliefs_gated);
    ju(f, "numbers_refused", e->beliefs_refused);
    fprintf(f, "},\"commands\":{");
    U("total", s.commands);
    U("sent", s.sent);
    U("clamped", s.clamped);
    U("rate_limited", s.rate_limited);
    U("interlocked", s.interlocked);
    U("expired", s.expired);
    U("safe_stated", s.safe_stated);
    U("sink_errors", s.sink_errors);
    U("unconfirmed", s.unconfirmed);
    U("refused", s.refused);
    ju(f, "events_lost", s.events_lost);
    fprintf(f, "},\"safe_entries\":%llu,\"safe_state\":%s,", (unsigned long long)s.safe_entries,
            s.safe_state ? "true" : "false");
    jnum(f, "safe_time_s", dt_time_to_sec(s.safe_time));
    fputc(',', f);
    jnum(f, "safe_share", cli_safe_share(t, r->t_end_s));
    fputc(',', f);
    jnum(f, "belief_age_s", s.belief_age_s);
    fputc(',', f);
    jnum(f, "tau_max_s", s.tau_max_s);
    fputc(',', f);
    ju(f, "log_messages", r->log_messages);
    cli_json_signed(f, t);
#undef U
    if (dt_twin_child_count(t) > 0) { /* a composite's children */
        fprintf(f, ",\"children\":[");
        for (size_t k = 0; k < dt_twin_child_count(t); k++) {
            dt_twin *ch = dt_twin_child(t, k);
            dt_twin_stats cs;
            dt_twin_stats_get(ch, &cs);
            tally cc;
            count(ch, &cs, &cc);
            fprintf(f, "%s{\"id\":", k ? "," : "");
            jstr(f, dt_twin_child_id(t, k));
            fprintf(f, ",\"cycles\":%llu,\"samples_applied\":%llu,\"lost_or_refused\":%llu,",
                    (unsigned long long)cs.cycles,
                    (unsigned long long)(dt_twin_estimator(ch) ? cc.applied : cc.delivered),
                    (unsigned long long)cli_data_lost(ch));
            jnum(f, "belief_age_s", cs.belief_age_s);
            fputc('}', f);
        }
        fputc(']', f);
    }
    fprintf(f, "}\n");
}
