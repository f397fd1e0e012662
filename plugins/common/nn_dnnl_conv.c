/* nn_dnnl_conv.c: the convolution layer behind the conv1d and conv2d plugins (they differ in
 * the number of spatial dims only): key parsing, shapes, oneDNN primitives built once in bind,
 * bias fused, the activation fused where oneDNN does it fast. Never allocates per step. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_WEIGHT = 0, P_BIAS = 1 };

/* Layout plan. oneDNN 2.6's fast convolution kernels want blocked layouts (nChw16c, OIhw16i16o)
 * while tensors cross the ABI plain. setup() asks for format_tag_any and keeps what oneDNN
 * picks when that is a jit kernel ("blocked" mode), reordering at the layer's edges; measured
 * for 1->32 5x5 on 128x28x28, backward-weights took 0.97 ms blocked against 17 ms with the
 * plain-layout gemm kernel, and a reorder of the output 0.5-0.8 ms. When oneDNN offers no
 * jit kernel it falls back to plain layouts ("plain" mode), where nothing is reordered.
 *
 * Forward:  [x -> xb] [w -> wb]  conv(xb|x, wb|w, b) -> z|y  [z -> y]  [act: y in place, or
 *           z -> y when z is plain]
 * Backward: [dy -> dyz]  [act: (z, dy) -> dyz]  bwd_w(xb|x, dyz|dy) -> dwb|dw  [dwb -> dw]
 *           bwd_d(dyz|dy, wb|w) -> dxb|dx  [dxb -> dx]
 * z (the primitive's output layout) is SAVED in training plans with an activation, whose
 * derivative reads it; the activation is a post-op in eval plans (but see gemm_slow_postop)
 * and in training plans of jit kernels when its derivative can read act(z) (z then holds it). */
struct nn_dnnl_conv {
    nn_dnnl_conv_cfg c;
    const char *name;
    const char *kind; /* "conv1d" / "conv2d" for messages */
    int training;
    int64_t pad_l[2], pad_r[2]; /* resolved in setup (padding = same depends on the input) */
    int blocked;                /* mode, see above */
    int fused;                  /* the activation is a post-op of the forward primitive */
    int re_x, re_w, re_y;       /* the primitive's layout differs from the plain one */
    int bwd_d_plain;            /* backward-data runs on plain layouts (see conv_try) */
    dnnl_memory_desc_t x_md, w_md, b_md, y_md;    /* plain: what crosses the ABI */
    dnnl_memory_desc_t xp_md, wp_md, yp_md;       /* what the primitives use */
    dnnl_memory_desc_t wd_md;                     /* weights as backward-data wants them */
    int re_wd;                                    /* wd_md is neither wp_md nor w_md */
    int b_xb, b_wb, b_z, b_dyz, b_scr, b_wd;      /* buffer indices, -1 when absent */
    dnnl_primitive_desc_t fwd_pd, bwd_w_pd, bwd_d_pd, act_pd, act_hint_pd, act_bwd_pd;
    nn_dnnl_op r_x, r_w, fwd, r_y, act, r_dy, act_bwd, bwd_w, r_dw, r_dyp, r_wd, bwd_d, r_dx;
};

/* padding: "same", "valid", or 1 or sp non-negative integers separated by commas */
static int parse_padding(const nn_params *p, nn_dnnl_conv_cfg *c, const char *kind,
                         nn_error *err)
{
    const char *s = nn_params_str(p, "padding");
    if (!s)
        s = "0";
    if (strcmp(s, "same") == 0) {
        c->same = 1;
        return NN_OK;
    }
    if (strcmp(s, "valid") == 0) {
        c->pad_l[0] = c->pad_l[1] = c->pad_r[0] = c->pad_r[1] = 0;
        return NN_OK;
    }
    int64_t v[2] = {0, 0};
    int n = 0;
    const char *q = s;
    while (*q) {
        char *end;
        errno = 0;
        long long x = strtoll(q, &end, 10);
        if (end == q || errno || x < 0 || x > 1000000 || n >= c->sp)
            goto bad;
        v[n++] = x;
        while (*end == ' ')
            end++;
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        while (*end == ' ')
            end++;
        q = end;
    }
    if (n == 0)
        goto bad;
    for (int i = 0; i < c->sp; i++)
        c->pad_l[i] = c->pad_r[i] = v[n == 1 ? 0 : i];
    return NN_OK;
bad:
    return nn_error_set(err, NN_EINVAL,
                        "%s: %s: key 'padding' = \"%s\": expected 'same', 'valid' or %s "
                        "non-negative integer%s",
                        nn_params_origin(p), kind, s, c->sp > 1 ? "1 or 2 comma-separated" : "one",
                        c->sp > 1 ? "s" : "");
}

