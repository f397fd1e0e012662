/* sim_conv2d.c: "conv2d" on the sim device, [N, C, H, W] -> [N, filters, H', W'] with the CPU
 * plugin's keys (stride, padding incl. same/valid, dilation, groups, bias, activation) and
 * parameters (weight [filters, C/groups, kH, kW]). Per image and group: im2col into a
 * workspace, then one sim_gemm; backward reuses the workspace for the column gradients. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct sconv {
    int64_t filters, groups, kernel[2], stride[2], dilation[2];
    int64_t pad_l[2], pad_r[2]; /* from the keys; pad_l resolved in setup for `same` */
    int same, bias, bias_zeros, act;
    nn_init winit;
    const char *name;
    int training;
    int64_t c, h, w, oh, ow; /* from setup */
    int b_col, b_act, b_grad; /* buffer indices, -1 when absent */
} sconv;

static int conv_create(const nn_params *p, void **self, nn_error *err)
{
    sconv c = {.filters = nn_params_int(p, "filters"), .groups = nn_params_int(p, "groups")};
    c.bias = nn_params_bool(p, "bias");
    c.bias_zeros = nn_params_enum(p, "bias_init") == 1;
    c.act = nn_params_enum(p, "activation");
    c.winit = nn_stock_weight_init(nn_params_enum(p, "weight_init"));
    int rc;
    if ((rc = nn_stock_int_list(p, "kernel", 2, c.kernel, "conv2d", err)) ||
        (rc = nn_stock_int_list(p, "stride", 2, c.stride, "conv2d", err)) ||
        (rc = nn_stock_int_list(p, "dilation", 2, c.dilation, "conv2d", err)) ||
        (rc = nn_stock_conv_padding(p, 2, "conv2d", &c.same, c.pad_l, err)))
        return rc;
    c.pad_r[0] = c.pad_l[0];
    c.pad_r[1] = c.pad_l[1];
    if (c.filters % c.groups)
        return nn_error_set(err, NN_EINVAL, "%s: conv2d: key 'groups' = %lld must divide "
                            "'filters' = %lld", nn_params_origin(p), (long long)c.groups,
                            (long long)c.filters);
    sconv *cv = malloc(sizeof *cv);
    if (!cv)
        return nn_error_set(err, NN_ENOMEM, "conv2d: out of memory");
    *cv = c;
    cv->name = "conv2d";
    *self = cv;
    return NN_OK;
}

static void conv_destroy(void *self)
{
    free(self);
}

