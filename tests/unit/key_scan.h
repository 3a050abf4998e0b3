/* An allocator that scans every block it frees for any 8 consecutive bytes
 * of a key (the tests that show key bytes never reach memory the library
 * frees: test_udp_auth, test_cmdauth_twin). The including file includes
 * test_util.h and dtwin/dtwin.h first. */
#ifndef DTWIN_TEST_KEY_SCAN_H
#define DTWIN_TEST_KEY_SCAN_H

#include <stdlib.h>
#include <string.h>

typedef struct scan {
    unsigned char key[DT_KEY_BYTES];
    size_t blocks, hits;
} scan;

static inline void *scan_malloc(void *user, size_t n)
{
    (void)user;
    size_t *p = calloc(1, sizeof(size_t) * 2 + n); /* zeroed: the scan reads every byte */
    if (p == NULL)
        return NULL;
    p[0] = n;
    return p + 2;
}

static inline void scan_free(void *user, void *ptr)
{
    scan *s = user;
    if (ptr == NULL)
        return;
    size_t *p = (size_t *)ptr - 2;
    const unsigned char *b = ptr;
    s->blocks++;
    /* any 8 consecutive bytes of the key betray it */
    for (size_t i = 0; p[0] >= 8 && i + 8 <= p[0]; i++)
        for (size_t o = 0; o + 8 <= DT_KEY_BYTES; o++)
            if (memcmp(b + i, s->key + o, 8) == 0) {
                s->hits++;
                break;
            }
    free(p);
}

static inline void *scan_realloc(void *user, void *ptr, size_t n)
{
    void *q = scan_malloc(user, n);
    if (q != NULL && ptr != NULL) {
        size_t old = ((size_t *)ptr)[-2];
        memcpy(q, ptr, old < n ? old : n);
        scan_free(user, ptr);
    }
    return q;
}

/* Whether any 8 consecutive bytes of key lie in b[0..n). */
static inline int scan_holds(const unsigned char *b, size_t n, const unsigned char *key)
{
    for (size_t i = 0; n >= 8 && i + 8 <= n; i++)
        for (size_t o = 0; o + 8 <= DT_KEY_BYTES; o++)
            if (memcmp(b + i, key + o, 8) == 0)
                return 1;
    return 0;
}

#endif
