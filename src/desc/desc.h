/* The description module's internal interface (not installed): the one place
 * that parses the JSON description and owns cJSON. Every layer reads its
 * sections through the dt_config views below; none includes cJSON.h.
 *
 * Life of a description: dt__desc_parse checks the text (UTF-8, nesting,
 * syntax, duplicate keys anywhere in the document) and holds the tree; the
 * model reads assets and signals from it and keeps every registered section
 * as exact JSON text (for saving, and for a layer built later from a loaded
 * model); a twin's build attaches the tree to its model, so each layer reads
 * the tree parsed once, then frees it. No cJSON memory outlives one dtwin
 * call (see json_hooks.c for why that matters). */
#ifndef DTWIN_SRC_DESC_H
#define DTWIN_SRC_DESC_H

#include <stddef.h>

#include "dtwin/adapter.h"
#include "dtwin/error.h"
#include "dtwin/model.h"

/* ---- errors ---- */

/* Every reader error carries its JSON path; dt__diag formats it
 * (printf-checked). The code is repeated as the value so static analysis sees
 * that a failure is never DT_OK. c is anything with a `diag` member. */
#define dt__fail(c, code, ...) (dt__diag((c)->diag, (code), __VA_ARGS__), (code))

/* ---- typed views of one JSON value (NULL reads as absent) ---- */

typedef enum dt__cfg_type {
    DT__CFG_ABSENT = 0,
    DT__CFG_NULL,
    DT__CFG_BOOL,
    DT__CFG_NUMBER,
    DT__CFG_STRING,
    DT__CFG_ARRAY,
    DT__CFG_OBJECT
} dt__cfg_type;

dt__cfg_type dt__cfg_type_of(const dt_config *c);
/* "an object", "a number", ... for a message; "nothing" for NULL. */
const char *dt__cfg_type_name(const dt_config *c);
/* What a message says was found: a number as written (exact), else its type
 * ("a string", "nothing" for a missing key). */
const char *dt__cfg_got(const dt_config *c, char *buf, size_t cap);
int dt__cfg_is_object(const dt_config *c);
int dt__cfg_is_array(const dt_config *c);
int dt__cfg_is_string(const dt_config *c);
int dt__cfg_is_number(const dt_config *c);
int dt__cfg_is_true(const dt_config *c);
/* The number (NaN when not a number), the string (NULL when not a string). */
double dt__cfg_num(const dt_config *c);
const char *dt__cfg_str(const dt_config *c);
/* Children of an array or object in order; the key of an object member. */
const dt_config *dt__cfg_child(const dt_config *c);
const dt_config *dt__cfg_next(const dt_config *c);
const char *dt__cfg_key(const dt_config *c);
/* Members of an object, elements of an array (0 otherwise), as an int like
 * the messages print them. */
int dt__cfg_count(const dt_config *c);

/* Every key of obj must be in keys or extra (NULL-terminated, either may be
 * NULL), each once; else DT_EPARSE with "path.key: unknown key" or
 * "path.key: duplicate key" in diag. */
int dt__cfg_check_keys(dt_diag *diag, const dt_config *obj, const char *path,
                       const char *const *keys, const char *const *extra);

/* Optional member `key` of obj, a finite number: DT_OK and *present 0 when
 * absent; else "path.key: expected a finite number" (DT_EPARSE). */
int dt__cfg_opt_number(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       double *out, int *present);

/* ---- the parsed description ---- */

typedef struct dt__desc dt__desc;

/* Parses and checks a whole description: size, NUL bytes, UTF-8, nesting,
 * \u0000 in a string, syntax (with a hint for the usual slips), trailing
 * text, duplicate keys anywhere, and numbers out of a double's range inside
 * the sections. The messages name line and column or the JSON path. */
int dt__desc_parse(const char *text, size_t len, const dt_model_limits *lim,
                   const dt_allocator *alloc, dt__desc **out, dt_diag *diag);
void dt__desc_free(dt__desc *d);
const dt_config *dt__desc_root(const dt__desc *d);
/* The exact compact text of a top-level member (every number reads back to
 * the same double) into *out, allocated with alloc. DT_EPARSE names the
 * path of a number out of a double's range (1e999). */
int dt__desc_keep(const dt__desc *d, const dt_config *member, const dt_allocator *alloc,
                  char **out, dt_diag *diag);