int nn_dnnl_conv_create(int sp, const nn_params *p, void **self, nn_error *err)
{
    const char *kind = sp == 1 ? "conv1d" : "conv2d";
    nn_dnnl_conv_cfg c = {.sp = sp};
    c.filters = nn_params_int(p, "filters");
    c.groups = nn_params_int(p, "groups");
    c.bias = nn_params_bool(p, "bias");
    c.act = nn_params_enum(p, "activation");
    c.winit = nn_dnnl_weight_init(nn_params_enum(p, "weight_init"));
    int rc;
    if ((rc = nn_dnnl_int_list(p, "kernel", sp, c.kernel, kind, err)) ||
        (rc = nn_dnnl_int_list(p, "stride", sp, c.stride, kind, err)) ||
        (rc = nn_dnnl_int_list(p, "dilation", sp, c.dilation, kind, err)) ||
        (rc = parse_padding(p, &c, kind, err)))
        return rc;
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

/* the eltwise algorithm whose backward reads the output, or undef when there is none */
static dnnl_alg_kind_t use_dst_alg(int act)
{
    switch (act) {
    case NN_ACT_RELU: return dnnl_eltwise_relu_use_dst_for_bwd;
    case NN_ACT_TANH: return dnnl_eltwise_tanh_use_dst_for_bwd;
    case NN_ACT_SIGMOID: return dnnl_eltwise_logistic_use_dst_for_bwd;
    default: return dnnl_alg_kind_undef;
    }
}

static void conv_free_pds(nn_dnnl_conv *cv)
{
    nn_dnnl_pd_free(&cv->fwd_pd);
    nn_dnnl_pd_free(&cv->bwd_w_pd);
    nn_dnnl_pd_free(&cv->bwd_d_pd);
    nn_dnnl_pd_free(&cv->act_pd);
    nn_dnnl_pd_free(&cv->act_hint_pd);
    nn_dnnl_pd_free(&cv->act_bwd_pd);
}

/* the primitive descriptors for one choice of layouts (any = format_tag_any for x, w, y);
 * returns dnnl_success or the first failure, with `what` naming the primitive */
static dnnl_status_t conv_try(nn_dnnl_conv *cv, const int64_t *xd, const int64_t *od, int any,
                              const char **what)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    int sp = c->sp, nd = 2 + sp;
    dnnl_dims_t st, dil, pl, pr, xdims, wdims, ydims;
    int wn = 0;
    if (c->groups > 1)
        wdims[wn++] = c->groups;
    wdims[wn++] = c->filters / c->groups;
    wdims[wn++] = xd[1] / c->groups;
    for (int i = 0; i < sp; i++) {
        wdims[wn++] = c->kernel[i];
        st[i] = c->stride[i];
        dil[i] = c->dilation[i] - 1; /* oneDNN counts the gaps */
        pl[i] = cv->pad_l[i];
        pr[i] = cv->pad_r[i];
    }
    for (int i = 0; i < nd; i++) {
        xdims[i] = xd[i];
        ydims[i] = od[i];
    }
    dnnl_memory_desc_t x, w, y;
    dnnl_status_t s;
    *what = "convolution memory descriptor";
    if (any) {
        if ((s = dnnl_memory_desc_init_by_tag(&x, nd, xdims, dnnl_f32, dnnl_format_tag_any)) ||
            (s = dnnl_memory_desc_init_by_tag(&w, wn, wdims, dnnl_f32, dnnl_format_tag_any)) ||
            (s = dnnl_memory_desc_init_by_tag(&y, nd, ydims, dnnl_f32, dnnl_format_tag_any)))
            return s;
    } else {
        x = cv->x_md;
        w = cv->w_md;
        y = cv->y_md;
    }
    const dnnl_memory_desc_t *b = c->bias ? &cv->b_md : NULL;
    dnnl_convolution_desc_t d;
    dnnl_engine_t eng = nn_dnnl_engine();
    *what = "convolution forward";
    if ((s = dnnl_dilated_convolution_forward_desc_init(
             &d, cv->training ? dnnl_forward_training : dnnl_forward_inference,
             dnnl_convolution_direct, &x, &w, b, &y, st, dil, pl, pr)))
        return s;
    dnnl_primitive_attr_t attr = NULL;
    cv->fused = 0;
    /* training fuses too when the derivative can be taken from the output (relu, tanh,
     * sigmoid) and the kernel is a jit one: z then holds act(z), saving a pass */
    int fuse_train = cv->training && any && use_dst_alg(c->act) != dnnl_alg_kind_undef;
    if ((!cv->training || fuse_train) && c->act != NN_ACT_NONE) {
        dnnl_post_ops_t po;
        if ((s = dnnl_primitive_attr_create(&attr)))
            return s;
        if (!(s = dnnl_post_ops_create(&po))) {
            s = dnnl_post_ops_append_eltwise(po, 1.0f, nn_dnnl_act_alg(c->act), 0.f, 0.f);
            if (!s)
                s = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
        cv->fused = 1;
    }
    if (!s)
        s = dnnl_primitive_desc_create(&cv->fwd_pd, &d, attr, eng, NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s)
        return s;
    /* blocked mode exists for the jit kernels; gemm ones are the plain mode's business */
    if (any && !nn_dnnl_impl_is(cv->fwd_pd, "jit:"))
        return dnnl_unimplemented;
    /* gemm_slow_postop: oneDNN 2.6's gemm convolution applies an eltwise post-op with a scalar
     * loop, measured 40x slower than the convolution itself (1->32 5x5, 128x28x28); then the
     * activation runs apart, vectorised, in place on the output */
    if (cv->fused && nn_dnnl_impl_is(cv->fwd_pd, "gemm")) {
        nn_dnnl_pd_free(&cv->fwd_pd);
        cv->fused = 0;
        if ((s = dnnl_primitive_desc_create(&cv->fwd_pd, &d, NULL, eng, NULL)))
            return s;
    }
    cv->xp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_src_md, 0);
    cv->wp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_weights_md, 0);
    cv->yp_md = *dnnl_primitive_desc_query_md(cv->fwd_pd, dnnl_query_dst_md, 0);
    if (cv->training) {
        /* backward in the layouts forward chose, so that each tensor is reordered once */
        *what = "convolution backward-weights";
        if ((s = dnnl_dilated_convolution_backward_weights_desc_init(
                 &d, dnnl_convolution_direct, &cv->xp_md, &cv->wp_md, b, &cv->yp_md, st, dil, pl,
                 pr)) ||
            (s = dnnl_primitive_desc_create(&cv->bwd_w_pd, &d, NULL, eng, cv->fwd_pd)))
            return s;
        /* ref_bwd_weights: on CPUs where oneDNN 2.6 has only AVX2 kernels (an AMD EPYC, say),
         * a few input channels in blocked layout leave backward-weights to the reference
         * kernel, measured 150x slower than the plain mode's gemm one (1->32 5x5, N=128):
         * take the plain mode for this layer */
        if (any && nn_dnnl_impl_is(cv->bwd_w_pd, "ref"))
            return dnnl_unimplemented;
        *what = "convolution backward-data";
        if ((s = dnnl_dilated_convolution_backward_data_desc_init(
                 &d, dnnl_convolution_direct, &cv->xp_md, &cv->wp_md, &cv->yp_md, st, dil, pl,
                 pr)) ||
            (s = dnnl_primitive_desc_create(&cv->bwd_d_pd, &d, NULL, eng, cv->fwd_pd)))
            return s;
        /* backward-data's jit kernels want their own weight layout (the forward's transposed):
         * let oneDNN pick it, and reorder the weights for it */
        cv->bwd_d_plain = 0;
        cv->wd_md = cv->wp_md;
        if (any && nn_dnnl_impl_is(cv->bwd_d_pd, "ref")) {
            dnnl_memory_desc_t wany;
            nn_dnnl_pd_free(&cv->bwd_d_pd);
            if ((s = dnnl_memory_desc_init_by_tag(&wany, wn, wdims, dnnl_f32,
                                                  dnnl_format_tag_any)) ||
                (s = dnnl_dilated_convolution_backward_data_desc_init(
                     &d, dnnl_convolution_direct, &cv->xp_md, &wany, &cv->yp_md, st, dil, pl,
                     pr)) ||
                (s = dnnl_primitive_desc_create(&cv->bwd_d_pd, &d, NULL, eng, cv->fwd_pd)))
                return s;
            cv->wd_md = *dnnl_primitive_desc_query_md(cv->bwd_d_pd, dnnl_query_weights_md, 0);
        }
        /* a plain input with blocked weights/output (few input channels) has only oneDNN's
         * reference backward-data: the plain gemm one is far faster, at the price of a
         * reorder of dLoss/dz */
        if (any && nn_dnnl_impl_is(cv->bwd_d_pd, "ref")) {
            nn_dnnl_pd_free(&cv->bwd_d_pd);
            cv->bwd_d_plain = 1;
            cv->wd_md = cv->w_md;
            if ((s = dnnl_dilated_convolution_backward_data_desc_init(
                     &d, dnnl_convolution_direct, &cv->x_md, &cv->w_md, &cv->y_md, st, dil, pl,
                     pr)) ||
                (s = dnnl_primitive_desc_create(&cv->bwd_d_pd, &d, NULL, eng, cv->fwd_pd)))
                return s;
        }
    }
    if (c->act != NN_ACT_NONE && (!cv->fused || cv->training)) {
        /* forward on the plain output; backward on z in the primitive's layout */
        dnnl_eltwise_desc_t e;
        dnnl_alg_kind_t alg = cv->fused ? use_dst_alg(c->act) : nn_dnnl_act_alg(c->act);
        *what = "eltwise forward";
        if (!cv->fused &&
            ((s = dnnl_eltwise_forward_desc_init(
                  &e, cv->training ? dnnl_forward_training : dnnl_forward_inference, alg,
                  &cv->y_md, 0.f, 0.f)) ||
             (s = dnnl_primitive_desc_create(&cv->act_pd, &e, NULL, eng, NULL))))
            return s;
        if (cv->training) {
            *what = "eltwise backward";
            if ((s = dnnl_eltwise_forward_desc_init(&e, dnnl_forward_training, alg, &cv->yp_md,
                                                    0.f, 0.f)) ||
                (s = dnnl_primitive_desc_create(&cv->act_hint_pd, &e, NULL, eng, NULL)) ||
                (s = dnnl_eltwise_backward_desc_init(&e, alg, &cv->yp_md, &cv->yp_md, 0.f,
                                                     0.f)) ||
                (s = dnnl_primitive_desc_create(&cv->act_bwd_pd, &e, NULL, eng,
                                                cv->act_hint_pd)))
                return s;
        }
    }
    return dnnl_success;
}

