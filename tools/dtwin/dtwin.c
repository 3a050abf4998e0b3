/* dtwin: command-line front end. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: dtwin <command> [options]\n"
          "\n"
          "commands:\n"
          "  check FILE.json   validate a twin description and print its signals\n"
          "  run FILE.json     run a twin (replaying its CSV sources at full speed)\n"
          "  replay LOG FILE   re-run a flight log bit-identically\n"
          "  margin LOOP.json  delay margin of a feedback loop\n"
          "  keygen DIR NAME   make a key for authenticated frames (--sign: a signing key)\n"
          "  version           print the library version\n"
          "\n"
          "Run 'dtwin <command> --help' for a command's options.\n",
          f);
}

static void check_usage(FILE *f)
{
    fputs("usage: dtwin check [--quiet] FILE.json\n"
          "\n"
          "Loads and validates a twin description. On success prints the assets\n"
          "and the signal table and exits 0; on a bad description prints the\n"
          "JSON path and reason to stderr and exits 1 (3 if the file cannot be\n"
          "read).\n",
          f);
}

/* dtwin margin LOOP.json: {"num": [...], "den": [...], "dead_time": s} */
static int read_coeffs(const cJSON *o, const char *key, double *out, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > 33)
        return -1;
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e))
            return -1;
        out[i] = e->valuedouble;
    }
    *n = i;
    return 0;
}

static int cmd_margin(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs("usage: dtwin margin LOOP.json\n"
              "\n"
              "Delay margin of a feedback loop L(s) = num(s)/den(s) e^{-s dead_time}:\n"
              "{\"num\": [...], \"den\": [...], \"dead_time\": 0}, coefficients highest\n"
              "power first. Prints the largest added delay that keeps the loop stable.\n",
              argc == 1 ? stdout : stderr);
        return argc == 1 ? EXIT_OK : EXIT_USAGE;
    }
    FILE *f = fopen(argv[0], "rb");
    if (f == NULL) {
        fprintf(stderr, "dtwin margin: cannot open %s\n", argv[0]);
        return EXIT_IO;
    }
    char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *o = cJSON_Parse(text);
    double num[33], den[33];
    size_t nn = 0, nd = 0;
    const cJSON *dt = o ? cJSON_GetObjectItemCaseSensitive(o, "dead_time") : NULL;
    if (o == NULL || read_coeffs(o, "num", num, &nn) != 0 || read_coeffs(o, "den", den, &nd) != 0 ||
        (dt != NULL && !cJSON_IsNumber(dt))) {
        fprintf(stderr, "dtwin margin: %s: expected {\"num\": [...], \"den\": [...], "
                        "\"dead_time\": seconds} with at most 33 coefficients each\n",
                argv[0]);
        cJSON_Delete(o);
        return EXIT_INVALID;
    }
    dt_loop_tf L = {num, nn, den, nd, dt ? dt->valuedouble : 0};
    cJSON_Delete(o);
    dt_margin m;
    int rc = dt_delay_margin(&L, &m);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin margin: %s: %s\n", argv[0],
                rc == DT_EUNSTABLE ? "the closed loop is unstable without added delay"
                                   : "not a proper loop transfer function");
        return rc == DT_EUNSTABLE ? EXIT_UNSTABLE : EXIT_INVALID;
    }
    if (isinf(m.delay))
        printf("delay margin: unbounded (|L(jw)| < 1 at every frequency)\n");
    else
        printf("delay margin: %.10g s (gain crossover %.10g rad/s, phase margin %.10g deg, "
               "%zu crossover%s)\n",
               m.delay, m.crossover, m.phase * 180 / 3.14159265358979323846, m.crossovers,
               m.crossovers == 1 ? "" : "s");
    return EXIT_OK;
}

/* Whether a controller of the description reads signal id: a PID's input, a
 * state feedback's states, or anything for a host callback (unknown). */
static int controller_reads(const cJSON *doc, const char *id)
{
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(doc, "controllers"), *c;
    cJSON_ArrayForEach(c, ctl)
    {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(c, "kind");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(c, "input"), *st;
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "callback") == 0)
            return 1;
        if (cJSON_IsString(in) && strcmp(in->valuestring, id) == 0)
            return 1;
        cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(c, "states"))
        {
            if (cJSON_IsString(st) && strcmp(st->valuestring, id) == 0)
                return 1;
        }
    }
    return 0;
}

