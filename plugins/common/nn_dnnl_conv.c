/* nn_dnnl_conv.c: the convolution layer behind the conv1d and conv2d plugins (they differ in
 * the number of spatial dims only): key parsing, shapes, and in setup the choice of layouts and
 * every oneDNN primitive descriptor (nn_dnnl_conv_internal.h explains them); the primitives
 * are bound in nn_dnnl_conv_run.c. Never allocates per step. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl_conv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nn_dnnl_conv_create(int sp, const nn_params *p, void **self, nn_error *err)
{
    const char *kind = sp == 1 ? "conv1d" : "conv2d";
    nn_dnnl_conv_cfg c = {.sp = sp};
    c.filters = nn_params_int(p, "filters");
    c.groups = nn_params_int(p, "groups");
    c.bias = nn_params_bool(p, "bias");
    c.act = nn_params_enum(p, "activation");
    c.winit = nn_stock_weight_init(nn_params_enum(p, "weight_init"));
    int rc;
    if ((rc = nn_stock_int_list(p, "kernel", sp, c.kernel, kind, err)) ||
        (rc = nn_stock_int_list(p, "stride", sp, c.stride, kind, err)) ||
        (rc = nn_stock_int_list(p, "dilation", sp, c.dilation, kind, err)) ||
        (rc = nn_stock_conv_padding(p, sp, kind, &c.same, c.pad_l, err)))
        return rc;
    c.pad_r[0] = c.pad_l[0];
    c.pad_r[1] = c.pad_l[1];
    if (c.filters % c.groups)
        return nn_error_set(err, NN_EINVAL,
                            "%s: %s: key 'groups' = %lld must divide 'filters' = %lld",
                            nn_params_origin(p), kind, (long long)c.groups,
                            (long long)c.filters);
    nn_dnnl_conv *cv = calloc(1, sizeof *cv);
    if (!cv)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", kind);
    cv->c = c;
    cv->kind = kind;
    cv->name = kind;
    /* bias_init lives in the same schema for both plugins */
    cv->c.bias = c.bias ? (nn_params_enum(p, "bias_init") == 1 ? 2 : 1) : 0;
    *self = cv;
    return NN_OK;
}

static void conv_free_pds(nn_dnnl_conv *cv)
{
    nn_dnnl_pd_free(&cv->fwd_pd);
    nn_dnnl_pd_free(&cv->bwd_w_pd);
    nn_dnnl_pd_free(&cv->bwd_d_pd);
    nn_dnnl_act_destroy(&cv->out.act);
}

/* the problem's dimensions in oneDNN's terms */
typedef struct conv_geom {
    int nd, wn; /* data and weight ranks */
    dnnl_dims_t st, dil, pl, pr, xd, wd, yd;
} conv_geom;

