/* session_step.c: a batch's way through a session: the loss bound to the plan of the batch's
 * size, the batch staged on a device, forward, the loss, backward and the batch's figures.
 * The set-up of what it runs is session.c's; the replicas' split of a batch is
 * session_replicas.c's. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crash.h"
#include "device.h"
#include "dist.h"
#include "layer_decls.h"
#include "loss_reduction.h"
#include "replicas.h"
#include "session.h"

int nn_session_bind(nn_session *s, int64_t rows, int training, nn_loss_bind **out, nn_error *err)
{
    return nn_session_bind_replica(s, rows, training, 0, out, err);
}

int nn_session_bind_replica(nn_session *s, int64_t rows, int training, int replica,
                            nn_loss_bind **out, nn_error *err)
{
    const nn_dataset_info *info = nn_data_info(s->data);
    nn_plan *plan;
    int rc = nn_model_plan_replica(s->model, info->sample.dl.ndim, info->sample.shape,
                                   (nn_dtype)nn_tensor_dtype(&info->sample), rows, training,
                                   s->seed, replica, &plan, err);
    if (rc)
        return rc;
    for (int i = 0; i < s->n_binds; i++)
        if (s->binds[i].plan == plan) {
            *out = &s->binds[i];
            return NN_OK;
        }
    if (s->n_binds == NN_SESSION_MAX_PLANS)
        return nn_error_set(err, NN_EINTERNAL, "too many batch sizes in one session");
    nn_loss_bind *lb = &s->binds[s->n_binds];
    memset(lb, 0, sizeof *lb);
    lb->plan = plan;
    rc = nn_instance_create(&lb->inst, s->loss_entry->desc, s->loss_kvs, s->n_loss_kvs,
                            s->loss_origin, err);
    if (rc)
        return rc;
    s->n_binds++; /* owned from here, released by nn_session_close */
    int64_t tshape[NN_MAX_DIMS];
    tshape[0] = rows;
    /* training batches hold what the batch transforms made of the targets (mixup: F32 [C]) */
    const nn_tensor *tgt = nn_data_target(s->data, training);
    for (int d = 0; d < tgt->dl.ndim; d++)
        tshape[d + 1] = tgt->shape[d];
    const nn_device *dev = nn_dev_public(s->dev);
    lb->target.dl.device = dev->dl;
    nn_tensor_describe(&lb->target, (nn_dtype)nn_tensor_dtype(tgt), tgt->dl.ndim + 1, tshape);
    lb->target.name = "target";
    /* on the host the target views the batch; elsewhere it has device memory of its own */
    if (!nn_dev_is_host(s->dev) &&
        !(lb->target.dl.data = nn_dev_alloc(s->dev, nn_tensor_nbytes(&lb->target), err)))
        return err->status;
    const nn_tensor *pred = nn_plan_output(plan);
    nn_tensor_describe(&lb->host_out, NN_F32, pred->dl.ndim, pred->shape);
    lb->host_out.name = pred->name;
    if (!nn_dev_is_host(s->dev) &&
        !(lb->host_out.dl.data = nn_dev_alloc(nn_dev_host(), nn_tensor_nbytes(pred), err)))
        return err->status;
    lb->setup.struct_size = sizeof lb->setup;
    lb->setup.pred = nn_plan_output(plan);
    lb->setup.target = &lb->target;
    lb->setup.device = dev;
    int out_layer = nn_model_output_layer(s->model);
    lb->setup.pred_layer = nn_model_layer_name(s->model, out_layer);
    lb->setup.pred_layer_type = nn_model_layer_type(s->model, out_layer);
    const nn_loss_vtable *vt = lb->inst.vt;
    nn_error lerr = {0};
    char a[96], b[96], given[220];
    rc = NN_PLUGIN_CALL(&lb->inst, "setup", vt->setup(lb->inst.self, &lb->setup, &lerr));
    if (rc && err) {
        *err = lerr;
        snprintf(given, sizeof given, " given the model output %s and targets %s",
                 nn_shape_str(nn_plan_output(plan), a, sizeof a),
                 nn_shape_str(&lb->target, b, sizeof b));
        return nn_instance_blame(s->loss_entry->desc, s->loss_kvs, s->n_loss_kvs,
                                 s->loss_origin, given, rc, err);
    }
    if (rc)
        return rc;
    if ((rc = nn_loss_decls_check(&lb->setup, &lb->inst, err)))
        return rc;
    if (!nn_loss_reduction_name(lb->setup.reduction))
        return nn_error_set(err, NN_EINTERNAL, "%s: loss '%s' declared reduction %lld in setup; "
                            NN_LOSS_REDUCTION_RULE " (a bug in the plugin)",
                            s->loss_origin, s->loss_entry->desc->name,
                            (long long)lb->setup.reduction);
    s->loss_sums = lb->setup.reduction == NN_LOSS_SUM;
    /* class ids index the output's second dimension: fewer values than the data's classes
     * would fail at the first sample of a high class, naming neither the data nor the layer */
    const nn_tensor *po = nn_plan_output(plan);
    if (nn_tensor_dtype(&lb->target) == NN_I32 && info->n_classes > 0 && po->dl.ndim >= 2 &&
        po->shape[1] < info->n_classes)
        return nn_error_set(err, NN_ESHAPE, "%s: the data has %d classes, but the model's "
                            "output '%s' %s gives %lld values per sample for loss '%s': give "
                            "the last layer %d outputs (units or filters)", s->loss_origin,
                            info->n_classes, po->name ? po->name : "output",
                            nn_shape_str(po, a, sizeof a), (long long)po->shape[1],
                            s->loss_entry->desc->name, info->n_classes);
    for (int k = 0; k < lb->setup.n_buffers; k++) {
        const nn_buffer_decl *d = &lb->setup.buffers[k];
        lb->bufs[k].dl.device = dev->dl;
        nn_tensor_describe(&lb->bufs[k], d->dtype, d->ndim, d->shape);
        lb->bufs[k].dl.data = nn_dev_alloc(s->dev, nn_tensor_nbytes(&lb->bufs[k]), err);
        if (!lb->bufs[k].dl.data)
            return err->status;
        lb->io.buffers[k] = &lb->bufs[k];
    }
    lb->io.struct_size = sizeof lb->io;
    lb->io.pred = nn_plan_output(plan);
    lb->io.target = &lb->target;
    lb->io.grad_pred = training ? nn_plan_grad_output(plan) : NULL;
    lb->io.device = dev;
    if (!nn_dev_is_host(s->dev)) {
        /* the loss is written next to the step's other results, read back in one copy */
        int64_t one = 1;
        lb->loss_out.dl.device = dev->dl;
        nn_tensor_describe(&lb->loss_out, NN_F32, 1, &one);
        lb->loss_out.dl.data = (char *)s->status + NN_STATUS_LOSS * sizeof(double);
        lb->loss_out.name = "loss";
        lb->io.loss_out = &lb->loss_out;
    }
    *out = lb;
    return NN_OK;
}

