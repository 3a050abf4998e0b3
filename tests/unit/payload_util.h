/* Helpers shared by the payload tests (test_payload*.c): every text is
 * handed to the code under test in a heap block of exactly its length, so
 * that ASan sees any read past n. */
#ifndef DTWIN_TEST_PAYLOAD_UTIL_H
#define DTWIN_TEST_PAYLOAD_UTIL_H

#include <stdlib.h>

#include "test_util.h"

#include "desc/payload.h"

/* A copy of n bytes with nothing after them. */
static inline char *exact(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

static inline int number_n(const char *s, size_t n, double *v)
{
    char *p = exact(s, n);
    int r = dt__payload_number(p, n, v);
    free(p);
    return r;
}
static inline int number(const char *s, double *v) { return number_n(s, strlen(s), v); }

static inline int tnum(const char *s, dt__payload_time_enc enc, int64_t *ns)
{
    char *p = exact(s, strlen(s));
    int r = dt__payload_time_number(p, strlen(s), enc, ns);
    free(p);
    return r;
}

static inline int rfc(const char *s, int64_t *ns)
{
    char *p = exact(s, strlen(s));
    int r = dt__payload_rfc3339(p, strlen(s), ns);
    free(p);
    return r;
}

#define assert_reason(got, want)                                                           \
    do {                                                                                   \
        int g_ = (got), w_ = (want);                                                       \
        if (g_ != w_) {                                                                    \
            print_error("reason %s, expected %s\n", dt__payload_reason_name(g_),            \
                        dt__payload_reason_name(w_));                                       \
            fail();                                                                        \
        }                                                                                  \
    } while (0)

static inline void spec_json(dt__payload_spec *sp, const char *value, const char *time,
                      dt__payload_time_enc enc)
{
    char err[256];
    memset(sp, 0, sizeof *sp);
    sp->format = DT__PAYLOAD_FMT_JSON;
    assert_int_equal(dt__payload_path_compile(value, &sp->value, err, sizeof err), 0);
    if (time != NULL) {
        sp->has_time = 1;
        sp->time_enc = enc;
        assert_int_equal(dt__payload_path_compile(time, &sp->time, err, sizeof err), 0);
    }
}

static inline int read_n(const dt__payload_spec *sp, const char *s, size_t n, dt__payload_value *v)
{
    char *p = exact(s, n);
    int r = dt__payload_read(sp, p, n, NULL, v);
    free(p);
    return r;
}
static inline int read_s(const dt__payload_spec *sp, const char *s, dt__payload_value *v)
{
    return read_n(sp, s, strlen(s), v);
}

/* The value at path in doc, as the payload reader finds it: reason and value. */
static inline int json_at(const char *doc, const char *path, double *v)
{
    dt__payload_spec sp;
    spec_json(&sp, path, NULL, DT__PAYLOAD_TIME_S);
    sp.allow_bool = 1;
    dt__payload_value out;
    int r = read_s(&sp, doc, &out);
    if (r == DT__PAYLOAD_OK)
        *v = out.value;
    return r;
}


#endif
