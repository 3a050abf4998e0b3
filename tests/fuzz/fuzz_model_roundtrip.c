/* libFuzzer: load -> save -> load -> save must reach a fixed point (the two
 * saved texts are identical) for every description that loads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

static char *save(const dt_model *m, size_t *len)
{
    size_t need = 0;
    int rc = dt_model_save_json(m, NULL, 0, &need);
    FUZZ_CHECK(rc == DT_EFULL && need > 0);
    char *buf = malloc(need);
    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(dt_model_save_json(m, buf, need, NULL) == DT_OK);
    *len = strlen(buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m1 = NULL, *m2 = NULL, *m3 = NULL;
    if (dt_model_load_json((const char *)data, size, &o, &m1, NULL) != DT_OK)
        return 0;
    size_t l1, l2;
    char *t1 = save(m1, &l1);
    dt_diag d;
    int rc = dt_model_load_json(t1, l1, &o, &m2, &d);
    if (rc != DT_OK)
        fprintf(stderr, "saved text does not load: %s\n%s\n", d.message, t1);
    FUZZ_CHECK(rc == DT_OK);
    char *t2 = save(m2, &l2);
    /* the first save may normalise the input; from then on it is a fixed point */
    FUZZ_CHECK(dt_model_load_json(t2, l2, &o, &m3, NULL) == DT_OK);
    size_t l3;
    char *t3 = save(m3, &l3);
    FUZZ_CHECK(l2 == l3 && memcmp(t2, t3, l2) == 0);
    free(t1), free(t2), free(t3);
    dt_model_destroy(m1), dt_model_destroy(m2), dt_model_destroy(m3);
    return 0;
}
