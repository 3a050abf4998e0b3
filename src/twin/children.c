/* Composite twins (docs/model.md, "Composite twins"): the "children"
 * section loads whole twins with the parent (its allocator, registry and
 * logger, each message prefixed with the child's id), the "child" sources
 * are bound to them, and the parent starts them before itself, steps them at
 * the start of each of its steps with the same now, and stops and destroys
 * them with itself. A composite is one level deep: a child has no children.
 * Their flight log, inside the parent's, is children_log.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../adapters/child_source.h"
#include "../desc/desc.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "dtwin/composite.h"
#include "children_internal.h"
#include "twin_internal.h"

#define fail dt__fail

typedef struct lctx {
    dt_diag *diag;
} lctx;

static const char *const child_entry_keys[] = {"id", "description", "twin", NULL};

static void kid_log(void *user, dt_log_level level, const char *module, const char *message)
{
    const kid *k = user;
    const dt_logger *pl = &k->parent->log;
    if (pl->fn == NULL || level > pl->max_level)
        return;
    char msg[512];
    dt__fmt(msg, sizeof msg, "child %s: %s", k->id, message);
    pl->fn(pl->user, level, module, msg);
}

static int valid_id(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++, n++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return n >= 1 && n <= 64;
}

static kid *find(const dt_twin *t, const char *id)
{
    for (size_t i = 0; i < t->n_kids; i++)
        if (strcmp(t->kids[i].id, id) == 0)
            return &t->kids[i];
    return NULL;
}

/* The child's own refusal under the entry's path: an inline child's path
 * continues the parent's (children[0].twin.sources[1].kind), a file's is
 * named with its file. */
static int child_failed(dt_diag *diag, int rc, const char *q, const char *file,
                        const dt_diag *cd)
{
    if (diag == NULL)
        return rc;
    const char *msg = cd->message[0] ? cd->message : dt_strerror(rc);
    diag->code = rc;
    diag->line = diag->column = 0; /* a child's line is not one of this document */
    if (file != NULL) {
        dt__fmt(diag->path, sizeof diag->path, "%s", q);
        dt__fmt(diag->message, sizeof diag->message, "%s: \"%s\": %s", q, file, msg);
    } else if (cd->path[0] != '\0') {
        dt__fmt(diag->path, sizeof diag->path, "%s.%s", q, cd->path);
        dt__fmt(diag->message, sizeof diag->message, "%s.%s", q, msg);
    } else {
        dt__fmt(diag->path, sizeof diag->path, "%s", q);
        dt__fmt(diag->message, sizeof diag->message, "%s: %s", q, msg);
    }
    return rc;
}

/* The text of entry e's child, and the directory its relative paths start
 * from. */
static int child_text(dt_twin *t, const dt_config *e, const char *p, const dt__desc_use *u,
                      char **text, size_t *len, char *dir, size_t dircap, dt_diag *diag)
{
    lctx c = {diag};
    const dt_config *jd = dt_config_get(e, "description");
    const char *base = dt__io_basedir(t->io);
    char q[64], path[512], gb[40];
    dt_diag rd;
    memset(&rd, 0, sizeof rd);
    if (jd == NULL) {
        dt__fmt(q, sizeof q, "%s.twin", p);
        const dt_config *jt = dt_config_get(e, "twin");
        if (!dt__cfg_is_object(jt))
            return fail(&c, DT_EPARSE, q, "expected a twin description (an object), got %s",
                        dt__cfg_got(jt, gb, sizeof gb));
        int rc = dt__desc_keep(u->d, jt, &t->alloc, text, &rd);
        if (rc != DT_OK)
            return fail(&c, rc, q, "%s", rd.message);
        *len = strlen(*text);
        dt__fmt(dir, dircap, "%s", base);
        return DT_OK;
    }
    dt__fmt(q, sizeof q, "%s.description", p);
    const char *f = dt__cfg_str(jd);
    if (f == NULL || f[0] == '\0')
        return fail(&c, DT_EPARSE, q, "expected the child's file name, got %s",
                    dt__cfg_got(jd, gb, sizeof gb));
    if (dt__resolve_path(base, f, path, sizeof path) != DT_OK)
        return fail(&c, DT_ELIMIT, q, "\"%s\": the path is too long", f);
    FILE *probe = fopen(path, "rb"); /* for the system's reason, which the reader omits */
    if (probe == NULL) {
        int e2 = errno;
        return fail(&c, DT_EIO, q, "cannot read \"%s\": %s", f, strerror(e2));
    }
    (void)fclose(probe);
    int rc = dt__read_file(path, &t->alloc, 16u << 20, text, len, &rd);
    if (rc != DT_OK)
        return fail(&c, rc, q, "cannot read \"%s\": %s", f, rd.message);
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        dt__fmt(dir, dircap, ".");
    else if (slash == path)
        dt__fmt(dir, dircap, "/");
    else
        dt__fmt(dir, dircap, "%.*s", (int)(slash - path), path);
    return DT_OK;
}

