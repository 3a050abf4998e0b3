/* Signed commands between twins over a real broker: the issuer twin's
 * "twin" sink signs each command with its planner key ("sign"), the
 * receiver (dispatcher.auth trusting that key) verifies before anything
 * else. A forger on the broker (a plain libmosquitto client, allowed to
 * publish on the receiver's cmd/ topics) sends unsigned commands, records
 * signed with its own key, the issuer's records replayed and changed, and
 * records for another signal: none is carried out, each is counted. The
 * receiver's name on the bus ("rcv") is not its description's name: records
 * address a twin by the former. */
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

static const char rcv_signed_fmt[] =
    "{\"dtwin\":1,\"name\":\"rcvplant\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"pump\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"flow\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":1024,"
    "  \"mapping\":[{\"signal\":\"valve\"},{\"signal\":\"pump\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0,\"pump\":0},"
    "  \"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],\"deadline_max\":60}},"
    "%s,\"twin\":\"rcv\",\"accept\":[{\"signal\":\"valve\",\"deadline_max\":60},"
    "  {\"signal\":\"pump\",\"deadline_max\":60}]},\"loop\":{\"period\":0.01}}";

static const char iss_signed_fmt[] =
    "{\"dtwin\":1,\"name\":\"iss\",\"keys\":{\"dir\":\"%s\"},\"assets\":[{\"id\":\"site\"}],"
    "\"signals\":["
    "{\"id\":\"flow\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"open\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"to_rcv\",\"kind\":\"twin\",\"twin\":\"rcv\",\"sign\":\"planner\","
    "  \"mapping\":[{\"signal\":\"open\",\"native\":\"valve\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"open\":0}},"
    "%s},\"loop\":{\"period\":0.01}}";

/* What the forger sees on the receiver's cmd/ topics: the issuer's records. */
typedef struct capture {
    uint8_t rec[8][DT_CMDAUTH_MAX];
    size_t len[8], n;
} capture;

static capture cap_;

static void on_capture(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    (void)o;
    capture *c = &cap_;
    if (strstr(msg->topic, "/cmd/") != NULL && c->n < 8 && msg->payloadlen <= (int)DT_CMDAUTH_MAX) {
        memcpy(c->rec[c->n], msg->payload, (size_t)msg->payloadlen);
        c->len[c->n++] = (size_t)msg->payloadlen;
    }
}

static void step_both(dt_twin **both)
{
    turn(both, 2);
    for (int j = 0; j < 2; j++) {
        (void)dt_memory_source_push(dt_twin_io(both[j]), 0, "flow", mono(), 1.0);
        assert_int_equal(dt_twin_step(both[j], mono()), 0);
    }
}

