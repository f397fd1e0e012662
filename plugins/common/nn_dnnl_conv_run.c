/* nn_dnnl_conv_run.c: the convolution's primitives bound once to the plan's tensors in bind,
 * and run in forward and backward in the order nn_dnnl_conv_internal.h draws. Never allocates
 * in forward/backward (nn_dnnl_op_run binds nothing new in steady state). */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl_conv_internal.h"

/* the tensor of buffer role r, or `plain` when the layer declared none */
static const nn_tensor *buf_or(const nn_dnnl_conv *cv, const nn_layer_io *io, int r,
                               const nn_tensor *plain)
{
    return cv->buf[r] >= 0 && io->buffers[cv->buf[r]] ? io->buffers[cv->buf[r]] : plain;
}

static int same(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    return dnnl_memory_desc_equal(a, b) != 0;
}

static int bind_backward(nn_dnnl_conv *cv, const nn_layer_io *io, nn_error *err)
{
    const char *L = cv->name;
    const nn_tensor *x = io->inputs[0], *dw = io->param_grads[P_WEIGHT];
    const nn_tensor *scra = buf_or(cv, io, CB_SCRA, NULL);
    const nn_tensor *scrb = buf_or(cv, io, CB_SCRB, NULL), *pad = buf_or(cv, io, CB_PAD, NULL);
    int rc;
    if (!cv->bwd_w_pd)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    /* dLoss/dz in the forward's layout, once nn_dnnl_out_backward has run */
    const nn_tensor *dyp = nn_dnnl_out_dz(&cv->out, io);
    /* dLoss/dz as plain f32, for the plain backward primitives */
    const nn_tensor *dyq = dyp;
    if ((cv->bwd_w_plain || (cv->bwd_d_plain && io->grad_inputs[0])) &&
        !same(&cv->yp_md, &cv->yq_md)) {
        if ((rc = nn_dnnl_reorder_op(&cv->r_dyq, &cv->yp_md, dyp, &cv->yq_md, scra, L, err)))
            return rc;
        dyq = scra;
    }
    /* backward-weights */
    const nn_tensor *dwt = dw, *src = x;
    if (cv->bwd_w_own) {
        if (cv->bwd_w_own == OWN_PLAIN_X && x->layout)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': own backward-weights needs a "
                                "plain input", L);
        goto data;
    }
    if (cv->bwd_w_xr) {
        src = scra;
        if ((rc = nn_dnnl_reorder_op(&cv->r_xw, &cv->x_md, x, &cv->xw_md, src, L, err)))
            return rc;
        if (!same(&cv->dwp_md, &cv->w_md))
            dwt = scrb;
    } else if (!cv->bwd_w_plain) {
        src = buf_or(cv, io, CB_XB, x);
        if (!same(&cv->dwp_md, &cv->w_md))
            dwt = scrb;
    }
    if ((rc = nn_dnnl_op_create(&cv->bwd_w, cv->bwd_w_pd, "convolution backward-weights", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_SRC, src, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_DST,
                                cv->bwd_w_plain ? dyq : dyp, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_WEIGHTS, dwt, L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&cv->bwd_w, cv->bwd_w_pd, pad, L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_BIAS,
                                              io->param_grads[P_BIAS], L, err)))
        return rc;
    if (dwt != dw &&
        (rc = nn_dnnl_reorder_op(&cv->r_dw, &cv->dwp_md, scrb, &cv->w_md, dw, L, err)))
        return rc;
