/* layernorm.c: layer normalisation over the last dim of a [..., D] tensor (2 to 5 dims) as
 * PyTorch's LayerNorm(D): per-row mean and biased variance, optional elementwise scale and
 * shift. oneDNN primitives built once; never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct layernorm {
    double eps;
    int affine;
    const char *name;
    int training;
    int b_mean, b_var, b_dx; /* SAVED stats and WORKSPACE dx (training plans), else -1 */
    dnnl_memory_desc_t data_md, stat_md;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op fwd, bwd;
} layernorm;

static int layernorm_create(const nn_params *p, void **self, nn_error *err)
{
    layernorm *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "layernorm: out of memory");
    l->eps = nn_params_float(p, "eps");
    l->affine = nn_params_bool(p, "elementwise_affine");
    l->name = "layernorm";
    l->b_mean = l->b_var = l->b_dx = -1;
    *self = l;
    return NN_OK;
}

static void layernorm_destroy(void *self)
{
    layernorm *l = self;
    nn_dnnl_op_destroy(&l->fwd);
    nn_dnnl_op_destroy(&l->bwd);
    nn_dnnl_pd_free(&l->fwd_pd);
    nn_dnnl_pd_free(&l->bwd_pd);
    free(l);
}

static int layernorm_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    layernorm *l = self;
    const char *L = l->name = s->layer_name ? s->layer_name : "layernorm";
    l->training = s->training;
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': layernorm takes 1 input, got %d", L,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nd < 2 || nd > 5)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': layernorm expects 2 to 5 dims [N, ..., D], got %s", L,
                            nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': layernorm supports float32 (F32) only",
                            L);
    nn_tensor_describe(&s->output, NN_F32, nd, x->shape);
    int64_t d = x->shape[nd - 1], rows = nn_tensor_numel(x) / d;
    if (l->affine &&
        (nn_layer_add_param(s, "weight", 1, &d, NN_INIT_ONES, d, d, NN_TENSOR_NORM) != P_WEIGHT ||
         nn_layer_add_param(s, "bias", 1, &d, NN_INIT_ZEROS, d, d, NN_TENSOR_NORM) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    /* the row statistics and a dx scratch, for backward (an eval plan needs none: oneDNN's
     * inference primitive keeps its statistics internally) */
    if (s->training) {
        l->b_mean = nn_layer_add_buffer(s, "mean", NN_BUF_SAVED, NN_F32, 1, &rows);
        l->b_var = nn_layer_add_buffer(s, "var", NN_BUF_SAVED, NN_F32, 1, &rows);
        l->b_dx = nn_layer_add_buffer(s, "dx_scratch", NN_BUF_WORKSPACE, NN_F32, nd, x->shape);
        if (l->b_mean < 0 || l->b_var < 0 || l->b_dx < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", L);
    }
    s->flops = (uint64_t)(5 * nn_tensor_numel(x));
    return NN_OK;
}

static unsigned ln_flags(const layernorm *l)
{
    return l->affine ? (unsigned)(dnnl_use_scale | dnnl_use_shift) : 0u;
}

static int layernorm_build_backward(layernorm *l, const nn_layer_io *io, nn_error *err)
{
    const char *L = l->name;
    dnnl_layer_normalization_desc_t d;
    NN_DNNL_TRY(err, L, "layer normalization backward descriptor",
                dnnl_layer_normalization_backward_desc_init(
                    &d, l->affine ? dnnl_backward : dnnl_backward_data, &l->data_md, &l->data_md,
                    &l->stat_md, (float)l->eps, ln_flags(l)));
    nn_dnnl_pd_free(&l->bwd_pd);
    NN_DNNL_TRY(err, L, "layer normalization backward",
                nn_dnnl_pd_create(&l->bwd_pd, &d, NULL, l->fwd_pd));
    const nn_tensor *dx = io->grad_inputs[0] ? io->grad_inputs[0] : io->buffers[l->b_dx];
    nn_dnnl_op *op = &l->bwd;
    int rc;
    if ((rc = nn_dnnl_op_create(op, l->bwd_pd, "layer normalization backward", L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_SRC, io->inputs[0], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_MEAN, io->buffers[l->b_mean], L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_VARIANCE, io->buffers[l->b_var], L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_DIFF_DST, io->grad_output, L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_DIFF_SRC, dx, L, err)))
        return rc;
    if (l->affine &&
        ((rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_SCALE, io->params[P_WEIGHT], L, err)) ||
         (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_DIFF_SCALE, io->param_grads[P_WEIGHT], L,
                                 err)) ||
         (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_DIFF_SHIFT, io->param_grads[P_BIAS], L,
                                 err))))
        return rc;
    /* oneDNN 2.6 checks that the shift is passed to backward too, though dx does not use it */
    if (l->affine && nn_dnnl_arg_size(l->bwd_pd, DNNL_ARG_SHIFT) > 0 &&
        (rc = nn_dnnl_op_tensor(op, l->bwd_pd, DNNL_ARG_SHIFT, io->params[P_BIAS], L, err)))
        return rc;
    return NN_OK;
}

