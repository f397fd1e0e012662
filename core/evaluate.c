/* evaluate.c: evaluation and prediction loops over a loader, in eval mode. */
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "evaluate.h"

/* shard: each process of a data-parallel run takes its slice of every batch */
static int open_loader(nn_session *s, nn_part part, int shard, nn_loader **l, nn_error *err)
{
    nn_loader_opts lo = {
        .batch_size = s->tc.batch_size,
        .shuffle = 0,
        .drop_last = 0,
        .prefetch = (int)s->tc.prefetch,
        .workers = (int)s->tc.workers,
        .augment = 0,
        .shard_rank = shard ? nn_dist_rank(s->dist) : 0,
        .shard_count = shard ? nn_dist_size(s->dist) : 1,
    };
    int rc = nn_loader_new(s->data, part, &lo, l, err);
    if (rc == NN_OK)
        rc = nn_loader_start_epoch(*l, 0, 0, err);
    return rc;
}

int nn_evaluate(nn_session *s, nn_part part, nn_metrics *m, nn_error *err)
{
    nn_loader *l = NULL;
    int rc = open_loader(s, part, 1, &l, err);
    nn_batch *b;
    /* as many batches as a training step takes ([train] accumulate): a loss that sums its
     * rows reports on the scale of the steps' */
    nn_metrics_group g;
    nn_metrics_group_begin(&g, m, s->loss_sums);
    while (rc == NN_OK && (rc = nn_loader_next(l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        int64_t before = m->samples;
        rc = nn_session_step(s, b, 0, 0, &lb, &loss, err);
        if (rc == NN_OK)
            rc = nn_session_metrics(s, lb, b, loss, m, err);
        nn_loader_release(l, b);
        if (rc == NN_OK) {
            nn_metrics_group_add(&g, loss, m->samples - before);
            if (g.batches == s->tc.accumulate)
                nn_metrics_group_end(&g, m, NULL, NULL);
        }
    }
    nn_loader_free(l);
    if (rc < 0)
        return rc;
    nn_metrics_group_end(&g, m, NULL, NULL);
    /* a data-parallel run's processes each evaluated their slices */
    return s->dist ? nn_dist_metrics_sum(s->dist, m, err) : NN_OK;
}

int nn_predict(nn_session *s, nn_part part, int64_t limit, nn_predict_fn fn, void *ctx,
               nn_error *err)
{
    nn_loader *l = NULL;
    int rc = open_loader(s, part, 0, &l, err);
    int64_t done = 0;
    nn_batch *b;
    while (rc == NN_OK && (limit <= 0 || done < limit) &&
           (rc = nn_loader_next(l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        /* the user's inputs have no targets to give the loss: forward only */
        rc = part == NN_PART_PREDICT ? nn_session_forward(s, b, &lb, err)
                                     : nn_session_step(s, b, 0, 0, &lb, &loss, err);
        const nn_tensor *out = rc == NN_OK ? nn_session_output(s, lb, err) : NULL;
        if (!out) {
            rc = rc ? rc : err->status;
            nn_loader_release(l, b);
            break;
        }
        int64_t n_out = b->n ? (int64_t)(nn_tensor_numel(out) / out->shape[0]) : 0;
        size_t trow = b->n ? nn_tensor_nbytes(b->y) / (size_t)b->y->shape[0] : 0;
        for (int64_t r = 0; rc == NN_OK && r < b->n && (limit <= 0 || done < limit); r++, done++)
            if (fn(ctx, b->indices[r], NN_F32P(out) + r * n_out, n_out,
                   part == NN_PART_PREDICT ? NULL
                                           : (const char *)b->y->dl.data + (size_t)r * trow))
                rc = NN_ECANCELED;
        nn_loader_release(l, b);
    }
    nn_loader_free(l);
    return rc < 0 ? rc : NN_OK;
}
