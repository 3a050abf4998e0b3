/* CSV replay source ("csv"). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "adapters_internal.h"

#define CSV_MAX_LINE_DEFAULT 4096
#define CSV_MAX_LINE_LIMIT (1 << 20)
#define CSV_MAX_COLUMNS 1024
#define CSV_LOGGED_ERRORS 20
#define CSV_IOBUF 65536

/* split() results besides a field count */
#define SPLIT_QUOTING (-1)
#define SPLIT_TOO_MANY (-2)

/* Splits a line in place into at most max fields. Supports "quoted" fields
 * with "" escapes; trims spaces around unquoted fields. Returns the number of
 * fields, SPLIT_QUOTING or SPLIT_TOO_MANY. The line holds no NUL (read_line
 * refuses those), so '\0' is its end. */
static int split(char *line, char delim, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (n == max)
            return SPLIT_TOO_MANY;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;;) {
                if (*p == '\0')
                    return SPLIT_QUOTING; /* unterminated quote */
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            *w = '\0';
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != delim && *p != '\0')
                return SPLIT_QUOTING; /* text after a closing quote */
        } else {
            f[n++] = p;
            while (*p != delim && *p != '\0')
                p++;
            char *e = p;
            char sep = *p; /* read before the terminator may overwrite it */
            while (e > f[n - 1] && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *e = '\0';
            if (sep == '\0')
                return n;
            p++;
            continue;
        }
        if (*p == '\0')
            return n;
        *p++ = '\0';
    }
}

