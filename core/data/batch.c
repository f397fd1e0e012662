/* batch.c: batch transforms (ABI 0.5 apply_batch: mixup, cutmix): what they declare at setup
 * (the training target they make), the per-slot workspaces of the loader, and running them on
 * a decoded training batch with the batch's own stream (seed, epoch, batch index, 2). They
 * never run on validation, test, eval or predict batches; applying never allocates. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "data_private.h"

struct nn_batch_ws {
    int64_t rows;
    size_t raw_row;   /* bytes of one decoded target */
    void *raw;        /* rows decoded targets */
    void *tmp[2];     /* targets between two batch transforms (only when there are several) */
    void *scratch;    /* the largest batch_scratch asked for */
};

int nn_tf_is_batch(const data_tf *t)
{
    return t->vt->struct_size > offsetof(nn_transform_vtable, apply_batch) &&
           t->vt->apply_batch != NULL;
}

/* label_smoothing is the one name for it in batch transforms (mixup, cutmix) and losses
 * (cross_entropy), so the core can see the pair without knowing either plugin. A value that
 * reached here has passed its schema; strtod reads it again. */
int nn_batch_tf_smoothing(const nn_config_section *s, const nn_config *cfg, const char *origin,
                          nn_error *err)
{
    const nn_kv *mine = NULL, *loss = nn_config_get(cfg, "loss", "label_smoothing");
    for (int k = 0; k < s->n; k++)
        if (strcmp(s->kvs[k].key, "label_smoothing") == 0)
            mine = &s->kvs[k];
    if (!mine || !loss || !(strtod(mine->value, NULL) > 0) || !(strtod(loss->value, NULL) > 0))
        return NN_OK;
    char a[400], b[400];
    return nn_error_set(err, NN_EINVAL, "%s key 'label_smoothing' = %s and %s key "
                        "'label_smoothing' = %s would smooth the training targets twice; set it "
                        "in one of the two places",
                        nn_kv_where(a, sizeof a, mine, origin), mine->value,
                        nn_kv_where(b, sizeof b, loss, "[loss]"), loss->value);
}

int nn_batch_tf_check(nn_data *d, data_tf *t, const nn_transform_setup *st, const char *origin,
                      nn_error *err)
{
    char a[96], b[96];
    if (!st->train_only)
        return nn_error_set(err, NN_EINVAL, "%s: a batch transform runs on training batches "
                            "only, but its setup cleared train_only", origin);
    if (!nn_same_desc(&t->in, &st->out))
        return nn_error_set(err, NN_ESHAPE, "%s: a batch transform rewrites the batch in place "
                            "and cannot change the sample, but its setup maps %s to %s", origin,
                            nn_shape_str(&t->in, a, sizeof a), nn_shape_str(&st->out, b, sizeof b));
    const nn_tensor *to = st->target_out;
    if (nn_tensor_dtype(to) < 0 || to->dl.ndim < 0 || to->dl.ndim >= NN_MAX_DIMS ||
        nn_tensor_numel(to) < 1)
        return nn_error_set(err, NN_EINTERNAL, "%s: setup described no valid target_out "
                            "(a known dtype, at most %d dimensions, at least one element)",
                            origin, NN_MAX_DIMS - 1);
    t->batch = 1;
    t->tin = d->train_target;
    nn_tensor_describe(&t->tout, (nn_dtype)nn_tensor_dtype(to), to->dl.ndim, to->shape);
    t->tin.dl.shape = t->tin.shape;
    t->tin.dl.strides = t->tin.strides;
    t->batch_scratch = st->batch_scratch;
    if (st->batch_scratch > d->batch_scratch)
        d->batch_scratch = st->batch_scratch;
    size_t row = nn_tensor_nbytes(&t->tout);
    if (row > d->target_row_max)
        d->target_row_max = row;
    d->train_target = t->tout;
    d->train_target.dl.shape = d->train_target.shape;
    d->train_target.dl.strides = d->train_target.strides;
    d->nbatch++;
    return NN_OK;
}

