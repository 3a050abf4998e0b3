#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

#ifndef DTT_BINARY_DIR
#define DTT_BINARY_DIR "."
#endif

#define MODEL_HEAD                                                                            \
    "{\"dtwin\":1,\"name\":\"io\",\"assets\":[{\"id\":\"p\"}],\"signals\":["                  \
    "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"      \
    "\"measured\"},"                                                                          \
    "{\"id\":\"temp\",\"asset\":\"p\",\"quantity\":\"temperature\",\"unit\":\"K\",\"role\":"  \
    "\"measured\"},"                                                                          \
    "{\"id\":\"speed\",\"asset\":\"p\",\"quantity\":\"angular_velocity\",\"unit\":\"rad/s\","  \
    "\"role\":\"commanded\"},"                                                                \
    "{\"id\":\"est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"        \
    "\"estimated\"}]"

typedef struct rig {
    dt_model *model;
    dt_ingest *ing;
    dt_registry *reg;
    dt_io *io;
    dt_diag diag;
    int rc;
} rig;

typedef struct logcap {
    int n;
    char first[256];
} logcap;

static void capture_log(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)level, (void)module;
    logcap *c = user;
    if (c->n++ == 0)
        snprintf(c->first, sizeof c->first, "%s", msg);
}

static const dt_logger *rig_logger = NULL;

static void rig_open(rig *r, const char *doc, const dt_allocator *a)
{
    memset(r, 0, sizeof *r);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = a;
    int rc = dt_model_load_json(doc, strlen(doc), &o, &r->model, &r->diag);
    if (rc)
        print_error("model: %s\n", r->diag.message);
    assert_int_equal(rc, 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    ic.allocator = a;
    assert_int_equal(dt_ingest_create(r->model, &ic, &r->ing), 0);
    assert_int_equal(dt_registry_create(a, &r->reg), 0);
    r->rc = dt_io_create(r->model, r->ing, r->reg, DTT_BINARY_DIR, a,
                         rig_logger ? rig_logger : dt_logger_silent(), &r->io, &r->diag);
}

static void rig_close(rig *r)
{
    dt_io_destroy(r->io);
    dt_registry_destroy(r->reg);
    dt_ingest_destroy(r->ing);
    dt_model_destroy(r->model);
}

/* ---- registry ---- */

static int nop_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    return 0;
}

static void test_registry_checks_abi(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_non_null(dt_registry_source(reg, "csv"));
    assert_non_null(dt_registry_source(reg, "udp"));
    assert_non_null(dt_registry_source(reg, "memory"));
    assert_non_null(dt_registry_sink(reg, "csvlog"));
    assert_non_null(dt_registry_source(reg, "mqtt"));
    assert_null(dt_registry_source(reg, "opcua"));
    dt_source_ops future = {.abi = DT_SOURCE_ABI + 1, .kind = "future", .open = nop_open};
    assert_int_equal(dt_registry_add_source(reg, &future), DT_EABI);
    dt_source_ops dup = {.abi = DT_SOURCE_ABI, .kind = "csv", .open = nop_open};
    assert_int_equal(dt_registry_add_source(reg, &dup), DT_EEXIST);
    dt_source_ops noopen = {.abi = DT_SOURCE_ABI, .kind = "x"};
    assert_int_equal(dt_registry_add_source(reg, &noopen), DT_EINVAL);
    dt_source_ops fine = {.abi = DT_SOURCE_ABI, .kind = "fine", .open = nop_open};
    assert_int_equal(dt_registry_add_source(reg, &fine), 0);
    assert_true(dt_registry_source(reg, "fine")->open == nop_open); /* a copy */
    dt_sink_ops noapply = {.abi = DT_SINK_ABI, .kind = "y"};
    assert_int_equal(dt_registry_add_sink(reg, &noapply), DT_EINVAL);
    dt_registry_destroy(reg);
}

/* ---- memory adapters, mapping and unit conversion ---- */

static const char mem_doc[] = MODEL_HEAD
    ",\"sources\":[{\"id\":\"hmi\",\"kind\":\"memory\",\"timeout\":5,\"mapping\":["
    "{\"native\":\"LVL_mm\",\"signal\":\"level\",\"unit\":\"mm\"},"
    "{\"native\":\"T_degC\",\"signal\":\"temp\",\"unit\":\"degC\"},"
    "{\"native\":\"RAW\",\"signal\":\"level\",\"unit\":\"cm\",\"scale\":0.5,\"offset\":10}]}],"
    "\"sinks\":[{\"id\":\"drive\",\"kind\":\"memory\",\"capacity\":2,\"mapping\":["
    "{\"native\":\"SPD\",\"signal\":\"speed\",\"unit\":\"rpm\"}]}]}";

static void test_memory_source_and_sink(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator a = dtt_allocator(&c);
    rig r;
    rig_open(&r, mem_doc, &a);
    if (r.rc)
        print_error("%s\n", r.diag.message);
    assert_int_equal(r.rc, 0);
    assert_int_equal(dt_io_source_count(r.io), 1);
    assert_int_equal(dt_ingest_source_count(r.ing), 1);
    assert_int_equal(dt_ingest_start(r.ing, 0), 0);
    long calls = c.calls;

    assert_int_equal(dt_memory_source_push(r.io, 0, "LVL_mm", 1000, 1234.0), 0);
    assert_int_equal(dt_memory_source_push(r.io, 0, "T_degC", 2000, 25.0), 0);
    assert_int_equal(dt_memory_source_push(r.io, 0, "RAW", 3000, 100.0), 0);
    assert_int_equal(dt_memory_source_push(r.io, 0, "NOPE", 3000, 1.0), DT_ENOTFOUND);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_UNMAPPED), 1);
    assert_int_equal(dt_io_poll(r.io, 10000), 0);
    assert_int_equal(dt_ingest_poll(r.ing, dt_time_from_sec(6)), 0); /* stale: release all */
    dt_sample out[8];
    assert_int_equal(dt_ingest_release(r.ing, out, 8), 3);
    assert_close(out[0].value, 1.234, 1e-15, 0);  /* mm -> m */
    assert_close(out[1].value, 298.15, 1e-15, 0); /* degC -> K */
    assert_close(out[2].value, 0.6, 1e-15, 0);    /* (100 * 0.5 + 10) cm -> m */

    /* Sink: rad/s -> rpm; capacity 2, then DT_EFULL counted. */
    dt_signal_id spd;
    assert_int_equal(dt_model_find_signal(r.model, "speed", &spd), 0);
    dt_command cmd = {.signal = spd, .seq = 1, .t_issued = 100, .t_deadline = 200, .value = 10.0 * 3.14159265358979323846};
    assert_int_equal(dt_io_apply(r.io, &cmd), 0);
    cmd.seq = 2;
    assert_int_equal(dt_io_apply(r.io, &cmd), 0);
    cmd.seq = 3;
    assert_int_equal(dt_io_apply(r.io, &cmd), DT_EFULL);
    dt_sink_stats ss;
    assert_int_equal(dt_io_sink_stats(r.io, 0, &ss), 0);
    assert_int_equal(ss.applied, 3);
    assert_int_equal(ss.errors, 1);
    dt_command got[4];
    assert_int_equal(dt_memory_sink_read(r.io, 0, got, 4), 2);
    assert_close(got[0].value, 300.0, 1e-12, 0); /* 10 pi rad/s = 300 rpm */
    assert_int_equal(got[1].seq, 2);
    /* A signal no sink maps. */
    dt_command other = cmd;
    other.signal = 0;
    assert_int_equal(dt_io_apply(r.io, &other), DT_ENOTFOUND);
    assert_int_equal(c.calls, calls); /* nothing allocated after start */
    rig_close(&r);
    assert_int_equal(c.live, 0);
}

