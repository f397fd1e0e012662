/* batchnorm.c: batch normalisation over the channel dim of [N, C], [N, C, L] or [N, C, H, W]
 * as PyTorch's BatchNorm1d/2d: batch statistics in training (running mean/var updated with
 * momentum, unbiased variance), running statistics in eval. With sync = true in a
 * data-parallel run, the statistics span the global batch (SyncBatchNorm): sums exchanged
 * through nn_layer_io.dist. oneDNN primitives built once; never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/communicator.h>
#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct batchnorm {
    double momentum, eps;
    int affine, sync;
    const char *name;
    int training;
    int64_t channels, count; /* count: values per channel in one batch */
    int64_t spatial;         /* values per channel in one sample */
    int b_rmean, b_rvar, b_mean, b_var, b_dx; /* buffer indices, -1 when absent */
    int b_sums;              /* sync: F64 [2C + 1] of sums exchanged between processes */
    double sync_count;       /* sync: values per channel in the last global batch */
    dnnl_memory_desc_t data_md;
    dnnl_primitive_desc_t train_pd, eval_pd, bwd_pd, sync_pd;
    nn_dnnl_op train, eval, bwd, sync_fwd;
} batchnorm;

static int batchnorm_create(const nn_params *p, void **self, nn_error *err)
{
    batchnorm *b = calloc(1, sizeof *b);
    if (!b)
        return nn_error_set(err, NN_ENOMEM, "batchnorm: out of memory");
    b->momentum = nn_params_float(p, "momentum");
    b->eps = nn_params_float(p, "eps");
    b->affine = nn_params_bool(p, "affine");
    b->sync = nn_params_bool(p, "sync");
    b->name = "batchnorm";
    b->b_rmean = b->b_rvar = b->b_mean = b->b_var = b->b_dx = b->b_sums = -1;
    *self = b;
    return NN_OK;
}

static void batchnorm_destroy(void *self)
{
    batchnorm *b = self;
    nn_dnnl_op_destroy(&b->train);
    nn_dnnl_op_destroy(&b->eval);
    nn_dnnl_op_destroy(&b->bwd);
    nn_dnnl_op_destroy(&b->sync_fwd);
    nn_dnnl_pd_free(&b->train_pd);
    nn_dnnl_pd_free(&b->eval_pd);
    nn_dnnl_pd_free(&b->bwd_pd);
    nn_dnnl_pd_free(&b->sync_pd);
    free(b);
}

