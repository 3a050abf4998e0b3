/* A composite's one flight log (docs/model.md, "One flight log"): while
 * the parent records, each child records into it through the parent's
 * writer, every write of the child one REC_CHILD record (u32 child index,
 * u32 length, the child's bytes). What a child writes during one call of
 * the parent (its header, its start, its step) is one segment, ended by a
 * REC_CHILD of length 0; a write outside such a call (a command the host
 * submits to the child) is a segment of its own. The parent's replay hands
 * each segment to the child's replay as it meets it: the children re-run
 * their own logs, step for step, before the parent's step, while the parent
 * re-runs from the beliefs it logged (REC_BELIEF). */
#include <string.h>

#include "../platform/internal.h"
#include "children_internal.h"
#include "twin_internal.h"

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void dt__kid_seg_begin(kid *k)
{
    k->in_seg = 1;
    k->seg_writes = 0;
}

/* A segment's end: a REC_CHILD of length 0 after the child's writes. */
void dt__kid_seg_end(kid *k)
{
    k->in_seg = 0;
    if (k->seg_writes > 0 && k->parent->rec_write != NULL) {
        uint8_t h[9] = {REC_CHILD};
        put_u32(h + 1, k->index);
        put_u32(h + 5, 0);
        dt__twin_rec(k->parent, h, sizeof h);
    }
}

/* ---- one flight log ---- */

/* The child's writer: each write one REC_CHILD record through the parent's;
 * a write outside a segment closes its own. */
static int kid_write(void *user, const void *data, size_t len)
{
    kid *k = user;
    dt_twin *p = k->parent;
    if (p->rec_write == NULL || len > UINT32_MAX)
        return DT_EIO;
    if (len == 0)
        return DT_OK; /* nothing: a record of length 0 ends a segment */
    uint8_t h[9] = {REC_CHILD};
    put_u32(h + 1, k->index);
    put_u32(h + 5, (uint32_t)len);
    dt__twin_rec(p, h, sizeof h);
    dt__twin_rec(p, data, len);
    if (p->rec_write == NULL)
        return DT_EIO; /* the parent stopped recording: so does the child */
    if (k->in_seg) {
        k->seg_writes++;
    } else {
        k->seg_writes = 1;
        dt__kid_seg_end(k);
    }
    return DT_OK;
}

int dt__twin_children_record(dt_twin *t)
{
    for (size_t i = 0; i < t->n_kids; i++) {
        kid *k = &t->kids[i];
        dt__kid_seg_begin(k);
        int rc = dt_twin_record(k->t, kid_write, k);
        dt__kid_seg_end(k);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

/* A child's segment, read out of the parent's log: its REC_CHILD records of
 * that child up to the one of length 0 (then DT_EEMPTY, the child's end). */
typedef struct seg_reader {
    dt_record_read_fn fn;
    void *user;
    uint32_t index, left;
    int ended, cut;
} seg_reader;

static int seg_read(void *user, void *data, size_t len)
{
    seg_reader *r = user;
    uint8_t *d = data;
    size_t got = 0;
    while (got < len) {
        if (r->left == 0) {
            uint8_t h[9];
            if (r->ended)
                return got == 0 ? DT_EEMPTY : DT_EPARSE;
            if (r->fn(r->user, h, sizeof h) != DT_OK || h[0] != REC_CHILD ||
                get_u32(h + 1) != r->index) {
                r->cut = 1;
                return DT_EPARSE;
            }
            r->left = get_u32(h + 5);
            r->ended = r->left == 0;
            continue;
        }
        size_t n = len - got < r->left ? len - got : r->left;
        if (r->fn(r->user, d + got, n) != DT_OK) {
            r->cut = 1;
            return DT_EPARSE;
        }
        got += n;
        r->left -= (uint32_t)n;
    }
    return DT_OK;
}

int dt__twin_rp_child(dt_twin *t, dt_record_read_fn fn, void *user)
{
    uint8_t h[8];
    if (fn(user, h, sizeof h) != DT_OK) {
        dt__fmt(t->err, sizeof t->err, "replay: a child's record is cut short");
        return DT_EPARSE;
    }
    uint32_t i = get_u32(h);
    if (i >= t->n_kids) {
        dt__fmt(t->err, sizeof t->err, "replay: a record of child %u; this twin has %zu",
                (unsigned)i, t->n_kids);
        return DT_EPARSE;
    }
    kid *k = &t->kids[i];
    seg_reader r = {fn, user, i, get_u32(h + 4), 0, 0};
    if (r.left == 0)
        return DT_OK; /* an empty segment: nothing for the child */
    int rc = dt__twin_replay_segment(k->t, seg_read, &r);
    if (rc == DT_OK && !r.ended)
        rc = DT_EPARSE; /* the child stopped before its segment's end */
    if (rc != DT_OK)
        dt__fmt(t->err, sizeof t->err, "child %s: %s", k->id,
                r.cut ? "its records are cut short"
                : dt_twin_errmsg(k->t)[0] ? dt_twin_errmsg(k->t)
                                          : dt_strerror(rc));
    return rc;
}

void dt__twin_children_replay_end(dt_twin *t)
{
    for (size_t i = 0; i < t->n_kids; i++)
        dt__twin_replay_end(t->kids[i].t);
}