static int layernorm_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    layernorm *l = self;
    const char *L = l->name;
    const nn_tensor *x = io->inputs[0];
    int rc = nn_dnnl_init(L, err);
    if (rc || (rc = nn_dnnl_md_tensor(&l->data_md, x, L, err)))
        return rc;
    nn_dnnl_md_dims(&l->stat_md, x->dl.ndim - 1, x->shape);
    dnnl_layer_normalization_desc_t d;
    /* a training forward also serves the eval steps of a training plan: the statistics are
     * the row's own either way */
    NN_DNNL_TRY(err, L, "layer normalization forward descriptor",
                dnnl_layer_normalization_forward_desc_init(
                    &d, l->training ? dnnl_forward_training : dnnl_forward_inference,
                    &l->data_md, &l->stat_md, (float)l->eps, ln_flags(l)));
    nn_dnnl_pd_free(&l->fwd_pd);
    NN_DNNL_TRY(err, L, "layer normalization forward",
                nn_dnnl_pd_create(&l->fwd_pd, &d, NULL, NULL));
    nn_dnnl_op *op = &l->fwd;
    if ((rc = nn_dnnl_op_create(op, l->fwd_pd, "layer normalization forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_DST, io->output, L, err)))
        return rc;
    /* forward_inference computes the statistics internally and takes none */
    if (l->training &&
        ((rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_MEAN, io->buffers[l->b_mean], L, err)) ||
         (rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_VARIANCE, io->buffers[l->b_var], L,
                                 err))))
        return rc;
    if (l->affine &&
        ((rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_SCALE, io->params[P_WEIGHT], L, err)) ||
         (rc = nn_dnnl_op_tensor(op, l->fwd_pd, DNNL_ARG_SHIFT, io->params[P_BIAS], L, err))))
        return rc;
    if (l->training && io->grad_output && (!l->affine || io->param_grads[P_WEIGHT]))
        return layernorm_build_backward(l, io, err);
    return NN_OK;
}

static int layernorm_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    layernorm *l = self;
    int rc;
    if (!l->fwd.prim && (rc = layernorm_bind(self, io, err)))
        return rc;
    return nn_dnnl_op_run(&l->fwd, l->name, err);
}

static int layernorm_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    layernorm *l = self;
    int rc;
    if (!l->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference",
                            l->name);
    if (!l->bwd.prim && (rc = layernorm_build_backward(l, io, err)))
        return rc;
    return nn_dnnl_op_run(&l->bwd, l->name, err);
}

static const nn_param_spec layernorm_params[] = {NN_STOCK_LAYERNORM_PARAMS, {.name = NULL}};

/* ONNX: LayerNormalization over the last axis (opset 17); without affine, a scale of ones */
static int layernorm_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const layernorm *l = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const nn_tensor *in = x->input_descs[0];
    nn_export_layernorm(x->out, NULL, x->inputs[0], in->shape[in->dl.ndim - 1],
                        l->affine ? x->params[P_WEIGHT] : NULL,
                        l->affine ? x->params[P_BIAS] : NULL, l->eps, x->output);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable layernorm_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = layernorm_create,
    .destroy = layernorm_destroy,
    .setup = layernorm_setup,
    .bind = layernorm_bind,
    .forward = layernorm_forward,
    .backward = layernorm_backward,
    .export_as = layernorm_export, /* optional: ONNX */
};

static const nn_plugin_desc layernorm_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "layernorm", .version = "1.0.0", .license = "MIT",
    .summary = "layer normalisation over the last dim of [N, ..., D] (oneDNN)",
    .caps = NN_CAP_BACKWARD, .params = layernorm_params, .vtable = &layernorm_vtable);

NN_PLUGIN_EXPORT(&layernorm_desc);