/* chooses the mode and makes every primitive descriptor; x is the input's description */
static int conv_plan(nn_dnnl_conv *cv, const nn_tensor *x, const int64_t *od, nn_error *err)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    int sp = c->sp, nd = 2 + sp;
    int64_t wd[6];
    int wn = 0;
    if (c->groups > 1)
        wd[wn++] = c->groups;
    wd[wn++] = c->filters / c->groups;
    wd[wn++] = x->shape[1] / c->groups;
    for (int i = 0; i < sp; i++)
        wd[wn++] = c->kernel[i];
    nn_dnnl_md_dims(&cv->x_md, nd, x->shape);
    nn_dnnl_md_dims(&cv->w_md, wn, wd);
    nn_dnnl_md_dims(&cv->b_md, 1, &c->filters);
    nn_dnnl_md_dims(&cv->y_md, nd, od);
    const char *what = "";
    cv->blocked = 1;
    dnnl_status_t s = conv_try(cv, x->shape, od, 1, &what);
    if (s != dnnl_success) {
        conv_free_pds(cv);
        cv->blocked = 0;
        s = conv_try(cv, x->shape, od, 0, &what);
    }
    if (s != dnnl_success) {
        conv_free_pds(cv);
        return nn_dnnl_fail(err, s, cv->name, what);
    }
    cv->re_x = !dnnl_memory_desc_equal(&cv->xp_md, &cv->x_md);
    cv->re_w = !dnnl_memory_desc_equal(&cv->wp_md, &cv->w_md);
    cv->re_y = !dnnl_memory_desc_equal(&cv->yp_md, &cv->y_md);
    cv->re_wd = cv->training && !dnnl_memory_desc_equal(&cv->wd_md, &cv->wp_md) &&
                !dnnl_memory_desc_equal(&cv->wd_md, &cv->w_md);
    return NN_OK;
}

