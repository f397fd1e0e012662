/* dist_grads.c: the gradients of a data-parallel step, and the sums over processes the run
 * needs besides them. Gradients are summed in buckets of whole layers in reverse layer order,
 * each started (non-blocking) as soon as backward has finished its last layer, so that the
 * transfers overlap the rest of backward. Every process starts the same buckets in the same
 * order (collectives require it); nothing here allocates per step. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "dist_internal.h"

static int start_bucket(nn_dist *d, nn_bucket *b, nn_error *err)
{
    const nn_device *dev = nn_dev_public(nn_model_device(d->model));
    nn_error cerr = {0};
    b->t_start = nn_dist_now();
    int rc = d->vt->allreduce(d->inst.self, b->data, b->count, NN_F32, NN_REDUCE_SUM, dev,
                              &b->req, &cerr);
    if (rc)
        return nn_error_set(err, rc, "summing gradients: %s", cerr.msg);
    if (d->started == 0)
        d->flight_t0 = b->t_start;
    d->started++;
    return NN_OK;
}

int nn_dist_grads_poll(nn_dist *d, nn_error *err)
{
    for (int i = 0; i < d->n_buckets; i++) {
        nn_bucket *b = &d->buckets[i];
        if (!b->req)
            continue;
        int done = 0;
        nn_error terr = {0};
        int rc = d->vt->test(d->inst.self, b->req, &done, &terr);
        if (rc)
            return nn_error_set(err, rc, "summing gradients: %s", terr.msg);
        if (done) {
            b->req = NULL;
            d->flight_t1 = nn_dist_now();
        }
    }
    return NN_OK;
}

/* the model's backward hook: layer's gradients are final */
static int on_layer_done(void *ctx, int layer, nn_error *err)
{
    nn_dist *d = ctx;
    int k = layer >= 0 && layer < d->n_layers ? d->bucket_of[layer] : -1;
    if (k >= 0 && --d->buckets[k].pending == 0) {
        int rc = start_bucket(d, &d->buckets[k], err);
        if (rc)
            return rc;
    }
    return d->started ? nn_dist_grads_poll(d, err) : NN_OK;
}

static int grads_wait(nn_dist *d, nn_error *err)
{
    double t0 = nn_dist_now();
    if (d->started != d->n_buckets)
        return nn_error_set(err, NN_EINTERNAL, "summing gradients: backward started %d of %d "
                            "buckets", d->started, d->n_buckets);
    nn_dist_waiter w = {.t0 = t0};
    for (;;) {
        int rc = nn_dist_grads_poll(d, err), left = 0;
        if (rc)
            return rc;
        for (int i = 0; i < d->n_buckets; i++)
            left += d->buckets[i].req != NULL;
        if (!left)
            break;
        if ((rc = nn_dist_pause(d, &w, "summing gradients", err)))
            return rc;
    }
    for (int i = 0; i < d->n_buckets; i++)
        d->buckets[i].pending = d->buckets[i].layers;
    d->started = 0;
    double t1 = nn_dist_now();
    d->wait_s += t1 - t0;
    d->flight_s += d->flight_t1 > d->flight_t0 ? d->flight_t1 - d->flight_t0 : 0;
    d->wait_steps++;
    return NN_OK;
}