static int batchnorm_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    batchnorm *b = self;
    const char *L = b->name = s->layer_name ? s->layer_name : "batchnorm";
    b->training = s->training;
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm takes 1 input, got %d", L,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim < 2 || x->dl.ndim > 5)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': batchnorm expects [N, C], [N, C, L] or [N, C, H, W], "
                            "got %s",
                            L, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': batchnorm supports float32 (F32) only",
                            L);
    b->channels = x->shape[1];
    b->count = nn_tensor_numel(x) / b->channels;
    b->spatial = b->count / x->shape[0];
    /* in a data-parallel run, a plan's rows are one process's slice: whether enough values
     * per channel exist is known in forward (synchronised statistics span the global batch) */
    if (s->training && b->count < 2 && !(s->dist && s->dist->size > 1))
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': batchnorm needs more than 1 value per channel to "
                            "train, input %s has 1 (use a batch larger than 1)",
                            L, nn_shape_str(x, buf, sizeof buf));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    int64_t c = b->channels;
    if (b->affine &&
        (nn_layer_add_param(s, "weight", 1, &c, NN_INIT_ONES, c, c, NN_TENSOR_NORM) != P_WEIGHT ||
         nn_layer_add_param(s, "bias", 1, &c, NN_INIT_ZEROS, c, c, NN_TENSOR_NORM) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    b->b_rmean = nn_layer_add_buffer(s, "running_mean", NN_BUF_STATE, NN_F32, 1, &c);
    b->b_rvar = nn_layer_add_buffer(s, "running_var", NN_BUF_STATE, NN_F32, 1, &c);
    if (b->b_rvar >= 0)
        s->buffers[b->b_rvar].init = NN_INIT_ONES;
    if (s->training) {
        b->b_mean = nn_layer_add_buffer(s, "batch_mean", NN_BUF_SAVED, NN_F32, 1, &c);
        b->b_var = nn_layer_add_buffer(s, "batch_var", NN_BUF_SAVED, NN_F32, 1, &c);
        /* oneDNN's backward always writes dx; when the plan wants none (first layer) it goes
         * to this scratch */
        b->b_dx = nn_layer_add_buffer(s, "dx_scratch", NN_BUF_WORKSPACE, NN_F32, x->dl.ndim,
                                      x->shape);
        if (b->b_mean < 0 || b->b_var < 0 || b->b_dx < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", L);
        int64_t sums = 2 * c + 1;
        if (b->sync && (b->b_sums = nn_layer_add_buffer(s, "sync_sums", NN_BUF_WORKSPACE,
                                                        NN_F64, 1, &sums)) < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", L);
    }
    if (b->b_rmean < 0 || b->b_rvar < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", L);
    s->flops = (uint64_t)(4 * nn_tensor_numel(x));
    return NN_OK;
}

static unsigned bn_flags(const batchnorm *b)
{
    return b->affine ? (unsigned)(dnnl_use_scale | dnnl_use_shift) : 0u;
}

static int bind_fwd(batchnorm *b, nn_dnnl_op *op, dnnl_primitive_desc_t pd, const nn_layer_io *io,
                    int mean, int var, nn_error *err)
{
    const char *L = b->name;
    int rc;
    if ((rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_SRC, io->inputs[0], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_DST, io->output, L, err)) ||
        (rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_MEAN, io->buffers[mean], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_VARIANCE, io->buffers[var], L, err)))
        return rc;
    if (b->affine &&
        ((rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_SCALE, io->params[P_WEIGHT], L, err)) ||
         (rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_SHIFT, io->params[P_BIAS], L, err))))
        return rc;
    return NN_OK;
}

static int batchnorm_build_backward(batchnorm *b, const nn_layer_io *io, nn_error *err)
{
    const char *L = b->name;
    dnnl_batch_normalization_desc_t d;
    NN_DNNL_TRY(err, L, "batch normalization backward descriptor",
                dnnl_batch_normalization_backward_desc_init(
                    &d, b->affine ? dnnl_backward : dnnl_backward_data, &b->data_md, &b->data_md,
                    (float)b->eps, bn_flags(b)));
    nn_dnnl_pd_free(&b->bwd_pd);
    NN_DNNL_TRY(err, L, "batch normalization backward",
                nn_dnnl_pd_create(&b->bwd_pd, &d, NULL, b->train_pd));
    const nn_tensor *dx = io->grad_inputs[0] ? io->grad_inputs[0] : io->buffers[b->b_dx];
    nn_dnnl_op *op = &b->bwd;
    int rc;
    if ((rc = nn_dnnl_op_create(op, b->bwd_pd, "batch normalization backward", L, err)) ||
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_SRC, io->inputs[0], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_MEAN, io->buffers[b->b_mean], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_VARIANCE, io->buffers[b->b_var], L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_DIFF_DST, io->grad_output, L, err)) ||
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_DIFF_SRC, dx, L, err)))
        return rc;
    if (b->affine &&
        ((rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_SCALE, io->params[P_WEIGHT], L, err)) ||
         (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_DIFF_SCALE, io->param_grads[P_WEIGHT], L,
                                 err)) ||
         (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_DIFF_SHIFT, io->param_grads[P_BIAS], L,
                                 err))))
        return rc;
    /* oneDNN 2.6 checks that the shift is passed to backward too, though dx does not use it */
    if (b->affine && nn_dnnl_arg_size(b->bwd_pd, DNNL_ARG_SHIFT) > 0 &&
        (rc = nn_dnnl_op_tensor(op, b->bwd_pd, DNNL_ARG_SHIFT, io->params[P_BIAS], L, err)))
        return rc;
    return NN_OK;
}

