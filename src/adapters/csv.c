/* The CSV replay source ("csv"): configuration, open and header, poll (pace
 * and rebase), validate and progress. Text parsing is in csv_parse.c, reading
 * lines and rows in csv_rows.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "adapters_internal.h"
#include "csv_internal.h"

#define CSV_MAX_LINE_DEFAULT 4096
#define CSV_MAX_LINE_LIMIT (1 << 20)

static const char *const csv_keys[] = {"file",  "time_column", "time_format", "pace",
                                       "rebase", "delimiter",  "batch",       "max_line",
                                       NULL};

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
    if (dt__csv_refill(s) >= 3 && memcmp(s->iobuf, "\xEF\xBB\xBF", 3) == 0)
        s->io_pos = 3;
    int r = dt__csv_read_line(s);
    int n = r == LINE_OK && s->line[0] != '\0'
                ? dt__csv_split(s->line, s->delim, s->fields, CSV_MAX_COLUMNS)
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
    if (n == DT__CSV_SPLIT_QUOTING)
        FAIL(DT_EPARSE, "%s:1: header row has bad quoting", s->path);
    if (n == DT__CSV_SPLIT_TOO_MANY)
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
            if (!dt__csv_next_row(s, now)) {
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
            dt__csv_emit_row(s, t_src, 0);
        } else {
            /* Due when the host's time reaches the row: a host that steps as
             * fast as it can replays as fast as it can, on data time. */
            if (t_src > now)
                return DT_OK;
            dt__csv_emit_row(s, t_src, t_src);
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
