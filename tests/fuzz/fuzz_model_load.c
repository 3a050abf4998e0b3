/* libFuzzer: the JSON twin description loader. Any input must load or fail
 * with a diagnostic; a loaded model must answer its queries. */
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
    dt_model_destroy(m);
    return 0;
}
