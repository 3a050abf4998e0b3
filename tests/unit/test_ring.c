#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

static dt_sample mk(uint64_t seq)
{
    dt_sample s = {0};
    s.signal = (uint32_t)(seq & 7);
    s.t_source = (dt_time)seq;
    s.value = (double)seq;
    return s;
}

static void test_create_rejects_bad_capacity(void **state)
{
    (void)state;
    dt_ring *r = NULL;
    assert_int_equal(dt_ring_create(NULL, 0, DT_OVERFLOW_DROP_NEWEST, &r), DT_EINVAL);
    assert_int_equal(dt_ring_create(NULL, 1, DT_OVERFLOW_DROP_NEWEST, &r), DT_EINVAL);
    assert_int_equal(dt_ring_create(NULL, 100, DT_OVERFLOW_DROP_NEWEST, &r), DT_EINVAL);
    assert_int_equal(dt_ring_create(NULL, (size_t)DT_RING_MAX_CAPACITY * 2,
                                    DT_OVERFLOW_DROP_NEWEST, &r), DT_EINVAL);
    assert_int_equal(dt_ring_create(NULL, 8, (dt_overflow)7, &r), DT_EINVAL);
    assert_null(r);
    assert_int_equal(dt_ring_create(NULL, 8, DT_OVERFLOW_DROP_NEWEST, &r), 0);
    assert_int_equal(dt_ring_capacity(r), 8);
    dt_ring_destroy(r);
}

static void test_drop_newest(void **state)
{
    (void)state;
    dt_ring *r;
    assert_int_equal(dt_ring_create(NULL, 4, DT_OVERFLOW_DROP_NEWEST, &r), 0);
    for (uint64_t i = 0; i < 6; i++) {
        dt_sample s = mk(i);
        assert_int_equal(dt_ring_push(r, &s), i < 4 ? 0 : DT_EFULL);
    }
    assert_int_equal(dt_ring_size(r), 4);
    dt_sample out[8];
    assert_int_equal(dt_ring_drain(r, out, 8), 4);
    for (int i = 0; i < 4; i++)
        assert_true(out[i].t_source == i); /* the oldest four kept */
    dt_ring_stats st;
    dt_ring_stats_get(r, &st);
    assert_int_equal(st.offered, 6);
    assert_int_equal(st.dropped_newest, 2);
    assert_int_equal(st.dropped_oldest, 0);
    assert_int_equal(st.drained, 4);
    /* push_n stops at capacity and counts the rest. */
    dt_sample batch[7];
    for (int i = 0; i < 7; i++)
        batch[i] = mk(100 + (uint64_t)i);
    assert_int_equal(dt_ring_push_n(r, batch, 7), 4);
    dt_ring_stats_get(r, &st);
    assert_int_equal(st.dropped_newest, 5);
    assert_int_equal(dt_ring_drain(r, out, 2), 2);
    assert_true(out[1].t_source == 101);
    assert_int_equal(dt_ring_drain(r, out, 0), 0);
    dt_ring_destroy(r);
}

static void test_drop_oldest(void **state)
{
    (void)state;
    dt_ring *r;
    assert_int_equal(dt_ring_create(NULL, 4, DT_OVERFLOW_DROP_OLDEST, &r), 0);
    for (uint64_t i = 0; i < 10; i++) {
        dt_sample s = mk(i);
        assert_int_equal(dt_ring_push(r, &s), 0);
    }
    dt_sample out[8];
    assert_int_equal(dt_ring_drain(r, out, 8), 4);
    for (int i = 0; i < 4; i++)
        assert_true(out[i].t_source == 6 + i); /* the newest four kept */
    dt_ring_stats st;
    dt_ring_stats_get(r, &st);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.dropped_oldest, 6);
    assert_int_equal(st.drained, 4);
    assert_int_equal(dt_ring_push_n(r, out, 4), 4);
    assert_int_equal(dt_ring_size(r), 4);
    dt_ring_destroy(r);
}

