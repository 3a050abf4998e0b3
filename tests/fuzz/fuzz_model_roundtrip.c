/* libFuzzer: for every description that loads, the saved text loads to an
 * equal model (every field, every double bit for bit: a save that rounds a
 * limit or a noise is a defect), and load -> save reaches a fixed point. */
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

static int same(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }
static int streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void equal_models(const dt_model *m1, const dt_model *m2)
{
    FUZZ_CHECK(streq(dt_model_name(m1), dt_model_name(m2)));
    FUZZ_CHECK(dt_model_asset_count(m1) == dt_model_asset_count(m2));
    FUZZ_CHECK(dt_model_signal_count(m1) == dt_model_signal_count(m2));
    for (dt_asset_id i = 0; i < dt_model_asset_count(m1); i++) {
        const dt_asset_info *a = dt_model_asset(m1, i), *b = dt_model_asset(m2, i);
        FUZZ_CHECK(streq(a->id, b->id) && streq(a->name, b->name) && streq(a->kind, b->kind) &&
                   streq(a->semantic_id, b->semantic_id) && a->parent == b->parent);
    }
    for (dt_signal_id i = 0; i < dt_model_signal_count(m1); i++) {
        const dt_signal_info *a = dt_model_signal(m1, i), *b = dt_model_signal(m2, i);
        FUZZ_CHECK(streq(a->id, b->id) && a->asset == b->asset && a->role == b->role &&
                   a->quantity == b->quantity);
        FUZZ_CHECK(same(a->min, b->min) && same(a->max, b->max) &&
                   same(a->noise_var, b->noise_var) && a->period == b->period &&
                   a->has_limits == b->has_limits);
        FUZZ_CHECK(streq(a->unit_symbol, b->unit_symbol) &&
                   streq(a->semantic_id, b->semantic_id));
    }
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
    equal_models(m1, m2);
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