/* ---- description errors ---- */

typedef struct bad_io {
    const char *tail;
    int code;
    const char *message;
} bad_io;

static const bad_io bad_ios[] = {
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"opcua\"}]}", DT_ENOTFOUND,
     "sources[0].kind: no source adapter of kind \"opcua\" (registered: memory, csv, udp, sim, "
     "child, twin, mqtt; a host program registers its own with dt_registry_add_source)"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"colour\":1}]}", DT_EPARSE,
     "sources[0].colour: unknown key \"colour\""},
    {",\"sources\":[{\"kind\":\"memory\"}]}", DT_EPARSE, "sources[0].id: missing (required string)"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\"},{\"id\":\"s\",\"kind\":\"memory\"}]}",
     DT_EPARSE, "sources[1].id: duplicate source id \"s\""},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"a\",\"signal\":\"zz\"}]}]}",
     DT_EPARSE, "sources[0].mapping[0].signal: unknown signal \"zz\""},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"a\",\"signal\":\"est\"}]}]}",
     DT_EPARSE,
     "sources[0].mapping[0].signal: signal \"est\" is estimated; a source maps measured or parameter signals"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"a\",\"signal\":\"level\",\"unit\":\"kg\"}]}]}",
     DT_EUNIT, "sources[0].mapping[0].unit: unit \"kg\" does not convert to the signal's \"m\""},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"a\",\"signal\":\"level\"},{\"native\":\"a\",\"signal\":\"temp\"}]}]}",
     DT_EPARSE, "sources[0].mapping[1]: native name \"a\" mapped twice"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"ring\":1000}]}", DT_EPARSE,
     "sources[0].ring: must be a power of two in 2..16777216, got 1000"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"overflow\":\"drop_all\"}]}", DT_EPARSE,
     "sources[0].overflow: \"drop_all\" is not drop_newest or drop_oldest"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"clock\":{\"mode\":\"guess\"}}]}", DT_EPARSE,
     "sources[0].clock: mode \"guess\" is not fixed or estimate"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"csv\",\"file\":\"/nonexistent/x.csv\"}]}", DT_EIO,
     "sources[0]: file: cannot open /nonexistent/x.csv: No such file or directory"},
    {",\"sources\":[{\"id\":\"s\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0}]}", DT_EINVAL,
     "sources[0]: source_id: required, an integer in 1..4294967295"},
    {",\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"level\"}]}]}", DT_EPARSE,
     "sinks[0].mapping[0].signal: signal \"level\" is measured; a sink maps commanded signals"},
    {",\"sinks\":[{\"id\":\"k\",\"kind\":\"udp\",\"auth\":\"none\",\"source_id\":3,\"port\":9,\"mapping\":[{\"signal\":\"speed\"}]}]}",
     DT_EINVAL, "sinks[0]: mapping[0]: a udp sink maps signals to channels"},
    {",\"sinks\":[{\"id\":\"k\",\"kind\":\"csvlog\"}]}", DT_EINVAL,
     "sinks[0]: file: missing (required string)"},
};

static void test_description_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_ios / sizeof bad_ios[0]; i++) {
        char doc[2048];
        snprintf(doc, sizeof doc, "%s%s", MODEL_HEAD, bad_ios[i].tail);
        dtt_counter c = {0};
        dt_allocator a = dtt_allocator(&c);
        rig r;
        rig_open(&r, doc, &a);
        if (r.rc != bad_ios[i].code || strcmp(r.diag.message, bad_ios[i].message) != 0)
            print_error("case %zu: got %s \"%s\"\n", i, dt_err_name(r.rc), r.diag.message);
        assert_int_equal(r.rc, bad_ios[i].code);
        assert_string_equal(r.diag.message, bad_ios[i].message);
        assert_null(r.io);
        rig_close(&r);
        assert_int_equal(c.live, 0);
    }
}

/* ---- CSV replay ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_csv_replay(void **state)
{
    (void)state;
    char long_line[300];
    memset(long_line, '9', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    char csv[2048];
    snprintf(csv, sizeof csv,
             "time, level_mm ,\"temp C\",ignored\r\n"
             "0.0,1000,20,x\r\n"
             "0.1,1100,,x\n"          /* empty temp cell: only level */
             "0.2,abc,20,x\n"         /* line 4: not a number */
             "0.3,1200,20\n"          /* line 5: 3 fields */
             "\n"                     /* line 6: empty */
             "zz,1300,20,x\n"         /* line 7: bad time */
             "%s\n"                   /* line 8: too long */
             "0.5,\"1,5\",20,x\n"     /* line 9: quoted comma: not a number */
             "0.6,1600,21,\"a \"\"q\"\"\"\n"
             "0.55,1550,21,x",        /* reordered, no final newline */
             long_line);
    write_file(DTT_BINARY_DIR "/replay.csv", csv);
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"log\",\"kind\":\"csv\",\"file\":\"replay.csv\",\"max_line\":200,"
        "\"batch\":3,\"timeout\":100,\"mapping\":["
        "{\"native\":\"level_mm\",\"signal\":\"level\",\"unit\":\"mm\"},"
        "{\"native\":\"temp C\",\"signal\":\"temp\",\"unit\":\"degC\"}]}]}";
    logcap cap = {0};
    dt_logger lg = {capture_log, &cap, DT_LOG_WARN};
    rig_logger = &lg;
    dtt_counter ctr = {0};
    dt_allocator al = dtt_allocator(&ctr);
    rig r;
    rig_open(&r, doc, &al);
    rig_logger = NULL;
    if (r.rc)
        print_error("%s\n", r.diag.message);
    assert_int_equal(r.rc, 0);
    dt_ingest_start(r.ing, 0);
    long calls = ctr.calls;
    /* fast pace: nothing is due before its time */
    dt_io_poll(r.io, dt_time_from_sec(-1));
    assert_int_equal(dt_ring_size(dt_ingest_ring(r.ing, 0)), 0);
    int polls = 0;
    while (dt_io_source_events(r.io, 0, DT_EV_END) == 0 && polls < 100) {
        dt_io_poll(r.io, 1000 * DT_NS_PER_S); /* every row is due */
        polls++;
    }
    assert_true(polls >= 2); /* batch 3 rows per poll */
    assert_int_equal(ctr.calls, calls); /* reading the file allocated nothing */
    /* Each malformed row is reported with its line number. */
    assert_int_equal(cap.n, 6);
    assert_non_null(strstr(cap.first, "replay.csv:4: malformed row: column 2 is not a number"));
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_MALFORMED), 6);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_REORDERED), 1);
    dt_ingest_poll(r.ing, dt_time_from_sec(1000));
    dt_sample out[32];
    size_t n = dt_ingest_release(r.ing, out, 32);
    /* rows 0.0 (2), 0.1 (1), 0.55 (2), 0.6 (2) */
    assert_int_equal(n, 7);
    assert_close(out[0].value, 1.0, 1e-15, 0);
    assert_close(out[1].value, 293.15, 1e-12, 0);
    assert_true(out[2].t_source == dt_time_from_sec(0.1));
    assert_true(out[3].t_source == dt_time_from_sec(0.55));
    assert_close(out[6].value, 294.15, 1e-12, 0);
    rig_close(&r);
    assert_int_equal(ctr.live, 0);
}