static int batchnorm_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    batchnorm *b = self;
    const char *L = b->name;
    int rc = nn_dnnl_init(L, err);
    if (rc || (rc = nn_dnnl_md_tensor(&b->data_md, io->inputs[0], L, err)))
        return rc;
    dnnl_batch_normalization_desc_t d;
    /* eval: normalise with the running statistics (also used by eval steps of a training
     * plan, e.g. validation) */
    NN_DNNL_TRY(err, L, "batch normalization inference descriptor",
                dnnl_batch_normalization_forward_desc_init(
                    &d, dnnl_forward_inference, &b->data_md, (float)b->eps,
                    bn_flags(b) | (unsigned)dnnl_use_global_stats));
    nn_dnnl_pd_free(&b->eval_pd);
    NN_DNNL_TRY(err, L, "batch normalization inference",
                nn_dnnl_pd_create(&b->eval_pd, &d, NULL, NULL));
    if ((rc = nn_dnnl_op_create(&b->eval, b->eval_pd, "batch normalization inference", L,
                                err)) ||
        (rc = bind_fwd(b, &b->eval, b->eval_pd, io, b->b_rmean, b->b_rvar, err)))
        return rc;
    if (!b->training)
        return NN_OK;
    NN_DNNL_TRY(err, L, "batch normalization training descriptor",
                dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training,
                                                           &b->data_md, (float)b->eps,
                                                           bn_flags(b)));
    nn_dnnl_pd_free(&b->train_pd);
    NN_DNNL_TRY(err, L, "batch normalization training",
                nn_dnnl_pd_create(&b->train_pd, &d, NULL, NULL));
    if ((rc = nn_dnnl_op_create(&b->train, b->train_pd, "batch normalization training", L,
                                err)) ||
        (rc = bind_fwd(b, &b->train, b->train_pd, io, b->b_mean, b->b_var, err)))
        return rc;
    if (b->sync) {
        /* normalising with the global batch's statistics, computed by sync_forward */
        if (!nn_device_is_host(io->device))
            return nn_error_set(err, NN_ENOTSUP, "layer '%s': sync = true runs on the host "
                                "only", L);
        NN_DNNL_TRY(err, L, "batch normalization with given statistics",
                    dnnl_batch_normalization_forward_desc_init(
                        &d, dnnl_forward_inference, &b->data_md, (float)b->eps,
                        bn_flags(b) | (unsigned)dnnl_use_global_stats));
        nn_dnnl_pd_free(&b->sync_pd);
        NN_DNNL_TRY(err, L, "batch normalization with given statistics",
                    nn_dnnl_pd_create(&b->sync_pd, &d, NULL, NULL));
        if ((rc = nn_dnnl_op_create(&b->sync_fwd, b->sync_pd, "batch normalization with "
                                    "given statistics", L, err)) ||
            (rc = bind_fwd(b, &b->sync_fwd, b->sync_pd, io, b->b_mean, b->b_var, err)))
            return rc;
    }
    if (io->grad_output && (!b->affine || io->param_grads[P_WEIGHT]))
        return batchnorm_build_backward(b, io, err);
    return NN_OK;
}

static double *f64_of(const nn_tensor *t)
{
    return (double *)(void *)((char *)t->dl.data + t->dl.byte_offset);
}

/* sync = true in a data-parallel run of several processes */
static int synced(const batchnorm *b, const nn_layer_io *io)
{
    return b->sync && io->dist && io->dist->size > 1;
}

/* rows of this process that count (a process without any runs one zero row that does not) */
static int64_t valid_rows(const nn_layer_io *io)
{
    int64_t n = io->inputs[0]->shape[0];
    return io->dist && io->dist->rows < n ? io->dist->rows : n;
}

/* Statistics of the global batch: per-channel sums over this process's valid rows, summed
 * over all processes (every process calls, also without rows), into the saved mean and
 * (biased) variance; then oneDNN normalises with them. */
