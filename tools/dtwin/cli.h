/* dtwin command-line tool: what its parts share. */
#ifndef DTWIN_TOOLS_CLI_H
#define DTWIN_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "dtwin/dtwin.h"

/* Exit codes (docs/cli.md). */
enum {
    EXIT_OK = 0,
    EXIT_INVALID = 1,  /* description or log invalid */
    EXIT_USAGE = 2,
    EXIT_IO = 3,
    EXIT_RUNTIME = 4,  /* the twin failed while running */
    EXIT_STRICT = 5,   /* --strict: data lost or refused, or too long in the safe state */
    EXIT_UNSTABLE = 6  /* dtwin margin: the closed loop is unstable */
};

/* The library's messages on stderr, warnings and errors (info too with
 * verbose), each kind of message shown at most a few times. */
const dt_logger *cli_logger(const char *prog, int verbose);
/* A progress line is drawn on the terminal (stdout): messages clear it first. */
void cli_logger_progress(int on);
/* Prints how many messages were held back, per kind; returns the number of
 * warnings and errors logged. */
uint64_t cli_logger_finish(void);

/* --estimates, --covariance and --commands writers, shared by run and replay. */
typedef struct cli_outputs cli_outputs;
int cli_outputs_open(cli_outputs **out, dt_twin *t, const char *est_file, const char *cov_file,
                     const char *cmd_file);
/* Closes the files; EXIT_IO if a write failed. */
int cli_outputs_close(cli_outputs *o);

/* The run's figures. */
typedef struct cli_summary {
    double t_end_s;           /* twin time of the last step */
    uint64_t log_messages;    /* warnings and errors logged */
} cli_summary;
void cli_print_text(FILE *f, dt_twin *t, const cli_summary *s);
void cli_print_json(FILE *f, dt_twin *t, const cli_summary *s);
/* report_auth.c: a twin with dispatcher.auth: its signed-command counters
 * (a summary line; ,"signed_commands":{...} in JSON); nothing without. */
void cli_print_signed(FILE *f, const dt_twin *t);
void cli_json_signed(FILE *f, const dt_twin *t);
/* One stats line (--stats-every). */
void cli_print_line(FILE *f, dt_twin *t, double t_s);
/* Data lost or refused anywhere (adapters, ingest, estimator), for --strict. */
uint64_t cli_data_lost(dt_twin *t);
/* Share of the run spent in the safe state, in [0, 1]. */
double cli_safe_share(dt_twin *t, double t_end_s);

int cli_run(int argc, char **argv);
int cli_replay(int argc, char **argv);

#endif