static void test_csv_iso_time_and_realtime_pace(void **state)
{
    (void)state;
    write_file(DTT_BINARY_DIR "/iso.csv",
               "stamp;level\n"
               "2026-11-24T10:21:43Z;1\n"
               "2026-11-24T10:21:43.5Z;2\n"
               "2026-11-24 11:21:44+01:00;3\n"
               "2000-02-29T23:59:59.000000001Z;4\n"
               "2001-02-29T00:00:00Z;5\n");
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"iso\",\"kind\":\"csv\",\"file\":\"iso.csv\",\"delimiter\":\";\","
        "\"time_column\":\"stamp\",\"time_format\":\"iso8601\",\"pace\":\"realtime\","
        "\"timeout\":86400,\"mapping\":[{\"native\":\"level\",\"signal\":\"level\"}]}]}";
    rig r;
    rig_open(&r, doc, NULL);
    if (r.rc)
        print_error("%s\n", r.diag.message);
    assert_int_equal(r.rc, 0);
    dt_ingest_start(r.ing, 0);
    dt_ring *ring = dt_ingest_ring(r.ing, 0);
    dt_time t0 = 5 * DT_NS_PER_S;
    dt_io_poll(r.io, t0); /* first row is due at once */
    assert_int_equal(dt_ring_size(ring), 1);
    dt_io_poll(r.io, t0 + 400 * DT_NS_PER_MS);
    assert_int_equal(dt_ring_size(ring), 1); /* the 0.5 s row is not due yet */
    dt_io_poll(r.io, t0 + 500 * DT_NS_PER_MS);
    assert_int_equal(dt_ring_size(ring), 2);
    /* +01:00 zone: the same instant + 1 s; the 2000 row lies in the past, so
     * it is due at once too. */
    dt_io_poll(r.io, t0 + 1000 * DT_NS_PER_MS);
    assert_int_equal(dt_ring_size(ring), 4);
    dt_sample s[4];
    assert_int_equal(dt_ring_drain(ring, s, 4), 4);
    assert_true(s[0].t_source == INT64_C(1795515703) * DT_NS_PER_S);
    assert_true(s[1].t_source == INT64_C(1795515703) * DT_NS_PER_S + 500 * DT_NS_PER_MS);
    assert_true(s[2].t_source == INT64_C(1795515704) * DT_NS_PER_S);
    assert_true(s[3].t_source == INT64_C(951868799) * DT_NS_PER_S + 1);
    /* 2001-02-29 does not exist: malformed. */
    dt_io_poll(r.io, t0 + 3000 * DT_NS_PER_MS);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_MALFORMED), 1);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_REORDERED), 1);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_END), 1);
    rig_close(&r);
}

static void test_csv_missing_column_is_an_error(void **state)
{
    (void)state;
    write_file(DTT_BINARY_DIR "/cols.csv", "time,a\n0,1\n");
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"cols.csv\",\"mapping\":["
        "{\"native\":\"lvl\",\"signal\":\"level\"}]}]}";
    rig r;
    rig_open(&r, doc, NULL);
    assert_int_equal(r.rc, DT_EPARSE);
    assert_non_null(strstr(r.diag.message,
                           "sources[0]: mapping[0].native: column \"lvl\" is not in the header"));
    rig_close(&r);
}

/* ---- hostile CSV files ----
 * Each file is replayed into the source's ring (read directly, so these
 * tests check the adapter alone, whatever ingest does with the times). */

#define CSVRUN_LOGS 16

typedef struct csvrun {
    int rc;                /* dt_io_create */
    char err[320];         /* its message */
    uint64_t malformed, reordered, end;
    size_t n;              /* samples in the ring */
    dt_sample s[64];
    int n_logs;            /* warnings, each kept */
    char logs[CSVRUN_LOGS][160];
} csvrun;

static void capture_all(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)module;
    csvrun *r = user;
    if (level == DT_LOG_WARN && r->n_logs < CSVRUN_LOGS)
        snprintf(r->logs[r->n_logs++], sizeof r->logs[0], "%s", msg);
}

/* Writes len bytes to DTT_BINARY_DIR/name and replays them through a csv
 * source (time column "t"; opts: more source members, each ending in a
 * comma; mapping: the mapping array, NULL for level_mm -> level in mm),
 * polling at now0, now0 + step, ... (step >= 0, at most DT_TIME_LIMIT) until
 * the end of the data. */
static void csv_run(csvrun *out, const char *name, const void *bytes, size_t len,
                    const char *opts, const char *mapping, dt_time now0, dt_time step)
{
    memset(out, 0, sizeof *out);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", DTT_BINARY_DIR, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    char doc[8192];
    snprintf(doc, sizeof doc,
             MODEL_HEAD ",\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"%s\","
                        "\"time_column\":\"t\",\"ring\":64,%s\"mapping\":%s}]}",
             name, opts, mapping ? mapping : "[{\"native\":\"level_mm\",\"signal\":\"level\","
                                             "\"unit\":\"mm\"}]");
    dt_logger lg = {capture_all, out, DT_LOG_WARN};
    rig_logger = &lg;
    rig r;
    rig_open(&r, doc, NULL);
    rig_logger = NULL;
    out->rc = r.rc;
    snprintf(out->err, sizeof out->err, "%s", r.rc ? r.diag.message : "");
    if (r.rc == 0) {
        assert_int_equal(dt_ingest_start(r.ing, now0), 0);
        dt_time now = now0;
        for (int k = 0; k < 1000 && dt_io_source_events(r.io, 0, DT_EV_END) == 0; k++) {
            assert_int_equal(dt_io_poll(r.io, now), 0);
            now = now > DT_TIME_LIMIT - step ? DT_TIME_LIMIT : now + step;
        }
        out->malformed = dt_io_source_events(r.io, 0, DT_EV_MALFORMED);
        out->reordered = dt_io_source_events(r.io, 0, DT_EV_REORDERED);
        out->end = dt_io_source_events(r.io, 0, DT_EV_END);
        out->n = dt_ring_drain(dt_ingest_ring(r.ing, 0), out->s, 64);
    }
    rig_close(&r);
}