static int conv_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    sconv *cv = self;
    const char *L = cv->name = s->layer_name ? s->layer_name : "conv2d";
    char buf[96];
    cv->training = s->training;
    if (!sim_dev_from(s->device, L, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': conv2d takes 1 input, got %d", L,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 4)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': conv2d expects a [N, C, H, W] input, "
                            "got %s", L, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': conv2d supports float32 (F32) input "
                            "only", L);
    int64_t ci = x->shape[1];
    if (ci % cv->groups)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s has %lld channels, not "
                            "divisible by groups = %lld", L, nn_shape_str(x, buf, sizeof buf),
                            (long long)ci, (long long)cv->groups);
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i], k = cv->kernel[i], st = cv->stride[i];
        int64_t span = (k - 1) * cv->dilation[i] + 1, pl = cv->pad_l[i], pr = cv->pad_r[i];
        if (cv->same) {
            int64_t o = (in + st - 1) / st, tot = (o - 1) * st + span - in;
            if (tot < 0)
                tot = 0;
            pl = tot / 2;
            pr = tot - tot / 2;
        }
        int64_t avail = in + pl + pr - span;
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s is smaller than the "
                                "conv2d kernel span %lld (kernel %lld, dilation %lld) plus "
                                "padding %lld+%lld", L, nn_shape_str(x, buf, sizeof buf),
                                (long long)span, (long long)k, (long long)cv->dilation[i],
                                (long long)pl, (long long)pr);
        out[i] = avail / st + 1;
        if (cv->same)
            cv->pad_l[i] = pl; /* the right side only matters through the output size */
    }
    cv->c = ci;
    cv->h = x->shape[2];
    cv->w = x->shape[3];
    cv->oh = out[0];
    cv->ow = out[1];
    int64_t oshape[4] = {x->shape[0], cv->filters, out[0], out[1]};
    nn_tensor_describe(&s->output, NN_F32, 4, oshape);
    int64_t ksz = cv->kernel[0] * cv->kernel[1], cg = ci / cv->groups;
    int64_t wshape[4] = {cv->filters, cg, cv->kernel[0], cv->kernel[1]};
    int64_t fan_in = cg * ksz, fan_out = cv->filters * ksz;
    if (nn_layer_add_param(s, "weight", 4, wshape, cv->winit, fan_in, fan_out, 0) != P_WEIGHT ||
        (cv->bias && nn_layer_add_param(s, "bias", 1, &cv->filters,
                                        cv->bias_zeros ? NN_INIT_ZEROS : NN_INIT_FAN_IN_UNIFORM,
                                        fan_in, fan_out, NN_TENSOR_BIAS) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    int64_t col[2] = {fan_in, out[0] * out[1]};
    cv->b_col = nn_layer_add_buffer(s, "col", NN_BUF_WORKSPACE, NN_F32, 2, col);
    cv->b_act = cv->b_grad = -1;
    if (cv->act != SIM_ACT_NONE && s->training) {
        cv->b_act = nn_layer_add_buffer(s, "act", NN_BUF_SAVED, NN_F32, 4, oshape);
        cv->b_grad = nn_layer_add_buffer(s, "act_grad", NN_BUF_WORKSPACE, NN_F32, 4, oshape);
    }
    if (cv->b_col < 0 || (cv->act != SIM_ACT_NONE && s->training && cv->b_grad < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared", L);
    s->flops = (uint64_t)(2 * nn_shape_numel(4, oshape) * fan_in);
    return NN_OK;
}

/* 1x1, stride 1, no padding: an image is its own column matrix */
static int is_pointwise(const sconv *cv)
{
    return cv->kernel[0] == 1 && cv->kernel[1] == 1 && cv->stride[0] == 1 &&
           cv->stride[1] == 1 && cv->pad_l[0] == 0 && cv->pad_l[1] == 0;
}

/* col[(c, ki, kj), (oh, ow)] = x[c, oh*s - p + ki*d, ow*s - p + kj*d], 0 outside */
static void im2col(const sconv *cv, const float *x, int64_t cg, float *col)
{
    int64_t kh = cv->kernel[0], kw = cv->kernel[1], oh = cv->oh, ow = cv->ow;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t ki = 0; ki < kh; ki++)
            for (int64_t kj = 0; kj < kw; kj++) {
                float *row = col + ((c * kh + ki) * kw + kj) * oh * ow;
                for (int64_t i = 0; i < oh; i++) {
                    int64_t ih = i * cv->stride[0] - cv->pad_l[0] + ki * cv->dilation[0];
                    float *r = row + i * ow;
                    if (ih < 0 || ih >= cv->h) {
                        memset(r, 0, sizeof *r * (size_t)ow);
                        continue;
                    }
                    const float *xr = x + (c * cv->h + ih) * cv->w;
                    int64_t off = kj * cv->dilation[1] - cv->pad_l[1], st = cv->stride[1];
                    for (int64_t j = 0; j < ow; j++) {
                        int64_t iw = j * st + off;
                        r[j] = iw >= 0 && iw < cv->w ? xr[iw] : 0.0f;
                    }
                }
            }
}

/* the adjoint of im2col: dx[c, ih, iw] += col[...] */
static void col2im(const sconv *cv, const float *col, int64_t cg, float *dx)
{
    int64_t kh = cv->kernel[0], kw = cv->kernel[1], oh = cv->oh, ow = cv->ow;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t ki = 0; ki < kh; ki++)
            for (int64_t kj = 0; kj < kw; kj++) {
                const float *row = col + ((c * kh + ki) * kw + kj) * oh * ow;
                for (int64_t i = 0; i < oh; i++) {
                    int64_t ih = i * cv->stride[0] - cv->pad_l[0] + ki * cv->dilation[0];
                    if (ih < 0 || ih >= cv->h)
                        continue;
                    float *xr = dx + (c * cv->h + ih) * cv->w;
                    int64_t off = kj * cv->dilation[1] - cv->pad_l[1], st = cv->stride[1];
                    for (int64_t j = 0; j < ow; j++) {
                        int64_t iw = j * st + off;
                        if (iw >= 0 && iw < cv->w)
                            xr[iw] += row[i * ow + j];
                    }
                }
            }
}

static int conv_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sconv *cv = self;
    const char *L = cv->name;
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *b = NULL;
    float *y, *z, *col;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    if (cv->bias)
        SIM_TENSOR(b, dev, io->params[P_BIAS], NN_F32, L, "bias", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, L, "output", err);
    SIM_TENSOR(col, dev, io->buffers[cv->b_col], NN_F32, L, "col", err);
    z = y;
    if (cv->b_act >= 0 && io->buffers[cv->b_act])
        SIM_TENSOR(z, dev, io->buffers[cv->b_act], NN_F32, L, "act", err);
    int64_t n = io->inputs[0]->shape[0], G = cv->groups, cg = cv->c / G, fg = cv->filters / G;
    int64_t hw = cv->h * cv->w, ohw = cv->oh * cv->ow, K = cg * cv->kernel[0] * cv->kernel[1];
    for (int64_t i = 0; i < n; i++)
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (i * cv->c + g * cg) * hw, *B = xg;
            if (!is_pointwise(cv)) {
                im2col(cv, xg, cg, col);
                B = col;
            }
            float *zg = z + (i * cv->filters + g * fg) * ohw;
            sim_gemm(dev, 0, 0, fg, ohw, K, w + g * fg * K, K, B, ohw, 0, zg, ohw);
            for (int64_t f = 0; b && f < fg; f++)
                for (int64_t p = 0; p < ohw; p++)
                    zg[f * ohw + p] += b[g * fg + f];
        }
    if (cv->act != SIM_ACT_NONE)
        sim_act_forward(cv->act, z, y, n * cv->filters * ohw);
    return NN_OK;
}

