/* dense.c: the fully connected layer y = act(x W^T + b) on [N, in] -> [N, units], with
 * oneDNN inner product primitives made in setup and bound once in bind(), bias and activation
 * fused (nn_dnnl_act), bf16 compute under [train] precision = bf16 with f32 parameters.
 * Never allocates in forward/backward; weight is [units, in] as PyTorch's Linear. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>
#include <nntrain/stock_setup.h>

#include "nn_dnnl.h"

enum { P_WEIGHT = NN_STOCK_DENSE_WEIGHT, P_BIAS = NN_STOCK_DENSE_BIAS };

typedef struct dense {
    nn_stock_dense k;              /* the keys */
    const char *name;
    int training;
    dnnl_data_type_t dt;           /* f32, or bf16 under [train] precision = bf16 */
    dnnl_memory_desc_t x_md;       /* the input as it crosses the ABI (an accepted layout) */
    dnnl_memory_desc_t xp_md, w_md, wp_md, b_md; /* src and weights as the primitives read */
    int b_xb, b_wb, b_pad;         /* buffers: src and weight copies, scratchpad; -1: none */
    nn_dnnl_out out;               /* activation, output layout, dLoss/dz */
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_w_pd;
    nn_dnnl_op r_x, r_w, fwd, bwd_data, bwd_w;
} dense;

static int dense_create(const nn_params *p, void **self, nn_error *err)
{
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "dense: out of memory");
    nn_stock_dense_read(p, &d->k);
    d->name = "dense";
    *self = d;
    return NN_OK;
}

static void dense_free_pds(dense *d)
{
    nn_dnnl_pd_free(&d->fwd_pd);
    nn_dnnl_pd_free(&d->bwd_data_pd);
    nn_dnnl_pd_free(&d->bwd_w_pd);
}

static void dense_destroy(void *self)
{
    dense *d = self;
    nn_dnnl_op *ops[] = {&d->r_x, &d->r_w, &d->fwd, &d->bwd_data, &d->bwd_w};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        nn_dnnl_op_destroy(ops[i]);
    dense_free_pds(d);
    nn_dnnl_out_destroy(&d->out);
    free(d);
}

/* a primitive descriptor with a user scratchpad (and a post-op unless act is none) */
static int make_pd(dnnl_primitive_desc_t *pd, const void *desc, int act,
                   const_dnnl_primitive_desc_t hint, const char *L, const char *what,
                   nn_error *err)
{
    dnnl_primitive_attr_t attr;
    NN_DNNL_TRY(err, L, "primitive attributes", nn_dnnl_attr(&attr, act));
    nn_dnnl_pd_free(pd);
    dnnl_status_t st = nn_dnnl_pd_create(pd, desc, attr, hint);
    dnnl_primitive_attr_destroy(attr);
    return st == dnnl_success ? NN_OK : nn_dnnl_fail(err, st, L, what);
}

/* every primitive descriptor, made once here: src and dst plain (row-major) in the compute
 * type, weights plain in f32 and as oneDNN likes them in bf16, gradients of the f32 parameters
 * in f32 */