#define csv_run_text(out, name, text, opts, now0, step)                                      \
    csv_run((out), (name), (text), sizeof(text) - 1, (opts), NULL, (now0), (step))

/* The index of the first kept warning containing what, or -1. */
static int csv_log_find(const csvrun *r, const char *what)
{
    for (int i = 0; i < r->n_logs; i++)
        if (strstr(r->logs[i], what) != NULL)
            return i;
    return -1;
}

static void assert_logged(const csvrun *r, const char *what)
{
    if (csv_log_find(r, what) < 0) {
        print_error("no warning contains \"%s\"; %d warnings:\n", what, r->n_logs);
        for (int i = 0; i < r->n_logs; i++)
            print_error("  %s\n", r->logs[i]);
        fail();
    }
}

/* Found by fuzz_csv: a row dated 1700 after rows from 2033 made the rebase
 * arithmetic (origin_now + (row_t - origin_row)) overflow int64. */
static void test_csv_rebase_far_apart_rows_are_malformed(void **state)
{
    (void)state;
    csvrun r;
    csv_run_text(&r, "hostile_rebase.csv",
                 "t,level_mm\n"
                 "2033-05-18T03:33:20Z,1\n"
                 "2033-05-18T03:33:21Z,2\n"
                 "1700-01-01T00:00:00Z,3\n" /* line 4: 1.05e10 s before the first row */
                 "2033-05-18T03:33:22Z,4\n",
                 "\"rebase\":true,", 0, DT_NS_PER_S);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 1);
    assert_logged(&r, "hostile_rebase.csv:4: malformed row: time too far from the first row "
                      "to rebase");
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(r.s[i].t_source == i * DT_NS_PER_S); /* rebased to the first poll */
        assert_close(r.s[i].value, (i == 2 ? 4 : i + 1) * 1e-3, 1e-12, 0);
    }
    /* The first poll near the end of the range: the rebased time passes
     * DT_TIME_LIMIT (line 4) or int64 itself (line 5). */
    csv_run_text(&r, "hostile_rebase_sum.csv",
                 "t,level_mm\n0,1\n1,2\n10,3\n9223372036,4\n2,5\n", "\"rebase\":true,",
                 DT_TIME_LIMIT - 5 * DT_NS_PER_S, DT_NS_PER_S);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 2);
    assert_logged(&r, "hostile_rebase_sum.csv:4: malformed row: time too far from the first "
                      "row to rebase");
    assert_logged(&r, "hostile_rebase_sum.csv:5: malformed row: time too far from the first "
                      "row to rebase");
    assert_int_equal(r.n, 3);
    assert_true(r.s[2].t_source == DT_TIME_LIMIT - 3 * DT_NS_PER_S);
}

/* Realtime pacing compared now - origin_now with row_t - origin_row: both
 * overflowed for rows ~9.4e9 s apart. */
static void test_csv_realtime_far_apart_rows_are_malformed(void **state)
{
    (void)state;
    csvrun r;
    /* rebased, rows may lie anywhere in dt_time: their difference overflows */
    csv_run_text(&r, "hostile_realtime.csv",
                 "t,level_mm\n"
                 "-4700000000,1\n"
                 "-4699999999,2\n"
                 "4700000000,3\n" /* line 4: 9.4e9 s after the first row */
                 "-4699999998,4\n",
                 "\"pace\":\"realtime\",\"rebase\":true,", 0, DT_NS_PER_S);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 1);
    assert_logged(&r, "hostile_realtime.csv:4: malformed row: time too far from the first "
                      "row to rebase");
    assert_int_equal(r.n, 3);
    assert_true(r.s[2].t_source == 2 * DT_NS_PER_S);
    /* not rebased: within DT_TIME_LIMIT, but 9.2e9 s after the first row */
    csv_run_text(&r, "hostile_realtime2.csv",
                 "t,level_mm\n"
                 "-4600000000,1\n"
                 "-4599999999,2\n"
                 "4600000000,3\n"
                 "-4599999998,4\n",
                 "\"pace\":\"realtime\",", 0, DT_NS_PER_S);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 1);
    assert_logged(&r, "hostile_realtime2.csv:4: malformed row: time too far from the first "
                      "row to pace");
    assert_int_equal(r.n, 3);
    assert_true(r.s[2].t_source == INT64_C(-4599999998) * DT_NS_PER_S);
    /* The host's time near the end of the range: the due time is not. */
    csv_run_text(&r, "hostile_realtime_sum.csv",
                 "t,level_mm\n0,1\n1,2\n10,3\n4611686018,4\n2,5\n", "\"pace\":\"realtime\",",
                 DT_TIME_LIMIT - 5 * DT_NS_PER_S, DT_NS_PER_S);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 2);
    assert_logged(&r, "hostile_realtime_sum.csv:5: malformed row: time too far from the "
                      "first row to pace");
    assert_int_equal(r.n, 3);
}

/* Times from the file are checked to the nanosecond against dt_time
 * (DT_TIME_MIN/MAX, the core's "no data"/"never", are refused too), and the
 * time a row is emitted at against DT_TIME_LIMIT, the range ingest takes. */