static cJSON *read_json(const char *file)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap + 1);
    size_t got;
    while (text != NULL && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *more = realloc(text, 2 * cap + 1);
            if (more == NULL)
                break;
            text = more;
            cap *= 2;
        }
    }
    fclose(f);
    cJSON *doc = NULL;
    if (text != NULL) {
        text[len] = '\0';
        doc = cJSON_Parse(text);
    }
    free(text);
    return doc;
}

/* Legal but suspicious measurements: a first reading the gate would refuse
 * although the signal's limits allow it (x0 and P0 claim more than is
 * known), and a measured signal that nothing reads. */
static void warn_measurements(const char *file, dt_twin *tw)
{
    const dt_model *m = dt_twin_model(tw);
    dt_est *te = dt_twin_estimator(tw);
    cJSON *doc = read_json(file);
    for (dt_signal_id s = 0; s < dt_model_signal_count(m); s++) {
        const dt_signal_info *si = dt_model_signal(m, s);
        if (si->role != DT_ROLE_MEASURED)
            continue;
        double lo, hi;
        if (te != NULL && si->has_limits && dt_est_first_window(te, s, &lo, &hi) == DT_OK &&
            (si->min < lo || si->max > hi))
            fprintf(stderr,
                    "dtwin check: %s: warning: a first sample of \"%s\" outside [%.10g, %.10g] "
                    "%s is gated (x0, P0 and its noise admit no more), while its limits allow "
                    "[%.10g, %.10g]: if the start is not known that well, widen P0\n",
                    file, si->id, lo, hi, si->unit_symbol, si->min, si->max);
        dt_est_signal_stats ss;
        int modelled = te != NULL && dt_est_signal_stats_get(te, s, &ss) == DT_OK;
        if (!modelled && !(doc != NULL && controller_reads(doc, si->id)))
            fprintf(stderr,
                    "dtwin check: %s: warning: measured signal \"%s\" is read by no "
                    "estimator measurement and no controller: its samples would be counted, "
                    "and used by nothing\n",
                    file, si->id);
    }
    cJSON_Delete(doc);
}

static void print_limits(const dt_signal_info *s)
{
    if (!s->has_limits) {
        printf(" %-21s", "-");
        return;
    }
    char lo[16] = "-inf", hi[16] = "inf", both[40];
    if (isfinite(s->min))
        snprintf(lo, sizeof lo, "%g", s->min);
    if (isfinite(s->max))
        snprintf(hi, sizeof hi, "%g", s->max);
    snprintf(both, sizeof both, "[%s, %s]", lo, hi);
    printf(" %-21s", both);
}


/* The contract the twin would publish on the bus, as its readers see it:
 * each belief group with its states' units and whether it is declared
 * independent, the commands it accepts, its sample streams. */
static void print_contract(const char *text)
{
    cJSON *c = text != NULL ? cJSON_Parse(text) : NULL;
    if (c == NULL)
        return;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "version");
    printf("\ncontract (version %.0f) of %s/%s\n", cJSON_IsNumber(v) ? v->valuedouble : 0.0,
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "realm")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "twin")));
    static const char *const lists[] = {"beliefs", "accept", "streams"};
    static const char *const names[] = {"group", "signal", "stream"};
    for (int l = 0; l < 3; l++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, lists[l]))
        {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, names[l]));
            if (l == 1) {
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "deadline_max");
                printf("  accepts %-22s [%s], deadline_max %g s\n", name ? name : "?",
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "unit")),
                       cJSON_IsNumber(d) ? d->valuedouble : NAN);
                continue;
            }
            printf("  %s %-16s", l == 0 ? "belief group" : "stream", name ? name : "?");
            const cJSON *s;
            int first = 1;
            cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(e, l == 0 ? "states"
                                                                              : "signals"))
            {
                printf("%s%s [%s]", first ? " " : ", ",
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "signal")),
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "unit")));
                first = 0;
            }
            if (l == 0)
                printf("; %s",
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "independent"))
                           ? "declared independent"
                           : "fused by covariance intersection");
            printf("\n");
        }
    }
    cJSON_Delete(c);
}

