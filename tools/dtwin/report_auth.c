/* The signed-command counters of a twin with dispatcher.auth in the run
 * summary (text and JSON): where every signed record ended. */
#include <stdio.h>

#include "cli.h"

/* A twin with dispatcher.auth: where every signed record ended. */
void cli_print_signed(FILE *f, const dt_twin *t)
{
    dt_cmdauth_stats a;
    if (dt_twin_cmdauth_stats(t, &a) != DT_OK)
        return;
    fprintf(f, "  signed commands: %llu verified", (unsigned long long)a.verified);
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        if (a.refused[e])
            fprintf(f, ", %llu %s", (unsigned long long)a.refused[e],
                    dt_cmdauth_error_name((dt_cmdauth_error)e));
    if (a.unsigned_refused)
        fprintf(f, ", %llu unsigned refused", (unsigned long long)a.unsigned_refused);
    if (a.revoked_dropped)
        fprintf(f, ", %llu dropped at revocation", (unsigned long long)a.revoked_dropped);
    if (a.queue_full)
        fprintf(f, ", %llu queue full", (unsigned long long)a.queue_full);
    fprintf(f, "\n");
}

/* As cli_print_signed, in JSON: ,"signed_commands":{...} (nothing without auth). */
void cli_json_signed(FILE *f, const dt_twin *t)
{
    dt_cmdauth_stats a;
    if (dt_twin_cmdauth_stats(t, &a) != DT_OK)
        return;
    fprintf(f, ",\"signed_commands\":{\"verified\":%llu,\"refused\":{",
            (unsigned long long)a.verified);
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        fprintf(f, "%s\"%s\":%llu", e > 1 ? "," : "", dt_cmdauth_error_name((dt_cmdauth_error)e),
                (unsigned long long)a.refused[e]);
    fprintf(f, "},\"unsigned_refused\":%llu,\"revoked_dropped\":%llu,\"queue_full\":%llu,"
               "\"seq_gaps\":%llu,\"revocations\":%llu}",
            (unsigned long long)a.unsigned_refused, (unsigned long long)a.revoked_dropped,
            (unsigned long long)a.queue_full, (unsigned long long)a.seq_gaps,
            (unsigned long long)a.revocations);
}

