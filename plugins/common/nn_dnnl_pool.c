/* nn_dnnl_pool.c: 2-D pooling behind maxpool2d, avgpool2d and global_avgpool: key parsing,
 * shapes, oneDNN pooling primitives built once (max keeps its argmax workspace in a SAVED
 * buffer for backward). Never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl.h"

#include <stdlib.h>

struct nn_dnnl_pool {
    int mode;
    const char *kind; /* plugin name, for messages */
    const char *name;
    int training;
    int64_t kernel[2], stride[2], pad[2];
    int include_pad;
    int64_t pad_r[2];     /* the right/bottom padding the output size uses */
    int64_t in_dims[4], out_dims[4];
    int buf_ws;           /* SAVED workspace (max pooling in training), -1 when none */
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op fwd, bwd;
};

static const char *const mode_names[] = {"maxpool2d", "avgpool2d", "global_avgpool"};

int nn_dnnl_pool_create(int mode, const nn_params *p, void **self, nn_error *err)
{
    const char *kind = mode_names[mode];
    nn_dnnl_pool *pl = calloc(1, sizeof *pl);
    if (!pl)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", kind);
    pl->mode = mode;
    pl->kind = pl->name = kind;
    pl->buf_ws = -1;
    if (mode != NN_POOL_GLOBAL_AVG) {
        int rc;
        if ((rc = nn_dnnl_int_list(p, "kernel", 2, pl->kernel, kind, err)) ||
            (rc = nn_dnnl_int_list(p, "padding", 2, pl->pad, kind, err))) {
            free(pl);
            return rc;
        }
        if (nn_params_has(p, "stride")) {
            if ((rc = nn_dnnl_int_list(p, "stride", 2, pl->stride, kind, err))) {
                free(pl);
                return rc;
            }
        } else {
            pl->stride[0] = pl->kernel[0];
            pl->stride[1] = pl->kernel[1];
        }
        for (int i = 0; i < 2; i++)
            if (pl->pad[i] * 2 > pl->kernel[i]) {
                nn_error_set(err, NN_EINVAL,
                             "%s: %s: key 'padding' = %lld is more than half the kernel (%lld): "
                             "a window could lie entirely in the padding",
                             nn_params_origin(p), kind, (long long)pl->pad[i],
                             (long long)pl->kernel[i]);
                free(pl);
                return NN_EINVAL;
            }
        if (mode == NN_POOL_AVG)
            pl->include_pad = nn_params_bool(p, "count_include_pad");
    }
    *self = pl;
    return NN_OK;
}

void nn_dnnl_pool_destroy(void *self)
{
    nn_dnnl_pool *pl = self;
    nn_dnnl_op_destroy(&pl->fwd);
    nn_dnnl_op_destroy(&pl->bwd);
    nn_dnnl_pd_free(&pl->fwd_pd);
    nn_dnnl_pd_free(&pl->bwd_pd);
    free(pl);
}

static dnnl_alg_kind_t pool_alg(const nn_dnnl_pool *pl)
{
    if (pl->mode == NN_POOL_MAX)
        return dnnl_pooling_max;
    return pl->include_pad || pl->mode == NN_POOL_GLOBAL_AVG ? dnnl_pooling_avg_include_padding
                                                             : dnnl_pooling_avg_exclude_padding;
}

/* the forward descriptor; made in setup, where max pooling must learn its workspace size */
static int pool_fwd_pd(nn_dnnl_pool *pl, nn_error *err)
{
    const char *L = pl->name;
    dnnl_pooling_desc_t d;
    dnnl_dims_t st = {pl->stride[0], pl->stride[1]}, k = {pl->kernel[0], pl->kernel[1]};
    dnnl_dims_t pa = {pl->pad[0], pl->pad[1]}, pr = {pl->pad_r[0], pl->pad_r[1]};
    NN_DNNL_TRY(err, L, "pooling forward descriptor",
                dnnl_pooling_forward_desc_init(
                    &d, pl->training ? dnnl_forward_training : dnnl_forward_inference,
                    pool_alg(pl), &pl->src_md, &pl->dst_md, st, k, pa, pr));
    nn_dnnl_pd_free(&pl->fwd_pd);
    NN_DNNL_TRY(err, L, "pooling forward",
                dnnl_primitive_desc_create(&pl->fwd_pd, &d, NULL, nn_dnnl_engine(), NULL));
    return NN_OK;
}

