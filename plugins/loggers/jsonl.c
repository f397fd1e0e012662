/* jsonl.c: the `jsonl` logger: one JSON object per line for each step (every N), epoch,
 * evaluation and notable event (checkpoint, hint, non-finite, end). Buffers the text and
 * writes it at epoch end or flush; never writes NaN/Infinity, which strict JSON forbids. */
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

#define WHO "logger 'jsonl'"
#define MAX_BUFFERED_BYTES (1u << 20)

typedef struct jsonl {
    char *path_key;
    int64_t every;
    char *path;
    int opened;
    lg_buf text;
    lg_epoch rec;
} jsonl;

static int jsonl_create(const nn_params *params, void **self, nn_error *err)
{
    jsonl *j = calloc(1, sizeof *j);
    if (!j)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    j->path_key = strdup(nn_params_str(params, "path"));
    j->every = nn_params_int(params, "every");
    if (!j->path_key) {
        free(j);
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    }
    *self = j;
    return NN_OK;
}

static void jsonl_destroy(void *self)
{
    jsonl *j = self;
    free(j->path_key);
    free(j->path);
    lg_buf_free(&j->text);
    lg_epoch_free(&j->rec);
    free(j);
}

static int64_t line_step(const char *line, size_t n)
{
    (void)n;
    const char *k = strstr(line, "\"global_step\":");
    return k ? strtoll(k + 14, NULL, 10) : -1;
}

static int jsonl_open(void *self, const nn_logger_open *o, nn_error *err)
{
    jsonl *j = self;
    free(j->path);
    int rc = lg_run_file(o->run_dir, j->path_key, WHO, &j->path, err);
    if (rc != NN_OK)
        return rc;
    /* a resumed run keeps the history up to its checkpoint */
    int64_t keep = o->resume_step;
    rc = lg_history_keep(j->path, keep, 0, line_step, NULL, WHO, err);
    if (rc)
        return rc;
    j->opened = 1;
    return NN_OK;
}

/* ,"key":value with null for NaN/inf (JSON has no such numbers) */
static void put_num(lg_buf *b, const char *key, double v)
{
    lg_buf_add(b, ",", 1);
    lg_json_str(b, key);
    lg_buf_add(b, ":", 1);
    if (!isfinite(v)) {
        lg_buf_str(b, "null");
        return;
    }
    char t[40];
    lg_fmt_double(t, sizeof t, v);
    lg_buf_str(b, t);
}

static void put_int(lg_buf *b, const char *key, int64_t v)
{
    lg_buf_add(b, ",", 1);
    lg_json_str(b, key);
    lg_buf_printf(b, ":%lld", (long long)v);
}

static void put_head(lg_buf *b, const char *kind, int64_t epoch)
{
    lg_buf_str(b, "{\"kind\":");
    lg_json_str(b, kind);
    put_int(b, "epoch", epoch);
}

static void put_confusion(lg_buf *b, int n, const int64_t *conf, const char *const *names)
{
    if (!conf || n <= 0)
        return;
    lg_buf_str(b, ",\"class_names\":[");
    for (int i = 0; i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%d", i);
        if (i)
            lg_buf_add(b, ",", 1);
        lg_json_str(b, names && names[i] ? names[i] : num);
    }
    lg_buf_str(b, "],\"confusion\":[");
    for (int i = 0; i < n; i++) {
        lg_buf_str(b, i ? ",[" : "[");
        for (int k = 0; k < n; k++)
            lg_buf_printf(b, k ? ",%lld" : "%lld", (long long)conf[i * n + k]);
        lg_buf_add(b, "]", 1);
    }
    lg_buf_add(b, "]", 1);
}

static int write_out(jsonl *j, nn_error *err)
{
    if (!j->opened || !j->text.len)
        return NN_OK;
    int rc = NN_OK;
    if (j->text.oom) {
        rc = nn_error_set(err, NN_ENOMEM, WHO ": out of memory; records for '%s' were lost",
                          j->path);
    } else {
        FILE *f = fopen(j->path, "a");
        if (!f || fwrite(j->text.p, 1, j->text.len, f) != j->text.len || fflush(f) != 0)
            rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", j->path,
                              strerror(errno));
        if (f && fclose(f) != 0 && rc == NN_OK)
            rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", j->path,
                              strerror(errno));
    }
    j->text.len = 0; /* written or lost: memory stays bounded either way */
    j->text.oom = 0;
    return rc;
}

static int epoch_record(void *ctx, const lg_epoch *r, nn_error *err)
{
    jsonl *j = ctx;
    lg_buf *b = &j->text;
    put_head(b, "epoch", r->epoch);
    lg_buf_str(b, ",\"step\":null");
    put_int(b, "global_step", r->global_step);
    put_num(b, "elapsed_s", r->elapsed_s);
    put_num(b, "lr", r->lr);
    lg_buf_str(b, ",\"grad_norm\":null");
    put_num(b, "samples_per_s", r->samples_per_s);
    for (int i = 0; i < r->m.n; i++)
        put_num(b, r->m.names[i], r->m.values[i]);
    put_confusion(b, r->n_classes, r->confusion, (const char *const *)r->class_names);
    lg_buf_str(b, "}\n");
    return write_out(j, err);
}