int nn_dist_step_end(nn_dist *d, double *stats, int n, nn_error *err)
{
    /* started in the same order on every process: the step's figures, the state buffers,
     * then the wait for the buckets backward started */
    nn_comm_request *sq = NULL, *tq[NN_DIST_MAX_STATE_RANGES];
    nn_error cerr = {0};
    int rc = d->vt->allreduce(d->inst.self, stats, n, NN_F64, NN_REDUCE_SUM, &d->host, &sq,
                              &cerr);
    if (rc)
        return nn_error_set(err, rc, "summing the step's figures: %s", cerr.msg);
    nn_dev *dev = nn_model_device(d->model);
    for (int i = 0; i < d->n_states; i++) {
        nn_tensor *t = &d->states[i];
        if ((rc = d->vt->allreduce(d->inst.self, t->dl.data, t->shape[0], NN_F32,
                                   NN_REDUCE_SUM, nn_dev_public(dev), &tq[i], &cerr)))
            return nn_error_set(err, rc, "averaging state buffers: %s", cerr.msg);
    }
    if ((rc = grads_wait(d, err)) || (rc = nn_dist_wait(d, sq, "summing the step's figures", err)))
        return rc;
    for (int i = 0; i < d->n_states; i++)
        if ((rc = nn_dist_wait(d, tq[i], "averaging state buffers", err)) ||
            (rc = nn_dev_scale(dev, &d->states[i], (float)(1.0 / d->size), err)))
            return rc;
    return NN_OK;
}

void nn_dist_wait_stats(const nn_dist *d, double *wait_s, double *flight_s, int64_t *steps)
{
    *wait_s = d->wait_s;
    *flight_s = d->flight_s;
    *steps = d->wait_steps;
}

static int layer_allreduce_sum(const nn_dist_info *info, void *buf, int64_t count,
                               nn_dtype dtype, nn_error *err)
{
    nn_dist *d = info->core;
    if (dtype != NN_F32 && dtype != NN_F64)
        return nn_error_set(err, NN_EINVAL, "allreduce_sum: dtype %d (F32 or F64 expected)",
                            (int)dtype);
    nn_comm_request *q = NULL;
    nn_error cerr = {0};
    const nn_device *dev = d->model ? nn_dev_public(nn_model_device(d->model)) : &d->host;
    int rc = d->vt->allreduce(d->inst.self, buf, count, dtype, NN_REDUCE_SUM, dev, &q, &cerr);
    if (rc)
        return nn_error_set(err, rc, "layer statistics: %s", cerr.msg);
    return nn_dist_wait(d, q, "layer statistics", err);
}

void nn_dist_grads_free(nn_dist *d)
{
    if (d->model) {
        nn_model_set_backward_hook(d->model, NULL, NULL);
        nn_model_set_dist(d->model, NULL);
    }
    free(d->buckets);
    free(d->bucket_of);
    free(d->states);
    d->states = NULL;
    d->n_states = 0;
    d->buckets = NULL;
    d->bucket_of = NULL;
    d->n_buckets = 0;
    d->model = NULL;
}