static int add_bytes(nn_layer_setup *s, const char *name, nn_buffer_kind kind, size_t bytes)
{
    int64_t n = (int64_t)bytes;
    return nn_layer_add_buffer(s, name, kind, NN_U8, 1, &n);
}

static int conv_declare_buffers(nn_dnnl_conv *cv, nn_layer_setup *s, nn_error *err)
{
    nn_buffer_kind keep = cv->training ? NN_BUF_SAVED : NN_BUF_WORKSPACE;
    int act = cv->c.act != NN_ACT_NONE;
    size_t xb = dnnl_memory_desc_get_size(&cv->xp_md), wb = dnnl_memory_desc_get_size(&cv->wp_md);
    size_t yb = dnnl_memory_desc_get_size(&cv->yp_md);
    cv->b_xb = cv->b_wb = cv->b_z = cv->b_dyz = cv->b_scr = cv->b_wd = -1;
    /* backward reads the reordered input and weights of the forward step */
    if (cv->re_x && (cv->b_xb = add_bytes(s, "src_blocked", keep, xb)) < 0)
        goto full;
    if (cv->re_w && (cv->b_wb = add_bytes(s, "weight_blocked", keep, wb)) < 0)
        goto full;
    if (cv->re_y || (cv->training && act)) {
        nn_buffer_kind k = cv->training && act ? NN_BUF_SAVED : NN_BUF_WORKSPACE;
        if ((cv->b_z = add_bytes(s, "pre_activation", k, yb)) < 0)
            goto full;
    }
    if (cv->training && (cv->re_y || act) &&
        (cv->b_dyz = add_bytes(s, "grad_pre_activation", NN_BUF_WORKSPACE, yb)) < 0)
        goto full;
    size_t scr = 0, dyp = dnnl_memory_desc_get_size(&cv->y_md);
    if (cv->training && cv->re_w)
        scr = wb;
    if (cv->training && cv->re_x && !cv->bwd_d_plain && xb > scr)
        scr = xb;
    if (cv->training && cv->bwd_d_plain && cv->re_y && dyp > scr)
        scr = dyp;
    if (scr && (cv->b_scr = add_bytes(s, "grad_scratch", NN_BUF_WORKSPACE, scr)) < 0)
        goto full;
    if (cv->re_wd && (cv->b_wd = add_bytes(s, "weight_bwd", NN_BUF_WORKSPACE,
                                           dnnl_memory_desc_get_size(&cv->wd_md))) < 0)
        goto full;
    return NN_OK;
full:
    return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared", cv->name);
}