static int cmd_check(int argc, char **argv)
{
    const char *file = NULL;
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "dtwin check: unknown option '%s'\n", argv[i]);
            check_usage(stderr);
            return EXIT_USAGE;
        } else if (file != NULL) {
            fprintf(stderr, "dtwin check: more than one file given\n");
            return EXIT_USAGE;
        } else {
            file = argv[i];
        }
    }
    if (file == NULL) {
        check_usage(stderr);
        return EXIT_USAGE;
    }
    dt_model_options opt = DT_MODEL_OPTIONS_INIT;
    opt.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag diag;
    int rc = dt_model_load_file(file, &opt, &m, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    if (!quiet) {
        printf("twin \"%s\": %zu assets, %zu signals\n\n", dt_model_name(m),
               dt_model_asset_count(m), dt_model_signal_count(m));
        printf("assets\n");
        for (dt_asset_id a = 0; a < dt_model_asset_count(m); a++) {
            const dt_asset_info *ai = dt_model_asset(m, a);
            const dt_asset_info *pa = dt_model_asset(m, ai->parent);
            printf("  %-16s %-12s %s", ai->id, ai->kind, ai->name);
            if (pa != NULL)
                printf("  (part of %s)", pa->id);
            printf("\n");
        }
        printf("\nsignals\n");
        printf("  %-4s %-24s %-10s %-17s %-6s %-21s %-9s %s\n", "#", "signal", "role",
               "quantity", "unit", " limits", "period_s", "noise_std");
        for (dt_signal_id s = 0; s < dt_model_signal_count(m); s++) {
            const dt_signal_info *si = dt_model_signal(m, s);
            printf("  %-4u %-24s %-10s %-17s %-6s", (unsigned)s, si->id,
                   dt_role_name(si->role), dt_unit_class_name(si->quantity),
                   si->unit_symbol);
            print_limits(si);
            if (si->period > 0)
                printf(" %-9g", dt_time_to_sec(si->period));
            else
                printf(" %-9s", "-");
            if (si->noise_var > 0)
                printf(" %g\n", sqrt(si->noise_var));
            else
                printf(" -\n");
        }
    }
    /* The estimator, if the description declares one: dimensions and the
     * latency budget of each accuracy bound. */
    dt_est_config ec = DT_EST_CONFIG_INIT;
    ec.logger = dt_logger_silent();
    dt_est *est = NULL;
    rc = dt_est_create_json(m, &ec, &est, &diag);
    if (rc == DT_OK)
        rc = dt_est_budgets(est, &diag); /* the reason when a budget is refused */
    if (rc == DT_OK)
        rc = dt_est_start(est, 0);
    if (rc != DT_OK && rc != DT_ENOTFOUND) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        dt_est_destroy(est);
        dt_model_destroy(m);
        return EXIT_INVALID;
    }
    if (est != NULL && !quiet) {
        printf("\nestimator: %zu states\n", dt_est_dim(est));
        for (size_t i = 0; i < dt_est_bound_count(est); i++) {
            double tau;
            const char *name;
            dt_est_latency_budget(est, i, &tau, &name);
            if (isinf(tau))
                printf("  latency budget %-16s unbounded\n", name);
            else if (isnan(tau))
                printf("  latency budget %-16s n/a (needs a continuous model)\n", name);
            else
                printf("  latency budget %-16s %.10g s\n", name, tau);
        }
    }
    dt_est_destroy(est);
    dt_model_destroy(m);
    /* Everything `dtwin run` would build, without opening an adapter (as a
     * flight-log replay does): sources, sinks, controllers, dispatcher and
     * loop are checked too, with their path-precise messages, and each
     * adapter validates what its open would (a CSV file and its header, an
     * address to bind). */
    dt_twin_options to = DT_TWIN_OPTIONS_INIT;
    to.logger = dt_logger_silent();
    to.replay = 1;
    to.validate = 1;
    dt_twin *tw = NULL;
    rc = dt_twin_load_file(file, &to, &tw, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    /* Legal but suspicious: a budget that leaves little room for late data. */
    dt_est *te = dt_twin_estimator(tw);
    double period = dt_twin_period_s(tw);
    for (size_t i = 0; te != NULL && i < dt_est_bound_count(te); i++) {
        double tau;
        const char *name;
        if (dt_est_latency_budget(te, i, &tau, &name) == DT_OK && tau < 10 * period)
            fprintf(stderr,
                    "dtwin check: %s: warning: latency budget \"%s\" (%.10g s) is shorter than "
                    "10 loop periods (%.10g s each): a few late samples put the twin in its "
                    "safe state\n",
                    file, name, tau, period);
    }
    warn_measurements(file, tw);
    if (!quiet)
        print_contract(dt_twin_contract(tw));
    if (!quiet && dt_twin_child_count(tw) > 0) { /* a composite: each child checked too */
        printf("\nchildren\n");
        for (size_t k = 0; k < dt_twin_child_count(tw); k++) {
            dt_twin *ch = dt_twin_child(tw, k);
            dt_est *ce = dt_twin_estimator(ch);
            printf("  %-16s twin \"%s\": %zu signals, %zu sources, estimator %zu states\n",
                   dt_twin_child_id(tw, k), dt_model_name(dt_twin_model(ch)),
                   dt_model_signal_count(dt_twin_model(ch)),
                   dt_io_source_count(dt_twin_io(ch)), ce ? dt_est_dim(ce) : 0);
        }
    }
    dt_twin_destroy(tw);
    if (!quiet)
        printf("\nok\n");
    return EXIT_OK;
}