static void test_signed_between_twins(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, iss_signed_fmt, keydir, bus);
    dt_twin *iss = load(doc, NULL);
    snprintf(doc, sizeof doc, rcv_signed_fmt, planner_hex, bus);
    dt_twin *rcv = load(doc, NULL);
    dt_twin *both[2] = {iss, rcv};
    assert_int_equal(dt_twin_start(iss, mono()), 0);
    assert_int_equal(dt_twin_start(rcv, mono()), 0);
    issuer f; /* the forger */
    issuer_start(&f, b.port);
    capture *cap = &cap_;
    memset(cap, 0, sizeof *cap);
    mosquitto_message_callback_set(f.m, on_capture);
    assert_int_equal(mosquitto_subscribe(f.m, NULL, "dt/v1/r/rcv/cmd/#", 1), 0);
    for (int i = 0; i < 3000 && (bus_counter(iss, "mqtt.connects") == 0 ||
                                 bus_counter(rcv, "mqtt.connects") == 0);
         i++)
        turn(both, 2);
    for (int i = 0; i < 20; i++) {
        turn(both, 2);
        mosquitto_loop(f.m, 0, 1);
    }
    dt_signal_id open;
    assert_int_equal(dt_model_find_signal(dt_twin_model(iss), "open", &open), 0);
    /* 4 honest commands, each applied and acked */
    const double v[4] = {0.1, 0.2, 0.3, 0.4};
    for (int k = 0; k < 4; k++) {
        dt_command c = {.signal = open, .t_issued = mono(), .value = v[k]};
        c.t_deadline = c.t_issued + 5 * DT_NS_PER_S;
        assert_int_equal(dt_twin_submit(iss, &c), 0);
        for (int i = 0; i < 3000 && sink_counter(iss, "acks_applied") < (uint64_t)k + 1; i++) {
            step_both(both);
            mosquitto_loop(f.m, 0, 1);
        }
        assert_int_equal(sink_counter(iss, "acks_applied"), (uint64_t)k + 1);
    }
    for (int i = 0; i < 3000 && cap->n < 4; i++)
        mosquitto_loop(f.m, 10, 1);
    assert_int_equal(cap->n, 4);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(rcv, &st), 0);
    assert_int_equal(st.verified, 4);
    /* the forger: 5 kinds x 10 */
    dt_keystore *ks = NULL;
    dt_key *mallory = NULL;
    assert_int_equal(dt_keystore_file(keydir, &ks, NULL), 0);
    assert_int_equal(dt_key_load(ks, "mallory", DT_KEY_SIGN, &mallory, NULL), 0);
    uint8_t buf[512];
    for (int k = 0; k < 10; k++) {
        /* an unsigned command, as a twin without keys sends */
        size_t n = command_at(buf, sizeof buf, wall_epoch_now(), 1 + (uint64_t)k, 100 + (uint64_t)k, 0.9,
                              mono(), DT_NS_PER_S);
        issue_raw(&f, buf, n, 0);
        /* a record signed with its own key, next seq, fresh times */
        dt_signed_command sc;
        memset(&sc, 0, sizeof sc);
        dt_cmd_address("rcv", "valve", sc.address);
        sc.epoch = UINT32_MAX;
        sc.seq = 1000 + (uint64_t)k;
        sc.t_issued = mono();
        sc.t_deadline = sc.t_issued + DT_NS_PER_S;
        sc.value = 0.9;
        assert_int_equal(dt_cmd_sign(mallory, &sc, buf, sizeof buf, &n), 0);
        issue_raw(&f, buf, n, 0);
        /* the issuer's record replayed, and changed to 0.9 */
        issue_raw(&f, cap->rec[k % 4], cap->len[k % 4], 0);
        memcpy(buf, cap->rec[k % 4], cap->len[k % 4]);
        memcpy(buf + 64, &(double){0.9}, 8);
        issue_raw(&f, buf, cap->len[k % 4], 0);
        /* the issuer's valve record on the pump's topic */
        issue_on(&f, "cmd/pump/iss", cap->rec[k % 4], cap->len[k % 4], 0);
    }
    dt_cmdauth_stats want;
    for (int i = 0; i < 3000; i++) {
        step_both(both);
        mosquitto_loop(f.m, 0, 1);
        dt_twin_cmdauth_stats(rcv, &want);
        if (want.unsigned_refused + want.refused[DT_CMDAUTH_UNKNOWN_ISSUER] +
                want.refused[DT_CMDAUTH_REPLAYED] + want.refused[DT_CMDAUTH_BAD_SIGNATURE] +
                want.refused[DT_CMDAUTH_WRONG_ADDRESS] >= 50)
            break;
    }
    for (int i = 0; i < 10; i++)
        step_both(both);
    assert_int_equal(dt_twin_cmdauth_stats(rcv, &st), 0);
    printf("signed over the bus: verified %llu; forged refused: unsigned %llu, unknown_issuer "
           "%llu, replayed %llu, bad_signature %llu, wrong_address %llu\n",
           (unsigned long long)st.verified, (unsigned long long)st.unsigned_refused,
           (unsigned long long)st.refused[DT_CMDAUTH_UNKNOWN_ISSUER],
           (unsigned long long)st.refused[DT_CMDAUTH_REPLAYED],
           (unsigned long long)st.refused[DT_CMDAUTH_BAD_SIGNATURE],
           (unsigned long long)st.refused[DT_CMDAUTH_WRONG_ADDRESS]);
    assert_int_equal(st.verified, 4);
    assert_int_equal(st.unsigned_refused, 10);
    assert_int_equal(st.refused[DT_CMDAUTH_UNKNOWN_ISSUER], 10);
    assert_int_equal(st.refused[DT_CMDAUTH_REPLAYED], 10);
    assert_int_equal(st.refused[DT_CMDAUTH_BAD_SIGNATURE], 10);
    assert_int_equal(st.refused[DT_CMDAUTH_WRONG_ADDRESS], 10);
    assert_int_equal(bus_counter(rcv, "bus.cmd_signed"), 4 + 40);
    /* the actuator saw the 4 honest values and nothing else */
    dt_command out[64];
    size_t got = dt_memory_sink_read(dt_twin_io(rcv), 0, out, 64);
    size_t remote = 0;
    for (size_t i = 0; i < got; i++) {
        assert_true(out[i].value != 0.9);
        if (DT_ORIGIN_KIND(out[i].origin) == DT_ORIGIN_REMOTE)
            assert_true(out[i].value == v[remote++]);
    }
    assert_int_equal(remote, 4);
    dt_key_free(mallory);
    dt_keystore_close(ks);
    issuer_stop(&f);
    dt_twin_destroy(iss);
    dt_twin_destroy(rcv);
    dtt_broker_stop(&b);
}

/* Kept from a red-team finding: a signed record on cmd/{signal}/{issuer}
 * skipped the accepted signal's own deadline_max (only dispatcher.auth's,
 * the twin-wide one, bounded it), so a valve accepted with 0.5 s took a
 * record good for 30 s (one a broker or a bridge may hold back that long). */
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
    snprintf(keydir, sizeof keydir, "/tmp/dtt-bussign-XXXXXX");
    if (mkdtemp(keydir) == NULL || dt_key_generate(keydir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(keydir, "mallory", DT_KEY_SIGN, NULL) != 0)
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
        cmocka_unit_test(test_signed_between_twins),
        cmocka_unit_test(test_signed_accept_deadline_max),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