/* The slot holding b: the same loader buffer for the same (epoch, batch). A batch staged but
 * never stepped (a stop) leaves a slot that nothing matches again and that staging reuses. */
static nn_stage *stage_of(nn_session *s, const nn_batch *b)
{
    for (int i = 0; i < 2; i++)
        if (s->stage[i].b == b && s->stage[i].epoch == b->epoch && s->stage[i].index == b->index)
            return &s->stage[i];
    return NULL;
}

int nn_session_stage(nn_session *s, const nn_batch *b, nn_error *err)
{
    if (nn_dev_is_host(s->dev) || stage_of(s, b))
        return NN_OK;
    /* two batches are in flight at most (the one computing, the next): alternate */
    nn_stage *st = &s->stage[s->next_stage];
    s->next_stage ^= 1;
    st->b = NULL;
    size_t xb = nn_tensor_nbytes(b->x), yb = nn_tensor_nbytes(b->y);
    if (!st->x) {
        st->x_bytes = xb;
        st->y_bytes = yb;
        if (!(st->x = nn_dev_alloc(s->dev, xb, err)) || !(st->y = nn_dev_alloc(s->dev, yb, err)) ||
            !(st->event = nn_dev_event_new(s->dev, err)))
            return err->status;
    }
    if (xb > st->x_bytes || yb > st->y_bytes)
        return nn_error_set(err, NN_EINTERNAL, "a batch larger than the staging buffers");
    /* only the valid rows travel */
    size_t xrow = xb / (size_t)b->x->shape[0], yrow = yb / (size_t)b->y->shape[0];
    int rc = nn_dev_copy_async(s->dev, st->x, b->x->dl.data, xrow * (size_t)b->n,
                               NN_COPY_HOST_TO_DEVICE, NULL, err);
    if (rc == NN_OK)
        rc = nn_dev_copy_async(s->dev, st->y, b->y->dl.data, yrow * (size_t)b->n,
                               NN_COPY_HOST_TO_DEVICE, st->event, err);
    if (rc == NN_OK) {
        st->b = b;
        st->epoch = b->epoch;
        st->index = b->index;
    }
    return rc;
}

void *nn_session_host_alloc(void *session, size_t bytes)
{
    nn_session *s = session;
    return nn_dev_host_alloc(s->dev, bytes, NULL);
}

void nn_session_host_free(void *session, void *p)
{
    nn_session *s = session;
    nn_dev_host_free(s->dev, p);
}