static dnnl_status_t md_tag(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t d,
                            dnnl_data_type_t dt, int any)
{
    if (any)
        return dnnl_memory_desc_init_by_tag(md, nd, d, dt, dnnl_format_tag_any);
    int64_t e[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        e[i] = d[i];
    nn_dnnl_md_dims(md, nd, e);
    md->data_type = dt;
    return dnnl_success;
}

/* makes pd from a descriptor with a user scratchpad (and the post-op act, unless none) */
static dnnl_status_t make_pd(dnnl_primitive_desc_t *pd, const void *desc, int act,
                             const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t attr;
    dnnl_status_t s = nn_dnnl_attr(&attr, act);
    if (s)
        return s;
    nn_dnnl_pd_free(pd);
    s = nn_dnnl_pd_create(pd, desc, attr, hint);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* backward-weights on the forward's layouts; unimplemented when oneDNN offers only `ref` */
static dnnl_status_t try_bwd_w_native(nn_dnnl_conv *cv, const conv_geom *g)
{
    dnnl_convolution_desc_t d;
    const dnnl_memory_desc_t *b = cv->c.bias ? &cv->b_md : NULL;
    dnnl_memory_desc_t dw = cv->wp_md;
    dnnl_status_t s;
    /* bf16: gradients of the f32 master weights stay f32, in the layout oneDNN likes */
    if (cv->dt != dnnl_f32 && (s = md_tag(&dw, g->wn, g->wd, dnnl_f32, 1)))
        return s;
    if ((s = dnnl_dilated_convolution_backward_weights_desc_init(
             &d, dnnl_convolution_direct, &cv->xp_md, &dw, b, &cv->yp_md, g->st, g->dil, g->pl,
             g->pr)) ||
        (s = make_pd(&cv->bwd_w_pd, &d, NN_ACT_NONE, cv->fwd_pd)))
        return s;
    if (nn_dnnl_impl_is(cv->bwd_w_pd, "ref"))
        return dnnl_unimplemented;
    cv->dwp_md = *dnnl_primitive_desc_query_md(cv->bwd_w_pd, dnnl_query_diff_weights_md, 0);
    return dnnl_success;
}

/* backward-weights blocked on dLoss/dz in the forward's layout and an input layout of its
 * own choice (xr: the forward reads a plain input that native backward-weights has only `ref`
 * for); unimplemented when that is `ref` too */
static dnnl_status_t try_bwd_w_reordered(nn_dnnl_conv *cv, const conv_geom *g)
{
    dnnl_convolution_desc_t d;
    dnnl_memory_desc_t x, dw;
    dnnl_status_t s;
    /* dw as the kernel likes it: the forward's weight layout suits the plain-input kernel */
    if ((s = md_tag(&x, g->nd, g->xd, cv->dt, 1)) ||
        (s = md_tag(&dw, g->wn, g->wd, dnnl_f32, 1)) ||
        (s = dnnl_dilated_convolution_backward_weights_desc_init(
             &d, dnnl_convolution_direct, &x, &dw, cv->c.bias ? &cv->b_md : NULL, &cv->yp_md,
             g->st, g->dil, g->pl, g->pr)) ||
        (s = make_pd(&cv->bwd_w_pd, &d, NN_ACT_NONE, cv->fwd_pd)))
        return s;
    if (nn_dnnl_impl_is(cv->bwd_w_pd, "ref"))
        return dnnl_unimplemented;
    cv->xw_md = *dnnl_primitive_desc_query_md(cv->bwd_w_pd, dnnl_query_src_md, 0);
    cv->dwp_md = *dnnl_primitive_desc_query_md(cv->bwd_w_pd, dnnl_query_diff_weights_md, 0);
    cv->bwd_w_xr = 1;
    return dnnl_success;
}

/* a backward primitive on plain f32 data (gemm), with the forward's pd as hint */
static dnnl_status_t try_bwd_plain(nn_dnnl_conv *cv, const conv_geom *g, int weights)
{
    dnnl_convolution_desc_t d;
    dnnl_status_t s;
    if (weights)
        return (s = dnnl_dilated_convolution_backward_weights_desc_init(
                    &d, dnnl_convolution_direct, &cv->xq_md, &cv->w_md,
                    cv->c.bias ? &cv->b_md : NULL, &cv->yq_md, g->st, g->dil, g->pl, g->pr))
                   ? s
                   : make_pd(&cv->bwd_w_pd, &d, NN_ACT_NONE, cv->fwd_pd);
    return (s = dnnl_dilated_convolution_backward_data_desc_init(
                &d, dnnl_convolution_direct, &cv->xq_md, &cv->w_md, &cv->yq_md, g->st, g->dil,
                g->pl, g->pr))
               ? s
               : make_pd(&cv->bwd_d_pd, &d, NN_ACT_NONE, cv->fwd_pd);
}

/* backward-data on the forward's data layouts, weights as oneDNN likes them; when that is
 * only `ref` (few input channels, blocked), on plain f32 data instead */
static dnnl_status_t try_bwd_d(nn_dnnl_conv *cv, const conv_geom *g)
{
    dnnl_convolution_desc_t d;
    dnnl_memory_desc_t w;
    dnnl_status_t s;
    cv->bwd_d_plain = 0;
    if (cv->jit) {
        if ((s = md_tag(&w, g->wn, g->wd, cv->dt, 1)) ||
            (s = dnnl_dilated_convolution_backward_data_desc_init(
                 &d, dnnl_convolution_direct, &cv->xp_md, &w, &cv->yp_md, g->st, g->dil, g->pl,
                 g->pr)) ||
            (s = make_pd(&cv->bwd_d_pd, &d, NN_ACT_NONE, cv->fwd_pd)))
            return s;
        if (!nn_dnnl_impl_is(cv->bwd_d_pd, "ref")) {
            cv->wd_md = *dnnl_primitive_desc_query_md(cv->bwd_d_pd, dnnl_query_weights_md, 0);
            return dnnl_success;
        }
    }
    cv->bwd_d_plain = 1;
    return try_bwd_plain(cv, g, 0);
}

/* the forward on blocked layouts chosen by oneDNN (jit) or on plain f32 ones; the activation
 * fused as a post-op where the kernel does it fast and backward can read act(z) */
static dnnl_status_t try_fwd(nn_dnnl_conv *cv, const conv_geom *g, int jit)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    dnnl_data_type_t dt = jit ? cv->dt : dnnl_f32;
    dnnl_memory_desc_t x, w, y;
    dnnl_convolution_desc_t d;
    dnnl_status_t s;
    if ((s = md_tag(&x, g->nd, g->xd, dt, jit)) || (s = md_tag(&w, g->wn, g->wd, dt, jit)) ||
        (s = md_tag(&y, g->nd, g->yd, dt, jit)) ||
        (s = dnnl_dilated_convolution_forward_desc_init(
             &d, cv->training ? dnnl_forward_training : dnnl_forward_inference,
             dnnl_convolution_direct, &x, &w, c->bias ? &cv->b_md : NULL, &y, g->st, g->dil,
             g->pl, g->pr)))
        return s;
    /* gemm_slow_postop: oneDNN 2.6's gemm convolution applies an eltwise post-op with a scalar
     * loop, measured 40x slower than the convolution itself (1->32 5x5, 128x28x28): the plain
     * forward runs the activation apart, vectorised */
    nn_dnnl_act_init(&cv->out.act, c->act, cv->training, jit);
    if ((s = make_pd(&cv->fwd_pd, &d, nn_dnnl_act_postop(&cv->out.act), NULL)))
        return s;
    /* any kernel but the reference one: `jit:...`, or `brgconv:...`, which oneDNN 2.6 picks
     * on AVX-512 and AMX for some shapes (a 32->64 5x5 convolution in bf16 training, in f32
     * inference): refusing it ran them all plain, 2.5x slower */
    if (jit && nn_dnnl_impl_is(cv->fwd_pd, "ref"))
        return dnnl_unimplemented;
    cv->jit = jit;
    cv->xp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_src_md, 0);
    cv->wp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_weights_md, 0);
    cv->yp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_dst_md, 0);
    return dnnl_success;
}