static int sync_forward(batchnorm *b, const nn_layer_io *io, nn_error *err)
{
    int64_t C = b->channels, S = b->spatial, rows = valid_rows(io);
    const float *x = NN_F32P(io->inputs[0]);
    double *sums = f64_of(io->buffers[b->b_sums]);
    memset(sums, 0, (size_t)(2 * C + 1) * sizeof *sums);
    for (int64_t n = 0; n < rows; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *p = x + (n * C + c) * S;
            double s1 = 0, s2 = 0;
            for (int64_t k = 0; k < S; k++) {
                s1 += p[k];
                s2 += (double)p[k] * p[k];
            }
            sums[c] += s1;
            sums[C + c] += s2;
        }
    sums[2 * C] = (double)(rows * S);
    nn_error cerr = {0};
    int rc = io->dist->allreduce_sum(io->dist, sums, 2 * C + 1, NN_F64, &cerr);
    if (rc)
        return nn_error_set(err, rc, "layer '%s': synchronising statistics: %s", b->name,
                            cerr.msg);
    double cnt = sums[2 * C];
    if (cnt < 2)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm needs more than 1 value per "
                            "channel to train, the global batch has %.0f", b->name, cnt);
    b->sync_count = cnt;
    float *mean = NN_F32P(io->buffers[b->b_mean]), *var = NN_F32P(io->buffers[b->b_var]);
    for (int64_t c = 0; c < C; c++) {
        double mu = sums[c] / cnt, v = sums[C + c] / cnt - mu * mu;
        mean[c] = (float)mu;
        var[c] = (float)(v > 0 ? v : 0);
    }
    return nn_dnnl_op_run(&b->sync_fwd, b->name, err);
}

/* dx = gamma / sigma * (dy - mean(dy) - xhat * mean(dy * xhat)), the means over the global
 * batch; each process's weight and bias gradients are its rows' share (the core sums them) */
static int sync_backward(batchnorm *b, const nn_layer_io *io, nn_error *err)
{
    int64_t C = b->channels, S = b->spatial, N = io->inputs[0]->shape[0], rows = valid_rows(io);
    const float *x = NN_F32P(io->inputs[0]), *dy = NN_F32P(io->grad_output);
    const float *mean = NN_F32P(io->buffers[b->b_mean]), *var = NN_F32P(io->buffers[b->b_var]);
    double *sums = f64_of(io->buffers[b->b_sums]);
    memset(sums, 0, (size_t)(2 * C) * sizeof *sums);
    for (int64_t n = 0; n < rows; n++)
        for (int64_t c = 0; c < C; c++) {
            double inv = 1.0 / sqrt((double)var[c] + b->eps), mu = mean[c], s1 = 0, s2 = 0;
            const float *px = x + (n * C + c) * S, *pd = dy + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) {
                s1 += pd[k];
                s2 += pd[k] * ((px[k] - mu) * inv);
            }
            sums[c] += s1;
            sums[C + c] += s2;
        }
    if (b->affine)
        for (int64_t c = 0; c < C; c++) {
            NN_F32P(io->param_grads[P_BIAS])[c] = (float)sums[c];
            NN_F32P(io->param_grads[P_WEIGHT])[c] = (float)sums[C + c];
        }
    nn_error cerr = {0};
    int rc = io->dist->allreduce_sum(io->dist, sums, 2 * C, NN_F64, &cerr);
    if (rc)
        return nn_error_set(err, rc, "layer '%s': synchronising gradients: %s", b->name,
                            cerr.msg);
    if (!io->grad_inputs[0])
        return NN_OK;
    float *dx = NN_F32P(io->grad_inputs[0]);
    /* a row that does not count gets no gradient either (the means above would give it one) */
    memset(dx + rows * C * S, 0, (size_t)((N - rows) * C * S) * sizeof *dx);
    for (int64_t n = 0; n < rows; n++)
        for (int64_t c = 0; c < C; c++) {
            double inv = 1.0 / sqrt((double)var[c] + b->eps), mu = mean[c];
            double g = b->affine ? NN_F32P(io->params[P_WEIGHT])[c] : 1.0;
            double mdy = sums[c] / b->sync_count, mdyx = sums[C + c] / b->sync_count;
            const float *px = x + (n * C + c) * S, *pd = dy + (n * C + c) * S;
            float *po = dx + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++)
                po[k] = (float)(g * inv * (pd[k] - mdy - (px[k] - mu) * inv * mdyx));
        }
    return NN_OK;
}

