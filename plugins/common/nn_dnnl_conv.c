/* nn_dnnl_conv.c: the convolution layer behind the conv1d and conv2d plugins (they differ in
 * the number of spatial dims only): key parsing, shapes, oneDNN primitives built once in bind,
 * bias + activation fused. Never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_WEIGHT = 0, P_BIAS = 1 };

struct nn_dnnl_conv {
    nn_dnnl_conv_cfg c;
    const char *name;
    const char *kind; /* "conv1d" / "conv2d" for messages */
    int training;
    int64_t pad_l[2], pad_r[2]; /* resolved in setup (padding = same depends on the input) */
    nn_dnnl_act act;
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_w_pd;
    nn_dnnl_op fwd, bwd_data, bwd_w;
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
    cv->act.kind = c.act;
    /* bias_init lives in the same schema for both plugins */
    cv->c.bias = c.bias ? (nn_params_enum(p, "bias_init") == 1 ? 2 : 1) : 0;
    *self = cv;
    return NN_OK;
}

void nn_dnnl_conv_destroy(void *self)
{
    nn_dnnl_conv *cv = self;
    nn_dnnl_op_destroy(&cv->fwd);
    nn_dnnl_op_destroy(&cv->bwd_data);
    nn_dnnl_op_destroy(&cv->bwd_w);
    nn_dnnl_pd_free(&cv->fwd_pd);
    nn_dnnl_pd_free(&cv->bwd_data_pd);
    nn_dnnl_pd_free(&cv->bwd_w_pd);
    nn_dnnl_act_destroy(&cv->act);
    free(cv);
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
    return nn_dnnl_act_setup(&cv->act, cv->act.kind, s, err);
}

/* the descriptors every conv primitive shares; weights are [O, I/g, k...] which with groups
 * is the same memory as oneDNN's [g, O/g, I/g, k...] */
typedef struct conv_mds {
    dnnl_memory_desc_t src, w, b, dst;
    dnnl_dims_t strides, dil, pl, pr;
} conv_mds;

static int conv_mds_make(const nn_dnnl_conv *cv, const nn_tensor *x, conv_mds *m, nn_error *err)
{
    const nn_dnnl_conv_cfg *c = &cv->c;
    int sp = c->sp, rc;
    if ((rc = nn_dnnl_md_tensor(&m->src, x, cv->name, err)))
        return rc;
    int64_t wd[6], od[4] = {x->shape[0], c->filters, 0, 0};
    int wn = 0;
    if (c->groups > 1)
        wd[wn++] = c->groups;
    wd[wn++] = c->filters / c->groups;
    wd[wn++] = x->shape[1] / c->groups;
    for (int i = 0; i < sp; i++) {
        int64_t span = (c->kernel[i] - 1) * c->dilation[i] + 1;
        wd[wn++] = c->kernel[i];
        od[2 + i] = (x->shape[2 + i] + cv->pad_l[i] + cv->pad_r[i] - span) / c->stride[i] + 1;
        m->strides[i] = c->stride[i];
        m->dil[i] = c->dilation[i] - 1; /* oneDNN counts the gaps */
        m->pl[i] = cv->pad_l[i];
        m->pr[i] = cv->pad_r[i];
    }
    nn_dnnl_md_dims(&m->w, wn, wd);
    nn_dnnl_md_dims(&m->b, 1, &c->filters);
    nn_dnnl_md_dims(&m->dst, 2 + sp, od);
    return NN_OK;
}

