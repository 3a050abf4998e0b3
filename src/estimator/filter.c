/* The filter interface's core side: the defaults of the optional slots and
 * the twin's filter, created from the description's "estimator" section by
 * its "kind". */
#include <math.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "filter_internal.h"

/* ---- defaults of the optional slots ---- */

static void def_deinit(void *self) { (void)self; }
static int def_start(void *self, dt_time t0, dt_diag *diag)
{
    (void)self, (void)t0, (void)diag;
    return DT_OK;
}
static size_t def_ids(const void *self, dt_signal_id *ids, size_t cap)
{
    (void)self, (void)ids, (void)cap;
    return 0;
}
static int def_state(void *self, dt_time t, double *x, double *P)
{
    (void)self, (void)t, (void)x, (void)P;
    return DT_EUNSUPPORTED;
}
static int def_input_index(const void *self, dt_signal_id sig)
{
    (void)self, (void)sig;
    return -1;
}
static int def_set_input(void *self, dt_time now, const double *u)
{
    (void)self, (void)now, (void)u;
    return DT_EUNSUPPORTED;
}
static int def_matrices(const void *self, double *A, double *B, int *discrete)
{
    (void)self, (void)A, (void)B, (void)discrete;
    return DT_EUNSUPPORTED;
}
static void def_stats(const void *self, dt_est_stats *out)
{
    (void)self;
    memset(out, 0, sizeof *out);
}
static int def_budgets(void *self, dt_diag *diag)
{
    (void)self, (void)diag;
    return DT_OK;
}
static size_t def_count(const void *self)
{
    (void)self;
    return 0;
}
static int def_budget(const void *self, size_t i, double *tau_max, const char **name)
{
    (void)self, (void)i, (void)tau_max, (void)name;
    return DT_EINVAL;
}
static size_t def_violated(void *self, dt_time t)
{
    (void)self, (void)t;
    return 0;
}

static int def_reserve(void *self)
{
    (void)self;
    return DT_OK;
}
static int def_fuse(void *self, const dt_remote_belief *b, double *omega)
{
    (void)self, (void)b, (void)omega;
    return DT_EUNSUPPORTED;
}

void dt__filter_defaults(dt_filter_ops *o)
{
    if (o->deinit == NULL)
        o->deinit = def_deinit;
    if (o->start == NULL)
        o->start = def_start;
    if (o->states == NULL)
        o->states = def_ids;
    if (o->state == NULL)
        o->state = def_state;
    if (o->inputs == NULL)
        o->inputs = def_ids;
    if (o->input_index == NULL)
        o->input_index = def_input_index;
    if (o->set_input == NULL)
        o->set_input = def_set_input;
    if (o->matrices == NULL)
        o->matrices = def_matrices;
    if (o->stats == NULL)
        o->stats = def_stats;
    if (o->budgets == NULL)
        o->budgets = def_budgets;
    if (o->budget_count == NULL)
        o->budget_count = def_count;
    if (o->budget == NULL)
        o->budget = def_budget;
    if (o->bounds_violated_at == NULL)
        o->bounds_violated_at = def_violated;
    if (o->disputed == NULL)
        o->disputed = def_count;
    if (o->fuse_reserve == NULL)
        o->fuse_reserve = def_reserve;
    if (o->fuse == NULL)
        o->fuse = def_fuse;
}

/* ---- the twin's filter ---- */

void dt__filter_destroy(dt__filter *f)
{
    if (f == NULL)
        return;
    if (f->inited)
        f->ops.deinit(f->self);
    dt_allocator a = f->alloc;
    dt__free(&a, f->self);
    dt__free(&a, f);
}

dt_est *dt__filter_kf(const dt__filter *f)
{
    /* the registry copies tables: the kind is known by its init */
    if (f == NULL || f->ops.init != dt__kf_filter_ops.init)
        return NULL;
    return *(dt_est *const *)f->self;
}

/* Reads "estimator.kind" (default "kf"): *kind points into the description,
 * valid while its use lasts. Every refusal names the value. */