static int load_one(dt_twin *t, const dt_config *e, size_t i, const dt__desc_use *u,
                    dt_diag *diag)
{
    lctx c = {diag};
    char p[32], q[64], gb[40];
    dt__fmt(p, sizeof p, "children[%zu]", i);
    if (!dt__cfg_is_object(e))
        return fail(&c, DT_EPARSE, p,
                    "expected an object {\"id\", and \"description\" or \"twin\"}, got %s",
                    dt__cfg_got(e, gb, sizeof gb));
    int rc = dt__cfg_check_keys(diag, e, p, child_entry_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const dt_config *jid = dt_config_get(e, "id");
    const char *id = dt__cfg_str(jid);
    dt__fmt(q, sizeof q, "%s.id", p);
    if (id == NULL || !valid_id(id))
        return fail(&c, DT_EPARSE, q,
                    "required, 1 to 64 letters, digits, '_', '.' or '-'; got %s%s%s",
                    id ? "\"" : "", id ? id : dt__cfg_got(jid, gb, sizeof gb), id ? "\"" : "");
    const kid *dup = find(t, id);
    if (dup != NULL)
        return fail(&c, DT_EPARSE, q, "duplicate child id \"%s\" (children[%u] has it)", id,
                    (unsigned)dup->index);
    int has_d = dt_config_get(e, "description") != NULL, has_t = dt_config_get(e, "twin") != NULL;
    if (has_d == has_t)
        return fail(&c, DT_EPARSE, p,
                    has_d ? "give \"description\" (the child's file) or \"twin\" (its "
                            "description inline), not both"
                          : "needs \"description\" (the child's file, relative to this one) "
                            "or \"twin\" (its description inline)");
    kid *k = &t->kids[t->n_kids];
    k->id = dt__strndup(&t->alloc, id, strlen(id));
    if (k->id == NULL)
        return fail(&c, DT_ENOMEM, p, "out of memory");
    k->parent = t;
    k->index = (uint32_t)i;
    k->log = (dt_logger){kid_log, k, t->log.max_level};
    t->n_kids++;
    char *text = NULL, dir[512];
    size_t len = 0;
    if ((rc = child_text(t, e, p, u, &text, &len, dir, sizeof dir, diag)) != DT_OK)
        return rc;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &t->alloc;
    o.logger = &k->log;
    o.registry = t->reg;
    o.basedir = dir;
    o.replay = t->replay;
    o.validate = t->check_only;
    dt_diag cd;
    memset(&cd, 0, sizeof cd);
    rc = dt__twin_load_child(text, len, &o, &k->t, &cd);
    dt__free(&t->alloc, text);
    if (rc == DT_OK)
        return DT_OK;
    dt__fmt(q, sizeof q, "%s.%s", p, has_d ? "description" : "twin");
    return child_failed(diag, rc, q, has_d ? dt__cfg_str(dt_config_get(e, "description")) : NULL,
                        &cd);
}

/* ---- binding the child sources ---- */

/* Entry j of child source p: the child's state it reads (into *state),
 * units and semantic ids checked (never converted silently), the parent's
 * signal one its estimator measures. */
static int bind_entry(dt_twin *t, const char *p, size_t j, const kid *k, const dt_mapping *mp,
                      int *state, dt_diag *diag)
{
    lctx c = {diag};
    char q[96], r[96];
    dt__fmt(q, sizeof q, "%s.mapping[%zu].native", p, j);
    dt__fmt(r, sizeof r, "%s.mapping[%zu].signal", p, j);
    if (mp->native == NULL)
        return fail(&c, DT_EPARSE, q,
                    "required: a child source maps by \"native\" (the child's estimated "
                    "signal), not by channel");
    const dt_model *cm = dt_twin_model(k->t);
    dt_est *ce = dt__filter_kf(k->t->est); /* not the raw accessor: planes may be taken */
    dt_signal_id cs;
    if (dt_model_find_signal(cm, mp->native, &cs) != DT_OK)
        return fail(&c, DT_EPARSE, q, "child \"%s\" has no signal \"%s\"", k->id, mp->native);
    const dt_signal_info *ci = dt_model_signal(cm, cs);
    if ((*state = dt_est_state_index(ce, cs)) < 0)
        return fail(&c, DT_EPARSE, q,
                    "\"%s\" is not a state of child \"%s\"'s estimator (it is %s)", mp->native,
                    k->id, dt_role_name(ci->role));
    const dt_signal_info *pi = dt_model_signal(t->model, mp->signal);
    if (pi->role != DT_ROLE_MEASURED)
        return fail(&c, DT_EPARSE, r,
                    "\"%s\" is %s: a child's belief measures a measured signal of this twin",
                    pi->id, dt_role_name(pi->role));
    dt_est *pe = dt__filter_kf(t->est);
    dt_est_signal_stats ss;
    if (pe != NULL && dt_est_signal_stats_get(pe, mp->signal, &ss) != DT_OK)
        return fail(&c, DT_EPARSE, r,
                    "this twin's estimator has no measurement of \"%s\": the child's belief "
                    "would update nothing",
                    pi->id);
    double a = 0, b = 0;
    dt__fmt(q, sizeof q, "%s.mapping[%zu].unit", p, j);
    if (dt_unit_conversion(&ci->unit, &pi->unit, &a, &b) != DT_OK)
        return fail(&c, DT_EUNIT, q,
                    "child \"%s\" gives %s in \"%s\", which is not a unit of %s (\"%s\")", k->id,
                    ci->id, ci->unit_symbol, pi->id, pi->unit_symbol);
    if (a != mp->scale || b != mp->offset)
        return fail(&c, DT_EUNIT, q,
                    "child \"%s\" gives %s in \"%s\", which this mapping to %s (\"%s\") does not "
                    "convert from: give \"unit\": \"%s\" in the mapping",
                    k->id, ci->id, ci->unit_symbol, pi->id, pi->unit_symbol, ci->unit_symbol);
    const char *cx = ci->semantic_id, *px = pi->semantic_id;
    if (cx != NULL && px != NULL && cx[0] != '\0' && px[0] != '\0' && strcmp(cx, px) != 0) {
        dt__fmt(q, sizeof q, "%s.mapping[%zu]", p, j);
        return fail(&c, DT_EPARSE, q,
                    "child \"%s\"'s %s has semantic id \"%s\", %s has \"%s\": not the same "
                    "quantity",
                    k->id, ci->id, cx, pi->id, px);
    }
    return DT_OK;
}

/* The group: the mapped states, and every state they depend on through A or
 * share noise with through Q, transitively (so the group's own A and Q age
 * it exactly as the child's filter would). */
static size_t closure(const double *A, const double *Q, size_t N, unsigned char *in)
{
    for (int grew = 1; grew;) {
        grew = 0;
        for (size_t a = 0; a < N; a++)
            for (size_t j = 0; in[a] && j < N; j++)
                if (!in[j] && (A[a * N + j] != 0 || Q[a * N + j] != 0)) {
                    in[j] = 1;
                    grew = 1;
                }
    }
    size_t n = 0;
    for (size_t a = 0; a < N; a++)
        n += in[a];
    return n;
}

static int bind_one(dt_twin *t, size_t i, const dt_config *cfg, dt_diag *diag)
{
    lctx c = {diag};
    char p[32], q[64], err[200], ids[160];
    dt__fmt(p, sizeof p, "sources[%zu]", i);
    dt__child_cfg cc;
    if (dt__child_source_config(cfg, &cc, err, sizeof err) != DT_OK)
        return fail(&c, DT_EPARSE, p, "%s", err);
    dt__fmt(q, sizeof q, "%s.child", p);
    const kid *k = find(t, cc.child);
    if (k == NULL) {
        size_t n = 0;
        ids[0] = '\0';
        for (size_t j = 0; j < t->n_kids; j++)
            n += (size_t)snprintf(ids + n, n < sizeof ids ? sizeof ids - n : 0, "%s%s",
                                  j ? ", " : "", t->kids[j].id);
        return fail(&c, DT_EPARSE, q, "no child \"%s\" (%s%s)", cc.child,
                    t->n_kids ? "children: " : "the description has no \"children\"",
                    t->n_kids ? ids : "");
    }
    if (t->est == NULL)
        return fail(&c, DT_EPARSE, p,
                    "a child's belief is fused into this twin's estimator: declare one");
    dt_est *ce = dt__filter_kf(k->t->est); /* not the raw accessor: planes may be taken */
    dt_kf *kf = ce != NULL ? dt_est_kf(ce) : NULL;
    if (ce == NULL)
        return fail(&c, DT_EPARSE, q,
                    "child \"%s\" has no Kalman filter (an \"estimator\" of kind \"kf\"): it "
                    "has no belief to offer", k->id);
    const double *A = dt_kf_model_A(kf), *Q = dt_kf_model_Q(kf);
    if (A == NULL || Q == NULL)
        return fail(&c, DT_EPARSE, q,
                    "child \"%s\"'s estimator has no continuous linear model (A, Q): its "
                    "belief could not be aged to this twin's time", k->id);
    if (dt_est_input_count(ce) > 0)
        return fail(&c, DT_EPARSE, q,
                    "child \"%s\"'s estimator has inputs (%zu): a belief is aged with A and Q "
                    "alone, so a child with inputs cannot be fused exactly", k->id,
                    dt_est_input_count(ce));
    dt_source_ctx *ctx = dt_io_source_ctx(t->io, i);
    size_t m = dt_source_mapping_count(ctx), N = dt_est_dim(ce);
    dt__fmt(q, sizeof q, "%s.mapping", p);
    if (m < 1 || m > DT_REMOTE_MAPPED_MAX)
        return fail(&c, DT_EPARSE, q,
                    "1 to %d entries, each a state of the child measuring a signal of this "
                    "twin; got %zu", DT_REMOTE_MAPPED_MAX, m);
    dt__child_binding b;
    memset(&b, 0, sizeof b);
    b.est = ce;
    b.mode = cc.mode;
    b.m = m;
    int st[DT_REMOTE_MAPPED_MAX];
    unsigned char in[DT_LA_MAX] = {0};
    for (size_t j = 0; j < m; j++) {
        const dt_mapping *mp = dt_source_mapping(ctx, j);
        int rc = bind_entry(t, p, j, k, mp, &st[j], diag);
        if (rc != DT_OK)
            return rc;
        in[st[j]] = 1;
        b.signal[j] = mp->signal;
        b.scale[j] = mp->scale;
        b.offset[j] = mp->offset;
    }
    size_t n = closure(A, Q, N, in);
    if (n > DT_REMOTE_STATES_MAX)
        return fail(&c, DT_ELIMIT, q,
                    "the states it reads depend on %zu of child \"%s\"'s %zu states through "
                    "its model (A and Q); a belief carries at most %d",
                    n, k->id, N, DT_REMOTE_STATES_MAX);
    uint32_t pos[DT_LA_MAX] = {0};
    for (size_t s = 0; s < N; s++)
        if (in[s]) {
            pos[s] = (uint32_t)b.n;
            b.state[b.n++] = (uint32_t)s;
        }
    for (size_t j = 0; j < m; j++)
        b.index[j] = pos[st[j]];
    return dt__child_source_bind(t->io, i, &b);
}

int dt__twin_children_read(dt_twin *t, const dt_config *a, const dt__desc_use *u, dt_diag *diag)
{
    lctx c = {diag};
    char gb[40];
    if (a != NULL && t->depth > 0)
        return fail(&c, DT_EPARSE, "children",
                    "a child twin cannot have children of its own: a composite is one level "
                    "deep");
    if (a != NULL) {
        int n = dt__cfg_count(a);
        char nb[40];
        if (!dt__cfg_is_array(a))
            dt__fmt(gb, sizeof gb, "%s", dt__cfg_got(a, nb, sizeof nb));
        else if (n < 1)
            dt__fmt(gb, sizeof gb, "none");
        else
            dt__fmt(gb, sizeof gb, "%d", n);
        if (!dt__cfg_is_array(a) || n < 1 || n > DT_TWIN_CHILDREN_MAX)
            return fail(&c, DT_EPARSE, "children", "an array of 1 to %d children, got %s",
                        DT_TWIN_CHILDREN_MAX, gb);
        t->kids = dt__calloc(&t->alloc, (size_t)n, sizeof *t->kids);
        if (t->kids == NULL)
            return fail(&c, DT_ENOMEM, "children", "out of memory");
        size_t i = 0;
        for (const dt_config *e = dt__cfg_child(a); e != NULL; e = dt__cfg_next(e), i++) {
            int rc = load_one(t, e, i, u, diag);
            if (rc != DT_OK)
                return rc;
            for (size_t j = 0; j < i; j++)
                if (dt__twin_auth_name_clash(t->kids[j].t, t->kids[i].t)) {
                    char q[32];
                    dt__fmt(q, sizeof q, "children[%zu]", i);
                    return fail(&c, DT_EPARSE, q,
                                "named \"%s\" as children[%zu], and both take signed "
                                "commands: a record for one would be carried out by the other "
                                "(the name is in its address)",
                                dt_model_name(t->kids[i].t->model), j);
                }
        }
    }
    const dt_config *srcs = dt__desc_get(u, "sources");
    for (size_t i = 0; i < dt_io_source_count(t->io); i++) {
        if (!dt__child_source_is(t->io, i))
            continue;
        int rc = bind_one(t, i, dt_config_at(srcs, i), diag);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

/* ---- running them ---- */

int dt__twin_children_start(dt_twin *t, dt_time now)
{
    for (size_t i = 0; i < t->n_kids; i++) {
        kid *k = &t->kids[i];
        if (k->t->started) /* by an earlier start that failed later */
            continue;
        dt__kid_seg_begin(k);
        int rc = dt_twin_start(k->t, now);
        dt__kid_seg_end(k);
        if (rc != DT_OK) {
            dt__fmt(t->err, sizeof t->err, "start failed: child %s: %s", k->id,
                    dt_twin_errmsg(k->t)[0] ? dt_twin_errmsg(k->t) : dt_strerror(rc));
            return rc;
        }
    }
    return DT_OK;
}

int dt__twin_children_step(dt_twin *t, dt_time now)
{
    int rc = DT_OK;
    for (size_t i = 0; i < t->n_kids; i++) {
        kid *k = &t->kids[i];
        k->last_rc = DT_OK;
        if (!k->t->started || k->t->stopped)
            continue;
        dt__kid_seg_begin(k);
        k->last_rc = dt_twin_step(k->t, now);
        dt__kid_seg_end(k);
        if (k->last_rc != DT_OK && rc == DT_OK)
            rc = k->last_rc;
    }
    return rc;
}

int dt__twin_children_failed(dt_twin *t, int rc)
{
    for (size_t i = 0; i < t->n_kids; i++)
        if (t->kids[i].last_rc == rc) {
            dt__fmt(t->err, sizeof t->err, "child %s: %s", t->kids[i].id,
                    dt_twin_errmsg(t->kids[i].t)[0] ? dt_twin_errmsg(t->kids[i].t)
                                                    : dt_strerror(rc));
            break;
        }
    return rc;
}

void dt__twin_children_stop(dt_twin *t)
{
    for (size_t i = 0; i < t->n_kids; i++)
        if (t->kids[i].t->started && !t->kids[i].t->stopped)
            (void)dt_twin_stop(t->kids[i].t);
}

void dt__twin_children_destroy(dt_twin *t)
{
    for (size_t i = 0; i < t->n_kids; i++) {
        dt_twin_destroy(t->kids[i].t);
        dt__free(&t->alloc, t->kids[i].id);
    }
    dt__free(&t->alloc, t->kids);
    t->kids = NULL;
    t->n_kids = 0;
}

/* ---- the public accessors ---- */

size_t dt_twin_child_count(const dt_twin *t) { return t != NULL ? t->n_kids : 0; }

dt_twin *dt_twin_child(dt_twin *t, size_t i)
{
    return t != NULL && i < t->n_kids ? t->kids[i].t : NULL;
}

const char *dt_twin_child_id(const dt_twin *t, size_t i)
{
    return t != NULL && i < t->n_kids ? t->kids[i].id : NULL;
}

int dt_twin_find_child(const dt_twin *t, const char *id, size_t *index)
{
    if (t == NULL || id == NULL || index == NULL)
        return DT_EINVAL;
    const kid *k = find(t, id);
    if (k == NULL)
        return DT_ENOTFOUND;
    *index = k->index;
    return DT_OK;
}