/* Text checks (text.c). Return 0 or the byte offset + 1 of the first offence. */
size_t dt__utf8_check(const char *s, size_t len);
/* Largest nesting depth of [ and { outside strings; *unclosed (may be NULL)
 * says whether the text ends inside a string or an open bracket. */
size_t dt__json_depth(const char *s, size_t len, int *unclosed);
/* Where a string holds an escape cJSON decodes into a NUL, which a C string
 * cannot hold ("loop\u0000x" would read as "loop"): \u0000, and \u without
 * four hex digits after it. 0, or the offset + 1. */
size_t dt__json_nul_escape(const char *s, size_t len);
/* 1-based line and column of byte offset `off`. */
void dt__line_col(const char *s, size_t off, int *line, int *col);

/* ---- sections: registered by the layer that reads them ---- */

/* One top-level section and the layer's reader for it (NULL: the layer reads
 * it elsewhere, or only keeps it). read gets the section's view, or NULL
 * when the description has none, so a reader can require it. */
typedef struct dt__section_def {
    const char *name;
    int (*read)(void *layer, const dt_config *section, dt_diag *diag);
} dt__section_def;

/* The layers' tables, each ended by {NULL, NULL}: adding a section touches
 * only its layer's table (and its reader). desc.c lists the
 * tables, so the model knows every section's name without naming one. */
extern const dt__section_def dt__io_sections[];   /* src/adapters/host_config.c */
extern const dt__section_def dt__est_sections[];  /* src/estimator/estimator_json.c */
extern const dt__section_def dt__twin_sections[]; /* src/twin/twin_load.c */

/* Whether key is a section some layer registered. */
int dt__desc_is_section(const char *key);

/* A layer's reading of the description's sections: the tree a twin's build
 * holds, or, for a model loaded on its own, the model's kept sections parsed
 * once now (through alloc). Bracket with dt__desc_done. */
typedef struct dt__desc_use {
    const dt__desc *d;
    dt__desc *own;
} dt__desc_use;
int dt__desc_begin(const dt_model *m, const dt_allocator *alloc, dt__desc_use *u,
                   dt_diag *diag);
/* The view of section `name`, NULL when the description has none. */
const dt_config *dt__desc_get(const dt__desc_use *u, const char *name);
/* Runs the readers of a layer's table, in the table's order. */
int dt__desc_read(const dt__desc_use *u, const dt__section_def *defs, void *layer,
                  dt_diag *diag);
void dt__desc_done(dt__desc_use *u);

/* ---- writing JSON (the model's save) ---- */

typedef struct dt__jw dt__jw; /* a JSON value being built */
/* Build, print and free the tree inside one dt__json_enter/leave scope (its
 * allocator's); a NULL argument makes every call fail, so a chain needs one
 * check at the end. */
dt__jw *dt__jw_root(void);
dt__jw *dt__jw_add_object(dt__jw *parent, const char *key); /* key NULL: array element */
dt__jw *dt__jw_add_array(dt__jw *parent, const char *key);
int dt__jw_add_string(dt__jw *obj, const char *key, const char *val); /* val NULL: nothing */
/* A finite number, and every number of dt__jw_add_text: printed as cJSON
 * prints them wherever that reads back exactly, else with 17 digits. */
int dt__jw_add_number(dt__jw *obj, const char *key, double val);
/* Adds the JSON text of a kept section under key. */
int dt__jw_add_text(dt__jw *obj, const char *key, const char *json);
/* Prints the root (indented) into memory of the scope's allocator; frees
 * the tree. NULL when out of memory. */
char *dt__jw_finish(dt__jw *root);
void dt__jw_free(dt__jw *root);

/* Inside the module (desc.c, desc_write.c): turns node, when a number, or
 * every number below it into raw text from print (freed by cJSON_Delete); 0, or -1 when out of
 * memory (the tree then partly converted). */
struct cJSON;
int dt__desc_raw_numbers(struct cJSON *node, void (*print)(double v, char *buf, size_t cap));

/* ---- cJSON's allocations (json_hooks.c) ---- */

/* cJSON allocates through process-wide hooks; dtwin's routing (see
 * dt_json_set_hooks) forwards to the allocator of the dtwin call in progress
 * on this thread. A scope saves and restores the thread's allocator, so
 * scopes nest. */
typedef struct dt__json_scope {
    const dt_allocator *prev;
    int prev_oom;
} dt__json_scope;
void dt__json_enter(dt__json_scope *s, const dt_allocator *a);
void dt__json_leave(const dt__json_scope *s);
int dt__json_oom(void); /* an allocation failed since enter */

#endif