static int dense_plan(dense *d, const nn_tensor *x, nn_error *err)
{
    const char *L = d->name;
    int64_t in = x->shape[1], wdims[2] = {d->k.units, in}, odims[2] = {x->shape[0], d->k.units};
    dnnl_memory_desc_t yp, wany;
    nn_dnnl_md_dims(&d->w_md, 2, wdims);
    nn_dnnl_md_dims(&d->b_md, 1, &d->k.units);
    nn_dnnl_md_dims(&yp, 2, odims);
    yp = nn_dnnl_md_retype(&yp, d->dt);
    nn_dnnl_md_dims(&d->xp_md, 2, x->shape);
    d->xp_md = nn_dnnl_md_retype(&d->xp_md, d->dt);
    wany = d->w_md;
    if (d->dt != dnnl_f32) {
        dnnl_dims_t wd = {d->k.units, in};
        NN_DNNL_TRY(err, L, "memory descriptor",
                    dnnl_memory_desc_init_by_tag(&wany, 2, wd, d->dt, dnnl_format_tag_any));
    }
    dnnl_inner_product_desc_t id;
    const dnnl_memory_desc_t *b = d->k.bias ? &d->b_md : NULL;
    int rc;
    /* inner product applies post-ops in its jit output kernel: the activation fuses */
    nn_dnnl_act_init(&d->out.act, d->k.activation, d->training, 1);
    NN_DNNL_TRY(err, L, "inner product forward descriptor",
                dnnl_inner_product_forward_desc_init(
                    &id, d->training ? dnnl_forward_training : dnnl_forward_inference, &d->xp_md,
                    &wany, b, &yp));
    if ((rc = make_pd(&d->fwd_pd, &id, nn_dnnl_act_postop(&d->out.act), NULL, L,
                      "inner product forward", err)))
        return rc;
    d->wp_md = *dnnl_primitive_desc_query_md(d->fwd_pd, dnnl_query_weights_md, 0);
    if (!d->training)
        return NN_OK;
    NN_DNNL_TRY(err, L, "inner product backward-data descriptor",
                dnnl_inner_product_backward_data_desc_init(&id, &d->x_md, &d->wp_md, &yp));
    if ((rc = make_pd(&d->bwd_data_pd, &id, NN_ACT_NONE, d->fwd_pd, L,
                      "inner product backward-data", err)))
        return rc;
    NN_DNNL_TRY(err, L, "inner product backward-weights descriptor",
                dnnl_inner_product_backward_weights_desc_init(&id, &d->xp_md, &d->w_md, b, &yp));
    return make_pd(&d->bwd_w_pd, &id, NN_ACT_NONE, d->fwd_pd, L, "inner product backward-weights",
                   err);
}

