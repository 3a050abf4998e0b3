/* The twin driven by the libuv driver (dt_uv_attach) on a real libuv loop:
 * the UDP source is embedded through its loop hooks, commands come back on
 * the wire. Built only with the driver (DTWIN_WITH_UV). */
#define _DEFAULT_SOURCE /* uv.h needs the POSIX types */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

#include "dtwin/dtwin.h"
#include "dtwin/uv.h"

#include "udp_loop_doc.h"

typedef struct uvrun {
    int tx;
    struct sockaddr_in dst;
    dt_uv *drv;
} uvrun;

static void send_sample(uv_timer_t *h)
{
    uvrun *r = h->data;
    dt_wire_sample smp = {4, 0, 0, 250.0, 0};
    uint8_t frame[128];
    size_t len = dt_wire_encode_samples(frame, sizeof frame, 11, 1, &smp, 1);
    sendto(r->tx, frame, len, 0, (struct sockaddr *)&r->dst, sizeof r->dst);
}

static void stop_run(uv_timer_t *h)
{
    uvrun *r = h->data;
    dt_uv_stop(r->drv);
}

/* The same loop driven by dt_uv_attach on a real libuv loop: the UDP source
 * is embedded in it, commands come back on the wire. */
static void test_udp_on_uv_driver(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    uvrun r = {socket(AF_INET, SOCK_DGRAM, 0), {0}, NULL};
    struct sockaddr_in a;
    char doc[2048];
    udp_doc(doc, sizeof doc, bind_loopback(rx, &a));
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, NULL), 0);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(dt_uv_attach(t, &loop, 0.002, 0, &r.drv), 0);
    dt_udp_stats us;
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    r.dst = a;
    r.dst.sin_port = htons(us.port);
    uv_timer_t send_t, stop_t;
    uv_timer_init(&loop, &send_t);
    uv_timer_init(&loop, &stop_t);
    send_t.data = stop_t.data = &r;
    uv_timer_start(&send_t, send_sample, 20, 0);
    uv_timer_start(&stop_t, stop_run, 200, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    int signaled;
    assert_int_equal(dt_uv_status(r.drv, &signaled), 0);
    assert_false(signaled);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.cycles > 0); /* ~100 at 2 ms; how many is the machine's business */
    assert_int_equal(st.estimator.updates, 1);
    uint8_t in[256];
    dt_wire_command last = {0};
    ssize_t n;
    int frames = 0;
    while ((n = recv(rx, in, sizeof in, MSG_DONTWAIT)) > 0) {
        dt_wire_header h;
        assert_int_equal(dt_wire_decode(in, (size_t)n, &h), DT_WIRE_OK);
        dt_wire_command_at(in, 0, &last);
        frames++;
    }
    assert_true(frames > 0);
    assert_close(last.value, -50.0, 1e-3, 0);
    uv_close((uv_handle_t *)&send_t, NULL);
    uv_close((uv_handle_t *)&stop_t, NULL);
    dt_uv_detach(r.drv);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    dt_twin_destroy(t);
    close(rx);
    close(r.tx);
}

/* The driver polls the adapters through the twin's io: once the planes are
 * taken the raw pointer gives none, and attaching is refused (attach
 * first); a driver attached before keeps stepping the partitioned twin. */
static void test_attach_and_planes(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    char doc[2048];
    udp_doc(doc, sizeof doc, bind_loopback(rx, &a));
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, NULL), 0);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    dt_uv *drv = NULL;
    assert_int_equal(dt_uv_attach(t, &loop, 0.002, 0, &drv), DT_EPLANE);
    assert_null(drv);
    dt_twin_destroy(t);
    /* attached first, then partitioned: it steps on */
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, NULL), 0);
    assert_int_equal(dt_uv_attach(t, &loop, 0.002, 0, &drv), 0);
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    uv_run(&loop, UV_RUN_ONCE); /* at least one timer tick or I/O pass */
    while (dt_uv_now(drv) == 0)
        uv_run(&loop, UV_RUN_ONCE);
    dt_twin_stats st;
    assert_int_equal(dt_data_stats(pl.data, &st), 0);
    assert_true(st.cycles > 0);
    dt_uv_detach(drv);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    dt_twin_destroy(t);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_on_uv_driver),
        cmocka_unit_test(test_attach_and_planes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