static int jsonl_event(void *self, const nn_event *ev, nn_error *err)
{
    jsonl *j = self;
    if (!j->opened)
        return NN_OK;
    int rc = lg_epoch_feed(&j->rec, ev, epoch_record, j, WHO, err);
    lg_buf *b = &j->text;
    int write_now = 0;
    switch (ev->kind) {
    case NN_EV_TRAIN_BEGIN:
        put_head(b, "train_begin", ev->epoch);
        put_int(b, "epochs", ev->epochs);
        put_int(b, "steps_per_epoch", ev->steps_per_epoch);
        put_int(b, "global_step", ev->global_step);
        lg_buf_str(b, "}\n");
        break;
    case NN_EV_BATCH_END:
        if ((ev->step + 1) % j->every != 0)
            break;
        put_head(b, "step", ev->epoch);
        put_int(b, "step", ev->step);
        put_int(b, "global_step", ev->global_step);
        put_num(b, "elapsed_s", ev->elapsed_s);
        put_num(b, "lr", ev->lr);
        put_num(b, "grad_norm", ev->grad_norm);
        put_num(b, "samples_per_s", ev->samples_per_s);
        for (int i = 0; i < ev->n_metrics; i++)
            if (ev->metrics[i].name)
                put_num(b, ev->metrics[i].name, ev->metrics[i].value);
        lg_buf_str(b, "}\n");
        write_now = b->len >= MAX_BUFFERED_BYTES;
        break;
    case NN_EV_EVAL_END:
        put_head(b, "eval", ev->epoch);
        put_int(b, "global_step", ev->global_step);
        put_num(b, "elapsed_s", ev->elapsed_s);
        for (int i = 0; i < ev->n_metrics; i++)
            if (ev->metrics[i].name)
                put_num(b, ev->metrics[i].name, ev->metrics[i].value);
        if (ev->message) { /* the split: test, or val */
            lg_buf_str(b, ",\"split\":");
            lg_json_str(b, ev->message);
        }
        if (ev->path) { /* `nntrain eval`: the checkpoint evaluated */
            lg_buf_str(b, ",\"checkpoint\":");
            lg_json_str(b, ev->path);
        }
        put_confusion(b, ev->n_classes, ev->confusion, ev->class_names);
        lg_buf_str(b, "}\n");
        write_now = 1;
        break;
    case NN_EV_CHECKPOINT:
    case NN_EV_NONFINITE:
    case NN_EV_HINT:
    case NN_EV_TRAIN_END: {
        static const char *const kinds[] = {[NN_EV_CHECKPOINT] = "checkpoint",
                                            [NN_EV_NONFINITE] = "nonfinite",
                                            [NN_EV_HINT] = "hint",
                                            [NN_EV_TRAIN_END] = "train_end"};
        put_head(b, kinds[ev->kind], ev->epoch);
        put_int(b, "global_step", ev->global_step);
        put_num(b, "elapsed_s", ev->elapsed_s);
        if (ev->kind == NN_EV_CHECKPOINT) {
            lg_buf_str(b, ",\"path\":");
            lg_json_str(b, ev->path);
        } else {
            lg_buf_str(b, ",\"message\":");
            lg_json_str(b, ev->message);
        }
        lg_buf_str(b, "}\n");
        write_now = ev->kind != NN_EV_HINT;
        break;
    }
    default:
        break;
    }
    if (write_now) {
        int r2 = write_out(j, err);
        if (rc == NN_OK)
            rc = r2;
    }
    return rc;
}

static int jsonl_flush(void *self, nn_error *err)
{
    return write_out(self, err);
}

static int jsonl_close(void *self, nn_error *err)
{
    jsonl *j = self;
    if (!j->opened)
        return NN_OK;
    int rc = lg_epoch_finish(&j->rec, epoch_record, j, err);
    int r2 = write_out(j, err);
    j->opened = 0;
    return rc != NN_OK ? rc : r2;
}

static const nn_param_spec jsonl_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .def = "metrics.jsonl",
     .doc = "output file, relative to the run directory (its directories are created if "
            "missing). Every record has kind "
            "(train_begin|step|epoch|eval|checkpoint|hint|nonfinite|train_end), epoch "
            "(0-based on step and epoch records: the epoch they belong to; on the others the "
            "epochs completed, so the eval after 2 epochs says 2 where the last epoch record "
            "says 1) and global_step; step and epoch records always carry step, elapsed_s, "
            "lr, grad_norm, samples_per_s (null when not measured or not finite), then one "
            "key per metric (a step record's loss and accuracy are that optimizer step's own, "
            "over its whole batch; an epoch record's the epoch's); epoch/eval records add class_names and confusion (rows = true "
            "class) when validation computed one. pandas.read_json(path, lines=True) reads it"},
    {.name = "every", .type = NN_PARAM_INT, .def = "1", .range = "[1, inf)",
     .doc = "write a step record every N steps of an epoch (epoch records are always written)"},
    {.name = NULL},
};

static const nn_logger_vtable jsonl_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = jsonl_create,
    .destroy = jsonl_destroy,
    .open = jsonl_open,
    .event = jsonl_event,
    .flush = jsonl_flush, /* optional */
    .close = jsonl_close, /* optional */
};

static const nn_plugin_desc jsonl_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "jsonl", .version = "1.0.0", .license = "MIT",
    .summary = "metrics.jsonl: a JSON object per line for each step, epoch and notable event",
    .params = jsonl_params, .vtable = &jsonl_vtable);

NN_PLUGIN_EXPORT(&jsonl_desc);
