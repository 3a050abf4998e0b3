/* CSV source rows: reading the file in chunks, its lines, and the rows they parse to. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../platform/internal.h"
#include "csv_internal.h"

static void bad_row(csvsrc *s, const char *why)
{
    dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
    if (s->errors_logged < CSV_LOGGED_ERRORS)
        dt_source_log(s->ctx, DT_LOG_WARN, "%s:%llu: malformed row: %s", s->path,
                      (unsigned long long)s->line_no, why);
    else if (s->errors_logged == CSV_LOGGED_ERRORS)
        dt_source_log(s->ctx, DT_LOG_WARN, "%s: further malformed rows are counted, not logged",
                      s->path);
    s->errors_logged++;
}

/* Reads the next chunk of the file once the last is used up. Returns the
 * number of bytes now unread; 0 at the end of the file or on a read error. */
size_t dt__csv_refill(csvsrc *s)
{
    if (s->io_pos < s->io_end)
        return s->io_end - s->io_pos;
    s->io_pos = s->io_end = 0;
    if (s->io_done)
        return 0;
    /* fread returns short only at the end or on an error (it retries short reads) */
    s->io_end = fread(s->iobuf, 1, CSV_IOBUF, s->f);
    s->io_read += s->io_end;
    if (s->io_end < CSV_IOBUF) {
        s->io_done = 1;
        if (ferror(s->f)) {
            s->io_errno = errno;
            dt_source_log(s->ctx, DT_LOG_ERROR, "%s: read error after line %llu: %s", s->path,
                          (unsigned long long)s->line_no, strerror(errno));
        }
    }
    return s->io_end;
}

/* Reads one physical line (to "\n", or to the end of the file: a last line
 * without a newline is a line like the others) into s->line without its
 * "\n" or "\r\n". Returns LINE_OK, LINE_EOF, or, for a line consumed whole
 * and not kept, LINE_TOO_LONG (more than max_line bytes) or LINE_NUL. */
int dt__csv_read_line(csvsrc *s)
{
    size_t len = 0;
    int any = 0, too_long = 0;
    for (;;) {
        size_t avail = dt__csv_refill(s);
        if (avail == 0) {
            if (!any)
                return LINE_EOF;
            break;
        }
        any = 1;
        const char *p = s->iobuf + s->io_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        /* room for max_line bytes and the '\r' of a "\r\n" (len <= max_line + 1) */
        if (!too_long && take > s->max_line + 1 - len)
            too_long = 1;
        /* A data row too long is consumed whole to read on from the next; a
         * header too long is refused, so nothing more is read (a device such
         * as /dev/zero has no next line: reading on would never end). */
        if (too_long && s->line_no == 0) {
            s->line_no++;
            return LINE_TOO_LONG;
        }
        if (!too_long) {
            memcpy(s->line + len, p, take);
            len += take;
        }
        s->io_pos += take + (nl != NULL);
        if (nl != NULL)
            break;
    }
    s->line_no++;
    if (too_long)
        return LINE_TOO_LONG;
    if (len > 0 && s->line[len - 1] == '\r')
        len--;
    if (len > s->max_line)
        return LINE_TOO_LONG;
    s->line[len] = '\0';
    /* a NUL would end the row early in every string function below */
    return memchr(s->line, '\0', len) != NULL ? LINE_NUL : LINE_OK;
}

/* DT_EPARSE: not a time; DT_ERANGE: a time outside dt_time. DT_TIME_MIN and
 * DT_TIME_MAX mean "no data yet" and "never" to the core: out of range too. */
static int parse_time(csvsrc *s, const char *txt, dt_time *t)
{
    int rc = DT_EPARSE;
    if (s->tfmt != TIME_ISO) {
        double secs;
        rc = dt__csv_parse_double(txt, &secs);
        if (rc == DT_OK)
            rc = isnan(secs) ? DT_EPARSE : dt_time_from_sec_checked(secs, t);
    }
    if (rc == DT_EPARSE && s->tfmt != TIME_SECONDS)
        rc = dt__csv_parse_iso8601(txt, t);
    if (rc == DT_OK && (*t == DT_TIME_MIN || *t == DT_TIME_MAX))
        rc = DT_ERANGE;
    return rc;
}