const nn_tensor *nn_data_target(const nn_data *d, int augment)
{
    return augment && d->nbatch ? &d->train_target : &d->info.target;
}

static void *alloc64(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
}

void nn_batch_ws_free(nn_batch_ws *w)
{
    if (!w)
        return;
    free(w->raw);
    free(w->tmp[0]);
    free(w->tmp[1]);
    free(w->scratch);
    free(w);
}

int nn_batch_ws_new(const nn_data *d, int64_t rows, int augment, nn_batch_ws **out,
                    nn_error *err)
{
    *out = NULL;
    if (!augment || !d->nbatch)
        return NN_OK;
    nn_batch_ws *w = calloc(1, sizeof *w);
    if (!w)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    w->rows = rows;
    w->raw_row = nn_tensor_nbytes(&d->info.target);
    int ok = (w->raw = alloc64(w->raw_row * (size_t)rows)) != NULL;
    for (int i = 0; ok && d->nbatch > 1 && i < 2; i++)
        ok = (w->tmp[i] = alloc64(d->target_row_max * (size_t)rows)) != NULL;
    if (ok && d->batch_scratch)
        ok = (w->scratch = alloc64(d->batch_scratch)) != NULL;
    if (!ok) {
        nn_batch_ws_free(w);
        return nn_error_set(err, NN_ENOMEM, "out of memory for the batch transforms' buffers "
                            "(%lld rows)", (long long)rows);
    }
    *out = w;
    return NN_OK;
}

void *nn_batch_ws_target(nn_batch_ws *w, int64_t row)
{
    return (char *)w->raw + (size_t)row * w->raw_row;
}

/* t: a [n, row...] view of data */
static void rows_view(nn_tensor *t, const nn_tensor *row, int64_t n, void *data)
{
    int64_t shape[NN_MAX_DIMS] = {n};
    memcpy(shape + 1, row->shape, (size_t)row->dl.ndim * sizeof *shape);
    memset(t, 0, sizeof *t);
    nn_tensor_describe(t, (nn_dtype)nn_tensor_dtype(row), row->dl.ndim + 1, shape);
    t->dl.data = data;
}

int nn_data_batch_apply(const nn_data *d, nn_batch_ws *w, nn_tensor *x, nn_tensor *y, int64_t n,
                        const int64_t *indices, int64_t epoch, int64_t index, nn_error *err)
{
    if (n < 1 || n > w->rows)
        return nn_error_set(err, NN_EINTERNAL, "a batch of %lld rows for a workspace of %lld",
                            (long long)n, (long long)w->rows);
    nn_rng r;
    nn_rng_init(&r, d->o.seed, (uint64_t)epoch, (uint64_t)index, 2);
    nn_tensor xv, tin, tout;
    rows_view(&xv, &d->info.sample, n, x->dl.data);
    void *src = w->raw;
    for (int i = 0, k = 0; i < d->ntf; i++) {
        const data_tf *t = &d->tf[i];
        if (!t->batch)
            continue;
        void *dst = ++k == d->nbatch ? y->dl.data : w->tmp[src == w->tmp[0]];
        rows_view(&tin, &t->tin, n, src);
        rows_view(&tout, &t->tout, n, dst);
        xv.name = "batch";
        tin.name = "targets";
        tout.name = "targets out";
        nn_transform_batch b = {.struct_size = sizeof b, .rows = n, .x = &xv, .target = &tin,
                                .target_out = &tout, .indices = indices, .epoch = epoch,
                                .index = index, .scratch = t->batch_scratch ? w->scratch : NULL};
        int rc = t->vt->apply_batch(t->inst.self, &b, &r, err);
        if (rc) {
            nn_error_prefix(err, "[transform.%s] on batch %lld of epoch %lld", t->name,
                            (long long)index, (long long)epoch);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
        src = dst;
    }
    return NN_OK;
}
