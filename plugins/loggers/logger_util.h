/* logger_util.h: small helpers the stock logger plugins share (growable buffers, paths, atomic
 * writes, number formatting, and the per-epoch record that joins training and validation).
 * Header-only and static, so each plugin .so stays self-contained; never touches core/. */
#ifndef NN_LOGGER_UTIL_H
#define NN_LOGGER_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nntrain/logger.h>

/* ---- growable byte buffer: appends are amortised O(1), so per-step use rarely allocates ---- */
typedef struct lg_buf {
    char *p;
    size_t len, cap;
    int oom; /* an append failed; the buffer keeps what it had */
} lg_buf;

static inline int lg_buf_reserve(lg_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline void lg_buf_add(lg_buf *b, const void *data, size_t n)
{
    if (lg_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

static inline void lg_buf_str(lg_buf *b, const char *s)
{
    lg_buf_add(b, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void lg_buf_printf(lg_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        lg_buf_add(b, small, (size_t)n);
        return;
    }
    if (lg_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static inline void lg_buf_free(lg_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- paths ---- */

/* *out = an owned "dir/name" for a logger's file or directory (name alone without dir). The
 * core checked name before open (nn_loggers_open: inside the run directory, none of the
 * run's own files, no symbolic link on the way), so this only joins. */
static inline int lg_run_path(const char *dir, const char *name, const char *who, char **out,
                              nn_error *err)
{
    size_t dl = dir ? strlen(dir) : 0, nl = strlen(name);
    *out = malloc(dl + nl + 2);
    if (!*out)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", who);
    snprintf(*out, dl + nl + 2, "%s%s%s", dl ? dir : "", dl && dir[dl - 1] != '/' ? "/" : "",
             name);
    return NN_OK;
}

/* Creates dir and its missing parents (mode 0777 before umask). Names the path on error. */
static inline int lg_mkdirs(const char *dir, const char *who, nn_error *err)
{
    char *p = strdup(dir);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", who);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                free(p);
                return nn_error_set(err, NN_EIO, "%s: cannot create directory '%s': %s", who,
                                    dir, strerror(e));
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nn_error_set(err, NN_EIO, "%s: '%s' exists but is not a directory", who, dir);
    return NN_OK;
}

/* lg_run_path for a file, with the directories between the run directory and the file made
 * as tensorboard's dir is: "sub/m.csv" works as "m.csv" does. */
static inline int lg_run_file(const char *dir, const char *name, const char *who, char **out,
                              nn_error *err)
{
    int rc = lg_run_path(dir, name, who, out, err);
    const char *slash = rc ? NULL : strrchr(*out, '/');
    if (!slash || !strchr(name, '/'))
        return rc; /* no directory of its own below the run directory */
    size_t pl = (size_t)(slash - *out);
    char *parent = malloc(pl + 1);
    if (!parent)
        rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory", who);
    else {
        memcpy(parent, *out, pl);
        parent[pl] = 0;
        rc = lg_mkdirs(parent, who, err);
        free(parent);
    }
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Writes data to path through "path.tmp.PID" and rename(), so a reader sees either the old
 * file or the new one, never half of one. */
static inline int lg_write_atomic(const char *path, const char *data, size_t n, const char *who,
                                  nn_error *err)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory writing '%s'", who, path);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* created exclusively below: never written through a link planted there */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        int e = errno;
        free(tmp);
        return nn_error_set(err, NN_EIO, "%s: cannot write '%s': %s", who, path, strerror(e));
    }
    int ok = fwrite(data, 1, n, f) == n;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok)
        remove(tmp);
    free(tmp);
    if (!ok)
        return nn_error_set(err, NN_EIO, "%s: cannot write '%s': %s", who, path, strerror(e));
    return NN_OK;
}

/* ---- history kept across a resume (nn_logger_open.resume_step) ---- */

/* the global step a line records, or -1 when it records none (such lines are kept) */
typedef int64_t (*lg_line_step_fn)(const char *line, size_t n);

/* Prepares path for appending: resume_step 0 starts it empty; otherwise the first
 * header_lines lines and every line whose step is <= resume_step stay, the rest (logged after
 * the checkpoint the run resumes from) go. Rewritten atomically. *header (may be NULL) gets
 * the first line, owned, or NULL when the file is new or empty. */
static inline int lg_history_keep(const char *path, int64_t resume_step, int header_lines,
                                  lg_line_step_fn step_of, char **header, const char *who,
                                  nn_error *err)
{
    if (header)
        *header = NULL;
    FILE *f = resume_step > 0 ? fopen(path, "r") : NULL;
    if (!f) {
        if (resume_step > 0 && errno != ENOENT)
            return nn_error_set(err, NN_EIO, "%s: cannot read '%s' to append to it: %s", who,
                                path, strerror(errno));
        return lg_write_atomic(path, "", 0, who, err);
    }
    lg_buf out = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int k = 0, rc = NN_OK;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* a torn last line from a killed writer */
        if (k == 0 && header && header_lines > 0 && !(*header = strdup(line)))
            out.oom = 1;
        if (k++ < header_lines || step_of(line, (size_t)n) <= resume_step)
            lg_buf_add(&out, line, (size_t)n);
    }
    free(line);
    fclose(f);
    if (out.oom)
        rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory reading '%s'", who, path);
    else
        rc = lg_write_atomic(path, out.p ? out.p : "", out.len, who, err);
    lg_buf_free(&out);
    if (rc && header) {
        free(*header);
        *header = NULL;
    }
    return rc;
}

/* ---- numbers ---- */

/* Shortest "%.Ng" text that reads back as exactly v; "nan", "inf", "-inf" for non-finite. */
static inline void lg_fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- JSON strings ---- */
static inline void lg_json_str(lg_buf *b, const char *s)
{
    lg_buf_add(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            lg_buf_add(b, e, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            lg_buf_printf(b, "\\u%04x", *c);
        } else {
            lg_buf_add(b, c, 1);
        }
    }
    lg_buf_add(b, "\"", 1);
}

/* ---- metrics by name (copied: event pointers are borrowed for one call only) ---- */
typedef struct lg_metrics {
    int n, cap;
    char **names;
    double *values;
} lg_metrics;

static inline int lg_metrics_find(const lg_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0)
            return i;
    return -1;
}

/* sets name = v (replacing an earlier value); returns 0 or -1 when out of memory */
static inline int lg_metrics_set(lg_metrics *m, const char *name, double v)
{
    int i = lg_metrics_find(m, name);
    if (i >= 0) {
        m->values[i] = v;
        return 0;
    }
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        char **nn = realloc(m->names, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        m->names = nn;
        double *nv = realloc(m->values, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        m->values = nv;
        m->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    m->names[m->n] = copy;
    m->values[m->n++] = v;
    return 0;
}

static inline double lg_metrics_get(const lg_metrics *m, const char *name)
{
    int i = lg_metrics_find(m, name);
    return i >= 0 ? m->values[i] : NAN;
}

static inline void lg_metrics_clear(lg_metrics *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->names[i]);
    m->n = 0;
}

static inline void lg_metrics_free(lg_metrics *m)
{
    lg_metrics_clear(m);
    free(m->names);
    free(m->values);
    memset(m, 0, sizeof *m);
}

/* value of a metric in an event, NAN when absent */
static inline double lg_event_metric(const nn_event *ev, const char *name)
{
    for (int i = 0; i < ev->n_metrics; i++)
        if (ev->metrics[i].name && strcmp(ev->metrics[i].name, name) == 0)
            return ev->metrics[i].value;
    return NAN;
}

/* ---- the epoch record: EPOCH_END's training metrics joined with VALIDATION_END's ----
 * The two events may come in either order, and validation may be skipped for an epoch, so a
 * record is complete when both arrived, or when anything later (next epoch, end of training,
 * close) shows that validation will not come. */
typedef struct lg_epoch {
    int pending, has_train, has_val;
    int64_t epoch, epochs, global_step, steps_per_epoch;
    double elapsed_s, lr, samples_per_s;
    lg_metrics m; /* training metrics first, then val_* in arrival order */
    int n_classes;
    int64_t *confusion;  /* owned copy, or NULL */
    char **class_names;  /* owned copies, or NULL */
} lg_epoch;

typedef int (*lg_epoch_emit_fn)(void *ctx, const lg_epoch *rec, nn_error *err);

static inline void lg_epoch_reset(lg_epoch *r)
{
    lg_metrics_clear(&r->m);
    if (r->class_names)
        for (int i = 0; i < r->n_classes; i++)
            free(r->class_names[i]);
    free(r->class_names);
    free(r->confusion);
    lg_metrics keep = r->m;
    memset(r, 0, sizeof *r);
    r->m = keep;
}

static inline void lg_epoch_free(lg_epoch *r)
{
    lg_epoch_reset(r);
    lg_metrics_free(&r->m);
}

/* copies an event's confusion matrix and class names into r (replacing what it had) */
static inline int lg_confusion_copy(const nn_event *ev, int *n_out, int64_t **conf_out,
                                    char ***names_out)
{
    int n = ev->n_classes;
    if (!ev->confusion || n <= 0)
        return 0;
    int64_t *c = malloc((size_t)n * (size_t)n * sizeof *c);
    char **nm = calloc((size_t)n, sizeof *nm);
    if (!c || !nm) {
        free(c);
        free(nm);
        return -1;
    }
    memcpy(c, ev->confusion, (size_t)n * (size_t)n * sizeof *c);
    for (int i = 0; i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%d", i);
        const char *s = ev->class_names && ev->class_names[i] ? ev->class_names[i] : num;
        nm[i] = strdup(s);
        if (!nm[i]) {
            for (int j = 0; j < i; j++)
                free(nm[j]);
            free(nm);
            free(c);
            return -1;
        }
    }
    if (*names_out)
        for (int i = 0; i < *n_out; i++)
            free((*names_out)[i]);
    free(*names_out);
    free(*conf_out);
    *n_out = n;
    *conf_out = c;
    *names_out = nm;
    return 0;
}

static inline int lg_epoch_add(lg_epoch *r, const nn_event *ev, const char *who, nn_error *err)
{
    if (!r->pending) {
        r->pending = 1;
        r->epoch = ev->epoch;
    }
    r->epochs = ev->epochs;
    if (ev->kind == NN_EV_EPOCH_END) {
        r->has_train = 1;
        r->global_step = ev->global_step;
        r->steps_per_epoch = ev->steps_per_epoch;
        r->elapsed_s = ev->elapsed_s;
        r->lr = ev->lr;
        r->samples_per_s = ev->samples_per_s;
    } else {
        r->has_val = 1;
        if (!r->has_train) {
            r->global_step = ev->global_step;
            r->elapsed_s = ev->elapsed_s;
            r->lr = ev->lr;
        } else if (ev->elapsed_s > r->elapsed_s) {
            r->elapsed_s = ev->elapsed_s; /* the epoch's wall time includes validation */
        }
        if (lg_confusion_copy(ev, &r->n_classes, &r->confusion, &r->class_names) != 0)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", who);
    }
    for (int i = 0; i < ev->n_metrics; i++)
        if (ev->metrics[i].name && lg_metrics_set(&r->m, ev->metrics[i].name,
                                                  ev->metrics[i].value) != 0)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", who);
    return NN_OK;
}

/* Feeds one event; calls emit when an epoch record is complete. Returns emit's status. */
static inline int lg_epoch_feed(lg_epoch *r, const nn_event *ev, lg_epoch_emit_fn emit,
                                void *ctx, const char *who, nn_error *err)
{
    int rc = NN_OK;
    int closes = ev->kind == NN_EV_EPOCH_BEGIN || ev->kind == NN_EV_TRAIN_END ||
                 ev->kind == NN_EV_EVAL_END ||
                 ((ev->kind == NN_EV_EPOCH_END || ev->kind == NN_EV_VALIDATION_END) &&
                  ev->epoch != r->epoch);
    if (r->pending && closes) {
        rc = emit(ctx, r, err);
        lg_epoch_reset(r);
    }
    if (ev->kind == NN_EV_EPOCH_END || ev->kind == NN_EV_VALIDATION_END) {
        int rc2 = lg_epoch_add(r, ev, who, err);
        if (rc2 != NN_OK)
            return rc2;
        if (r->has_train && r->has_val) {
            int rc3 = emit(ctx, r, err);
            lg_epoch_reset(r);
            if (rc == NN_OK)
                rc = rc3;
        }
    }
    return rc;
}

/* Emits a record still waiting for validation (at close). */
static inline int lg_epoch_finish(lg_epoch *r, lg_epoch_emit_fn emit, void *ctx, nn_error *err)
{
    int rc = NN_OK;
    if (r->pending)
        rc = emit(ctx, r, err);
    lg_epoch_reset(r);
    return rc;
}

#endif
