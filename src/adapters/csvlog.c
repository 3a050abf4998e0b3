/* CSV log sink ("csvlog"): commands, and estimates written by the host. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "../platform/numtext.h"
#include "adapters_internal.h"

typedef struct csvlog {
    dt_allocator alloc;
    dt_sink_ctx *ctx;
    FILE *f;
    char *buf;
    char path[512];
    uint64_t rows, flush_every, flushed, write_errors;
    const dt_model *model;
} csvlog;

static const char *const csvlog_keys[] = {"file", "append", "flush_every", NULL};

static void csvlog_close(void *self)
{
    csvlog *s = self;
    /* the rows still in the buffer are written here: a failure is said */
    if (s->f != NULL && (fflush(s->f) != 0 || ferror(s->f)) && s->ctx != NULL)
        dt_sink_log(s->ctx, DT_LOG_ERROR,
                    "%s: writing failed at close: %s (%llu of %llu rows may be lost)", s->path,
                    strerror(errno), (unsigned long long)(s->rows - s->flushed),
                    (unsigned long long)s->rows);
    if (s->f != NULL)
        (void)fclose(s->f); /* flushed above: nothing left for close to report */
    dt__free(&s->alloc, s->buf);
    s->f = NULL;
    s->buf = NULL;
}

static size_t csvlog_counters(const void *self, dt_counter *out, size_t max)
{
    const csvlog *s = self;
    const dt_counter c[] = {{"rows", s->rows}, {"rows_flushed", s->flushed},
                            {"write_errors", s->write_errors}};
    return dt__counters_copy(out, max, c, sizeof c / sizeof c[0]);
}

/* The configuration: path resolved, numbers checked. */
static int csvlog_config(csvlog *s, dt_sink_ctx *ctx, const dt_config *cfg, int *append)
{
    const char *file;
    double fe = 64;
    *append = 0;
    if (dt_config_string(dt_config_get(cfg, "file"), &file) != DT_OK) {
        dt_sink_error(ctx, "file: missing (required string)");
        return DT_EINVAL;
    }
    const dt_config *v;
    if ((v = dt_config_get(cfg, "append")) && dt_config_bool(v, append) != DT_OK) {
        dt_sink_error(ctx, "append: expected true or false");
        return DT_EINVAL;
    }
    if ((v = dt_config_get(cfg, "flush_every")) &&
        (dt_config_number(v, &fe) != DT_OK || fe < 1 || fe > 1e9)) {
        dt_sink_error(ctx, "flush_every: 1..1e9 rows");
        return DT_EINVAL;
    }
    s->flush_every = (uint64_t)fe;
    if (dt__resolve_path(dt_sink_basedir(ctx), file, s->path, sizeof s->path) != DT_OK) {
        dt_sink_error(ctx, "file: path too long");
        return DT_ELIMIT;
    }
    return DT_OK;
}

/* The file could be written: it is writable, or its directory is (checked
 * without creating or truncating anything). */