/* forward on jit (or plain) layouts, then the backward primitives that go with it */
static dnnl_status_t conv_try(nn_dnnl_conv *cv, const conv_geom *g, int jit, int bwd_w_plain,
                              const char **what)
{
    dnnl_status_t s;
    *what = "convolution forward";
    if ((s = try_fwd(cv, g, jit)))
        return s;
    if (cv->training) {
        *what = "convolution backward-weights";
        cv->bwd_w_plain = bwd_w_plain;
        cv->bwd_w_xr = 0;
        if (bwd_w_plain)
            s = try_bwd_plain(cv, g, 1);
        else if ((s = try_bwd_w_native(cv, g)) && jit)
            s = try_bwd_w_reordered(cv, g);
        if (s)
            return s;
        *what = "convolution backward-data";
        if ((s = try_bwd_d(cv, g)))
            return s;
    }
    return dnnl_success;
}

/* Chooses the layouts and makes every primitive descriptor: jit forward with native backward,
 * else jit forward with plain backward-weights, else all plain f32 (then bf16 is not used) */
static int conv_plan(nn_dnnl_conv *cv, const nn_tensor *x, const int64_t *od, nn_error *err)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    conv_geom g = {.nd = 2 + c->sp};
    int64_t w64[5];
    if (c->groups > 1)
        g.wd[g.wn++] = c->groups;
    g.wd[g.wn++] = c->filters / c->groups;
    g.wd[g.wn++] = x->shape[1] / c->groups;
    for (int i = 0; i < c->sp; i++) {
        g.wd[g.wn++] = c->kernel[i];
        g.st[i] = c->stride[i];
        g.dil[i] = c->dilation[i] - 1; /* oneDNN counts the gaps */
        g.pl[i] = cv->pad_l[i];
        g.pr[i] = cv->pad_r[i];
    }
    for (int i = 0; i < g.nd; i++) {
        g.xd[i] = x->shape[i];
        g.yd[i] = od[i];
    }
    for (int i = 0; i < g.wn; i++)
        w64[i] = g.wd[i];
    nn_dnnl_md_dims(&cv->xq_md, g.nd, x->shape);
    nn_dnnl_md_dims(&cv->yq_md, g.nd, od);
    nn_dnnl_md_dims(&cv->w_md, g.wn, w64);
    nn_dnnl_md_dims(&cv->b_md, 1, &c->filters);
    const char *what = "";
    dnnl_status_t s = conv_try(cv, &g, 1, 0, &what);
    if (s != dnnl_success && cv->training) {
        conv_free_pds(cv);
        s = conv_try(cv, &g, 1, 1, &what);
    }
    if (s != dnnl_success) {
        conv_free_pds(cv);
        cv->dt = dnnl_f32;
        s = conv_try(cv, &g, 0, 1, &what);
    }
    if (s != dnnl_success) {
        conv_free_pds(cv);
        return nn_dnnl_fail(err, s, cv->name, what);
    }
    return NN_OK;
}

