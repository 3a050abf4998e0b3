/* Internals of the model module (not installed). */
#ifndef DTWIN_SRC_MODEL_INTERNAL_H
#define DTWIN_SRC_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
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

/* A model being read from its description (model_load.c, model_read.c). */
typedef struct dt__mctx {
    dt_model *m;
    const dt_model_limits *lim;
    dt_diag *diag;
    const struct dt__desc *desc;
} dt__mctx;

/* model_read.c: the model's typed readers. Each reports a path-precise
 * error in c->diag and returns its code. */
/* Quotes a string for a message, cut at 40 bytes. */
const char *dt__mq(const char *s, char *buf, size_t cap);
void dt__m_subpath(char *out, size_t cap, const char *path, const char *key);
/* obj is an object whose keys are in allowed (or, with sections, a section
 * a layer registered), each once. */
int dt__m_object(dt__mctx *c, const dt_config *obj, const char *path,
                 const char *const *allowed, int sections);
/* A string member copied into *out (NULL when absent and optional). */
int dt__m_string(dt__mctx *c, const dt_config *obj, const char *key, const char *path,
                 int required, char **out);
int dt__m_number(dt__mctx *c, const dt_config *obj, const char *key, const char *path,
                 int required, double *out, int *present);
int dt__m_id(dt__mctx *c, const dt_config *obj, const char *key, const char *path, char **out);
int dt__m_semantic_id(dt__mctx *c, const dt_config *obj, const char *path, char **out);
int dt__m_array(dt__mctx *c, const dt_config *root, const char *key, size_t limit,
                const dt_config **out, size_t *count);
/* Sorts ids into *out and refuses a duplicate, naming both places. */
int dt__m_index(dt__mctx *c, const char *what, size_t n,
                const char *(*key)(const dt_model *, uint32_t), uint32_t **out);

/* Binary search of an id among sorted dense ids; DT_ENOTFOUND if absent. */
typedef const char *(*dt__key_fn)(const dt_model *m, uint32_t i);
const char *dt__asset_key(const dt_model *m, uint32_t i);
const char *dt__signal_key(const dt_model *m, uint32_t i);
int dt__lookup(const dt_model *m, const uint32_t *sorted, size_t n,
               dt__key_fn key, const char *id, uint32_t *out);

#endif
