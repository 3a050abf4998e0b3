/** @file
 * dtwin: canonical information model (assets, signals, units). */
#ifndef DTWIN_MODEL_H
#define DTWIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/export.h"
#include "dtwin/log.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A loaded twin description. Opaque; immutable after loading; safe to read
 *  from several threads once loaded. */
typedef struct dt_model dt_model;

/** Dense integer ids. Every name is resolved once at load time. */
typedef uint32_t dt_asset_id;
/** A signal's dense id: its index in the description's "signals" array. */
typedef uint32_t dt_signal_id;
/** No asset / no signal. */
#define DT_ID_NONE UINT32_MAX

/** What a signal is to the twin. */
typedef enum dt_role {
    DT_ROLE_MEASURED = 0,  /**< comes from a sensor */
    DT_ROLE_ESTIMATED = 1, /**< part of the estimator's state */
    DT_ROLE_COMMANDED = 2, /**< sent to an actuator */
    DT_ROLE_PARAMETER = 3  /**< a model parameter (may be written by analytics) */
} dt_role;

/** Unit classes (physical dimensions with the distinctions engineering needs:
 *  W, VA and var share SI dimensions but are different quantities). Two units
 *  convert only within one class. */
typedef enum dt_unit_class {
    DT_UC_DIMENSIONLESS = 0,
    DT_UC_PER_UNIT,
    DT_UC_VOLTAGE,
    DT_UC_CURRENT,
    DT_UC_ACTIVE_POWER,
    DT_UC_APPARENT_POWER,
    DT_UC_REACTIVE_POWER,
    DT_UC_ENERGY,
    DT_UC_FREQUENCY,
    DT_UC_ANGLE,
    DT_UC_ANGULAR_VELOCITY,
    DT_UC_TEMPERATURE,
    DT_UC_PRESSURE,
    DT_UC_MASS,
    DT_UC_MASS_FLOW,
    DT_UC_LENGTH,
    DT_UC_VELOCITY,
    DT_UC_ACCELERATION,
    DT_UC_TIME,
    DT_UC_FORCE,
    DT_UC_TORQUE,
    DT_UC_RESISTANCE,
    DT_UC_VOLUME_FLOW,
    DT_UC__COUNT
} dt_unit_class;

/** A parsed unit: value_in_base = value * scale + offset, where the base unit
 *  of each class is SI (V, A, W, VA, var, J, Hz, rad, rad/s, K, Pa, kg, kg/s,
 *  m, m/s, m/s2, s, N, N.m, ohm, m3/s; 1 for ratios; pu for per-unit). */
typedef struct dt_unit {
    dt_unit_class cls; /**< the quantity */
    double scale;      /**< to the class's base unit */
    double offset;     /**< added after scaling (degC, degF) */
} dt_unit;

/** Parses a unit symbol such as "kV", "MW", "degC", "rpm", "%", "pu".
 *  SI prefixes (Y..y, "u" or "µ" for micro) apply to the units marked
 *  prefixable in docs/model.md.
 *  @retval 0 *out set. @retval DT_EUNIT unknown symbol. @retval DT_EINVAL NULL. */
DT_API int dt_unit_parse(const char *symbol, dt_unit *out);
/** Conversion from one unit to another of the same class:
 *  value_to = value_from * (*scale) + (*offset).
 *  @retval DT_EUNIT the classes differ (dimensionally incompatible). */
DT_API int dt_unit_conversion(const dt_unit *from, const dt_unit *to,
                              double *scale, double *offset);
/** Name of a unit class ("voltage", ...); also the quantity names the
 *  description accepts. */
DT_API const char *dt_unit_class_name(dt_unit_class cls);

/** Read-only view of one asset. Strings are owned by the model. */
typedef struct dt_asset_info {
    const char *id;          /**< unique among assets */
    const char *name;        /**< never NULL; "" when absent */
    const char *kind;        /**< never NULL; "" when absent */
    const char *semantic_id; /**< NULL when absent */
    dt_asset_id parent;      /**< DT_ID_NONE for a root asset */
} dt_asset_info;

/** Read-only view of one signal. Strings are owned by the model. */
typedef struct dt_signal_info {
    const char *id;          /**< unique among signals */
    dt_asset_id asset;       /**< the asset it belongs to */
    dt_unit_class quantity;  /**< the physical quantity */
    const char *unit_symbol; /**< as written in the description */
    dt_unit unit;            /**< parsed; the signal's canonical unit */
    dt_role role;            /**< measured, estimated, commanded or parameter */
    int has_limits;          /**< min/max valid */
    double min;              /**< lower hard limit, in the signal's unit */
    double max;              /**< upper hard limit, in the signal's unit */
    dt_time period;          /**< nominal sample period; 0 when not declared */
    double noise_var;        /**< measurement noise variance; 0 when not declared */
    const char *semantic_id; /**< NULL when absent */
} dt_signal_info;

/** Limits on what a description may contain; every count and length from a
 *  document is checked against these before it is used. A field left 0 takes
 *  the default shown; 0 never means "unlimited". */
typedef struct dt_model_limits {
    size_t max_document_bytes; /**< default 16 MiB */
    size_t max_assets;         /**< default 4096 */
    size_t max_signals;        /**< default 65536 */
    size_t max_string_bytes;   /**< ids, names, units, semantic ids; default 256 */
    size_t max_depth;          /**< JSON nesting and asset tree depth; default 64 */
} dt_model_limits;

/** Options for loading. Start from DT_MODEL_OPTIONS_INIT; all-zero fields mean
 *  defaults. */