static int csvlog_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    csvlog s;
    memset(&s, 0, sizeof s);
    int append, rc = csvlog_config(&s, ctx, cfg, &append);
    if (rc != DT_OK)
        return rc;
    struct stat st;
    if (stat(s.path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* writable, and still no file to open (access() says yes to it) */
        dt_sink_error(ctx, "file: cannot write %s: %s", s.path, strerror(EISDIR));
        return DT_EIO;
    }
    if (access(s.path, F_OK) == 0) {
        if (access(s.path, W_OK) != 0) {
            dt_sink_error(ctx, "file: cannot write %s: %s", s.path, strerror(errno));
            return DT_EIO;
        }
        return DT_OK;
    }
    char dir[sizeof s.path];
    memcpy(dir, s.path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        (void)snprintf(dir, sizeof dir, ".");
    if (access(dir, W_OK) != 0) {
        dt_sink_error(ctx, "file: cannot create %s: directory %s: %s", s.path, dir,
                      strerror(errno));
        return DT_EIO;
    }
    return DT_OK;
}

static int csvlog_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    csvlog *s = self;
    s->alloc = *dt_sink_allocator(ctx);
    s->ctx = ctx;
    s->model = dt_sink_model(ctx);
    int append, rc = csvlog_config(s, ctx, cfg, &append);
    if (rc != DT_OK)
        return rc;
    s->buf = dt__malloc(&s->alloc, 65536);
    if (s->buf == NULL) {
        dt_sink_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    s->f = fopen(s->path, append ? "ab" : "wb");
    if (s->f == NULL) {
        dt_sink_error(ctx, "file: cannot open %s: %s", s->path, strerror(errno));
        csvlog_close(s);
        return DT_EIO;
    }
    /* stdio gets its buffer from us, so writing never allocates. */
    (void)setvbuf(s->f, s->buf, _IOFBF, 65536); /* if refused, stdio allocates its own */
    if ((!append || ftell(s->f) == 0) &&
        fputs("time_s,kind,signal,native,value,variance,seq,deadline_s\n", s->f) < 0) {
        dt_sink_error(ctx, "%s: cannot write the header", s->path);
        csvlog_close(s);
        return DT_EIO;
    }
    return DT_OK;
}

static int csvlog_row_done(csvlog *s)
{
    if (++s->rows % s->flush_every == 0) {
        if (fflush(s->f) != 0) {
            s->write_errors++;
            return DT_EIO;
        }
        s->flushed = s->rows;
    }
    if (ferror(s->f)) {
        s->write_errors++;
        return DT_EIO;
    }
    return DT_OK;
}

/* Numbers as %.17g and times as %.9f seconds would write, but through
 * numtext: in a host's locale with a decimal comma printf wrote "1,5" into a
 * comma-separated row. Times are exact from their ns. */
static const char *g17(double v, char *buf)
{
    if (dt__num_format_g(buf, DT__NUM_TEXT, v, 17) == 0)
        dt__fmt(buf, DT__NUM_TEXT, "%g", v); /* nan, inf: the same in every locale */
    return buf;
}

static const char *secs(dt_time t, char *buf)
{
    (void)dt__num_format_ns(buf, DT__NUM_TEXT, t);
    return buf;
}

static int csvlog_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    csvlog *s = self;
    const dt_signal_info *si = dt_model_signal(s->model, cmd->signal);
    char t1[DT__NUM_TEXT], t2[DT__NUM_TEXT], v[DT__NUM_TEXT];
    if (fprintf(s->f, "%s,command,%s,%s,%s,,%llu,%s\n", secs(cmd->t_issued, t1), si->id,
                map->native ? map->native : si->id,
                g17(cmd->value * map->scale + map->offset, v), (unsigned long long)cmd->seq,
                secs(cmd->t_deadline, t2)) < 0) {
        s->write_errors++;
        return DT_EIO;
    }
    return csvlog_row_done(s);
}

const dt_sink_ops dt__csvlog_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "csvlog",
    .instance_size = sizeof(csvlog),
    .keys = csvlog_keys,
    .open = csvlog_open,
    .apply = csvlog_apply,
    .close = csvlog_close,
    .validate = csvlog_validate,
    .counters = csvlog_counters,
};

int dt_csvlog_estimate(dt_io *io, size_t i, dt_time t, dt_signal_id sig, double mean,
                       double var)
{
    const dt_sink_ops *ops = dt__io_sink_ops(io, i);
    if (ops == NULL || ops->open != csvlog_open)
        return DT_EINVAL;
    csvlog *s = dt_io_sink_instance(io, i);
    const dt_signal_info *si = dt_model_signal(s->model, sig);
    if (si == NULL)
        return DT_ENOTFOUND;
    char t1[DT__NUM_TEXT], m[DT__NUM_TEXT], v[DT__NUM_TEXT];
    if (fprintf(s->f, "%s,estimate,%s,,%s,%s,,\n", secs(t, t1), si->id, g17(mean, m),
                g17(var, v)) < 0) {
        s->write_errors++;
        return DT_EIO;
    }
    return csvlog_row_done(s);
}