static void test_csv_time_range_is_exact(void **state)
{
    (void)state;
    csvrun r;
    /* rebased, any dt_time is usable: only differences count */
    csv_run_text(&r, "hostile_range_max.csv",
                 "t,level_mm\n"
                 "2262-04-11T23:47:16.854775806Z,1\n" /* DT_TIME_MAX - 1 */
                 "2262-04-11T23:47:16.854775807Z,2\n" /* DT_TIME_MAX */
                 "2262-04-11T23:47:16.854775808Z,3\n"
                 "2262-04-12T00:00:00Z,4\n"
                 "9223372037,5\n"
                 "1e999,6\n"
                 "nan,7\n"
                 "2262-04-11T23:47:17.5Z,8\n"
                 "2262-04-11T23:47:15.854775806Z,9\n",
                 "\"rebase\":true,", 0, DT_NS_PER_S);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 7);
    for (int line = 3; line <= 7; line++) {
        char what[96];
        snprintf(what, sizeof what, "hostile_range_max.csv:%d: malformed row: time out of range",
                 line);
        assert_logged(&r, what);
    }
    assert_logged(&r, "hostile_range_max.csv:8: malformed row: unreadable time");
    assert_logged(&r, "hostile_range_max.csv:9: malformed row: time out of range");
    assert_int_equal(r.n, 2);
    assert_true(r.s[0].t_source == 0);
    assert_true(r.s[1].t_source == -DT_NS_PER_S);
    csv_run_text(&r, "hostile_range_min.csv",
                 "t,level_mm\n"
                 "1677-09-21T00:12:43.145224193Z,1\n" /* DT_TIME_MIN + 1 */
                 "1677-09-21T00:12:43.145224192Z,2\n" /* DT_TIME_MIN */
                 "1677-09-21T00:00:00Z,3\n"
                 "-9223372036.854775808,4\n" /* DT_TIME_MIN exactly as a double */
                 "1677-09-21T00:12:44.145224193Z,5\n",
                 "\"rebase\":true,", 0, DT_NS_PER_S);
    assert_int_equal(r.malformed, 3);
    assert_logged(&r, "hostile_range_min.csv:3: malformed row: time out of range");
    assert_logged(&r, "hostile_range_min.csv:4: malformed row: time out of range");
    assert_logged(&r, "hostile_range_min.csv:5: malformed row: time out of range");
    assert_int_equal(r.n, 2);
    assert_true(r.s[1].t_source == DT_NS_PER_S);
    /* not rebased: the times themselves must be within DT_TIME_LIMIT */
    csv_run_text(&r, "hostile_range_limit.csv",
                 "t,level_mm\n"
                 "1969-12-31T23:59:59.5Z,1\n"
                 "2116-02-20T23:53:38.427387903Z,2\n" /* DT_TIME_LIMIT */
                 "2116-02-20T23:53:38.427387904Z,3\n"
                 "1823-11-12T00:06:21.572612097Z,4\n" /* -DT_TIME_LIMIT */
                 "1823-11-12T00:06:21.572612096Z,5\n"
                 "1700-01-01T00:00:00Z,6\n"
                 "-4611686018.5,7\n",
                 "", DT_TIME_LIMIT, 0);
    assert_int_equal(r.malformed, 4);
    assert_logged(&r, "hostile_range_limit.csv:4: malformed row: time out of range");
    assert_logged(&r, "hostile_range_limit.csv:6: malformed row: time out of range");
    assert_logged(&r, "hostile_range_limit.csv:7: malformed row: time out of range");
    assert_logged(&r, "hostile_range_limit.csv:8: malformed row: time out of range");
    assert_int_equal(r.n, 3);
    assert_true(r.s[0].t_source == -DT_NS_PER_S / 2);
    assert_true(r.s[1].t_source == DT_TIME_LIMIT);
    assert_true(r.s[2].t_source == -DT_TIME_LIMIT);
}

/* The host's now is the origin of rebased and paced times: one outside
 * DT_TIME_LIMIT is refused like ingest refuses it, and reads no row. */
static void test_csv_poll_refuses_now_out_of_range(void **state)
{
    (void)state;
    write_file(DTT_BINARY_DIR "/hostile_now.csv", "t,level_mm\n0,1\n1,2\n");
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"hostile_now.csv\","
        "\"time_column\":\"t\",\"rebase\":true,\"mapping\":[{\"native\":\"level_mm\","
        "\"signal\":\"level\",\"unit\":\"mm\"}]}]}";
    rig r;
    rig_open(&r, doc, NULL);
    assert_int_equal(r.rc, 0);
    dt_ring *ring = dt_ingest_ring(r.ing, 0);
    assert_int_equal(dt_io_poll(r.io, DT_TIME_MAX), DT_ERANGE);
    assert_int_equal(dt_io_poll(r.io, -DT_TIME_LIMIT - 1), DT_ERANGE);
    assert_int_equal(dt_ring_size(ring), 0);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_MALFORMED), 0);
    assert_int_equal(dt_io_poll(r.io, DT_TIME_LIMIT - DT_NS_PER_S), 0);
    assert_int_equal(dt_ring_size(ring), 1);
    assert_int_equal(dt_io_poll(r.io, DT_TIME_LIMIT), 0);
    assert_int_equal(dt_ring_size(ring), 2);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_END), 1);
    rig_close(&r);
}

/* fgets stopped at a NUL: the rest of the row was taken for an over-long
 * line and swallowed the next row; in a last row the NUL cut it short. */
static void test_csv_nul_byte_is_a_malformed_row(void **state)
{
    (void)state;
    static const char text[] = "t,level_mm\n"
                               "0,1\n"
                               "0.1,2\0junk\n" /* line 3 */
                               "0.2,3\n"
                               "0.3,4\0"; /* line 5, no newline */
    csvrun r;
    csv_run(&r, "hostile_nul.csv", text, sizeof text - 1, "", NULL, DT_TIME_LIMIT, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 2);
    assert_logged(&r, "hostile_nul.csv:3: malformed row: NUL byte");
    assert_logged(&r, "hostile_nul.csv:5: malformed row: NUL byte");
    assert_int_equal(csv_log_find(&r, "too long"), -1);
    assert_int_equal(r.n, 2);
    assert_true(r.s[1].t_source == 200 * DT_NS_PER_MS);
    assert_close(r.s[1].value, 3e-3, 1e-12, 0);
}

static void test_csv_bom_before_header_is_skipped(void **state)
{
    (void)state;
    csvrun r;
    csv_run_text(&r, "hostile_bom.csv", "\xEF\xBB\xBFt,level_mm\r\n0,1\r\n", "", DT_TIME_LIMIT,
                 0);
    if (r.rc)
        print_error("%s\n", r.err);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.malformed, 0);
    assert_int_equal(r.n, 1);
    /* only at the start of the file: elsewhere it is data */
    csv_run_text(&r, "hostile_bom2.csv", "t,level_mm\n\xEF\xBB\xBF" "0,1\n1,2\n", "", DT_TIME_LIMIT,
                 0);
    assert_int_equal(r.malformed, 1);
    assert_logged(&r, "hostile_bom2.csv:2: malformed row: unreadable time");
    assert_int_equal(r.n, 1);
}

/* max_line counts a line's content, not its "\n" or "\r\n". */
static void test_csv_max_line_counts_content_bytes(void **state)
{
    (void)state;
    csvrun r;
    csv_run_text(&r, "hostile_maxline.csv",
                 "t,level_mm\n"
                 "0.00000000000,10\r\n" /* 16 bytes + CRLF */
                 "0.10000000000,11\n"   /* 16 bytes + LF */
                 "0.2000000000000,1\r\n" /* line 4: 17 bytes */
                 "0.3,13\n"
                 "0.4000000000000,1\n"   /* line 6: 17 bytes */
                 "0.50000000000,15\r",  /* 16 bytes + CR, no LF */
                 "\"max_line\":16,", DT_TIME_LIMIT, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 2);
    assert_logged(&r, "hostile_maxline.csv:4: malformed row: line too long (more than 16 bytes)");
    assert_logged(&r, "hostile_maxline.csv:6: malformed row: line too long (more than 16 bytes)");
    assert_int_equal(r.n, 4);
    assert_close(r.s[0].value, 10e-3, 1e-12, 0);
    assert_close(r.s[1].value, 11e-3, 1e-12, 0);
    assert_close(r.s[2].value, 13e-3, 1e-12, 0);
    assert_close(r.s[3].value, 15e-3, 1e-12, 0);
}

/* Lines longer than the read buffer: each is one malformed row, and the row
 * after it is read from its first byte. */