typedef struct dt_model_options {
    size_t size;                  /**< sizeof(dt_model_options) */
    const dt_allocator *allocator; /**< NULL: dt_allocator_default() */
    const dt_logger *logger;       /**< NULL: dt_logger_stderr() */
    dt_model_limits limits;        /**< 0 fields: defaults */
} dt_model_options;
/** Defaults for dt_model_options. */
#define DT_MODEL_OPTIONS_INIT {sizeof(dt_model_options), NULL, NULL, {0, 0, 0, 0, 0}}


/** Loads a description from `len` bytes of JSON text (need not be
 *  NUL-terminated). The text must be UTF-8 and hold exactly one JSON object.
 *  Any thread; cJSON's allocations go through opt's allocator.
 *  @param text the JSON (read only during the call).
 *  @param len its length in bytes (a trailing NUL within len is allowed).
 *  @param opt  may be NULL (defaults).
 *  @param out receives the model (owned by the caller: dt_model_destroy).
 *  @param diag may be NULL; on failure it says where and why.
 *  @retval 0 *out holds a new model, to be freed with dt_model_destroy().
 *  @retval DT_EPARSE malformed JSON, bad UTF-8, or a description that breaks
 *          the schema (see diag).
 *  @retval DT_EUNIT an unknown unit or one incompatible with its quantity.
 *  @retval DT_ELIMIT a count or length above the configured limits.
 *  @retval DT_ENOMEM allocation failed (nothing leaks).
 *  @retval DT_EINVAL NULL text or out.
 *  On failure *out is left unchanged. */
DT_API int dt_model_load_json(const char *text, size_t len,
                              const dt_model_options *opt, dt_model **out,
                              dt_diag *diag);
/** Same as dt_model_load_json() for a file. @retval DT_EIO unreadable file. */
DT_API int dt_model_load_file(const char *path, const dt_model_options *opt,
                              dt_model **out, dt_diag *diag);
/** Frees a model. NULL is a no-op. */
DT_API void dt_model_destroy(dt_model *model);

/** Writes the description back as JSON (indented, UTF-8, NUL-terminated) into
 *  buf. Loading the result gives an equal model, and saving that again gives
 *  identical text. Sections the model does not own (for later layers) are kept.
 *  @param model the model. @param buf the caller's buffer (may be NULL with cap 0).
 *  @param cap its size in bytes.
 *  @param needed may be NULL; receives the byte count including the NUL.
 *  @retval DT_ENOMEM allocation failed; buf untouched.
 *  @retval DT_EFULL buf is too small (or NULL with cap 0); *needed is set. */
DT_API int dt_model_save_json(const dt_model *model, char *buf, size_t cap,
                              size_t *needed);
/** Writes the description to a file. @retval DT_EIO write failed. */
DT_API int dt_model_save_file(const dt_model *model, const char *path);

/** The description's "name"; never NULL. */
DT_API const char *dt_model_name(const dt_model *model);
/** Number of assets (ids 0..count-1). */
DT_API size_t dt_model_asset_count(const dt_model *model);
/** Number of signals (ids 0..count-1). */
DT_API size_t dt_model_signal_count(const dt_model *model);
/** Asset by dense id; NULL if out of range. */
DT_API const dt_asset_info *dt_model_asset(const dt_model *model, dt_asset_id id);
/** Signal by dense id; NULL if out of range. */
DT_API const dt_signal_info *dt_model_signal(const dt_model *model,
                                             dt_signal_id id);
/** Resolves an asset id string (start-up only: O(log n) string compares).
 *  @retval DT_ENOTFOUND no such asset. */
DT_API int dt_model_find_asset(const dt_model *model, const char *id,
                               dt_asset_id *out);
/** Resolves a signal id string. @retval DT_ENOTFOUND no such signal. */
DT_API int dt_model_find_signal(const dt_model *model, const char *id,
                                dt_signal_id *out);
/** Name of a role ("measured", ...). */
DT_API const char *dt_role_name(dt_role role);

/** Hands the host's cJSON allocation functions to dtwin.
 *
 *  dtwin parses descriptions with cJSON, whose allocation hooks
 *  (cJSON_InitHooks) are one setting for the whole process. The rule:
 *  - dtwin installs its routing once, when the library is loaded (before
 *    main); it routes the cJSON allocations of a dtwin call to that call's
 *    dt_allocator, and every other cJSON allocation to malloc/free.
 *  - dtwin never calls cJSON_InitHooks again, except from this function. A
 *    host's own cJSON_InitHooks, made later, is never replaced: dtwin then
 *    works on (no cJSON memory outlives one dtwin call), but its parse trees
 *    go through the host's hooks instead of the twin's dt_allocator.
 *  - To keep both, call this function instead of cJSON_InitHooks: dtwin
 *    reinstalls its routing, and every cJSON allocation made outside a dtwin
 *    call goes to malloc_fn/free_fn.
 *
 *  A program that installs its hooks and then loads dtwin (dlopen) calls
 *  this right after loading it. Call it while no thread uses cJSON (the rule
 *  of cJSON_InitHooks itself).
 *  @param malloc_fn the host's allocation, or NULL for malloc.
 *  @param free_fn the host's release, or NULL for free.
 *  @retval DT_OK the routing is installed.
 *  @retval DT_EINVAL one of the two is NULL and the other is not; nothing
 *          changed. */
DT_API int dt_json_set_hooks(void *(*malloc_fn)(size_t size), void (*free_fn)(void *ptr));

#ifdef __cplusplus
}
#endif
#endif