int nn_dnnl_conv_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const nn_dnnl_conv_cfg *c = &cv->c;
    const char *L = cv->name = s->layer_name ? s->layer_name : cv->kind;
    cv->training = s->training;
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
    if (rc || (rc = conv_plan(cv, x, oshape, err)))
        return rc;
    return conv_declare_buffers(cv, s, err);
}

void nn_dnnl_conv_destroy(void *self)
{
    nn_dnnl_conv *cv = self;
    nn_dnnl_op *ops[] = {&cv->r_x, &cv->r_w,   &cv->fwd,     &cv->r_y,   &cv->act, &cv->r_dy,
                         &cv->act_bwd, &cv->bwd_w, &cv->r_dw, &cv->r_dyp, &cv->r_wd,
                         &cv->bwd_d, &cv->r_dx};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        nn_dnnl_op_destroy(ops[i]);
    conv_free_pds(cv);
    free(cv);
}

/* the tensor a buffer index names, or `plain` when the buffer is absent */
static const nn_tensor *buf_or(const nn_layer_io *io, int b, const nn_tensor *plain)
{
    return b >= 0 && io->buffers[b] ? io->buffers[b] : plain;
}

static int conv_build_backward(nn_dnnl_conv *cv, const nn_layer_io *io, nn_error *err)
{
    const char *L = cv->name;
    const nn_tensor *x = io->inputs[0];
    int rc;
    if (!cv->bwd_w_pd)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    const nn_tensor *dy = io->grad_output, *dyz = buf_or(io, cv->b_dyz, NULL);
    if (cv->re_y && (rc = nn_dnnl_reorder_op(&cv->r_dy, &cv->y_md, dy, &cv->yp_md, dyz, L, err)))
        return rc;
    if (cv->re_y)
        dy = dyz;
    if (cv->c.act != NN_ACT_NONE) {
        if ((rc = nn_dnnl_op_create(&cv->act_bwd, cv->act_bwd_pd, "eltwise backward", L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->act_bwd, cv->act_bwd_pd,
                                    cv->fused ? DNNL_ARG_DST : DNNL_ARG_SRC,
                                    io->buffers[cv->b_z], L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->act_bwd, cv->act_bwd_pd, DNNL_ARG_DIFF_DST, dy, L,
                                    err)) ||
            (rc = nn_dnnl_op_tensor(&cv->act_bwd, cv->act_bwd_pd, DNNL_ARG_DIFF_SRC, dyz, L,
                                    err)))
            return rc;
        dy = dyz;
    }
    const nn_tensor *scr = buf_or(io, cv->b_scr, NULL);
    const nn_tensor *dw = cv->re_w ? scr : io->param_grads[P_WEIGHT];
    if ((rc = nn_dnnl_op_create(&cv->bwd_w, cv->bwd_w_pd, "convolution backward-weights", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_SRC, buf_or(io, cv->b_xb, x),
                                L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_WEIGHTS, dw, L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_BIAS,
                                              io->param_grads[P_BIAS], L, err)))
        return rc;
    if (cv->re_w && (rc = nn_dnnl_reorder_op(&cv->r_dw, &cv->wp_md, scr, &cv->w_md,
                                             io->param_grads[P_WEIGHT], L, err)))
        return rc;
    if (!io->grad_inputs[0])
        return NN_OK;
    const nn_tensor *wd = buf_or(io, cv->b_wb, io->params[P_WEIGHT]);
    int re_dx = cv->re_x;
    if (cv->re_wd) {
        wd = io->buffers[cv->b_wd];
        if ((rc = nn_dnnl_reorder_op(&cv->r_wd, &cv->w_md, io->params[P_WEIGHT], &cv->wd_md, wd,
                                     L, err)))
            return rc;
    } else if (dnnl_memory_desc_equal(&cv->wd_md, &cv->w_md)) {
        wd = io->params[P_WEIGHT];
    }
    if (cv->bwd_d_plain) {
        /* dLoss/dz back to the plain layout (in the scratch, free once dw is out) */
        if (dy != io->grad_output && cv->re_y &&
            (rc = nn_dnnl_reorder_op(&cv->r_dyp, &cv->yp_md, dy, &cv->y_md, scr, L, err)))
            return rc;
        if (dy != io->grad_output && cv->re_y)
            dy = scr;
        wd = io->params[P_WEIGHT];
        re_dx = 0;
    }
    const nn_tensor *dx = re_dx ? scr : io->grad_inputs[0];
    if ((rc = nn_dnnl_op_create(&cv->bwd_d, cv->bwd_d_pd, "convolution backward-data", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_WEIGHTS, wd, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_d, cv->bwd_d_pd, DNNL_ARG_DIFF_SRC, dx, L, err)))
        return rc;
    if (re_dx && (rc = nn_dnnl_reorder_op(&cv->r_dx, &cv->xp_md, scr, &cv->x_md,
                                          io->grad_inputs[0], L, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_conv_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    const nn_tensor *x = io->inputs[0], *w = io->params[P_WEIGHT], *y = io->output;
    dnnl_memory_desc_t given;
    int rc = nn_dnnl_md_tensor(&given, x, L, err);
    if (rc)
        return rc;
    if (!dnnl_memory_desc_equal(&given, &cv->x_md))
        return nn_error_set(err, NN_ENOTSUP,
                            "layer '%s': input '%s' is not contiguous; %s needs a plain layout",
                            L, x->name ? x->name : "?", cv->kind);
    for (int i = 0; i < NN_MAX_LAYER_BUFFERS; i++)
        if ((i == cv->b_xb || i == cv->b_wb || i == cv->b_z || i == cv->b_dyz ||
             i == cv->b_scr || i == cv->b_wd) &&
            !io->buffers[i])
            return nn_error_set(err, NN_EINVAL, "layer '%s': the plan gave no buffer %d", L, i);
    const nn_tensor *xb = buf_or(io, cv->b_xb, x), *wb = buf_or(io, cv->b_wb, w);
    const nn_tensor *z = buf_or(io, cv->b_z, y);
    if ((cv->re_x && (rc = nn_dnnl_reorder_op(&cv->r_x, &cv->x_md, x, &cv->xp_md, xb, L, err))) ||
        (cv->re_w && (rc = nn_dnnl_reorder_op(&cv->r_w, &cv->w_md, w, &cv->wp_md, wb, L, err))))
        return rc;
    if ((rc = nn_dnnl_op_create(&cv->fwd, cv->fwd_pd, "convolution forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_SRC, xb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_WEIGHTS, wb, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_DST, z, L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_BIAS,
                                              io->params[P_BIAS], L, err)))
        return rc;
    /* z -> y: a layout change, or a copy when z keeps act(z) for backward */
    if ((cv->re_y || (cv->training && cv->fused)) &&
        (rc = nn_dnnl_reorder_op(&cv->r_y, &cv->yp_md, z, &cv->y_md, y, L, err)))
        return rc;
    if (cv->act_pd) {
        /* z -> y when z is plain and kept; otherwise in place on y */
        const nn_tensor *src = cv->re_y ? y : z;
        if ((rc = nn_dnnl_op_create(&cv->act, cv->act_pd, "eltwise forward", L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->act, cv->act_pd, DNNL_ARG_SRC, src, L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->act, cv->act_pd, DNNL_ARG_DST, y, L, err)))
            return rc;
    }
    if (cv->training && io->grad_output && io->param_grads[P_WEIGHT])
        return conv_build_backward(cv, io, err);
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
        (rc = nn_dnnl_op_run(&cv->fwd, L, err)) || (rc = run_if(&cv->r_y, L, err)) ||
        (rc = run_if(&cv->act, L, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_conv_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    int rc;
    if (!cv->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference", L);
    if (!cv->bwd_w.prim && (rc = conv_build_backward(cv, io, err)))
        return rc;
    if ((rc = run_if(&cv->r_dy, L, err)) || (rc = run_if(&cv->act_bwd, L, err)) ||
        (rc = nn_dnnl_op_run(&cv->bwd_w, L, err)) || (rc = run_if(&cv->r_dw, L, err)))
        return rc;
    if (io->grad_inputs[0]) {
        if (!cv->bwd_d.prim)
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': an input gradient was asked for but the plan bound "
                                "none",
                                L);
        if ((rc = run_if(&cv->r_dyp, L, err)) || (rc = run_if(&cv->r_wd, L, err)) ||
            (rc = nn_dnnl_op_run(&cv->bwd_d, L, err)) ||
            (rc = run_if(&cv->r_dx, L, err)))
            return rc;
    }
    return NN_OK;
}

void nn_dnnl_conv_geometry(const void *self, nn_dnnl_conv_cfg *out)
{
    const nn_dnnl_conv *cv = self;
    *out = cv->c;
    memcpy(out->pad_l, cv->pad_l, sizeof out->pad_l);
    memcpy(out->pad_r, cv->pad_r, sizeof out->pad_r);
}
