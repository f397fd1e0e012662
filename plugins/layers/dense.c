/* dense.c: the fully connected layer y = act(x W^T + b) on [N, in] -> [N, units], with
 * oneDNN inner product primitives built once in bind(), bias fused, the activation fused in
 * eval plans (see nn_dnnl_act for training plans).
 * Never allocates in forward/backward; weight is [units, in] as PyTorch's Linear. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct dense {
    int64_t units;
    int bias;
    int bias_zeros;
    nn_init winit;
    const char *name;
    int training;
    nn_dnnl_act act;
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_w_pd;
    nn_dnnl_op fwd, bwd_data, bwd_w;
} dense;

static int dense_create(const nn_params *p, void **self, nn_error *err)
{
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "dense: out of memory");
    d->units = nn_params_int(p, "units");
    d->bias = nn_params_bool(p, "bias");
    d->bias_zeros = nn_params_enum(p, "bias_init") == 1;
    d->winit = nn_dnnl_weight_init(nn_params_enum(p, "weight_init"));
    d->act.kind = nn_params_enum(p, "activation");
    d->name = "dense";
    *self = d;
    return NN_OK;
}

static void dense_destroy(void *self)
{
    dense *d = self;
    nn_dnnl_op_destroy(&d->fwd);
    nn_dnnl_op_destroy(&d->bwd_data);
    nn_dnnl_op_destroy(&d->bwd_w);
    nn_dnnl_pd_free(&d->fwd_pd);
    nn_dnnl_pd_free(&d->bwd_data_pd);
    nn_dnnl_pd_free(&d->bwd_w_pd);
    nn_dnnl_act_destroy(&d->act);
    free(d);
}

static int dense_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    dense *d = self;
    d->name = s->layer_name ? s->layer_name : "dense";
    d->training = s->training;
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': dense takes 1 input, got %d", d->name,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': dense expects a [batch, features] input, got %s "
                            "(put a flatten layer before it)",
                            d->name, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': dense supports float32 (F32) input only, got %s",
                            d->name, nn_shape_str(x, buf, sizeof buf));
    int64_t n = x->shape[0], in = x->shape[1];
    int64_t oshape[2] = {n, d->units};
    nn_tensor_describe(&s->output, NN_F32, 2, oshape);
    int64_t wshape[2] = {d->units, in};
    if (nn_layer_add_param(s, "weight", 2, wshape, d->winit, in, d->units, 0) != P_WEIGHT)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare weight", d->name);
    if (d->bias &&
        nn_layer_add_param(s, "bias", 1, &d->units,
                           d->bias_zeros ? NN_INIT_ZEROS : NN_INIT_FAN_IN_UNIFORM, in, d->units,
                           NN_TENSOR_BIAS) != P_BIAS)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare bias", d->name);
    s->flops = (uint64_t)(2 * n * in * d->units);
    return nn_dnnl_act_setup(&d->act, d->act.kind, s, err);
}

/* backward primitives need grad_output and the gradient tensors, which a plan gives to
 * bind(); built here once (or on the first backward if bind did not have them) */
static int dense_build_backward(dense *d, const nn_layer_io *io, nn_error *err)
{
    const char *L = d->name;
    const nn_tensor *x = io->inputs[0];
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    int rc = nn_dnnl_md_tensor(&src_md, x, L, err);
    if (rc)
        return rc;
    int64_t wdims[2] = {d->units, x->shape[1]}, odims[2] = {x->shape[0], d->units};
    nn_dnnl_md_dims(&w_md, 2, wdims);
    nn_dnnl_md_dims(&b_md, 1, &d->units);
    nn_dnnl_md_dims(&dst_md, 2, odims);
    const nn_tensor *dz = d->act.kind == NN_ACT_NONE ? io->grad_output
                                                       : io->buffers[d->act.buf_grad];
    dnnl_inner_product_desc_t bd;
    dnnl_engine_t eng = nn_dnnl_engine();
    if (io->grad_inputs[0]) {
        NN_DNNL_TRY(err, L, "inner product backward-data descriptor",
                    dnnl_inner_product_backward_data_desc_init(&bd, &src_md, &w_md, &dst_md));
        nn_dnnl_pd_free(&d->bwd_data_pd);
        NN_DNNL_TRY(err, L, "inner product backward-data",
                    dnnl_primitive_desc_create(&d->bwd_data_pd, &bd, NULL, eng, d->fwd_pd));
        if ((rc = nn_dnnl_op_create(&d->bwd_data, d->bwd_data_pd, "inner product backward-data",
                                    L, err)) ||
            (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_DIFF_DST, dz, L,
                                    err)) ||
            (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_WEIGHTS,
                                    io->params[P_WEIGHT], L, err)) ||
            (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_DIFF_SRC,
                                    io->grad_inputs[0], L, err)))
            return rc;
    }
    NN_DNNL_TRY(err, L, "inner product backward-weights descriptor",
                dnnl_inner_product_backward_weights_desc_init(&bd, &src_md, &w_md,
                                                              d->bias ? &b_md : NULL, &dst_md));
    nn_dnnl_pd_free(&d->bwd_w_pd);
    NN_DNNL_TRY(err, L, "inner product backward-weights",
                dnnl_primitive_desc_create(&d->bwd_w_pd, &bd, NULL, eng, d->fwd_pd));
    if ((rc = nn_dnnl_op_create(&d->bwd_w, d->bwd_w_pd, "inner product backward-weights", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_DIFF_DST, dz, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_DIFF_WEIGHTS,
                                io->param_grads[P_WEIGHT], L, err)))
        return rc;
    if (d->bias &&
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_DIFF_BIAS,
                                io->param_grads[P_BIAS], L, err)))
        return rc;
    return NN_OK;
}

