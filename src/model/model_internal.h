/* Internals of the model module (not installed). */
#ifndef DTWIN_SRC_MODEL_INTERNAL_H
#define DTWIN_SRC_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/model.h"

/* Private, per-asset strings as written (for saving) and the public view. */
typedef struct dt__asset_rec {
    char *id, *name, *kind, *semantic_id, *parent_id; /* NULL when absent */
} dt__asset_rec;

typedef struct dt__signal_rec {
    char *id, *asset_id, *unit, *semantic_id;
    double period_s;    /* as written */
    double noise_value; /* as written: a std or a variance */
    uint8_t has_min, has_max, has_period;
    uint8_t noise_kind; /* 0 none, 1 std, 2 variance */
} dt__signal_rec;

typedef struct dt__section {
    char *key;
    char *json; /* compact JSON text of the section, numbers exact */
} dt__section;

struct dt_model {
    dt_allocator alloc;
    dt_logger logger;
    dt_model_limits limits;
    char *name;
    char *description; /* NULL when absent */
    size_t n_assets, n_signals, n_sections;
    dt__asset_rec *asset_recs;
    dt_asset_info *assets;
    dt__signal_rec *signal_recs;
    dt_signal_info *signals;
    uint32_t *asset_sorted;  /* ids sorted by string, for lookup at start-up */
    uint32_t *signal_sorted;
    dt__section *sections;
    const struct dt__desc *desc; /* during a twin's build only */
};

/* The known unit nearest to an unknown one ("kw" -> "kW", "C" -> "degC"),
 * preferring the wanted quantity, written into buf; NULL when none is near. */
const char *dt__unit_suggest(const char *given, dt_unit_class want, char *buf, size_t cap);

void dt__model_free(dt_model *m);

/* dt_model_load_json, and for a twin's build: with keep, the parsed
 * description stays attached to the model (*keep) so each layer reads the
 * tree parsed once; the build then calls dt__model_detach and frees it. */
struct dt__desc;
int dt__model_load(const char *text, size_t len, const dt_model_options *opt, dt_model **out,
                   struct dt__desc **keep, dt_diag *diag);
void dt__model_detach(dt_model *m);
/* The attached description, or NULL (a model loaded on its own). */
const struct dt__desc *dt__model_desc(const dt_model *m);
/* The kept sections, as exact compact JSON text, in document order. */
size_t dt__model_section_count(const dt_model *m);
const char *dt__model_section_at(const dt_model *m, size_t i, const char **key);

/* Reads a whole file (at most limit bytes) through the allocator. */
int dt__read_file(const char *path, const dt_allocator *alloc, size_t limit, char **out,
                  size_t *len, dt_diag *diag);

/* Binary search of an id among sorted dense ids; DT_ENOTFOUND if absent. */
typedef const char *(*dt__key_fn)(const dt_model *m, uint32_t i);
const char *dt__asset_key(const dt_model *m, uint32_t i);
const char *dt__signal_key(const dt_model *m, uint32_t i);
int dt__lookup(const dt_model *m, const uint32_t *sorted, size_t n,
               dt__key_fn key, const char *id, uint32_t *out);

#endif