data:
    cv->bwd_bound = 1;
    if (!io->grad_inputs[0])
        return NN_OK;
    if (!cv->need_dx)
        return nn_error_set(err, NN_EINVAL, "layer '%s': the plan asks for the input gradient "
                            "after its setup said it never would (input_grad_unused)", L);
    /* backward-data */
    const nn_tensor *w = io->params[P_WEIGHT], *wd = w, *ddy = dyp;
    const dnnl_memory_desc_t *dxm = &cv->xq_md;
    if (cv->bwd_d_plain) {
        ddy = dyq;
    } else {
        dxm = &cv->xp_md;
        if (same(&cv->wd_md, &cv->wp_md))
            wd = buf_or(cv, io, CB_WB, w);
        else if (!same(&cv->wd_md, &cv->w_md)) {
            wd = scra;
            if ((rc = nn_dnnl_reorder_op(&cv->r_wd, &cv->w_md, w, &cv->wd_md, wd, L, err)))
                return rc;
        }
    }
    const nn_tensor *dx = same(dxm, &cv->x_md) ? io->grad_inputs[0] : scrb;
    if ((rc = nn_dnnl_op_create(&cv->bwd_d, cv->bwd_d_pd, "convolution backward-data", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_DIFF_DST, ddy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_WEIGHTS, wd, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_DIFF_SRC, dx, L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&cv->bwd_d, cv->bwd_d_pd, pad, L, err)))
        return rc;
    if (dx != io->grad_inputs[0] &&
        (rc = nn_dnnl_reorder_op(&cv->r_dx, dxm, dx, &cv->x_md, io->grad_inputs[0], L, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_conv_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    const nn_tensor *x = io->inputs[0], *w = io->params[P_WEIGHT];
    int rc;
    if (!x->layout) {
        dnnl_memory_desc_t given;
        if ((rc = nn_dnnl_md_tensor(&given, x, L, err)))
            return rc;
        if (!same(&given, &cv->xq_md))
            return nn_error_set(err, NN_ENOTSUP,
                                "layer '%s': input '%s' is not contiguous; %s needs a plain "
                                "layout", L, x->name ? x->name : "?", cv->kind);
    }
    for (int r = 0; r < CB_COUNT; r++)
        if (cv->buf[r] >= 0 && !io->buffers[cv->buf[r]])
            return nn_error_set(err, NN_EINVAL, "layer '%s': the plan gave no buffer %d", L,
                                cv->buf[r]);
    const nn_tensor *xb = buf_or(cv, io, CB_XB, x), *wb = buf_or(cv, io, CB_WB, w);
    const nn_tensor *pad = buf_or(cv, io, CB_PAD, NULL), *zt = nn_dnnl_out_dst(&cv->out, io);
    if ((xb != x && (rc = nn_dnnl_reorder_op(&cv->r_x, &cv->x_md, x, &cv->xp_md, xb, L, err))) ||
        (wb != w && (rc = nn_dnnl_reorder_op(&cv->r_w, &cv->w_md, w, &cv->wp_md, wb, L, err))))
        return rc;
    if ((rc = nn_dnnl_op_create(&cv->fwd, cv->fwd_pd, "convolution forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_SRC, xb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_WEIGHTS, wb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_DST, zt, L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&cv->fwd, cv->fwd_pd, pad, L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_BIAS,
                                              io->params[P_BIAS], L, err)))
        return rc;
    if ((rc = nn_dnnl_out_bind(&cv->out, io, L, err)))
        return rc;
    if (cv->training && io->grad_output && io->param_grads[P_WEIGHT])
        return bind_backward(cv, io, err);
    return NN_OK;
}

static int run_if(nn_dnnl_op *op, const char *layer, nn_error *err)
{
    return op->prim ? nn_dnnl_op_run(op, layer, err) : NN_OK;
}

int nn_dnnl_conv_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    int rc;
    if (!cv->fwd.prim && (rc = nn_dnnl_conv_bind(self, io, err)))
        return rc;
    if ((rc = run_if(&cv->r_x, L, err)) || (rc = run_if(&cv->r_w, L, err)) ||
        (rc = nn_dnnl_op_run(&cv->fwd, L, err)))
        return rc;
    return nn_dnnl_out_forward(&cv->out, L, err);
}

int nn_dnnl_conv_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    int rc;
    if (!cv->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    if (!cv->bwd_bound && (rc = bind_backward(cv, io, err)))
        return rc;
    if (!nn_dnnl_out_backward(&cv->out, io, L, err))
        return err ? err->status : NN_EINTERNAL;
    /* plain dLoss/dz is made before backward-weights only when that reads it: else scrA may
     * hold the input for it (xr) and only a plain backward-data needs it */
    int dyq_first = cv->bwd_w_plain;
    float *db = cv->c.bias ? nn_dnnl_f32(io->param_grads[P_BIAS]) : NULL;
    if (cv->bwd_w_own == OWN_PLAIN_X)
        nn_conv_bwdw_blk(&cv->bw_geom, nn_dnnl_f32(io->inputs[0]),
                         nn_dnnl_f32(nn_dnnl_out_dz(&cv->out, io)),
                         nn_dnnl_f32(io->param_grads[P_WEIGHT]), db);
    else if (cv->bwd_w_own == OWN_BLOCKED_X)
        nn_conv_bwdw_nchwc(&cv->bw_geom, nn_dnnl_f32(buf_or(cv, io, CB_XB, io->inputs[0])),
                           nn_dnnl_f32(nn_dnnl_out_dz(&cv->out, io)),
                           nn_dnnl_f32(io->param_grads[P_WEIGHT]), db);
    else if ((dyq_first && (rc = run_if(&cv->r_dyq, L, err))) ||
             (rc = run_if(&cv->r_xw, L, err)) || (rc = nn_dnnl_op_run(&cv->bwd_w, L, err)) ||
             (rc = run_if(&cv->r_dw, L, err)))
        return rc;
    if (!io->grad_inputs[0])
        return NN_OK;
    if (!cv->bwd_d.prim)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': an input gradient was asked for but the plan bound none",
                            L);
    if ((!dyq_first && (rc = run_if(&cv->r_dyq, L, err))) || (rc = run_if(&cv->r_wd, L, err)) ||
        (rc = nn_dnnl_op_run(&cv->bwd_d, L, err)))
        return rc;
    return run_if(&cv->r_dx, L, err);
}
