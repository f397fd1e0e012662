/* session_replicas.c: [train] replicas = N, data parallelism inside one process. Each batch
 * is split into slices of consecutive rows; replica r trains slice r on its own plan (the
 * model's parameters, gradients and state buffers of its own, one compute thread), all at
 * once on the gang's threads (replicas.c). The slices' loss gradients are scaled by their
 * share of the batch, so their gradients sum to the batch's; the replicas add them into the
 * model's, each over its part of the gradient memory, and the optimizer then steps once, as
 * in a run of one process. The split is what N processes of mpirun make of a batch, so
 * dropout masks and (with sync = true) batchnorm statistics are the batch's. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "dist.h"
#include "replica_head.h"
#include "replicas.h"
#include "session.h"
#include "threads.h"

typedef struct split_step {
    nn_session *s;
    const nn_batch *b;
    int training, n;
    nn_loss_bind *lb[NN_MAX_REPLICAS];
    int64_t row0[NN_MAX_REPLICAS], rows[NN_MAX_REPLICAS];
    double sumsq[NN_MAX_REPLICAS]; /* each part's sum of squared gradients, NAN if not summed */
} split_step;

/* rows of slice r when `rows` rows are split into `parts` slices (the first ones one longer) */
static int64_t slice_rows(int64_t rows, int64_t parts, int64_t r)
{
    return rows / parts + (r < rows % parts);
}

int nn_session_replicas_open(nn_session *s, int training, nn_error *err)
{
    int n = (int)s->tc.replicas;
    const nn_kv *kv = nn_config_get(s->cfg, "train", "replicas");
    char origin[400];
    if (kv && kv->line)
        snprintf(origin, sizeof origin, "%s:%d: [train] replicas = %d", nn_config_path(s->cfg),
                 kv->line, n);
    else
        snprintf(origin, sizeof origin, "--set train.replicas=%d ([train] replicas = %d)", n, n);
    if (!nn_dev_is_host(s->dev))
        return nn_error_set(err, NN_ENOTSUP, "%s: replicas run on the CPU only, and the device "
                            "is '%s'; remove the key (a device computes one step at a time)",
                            origin, s->device_type);
    if (s->dist)
        return nn_error_set(err, NN_EINVAL, "%s: this process is one of %d of a data-parallel "
                            "run already; use one or the other (replicas = 1, or one process)",
                            origin, nn_dist_size(s->dist));
    /* each replica computes on one thread: the replicas are the run's threads, whatever
     * --threads or OMP_NUM_THREADS said. Every primitive is made for one thread, before any
     * plan is compiled. */
    nn_threads_apply(1);
    s->threads = n;
    int rc = nn_gang_new(n, &s->gang, err);
    const nn_dist_info *info[NN_MAX_REPLICAS];
    for (int r = 0; r < n && rc == NN_OK; r++)
        info[r] = nn_gang_info(s->gang, r);
    if (rc == NN_OK)
        rc = nn_model_set_replicas(s->model, n, info, err);
    if (rc) {
        nn_error_prefix(err, "%s", origin);
        return rc;
    }
    /* the plans of a full batch now: shape errors surface before any data is read */
    int64_t rows = nn_session_full_rows(s), parts = rows < n ? rows : n;
    nn_loss_bind *lb;
    nn_plan *plans[NN_MAX_REPLICAS];
    for (int r = 0; r < parts && rc == NN_OK; r++) {
        rc = nn_session_bind_replica(s, slice_rows(rows, parts, r), training, r, &lb, err);
        plans[r] = rc ? NULL : lb->plan;
    }
    if (rc == NN_OK && training && parts == n) {
        kv = nn_config_get(s->cfg, "train", "replica_split");
        if (kv && kv->line)
            snprintf(origin, sizeof origin, "%s:%d: [train] replica_split = %s",
                     nn_config_path(s->cfg), kv->line, kv->value);
        else if (kv)
            snprintf(origin, sizeof origin, "--set train.replica_split=%s", kv->value);
        else
            snprintf(origin, sizeof origin, "[train] replica_split = auto");
        rc = nn_head_open(s->model, s->reg, s->gang, plans, n, s->tc.bf16 ? NN_BF16 : NN_F32,
                          s->tc.replica_split, origin, &s->head, err);
    }
    return rc;
}

void nn_session_replicas_solo(nn_session *s, nn_loss_bind *lb, int64_t rows)
{
    lb->gang_n = 0;
    if (s->gang)
        nn_gang_set_rows(s->gang, 0, 1, rows, rows, 0);
}

/* replica r's slice: its rows in, forward, the loss, backward; then its part of the sum */
static int replica_step(void *ctx, int r, nn_error *err)
{
    split_step *st = ctx;
    nn_session *s = st->s;
    nn_loss_bind *lb = st->lb[r];
    const nn_batch *b = st->b;
    nn_tensor *in = nn_plan_input(lb->plan);
    size_t xrow = nn_tensor_nbytes(in) / (size_t)in->shape[0];
    size_t yrow = nn_tensor_nbytes(&lb->target) / (size_t)lb->target.shape[0];
    memcpy(in->dl.data, (const char *)b->x->dl.data + xrow * (size_t)st->row0[r],
           nn_tensor_nbytes(in));
    lb->target.dl.data = (char *)b->y->dl.data + yrow * (size_t)st->row0[r];
    int rc = nn_session_forward_loss(s, lb, st->training,
                                     nn_session_share(s, in->shape[0], b->n), err);
    if (rc || !st->training)
        return rc;
    /* with the first layer split, every replica's backward takes part in it */
    if (isfinite(lb->io.loss) || s->head)
        rc = nn_plan_backward(lb->plan, err);
    /* every replica's gradients are written: sum them (unless a loss is not finite, when the
     * trainer stops without an update) */
    if (rc == NN_OK && (rc = nn_gang_barrier(s->gang, r, err)) == NN_OK) {
        int finite = 1;
        for (int q = 0; q < st->n; q++)
            finite &= isfinite(st->lb[q]->io.loss) != 0;
        if (finite)
            st->sumsq[r] = nn_model_replica_sum_grads(s->model, st->n, r, st->n);
    }
    return rc;
}