static void test_no_allocation_after_create(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator a = dtt_allocator(&c);
    dt_ring *r;
    assert_int_equal(dt_ring_create(&a, 64, DT_OVERFLOW_DROP_OLDEST, &r), 0);
    long calls = c.calls;
    dt_sample out[16];
    for (uint64_t i = 0; i < 100000; i++) {
        dt_sample s = mk(i);
        dt_ring_push(r, &s);
        if (i % 7 == 0)
            dt_ring_drain(r, out, 16);
    }
    assert_int_equal(c.calls, calls);
    dt_ring_destroy(r);
    assert_int_equal(c.live, 0);
}

/* ---- two threads ---- */

#define N_THREADED 10000000u

typedef struct xfer {
    dt_ring *ring;
    atomic_int done;
} xfer;

static void *producer(void *arg)
{
    xfer *x = arg;
    dt_sample batch[32];
    uint64_t seq = 0;
    while (seq < N_THREADED) {
        /* Mix single pushes and batches of 1..32. */
        size_t n = 1 + (size_t)(seq % 32);
        if (seq + n > N_THREADED)
            n = (size_t)(N_THREADED - seq);
        if (n == 1) {
            dt_sample s = mk(seq);
            dt_ring_push(x->ring, &s);
        } else {
            for (size_t i = 0; i < n; i++)
                batch[i] = mk(seq + i);
            dt_ring_push_n(x->ring, batch, n);
        }
        seq += n;
    }
    atomic_store(&x->done, 1);
    return NULL;
}

static void threaded(dt_overflow policy, size_t cap)
{
    xfer x;
    assert_int_equal(dt_ring_create(NULL, cap, policy, &x.ring), 0);
    atomic_init(&x.done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer, &x), 0);
    dt_sample out[64];
    uint64_t delivered = 0;
    int64_t last = -1;
    int bad_order = 0, corrupt = 0;
    for (;;) {
        int done = atomic_load(&x.done);
        size_t n = dt_ring_drain(x.ring, out, 64);
        for (size_t i = 0; i < n; i++) {
            if (out[i].t_source <= last)
                bad_order++;
            if (out[i].value != (double)out[i].t_source ||
                out[i].signal != (uint32_t)(out[i].t_source & 7))
                corrupt++;
            last = out[i].t_source;
        }
        delivered += n;
        if (n == 0 && done && dt_ring_size(x.ring) == 0)
            break;
    }
    pthread_join(th, NULL);
    dt_ring_stats st;
    dt_ring_stats_get(x.ring, &st);
    print_message("%s, capacity %zu: delivered %llu, dropped %llu\n",
                  policy == DT_OVERFLOW_DROP_NEWEST ? "drop-newest" : "drop-oldest", cap,
                  (unsigned long long)delivered,
                  (unsigned long long)(st.dropped_newest + st.dropped_oldest));
    assert_int_equal(bad_order, 0);
    assert_int_equal(corrupt, 0);
    assert_true(st.offered == N_THREADED);
    assert_true(st.drained == delivered);
    assert_true(delivered + st.dropped_newest + st.dropped_oldest == N_THREADED);
    assert_true(delivered > 0);
    dt_ring_destroy(x.ring);
}

static void test_threaded_10M_drop_newest(void **state)
{
    (void)state;
    threaded(DT_OVERFLOW_DROP_NEWEST, 1024);
}

static void test_threaded_10M_drop_oldest(void **state)
{
    (void)state;
    /* A small ring makes the producer overwrite while the consumer copies. */
    threaded(DT_OVERFLOW_DROP_OLDEST, 64);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_create_rejects_bad_capacity),
    cmocka_unit_test(test_drop_newest),
    cmocka_unit_test(test_drop_oldest),
    cmocka_unit_test(test_no_allocation_after_create),
    cmocka_unit_test(test_threaded_10M_drop_newest),
    cmocka_unit_test(test_threaded_10M_drop_oldest),
};

DTT_MAIN(tests)
