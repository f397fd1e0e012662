/* nn_dnnl_pool.c: 2-D pooling behind maxpool2d, avgpool2d and global_avgpool: key parsing,
 * shapes, and oneDNN pooling primitives made in setup and bound once in bind. Max pooling keeps
 * its argmax workspace in a SAVED buffer for backward. Never allocates in forward/backward.
 *
 * Layouts: oneDNN 2.6 has jit pooling kernels only for blocked (nChw8c on AVX2, nChw16c on
 * AVX-512) or nhwc data; on plain nchw it runs `simple_nchw`, measured 30-50x slower (the
 * CNN's first pool: 100+ ms per call at batch 128 against 2-3 ms). So the primitive runs on the
 * layout the producer offers (tensor.h, nn_layout) when that gets a jit kernel, else on the
 * first of those that does, reordering at the edges that stay plain; its output is offered
 * onward in the same layout. A global average pool's [N, C] output is always plain.
 *
 * Max pooling in f32 or bf16 on nChw8c, nChw16c or nhwc runs our own loops (nn_maxpool_blk.c:
 * oneDNN 2.6's AVX2 kernels were 2-6x slower than memory allows, its AVX-512 bf16 ones on nhwc
 * 3x), which recompute the argmax in backward from the input instead of keeping a workspace:
 * the input is the producer's output, kept for the producer's backward anyway (so only where
 * the input comes in one of those layouts). */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl.h"
#include "nn_maxpool_blk.h"

#include <stdlib.h>