static int conv_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sconv *cv = self;
    const char *L = cv->name;
    if (!cv->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", L);
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *dy, *dz;
    float *dw, *db = NULL, *dx = NULL, *col;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    SIM_TENSOR(dy, dev, io->grad_output, NN_F32, L, "output gradient", err);
    SIM_TENSOR(dw, dev, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    SIM_TENSOR(col, dev, io->buffers[cv->b_col], NN_F32, L, "col", err);
    if (cv->bias)
        SIM_TENSOR(db, dev, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    if (io->grad_inputs[0])
        SIM_TENSOR(dx, dev, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    int64_t n = io->inputs[0]->shape[0], G = cv->groups, cg = cv->c / G, fg = cv->filters / G;
    int64_t hw = cv->h * cv->w, ohw = cv->oh * cv->ow, K = cg * cv->kernel[0] * cv->kernel[1];
    dz = dy;
    if (cv->act != SIM_ACT_NONE) {
        const float *z;
        float *g;
        if (cv->b_act < 0 || !io->buffers[cv->b_act] || !io->buffers[cv->b_grad])
            return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan built "
                                "without training buffers", L);
        SIM_TENSOR(z, dev, io->buffers[cv->b_act], NN_F32, L, "act", err);
        SIM_TENSOR(g, dev, io->buffers[cv->b_grad], NN_F32, L, "act_grad", err);
        sim_act_backward(cv->act, z, dy, g, n * cv->filters * ohw);
        dz = g;
    }
    if (dx)
        memset(dx, 0, sizeof *dx * (size_t)(n * cv->c * hw));
    int pw = is_pointwise(cv);
    for (int64_t i = 0; i < n; i++)
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (i * cv->c + g * cg) * hw, *dzg = dz + (i * cv->filters + g * fg) * ohw;
            const float *wg = w + g * fg * K;
            if (!pw)
                im2col(cv, xg, cg, col);
            /* dW_g += dz_g col^T */
            sim_gemm(dev, 0, 1, fg, K, ohw, dzg, ohw, pw ? xg : col, ohw, i > 0, dw + g * fg * K,
                     K);
            if (!dx)
                continue;
            float *dxg = dx + (i * cv->c + g * cg) * hw;
            if (pw) {
                sim_gemm(dev, 1, 0, K, ohw, fg, wg, K, dzg, ohw, 0, dxg, ohw);
            } else {
                sim_gemm(dev, 1, 0, K, ohw, fg, wg, K, dzg, ohw, 0, col, ohw);
                col2im(cv, col, cg, dxg);
            }
        }
    for (int64_t f = 0; db && f < cv->filters; f++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < ohw; p++)
                s += dz[(i * cv->filters + f) * ohw + p];
        db[f] = (float)s;
    }
    return NN_OK;
}

static const nn_param_spec conv_params[] = {NN_STOCK_CONV2D_PARAMS, {.name = NULL}};

static const nn_layer_vtable conv_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = conv_create,
    .destroy = conv_destroy,
    .setup = conv_setup,
    .forward = conv_forward,
    .backward = conv_backward,
};

const nn_plugin_desc sim_conv2d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "conv2d", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "2-D convolution [N, C, H, W] -> [N, filters, H', W'] on the sim device "
               "(im2col + blocked GEMM), optional activation",
    .caps = NN_CAP_BACKWARD, .params = conv_params, .vtable = &conv_vtable);
