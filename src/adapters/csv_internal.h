/* CSV source internals shared by its files: the source's state, text parsing, rows. */
#ifndef DTWIN_SRC_ADAPTERS_CSV_INTERNAL_H
#define DTWIN_SRC_ADAPTERS_CSV_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "dtwin/adapter.h"

#define CSV_MAX_COLUMNS 1024
#define CSV_LOGGED_ERRORS 20
#define CSV_IOBUF 65536

/* ---- csv_parse.c: text ---- */

/* dt__csv_split() results besides a field count */
#define DT__CSV_SPLIT_QUOTING (-1)
#define DT__CSV_SPLIT_TOO_MANY (-2)

/* Splits a line in place into at most max fields. Supports "quoted" fields
 * with "" escapes; trims spaces around unquoted fields. Returns the number of
 * fields, DT__CSV_SPLIT_QUOTING or DT__CSV_SPLIT_TOO_MANY. The line holds no
 * NUL, so '\0' is its end. */
int dt__csv_split(char *line, char delim, char **f, int max);
/* A whole field as a number: DT_EEMPTY for an empty one, DT_EPARSE for text
 * that is not a number, DT_ERANGE for one that overflows. */
int dt__csv_parse_double(const char *s, double *out);
/* ISO-8601 "YYYY-MM-DD[T ]hh:mm:ss[.f{1,9}][Z|+hh:mm|-hh:mm]" (no zone: UTC).
 * DT_EPARSE for text that is no such date, DT_ERANGE for a date outside dt_time. */
int dt__csv_parse_iso8601(const char *s, dt_time *out);

/* ---- the source's state ---- */

typedef enum { TIME_AUTO, TIME_SECONDS, TIME_ISO } time_format;

/* dt__csv_read_line() results */
enum { LINE_EOF = 0, LINE_OK = 1, LINE_TOO_LONG = -1, LINE_NUL = -2 };

typedef struct csvsrc {
    dt_source_ctx *ctx;
    dt_allocator alloc;
    FILE *f;
    char path[512];
    char *line;      /* one line's content: max_line bytes, a '\r' and a '\0' */
    size_t max_line; /* content bytes of a line, its terminator not counted */
    char **fields;
    int n_columns, time_col;
    const dt_mapping **col_map; /* per column, NULL if not mapped */
    double *values;             /* parsed row, per column */
    unsigned char *present;     /* per column: a value was given */
    char delim;
    time_format tfmt;
    int realtime, rebase, eof, have_row, have_origin, have_last;
    int checking; /* opened by validate: never block, read only a regular file */
    size_t batch;
    uint64_t line_no, errors_logged;
    /* row_due: origin_now + (row_t - origin_row), the row's rebased time and
     * realtime due time; computed checked when the row is read */
    dt_time row_t, row_due, last_row_t, origin_row, origin_now;
    /* Our own read-ahead: stdio's line readers cannot see NUL bytes, and
     * stdio runs unbuffered on top of it so reading never allocates. */
    char *iobuf;
    size_t io_pos, io_end;
    int io_done, io_errno; /* end of file or read error; errno of the error */
    uint64_t io_read, size; /* bytes read into iobuf so far; the file's size (0: unknown) */
} csvsrc;

/* ---- csv_rows.c: lines and rows of the file ---- */

/* Reads the next chunk of the file once the last is used up. Returns the
 * number of bytes now unread; 0 at the end of the file or on a read error. */
size_t dt__csv_refill(csvsrc *s);
/* Reads one physical line into s->line: LINE_OK, LINE_EOF, LINE_TOO_LONG or
 * LINE_NUL (the line consumed whole and not kept). */
int dt__csv_read_line(csvsrc *s);
/* Reads rows until one parses; leaves it in values/present/row_t/row_due.
 * 0 at the end of the data. now: the poll's time, the origin if this is the
 * first row. */
int dt__csv_next_row(csvsrc *s, dt_time now);
/* Hands the current row's present values to the source's ring. */
void dt__csv_emit_row(csvsrc *s, dt_time t_src, dt_time t_arr);

#endif
