/* libFuzzer: the CSV replay source (header, time formats, rows). The input is
 * written to a file and replayed to the end through ingest; every row must be
 * delivered or counted, and the accounting identity must hold.
 *
 * An input may end in a 17-byte trailer that sets the source's options and
 * the host's clock, so raw int64 times reach the time arithmetic of the CSV
 * source, ingest and the clock model:
 *   int64 now0 (little-endian), int64 step (little-endian), flags | 0x80
 * flags: bit 0 rebase; bit 1 pace realtime; bit 2 clock estimate (else
 * fixed); bit 3 extreme clock settings; bits 4-5 time_format auto, seconds,
 * iso8601, auto with ';' as delimiter; bit 6 max_line 16 and batch 1.
 * The host polls at now0, now0 + step, ... (saturating; a now outside
 * DT_TIME_LIMIT must be refused with DT_ERANGE). Text ends in a byte
 * below 0x80, so a plain CSV (the older seeds) runs as before: fast pace, no
 * rebase, a fixed clock, now = 2^61 throughout. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

#define TRAILER 17
#define PLAIN 128 /* models[] slot of an input without a trailer */

static dt_model *models[PLAIN + 1]; /* one per flags value, loaded when first used */
static char path[64];

static const char doc_fmt[] =
    "{\"dtwin\":1,\"name\":\"fz\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"limits\":{\"min\":-1e6,\"max\":1e6}},"
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"temperature\",\"unit\":\"K\",\"role\":\"measured\"}],"
    "\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"%s\",\"time_column\":\"t\","
    " \"ring\":64,\"reorder\":64,%s\"mapping\":[{\"native\":\"x\",\"signal\":\"a\",\"unit\":\"mm\"},"
    " {\"native\":\"y\",\"signal\":\"b\",\"unit\":\"degC\"}]}]}";

static const char *const time_formats[] = {"auto", "seconds", "iso8601", "auto"};

/* flags: the trailer's last byte, 0 without a trailer */
static dt_model *model_for(unsigned flags)
{
    unsigned slot = flags & 0x80 ? flags & 0x7F : PLAIN;
    if (models[slot] != NULL)
        return models[slot];
    char opts[512] = "";
    if (flags & 0x80) {
        unsigned tf = (flags >> 4) & 3;
        const char *clock =
            flags & 4 ? (flags & 8 ? "{\"mode\":\"estimate\",\"window\":0.001,\"windows\":2,"
                                     "\"jump\":0.001,\"offset\":1e9,\"skew\":0.009}"
                                   : "{\"mode\":\"estimate\"}")
                      : (flags & 8 ? "{\"mode\":\"fixed\",\"offset\":-1e9,\"skew\":-0.009}"
                                   : "{\"mode\":\"fixed\"}");
        snprintf(opts, sizeof opts,
                 "\"rebase\":%s,\"pace\":\"%s\",\"time_format\":\"%s\",\"delimiter\":\"%s\","
                 "\"clock\":%s,%s",
                 flags & 1 ? "true" : "false", flags & 2 ? "realtime" : "fast",
                 time_formats[tf], tf == 3 ? ";" : ",", clock,
                 flags & 64 ? "\"max_line\":16,\"batch\":1," : "");
    }
    char doc[2048];
    snprintf(doc, sizeof doc, doc_fmt, path, opts);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    FUZZ_CHECK(dt_model_load_json(doc, strlen(doc), &o, &models[slot], NULL) == DT_OK);
    return models[slot];
}

/* At exit: the models (so leak checks stay quiet) and the input file, should
 * the process stop between writing and unlinking it. */
static void cleanup(void)
{
    (void)unlink(path);
    for (int i = 0; i <= PLAIN; i++)
        dt_model_destroy(models[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* tmpfs when there is one: the file is rewritten for every input */
    snprintf(path, sizeof path, "%s/dtwin_fuzz_csv_%ld.csv",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FUZZ_CHECK(atexit(cleanup) == 0);
    return 0;
}

static int64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v; /* two's complement on every target we build for */
}

static dt_time sat_add(dt_time a, dt_time b)
{
    dt_time r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? DT_TIME_MAX : DT_TIME_MIN;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    unsigned flags = 0;
    /* fast replay on data time: "now" far ahead releases every row */
    dt_time now = (dt_time)1 << 61, step = 0;
    if (size >= TRAILER && (data[size - 1] & 0x80)) {
        flags = data[size - 1];
        now = le64(data + size - TRAILER);
        step = le64(data + size - TRAILER + 8);
        size -= TRAILER;
    }
    dt_model *model = model_for(flags);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    ic.max_sources = 1;
    dt_ingest *ing = NULL;
    dt_registry *reg = NULL;
    dt_io *io = NULL;
    FUZZ_CHECK(dt_ingest_create(model, &ic, &ing) == DT_OK);
    FUZZ_CHECK(dt_registry_create(NULL, &reg) == DT_OK);
    int rc = dt_io_create(model, ing, reg, NULL, NULL, dt_logger_silent(), &io, NULL);
    /* The source reads through its open descriptor: the name can go now, so
     * not even a crash leaves the file behind in /dev/shm or /tmp. */
    FUZZ_CHECK(unlink(path) == 0);
    if (rc == DT_OK) {
        /* a now outside DT_TIME_LIMIT is refused by ingest and the source */
        if (dt_time_valid(now))
            FUZZ_CHECK(dt_ingest_start(ing, now) == DT_OK);
        else
            FUZZ_CHECK(dt_ingest_start(ing, now) == DT_ERANGE &&
                       dt_ingest_start(ing, 0) == DT_OK);
        dt_sample out[64];
        for (int k = 0; k < 4096 && dt_io_source_events(io, 0, DT_EV_END) == 0; k++) {
            int want = dt_time_valid(now) ? DT_OK : DT_ERANGE;
            FUZZ_CHECK(dt_io_poll(io, now) == want);
            FUZZ_CHECK(dt_ingest_poll(ing, now) == want);
            while (dt_ingest_release(ing, out, 64) > 0)
                ;
            now = sat_add(now, step);
        }
        dt_source_stats st;
        FUZZ_CHECK(dt_ingest_source_stats(ing, 0, &st) == DT_OK);
        FUZZ_CHECK(fuzz_accounted(&st));
        dt_io_destroy(io);
    }
    dt_registry_destroy(reg);
    dt_ingest_destroy(ing);
    return 0;
}