/* the batch into the plan's input (and, on a device, its targets into the binding's): from
 * its staged copy on the device when there is one */
static int load_batch(nn_session *s, nn_loss_bind *lb, const nn_batch *b, nn_error *err)
{
    nn_tensor *in = nn_plan_input(lb->plan);
    if (nn_dev_is_host(s->dev)) {
        memcpy(in->dl.data, b->x->dl.data, nn_tensor_nbytes(in));
        lb->target.dl.data = b->y->dl.data;
        return NN_OK;
    }
    nn_stage *st = stage_of(s, b);
    nn_copy_kind k = st ? NN_COPY_DEVICE_TO_DEVICE : NN_COPY_HOST_TO_DEVICE;
    int rc = nn_dev_copy_async(s->dev, in->dl.data, st ? st->x : b->x->dl.data,
                               nn_tensor_nbytes(in), k, NULL, err);
    if (rc == NN_OK)
        rc = nn_dev_copy_async(s->dev, lb->target.dl.data, st ? st->y : b->y->dl.data,
                               nn_tensor_nbytes(&lb->target), k, NULL, err);
    return rc;
}

/* the step of b is over: its staging slot is free once the copies have read the batch */
static int unstage(nn_session *s, const nn_batch *b, nn_error *err)
{
    nn_stage *st = stage_of(s, b);
    if (!st)
        return NN_OK;
    st->b = NULL;
    return nn_dev_event_wait(s->dev, st->event, err);
}

/* classification counts are made on the device when the output is [N, C] scores */
static int counts_on_device(const nn_session *s, const nn_loss_bind *lb)
{
    const nn_tensor *out = nn_plan_output(lb->plan);
    return !nn_dev_is_host(s->dev) && s->n_classes > 0 && out->dl.ndim == 2 &&
           nn_tensor_dtype(out) == NN_F32;
}

int nn_session_forward_loss(nn_session *s, nn_loss_bind *lb, int training, double share,
                            nn_error *err)
{
    int rc = nn_plan_forward(lb->plan, training, err);
    if (rc)
        return rc;
    const nn_loss_vtable *vt = lb->inst.vt;
    nn_error lerr = {0};
    if ((rc = NN_PLUGIN_CALL(&lb->inst, "forward", vt->forward(lb->inst.self, &lb->io, &lerr))))
        return nn_error_set(err, rc, "loss '%s': %s", s->loss_entry->desc->name, lerr.msg);
    if (training && share != 1.0)
        rc = nn_dev_scale(s->dev, lb->io.grad_pred, (float)share, err);
    return rc;
}

int nn_session_step_begin(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                          nn_loss_bind **lbp, nn_error *err)
{
    if (s->gang && b->n >= 2)
        return nn_session_replicas_step(s, b, training, step_seed, lbp, err);
    nn_loss_bind *lb;
    int rc = nn_session_bind(s, b->n > 0 ? b->n : 1, training, &lb, err);
    if (rc)
        return rc;
    *lbp = lb;
    lb->training = training;
    nn_session_replicas_solo(s, lb, b->n);
    if (s->dist)
        nn_dist_set_rows(s->dist, b->n, b->global_n, b->row0);
    if ((rc = load_batch(s, lb, b, err)))
        return rc;
    nn_plan_set_step_seed(lb->plan, step_seed);
    double share = b->global_n > b->n ? nn_session_share(s, b->n, b->global_n) : 1.0;
    if ((rc = nn_session_forward_loss(s, lb, training, share, err)))
        return rc;
    if (nn_dev_is_host(s->dev)) {
        if (training && isfinite(lb->io.loss) && (rc = nn_plan_backward(lb->plan, err)))
            return rc;
        return NN_OK;
    }
    /* on a device: the counts, backward and the gradient norm are issued before the one
     * synchronisation of the step, which reads them all back with the loss */
    int top_k = s->tc.top_k < s->n_classes ? (int)s->tc.top_k : 0;
    double *st = s->status;
    if (counts_on_device(s, lb) &&
        (rc = nn_dev_count_correct(s->dev, nn_plan_output(lb->plan), &lb->target, b->n, top_k,
                                   st + NN_STATUS_CORRECT, err)))
        return rc;
    if (training && (rc = nn_plan_backward(lb->plan, err)))
        return rc;
    /* accumulating runs measure the norm of the summed gradients, at the update */
    if (training && s->optim && s->tc.accumulate == 1)
        rc = nn_optim_norm_enqueue(s->optim, st + NN_STATUS_NORM, err);
    return rc;
}