static int read_kind(const dt_config *sec, const char **kind, dt_diag *diag)
{
    const dt_config *k = dt_config_get(sec, "kind");
    if (k == NULL) {
        *kind = "kf";
        return DT_OK;
    }
    if (dt_config_string(k, kind) != DT_OK)
        return (dt__diag(diag, DT_EPARSE, "estimator.kind",
                         "expected the name of a filter kind (a string, e.g. \"kf\"), got %s",
                         dt__cfg_type_name(k)),
                DT_EPARSE);
    if ((*kind)[0] == '\0')
        return (dt__diag(diag, DT_EPARSE, "estimator.kind",
                         "empty: expected the name of a filter kind (e.g. \"kf\")"),
                DT_EPARSE);
    return DT_OK;
}

/* After init: the counts the twin sizes its own buffers by. set_input hands
 * the filter u, which the twin keeps for DT_LA_MAX inputs. */
static int check_counts(const dt__filter *f, const char *kind, dt_diag *diag)
{
    size_t p = f->ops.inputs(f->self, NULL, 0);
    if (p > DT_LA_MAX)
        return dt__diag(diag, DT_ELIMIT, "estimator",
                        "filter kind \"%.64s\" declares %zu inputs, more than the %d a twin "
                        "keeps",
                        kind, p, DT_LA_MAX);
    return DT_OK;
}

int dt__filter_create(const dt_registry *reg, const dt_model *model, const dt_allocator *a,
                      const dt_logger *lg, dt__filter **out, dt_diag *diag)
{
    /* the description's tree (the twin's build holds it; a model loaded on
     * its own is parsed once here), alive while init reads its view */
    dt__desc_use u;
    int rc = dt__desc_begin(model, a, &u, diag);
    if (rc != DT_OK)
        return rc;
    const dt_config *sec = dt__desc_get(&u, "estimator");
    const char *kind = NULL;
    const dt_filter_ops *ops = NULL;
    dt__filter *f = NULL;
    if (sec == NULL)
        rc = (dt__diag(diag, DT_ENOTFOUND, "estimator", "the description has no estimator"),
              DT_ENOTFOUND); /* the code as the value: the analyzer sees rc != DT_OK */
    else
        rc = read_kind(sec, &kind, diag);
    if (rc == DT_OK && (ops = dt_registry_filter(reg, kind)) == NULL) {
        char kinds[256];
        /* a long value is cut in the message (at a UTF-8 character's start),
         * not refused as something else */
        size_t len = strlen(kind), cut = len > 64 ? 64 : len;
        while (cut > 0 && cut < len && ((unsigned char)kind[cut] & 0xC0) == 0x80)
            cut--;
        rc = (dt__diag(diag, DT_EPARSE, "estimator.kind",
                       "unknown filter kind \"%.*s%s\" (registered: %s)", (int)cut, kind,
                       cut < len ? "..." : "",
                       dt__registry_filter_kinds(reg, kinds, sizeof kinds)),
              DT_EPARSE);
    }
    if (rc == DT_OK && (f = dt__calloc(a, 1, sizeof *f)) != NULL) {
        f->ops = *ops;
        f->alloc = *a;
        f->self = dt__calloc(a, 1, ops->instance_size);
    }
    if (rc == DT_OK && (f == NULL || f->self == NULL))
        rc = (dt__diag(diag, DT_ENOMEM, "estimator", "out of memory"), DT_ENOMEM);
    if (rc == DT_OK) {
        dt_filter_env env = {model, a, lg};
        if (diag != NULL)
            memset(diag, 0, sizeof *diag);
        rc = f->ops.init(f->self, &env, sec, diag);
        f->inited = 1;
        if (rc == DT_OK && diag != NULL)
            memset(diag, 0, sizeof *diag);
        if (rc != DT_OK && diag != NULL && diag->message[0] == '\0')
            (void)dt__diag(diag, rc, "estimator", "filter kind \"%.64s\" refused the section: %s",
                           kind, dt_strerror(rc));
        if (rc == DT_OK)
            rc = check_counts(f, kind, diag);
    }
    dt__desc_done(&u);
    if (rc != DT_OK) {
        dt__filter_destroy(f);
        return rc;
    }
    *out = f;
    return DT_OK;
}
