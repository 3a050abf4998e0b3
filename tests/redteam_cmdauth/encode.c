/* Prints signed command records made by dt_cmd_sign, for client.py (a
 * verifier written from docs/security.md alone) to rebuild byte for byte:
 * a MAC record without a token under a key of known bytes, and an Ed25519
 * record carrying an Ed25519 belief token, with times at the time limit. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

static void hex(const char *tag, const unsigned char *b, size_t n)
{
    printf("%s ", tag);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

int main(void)
{
    char dir[] = "/tmp/dtt-redclient-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/fast.key", dir);
    unsigned char k[32];
    for (int i = 0; i < 32; i++)
        k[i] = (unsigned char)(i * 7 + 1);
    int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    if (fd < 0 || write(fd, k, sizeof k) != (ssize_t)sizeof k || close(fd) != 0)
        return 1;
    dt_keystore *ks = NULL;
    dt_key *mac = NULL, *planner = NULL, *est = NULL;
    if (dt_key_generate(dir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(dir, "est", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(dir, &ks, NULL) != 0 ||
        dt_key_load(ks, "fast", DT_KEY_MAC, &mac, NULL) != 0 ||
        dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) != 0 ||
        dt_key_load(ks, "est", DT_KEY_SIGN, &est, NULL) != 0)
        return 2;
    hex("mac_key", k, sizeof k);
    printf("mac_id %s\nplanner_id %s\nest_id %s\n", dt_key_id(mac), dt_key_id(planner),
           dt_key_id(est));
    unsigned char pk[32];
    dt_key_public(planner, pk);
    hex("planner_pk", pk, 32);
    dt_key_public(est, pk);
    hex("est_pk", pk, 32);
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    if (dt_cmd_address("plant", "valve", c.address) != 0)
        return 3;
    c.epoch = UINT32_MAX;
    c.seq = UINT64_MAX;
    c.t_issued = -DT_TIME_LIMIT;
    c.t_deadline = DT_TIME_LIMIT;
    c.value = -0.375;
    uint8_t r[DT_CMDAUTH_MAX];
    size_t n = 0;
    if (dt_cmd_sign(mac, &c, r, sizeof r, &n) != 0)
        return 4;
    hex("mac_record", r, n);
    double x[2] = {1.5, -2}, P[4] = {1, 0.1, 0.1, 2};
    if (dt_belief_token_sign(est, -7, 42, x, P, 2, &c.belief) != 0)
        return 5;
    c.has_belief = 1;
    c.epoch = 3;
    c.seq = 99;
    c.t_deadline = -DT_TIME_LIMIT + 500000000;
    c.value = 0.125;
    if (dt_cmd_sign(planner, &c, r, sizeof r, &n) != 0)
        return 6;
    hex("signed_record", r, n);
    dt_key_free(mac);
    dt_key_free(planner);
    dt_key_free(est);
    dt_keystore_close(ks);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 7;
}
