/* dtwin: --estimates, --covariance and --commands files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define AUDIT_BATCH 8192 /* rows read per step; beyond them rows are counted lost */

struct cli_outputs {
    FILE *fe, *fp, *fc;
    const char *names[3]; /* of fe, fp, fc: for the message when one fails */
    const dt_model *m;
    dt_est *est;
    size_t n;
    uint64_t seen_cmds, lost;
    int write_failed;
    dt_audit *au;
};

/* Every posterior, as the estimator computes it: an analytics hook runs
 * after each applied update (a delayed sample's row is its posterior at its
 * own time, written when it arrived). */
static int on_update(void *self, dt_est *est, const dt_sample *applied)
{
    cli_outputs *o = self;
    const double *x = dt_kf_state(dt_est_kf(est)), *P = dt_kf_cov(dt_est_kf(est));
    double ts = dt_time_to_sec(applied->t_source);
    if (o->fe != NULL) {
        fprintf(o->fe, "%.9f", ts);
        for (size_t i = 0; i < o->n; i++)
            fprintf(o->fe, ",%.17g,%.17g", x[i], P[i * o->n + i]);
        fputc('\n', o->fe);
    }
    if (o->fp != NULL) {
        fprintf(o->fp, "%.9f", ts);
        for (size_t i = 0; i < o->n; i++)
            for (size_t j = i; j < o->n; j++)
                fprintf(o->fp, ",%.17g", P[i * o->n + j]);
        fputc('\n', o->fp);
    }
    return 0;
}

static const dt_analytics_ops writer_ops = {DT_ANALYTICS_ABI, "dtwin estimates", on_update};

static FILE *open_out(const char *name)
{
    FILE *f = name ? fopen(name, "w") : NULL;
    if (name != NULL && f == NULL)
        fprintf(stderr, "dtwin: cannot write %s: %s\n", name, strerror(errno));
    return f;
}

int cli_outputs_open(cli_outputs **out, dt_twin *t, const char *est_file, const char *cov_file,
                     const char *cmd_file)
{
    cli_outputs *o = calloc(1, sizeof *o);
    *out = o;
    if (o == NULL)
        return EXIT_RUNTIME;
    o->m = dt_twin_model(t);
    o->est = dt_twin_estimator(t);
    o->n = o->est ? dt_est_dim(o->est) : 0;
    if ((est_file || cov_file) && o->est == NULL) {
        fprintf(stderr, "dtwin: --estimates and --covariance need an estimator; the "
                        "description has none\n");
        return EXIT_USAGE;
    }
    o->names[0] = est_file;
    o->names[1] = cov_file;
    o->names[2] = cmd_file;
    o->fe = open_out(est_file);
    o->fp = open_out(cov_file);
    o->fc = open_out(cmd_file);
    if ((est_file && !o->fe) || (cov_file && !o->fp) || (cmd_file && !o->fc))
        return EXIT_IO;
    if (o->fc != NULL && (o->au = malloc(AUDIT_BATCH * sizeof *o->au)) == NULL)
        return EXIT_RUNTIME;
    if (o->fe != NULL || o->fp != NULL) {
        const char *states[DT_LA_MAX];
        for (size_t s = 0; s < dt_model_signal_count(o->m); s++) {
            int i = dt_est_state_index(o->est, (dt_signal_id)s);
            if (i >= 0)
                states[i] = dt_model_signal(o->m, (dt_signal_id)s)->id;
        }
        if (o->fe != NULL) {
            fprintf(o->fe, "time_s");
            for (size_t i = 0; i < o->n; i++)
                fprintf(o->fe, ",%s,%s.var", states[i], states[i]);
            fputc('\n', o->fe);
        }
        if (o->fp != NULL) {
            fprintf(o->fp, "time_s");
            for (size_t i = 0; i < o->n; i++)
                for (size_t j = i; j < o->n; j++)
                    fprintf(o->fp, ",P[%s][%s]", states[i], states[j]);
            fputc('\n', o->fp);
        }
        if (dt_est_add_analytics(o->est, &writer_ops, o) != DT_OK) {
            fprintf(stderr, "dtwin: the estimator takes no more analytics hooks\n");
            return EXIT_RUNTIME;
        }
    }
    if (o->fc != NULL)
        fprintf(o->fc, "time_s,seq,signal,value,requested,decision\n");
    return EXIT_OK;
}

void cli_outputs_step(void *outputs, dt_twin *t, dt_time now)
{
    (void)now;
    cli_outputs *o = outputs;
    if (o->fc == NULL)
        return;
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    if (st.commands == o->seen_cmds)
        return;
    uint64_t fresh = st.commands - o->seen_cmds;
    size_t got = dt_twin_audit(t, o->au, fresh < AUDIT_BATCH ? (size_t)fresh : AUDIT_BATCH);
    if (got < fresh) {
        if (o->lost == 0)
            fprintf(stderr, "dtwin: a step decided more commands than the audit ring holds "
                            "(dispatcher.audit): command rows are missing from the file\n");
        o->lost += fresh - got;
    }
    for (size_t i = 0; i < got; i++)
        fprintf(o->fc, "%.9f,%llu,%s,%.17g,%.17g,%u\n", dt_time_to_sec(o->au[i].cmd.t_issued),
                (unsigned long long)o->au[i].cmd.seq, dt_model_signal(o->m, o->au[i].cmd.signal)->id,
                o->au[i].cmd.value, o->au[i].requested, o->au[i].decision);
    o->seen_cmds = st.commands;
}

uint64_t cli_outputs_lost(const cli_outputs *o) { return o ? o->lost : 0; }

int cli_outputs_close(cli_outputs *o)
{
    if (o == NULL)
        return EXIT_OK;
    int bad = 0;
    FILE *f[3] = {o->fe, o->fp, o->fc};
    for (int i = 0; i < 3; i++) {
        if (f[i] == NULL)
            continue;
        errno = 0;
        int failed = ferror(f[i]) != 0;
        failed |= fclose(f[i]) != 0;
        if (failed)
            fprintf(stderr, "dtwin: writing %s failed%s%s\n", o->names[i], errno ? ": " : "",
                    errno ? strerror(errno) : "");
        bad |= failed;
    }
    free(o->au);
    free(o);
    return bad ? EXIT_IO : EXIT_OK;
}