static int conv_build_backward(nn_dnnl_conv *cv, const nn_layer_io *io, nn_error *err)
{
    const char *L = cv->name;
    const nn_tensor *x = io->inputs[0];
    conv_mds m;
    int rc;
    if ((rc = conv_mds_make(cv, x, &m, err)) || (rc = nn_dnnl_act_bind(&cv->act, io, L, err)))
        return rc;
    const nn_tensor *dz = cv->act.kind == NN_ACT_NONE ? io->grad_output
                                                        : io->buffers[cv->act.buf_grad];
    dnnl_convolution_desc_t bd;
    dnnl_engine_t eng = nn_dnnl_engine();
    if (io->grad_inputs[0]) {
        NN_DNNL_TRY(err, L, "convolution backward-data descriptor",
                    dnnl_dilated_convolution_backward_data_desc_init(
                        &bd, dnnl_convolution_direct, &m.src, &m.w, &m.dst, m.strides, m.dil,
                        m.pl, m.pr));
        nn_dnnl_pd_free(&cv->bwd_data_pd);
        NN_DNNL_TRY(err, L, "convolution backward-data",
                    dnnl_primitive_desc_create(&cv->bwd_data_pd, &bd, NULL, eng, cv->fwd_pd));
        if ((rc = nn_dnnl_op_create(&cv->bwd_data, cv->bwd_data_pd, "convolution backward-data",
                                    L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->bwd_data, cv->bwd_data_pd, DNNL_ARG_DIFF_DST, dz, L,
                                    err)) ||
            (rc = nn_dnnl_op_tensor(&cv->bwd_data, cv->bwd_data_pd, DNNL_ARG_WEIGHTS,
                                    io->params[P_WEIGHT], L, err)) ||
            (rc = nn_dnnl_op_tensor(&cv->bwd_data, cv->bwd_data_pd, DNNL_ARG_DIFF_SRC,
                                    io->grad_inputs[0], L, err)))
            return rc;
    }
    NN_DNNL_TRY(err, L, "convolution backward-weights descriptor",
                dnnl_dilated_convolution_backward_weights_desc_init(
                    &bd, dnnl_convolution_direct, &m.src, &m.w, cv->c.bias ? &m.b : NULL,
                    &m.dst, m.strides, m.dil, m.pl, m.pr));
    nn_dnnl_pd_free(&cv->bwd_w_pd);
    NN_DNNL_TRY(err, L, "convolution backward-weights",
                dnnl_primitive_desc_create(&cv->bwd_w_pd, &bd, NULL, eng, cv->fwd_pd));
    if ((rc = nn_dnnl_op_create(&cv->bwd_w, cv->bwd_w_pd, "convolution backward-weights", L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_DST, dz, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_WEIGHTS,
                                io->param_grads[P_WEIGHT], L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->bwd_w, cv->bwd_w_pd, DNNL_ARG_DIFF_BIAS,
                                              io->param_grads[P_BIAS], L, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_conv_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    const char *L = cv->name;
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    const nn_tensor *x = io->inputs[0];
    conv_mds m;
    if ((rc = conv_mds_make(cv, x, &m, err)))
        return rc;
    dnnl_convolution_desc_t fd;
    NN_DNNL_TRY(err, L, "convolution forward descriptor",
                dnnl_dilated_convolution_forward_desc_init(
                    &fd, cv->training ? dnnl_forward_training : dnnl_forward_inference,
                    dnnl_convolution_direct, &m.src, &m.w, cv->c.bias ? &m.b : NULL, &m.dst,
                    m.strides, m.dil, m.pl, m.pr));
    dnnl_primitive_attr_t attr;
    NN_DNNL_TRY(err, L, "primitive attributes", dnnl_primitive_attr_create(&attr));
    int fused;
    rc = nn_dnnl_act_attr(&cv->act, cv->training, attr, &fused, L, err);
    dnnl_status_t st = dnnl_success;
    if (!rc) {
        nn_dnnl_pd_free(&cv->fwd_pd);
        st = dnnl_primitive_desc_create(&cv->fwd_pd, &fd, attr, nn_dnnl_engine(), NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (rc)
        return rc;
    if (st != dnnl_success)
        return nn_dnnl_fail(err, st, L, "convolution forward");
    const nn_tensor *dst = cv->training && cv->act.saves_pre && cv->act.buf_saved >= 0
                               ? io->buffers[cv->act.buf_saved]
                               : io->output;
    if ((rc = nn_dnnl_op_create(&cv->fwd, cv->fwd_pd, "convolution forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_WEIGHTS, io->params[P_WEIGHT], L,
                                err)) ||
        (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_DST, dst, L, err)))
        return rc;
    if (cv->c.bias && (rc = nn_dnnl_op_tensor(&cv->fwd, cv->fwd_pd, DNNL_ARG_BIAS,
                                              io->params[P_BIAS], L, err)))
        return rc;
    if (cv->training && io->grad_output && io->param_grads[P_WEIGHT])
        return conv_build_backward(cv, io, err);
    return NN_OK;
}

int nn_dnnl_conv_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    int rc;
    if (!cv->fwd.prim && (rc = nn_dnnl_conv_bind(self, io, err)))
        return rc;
    if ((rc = nn_dnnl_op_run(&cv->fwd, cv->name, err)))
        return rc;
    return cv->training ? nn_dnnl_act_forward(&cv->act, io, cv->name, err) : NN_OK;
}

int nn_dnnl_conv_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_dnnl_conv *cv = self;
    int rc;
    if (!cv->training)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward called on a plan set up for inference",
                            cv->name);
    if (!cv->bwd_w.prim && (rc = conv_build_backward(cv, io, err)))
        return rc;
    if (!nn_dnnl_act_backward(&cv->act, io, cv->name, err))
        return err ? err->status : NN_EINTERNAL;
    if (io->grad_inputs[0]) {
        if (!cv->bwd_data.prim)
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': an input gradient was asked for but the plan bound "
                                "none",
                                cv->name);
        if ((rc = nn_dnnl_op_run(&cv->bwd_data, cv->name, err)))
            return rc;
    }
    return nn_dnnl_op_run(&cv->bwd_w, cv->name, err);
}