int nn_session_step_finish(nn_session *s, nn_loss_bind *lb, const nn_batch *b, double *loss,
                           nn_error *err)
{
    if (nn_dev_is_host(s->dev)) {
        *loss = b->n > 0 ? lb->io.loss : 0;
        return NN_OK;
    }
    double host[NN_STATUS_SLOTS];
    int rc = nn_dev_copy(s->dev, host, s->status, sizeof host, NN_COPY_DEVICE_TO_HOST, err);
    if (rc == NN_OK)
        rc = unstage(s, b, err);
    if (rc)
        return rc;
    float l;
    memcpy(&l, &host[NN_STATUS_LOSS], sizeof l);
    *loss = b->n > 0 ? l : 0;
    lb->correct = host[NN_STATUS_CORRECT];
    lb->topk = host[NN_STATUS_TOPK];
    if (lb->training && s->optim && s->tc.accumulate == 1)
        nn_optim_norm_known(s->optim, host[NN_STATUS_NORM]);
    return NN_OK;
}

int nn_session_step(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                    nn_loss_bind **lbp, double *loss, nn_error *err)
{
    int rc = nn_session_step_begin(s, b, training, step_seed, lbp, err);
    return rc ? rc : nn_session_step_finish(s, *lbp, b, loss, err);
}

int nn_session_forward_checked(nn_session *s, nn_loss_bind *lb, nn_error *err)
{
    if (lb->gang_n < 2)
        return nn_plan_forward_checked(lb->plan, 1, err);
    int rc = NN_OK;
    for (int r = 0; r < lb->gang_n && rc == NN_OK; r++) {
        /* one replica at a time: none may wait for the others at a collective */
        nn_gang_set_rows(s->gang, r, 1, lb->gang[r]->target.shape[0],
                         lb->gang[r]->target.shape[0], lb->gang_row0[r]);
        if ((rc = nn_plan_forward_checked(lb->gang[r]->plan, 1, err)) == NN_ENONFINITE)
            nn_error_prefix(err, "rows %lld to %lld of the batch (replica %d)",
                            (long long)lb->gang_row0[r],
                            (long long)(lb->gang_row0[r] + lb->gang[r]->target.shape[0] - 1), r);
    }
    return rc;
}

int nn_session_forward(nn_session *s, const nn_batch *b, nn_loss_bind **lbp, nn_error *err)
{
    int rc = nn_session_bind(s, b->n, 0, lbp, err);
    if (rc == NN_OK)
        rc = load_batch(s, *lbp, b, err);
    if (rc)
        return rc;
    nn_session_replicas_solo(s, *lbp, b->n);
    nn_plan_set_step_seed((*lbp)->plan, 0);
    return nn_plan_forward((*lbp)->plan, 0, err);
}

const nn_tensor *nn_session_output(nn_session *s, nn_loss_bind *lb, nn_error *err)
{
    const nn_tensor *out = nn_plan_output(lb->plan);
    if (lb->gang_n > 1)
        return nn_session_replicas_output(lb, err);
    if (nn_dev_is_host(s->dev))
        return out;
    return nn_dev_download(s->dev, &lb->host_out, out, err) ? NULL : &lb->host_out;
}

int nn_session_metrics(nn_session *s, nn_loss_bind *lb, const nn_batch *b, double loss,
                       nn_metrics *m, nn_error *err)
{
    if (b->n == 0)
        return NN_OK; /* an empty slice's zero row is no sample */
    /* a process's slice of a batch whose loss is a sum: the global batch's loss is the
     * processes' losses added, each weighted by all the batch's rows, as one process weighs
     * it (the figures are summed over the processes) */
    if (s->loss_sums && b->global_n > b->n)
        loss *= (double)b->global_n / (double)b->n;
    if (nn_dev_is_host(s->dev) && lb->gang_n > 1) {
        /* each slice with its own rows, targets and loss (a mean); a sum is the batch's,
         * weighted by rows as one process weighs it */
        for (int r = 0; r < lb->gang_n; r++) {
            nn_loss_bind *q = lb->gang[r];
            nn_metrics_add(m, nn_plan_output(q->plan), &q->target, q->target.shape[0],
                           s->loss_sums ? loss : lb->gang_loss[r]);
        }
        return NN_OK;
    }
    if (nn_dev_is_host(s->dev)) {
        nn_metrics_add(m, nn_plan_output(lb->plan), &lb->target, b->n, loss);
        return NN_OK;
    }
    if (counts_on_device(s, lb) && !m->confusion) {
        nn_metrics_add_counts(m, b->n, loss, (int64_t)lb->correct, (int64_t)lb->topk);
        return NN_OK;
    }
    /* a confusion matrix needs every prediction: the output comes back */
    const nn_tensor *out = nn_session_output(s, lb, err);
    if (!out)
        return err->status;
    nn_metrics_add(m, out, b->y, b->n, loss);
    return NN_OK;
}

