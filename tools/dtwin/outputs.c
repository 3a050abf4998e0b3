/* dtwin: --estimates, --covariance and --commands files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_outputs {
    FILE *fe, *fp, *fc;
    const char *names[3]; /* of fe, fp, fc: for the message when one fails */
    const dt_model *m;
    size_t n;
};

/* The twin's event stream, as it happens: every posterior (a delayed
 * sample's row is its posterior at its own time, written when it arrived)
 * and every command the dispatcher decides, with its outcome. A callback
 * observer sees every event; nothing is sampled or lost. */
static void on_event(void *user, const dt_event *ev)
{
    cli_outputs *o = user;
    if (ev->kind == DT_EVENT_BELIEF) {
        const dt_event_belief *b = &ev->u.belief;
        double ts = dt_time_to_sec(b->t_valid);
        if (o->fe != NULL) {
            fprintf(o->fe, "%.9f", ts);
            for (size_t i = 0; i < o->n; i++)
                fprintf(o->fe, ",%.17g,%.17g", b->x[i], b->P[i * o->n + i]);
            fputc('\n', o->fe);
        }
        if (o->fp != NULL) {
            fprintf(o->fp, "%.9f", ts);
            for (size_t i = 0; i < o->n; i++)
                for (size_t j = i; j < o->n; j++)
                    fprintf(o->fp, ",%.17g", b->P[i * o->n + j]);
            fputc('\n', o->fp);
        }
    } else if (ev->kind == DT_EVENT_COMMAND) {
        const dt_audit *c = &ev->u.command;
        fprintf(o->fc, "%.9f,%llu,%s,%.17g,%.17g,%u\n", dt_time_to_sec(c->cmd.t_issued),
                (unsigned long long)c->cmd.seq, dt_model_signal(o->m, c->cmd.signal)->id,
                c->cmd.value, c->requested, c->decision);
    }
}

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
    dt_est *est = dt_twin_estimator(t);
    o->n = est ? dt_est_dim(est) : 0;
    if ((est_file || cov_file) && est == NULL) {
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
    if (o->fe != NULL || o->fp != NULL) {
        const char *states[DT_LA_MAX];
        for (size_t s = 0; s < dt_model_signal_count(o->m); s++) {
            int i = dt_est_state_index(est, (dt_signal_id)s);
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
    }
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = (o->fe || o->fp ? DT_EVENT_BIT(DT_EVENT_BELIEF) : 0) |
               (o->fc ? DT_EVENT_BIT(DT_EVENT_COMMAND) : 0);
    obs.on_event = on_event;
    obs.user = o;
    if (obs.mask != 0 && dt_twin_observe(t, &obs) != DT_OK) {
        fprintf(stderr, "dtwin: the twin takes no more observers\n");
        return EXIT_RUNTIME;
    }
    if (o->fc != NULL)
        fprintf(o->fc, "time_s,seq,signal,value,requested,decision\n");
    return EXIT_OK;
}

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
    free(o);
    return bad ? EXIT_IO : EXIT_OK;
}
