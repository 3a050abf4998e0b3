/* A flight log in memory for the tests: dt_twin_record writes it through
 * mem_write, a replay reads it back through mem_read (pos is the reader's
 * place). Static functions: include it in one test file, once. */
#ifndef DTWIN_TESTS_MEMBUF_H
#define DTWIN_TESTS_MEMBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

typedef struct membuf {
    uint8_t *p;
    size_t n, cap, pos;
} membuf;

static int mem_write(void *user, const void *data, size_t len)
{
    membuf *m = user;
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return DT_OK;
}

/* DT_EEMPTY at the end of the log, DT_EIO on a record cut short */
static int mem_read(void *user, void *data, size_t len)
{
    membuf *m = user;
    if (m->pos == m->n)
        return DT_EEMPTY;
    if (m->n - m->pos < len)
        return DT_EIO;
    memcpy(data, m->p + m->pos, len);
    m->pos += len;
    return DT_OK;
}

#endif