/* Reads rows until one parses; leaves it in values/present/row_t/row_due.
 * now: the poll's time (|now| <= DT_TIME_LIMIT), the origin if this is the
 * first row. */
int dt__csv_next_row(csvsrc *s, dt_time now)
{
    for (;;) {
        int r = dt__csv_read_line(s);
        if (r == LINE_EOF)
            return 0;
        if (r == LINE_TOO_LONG) {
            char why[64];
            dt__fmt(why, sizeof why, "line too long (more than %zu bytes)", s->max_line);
            bad_row(s, why);
            continue;
        }
        if (r == LINE_NUL) {
            bad_row(s, "NUL byte");
            continue;
        }
        if (s->line[0] == '\0') {
            bad_row(s, "empty line");
            continue;
        }
        int n = dt__csv_split(s->line, s->delim, s->fields, CSV_MAX_COLUMNS);
        if (n == DT__CSV_SPLIT_QUOTING) {
            bad_row(s, "bad quoting");
            continue;
        }
        if (n == DT__CSV_SPLIT_TOO_MANY) {
            bad_row(s, "more than 1024 fields");
            continue;
        }
        if (n != s->n_columns) {
            char why[64];
            dt__fmt(why, sizeof why, "%d fields, the header has %d", n, s->n_columns);
            bad_row(s, why);
            continue;
        }
        int rc = parse_time(s, s->fields[s->time_col], &s->row_t);
        if (rc == DT_ERANGE) {
            bad_row(s, "time out of range (dt_time spans 1677-09-21 to 2262-04-11)");
            continue;
        }
        if (rc != DT_OK) {
            bad_row(s, "unreadable time");
            continue;
        }
        int ok = 1;
        for (int c = 0; c < n && ok; c++) {
            s->present[c] = 0;
            if (s->col_map[c] == NULL)
                continue;
            rc = dt__csv_parse_double(s->fields[c], &s->values[c]);
            if (rc == DT_EEMPTY)
                continue; /* an empty cell: no value for this signal */
            if (rc != DT_OK) {
                char why[96];
                dt__fmt(why, sizeof why, "column %d %s", c + 1,
                        rc == DT_ERANGE ? "is out of range" : "is not a number");
                bad_row(s, why);
                ok = 0;
            }
            s->present[c] = 1;
        }
        if (!ok)
            continue;
        /* A time the core would refuse (ingest's DT_TIME_LIMIT) is refused
         * here, where the line number and the reason are known; with rebase
         * only the rebased time counts, so a file from 1700 replays. */
        if (!s->rebase && !dt_time_valid(s->row_t)) {
            bad_row(s, "time out of range (beyond DT_TIME_LIMIT: 1823-11-12 to 2116-02-20 "
                       "from 1970)");
            continue;
        }
        if (s->rebase || s->realtime) {
            /* Rows centuries apart make the difference or the sum overflow
             * int64: such a row cannot be placed on the host's time. */
            dt_time o_row = s->have_origin ? s->origin_row : s->row_t;
            dt_time o_now = s->have_origin ? s->origin_now : now;
            dt_time d;
            if (__builtin_sub_overflow(s->row_t, o_row, &d) ||
                __builtin_add_overflow(o_now, d, &s->row_due) || !dt_time_valid(s->row_due)) {
                bad_row(s, s->rebase ? "time too far from the first row to rebase"
                                     : "time too far from the first row to pace");
                continue;
            }
            s->have_origin = 1;
            s->origin_row = o_row;
            s->origin_now = o_now;
        }
        if (s->have_last && s->row_t < s->last_row_t)
            dt_source_count(s->ctx, DT_EV_REORDERED, 1);
        s->have_last = 1;
        s->last_row_t = s->row_t;
        return 1;
    }
}

void dt__csv_emit_row(csvsrc *s, dt_time t_src, dt_time t_arr)
{
    for (int c = 0; c < s->n_columns; c++)
        if (s->present[c])
            (void)dt_source_emit(s->ctx, s->col_map[c], t_src, t_arr, s->values[c]);
}
