/* libFuzzer: the CSV replay source (header, time formats, rows). The input is
 * written to a file and replayed to the end through ingest; every row must be
 * delivered or counted, and the accounting identity must hold. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

static dt_model *model;
static char path[64];

static const char doc_fmt[] =
    "{\"dtwin\":1,\"name\":\"fz\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"limits\":{\"min\":-1e6,\"max\":1e6}},"
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"temperature\",\"unit\":\"K\",\"role\":\"measured\"}],"
    "\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"%s\",\"time_column\":\"t\","
    " \"ring\":64,\"reorder\":64,\"mapping\":[{\"native\":\"x\",\"signal\":\"a\",\"unit\":\"mm\"},"
    " {\"native\":\"y\",\"signal\":\"b\",\"unit\":\"degC\"}]}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* tmpfs when there is one: the file is rewritten for every input */
    snprintf(path, sizeof path, "%s/dtwin_fuzz_csv_%ld.csv",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    char doc[1024];
    snprintf(doc, sizeof doc, doc_fmt, path);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    FUZZ_CHECK(dt_model_load_json(doc, strlen(doc), &o, &model, NULL) == DT_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
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
    if (dt_io_create(model, ing, reg, NULL, NULL, dt_logger_silent(), &io, NULL) == DT_OK) {
        FUZZ_CHECK(dt_ingest_start(ing, 0) == DT_OK);
        dt_sample out[64];
        /* fast replay on data time: "now" far ahead releases every row */
        dt_time now = (dt_time)1 << 61;
        for (int k = 0; k < 4096 && dt_io_source_events(io, 0, DT_EV_END) == 0; k++) {
            FUZZ_CHECK(dt_io_poll(io, now) == DT_OK);
            FUZZ_CHECK(dt_ingest_poll(ing, now) == DT_OK);
            while (dt_ingest_release(ing, out, 64) > 0)
                ;
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
