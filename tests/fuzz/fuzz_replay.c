/* libFuzzer: a flight log read by dt_twin_replay (what `dtwin replay` does).
 * The input is the log after its header; the header (magic, version, the
 * description's hash) is the one dt_twin_record writes for the same
 * description, so every input reaches the records: start and step times,
 * samples with any int64 times and any value bits, host commands, sink
 * results. Whatever the bytes, replay ends with a status (no crash, no
 * undefined behaviour), the ingest accounting identity holds for every source
 * and nothing leaks. */
#include <stdint.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

static const char doc[] =
    "{\"dtwin\":1,\"name\":\"rp\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01},\"period\":0.01,\"limits\":{\"min\":-10,\"max\":10}},"
    "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":-5,\"max\":5}}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"ring\":64,\"reorder\":64,\"timeout\":0.5,"
    " \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]},"
    " {\"id\":\"e\",\"kind\":\"memory\",\"ring\":64,\"reorder\":64,\"timeout\":0.5,"
    "  \"clock\":{\"mode\":\"estimate\",\"window\":0.1,\"windows\":4,\"jump\":0.5},"
    "  \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":8,"
    " \"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\"],\"inputs\":[\"u\"],\"A\":[[-0.5]],\"B\":[[1]],"
    " \"Q\":[0.01],\"P0\":[0.1],\"history\":32,"
    " \"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}}],"
    " \"bounds\":[{\"name\":\"b\",\"variance\":\"y_est\",\"max\":0.005}]},"
    "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    " \"setpoint\":1,\"kp\":2,\"ki\":1}],"
    "\"dispatcher\":{\"safe\":{\"u\":0},\"rate_limits\":{\"u\":10}},\"loop\":{\"period\":0.01}}";

static uint8_t header[24];
static size_t header_len;

static int keep_header(void *user, const void *data, size_t len)
{
    (void)user;
    if (header_len + len <= sizeof header) {
        memcpy(header + header_len, data, len);
        header_len += len;
    }
    return DT_OK;
}

typedef struct log_reader {
    const uint8_t *p;
    size_t n, pos; /* pos counts the header first */
} log_reader;

static int read_log(void *user, void *data, size_t len)
{
    log_reader *r = user;
    uint8_t *out = data;
    for (size_t i = 0; i < len; i++, r->pos++) {
        if (r->pos < sizeof header)
            out[i] = header[r->pos];
        else if (r->pos - sizeof header < r->n)
            out[i] = r->p[r->pos - sizeof header];
        else
            return i == 0 ? DT_EEMPTY : DT_EIO; /* a cut record is an error */
    }
    return DT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    if (header_len == 0) { /* the header a recording of this description starts with */
        FUZZ_CHECK(dt_twin_load_json(doc, sizeof doc - 1, &o, &t, NULL) == DT_OK);
        FUZZ_CHECK(dt_twin_record(t, keep_header, NULL) == DT_OK);
        FUZZ_CHECK(header_len == sizeof header);
        dt_twin_destroy(t);
    }
    o.replay = 1;
    FUZZ_CHECK(dt_twin_load_json(doc, sizeof doc - 1, &o, &t, NULL) == DT_OK);
    log_reader r = {data, size, 0};
    int rc = dt_twin_replay(t, read_log, &r, NULL, NULL);
    (void)rc; /* any status: the log may be garbage */
    for (dt_source_id k = 0; k < 2; k++) {
        dt_source_stats st;
        FUZZ_CHECK(dt_ingest_source_stats(dt_twin_ingest(t), k, &st) == DT_OK);
        FUZZ_CHECK(fuzz_accounted(&st));
    }
    dt_twin_destroy(t);
    return 0;
}
