/* libFuzzer: the JSON twin description loader. Any input must load or fail
 * with a diagnostic; a loaded model must answer its queries. A loaded model
 * then builds its estimator (the matrices' checks, G Qc G', the PSD tests)
 * and the whole twin as a replay does (sources, sinks, controllers,
 * dispatcher, loop: no file or socket is opened), each failure with its
 * diagnostic. */
#include <stdint.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag d;
    int rc = dt_model_load_json((const char *)data, size, &o, &m, &d);
    if (rc != DT_OK) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(d.message[0] != '\0'); /* every failure says why */
        return 0;
    }
    FUZZ_CHECK(dt_model_name(m) != NULL);
    dt_est_config ec = DT_EST_CONFIG_INIT;
    ec.logger = dt_logger_silent();
    dt_est *e = NULL;
    rc = dt_est_create_json(m, &ec, &e, &d);
    FUZZ_CHECK(rc == DT_OK ? e != NULL : (e == NULL && (rc == DT_ENOTFOUND || d.message[0])));
    dt_est_destroy(e);
    dt_model_destroy(m);
    dt_twin_options to = DT_TWIN_OPTIONS_INIT;
    to.logger = dt_logger_silent();
    to.replay = 1;
    dt_twin *t = NULL;
    rc = dt_twin_load_json((const char *)data, size, &to, &t, &d);
    FUZZ_CHECK(rc == DT_OK ? t != NULL : (t == NULL && d.message[0] != '\0'));
    dt_twin_destroy(t);
    return 0;
}