int nn_dnnl_pool_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    nn_dnnl_pool *pl = self;
    const char *L = pl->name = s->layer_name ? s->layer_name : pl->kind;
    pl->training = s->training;
    char buf[96];
    int rc;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, pl->kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 4)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s expects an [N, C, H, W] input, got %s",
                            L, pl->kind, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': %s supports float32 (F32) input only",
                            L, pl->kind);
    if ((rc = nn_dnnl_init(L, err)))
        return rc;
    for (int i = 0; i < 4; i++)
        pl->in_dims[i] = pl->out_dims[i] = x->shape[i];
    if (pl->mode == NN_POOL_GLOBAL_AVG) {
        pl->kernel[0] = x->shape[2];
        pl->kernel[1] = x->shape[3];
        pl->stride[0] = pl->stride[1] = 1;
    }
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i], avail = in + 2 * pl->pad[i] - pl->kernel[i];
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s': input %s is smaller than the %s kernel %lldx%lld "
                                "plus padding %lld",
                                L, nn_shape_str(x, buf, sizeof buf), pl->kind,
                                (long long)pl->kernel[0], (long long)pl->kernel[1],
                                (long long)pl->pad[i]);
        int64_t out = avail / pl->stride[i] + 1;
        int64_t used = (out - 1) * pl->stride[i] + pl->kernel[i] - in - pl->pad[i];
        pl->pad_r[i] = used > 0 ? used : 0;
        pl->out_dims[2 + i] = out;
    }
    if ((rc = nn_dnnl_md_tensor(&pl->src_md, x, L, err)))
        return rc;
    nn_dnnl_md_dims(&pl->dst_md, 4, pl->out_dims);
    if (pl->mode == NN_POOL_GLOBAL_AVG)
        nn_tensor_describe(&s->output, NN_F32, 2, pl->out_dims);
    else
        nn_tensor_describe(&s->output, NN_F32, 4, pl->out_dims);
    s->flops = (uint64_t)(nn_shape_numel(4, pl->out_dims) * pl->kernel[0] * pl->kernel[1]);
    if ((rc = pool_fwd_pd(pl, err)))
        return rc;
    size_t ws = nn_dnnl_arg_size(pl->fwd_pd, DNNL_ARG_WORKSPACE);
    if (ws > 0) {
        int64_t n = (int64_t)ws;
        pl->buf_ws = nn_layer_add_buffer(s, "argmax", NN_BUF_SAVED, NN_U8, 1, &n);
        if (pl->buf_ws < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare a buffer", L);
    }
    return NN_OK;
}

static int pool_build_backward(nn_dnnl_pool *pl, const nn_layer_io *io, nn_error *err)
{
    const char *L = pl->name;
    dnnl_memory_desc_t dsrc_md, ddst_md;
    nn_dnnl_md_dims(&dsrc_md, 4, pl->in_dims);
    nn_dnnl_md_dims(&ddst_md, 4, pl->out_dims);
    dnnl_pooling_desc_t d;
    dnnl_dims_t st = {pl->stride[0], pl->stride[1]}, k = {pl->kernel[0], pl->kernel[1]};
    dnnl_dims_t pa = {pl->pad[0], pl->pad[1]}, pr = {pl->pad_r[0], pl->pad_r[1]};
    NN_DNNL_TRY(err, L, "pooling backward descriptor",
                dnnl_pooling_backward_desc_init(&d, pool_alg(pl), &dsrc_md, &ddst_md, st, k, pa,
                                                pr));
    nn_dnnl_pd_free(&pl->bwd_pd);
    NN_DNNL_TRY(err, L, "pooling backward",
                dnnl_primitive_desc_create(&pl->bwd_pd, &d, NULL, nn_dnnl_engine(), pl->fwd_pd));
    int rc;
    if ((rc = nn_dnnl_op_create(&pl->bwd, pl->bwd_pd, "pooling backward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_DIFF_DST, io->grad_output, L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_DIFF_SRC, io->grad_inputs[0], L,
                                err)))
        return rc;
    if (pl->buf_ws >= 0 &&
        (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_WORKSPACE,
                                io->buffers[pl->buf_ws], L, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_pool_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_pool *pl = self;
    const char *L = pl->name;
    int rc;
    if ((rc = nn_dnnl_init(L, err)))
        return rc;
    if ((rc = nn_dnnl_op_create(&pl->fwd, pl->fwd_pd, "pooling forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_SRC, io->inputs[0], L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_DST, io->output, L, err)))
        return rc;
    if (pl->buf_ws >= 0) {
        if (!io->buffers[pl->buf_ws])
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': the training plan gave no 'argmax' buffer", L);
        if ((rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_WORKSPACE,
                                    io->buffers[pl->buf_ws], L, err)))
            return rc;
    }
    if (pl->training && io->grad_output && io->grad_inputs[0])
        return pool_build_backward(pl, io, err);
    return NN_OK;
}

int nn_dnnl_pool_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_pool *pl = self;
    int rc;
    if (!pl->fwd.prim && (rc = nn_dnnl_pool_bind(self, io, err)))
        return rc;
    return nn_dnnl_op_run(&pl->fwd, pl->name, err);
}

int nn_dnnl_pool_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_pool *pl = self;
    int rc;
    if (!io->grad_inputs[0])
        return NN_OK; /* no parameters: nothing else to compute */
    if (!pl->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference",
                            pl->name);
    if (!pl->bwd.prim && (rc = pool_build_backward(pl, io, err)))
        return rc;
    return nn_dnnl_op_run(&pl->bwd, pl->name, err);
}