static int dense_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    dense *d = self;
    d->name = s->layer_name ? s->layer_name : "dense";
    d->training = s->training;
    int rc = nn_stock_dense_setup(&d->k, d->name, s, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    if ((rc = nn_dnnl_init(d->name, err)) ||
        (rc = nn_dnnl_precision(s->precision, &d->dt, d->name, err)))
        return rc;
    /* the input in its producer's layout (a bf16 activation), else plain f32 */
    if (nn_dnnl_layout_get(x, &d->x_md))
        s->layout_accept |= 1u;
    else if ((rc = nn_dnnl_md_tensor(&d->x_md, x, d->name, err)))
        return rc;
    if ((rc = dense_plan(d, x, err)) ||
        (rc = nn_dnnl_out_setup(&d->out,
                                dnnl_primitive_desc_query_md(d->fwd_pd, dnnl_query_dst_md, 0),
                                d->training, s, err)))
        return rc;
    size_t pad = nn_dnnl_scratchpad_size(d->fwd_pd), p2 = nn_dnnl_scratchpad_size(d->bwd_w_pd),
           p3 = nn_dnnl_scratchpad_size(d->bwd_data_pd);
    pad = pad > p2 ? pad : p2;
    pad = pad > p3 ? pad : p3;
    nn_buffer_kind keep = d->training ? NN_BUF_SAVED : NN_BUF_WORKSPACE;
    d->b_xb = d->b_wb = d->b_pad = -1;
    if ((!dnnl_memory_desc_equal(&d->xp_md, &d->x_md) &&
         (d->b_xb = nn_dnnl_add_buffer(s, "src_copy", keep,
                                       dnnl_memory_desc_get_size(&d->xp_md))) < 0) ||
        (!dnnl_memory_desc_equal(&d->wp_md, &d->w_md) &&
         (d->b_wb = nn_dnnl_add_buffer(s, "weight_copy", keep,
                                       dnnl_memory_desc_get_size(&d->wp_md))) < 0) ||
        (pad && (d->b_pad = nn_dnnl_add_buffer(s, "scratchpad", NN_BUF_WORKSPACE, pad)) < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared", d->name);
    return NN_OK;
}

static const nn_tensor *buf_or(const nn_layer_io *io, int b, const nn_tensor *t)
{
    return b >= 0 && io->buffers[b] ? io->buffers[b] : t;
}

/* backward primitives need grad_output and the gradient tensors, which a plan gives to
 * bind(); built here once (or on the first backward if bind did not have them) */
static int dense_build_backward(dense *d, const nn_layer_io *io, nn_error *err)
{
    const char *L = d->name;
    if (!d->bwd_w_pd)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    const nn_tensor *dz = nn_dnnl_out_dz(&d->out, io), *pad = buf_or(io, d->b_pad, NULL);
    const nn_tensor *x = buf_or(io, d->b_xb, io->inputs[0]);
    int rc;
    if (io->grad_inputs[0] &&
        ((rc = nn_dnnl_op_create(&d->bwd_data, d->bwd_data_pd, "inner product backward-data", L,
                                 err)) ||
         (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_DIFF_DST, dz, L, err)) ||
         (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_WEIGHTS,
                                 buf_or(io, d->b_wb, io->params[P_WEIGHT]), L, err)) ||
         (rc = nn_dnnl_op_tensor(&d->bwd_data, d->bwd_data_pd, DNNL_ARG_DIFF_SRC,
                                 io->grad_inputs[0], L, err)) ||
         (rc = nn_dnnl_op_scratchpad(&d->bwd_data, d->bwd_data_pd, pad, L, err))))
        return rc;
    if ((rc = nn_dnnl_op_create(&d->bwd_w, d->bwd_w_pd, "inner product backward-weights", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_DIFF_DST, dz, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->bwd_w, d->bwd_w_pd, DNNL_ARG_DIFF_WEIGHTS,
                                io->param_grads[P_WEIGHT], L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&d->bwd_w, d->bwd_w_pd, pad, L, err)))
        return rc;
    if (d->k.bias &&
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
    const int bufs[] = {d->b_xb, d->b_wb, d->b_pad};
    for (int i = 0; i < 3; i++)
        if (bufs[i] >= 0 && !io->buffers[bufs[i]])
            return nn_error_set(err, NN_EINVAL, "layer '%s': the plan gave no buffer %d", L,
                                bufs[i]);
    if (!io->inputs[0]->layout) {
        dnnl_memory_desc_t given;
        if ((rc = nn_dnnl_md_tensor(&given, io->inputs[0], L, err)))
            return rc;
        if (!dnnl_memory_desc_equal(&given, &d->x_md))
            return nn_error_set(err, NN_ENOTSUP,
                                "layer '%s': input '%s' is not contiguous; dense needs a plain "
                                "layout", L, io->inputs[0]->name ? io->inputs[0]->name : "?");
    }
    const nn_tensor *x = io->inputs[0], *w = io->params[P_WEIGHT];
    const nn_tensor *xb = buf_or(io, d->b_xb, x), *wb = buf_or(io, d->b_wb, w);
    if ((xb != x && (rc = nn_dnnl_reorder_op(&d->r_x, &d->x_md, x, &d->xp_md, xb, L, err))) ||
        (wb != w && (rc = nn_dnnl_reorder_op(&d->r_w, &d->w_md, w, &d->wp_md, wb, L, err))) ||
        (rc = nn_dnnl_op_create(&d->fwd, d->fwd_pd, "inner product forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_SRC, xb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_WEIGHTS, wb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_DST, nn_dnnl_out_dst(&d->out, io),
                                L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&d->fwd, d->fwd_pd, buf_or(io, d->b_pad, NULL), L, err)))
        return rc;
    if (d->k.bias && (rc = nn_dnnl_op_tensor(&d->fwd, d->fwd_pd, DNNL_ARG_BIAS,
                                           io->params[P_BIAS], L, err)))
        return rc;
    if ((rc = nn_dnnl_out_bind(&d->out, io, L, err)))
        return rc;
    if (d->training && io->grad_output && io->param_grads[P_WEIGHT])
        return dense_build_backward(d, io, err);
    return NN_OK;
}

static int run_if(nn_dnnl_op *op, const char *layer, nn_error *err)
{
    return op->prim ? nn_dnnl_op_run(op, layer, err) : NN_OK;
}

static int dense_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    dense *d = self;
    int rc;
    if (!d->fwd.prim && (rc = dense_bind(self, io, err)))
        return rc;
    if ((rc = run_if(&d->r_x, d->name, err)) || (rc = run_if(&d->r_w, d->name, err)) ||
        (rc = nn_dnnl_op_run(&d->fwd, d->name, err)))
        return rc;
    return nn_dnnl_out_forward(&d->out, d->name, err);
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
    if (!nn_dnnl_out_backward(&d->out, io, d->name, err))
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
    const char *z = d->k.activation == NN_ACT_NONE ? x->output : nn_export_value(g, "linear");
    nn_export_linear(g, NULL, x->inputs[0], 2, x->params[P_WEIGHT],
                     d->k.bias ? x->params[P_BIAS] : NULL, z);
    if (d->k.activation != NN_ACT_NONE)
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
    .caps = NN_CAP_BACKWARD | NN_CAP_SPLIT_UNITS, .params = dense_params, .vtable = &dense_vtable);

NN_PLUGIN_EXPORT(&dense_desc);