static void keygen_usage(FILE *f)
{
    fputs("usage: dtwin keygen [--sign] DIR NAME\n"
          "\n"
          "Makes a new random key DIR/NAME.key (32 raw bytes, mode 0600, never over an\n"
          "existing file): a MAC key for authenticated UDP frames (a source's or sink's\n"
          "\"auth\": \"mac\", \"key\": NAME, \"replay_state\": FILE) shared by both ends\n"
          "of the link; with --sign\n"
          "an Ed25519 signing key, and its public half NAME.pub (hex) for the verifiers.\n"
          "A twin loads its keys from the description's \"keys\": {\"dir\": DIR}.\n"
          "Prints the key's fingerprint. Exit 0, 2 on a bad usage, 3 if it cannot be\n"
          "written.\n",
          f);
}

static int cmd_keygen(int argc, char **argv)
{
    int sign = 0, i = 0;
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        keygen_usage(stdout);
        return EXIT_OK;
    }
    if (argc > 0 && strcmp(argv[0], "--sign") == 0) {
        sign = 1;
        i = 1;
    }
    if (argc - i != 2) {
        keygen_usage(stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[i], *name = argv[i + 1];
    dt_key_kind kind = sign ? DT_KEY_SIGN : DT_KEY_MAC;
    dt_diag d;
    int rc = dt_key_generate(dir, name, kind, &d);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin keygen: %s\n", d.message);
        return rc == DT_EINVAL ? EXIT_USAGE : EXIT_IO;
    }
    dt_keystore *ks = NULL;
    dt_key *k = NULL;
    if (dt_keystore_file(dir, &ks, &d) == DT_OK && dt_key_load(ks, name, kind, &k, &d) == DT_OK) {
        printf("%s/%s.key: %s key, fingerprint %s\n", dir, name, sign ? "signing" : "MAC",
               dt_key_id(k));
        if (sign)
            printf("%s/%s.pub: its public half, for the verifiers\n", dir, name);
    } else {
        fprintf(stderr, "dtwin keygen: written, but it does not load back: %s\n", d.message);
    }
    int ok = k != NULL; /* read before the free: a freed pointer's value is indeterminate */
    dt_key_free(k);
    dt_keystore_close(ks);
    return ok ? EXIT_OK : EXIT_IO;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dtwin %s\n", dt_version());
        return EXIT_OK;
    }
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return cli_run(argc - 2, argv + 2);
    if (strcmp(cmd, "replay") == 0)
        return cli_replay(argc - 2, argv + 2);
    if (strcmp(cmd, "margin") == 0)
        return cmd_margin(argc - 2, argv + 2);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 2, argv + 2);
    fprintf(stderr, "dtwin: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
