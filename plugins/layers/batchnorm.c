/* batchnorm.c: batch normalisation over the channel dim of [N, C], [N, C, L] or [N, C, H, W]
 * as PyTorch's BatchNorm1d/2d: batch statistics in training (running mean/var updated with
 * momentum, unbiased variance), running statistics in eval. oneDNN primitives built once;
 * never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct batchnorm {
    double momentum, eps;
    int affine;
    const char *name;
    int training;
    int64_t channels, count; /* count: values per channel in one batch */
    int b_rmean, b_rvar, b_mean, b_var, b_dx; /* buffer indices, -1 when absent */
    dnnl_memory_desc_t data_md;
    dnnl_primitive_desc_t train_pd, eval_pd, bwd_pd;
    nn_dnnl_op train, eval, bwd;
} batchnorm;

static int batchnorm_create(const nn_params *p, void **self, nn_error *err)
{
    batchnorm *b = calloc(1, sizeof *b);
    if (!b)
        return nn_error_set(err, NN_ENOMEM, "batchnorm: out of memory");
    b->momentum = nn_params_float(p, "momentum");
    b->eps = nn_params_float(p, "eps");
    b->affine = nn_params_bool(p, "affine");
    b->name = "batchnorm";
    b->b_rmean = b->b_rvar = b->b_mean = b->b_var = b->b_dx = -1;
    *self = b;
    return NN_OK;
}

static void batchnorm_destroy(void *self)
{
    batchnorm *b = self;
    nn_dnnl_op_destroy(&b->train);
    nn_dnnl_op_destroy(&b->eval);
    nn_dnnl_op_destroy(&b->bwd);
    nn_dnnl_pd_free(&b->train_pd);
    nn_dnnl_pd_free(&b->eval_pd);
    nn_dnnl_pd_free(&b->bwd_pd);
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
    if (s->training && b->count < 2)
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
                dnnl_primitive_desc_create(&b->bwd_pd, &d, NULL, nn_dnnl_engine(), b->train_pd));
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
    dnnl_engine_t eng = nn_dnnl_engine();
    dnnl_batch_normalization_desc_t d;
    /* eval: normalise with the running statistics (also used by eval steps of a training
     * plan, e.g. validation) */
    NN_DNNL_TRY(err, L, "batch normalization inference descriptor",
                dnnl_batch_normalization_forward_desc_init(
                    &d, dnnl_forward_inference, &b->data_md, (float)b->eps,
                    bn_flags(b) | (unsigned)dnnl_use_global_stats));
    nn_dnnl_pd_free(&b->eval_pd);
    NN_DNNL_TRY(err, L, "batch normalization inference",
                dnnl_primitive_desc_create(&b->eval_pd, &d, NULL, eng, NULL));
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
                dnnl_primitive_desc_create(&b->train_pd, &d, NULL, eng, NULL));
    if ((rc = nn_dnnl_op_create(&b->train, b->train_pd, "batch normalization training", L,
                                err)) ||
        (rc = bind_fwd(b, &b->train, b->train_pd, io, b->b_mean, b->b_var, err)))
        return rc;
    if (io->grad_output && (!b->affine || io->param_grads[P_WEIGHT]))
        return batchnorm_build_backward(b, io, err);
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
    if ((rc = nn_dnnl_op_run(&b->train, b->name, err)))
        return rc;
    /* PyTorch's convention: running = (1 - momentum) running + momentum batch, with the
     * unbiased batch variance (oneDNN returns the biased one it normalised with) */
    float m = (float)b->momentum, keep = 1.0f - m;
    float unbias = (float)((double)b->count / (double)(b->count - 1));
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
    if (!b->bwd.prim && (rc = batchnorm_build_backward(b, io, err)))
        return rc;
    return nn_dnnl_op_run(&b->bwd, b->name, err);
}

static const nn_param_spec batchnorm_params[] = {
    {.name = "momentum", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, 1]",
     .doc = "running statistics update, PyTorch's convention: running = (1 - momentum) * "
            "running + momentum * batch (unbiased variance)"},
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-5", .range = "(0, inf)",
     .doc = "added to the variance before the square root"},
    {.name = "affine", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "learn a per-channel scale (weight, init 1) and shift (bias, init 0)"},
    {.name = NULL},
};

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