static void test_csv_overlong_line_counted_once(void **state)
{
    (void)state;
    size_t cap = 400000;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "t,level_mm\n");
    memset(text + n, '7', 200000); /* line 2 */
    n += 200000;
    n += (size_t)snprintf(text + n, cap - n, "\n1,2\n");
    memset(text + n, '8', 100000); /* line 4, the last, no newline */
    n += 100000;
    csvrun r;
    csv_run(&r, "hostile_overlong.csv", text, n, "\"max_line\":16,", NULL, DT_TIME_LIMIT, 0);
    free(text);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 2);
    assert_int_equal(r.n_logs, 2);
    assert_logged(&r, "hostile_overlong.csv:2: malformed row: line too long");
    assert_logged(&r, "hostile_overlong.csv:4: malformed row: line too long");
    assert_int_equal(r.n, 1);
    assert_true(r.s[0].t_source == DT_NS_PER_S);
}

/* A last line without a newline is replayed exactly as with one. */
static void test_csv_last_line_without_newline(void **state)
{
    (void)state;
    static const char *const last[] = {
        "2,3", "2,3\r", "2,abc", "2,\"3", "2", "2,3\0x", "2,3,4", "2,333333333333333",
    };
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++) {
        char text[128];
        size_t len = (size_t)snprintf(text, sizeof text, "t,level_mm\n1,2\n");
        size_t l = strlen(last[i]) + (i == 5 ? 2 : 0); /* keep "\0x" */
        memcpy(text + len, last[i], l);
        len += l;
        csvrun a, b;
        csv_run(&a, "hostile_last_a.csv", text, len, "\"max_line\":16,", NULL, DT_TIME_LIMIT, 0);
        text[len] = '\n';
        csv_run(&b, "hostile_last_b.csv", text, len + 1, "\"max_line\":16,", NULL, DT_TIME_LIMIT,
                0);
        if (a.malformed != b.malformed || a.n != b.n)
            print_error("case %zu: without newline %llu malformed, %zu samples; with: %llu, "
                        "%zu\n",
                        i, (unsigned long long)a.malformed, a.n,
                        (unsigned long long)b.malformed, b.n);
        assert_int_equal(a.rc, 0);
        assert_int_equal(a.end, 1);
        assert_int_equal(a.malformed, b.malformed);
        assert_int_equal(a.malformed, i < 2 ? 0 : 1);
        assert_int_equal(a.n, b.n);
        for (size_t k = 0; k < a.n; k++) {
            assert_true(a.s[k].t_source == b.s[k].t_source);
            assert_true(a.s[k].value == b.s[k].value);
        }
    }
}

static void test_csv_empty_lines_are_malformed(void **state)
{
    (void)state;
    csvrun r;
    csv_run_text(&r, "hostile_empty.csv", "t,level_mm\n\n0,1\r\n\r\n\n1,2\n\n", "", DT_TIME_LIMIT,
                 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.malformed, 4);
    assert_logged(&r, "hostile_empty.csv:2: malformed row: empty line");
    assert_logged(&r, "hostile_empty.csv:7: malformed row: empty line");
    assert_int_equal(r.n, 2);
}

/* A header that cannot be used says why; the file is not opened. */
static void test_csv_header_errors_are_precise(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        const char *message;
    } cases[] = {
        {"", 0, "hostile_hdr.csv:1: missing header row (empty file)"},
        {"\n0,1\n", 5, "hostile_hdr.csv:1: header row is empty"},
        {"\r\n0,1\n", 6, "hostile_hdr.csv:1: header row is empty"},
        {"t,level\0_mm\n0,1\n", 16, "hostile_hdr.csv:1: header row has a NUL byte"},
        {"t,\"level_mm\n0,1\n", 16, "hostile_hdr.csv:1: header row has bad quoting"},
        {"t,level_mm,aaaaaaa\n0,1\n", 23,
         "hostile_hdr.csv:1: header row too long (more than 16 bytes; see max_line)"},
        {"\xEF\xBB\xBF", 3, "hostile_hdr.csv:1: missing header row (empty file)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        csvrun r;
        csv_run(&r, "hostile_hdr.csv", cases[i].text, cases[i].len, "\"max_line\":16,", NULL,
                DT_TIME_LIMIT, 0);
        if (r.rc != DT_EPARSE || strstr(r.err, cases[i].message) == NULL)
            print_error("case %zu: %s \"%s\"\n", i, dt_err_name(r.rc), r.err);
        assert_int_equal(r.rc, DT_EPARSE);
        assert_non_null(strstr(r.err, cases[i].message));
    }
    /* A file that opens but cannot be read (a directory) is not "empty". */
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\".\",\"mapping\":[]}]}";
    rig g;
    rig_open(&g, doc, NULL);
    assert_int_equal(g.rc, DT_EIO);
    assert_non_null(strstr(g.diag.message, "cannot read: Is a directory"));
    rig_close(&g);
}

/* The column limit is named, not reported as an unreadable header. */
static void test_csv_header_column_limit(void **state)
{
    (void)state;
    char *text = malloc(16384);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, 16384, "t,level_mm");
    for (int c = 2; c < 1024; c++)
        n += (size_t)snprintf(text + n, 16384 - n, ",c%d", c);
    size_t head = n; /* 1024 columns */
    n += (size_t)snprintf(text + n, 16384 - n, "\n0,1");
    for (int c = 2; c < 1024; c++)
        n += (size_t)snprintf(text + n, 16384 - n, ",");
    n += (size_t)snprintf(text + n, 16384 - n, "\n");
    csvrun r;
    csv_run(&r, "hostile_cols.csv", text, n, "\"max_line\":16384,", NULL, DT_TIME_LIMIT, 0);
    if (r.rc)
        print_error("%s\n", r.err);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.malformed, 0);
    assert_int_equal(r.n, 1);
    /* one more column */
    memmove(text + head + 4, text + head, n - head);
    memcpy(text + head, ",c99", 4);
    n += 4;
    csv_run(&r, "hostile_cols.csv", text, n, "\"max_line\":16384,", NULL, DT_TIME_LIMIT, 0);
    assert_int_equal(r.rc, DT_EPARSE);
    assert_non_null(strstr(r.err, "hostile_cols.csv:1: header has more than 1024 columns"));
    free(text);
}

/* A header of the time column alone: rows are read and counted, nothing is
 * emitted. */
static void test_csv_header_with_only_the_time_column(void **state)
{
    (void)state;
    csvrun r;
    static const char text[] = "t\n0\n1\n\n2,3\nx\n3";
    csv_run(&r, "hostile_timeonly.csv", text, sizeof text - 1, "", "[]", DT_TIME_LIMIT, 0);
    if (r.rc)
        print_error("%s\n", r.err);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.end, 1);
    assert_int_equal(r.malformed, 3);
    assert_logged(&r, "hostile_timeonly.csv:5: malformed row: 2 fields, the header has 1");
    assert_logged(&r, "hostile_timeonly.csv:6: malformed row: unreadable time");
    assert_int_equal(r.n, 0);
}