int nn_session_replicas_step(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                             nn_loss_bind **lbp, nn_error *err)
{
    split_step st = {.s = s, .b = b, .training = training};
    int n = st.n = b->n < nn_gang_size(s->gang) ? (int)b->n : nn_gang_size(s->gang);
    int64_t row0 = 0;
    for (int r = 0; r < n; r++) {
        st.sumsq[r] = NAN;
        int64_t rows = slice_rows(b->n, n, r);
        int rc = nn_session_bind_replica(s, rows, training, r, &st.lb[r], err);
        if (rc)
            return rc;
        st.lb[r]->training = training;
        st.lb[r]->gang_n = 0;
        st.row0[r] = row0;
        st.rows[r] = rows;
        nn_gang_set_rows(s->gang, r, n, rows, b->n, row0);
        nn_plan_set_step_seed(st.lb[r]->plan, step_seed);
        if (r > 0)
            nn_model_replica_load_states(s->model, r);
        row0 += rows;
    }
    nn_plan *plans[NN_MAX_REPLICAS];
    for (int r = 0; r < n; r++)
        plans[r] = st.lb[r]->plan;
    int armed = training && s->head;
    int rc = armed ? nn_head_arm(s->head, plans, st.rows, st.row0, n, b->n, err) : NN_OK;
    if (rc == NN_OK)
        rc = nn_gang_run(s->gang, n, replica_step, &st, err);
    if (armed)
        nn_head_disarm(s->head, plans, n);
    if (rc)
        return rc;
    if (training)
        nn_model_replica_average_states(s->model, n);
    /* the gradient norm, measured in the sum: for the update that follows this step alone
     * (accumulated micro-batches are measured at their update) */
    if (training && s->optim && s->tc.accumulate == 1 && !isnan(st.sumsq[0])) {
        double sumsq = 0;
        for (int r = 0; r < n; r++)
            sumsq += st.sumsq[r];
        nn_optim_norm_sumsq(s->optim, sumsq);
    }
    nn_loss_bind *lb = st.lb[0];
    double loss = 0;
    for (int r = 0; r < n; r++) {
        lb->gang[r] = st.lb[r];
        lb->gang_row0[r] = st.row0[r];
        lb->gang_loss[r] = st.lb[r]->io.loss;
        loss += st.lb[r]->io.loss * nn_session_share(s, st.lb[r]->target.shape[0], b->n);
    }
    lb->gang_n = n;
    lb->io.loss = loss;
    *lbp = lb;
    return NN_OK;
}

const nn_tensor *nn_session_replicas_output(nn_loss_bind *lb, nn_error *err)
{
    const nn_tensor *first = nn_plan_output(lb->plan);
    size_t row = nn_tensor_nbytes(first) / (size_t)first->shape[0], used = 0;
    int64_t shape[NN_MAX_DIMS], rows = 0;
    for (int r = 0; r < lb->gang_n; r++)
        rows += nn_plan_output(lb->gang[r]->plan)->shape[0];
    if (lb->gang_out_bytes < row * (size_t)rows) {
        /* once per batch size: predictions, not training steps */
        void *p = nn_dev_alloc(nn_dev_host(), row * (size_t)rows, err);
        if (!p)
            return NULL;
        free(lb->gang_out.dl.data);
        lb->gang_out.dl.data = p;
        lb->gang_out_bytes = row * (size_t)rows;
    }
    memcpy(shape, first->shape, sizeof(int64_t) * (size_t)first->dl.ndim);
    shape[0] = rows;
    void *data = lb->gang_out.dl.data;
    nn_tensor_describe(&lb->gang_out, (nn_dtype)nn_tensor_dtype(first), first->dl.ndim, shape);
    lb->gang_out.dl.data = data;
    lb->gang_out.name = first->name;
    for (int r = 0; r < lb->gang_n; r++) {
        const nn_tensor *o = nn_plan_output(lb->gang[r]->plan);
        memcpy((char *)data + used, o->dl.data, nn_tensor_nbytes(o));
        used += nn_tensor_nbytes(o);
    }
    return &lb->gang_out;
}

void nn_session_replicas_placement(const nn_session *s, char *buf, size_t size)
{
    int n = nn_gang_size(s->gang);
    if (s->head) {
        int l = nn_head_layer(s->head);
        snprintf(buf, size, "%d replicas: layer '%s' (%s) split by units, the others by rows",
                 n, nn_model_layer_name(s->model, l), nn_model_layer_type(s->model, l));
    } else {
        snprintf(buf, size, "%d replicas, every layer split by rows", n);
    }
}

static int run_on_gang(void *ctx, int n, nn_optim_part_fn fn, void *arg, nn_error *err)
{
    return nn_gang_run(ctx, n, fn, arg, err);
}

int nn_session_replicas_optim(nn_session *s, nn_error *err)
{
    nn_optim_owned own[NN_MAX_LAYER_PARAMS_ALL];
    int n = nn_gang_size(s->gang);
    int n_own = s->head ? nn_head_owned(s->head, n, own, NN_MAX_LAYER_PARAMS_ALL) : 0;
    return nn_optim_set_runner(s->optim, n, run_on_gang, s->gang, own, n_own, err);
}
