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
    char *json; /* compact JSON text of the section, kept verbatim */
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
};

/* Top-level sections the model keeps for later layers. */
extern const char *const dt__model_sections[];

/* The known unit nearest to an unknown one ("kw" -> "kW", "C" -> "degC"),
 * preferring the wanted quantity, written into buf; NULL when none is near. */
const char *dt__unit_suggest(const char *given, dt_unit_class want, char *buf, size_t cap);

/* Text checks. Return 0 or the byte offset + 1 of the first offence. */
size_t dt__utf8_check(const char *s, size_t len);
/* Largest nesting depth of [ and { outside strings; *unclosed (may be NULL)
 * says whether the text ends inside a string or an open bracket. */
size_t dt__json_depth(const char *s, size_t len, int *unclosed);
/* 1-based line and column of byte offset `off`. */
void dt__line_col(const char *s, size_t off, int *line, int *col);

/* cJSON allocates through process-wide hooks; dtwin installs hooks once that
 * forward to the allocator of the dtwin call in progress on this thread (and
 * to malloc/free otherwise). Bracket every cJSON use with begin/end. */
void dt__json_begin(const dt_allocator *a);
void dt__json_end(void);
int dt__json_oom(void); /* an allocation failed since begin */

void dt__model_free(dt_model *m);

/* Every key of obj must be in keys or extra (NULL-terminated, either may be
 * NULL), each once; else DT_EPARSE with "path.key: unknown key" or
 * "path.key: duplicate key" in diag. */
struct cJSON;
int dt__json_check_keys(dt_diag *diag, const struct cJSON *obj, const char *path,
                        const char *const *keys, const char *const *extra);

/* Reads a whole file (at most limit bytes) through the allocator. */
int dt__read_file(const char *path, const dt_allocator *alloc, size_t limit, char **out,
                  size_t *len, dt_diag *diag);

/* Compact JSON text of a kept top-level section ("sources", ...), or NULL. */
const char *dt__model_section(const dt_model *m, const char *key);

/* Binary search of an id among sorted dense ids; DT_ENOTFOUND if absent. */
typedef const char *(*dt__key_fn)(const dt_model *m, uint32_t i);
const char *dt__asset_key(const dt_model *m, uint32_t i);
const char *dt__signal_key(const dt_model *m, uint32_t i);
int dt__lookup(const dt_model *m, const uint32_t *sorted, size_t n,
               dt__key_fn key, const char *id, uint32_t *out);

#endif
