/* evaluate.c: evaluation and prediction loops over a loader, in eval mode. */
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"

static int open_loader(nn_session *s, nn_part part, nn_loader **l, nn_error *err)
{
    nn_loader_opts lo = {
        .batch_size = s->tc.batch_size,
        .shuffle = 0,
        .drop_last = 0,
        .prefetch = (int)s->tc.prefetch,
        .workers = (int)s->tc.workers,
        .augment = 0,
    };
    int rc = nn_loader_new(s->data, part, &lo, l, err);
    if (rc == NN_OK)
        rc = nn_loader_start_epoch(*l, 0, 0, err);
    return rc;
}

int nn_evaluate(nn_session *s, nn_part part, nn_metrics *m, nn_error *err)
{
    nn_loader *l = NULL;
    int rc = open_loader(s, part, &l, err);
    nn_batch *b;
    while (rc == NN_OK && (rc = nn_loader_next(l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        rc = nn_session_step(s, b, 0, 0, &lb, &loss, err);
        if (rc == NN_OK)
            nn_metrics_add(m, nn_plan_output(lb->plan), &lb->target, b->n, loss);
        nn_loader_release(l, b);
    }
    nn_loader_free(l);
    return rc < 0 ? rc : NN_OK;
}

/* the model's forward pass on a batch, without the loss */
static int forward_only(nn_session *s, const nn_batch *b, nn_loss_bind **lbp, nn_error *err)
{
    int rc = nn_session_bind(s, b->n, 0, lbp, err);
    if (rc)
        return rc;
    nn_tensor *in = nn_plan_input((*lbp)->plan);
    memcpy(in->dl.data, b->x->dl.data, nn_tensor_nbytes(in));
    nn_plan_set_step_seed((*lbp)->plan, 0);
    return nn_plan_forward((*lbp)->plan, 0, err);
}

int nn_predict(nn_session *s, nn_part part, int64_t limit, nn_predict_fn fn, void *ctx,
               nn_error *err)
{
    nn_loader *l = NULL;
    int rc = open_loader(s, part, &l, err);
    int64_t done = 0;
    nn_batch *b;
    while (rc == NN_OK && (limit <= 0 || done < limit) &&
           (rc = nn_loader_next(l, &b, err)) == 1) {
        nn_loss_bind *lb;
        double loss;
        /* the user's inputs have no targets to give the loss: forward only */
        rc = part == NN_PART_PREDICT ? forward_only(s, b, &lb, err)
                                     : nn_session_step(s, b, 0, 0, &lb, &loss, err);
        if (rc) {
            nn_loader_release(l, b);
            break;
        }
        const nn_tensor *out = nn_plan_output(lb->plan);
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