static void test_csvlog_sink(void **state)
{
    (void)state;
    static const char doc[] = MODEL_HEAD
        ",\"sinks\":[{\"id\":\"log\",\"kind\":\"csvlog\",\"file\":\"commands.csv\",\"flush_every\":1,"
        "\"mapping\":[{\"native\":\"SPD_rpm\",\"signal\":\"speed\",\"unit\":\"rpm\"}]}]}";
    rig r;
    rig_open(&r, doc, NULL);
    assert_int_equal(r.rc, 0);
    dt_signal_id spd, lvl;
    dt_model_find_signal(r.model, "speed", &spd);
    dt_model_find_signal(r.model, "level", &lvl);
    dt_command cmd = {.signal = spd, .seq = 7, .t_issued = DT_NS_PER_S, .t_deadline = 2 * DT_NS_PER_S, .value = 2 * 3.14159265358979323846};
    assert_int_equal(dt_io_apply(r.io, &cmd), 0);
    assert_int_equal(dt_csvlog_estimate(r.io, 0, DT_NS_PER_S / 2, lvl, 1.5, 0.25), 0);
    assert_int_equal(dt_csvlog_estimate(r.io, 7, 0, lvl, 1.5, 0.25), DT_EINVAL);
    dt_io_destroy(r.io);
    r.io = NULL;
    FILE *f = fopen(DTT_BINARY_DIR "/commands.csv", "rb");
    assert_non_null(f);
    char text[1024];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    assert_string_equal(text,
                        "time_s,kind,signal,native,value,variance,seq,deadline_s\n"
                        "1.000000000,command,speed,SPD_rpm,60,,7,2.000000000\n"
                        "0.500000000,estimate,level,,1.5,0.25,,\n");
    rig_close(&r);
}

/* ---- UDP over loopback ---- */

static int sock;
static struct sockaddr_in dest;

static void send_raw(const uint8_t *p, size_t n)
{
    assert_true(sendto(sock, p, n, 0, (struct sockaddr *)&dest, sizeof dest) == (ssize_t)n);
}

static size_t frame(uint8_t *buf, uint32_t src, uint32_t seq, uint32_t channel, double v)
{
    dt_wire_sample r = {channel, 0, (int64_t)seq * DT_NS_PER_MS, v, 0};
    return dt_wire_encode_samples(buf, 65536, src, seq, &r, 1);
}

static void refresh_crc(uint8_t *buf, size_t len)
{
    uint32_t c = dt_wire_crc32(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static void test_udp_source_counts_every_kind(void **state)
{
    (void)state;
    static const char doc[] = MODEL_HEAD
        ",\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"bind\":\"127.0.0.1\",\"port\":0,"
        "\"source_id\":42,\"max_count\":8,\"timeout\":100,\"ring\":4096,\"mapping\":["
        "{\"channel\":1,\"signal\":\"level\",\"unit\":\"mm\"},{\"channel\":2,\"signal\":\"temp\"}]}]}";
    rig r;
    rig_open(&r, doc, NULL);
    if (r.rc)
        print_error("%s\n", r.diag.message);
    assert_int_equal(r.rc, 0);
    dt_ingest_start(r.ing, 0);
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r.io, 0, &st), 0);
    assert_true(st.port != 0);
    sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(sock >= 0);
    memset(&dest, 0, sizeof dest);
    dest.sin_family = AF_INET;
    dest.sin_port = htons(st.port);
    dest.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    static uint8_t b[70000];
    size_t n;
    /* good frames: seq 1, 2; then 5 (3 and 4 lost), 4 (reordered, no longer lost),
     * 5 again (duplicate), 2 again (duplicate within the window) */
    const uint32_t seqs[] = {1, 2, 5, 4, 5, 2};
    for (size_t i = 0; i < 6; i++)
        send_raw(b, frame(b, 42, seqs[i], 1, 1000.0 + seqs[i]));
    /* malformed kinds */
    n = frame(b, 42, 10, 1, 1);
    send_raw(b, 10);                                      /* 1 short */
    b[0] ^= 0xFF; send_raw(b, n); b[0] ^= 0xFF;           /* 2 magic */
    b[4] = 9; refresh_crc(b, n); send_raw(b, n);          /* 3 version */
    n = frame(b, 42, 10, 1, 1);
    b[5] = 7; refresh_crc(b, n); send_raw(b, n);          /* 4 type */
    n = frame(b, 42, 10, 1, 1);
    b[6] = 1; refresh_crc(b, n); send_raw(b, n);          /* 5 header flags */
    n = frame(b, 42, 10, 1, 1);
    b[18] = 1; refresh_crc(b, n); send_raw(b, n);         /* 6 reserved */
    n = frame(b, 42, 10, 1, 1);
    b[16] = 0; refresh_crc(b, n); send_raw(b, n);         /* 7 count 0 */
    n = frame(b, 42, 10, 1, 1);
    b[16] = 0xFF; b[17] = 0xFF; refresh_crc(b, n); send_raw(b, n); /* 8 count > protocol max */
    n = frame(b, 42, 10, 1, 1);
    b[16] = 2; refresh_crc(b, n); send_raw(b, n);         /* 9 truncated body */
    n = frame(b, 42, 10, 1, 1);
    b[n] = 0; refresh_crc(b, n + 1); send_raw(b, n + 1);  /* 10 trailing byte */
    n = frame(b, 42, 10, 1, 1);
    b[30] ^= 0x40; send_raw(b, n);                        /* 11 corrupt (CRC) */
    n = frame(b, 99, 10, 1, 1); send_raw(b, n);           /* 12 masquerade: other source id */
    {
        dt_wire_command c = {1, 0, 1, 0, 0, 1.0};
        n = dt_wire_encode_commands(b, sizeof b, 42, 11, &c, 1);
        send_raw(b, n);                                   /* 13 command frame to a source */
    }
    {
        dt_wire_sample rs[9];
        memset(rs, 0, sizeof rs);
        for (int i = 0; i < 9; i++)
            rs[i].channel = 1;
        n = dt_wire_encode_samples(b, sizeof b, 42, 12, rs, 9);
        send_raw(b, n);                                   /* 14 above max_count (8) */
    }
    {
        /* a good frame with one bad record (unknown flag), one unmapped channel,
         * one NaN (passes the adapter, rejected by ingest), one with variance */
        dt_wire_sample rs[4] = {{1, 0x80, 13000000, 1.0, 0},
                                {77, 0, 13000000, 1.0, 0},
                                {2, 0, 13000000, NAN, 0},
                                {1, DT_WIRE_F_VARIANCE, 13000000, 2000.0, 4.0}};
        n = dt_wire_encode_samples(b, sizeof b, 42, 13, rs, 4);
        send_raw(b, n);                                   /* 15, 16, 17 record-level */
    }
    /* 18: datagram larger than the adapter's buffer can hold is impossible
     * over IPv4 (65507 max); a 65507-byte frame with a bad length instead. */
    memset(b, 0, 65507);
    n = frame(b, 42, 14, 1, 1);
    send_raw(b, 65507);                                   /* 18 huge trailing */

    /* Let the kernel deliver; poll until everything arrived. */
    for (int k = 0; k < 200; k++) {
        dt_io_poll(r.io, 0);
        dt_udp_source_stats(r.io, 0, &st);
        if (st.datagrams >= 22)
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    close(sock);
    assert_int_equal(st.datagrams, 22);
    assert_int_equal(st.frames_ok, 5);        /* 1, 2, 5, 4, 13 */
    assert_int_equal(st.duplicate, 2);
    assert_int_equal(st.reordered, 1);
    /* 3 and 4 were missing after 5; 4 arrived late; 6..12 skipped before 13 */
    assert_int_equal(st.lost, 1 + 7);
    assert_int_equal(st.rejected[DT_WIRE_SHORT], 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_MAGIC], 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_VERSION], 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_TYPE], 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_FLAGS], 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_RESERVED], 1);
    assert_int_equal(st.rejected[DT_WIRE_EMPTY], 1);
    assert_int_equal(st.rejected[DT_WIRE_TOO_MANY], 2);
    assert_int_equal(st.rejected[DT_WIRE_TRUNCATED], 1);
    assert_int_equal(st.rejected[DT_WIRE_TRAILING], 2);
    assert_int_equal(st.rejected[DT_WIRE_BAD_CRC], 1);
    assert_int_equal(st.wrong_source, 1);
    assert_int_equal(st.wrong_type, 1);
    assert_int_equal(st.frames_rejected, 15);
    assert_true(st.frames_ok + st.duplicate + st.frames_rejected == st.datagrams);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(st.unmapped_records, 1);
    assert_int_equal(st.samples, 4 + 2); /* frames 1, 2, 5, 4 + two valid records of 13 */
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_MALFORMED), 15 + 1);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_LOST), 1 + 7 + 0);

    dt_ingest_poll(r.ing, 50 * DT_NS_PER_MS);
    dt_source_stats ss;
    dt_ingest_source_stats(r.ing, 0, &ss);
    assert_int_equal(ss.rejected_nonfinite, 1);
    assert_int_equal(ss.accepted, 5);
    dt_sample out[16];
    dt_ingest_poll(r.ing, 200 * DT_NS_PER_S);
    size_t got = dt_ingest_release(r.ing, out, 16);
    assert_int_equal(got, 5);
    assert_close(out[0].value, 1.001, 1e-15, 0);       /* seq 1: 1001 mm */
    assert_true(out[4].flags & DT_SAMPLE_HAS_VARIANCE); /* seq 13 record */
    assert_close(out[4].value, 2.0, 1e-15, 0);
    assert_close(out[4].variance, 4e-6, 1e-15, 0);      /* mm^2 -> m^2 */
    rig_close(&r);
}

