/* csv.c: the `csv` logger: one row per step (every N) and one per epoch, in a file that is a
 * clean rectangle at every flush, so pandas.read_csv() works during the run and after it.
 * Buffers rows in memory and writes at epoch end; never writes a partial header. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

#include "logger_util.h"

#define WHO "logger 'csv'"
#define MAX_BUFFERED_ROWS 4096

/* The fixed leading columns; metric columns follow in order of first appearance. */
static const char *const fixed_cols[] = {"kind",      "epoch", "step",     "global_step",
                                         "elapsed_s", "lr",    "grad_norm", "samples_per_s"};
#define N_FIXED 8

typedef struct row {
    const char *kind; /* "step", "epoch", "eval", "eval_val": static strings */
    int64_t epoch, step, global_step; /* step < 0: empty */
    double elapsed_s, lr, grad_norm, samples_per_s;
    size_t first_pair;
    int n_pairs;
} row;

typedef struct pair {
    int col; /* index into cols */
    double value;
} pair;

typedef struct csvlog {
    char *path_key;
    int64_t every;
    char *path;
    int opened;
    lg_metrics cols;    /* metric columns; values unused */
    int header_cols;    /* metric columns the file's header has; -1 = no header yet */
    row *rows;
    size_t n_rows, cap_rows;
    pair *pairs;
    size_t n_pairs, cap_pairs;
    lg_epoch rec;
    lg_buf text;
} csvlog;

static int csv_create(const nn_params *params, void **self, nn_error *err)
{
    csvlog *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    c->path_key = strdup(nn_params_str(params, "path"));
    c->every = nn_params_int(params, "every");
    c->header_cols = -1;
    if (!c->path_key) {
        free(c);
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    }
    *self = c;
    return NN_OK;
}

static void csv_destroy(void *self)
{
    csvlog *c = self;
    free(c->path_key);
    free(c->path);
    lg_metrics_free(&c->cols);
    free(c->rows);
    free(c->pairs);
    lg_epoch_free(&c->rec);
    lg_buf_free(&c->text);
    free(c);
}

/* the global_step field (the fourth) of a data row */
static int64_t line_step(const char *line, size_t n)
{
    const char *p = line, *end = line + n;
    for (int f = 0; f < 3; f++) {
        p = memchr(p, ',', (size_t)(end - p));
        if (!p)
            return -1;
        p++;
    }
    return strtoll(p, NULL, 10);
}

/* Reads an existing header back into the metric columns; 0, or -1 when it is not ours. */
static int parse_header(csvlog *c, const char *h)
{
    size_t n = strlen(h);
    while (n && (h[n - 1] == '\n' || h[n - 1] == '\r'))
        n--;
    char *field = malloc(n + 1);
    if (!field)
        return -1;
    int col = 0, rc = 0;
    size_t i = 0;
    while (i <= n && rc == 0) {
        size_t len = 0;
        if (i < n && h[i] == '"') { /* a quoted name, "" for a quote */
            for (i++; i < n && !(h[i] == '"' && (i + 1 >= n || h[i + 1] != '"')); i++) {
                if (h[i] == '"')
                    i++;
                field[len++] = h[i];
            }
            i++;
        } else {
            while (i < n && h[i] != ',')
                field[len++] = h[i++];
        }
        field[len] = 0;
        if (col < N_FIXED)
            rc = strcmp(field, fixed_cols[col]) == 0 ? 0 : -1;
        else if (lg_metrics_set(&c->cols, field, 0) != 0)
            rc = -1;
        col++;
        if (i < n && h[i] != ',')
            rc = -1;
        i++;
    }
    free(field);
    return rc == 0 && col >= N_FIXED ? 0 : -1;
}

static int csv_open(void *self, const nn_logger_open *o, nn_error *err)
{
    csvlog *c = self;
    free(c->path);
    int rc = lg_run_file(o->run_dir, c->path_key, WHO, &c->path, err);
    if (rc != NN_OK)
        return rc;
    /* a resumed run keeps the history up to its checkpoint */
    int64_t keep = o->resume_step;
    char *header = NULL;
    rc = lg_history_keep(c->path, keep, 1, line_step, &header, WHO, err);
    if (rc)
        return rc;
    lg_metrics_clear(&c->cols);
    c->cols.n = 0;
    c->header_cols = -1;
    if (header) {
        if (parse_header(c, header) != 0) {
            free(header);
            return nn_error_set(err, NN_EFORMAT, WHO ": '%s' was not written by this logger "
                                "(its header differs), so the run cannot append to it; move it "
                                "away or set [logger.NAME] path", c->path);
        }
        c->header_cols = c->cols.n;
        free(header);
    }
    c->opened = 1;
    return NN_OK;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

/* Appends one row with the given metrics; returns 0 or -1 when out of memory. */
static int add_row(csvlog *c, const char *kind, int64_t epoch, int64_t step, int64_t gstep,
                   double elapsed, double lr, double grad_norm, double sps, const char *const *names,
                   const double *values, int n)
{
    if (grow((void **)&c->rows, &c->cap_rows, c->n_rows + 1, sizeof(row)) != 0 ||
        grow((void **)&c->pairs, &c->cap_pairs, c->n_pairs + (size_t)n, sizeof(pair)) != 0)
        return -1;
    row *r = &c->rows[c->n_rows++];
    *r = (row){.kind = kind, .epoch = epoch, .step = step, .global_step = gstep,
               .elapsed_s = elapsed, .lr = lr, .grad_norm = grad_norm, .samples_per_s = sps,
               .first_pair = c->n_pairs, .n_pairs = 0};
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int col = lg_metrics_find(&c->cols, names[i]);
        if (col < 0) {
            if (lg_metrics_set(&c->cols, names[i], 0) != 0)
                return -1;
            col = c->cols.n - 1;
        }
        c->pairs[c->n_pairs++] = (pair){col, values[i]};
        r->n_pairs++;
    }
    return 0;
}