/* backward-weights by our own kernels where they beat oneDNN 2.6 on AVX2 (f32, 2-D, one
 * group, dLoss/dz in nChw8c/nChw16c, a CPU and shape they fit): nn_conv_bwdw_blk() where
 * oneDNN would run xr or plain (few input channels), nn_conv_bwdw_nchwc() where it would run
 * its jit:avx2 kernel on nChw8c input, with unit stride and at most 16x16 output pixels:
 * measured 1.1-1.3x faster there at one and two threads (3x3 and 5x5 windows, 7x7 and 14x14
 * outputs). On 28x28 outputs it was 0.9-1.5x, at stride 2 0.9-1.1x, for 1x1 windows (oneDNN's
 * jit_1x1) 0.6-0.8x: oneDNN's kernels stay there */
static void conv_pick_own_bwd_w(nn_dnnl_conv *cv, const nn_tensor *x, const int64_t *od)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    if (!cv->training || !cv->jit || c->sp != 2 || c->groups != 1 || cv->dt != dnnl_f32)
        return;
    int lanes = nn_dnnl_md_channel_lanes(&cv->yp_md);
    if (!lanes)
        return;
    cv->bw_geom = (nn_conv_bwdw_geom){
        .n = x->shape[0], .ic = x->shape[1], .ih = x->shape[2], .iw = x->shape[3],
        .oc = od[1], .oh = od[2], .ow = od[3], .kh = c->kernel[0], .kw = c->kernel[1],
        .sh = c->stride[0], .sw = c->stride[1], .dh = c->dilation[0], .dw = c->dilation[1],
        .ph = cv->pad_l[0], .pw = cv->pad_l[1], .lanes = lanes};
    if (cv->bwd_w_xr || cv->bwd_w_plain) {
        if (nn_conv_bwdw_blk_fits(&cv->bw_geom)) {
            cv->bwd_w_own = OWN_PLAIN_X;
            cv->bwd_w_xr = cv->bwd_w_plain = 0;
        }
    } else if (lanes == 8 && nn_dnnl_md_channel_lanes(&cv->xp_md) == 8 &&
               nn_dnnl_impl_is(cv->bwd_w_pd, "jit:avx2") && c->stride[0] == 1 &&
               c->stride[1] == 1 && od[2] * od[3] <= 256 &&
               nn_conv_bwdw_nchwc_fits(&cv->bw_geom)) {
        cv->bwd_w_own = OWN_BLOCKED_X;
    }
}