struct nn_dnnl_pool {
    int mode;
    const char *kind; /* plugin name, for messages */
    const char *name;
    int training;
    int64_t kernel[2], stride[2], pad[2];
    int include_pad;
    int64_t pad_r[2];        /* the right/bottom padding the output size uses */
    int64_t in_dims[4], out_dims[4];
    dnnl_data_type_t dt;     /* f32, or bf16 under [train] precision = bf16 */
    int re_x, re_y;          /* the primitive's layout differs from the input's / output's */
    int b_ws, b_x, b_y, b_scr; /* buffer indices, -1 when absent */
    int own;                   /* max pooling by nn_maxpool_blk.c (its lanes in geom) */
    int relu;                  /* own: the input is a ReLU's, whose derivative backward applies */
    int bound;                 /* own: bind has run */
    nn_maxpool_geom geom;
    dnnl_memory_desc_t x_md, y_md;   /* as the tensors cross the ABI (an accepted layout) */
    dnnl_memory_desc_t xp_md, yp_md; /* what the primitives run on */
    nn_layout offer;                 /* yp_md, offered to the consumer */
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op r_x, fwd, r_y, r_dy, bwd, r_dx;
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
    if (mode != NN_POOL_GLOBAL_AVG) {
        int rc;
        if ((rc = nn_stock_int_list(p, "kernel", 2, pl->kernel, kind, err)) ||
            (rc = nn_stock_int_list(p, "padding", 2, pl->pad, kind, err))) {
            free(pl);
            return rc;
        }
        if (nn_params_has(p, "stride")) {
            if ((rc = nn_stock_int_list(p, "stride", 2, pl->stride, kind, err))) {
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
    nn_dnnl_op *ops[] = {&pl->r_x, &pl->fwd, &pl->r_y, &pl->r_dy, &pl->bwd, &pl->r_dx};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        nn_dnnl_op_destroy(ops[i]);
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

/* the forward descriptor on src layout x (dst: oneDNN's choice); dnnl_success or why not */
static dnnl_status_t pool_try(nn_dnnl_pool *pl, const dnnl_memory_desc_t *x)
{
    dnnl_pooling_desc_t d;
    dnnl_dims_t st = {pl->stride[0], pl->stride[1]}, k = {pl->kernel[0], pl->kernel[1]};
    dnnl_dims_t pa = {pl->pad[0], pl->pad[1]}, pr = {pl->pad_r[0], pl->pad_r[1]};
    dnnl_memory_desc_t y;
    dnnl_dims_t yd = {pl->out_dims[0], pl->out_dims[1], pl->out_dims[2], pl->out_dims[3]};
    dnnl_status_t s;
    dnnl_primitive_attr_t attr;
    if ((s = dnnl_memory_desc_init_by_tag(&y, 4, yd, pl->dt, dnnl_format_tag_any)) ||
        (s = dnnl_pooling_forward_desc_init(
             &d, pl->training ? dnnl_forward_training : dnnl_forward_inference, pool_alg(pl), x,
             &y, st, k, pa, pr)) ||
        (s = nn_dnnl_attr(&attr, NN_ACT_NONE)))
        return s;
    nn_dnnl_pd_free(&pl->fwd_pd);
    s = nn_dnnl_pd_create(&pl->fwd_pd, &d, attr, NULL);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* chooses the layout the primitive runs on: the input's when oneDNN has a jit kernel for it,
 * else the first jit-capable candidate, else the input's with whatever kernel there is */
static int pool_plan(nn_dnnl_pool *pl, nn_error *err)
{
    const char *L = pl->name;
    static const dnnl_format_tag_t cand[] = {dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc};
    dnnl_dims_t xd = {pl->in_dims[0], pl->in_dims[1], pl->in_dims[2], pl->in_dims[3]};
    dnnl_memory_desc_t xin = nn_dnnl_md_retype(&pl->x_md, pl->dt); /* its layout, our type */
    dnnl_status_t s = pool_try(pl, &xin);
    pl->xp_md = xin;
    /* a global average pool's [N, C] output wants a dst that is plain already; a plain input
     * stays plain: a blocked copy would cost a reorder each way, and the plain kernel sums
     * overlapping windows' gradients in the order the reference (and the sim pack) does */
    int global = pl->mode == NN_POOL_GLOBAL_AVG;
    if (global || (s == dnnl_success && (nn_dnnl_impl_is(pl->fwd_pd, "jit") ||
                                         nn_dnnl_md_is_plain(&pl->x_md))))
        goto chosen;
    for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) {
        dnnl_memory_desc_t c;
        if (dnnl_memory_desc_init_by_tag(&c, 4, xd, pl->dt, cand[i]) != dnnl_success ||
            pool_try(pl, &c) != dnnl_success)
            continue;
        if (nn_dnnl_impl_is(pl->fwd_pd, "jit")) {
            pl->xp_md = c;
            goto chosen;
        }
    }
    s = pool_try(pl, &xin);
chosen:
    if (s != dnnl_success)
        return nn_dnnl_fail(err, s, L, "pooling forward");
    pl->yp_md = *dnnl_primitive_desc_query_md(pl->fwd_pd, dnnl_query_dst_md, 0);
    if (global && !nn_dnnl_md_is_plain(&pl->yp_md)) {
        /* force the plain dst: the output is 2-D */
        dnnl_pooling_desc_t d;
        dnnl_dims_t st = {1, 1}, k = {pl->kernel[0], pl->kernel[1]}, z = {0, 0};
        dnnl_memory_desc_t y;
        dnnl_dims_t yd = {pl->out_dims[0], pl->out_dims[1], 1, 1};
        dnnl_primitive_attr_t attr;
        NN_DNNL_TRY(err, L, "pooling forward",
                    dnnl_memory_desc_init_by_tag(&y, 4, yd, pl->dt, dnnl_nchw));
        NN_DNNL_TRY(err, L, "pooling forward descriptor",
                    dnnl_pooling_forward_desc_init(&d,
                                                   pl->training ? dnnl_forward_training
                                                                : dnnl_forward_inference,
                                                   pool_alg(pl), &pl->xp_md, &y, st, k, z, z));
        NN_DNNL_TRY(err, L, "primitive attributes", nn_dnnl_attr(&attr, NN_ACT_NONE));
        nn_dnnl_pd_free(&pl->fwd_pd);
        s = nn_dnnl_pd_create(&pl->fwd_pd, &d, attr, NULL);
        dnnl_primitive_attr_destroy(attr);
        if (s != dnnl_success)
            return nn_dnnl_fail(err, s, L, "pooling forward");
        pl->yp_md = y;
    }
    if (!pl->training)
        return NN_OK;
    dnnl_pooling_desc_t d;
    dnnl_dims_t st = {pl->stride[0], pl->stride[1]}, k = {pl->kernel[0], pl->kernel[1]};
    dnnl_dims_t pa = {pl->pad[0], pl->pad[1]}, pr = {pl->pad_r[0], pl->pad_r[1]};
    dnnl_primitive_attr_t attr;
    NN_DNNL_TRY(err, L, "pooling backward descriptor",
                dnnl_pooling_backward_desc_init(&d, pool_alg(pl), &pl->xp_md, &pl->yp_md, st, k,
                                                pa, pr));
    NN_DNNL_TRY(err, L, "primitive attributes", nn_dnnl_attr(&attr, NN_ACT_NONE));
    nn_dnnl_pd_free(&pl->bwd_pd);
    s = nn_dnnl_pd_create(&pl->bwd_pd, &d, attr, pl->fwd_pd);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return nn_dnnl_fail(err, s, L, "pooling backward");
    return NN_OK;
}

/* the planes of md for our max pooling loops (nn_maxpool_blk.h): 8 or 16 lanes for nChw8c and
 * nChw16c, and for nhwc with channels in multiples of 8; 0 for any other layout */
static int pool_planes(const dnnl_memory_desc_t *md, int64_t *planes, int64_t *pix)
{
    int lanes = nn_dnnl_md_channel_lanes(md);
    if (lanes) {
        *planes = md->dims[0] * (md->padded_dims[1] / lanes);
        *pix = lanes;
        return lanes;
    }
    dnnl_memory_desc_t t;
    if (md->ndims != 4 || md->dims[1] % 8 ||
        dnnl_memory_desc_init_by_tag(&t, 4, md->dims, md->data_type, dnnl_nhwc) !=
            dnnl_success ||
        !dnnl_memory_desc_equal(&t, md))
        return 0;
    *planes = md->dims[0];
    *pix = md->dims[1];
    return md->dims[1] % 16 ? 8 : 16;
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
    if ((rc = nn_dnnl_init(L, err)) || (rc = nn_dnnl_precision(s->precision, &pl->dt, L, err)))
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
    /* the input: in the producer's layout when it offers one (taken whatever it is: a reorder
     * from it costs what one from plain costs, and spares the producer its own) */
    if (nn_dnnl_layout_get(x, &pl->x_md))
        s->layout_accept |= 1u;
    else if ((rc = nn_dnnl_md_tensor(&pl->x_md, x, L, err)))
        return rc;
    if ((rc = pool_plan(pl, err)))
        return rc;
    if (pl->mode == NN_POOL_GLOBAL_AVG)
        nn_tensor_describe(&s->output, NN_F32, 2, pl->out_dims);
    else
        nn_tensor_describe(&s->output, NN_F32, 4, pl->out_dims);
    /* the output: offered in the primitive's layout unless that is the plain f32 one */
    nn_dnnl_md_dims(&pl->y_md, 4, pl->out_dims);
    if (pl->mode != NN_POOL_GLOBAL_AVG && !dnnl_memory_desc_equal(&pl->yp_md, &pl->y_md)) {
        nn_dnnl_layout_init(&pl->offer, &pl->yp_md);
        s->output.layout = &pl->offer;
        if (s->output_layout_taken)
            pl->y_md = pl->yp_md;
    }
    pl->re_x = !dnnl_memory_desc_equal(&pl->xp_md, &pl->x_md);
    pl->re_y = !dnnl_memory_desc_equal(&pl->yp_md, &pl->y_md);
    s->flops = (uint64_t)(nn_shape_numel(4, pl->out_dims) * pl->kernel[0] * pl->kernel[1]);

    pl->b_ws = pl->b_x = pl->b_y = pl->b_scr = -1;
    /* our loops where input and output are both nChw8c, both nChw16c or both nhwc */
    int64_t planes = 0, pix = 0, y_planes = 0, y_pix = 0;
    int lanes = pl->mode == NN_POOL_MAX && !pl->re_x ? pool_planes(&pl->xp_md, &planes, &pix) : 0;
    if (lanes != pool_planes(&pl->yp_md, &y_planes, &y_pix) || planes != y_planes ||
        pix != y_pix)
        lanes = 0;
    pl->own = lanes > 0;
    /* a ReLU before us (NN_LAYOUT_RELU): the window's maximum says whether its gradient
     * passes the ReLU, so our backward applies its derivative and the producer skips a pass */
    pl->relu = pl->own && pl->training && x->layout && (x->layout->props & NN_LAYOUT_RELU);
    if (pl->relu)
        s->grad_input_masked |= 1u;
    if (pl->own) {
        pl->geom = (nn_maxpool_geom){
            .planes = planes,
            .ih = pl->in_dims[2], .iw = pl->in_dims[3],
            .oh = pl->out_dims[2], .ow = pl->out_dims[3],
            .kh = pl->kernel[0], .kw = pl->kernel[1], .sh = pl->stride[0], .sw = pl->stride[1],
            .ph = pl->pad[0], .pw = pl->pad[1], .lanes = lanes, .pix = pix,
            .bf16 = pl->dt == dnnl_bf16};
        if (pl->re_y && (pl->b_y = nn_dnnl_add_buffer(s, "dst_reordered", NN_BUF_WORKSPACE,
                                                      dnnl_memory_desc_get_size(&pl->yp_md))) < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare a buffer", L);
        return NN_OK;
    }
    size_t ws = nn_dnnl_arg_size(pl->fwd_pd, DNNL_ARG_WORKSPACE);
    size_t scr = nn_dnnl_scratchpad_size(pl->fwd_pd), sb = nn_dnnl_scratchpad_size(pl->bwd_pd);
    if ((ws > 0 && (pl->b_ws = nn_dnnl_add_buffer(s, "argmax", NN_BUF_SAVED, ws)) < 0) ||
        /* the reordered input (forward) and input gradient (backward) share one buffer, as do
         * the output and its gradient */
        (pl->re_x && (pl->b_x = nn_dnnl_add_buffer(s, "src_reordered", NN_BUF_WORKSPACE,
                                          dnnl_memory_desc_get_size(&pl->xp_md))) < 0) ||
        (pl->re_y && (pl->b_y = nn_dnnl_add_buffer(s, "dst_reordered", NN_BUF_WORKSPACE,
                                          dnnl_memory_desc_get_size(&pl->yp_md))) < 0) ||
        ((scr > 0 || sb > 0) &&
         (pl->b_scr = nn_dnnl_add_buffer(s, "scratchpad", NN_BUF_WORKSPACE, scr > sb ? scr : sb)) < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare a buffer", L);
    return NN_OK;
}

static const nn_tensor *buf(const nn_layer_io *io, int b)
{
    return b >= 0 ? io->buffers[b] : NULL;
}

static int pool_build_backward(nn_dnnl_pool *pl, const nn_layer_io *io, nn_error *err)
{
    const char *L = pl->name;
    if (!pl->bwd_pd)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    const nn_tensor *dy = pl->re_y ? buf(io, pl->b_y) : io->grad_output;
    const nn_tensor *dx = pl->re_x ? buf(io, pl->b_x) : io->grad_inputs[0];
    int rc;
    if (pl->re_y && !pl->r_dy.prim &&
        (rc = nn_dnnl_reorder_op(&pl->r_dy, &pl->y_md, io->grad_output, &pl->yp_md, dy, L, err)))
        return rc;
    if (pl->own)
        return NN_OK; /* nn_maxpool_blk_backward() between the reorders */
    if ((rc = nn_dnnl_op_create(&pl->bwd, pl->bwd_pd, "pooling backward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_DIFF_SRC, dx, L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&pl->bwd, pl->bwd_pd, buf(io, pl->b_scr), L, err)) ||
        (pl->re_x && (rc = nn_dnnl_reorder_op(&pl->r_dx, &pl->xp_md, dx, &pl->x_md,
                                              io->grad_inputs[0], L, err))))
        return rc;
    if (pl->b_ws >= 0 && (rc = nn_dnnl_op_tensor(&pl->bwd, pl->bwd_pd, DNNL_ARG_WORKSPACE,
                                                 buf(io, pl->b_ws), L, err)))
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
    int bufs[] = {pl->b_ws, pl->b_x, pl->b_y, pl->b_scr};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i] >= 0 && !io->buffers[bufs[i]] && (bufs[i] != pl->b_ws || io->training))
            return nn_error_set(err, NN_EINVAL, "layer '%s': the plan gave no buffer %d", L,
                                bufs[i]);
    const nn_tensor *x = pl->re_x ? buf(io, pl->b_x) : io->inputs[0];
    const nn_tensor *y = pl->re_y ? buf(io, pl->b_y) : io->output;
    if (pl->own) {
        pl->bound = 1;
        if (pl->re_y && (rc = nn_dnnl_reorder_op(&pl->r_y, &pl->yp_md, y, &pl->y_md, io->output,
                                                 L, err)))
            return rc;
        if (pl->training && io->grad_output && io->grad_inputs[0])
            return pool_build_backward(pl, io, err);
        return NN_OK;
    }
    if ((pl->re_x && (rc = nn_dnnl_reorder_op(&pl->r_x, &pl->x_md, io->inputs[0], &pl->xp_md, x,
                                              L, err))) ||
        (rc = nn_dnnl_op_create(&pl->fwd, pl->fwd_pd, "pooling forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_DST, y, L, err)) ||
        (rc = nn_dnnl_op_scratchpad(&pl->fwd, pl->fwd_pd, buf(io, pl->b_scr), L, err)) ||
        (pl->re_y && (rc = nn_dnnl_reorder_op(&pl->r_y, &pl->yp_md, y, &pl->y_md, io->output, L,
                                              err))))
        return rc;
    if (pl->b_ws >= 0) {
        if (!io->buffers[pl->b_ws])
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': the training plan gave no 'argmax' buffer", L);
        if ((rc = nn_dnnl_op_tensor(&pl->fwd, pl->fwd_pd, DNNL_ARG_WORKSPACE,
                                    io->buffers[pl->b_ws], L, err)))
            return rc;
    }
    if (pl->training && io->grad_output && io->grad_inputs[0])
        return pool_build_backward(pl, io, err);
    return NN_OK;
}

static int run_if(nn_dnnl_op *op, const char *layer, nn_error *err)
{
    return op->prim ? nn_dnnl_op_run(op, layer, err) : NN_OK;
}

int nn_dnnl_pool_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_pool *pl = self;
    int rc;
    if (!pl->fwd.prim && !pl->bound && (rc = nn_dnnl_pool_bind(self, io, err)))
        return rc;
    if ((rc = run_if(&pl->r_x, pl->name, err)))
        return rc;
    if (pl->own)
        nn_maxpool_blk_forward(&pl->geom, nn_dnnl_data(io->inputs[0]),
                               nn_dnnl_data(pl->re_y ? buf(io, pl->b_y) : io->output));
    else if ((rc = nn_dnnl_op_run(&pl->fwd, pl->name, err)))
        return rc;
    return run_if(&pl->r_y, pl->name, err);
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
    if ((pl->own ? pl->re_y && !pl->r_dy.prim : !pl->bwd.prim) &&
        (rc = pool_build_backward(pl, io, err)))
        return rc;
    if ((rc = run_if(&pl->r_dy, pl->name, err)))
        return rc;
    if (pl->own)
        nn_maxpool_blk_backward(&pl->geom, nn_dnnl_data(io->inputs[0]),
                                nn_dnnl_data(pl->re_y ? buf(io, pl->b_y) : io->grad_output),
                                nn_dnnl_data(io->grad_inputs[0]), pl->relu);
    else if ((rc = nn_dnnl_op_run(&pl->bwd, pl->name, err)))
        return rc;
    return run_if(&pl->r_dx, pl->name, err);
}