/* A name as a CSV field: quoted when it holds a comma, quote or line break. */
static void put_field(lg_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        lg_buf_str(b, s);
        return;
    }
    lg_buf_add(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"')
            lg_buf_add(b, "\"", 1);
        lg_buf_add(b, s, 1);
    }
    lg_buf_add(b, "\"", 1);
}

static void put_num(lg_buf *b, double v, int empty_if_nan)
{
    char t[40];
    lg_buf_add(b, ",", 1);
    if (empty_if_nan && isnan(v))
        return;
    lg_fmt_double(t, sizeof t, v);
    lg_buf_str(b, t);
}

static void put_header(csvlog *c, lg_buf *b)
{
    for (int i = 0; i < N_FIXED; i++) {
        if (i)
            lg_buf_add(b, ",", 1);
        lg_buf_str(b, fixed_cols[i]);
    }
    for (int i = 0; i < c->cols.n; i++) {
        lg_buf_add(b, ",", 1);
        put_field(b, c->cols.names[i]);
    }
    lg_buf_add(b, "\n", 1);
}

/* Rewrites the file with the current header, padding its old rows with empty fields for the
 * columns that appeared since. Rare (once when validation metrics first show up). */
static int widen_file(csvlog *c, nn_error *err)
{
    FILE *f = fopen(c->path, "r");
    if (!f)
        return nn_error_set(err, NN_EIO, WHO ": cannot reopen '%s': %s", c->path,
                            strerror(errno));
    lg_buf out = {0};
    put_header(c, &out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int first = 1, pad = c->cols.n - c->header_cols;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (first) {
            first = 0;
            continue;
        }
        if (line[n - 1] == '\n')
            n--;
        lg_buf_add(&out, line, (size_t)n);
        for (int i = 0; i < pad; i++)
            lg_buf_add(&out, ",", 1);
        lg_buf_add(&out, "\n", 1);
    }
    free(line);
    fclose(f);
    int rc = out.oom ? nn_error_set(err, NN_ENOMEM, WHO ": out of memory rewriting '%s'", c->path)
                     : lg_write_atomic(c->path, out.p, out.len, WHO, err);
    lg_buf_free(&out);
    return rc;
}

/* Writes the buffered rows (and the header or a widened file first when needed). */
static int write_out(csvlog *c, nn_error *err)
{
    if (!c->opened || (!c->n_rows && c->header_cols == c->cols.n))
        return NN_OK;
    int rc = NN_OK;
    lg_buf *b = &c->text;
    b->len = 0;
    int wrote_header = c->header_cols < 0;
    if (wrote_header) {
        put_header(c, b);
    } else if (c->header_cols < c->cols.n) {
        rc = widen_file(c, err);
        if (rc != NN_OK)
            goto drop;
    }
    c->header_cols = c->cols.n;
    for (size_t i = 0; i < c->n_rows; i++) {
        const row *r = &c->rows[i];
        lg_buf_str(b, r->kind);
        lg_buf_printf(b, ",%lld,", (long long)r->epoch);
        if (r->step >= 0)
            lg_buf_printf(b, "%lld", (long long)r->step);
        lg_buf_printf(b, ",%lld", (long long)r->global_step);
        put_num(b, r->elapsed_s, 1);
        put_num(b, r->lr, 1);
        put_num(b, r->grad_norm, 1);
        put_num(b, r->samples_per_s > 0 ? r->samples_per_s : NAN, 1); /* 0: unknown */
        /* columns in header order; a row has each metric at most once */
        for (int k = 0; k < c->cols.n; k++) {
            lg_buf_add(b, ",", 1);
            for (int p = 0; p < r->n_pairs; p++) {
                const pair *q = &c->pairs[r->first_pair + (size_t)p];
                if (q->col == k) {
                    char t[40];
                    lg_fmt_double(t, sizeof t, q->value);
                    lg_buf_str(b, t);
                    break;
                }
            }
        }
        lg_buf_add(b, "\n", 1);
    }
    if (b->oom) {
        rc = nn_error_set(err, NN_ENOMEM, WHO ": out of memory formatting '%s'", c->path);
        goto drop;
    }
    FILE *f = fopen(c->path, "a");
    if (!f || fwrite(b->p, 1, b->len, f) != b->len || fflush(f) != 0) {
        rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", c->path, strerror(errno));
        if (wrote_header)
            c->header_cols = -1; /* the rows are dropped below: memory stays bounded */
    }
    if (f && fclose(f) != 0 && rc == NN_OK)
        rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", c->path, strerror(errno));
drop:
    c->n_rows = 0;
    c->n_pairs = 0;
    return rc;
}