int nn_dist_attach(nn_dist *d, nn_model *m, int64_t bucket_bytes, nn_error *err)
{
    nn_dist_grads_free(d);
    int nl = nn_model_layer_count(m), np = nn_model_param_count(m);
    d->bucket_of = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *d->bucket_of);
    d->buckets = calloc((size_t)(np > 0 ? np : 1), sizeof *d->buckets);
    if (!d->bucket_of || !d->buckets)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n_layers = nl;
    for (int i = 0; i < nl; i++)
        d->bucket_of[i] = -1;
    /* parameters are laid out in layer order, each layer's together: walking them backwards
     * meets layers in the order backward finishes them, and a bucket is one address range */
    int64_t bytes = 0;
    int prev_layer = -1;
    nn_bucket *b = NULL;
    char *lo = NULL, *hi = NULL;
    for (int i = np - 1; i >= 0; i--) {
        nn_tensor *g;
        nn_model_param(m, i, &g, NULL, NULL, NULL);
        int layer = nn_model_param_layer(m, i);
        size_t nb = nn_tensor_nbytes(g);
        if (layer != prev_layer) {
            int64_t layer_bytes = 0;
            for (int k = i; k >= 0 && nn_model_param_layer(m, k) == layer; k--) {
                nn_tensor *gk;
                nn_model_param(m, k, &gk, NULL, NULL, NULL);
                layer_bytes += (int64_t)nn_tensor_nbytes(gk);
            }
            if (!b || (bytes > 0 && bytes + layer_bytes > bucket_bytes)) {
                if (b)
                    b->count = (int64_t)(hi - lo) / 4;
                b = &d->buckets[d->n_buckets++];
                bytes = 0;
                lo = hi = NULL;
            }
            b->layers++;
            d->bucket_of[layer] = (int)(b - d->buckets);
            prev_layer = layer;
            bytes += layer_bytes;
        }
        char *p = (char *)g->dl.data + g->dl.byte_offset;
        if (!lo || p < lo)
            lo = p;
        if (!hi || p + nb > hi)
            hi = p + nb;
        b->data = (float *)lo;
    }
    if (b)
        b->count = (int64_t)(hi - lo) / 4;
    for (int i = 0; i < d->n_buckets; i++)
        d->buckets[i].pending = d->buckets[i].layers;
    /* F32 state buffers (running statistics) become one range per run of neighbours in the
     * model's state memory */
    int ns = nn_model_state_count(m);
    if (!(d->states = calloc((size_t)ns + 1, sizeof *d->states)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    char *end = NULL;
    for (int i = 0; i < ns; i++) {
        nn_tensor *t = nn_model_state(m, i);
        char *p = (char *)t->dl.data + t->dl.byte_offset;
        if (nn_tensor_dtype(t) != NN_F32) {
            end = NULL;
            continue;
        }
        nn_tensor *r = d->n_states ? &d->states[d->n_states - 1] : NULL;
        if (r && end && p >= end && p - end < NN_TENSOR_ALIGN) {
            r->shape[0] = (int64_t)(p + nn_tensor_nbytes(t) - (char *)r->dl.data) / 4;
        } else {
            if (d->n_states == NN_DIST_MAX_STATE_RANGES)
                return nn_error_set(err, NN_ENOTSUP, "more than %d separate runs of state "
                                    "buffers", NN_DIST_MAX_STATE_RANGES);
            r = &d->states[d->n_states++];
            int64_t cnt = (int64_t)nn_tensor_numel(t);
            r->dl.device = t->dl.device;
            nn_tensor_describe(r, NN_F32, 1, &cnt);
            r->dl.data = p;
        }
        end = p + nn_tensor_nbytes(t);
    }
    d->model = m;
    nn_model_set_dist(m, nn_dist_layer_info(d));
    nn_model_set_backward_hook(m, on_layer_done, d);
    return NN_OK;
}

const nn_dist_info *nn_dist_layer_info(nn_dist *d)
{
    d->info = (nn_dist_info){.struct_size = sizeof d->info, .rank = d->rank, .size = d->size,
                             .rows = d->info.rows, .global_rows = d->info.global_rows,
                             .row_offset = d->info.row_offset,
                             .allreduce_sum = layer_allreduce_sum, .core = d};
    return &d->info;
}

void nn_dist_set_rows(nn_dist *d, int64_t rows, int64_t global_rows, int64_t row_offset)
{
    d->info.rows = rows;
    d->info.global_rows = global_rows;
    d->info.row_offset = row_offset;
}

int nn_dist_metrics_sum(nn_dist *d, nn_metrics *m, nn_error *err)
{
    int64_t cells = m->confusion ? (int64_t)m->n_classes * m->n_classes : 0;
    double *v = malloc((size_t)(4 + cells) * sizeof *v);
    if (!v)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    /* counts travel as doubles: exact below 2^53 */
    v[0] = m->loss_sum;
    v[1] = (double)m->samples;
    v[2] = (double)m->correct;
    v[3] = (double)m->topk_correct;
    for (int64_t i = 0; i < cells; i++)
        v[4 + i] = (double)m->confusion[i];
    int rc = nn_dist_allreduce(d, v, 4 + cells, NN_F64, NN_REDUCE_SUM, "summing metrics", err);
    if (rc == NN_OK) {
        m->loss_sum = v[0];
        m->samples = (int64_t)v[1];
        m->correct = (int64_t)v[2];
        m->topk_correct = (int64_t)v[3];
        for (int64_t i = 0; i < cells; i++)
            m->confusion[i] = (int64_t)v[4 + i];
    }
    free(v);
    return rc;
}