static int parse_double(const char *s, double *out)
{
    if (*s == '\0')
        return DT_EEMPTY;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return DT_EPARSE;
    if (errno == ERANGE && isinf(v))
        return DT_ERANGE;
    *out = v;
    return DT_OK;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ISO-8601 "YYYY-MM-DD[T ]hh:mm:ss[.f{1,9}][Z|+hh:mm|-hh:mm]" (no zone: UTC).
 * DT_EPARSE for text that is no such date, DT_ERANGE for a date outside dt_time. */
static int parse_iso8601(const char *s, dt_time *out)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
        return DT_EPARSE;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &se))
        return DT_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return DT_EPARSE;
    int64_t frac = 0;
    if (*p == '.' || *p == ',') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return DT_EPARSE;
        while (nd++ < 9)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return DT_EPARSE;
    }
    if (*p != '\0')
        return DT_EPARSE;
    /* Four-digit years keep secs within +-3.2e11: no overflow up to here. */
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                   sign * (oh * 3600 + om * 60);
    /* dt_time (int64 ns) spans 1677-09-21 .. 2262-04-11: a date outside is a
     * malformed row, not an overflow (found by fuzz_csv); checked to the ns.
     * Before 1970 the fraction is borrowed from the next second, so the
     * earliest second (1677-09-21T00:12:43) does not overflow on its way. */
    if (secs < 0 && frac > 0) {
        secs++;
        frac -= DT_NS_PER_S;
    }
    dt_time ns;
    if (__builtin_mul_overflow(secs, DT_NS_PER_S, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return DT_ERANGE;
    *out = ns;
    return DT_OK;
}

/* ---- source ---- */

typedef enum { TIME_AUTO, TIME_SECONDS, TIME_ISO } time_format;

/* read_line() results */
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

static const char *const csv_keys[] = {"file",  "time_column", "time_format", "pace",
                                       "rebase", "delimiter",  "batch",       "max_line",
                                       NULL};

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
static size_t refill(csvsrc *s)
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
static int read_line(csvsrc *s)
{
    size_t len = 0;
    int any = 0, too_long = 0;
    for (;;) {
        size_t avail = refill(s);
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
        rc = parse_double(txt, &secs);
        if (rc == DT_OK)
            rc = isnan(secs) ? DT_EPARSE : dt_time_from_sec_checked(secs, t);
    }
    if (rc == DT_EPARSE && s->tfmt != TIME_SECONDS)
        rc = parse_iso8601(txt, t);
    if (rc == DT_OK && (*t == DT_TIME_MIN || *t == DT_TIME_MAX))
        rc = DT_ERANGE;
    return rc;
}

/* Reads rows until one parses; leaves it in values/present/row_t/row_due.
 * now: the poll's time (|now| <= DT_TIME_LIMIT), the origin if this is the
 * first row. */
static int next_row(csvsrc *s, dt_time now)
{
    for (;;) {
        int r = read_line(s);
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
        int n = split(s->line, s->delim, s->fields, CSV_MAX_COLUMNS);
        if (n == SPLIT_QUOTING) {
            bad_row(s, "bad quoting");
            continue;
        }
        if (n == SPLIT_TOO_MANY) {
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
            rc = parse_double(s->fields[c], &s->values[c]);
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

static void emit_row(csvsrc *s, dt_time t_src, dt_time t_arr)
{
    for (int c = 0; c < s->n_columns; c++)
        if (s->present[c])
            (void)dt_source_emit(s->ctx, s->col_map[c], t_src, t_arr, s->values[c]);
}

static void csv_close(void *self)
{
    csvsrc *s = self;
    if (s->f != NULL)
        (void)fclose(s->f); /* read-only: nothing to lose */
    dt__free(&s->alloc, s->line);
    dt__free(&s->alloc, s->fields);
    dt__free(&s->alloc, s->col_map);
    dt__free(&s->alloc, s->values);
    dt__free(&s->alloc, s->present);
    dt__free(&s->alloc, s->iobuf);
    memset(s, 0, sizeof *s);
}

#define FAIL(code, ...)                                                        \
    do {                                                                       \
        dt_source_error(ctx, __VA_ARGS__);                                     \
        return code;                                                           \
    } while (0)

/* The header's column names, comma-separated, cut with "..." to fit. */
static void header_list(const csvsrc *s, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int c = 0; c < s->n_columns; c++) {
        size_t need = strlen(s->fields[c]) + 2;
        if (at + need + 4 > cap) {
            (void)snprintf(buf + at, cap - at, "%s...", c ? ", " : "");
            return;
        }
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", c ? ", " : "", s->fields[c]);
    }
}

/* Reads and splits the header row; on failure says why and returns DT_EPARSE
 * (DT_EIO if the file cannot be read at all, e.g. a directory). */
static int read_header(csvsrc *s, dt_source_ctx *ctx)
{
    /* A UTF-8 byte order mark (spreadsheets write one) is not part of the
     * first column's name. */
    if (refill(s) >= 3 && memcmp(s->iobuf, "\xEF\xBB\xBF", 3) == 0)
        s->io_pos = 3;
    int r = read_line(s);
    int n = r == LINE_OK && s->line[0] != '\0'
                ? split(s->line, s->delim, s->fields, CSV_MAX_COLUMNS)
                : 0;
    if (r == LINE_EOF && s->io_errno != 0)
        FAIL(DT_EIO, "%s: cannot read: %s", s->path, strerror(s->io_errno));
    if (r == LINE_EOF)
        FAIL(DT_EPARSE, "%s:1: missing header row (empty file)", s->path);
    if (r == LINE_TOO_LONG)
        FAIL(DT_EPARSE, "%s:1: header row too long (more than %zu bytes; see max_line)",
             s->path, s->max_line);
    if (r == LINE_NUL)
        FAIL(DT_EPARSE, "%s:1: header row has a NUL byte", s->path);
    if (n == 0)
        FAIL(DT_EPARSE, "%s:1: header row is empty", s->path);
    if (n == SPLIT_QUOTING)
        FAIL(DT_EPARSE, "%s:1: header row has bad quoting", s->path);
    if (n == SPLIT_TOO_MANY)
        FAIL(DT_EPARSE, "%s:1: header has more than %d columns", s->path, CSV_MAX_COLUMNS);
    s->n_columns = n;
    return DT_OK;
}

static int csv_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    csvsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    const char *file = NULL, *tcol = "time", *tf = "auto", *pace = "fast", *dl = ",";
    double batch = 1024, max_line = CSV_MAX_LINE_DEFAULT;
    int rebase = 0;
    if (dt_config_string(dt_config_get(cfg, "file"), &file) != DT_OK)
        FAIL(DT_EINVAL, "file: missing (required string)");
    const dt_config *v;
    if ((v = dt_config_get(cfg, "time_column")) && dt_config_string(v, &tcol) != DT_OK)
        FAIL(DT_EINVAL, "time_column: expected a string");
    if ((v = dt_config_get(cfg, "time_format")) &&
        (dt_config_string(v, &tf) != DT_OK ||
         (strcmp(tf, "auto") != 0 && strcmp(tf, "seconds") != 0 && strcmp(tf, "iso8601") != 0)))
        FAIL(DT_EINVAL, "time_format: auto, seconds or iso8601");
    if ((v = dt_config_get(cfg, "pace")) &&
        (dt_config_string(v, &pace) != DT_OK ||
         (strcmp(pace, "fast") != 0 && strcmp(pace, "realtime") != 0)))
        FAIL(DT_EINVAL, "pace: fast or realtime");
    if ((v = dt_config_get(cfg, "delimiter")) &&
        (dt_config_string(v, &dl) != DT_OK || strlen(dl) != 1 || dl[0] == '"'))
        FAIL(DT_EINVAL, "delimiter: one character other than '\"'");
    if ((v = dt_config_get(cfg, "rebase")) && dt_config_bool(v, &rebase) != DT_OK)
        FAIL(DT_EINVAL, "rebase: expected true or false");
    if ((v = dt_config_get(cfg, "batch")) &&
        (dt_config_number(v, &batch) != DT_OK || batch < 1 || batch > 1e6))
        FAIL(DT_EINVAL, "batch: 1..1000000 rows per poll");
    if ((v = dt_config_get(cfg, "max_line")) &&
        (dt_config_number(v, &max_line) != DT_OK || max_line < 16 ||
         max_line > CSV_MAX_LINE_LIMIT))
        FAIL(DT_EINVAL, "max_line: 16..1048576 bytes");
    if (dt__resolve_path(dt_source_basedir(ctx), file, s->path, sizeof s->path) != DT_OK)
        FAIL(DT_ELIMIT, "file: path too long");
    s->delim = dl[0];
    s->tfmt = tf[0] == 's' ? TIME_SECONDS : tf[0] == 'i' ? TIME_ISO : TIME_AUTO;
    s->realtime = pace[0] == 'r';
    s->rebase = rebase;
    s->batch = (size_t)batch;
    s->max_line = (size_t)max_line;
    s->line = dt__malloc(&s->alloc, s->max_line + 2); /* + '\r' + '\0' */
    s->fields = dt__calloc(&s->alloc, CSV_MAX_COLUMNS, sizeof *s->fields);
    s->iobuf = dt__malloc(&s->alloc, CSV_IOBUF);
    if (s->line == NULL || s->fields == NULL || s->iobuf == NULL) {
        csv_close(s);
        FAIL(DT_ENOMEM, "out of memory");
    }
    if (s->checking) {
        /* A check opens without blocking (a named pipe nobody writes to yet)
         * and reads the header of a regular file only: a pipe's or a
         * device's first line belongs to the run, which would not see it. */
        int fd = open(s->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            dt_source_error(ctx, "file: cannot open %s: %s", s->path, strerror(errno));
            if (fd >= 0)
                (void)close(fd);
            csv_close(s);
            return DT_EIO;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            (void)close(fd);
            csv_close(s);
            return DT_OK;
        }
        s->f = fdopen(fd, "rb");
        if (s->f == NULL)
            (void)close(fd);
    } else {
        s->f = fopen(s->path, "rb");
    }
    if (s->f == NULL) {
        dt_source_error(ctx, "file: cannot open %s: %s", s->path, strerror(errno));
        csv_close(s);
        return DT_EIO;
    }
    /* We buffer ourselves (iobuf); unbuffered, stdio never allocates one. */
    (void)setvbuf(s->f, NULL, _IONBF, 0); /* if refused, stdio only buffers twice */
    struct stat sb;
    if (fstat(fileno(s->f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
        s->size = (uint64_t)sb.st_size; /* for progress; a pipe's length is not known */
    int rc = read_header(s, ctx);
    if (rc != DT_OK) {
        csv_close(s);
        return rc;
    }
    int n = s->n_columns;
    s->col_map = dt__calloc(&s->alloc, (size_t)n, sizeof(const dt_mapping *));
    s->values = dt__calloc(&s->alloc, (size_t)n, sizeof *s->values);
    s->present = dt__calloc(&s->alloc, (size_t)n, 1);
    if (!s->col_map || !s->values || !s->present) {
        csv_close(s);
        FAIL(DT_ENOMEM, "out of memory");
    }
    s->time_col = -1;
    for (int c = 0; c < n; c++) {
        if (strcmp(s->fields[c], tcol) == 0 && s->time_col < 0)
            s->time_col = c;
        else
            s->col_map[c] = dt_source_map_name(ctx, s->fields[c]);
    }
    char cols[192];
    header_list(s, cols, sizeof cols);
    if (s->time_col < 0) {
        dt_source_error(ctx, "time_column: \"%s\" is not in the header of %s (its columns: %s)",
                        tcol, s->path, cols);
        csv_close(s);
        return DT_EPARSE;
    }
    /* Every mapping entry must name a column: a typo must not pass silently. */
    for (size_t k = 0; k < dt_source_mapping_count(ctx); k++) {
        const dt_mapping *m = dt_source_mapping(ctx, k);
        int found = 0;
        for (int c = 0; c < n; c++)
            found |= s->col_map[c] == m;
        if (!found) {
            char what[64];
            dt__fmt(what, sizeof what, "mapping[%zu]", k);
            dt_source_error(ctx, "%s.native: column \"%s\" is not in the header of %s (its "
                                 "columns: %s)",
                            what, m->native ? m->native : "?", s->path, cols);
            csv_close(s);
            return DT_EPARSE;
        }
    }
    return DT_OK;
}

static int csv_poll(void *self, dt_time now)
{
    csvsrc *s = self;
    /* now is the origin of rebased times: the same range as ingest accepts */
    if (!dt_time_valid(now))
        return DT_ERANGE;
    if (s->eof)
        return DT_OK;
    for (size_t k = 0; k < s->batch; k++) {
        if (!s->have_row) {
            if (!next_row(s, now)) {
                s->eof = 1;
                dt_source_count(s->ctx, DT_EV_END, 1);
                dt_source_log(s->ctx, DT_LOG_INFO, "%s: end of data after %llu lines",
                              s->path, (unsigned long long)s->line_no);
                return DT_OK;
            }
            s->have_row = 1;
        }
        dt_time t_src = s->rebase ? s->row_due : s->row_t;
        if (s->realtime) {
            /* Due when as much host time has passed as data time (row_due). */
            if (now < s->row_due)
                return DT_OK;
            emit_row(s, t_src, 0);
        } else {
            /* Due when the host's time reaches the row: a host that steps as
             * fast as it can replays as fast as it can, on data time. */
            if (t_src > now)
                return DT_OK;
            emit_row(s, t_src, t_src);
        }
        s->have_row = 0;
    }
    return DT_OK;
}

/* What open checks (the file, its header, the mapping's columns), on an
 * instance that is closed again at once. */
static int csv_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    csvsrc *s = dt__calloc(dt_source_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        FAIL(DT_ENOMEM, "out of memory");
    s->checking = 1;
    int rc = csv_open(s, ctx, cfg);
    csv_close(s);
    dt__free(dt_source_allocator(ctx), s);
    return rc;
}

/* The share of the file's bytes consumed. */
static double csv_progress(const void *self)
{
    const csvsrc *s = self;
    if (s->eof)
        return 1;
    if (s->size == 0)
        return -1;
    double done = (double)(s->io_read - (s->io_end - s->io_pos)) / (double)s->size;
    return done < 1 ? done : 1;
}

const dt_source_ops dt__csv_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "csv",
    .instance_size = sizeof(csvsrc),
    .keys = csv_keys,
    .open = csv_open,
    .poll = csv_poll,
    .close = csv_close,
    .validate = csv_validate,
    .progress = csv_progress,
};