static int epoch_row(void *ctx, const lg_epoch *r, nn_error *err)
{
    csvlog *c = ctx;
    if (add_row(c, "epoch", r->epoch, -1, r->global_step, r->elapsed_s, r->lr, NAN,
                r->samples_per_s, (const char *const *)r->m.names, r->m.values, r->m.n) != 0)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    return write_out(c, err);
}

/* event metrics as parallel arrays without copying: nn_metric is {name, value} */
static int add_event_row(csvlog *c, const char *kind, const nn_event *ev, int64_t step,
                         nn_error *err)
{
    enum { MAXM = 64 };
    const char *names[MAXM];
    double values[MAXM];
    int n = ev->n_metrics < MAXM ? ev->n_metrics : MAXM;
    for (int i = 0; i < n; i++) {
        names[i] = ev->metrics[i].name;
        values[i] = ev->metrics[i].value;
    }
    if (add_row(c, kind, ev->epoch, step, ev->global_step, ev->elapsed_s, ev->lr, ev->grad_norm,
                ev->samples_per_s, names, values, n) != 0)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    return NN_OK;
}

static int csv_event(void *self, const nn_event *ev, nn_error *err)
{
    csvlog *c = self;
    if (!c->opened)
        return NN_OK;
    int rc = lg_epoch_feed(&c->rec, ev, epoch_row, c, WHO, err);
    if (ev->kind == NN_EV_BATCH_END && (ev->step + 1) % c->every == 0) {
        int r2 = add_event_row(c, "step", ev, ev->step, err);
        if (r2 == NN_OK && c->n_rows >= MAX_BUFFERED_ROWS)
            r2 = write_out(c, err);
        if (rc == NN_OK)
            rc = r2;
    } else if (ev->kind == NN_EV_EVAL_END) {
        int val = ev->message && strcmp(ev->message, "val") == 0;
        int r2 = add_event_row(c, val ? "eval_val" : "eval", ev, -1, err);
        if (r2 == NN_OK)
            r2 = write_out(c, err);
        if (rc == NN_OK)
            rc = r2;
    } else if (ev->kind == NN_EV_TRAIN_END) {
        int r2 = write_out(c, err);
        if (rc == NN_OK)
            rc = r2;
    }
    return rc;
}

static int csv_flush(void *self, nn_error *err)
{
    return write_out(self, err);
}

static int csv_close(void *self, nn_error *err)
{
    csvlog *c = self;
    if (!c->opened)
        return NN_OK;
    int rc = lg_epoch_finish(&c->rec, epoch_row, c, err);
    int r2 = write_out(c, err);
    c->opened = 0;
    return rc != NN_OK ? rc : r2;
}

static const nn_param_spec csv_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .def = "metrics.csv",
     .doc = "output file, relative to the run directory (its directories are created if "
            "missing). Columns: kind (step|epoch|eval, or eval_val for `nntrain eval --split val`), "
            "epoch (0-based: the epoch a step or epoch row belongs to; on eval rows the epochs "
            "completed by the evaluated weights, so the test after 2 epochs says 2 where the "
            "last epoch row says 1), step (0-based within the epoch; empty on epoch rows), "
            "global_step, elapsed_s, lr, grad_norm, samples_per_s, then one column per metric "
            "in order of first appearance (loss, accuracy, val_loss, ...). A step row's loss and "
            "accuracy are that optimizer step's own, over its batch (with [train] accumulate, "
            "all its micro-batches), not running epoch figures; an epoch row's are the "
            "epoch's, an eval row's the evaluated split's. When a new metric "
            "appears the file is rewritten with the wider header and empty cells in older "
            "rows, so it always reads as one table; empty = not measured, nan/inf as such"},
    {.name = "every", .type = NN_PARAM_INT, .def = "1", .range = "[1, inf)",
     .doc = "write a step row every N steps of an epoch (epoch rows are always written)"},
    {.name = NULL},
};

static const nn_logger_vtable csv_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = csv_create,
    .destroy = csv_destroy,
    .open = csv_open,
    .event = csv_event,
    .flush = csv_flush, /* optional */
    .close = csv_close, /* optional */
};

static const nn_plugin_desc csv_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "csv", .version = "1.0.0", .license = "MIT",
    .summary = "metrics.csv: a row per step and per epoch; one rectangular table for pandas",
    .params = csv_params, .vtable = &csv_vtable);

NN_PLUGIN_EXPORT(&csv_desc);
