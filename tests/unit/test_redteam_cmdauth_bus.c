/* Red team of signed commands on the bus: a reproducer kept so that it
 * stays fixed. Before the fix a signed record on cmd/{signal}/{issuer}
 * skipped the accepted signal's own deadline_max ("the longest deadline an
 * issuer may give a command; a command asking for more is refused",
 * docs/bus.md): only dispatcher.auth's, the twin-wide one, bounded it, so a
 * valve accepted with 0.5 s took a record good for 30 s (one a broker or a
 * bridge may hold back that long). */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#include "bus_issuer.h"

static char keydir[64];
static char planner_hex[65];

static const char rcv_auth_fmt[] =
    "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"flow\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"valve\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0},"
    "  \"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],\"deadline_max\":60}},"
    "%s,\"accept\":[{\"signal\":\"valve\",\"deadline_max\":0.5}]},\"loop\":{\"period\":0.01}}";

static void test_signed_accept_deadline_max(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_auth_fmt, planner_hex, bus);
    dt_twin *rcv = load(doc, NULL);
    assert_int_equal(dt_twin_start(rcv, mono()), 0);
    issuer s;
    issuer_start(&s, b.port);
    UNTIL(rcv, &s, bus_counter(rcv, "mqtt.connects") > 0 && s.contract[0] != '\0');
    dt_keystore *ks = NULL;
    dt_key *planner = NULL;
    assert_int_equal(dt_keystore_file(keydir, &ks, NULL), 0);
    assert_int_equal(dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    size_t n = 0;
    dt_signed_command sc;
    memset(&sc, 0, sizeof sc);
    assert_int_equal(dt_cmd_address("rcv", "valve", sc.address), 0);
    sc.epoch = 1;
    /* 1: good for 30 s, past the valve's 0.5 s: refused before the queue */
    sc.seq = 1;
    sc.t_issued = mono();
    sc.t_deadline = sc.t_issued + 30 * DT_NS_PER_S;
    sc.value = 0.75;
    assert_int_equal(dt_cmd_sign(planner, &sc, rec, sizeof rec, &n), 0);
    issue_on(&s, "cmd/valve/planner", rec, n, 0);
    /* 2: good for 0.4 s: carried out */
    sc.seq = 2;
    sc.t_issued = mono();
    sc.t_deadline = sc.t_issued + 400 * DT_NS_PER_MS;
    sc.value = 0.25;
    assert_int_equal(dt_cmd_sign(planner, &sc, rec, sizeof rec, &n), 0);
    issue_on(&s, "cmd/valve/planner", rec, n, 0);
    size_t long_done = 0, short_done = 0;
    dt_cmdauth_stats st;
    for (int i = 0; i < 3000 && short_done == 0; i++) {
        dt_twin *one[1] = {rcv};
        turn(one, 1);
        mosquitto_loop(s.m, 0, 1);
        (void)dt_memory_source_push(dt_twin_io(rcv), 0, "flow", mono(), 1.0);
        assert_int_equal(dt_twin_step(rcv, mono()), 0);
        dt_command out[16];
        size_t got = dt_memory_sink_read(dt_twin_io(rcv), 0, out, 16);
        for (size_t j = 0; j < got; j++)
            if (DT_ORIGIN_KIND(out[j].origin) == DT_ORIGIN_REMOTE) {
                long_done += out[j].value == 0.75;
                short_done += out[j].value == 0.25;
            }
    }
    dt_twin_cmdauth_stats(rcv, &st);
    printf("signed record good for 30 s on a valve accepted with 0.5 s: carried out %zu "
           "time(s); bus.cmd_deadline_too_far %llu; verified %llu\n",
           long_done, (unsigned long long)bus_counter(rcv, "bus.cmd_deadline_too_far"),
           (unsigned long long)st.verified);
    assert_int_equal(short_done, 1);
    assert_int_equal(long_done, 0);
    assert_int_equal(bus_counter(rcv, "bus.cmd_deadline_too_far"), 1);
    assert_int_equal(st.verified, 1);
    dt_key_free(planner);
    dt_keystore_close(ks);
    issuer_stop(&s);
    dt_twin_destroy(rcv);
    dtt_broker_stop(&b);
}

static int setup(void **state)
{
    (void)state;
    snprintf(keydir, sizeof keydir, "/tmp/dtt-redbus-XXXXXX");
    if (mkdtemp(keydir) == NULL || dt_key_generate(keydir, "planner", DT_KEY_SIGN, NULL) != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/planner.pub", keydir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fread(planner_hex, 1, 64, f) != 64)
        return -1;
    fclose(f);
    planner_hex[64] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", keydir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1) /* ctest runs one case at a time */
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_accept_deadline_max),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