static size_t max3(size_t a, size_t b, size_t c)
{
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* declares the buffers the chosen layouts need (see the roles in nn_dnnl_conv_internal.h) */
static int conv_declare_buffers(nn_dnnl_conv *cv, nn_layer_setup *s, nn_error *err)
{
    int tr = cv->training;
    size_t xb = dnnl_memory_desc_get_size(&cv->xp_md), wb = dnnl_memory_desc_get_size(&cv->wp_md);
    size_t size[CB_COUNT] = {0};
    nn_buffer_kind kind[CB_COUNT];
    for (int r = 0; r < CB_COUNT; r++)
        kind[r] = NN_BUF_WORKSPACE;
    if (!dnnl_memory_desc_equal(&cv->xp_md, &cv->x_md)) {
        size[CB_XB] = xb;
        if (tr && !cv->bwd_w_plain && !cv->bwd_w_xr && cv->bwd_w_own != OWN_PLAIN_X)
            kind[CB_XB] = NN_BUF_SAVED;
    }
    if (!dnnl_memory_desc_equal(&cv->wp_md, &cv->w_md)) {
        size[CB_WB] = wb;
        if (tr && !cv->bwd_d_plain && dnnl_memory_desc_equal(&cv->wd_md, &cv->wp_md))
            kind[CB_WB] = NN_BUF_SAVED;
    }
    if (tr) {
        size_t yq = dnnl_memory_desc_get_size(&cv->yq_md);
        int dy_plain = dnnl_memory_desc_equal(&cv->yp_md, &cv->yq_md);
        /* backward-data's needs only when the plan asks for dLoss/dx */
        int dx_n = cv->need_dx;
        size_t a = (cv->bwd_w_plain || (dx_n && cv->bwd_d_plain)) && !dy_plain ? yq : 0;
        if (dx_n && !cv->bwd_d_plain && !dnnl_memory_desc_equal(&cv->wd_md, &cv->wp_md) &&
            !dnnl_memory_desc_equal(&cv->wd_md, &cv->w_md))
            a = a > dnnl_memory_desc_get_size(&cv->wd_md) ? a
                                                          : dnnl_memory_desc_get_size(&cv->wd_md);
        if (cv->bwd_w_xr && dnnl_memory_desc_get_size(&cv->xw_md) > a)
            a = dnnl_memory_desc_get_size(&cv->xw_md);
        size[CB_SCRA] = a;
        size_t dw = !cv->bwd_w_plain && !cv->bwd_w_own &&
                            !dnnl_memory_desc_equal(&cv->dwp_md, &cv->w_md)
                        ? dnnl_memory_desc_get_size(&cv->dwp_md)
                        : 0;
        const dnnl_memory_desc_t *dxm = cv->bwd_d_plain ? &cv->xq_md : &cv->xp_md;
        size_t dx = dx_n && !dnnl_memory_desc_equal(dxm, &cv->x_md) ? dnnl_memory_desc_get_size(dxm)
                                                                    : 0;
        size[CB_SCRB] = dw > dx ? dw : dx;
    }
    /* oneDNN's backward-weights never runs where ours replaces it */
    size[CB_PAD] = max3(nn_dnnl_scratchpad_size(cv->fwd_pd),
                        cv->bwd_w_own ? 0 : nn_dnnl_scratchpad_size(cv->bwd_w_pd),
                        nn_dnnl_scratchpad_size(cv->bwd_d_pd));
    static const char *const names[CB_COUNT] = {"src_blocked",    "weight_blocked",
                                                 "grad_scratch_a", "grad_scratch_b",
                                                 "scratchpad"};
    for (int r = 0; r < CB_COUNT; r++) {
        cv->buf[r] = -1;
        if (size[r] && (cv->buf[r] = nn_dnnl_add_buffer(s, names[r], kind[r], size[r])) < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared",
                                cv->name);
    }
    return NN_OK;
}

int nn_dnnl_conv_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const nn_dnnl_conv_cfg *c = &cv->c;
    const char *L = cv->name = s->layer_name ? s->layer_name : cv->kind;
    cv->training = s->training;
    cv->need_dx = s->training && !(s->input_grad_unused & 1u);
    char buf[96];
    int sp = c->sp;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, cv->kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 2 + sp)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s expects a %s input, got %s", L,
                            cv->kind, sp == 1 ? "[N, C, L]" : "[N, C, H, W]",
                            nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': %s supports float32 (F32) input only",
                            L, cv->kind);
    int64_t n = x->shape[0], ci = x->shape[1];
    if (ci % c->groups)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': input %s has %lld channels, not divisible by groups = "
                            "%lld",
                            L, nn_shape_str(x, buf, sizeof buf), (long long)ci,
                            (long long)c->groups);
    int64_t oshape[4] = {n, c->filters, 0, 0}, ksz = 1;
    for (int i = 0; i < sp; i++) {
        int64_t in = x->shape[2 + i], k = c->kernel[i], st = c->stride[i];
        int64_t span = (k - 1) * c->dilation[i] + 1;
        if (c->same) {
            int64_t out = (in + st - 1) / st;
            int64_t tot = (out - 1) * st + span - in;
            if (tot < 0)
                tot = 0;
            cv->pad_l[i] = tot / 2;
            cv->pad_r[i] = tot - tot / 2;
        } else {
            cv->pad_l[i] = c->pad_l[i];
            cv->pad_r[i] = c->pad_r[i];
        }
        int64_t avail = in + cv->pad_l[i] + cv->pad_r[i] - span;
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s': input %s is smaller than the %s kernel span %lld "
                                "(kernel %lld, dilation %lld) plus padding %lld+%lld",
                                L, nn_shape_str(x, buf, sizeof buf), cv->kind, (long long)span,
                                (long long)k, (long long)c->dilation[i],
                                (long long)cv->pad_l[i], (long long)cv->pad_r[i]);
        oshape[2 + i] = avail / st + 1;
        /* the right padding the output size actually uses (symmetric padding with a stride
         * may leave some of it unused) */
        int64_t used = (oshape[2 + i] - 1) * st + span - in - cv->pad_l[i];
        cv->pad_r[i] = used > 0 ? used : 0;
        ksz *= k;
    }
    nn_tensor_describe(&s->output, NN_F32, 2 + sp, oshape);
    int64_t wshape[4] = {c->filters, ci / c->groups, c->kernel[0], c->kernel[1]};
    int64_t fan_in = ci / c->groups * ksz, fan_out = c->filters * ksz;
    if (nn_layer_add_param(s, "weight", 2 + sp, wshape, c->winit, fan_in, fan_out, 0) !=
        P_WEIGHT)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare weight", L);
    if (c->bias &&
        nn_layer_add_param(s, "bias", 1, &c->filters,
                           c->bias == 2 ? NN_INIT_ZEROS : NN_INIT_FAN_IN_UNIFORM, fan_in,
                           fan_out, NN_TENSOR_BIAS) != P_BIAS)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare bias", L);
    s->flops = (uint64_t)(2 * nn_shape_numel(2 + sp, oshape) * fan_in);
    int rc = nn_dnnl_init(L, err);
    if (rc || (rc = nn_dnnl_precision(s->precision, &cv->dt, L, err)) ||
        (rc = conv_plan(cv, x, oshape, err)))
        return rc;
    conv_pick_own_bwd_w(cv, x, oshape);
    /* the input in its producer's layout when backward-weights reads the forward's (the plain
     * one and our few-input-channel one read the plain input) */
    cv->x_md = cv->xq_md;
    if ((!cv->training || (!cv->bwd_w_plain && cv->bwd_w_own != OWN_PLAIN_X)) &&
        nn_dnnl_layout_get(x, &cv->x_md))
        s->layout_accept |= 1u;
    /* the output offered in the forward's layout, unless that is the plain f32 one */
    if ((rc = nn_dnnl_out_setup(&cv->out, &cv->yp_md, cv->training, s, err)))
        return rc;
    return conv_declare_buffers(cv, s, err);
}

void nn_dnnl_conv_destroy(void *self)
{
    nn_dnnl_conv *cv = self;
    nn_dnnl_op *ops[] = {&cv->r_x,   &cv->r_w,  &cv->fwd,  &cv->r_xw,  &cv->r_dyq,
                         &cv->bwd_w, &cv->r_dw, &cv->r_wd, &cv->bwd_d, &cv->r_dx};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        nn_dnnl_op_destroy(ops[i]);
    conv_free_pds(cv);
    nn_dnnl_out_destroy(&cv->out);
    free(cv);
}

void nn_dnnl_conv_geometry(const void *self, nn_dnnl_conv_cfg *out)
{
    const nn_dnnl_conv *cv = self;
    *out = cv->c;
    memcpy(out->pad_l, cv->pad_l, sizeof out->pad_l);
    memcpy(out->pad_r, cv->pad_r, sizeof out->pad_r);
}