static int dense_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    dense *d = self;
    const char *L = d->name;
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    const nn_tensor *x = io->inputs[0];
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    if ((rc = nn_dnnl_md_tensor(&src_md, x, L, err)))
        return rc;
    int64_t wdims[2] = {d->units, x->shape[1]}, odims[2] = {x->shape[0], d->units};
    nn_dnnl_md_dims(&w_md, 2, wdims);
    nn_dnnl_md_dims(&b_md, 1, &d->units);
    nn_dnnl_md_dims(&dst_md, 2, odims);

    dnnl_inner_product_desc_t fd;
    NN_DNNL_TRY(err, L, "inner product forward descriptor",
                dnnl_inner_product_forward_desc_init(
                    &fd, d->training ? dnnl_forward_training : dnnl_forward_inference, &src_md,
                    &w_md, d->bias ? &b_md : NULL, &dst_md));
    dnnl_primitive_attr_t attr;
    NN_DNNL_TRY(err, L, "primitive attributes", dnnl_primitive_attr_create(&attr));
    rc = nn_dnnl_act_attr(&d->act, attr, L, err);
    dnnl_status_t st = dnnl_success;
    if (!rc) {
        nn_dnnl_pd_free(&d->fwd_pd);
        st = dnnl_primitive_desc_create(&d->fwd_pd, &fd, attr, nn_dnnl_engine(), NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (rc)
        return rc;
    if (st != dnnl_success)
        return nn_dnnl_fail(err, st, L, "inner product forward");
    const nn_tensor *dst = nn_dnnl_act_dst(&d->act, io);
    if ((rc = nn_dnnl_op_create(&d->fwd, d->fwd_pd, "inner product forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_WEIGHTS, io->params[P_WEIGHT], L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_DST, dst, L, err)))
        return rc;
    if (d->bias && (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_BIAS,
                                           io->params[P_BIAS], L, err)))
        return rc;
    if ((rc = nn_dnnl_act_bind(&d->act, io, L, err)))
        return rc;
    if (d->training && io->grad_output && io->param_grads[P_WEIGHT])
        return dense_build_backward(d, io, err);
    return NN_OK;
}

static int dense_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    dense *d = self;
    int rc;
    if (!d->fwd.prim && (rc = dense_bind(self, io, err)))
        return rc;
    if ((rc = nn_dnnl_op_run(&d->fwd, d->name, err)))
        return rc;
    return nn_dnnl_act_forward(&d->act, io, d->name, err);
}

static int dense_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    dense *d = self;
    int rc;
    if (!d->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference",
                            d->name);
    if (!d->bwd_w.prim && (rc = dense_build_backward(d, io, err)))
        return rc;
    if (!nn_dnnl_act_backward(&d->act, io, d->name, err))
        return err ? err->status : NN_EINTERNAL;
    if (io->grad_inputs[0]) {
        if (!d->bwd_data.prim)
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': an input gradient was asked for but the plan bound "
                                "none",
                                d->name);
        if ((rc = nn_dnnl_op_run(&d->bwd_data, d->name, err)))
            return rc;
    }
    return nn_dnnl_op_run(&d->bwd_w, d->name, err);
}

/* ONNX: Gemm(x, W, b) with W as stored ([units, in], transB), then the fused activation */
static int dense_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const dense *d = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    const char *z = d->act.kind == NN_ACT_NONE ? x->output : nn_export_value(g, "linear");
    nn_export_linear(g, NULL, x->inputs[0], 2, x->params[P_WEIGHT],
                     d->bias ? x->params[P_BIAS] : NULL, z);
    if (d->act.kind != NN_ACT_NONE)
        nn_export_activation(g, nn_params_str(x->keys, "activation"), 0, NULL, z, x->output);
    return nn_export_status(g, err);
}

static const nn_param_spec dense_params[] = {NN_STOCK_DENSE_PARAMS, {.name = NULL}};

static const nn_layer_vtable dense_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = dense_create,
    .destroy = dense_destroy,
    .setup = dense_setup,
    .bind = dense_bind,
    .forward = dense_forward,
    .backward = dense_backward,
    .export_as = dense_export, /* optional: ONNX */
};

static const nn_plugin_desc dense_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "dense", .version = "1.0.0", .license = "MIT",
    .summary = "fully connected layer [N, in] -> [N, units] (oneDNN inner product), "
               "weight [units, in], optional fused activation",
    .caps = NN_CAP_BACKWARD, .params = dense_params, .vtable = &dense_vtable);

NN_PLUGIN_EXPORT(&dense_desc);