static int batchnorm_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    batchnorm *b = self;
    int rc;
    if (!b->eval.prim && (rc = batchnorm_bind(self, io, err)))
        return rc;
    if (!io->training || !b->training)
        return nn_dnnl_op_run(&b->eval, b->name, err);
    int sync = synced(b, io);
    if (!sync && valid_rows(io) > 0 && valid_rows(io) * b->spatial < 2)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm needs more than 1 value per "
                            "channel to train, this process's slice of the batch has 1 (use a "
                            "larger batch_size, or sync = true)", b->name);
    if ((rc = sync ? sync_forward(b, io, err) : nn_dnnl_op_run(&b->train, b->name, err)))
        return rc;
    /* a process without rows of this step (data-parallel) leaves its statistics alone */
    if (!sync && valid_rows(io) == 0)
        return NN_OK;
    /* PyTorch's convention: running = (1 - momentum) running + momentum batch, with the
     * unbiased batch variance (oneDNN returns the biased one it normalised with) */
    float m = (float)b->momentum, keep = 1.0f - m;
    double cnt = sync ? b->sync_count : (double)b->count;
    float unbias = (float)(cnt / (cnt - 1));
    float *rm = NN_F32P(io->buffers[b->b_rmean]), *rv = NN_F32P(io->buffers[b->b_rvar]);
    const float *bm = NN_F32P(io->buffers[b->b_mean]), *bv = NN_F32P(io->buffers[b->b_var]);
    for (int64_t c = 0; c < b->channels; c++) {
        rm[c] = keep * rm[c] + m * bm[c];
        rv[c] = keep * rv[c] + m * bv[c] * unbias;
    }
    return NN_OK;
}

static int batchnorm_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    batchnorm *b = self;
    int rc;
    if (!b->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference",
                            b->name);
    if (synced(b, io))
        return sync_backward(b, io, err);
    if (!b->bwd.prim && (rc = batchnorm_build_backward(b, io, err)))
        return rc;
    return nn_dnnl_op_run(&b->bwd, b->name, err);
}

static const nn_param_spec batchnorm_params[] = {NN_STOCK_BATCHNORM_PARAMS, {.name = NULL}};

/* ONNX: BatchNormalization with the running statistics (evaluation mode); without affine,
 * a scale of ones and a shift of zeros. PyTorch: its num_batches_tracked, the steps the
 * statistics have seen (nntrain's updates always use `momentum`, so it only informs). */
static int batchnorm_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const batchnorm *b = self;
    nn_export *g = x->out;
    if (x->format == NN_EXPORT_TORCH) {
        int64_t steps = x->steps > 0 ? x->steps : 0;
        nn_tensor t = {0};
        nn_tensor_describe(&t, NN_I64, 0, NULL);
        t.dl.data = &steps;
        nn_export_tensor(g, "num_batches_tracked", &t);
        return nn_export_status(g, err);
    }
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const char *scale, *shift;
    if (b->affine) {
        scale = nn_export_const(g, "weight", x->params[P_WEIGHT]);
        shift = nn_export_const(g, "bias", x->params[P_BIAS]);
    } else {
        float *v = calloc(2 * (size_t)b->channels, sizeof *v);
        if (!v)
            return nn_error_set(err, NN_ENOMEM, "layer '%s': out of memory", b->name);
        for (int64_t c = 0; c < b->channels; c++)
            v[c] = 1.0f;
        scale = nn_export_const_f32(g, "ones", 1, &b->channels, v);
        shift = nn_export_const_f32(g, "zeros", 1, &b->channels, v + b->channels);
        free(v);
    }
    const char *in[5] = {x->inputs[0], scale, shift,
                         nn_export_const(g, "running_mean", x->buffers[b->b_rmean]),
                         nn_export_const(g, "running_var", x->buffers[b->b_rvar])};
    int node = nn_export_node(g, "BatchNormalization", 5, in, 1, &x->output);
    if (node >= 0)
        nn_export_attr_float(g, node, "epsilon", (float)b->eps);
    return nn_export_status(g, err);
}

static const nn_layer_vtable batchnorm_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = batchnorm_create,
    .destroy = batchnorm_destroy,
    .setup = batchnorm_setup,
    .bind = batchnorm_bind,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .export_as = batchnorm_export, /* optional: ONNX */
};

static const nn_plugin_desc batchnorm_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "batchnorm", .version = "1.0.0", .license = "MIT",
    .summary = "batch normalisation over dim 1 of [N, C], [N, C, L] or [N, C, H, W] (oneDNN), "
               "running statistics for eval",
    .caps = NN_CAP_BACKWARD, .params = batchnorm_params, .vtable = &batchnorm_vtable);

NN_PLUGIN_EXPORT(&batchnorm_desc);