static void test_udp_sink_sends_commands(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rx >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(rx, (struct sockaddr *)&a, &alen);
    char doc[1024];
    snprintf(doc, sizeof doc,
             "%s,\"sinks\":[{\"id\":\"drive\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":%d,\"source_id\":7,"
             "\"mapping\":[{\"channel\":5,\"signal\":\"speed\",\"unit\":\"rpm\"}]}]}",
             MODEL_HEAD, ntohs(a.sin_port));
    rig r;
    rig_open(&r, doc, NULL);
    if (r.rc)
        print_error("%s\n", r.diag.message);
    assert_int_equal(r.rc, 0);
    dt_signal_id spd;
    dt_model_find_signal(r.model, "speed", &spd);
    dt_command cmd = {.signal = spd, .seq = 9, .t_issued = 11, .t_deadline = 22, .value = 3.14159265358979323846};
    assert_int_equal(dt_io_apply(r.io, &cmd), 0);
    uint8_t buf[256];
    ssize_t n = recv(rx, buf, sizeof buf, 0);
    close(rx);
    dt_wire_header h;
    assert_int_equal(dt_wire_decode(buf, (size_t)n, &h), DT_WIRE_OK);
    assert_int_equal(h.type, DT_WIRE_COMMANDS);
    assert_int_equal(h.source_id, 7);
    dt_wire_command c;
    dt_wire_command_at(buf, 0, &c);
    assert_int_equal(c.channel, 5);
    assert_int_equal(c.seq, 9);
    assert_true(c.t_issued == 11 && c.t_deadline == 22);
    assert_close(c.value, 30.0, 1e-12, 0); /* pi rad/s = 30 rpm */
    rig_close(&r);
}

static void test_wire_crc_and_decoder(void **state)
{
    (void)state;
    assert_int_equal(dt_wire_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    uint8_t b[128];
    dt_wire_sample in = {3, DT_WIRE_F_VARIANCE, -5, -1.25, 0.5}, out;
    size_t n = dt_wire_encode_samples(b, sizeof b, 1, 2, &in, 1);
    assert_int_equal(n, 56);
    assert_int_equal(dt_wire_encode_samples(b, 40, 1, 2, &in, 1), 0);
    dt_wire_header h;
    assert_int_equal(dt_wire_decode(b, n, &h), DT_WIRE_OK);
    dt_wire_sample_at(b, 0, &out);
    assert_memory_equal(&in, &out, sizeof in);
    /* Every truncation of a valid frame is rejected, never read past. */
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(dt_wire_decode(b, k, &h), DT_WIRE_OK);
    assert_string_equal(dt_wire_error_name(DT_WIRE_BAD_CRC), "bad_crc");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_registry_checks_abi),
    cmocka_unit_test(test_memory_source_and_sink),
    cmocka_unit_test(test_description_errors),
    cmocka_unit_test(test_csv_replay),
    cmocka_unit_test(test_csv_iso_time_and_realtime_pace),
    cmocka_unit_test(test_csv_missing_column_is_an_error),
    cmocka_unit_test(test_csv_rebase_far_apart_rows_are_malformed),
    cmocka_unit_test(test_csv_realtime_far_apart_rows_are_malformed),
    cmocka_unit_test(test_csv_time_range_is_exact),
    cmocka_unit_test(test_csv_poll_refuses_now_out_of_range),
    cmocka_unit_test(test_csv_nul_byte_is_a_malformed_row),
    cmocka_unit_test(test_csv_bom_before_header_is_skipped),
    cmocka_unit_test(test_csv_max_line_counts_content_bytes),
    cmocka_unit_test(test_csv_overlong_line_counted_once),
    cmocka_unit_test(test_csv_last_line_without_newline),
    cmocka_unit_test(test_csv_empty_lines_are_malformed),
    cmocka_unit_test(test_csv_header_errors_are_precise),
    cmocka_unit_test(test_csv_header_column_limit),
    cmocka_unit_test(test_csv_header_with_only_the_time_column),
    cmocka_unit_test(test_csvlog_sink),
    cmocka_unit_test(test_udp_source_counts_every_kind),
    cmocka_unit_test(test_udp_sink_sends_commands),
    cmocka_unit_test(test_wire_crc_and_decoder),
};

DTT_MAIN(tests)
