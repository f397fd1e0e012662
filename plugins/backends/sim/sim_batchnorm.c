/* sim_batchnorm.c: "batchnorm" on the sim device over dim 1 of [N, C, ...], as the CPU plugin
 * (PyTorch's BatchNorm): batch statistics in training, running statistics (momentum update
 * with the unbiased variance, in the CPU plugin's float arithmetic) in eval. The same
 * parameters and state buffers, so checkpoints move between devices. Never allocates. */
#include <math.h>
#include <stdlib.h>

#include "sim.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct sbn {
    double momentum, eps;
    int affine, training, sync;
    const char *name;
    int64_t channels, count, inner; /* count: values per channel; inner: spatial size */
    int b_rmean, b_rvar, b_mean, b_var;
} sbn;

static int bn_create(const nn_params *p, void **self, nn_error *err)
{
    sbn *b = calloc(1, sizeof *b);
    if (!b)
        return nn_error_set(err, NN_ENOMEM, "batchnorm: out of memory");
    b->momentum = nn_params_float(p, "momentum");
    b->eps = nn_params_float(p, "eps");
    b->affine = nn_params_bool(p, "affine");
    b->sync = nn_params_bool(p, "sync");
    b->name = "batchnorm";
    b->b_rmean = b->b_rvar = b->b_mean = b->b_var = -1;
    *self = b;
    return NN_OK;
}

static void bn_destroy(void *self)
{
    free(self);
}

static int bn_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    sbn *b = self;
    const char *L = b->name = s->layer_name ? s->layer_name : "batchnorm";
    char buf[96];
    b->training = s->training;
    if (!sim_dev_from(s->device, L, err))
        return NN_EINVAL;
    /* one process's statistics are the global batch's: sync only matters across processes */
    if (b->sync && s->dist && s->dist->size > 1)
        return nn_error_set(err, NN_ENOTSUP, "layer '%s': sync = true across %d processes is "
                            "not implemented on sim", L, s->dist->size);
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm takes 1 input, got %d", L,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim < 2 || x->dl.ndim > 5)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm expects [N, C], [N, C, L] "
                            "or [N, C, H, W], got %s", L, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': batchnorm supports float32 (F32) only",
                            L);
    int64_t c = b->channels = x->shape[1];
    b->count = nn_tensor_numel(x) / c;
    b->inner = b->count / x->shape[0];
    if (s->training && b->count < 2)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm needs more than 1 value per "
                            "channel to train, input %s has 1 (use a batch larger than 1)", L,
                            nn_shape_str(x, buf, sizeof buf));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    if (b->affine &&
        (nn_layer_add_param(s, "weight", 1, &c, NN_INIT_ONES, c, c, NN_TENSOR_NORM) != P_WEIGHT ||
         nn_layer_add_param(s, "bias", 1, &c, NN_INIT_ZEROS, c, c, NN_TENSOR_NORM) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    b->b_rmean = nn_layer_add_buffer(s, "running_mean", NN_BUF_STATE, NN_F32, 1, &c);
    b->b_rvar = nn_layer_add_buffer(s, "running_var", NN_BUF_STATE, NN_F32, 1, &c);
    if (b->b_rvar >= 0)
        s->buffers[b->b_rvar].init = NN_INIT_ONES;
    if (s->training) {
        b->b_mean = nn_layer_add_buffer(s, "batch_mean", NN_BUF_SAVED, NN_F32, 1, &c);
        b->b_var = nn_layer_add_buffer(s, "batch_var", NN_BUF_SAVED, NN_F32, 1, &c);
    }
    if (b->b_rmean < 0 || b->b_rvar < 0 || (s->training && (b->b_mean < 0 || b->b_var < 0)))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", L);
    s->flops = (uint64_t)(4 * nn_tensor_numel(x));
    return NN_OK;
}

/* y = (x - mean) / sqrt(var + eps) * w + b, channel by channel */
static void normalise(const sbn *b, int64_t n, const float *x, const float *mean,
                      const float *var, const float *w, const float *bias, float *y)
{
    for (int64_t c = 0; c < b->channels; c++) {
        double inv = 1.0 / sqrt((double)var[c] + b->eps);
        double scale = w ? w[c] * inv : inv, shift = bias ? bias[c] : 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xc = x + (i * b->channels + c) * b->inner;
            float *yc = y + (i * b->channels + c) * b->inner;
            for (int64_t k = 0; k < b->inner; k++)
                yc[k] = (float)((xc[k] - (double)mean[c]) * scale + shift);
        }
    }
}

static int bn_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbn *b = self;
    const char *L = b->name;
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w = NULL, *bias = NULL;
    float *y, *rm, *rv;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, L, "output", err);
    SIM_TENSOR(rm, dev, io->buffers[b->b_rmean], NN_F32, L, "running_mean", err);
    SIM_TENSOR(rv, dev, io->buffers[b->b_rvar], NN_F32, L, "running_var", err);
    if (b->affine) {
        SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
        SIM_TENSOR(bias, dev, io->params[P_BIAS], NN_F32, L, "bias", err);
    }
    int64_t n = io->inputs[0]->shape[0];
    if (!io->training || !b->training) {
        normalise(b, n, x, rm, rv, w, bias, y);
        return NN_OK;
    }
    float *bm, *bv;
    SIM_TENSOR(bm, dev, io->buffers[b->b_mean], NN_F32, L, "batch_mean", err);
    SIM_TENSOR(bv, dev, io->buffers[b->b_var], NN_F32, L, "batch_var", err);
    for (int64_t c = 0; c < b->channels; c++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *xc = x + (i * b->channels + c) * b->inner;
            for (int64_t k = 0; k < b->inner; k++)
                s += xc[k];
        }
        double mean = s / (double)b->count;
        for (int64_t i = 0; i < n; i++) {
            const float *xc = x + (i * b->channels + c) * b->inner;
            for (int64_t k = 0; k < b->inner; k++)
                q += (xc[k] - mean) * (xc[k] - mean);
        }
        bm[c] = (float)mean;
        bv[c] = (float)(q / (double)b->count);
    }
    normalise(b, n, x, bm, bv, w, bias, y);
    /* the CPU plugin's update, in its float arithmetic */
    float m = (float)b->momentum, keep = 1.0f - m;
    float unbias = (float)((double)b->count / (double)(b->count - 1));
    for (int64_t c = 0; c < b->channels; c++) {
        rm[c] = keep * rm[c] + m * bm[c];
        rv[c] = keep * rv[c] + m * bv[c] * unbias;
    }
    return NN_OK;
}

/* dx = w inv (dy - sum(dy) / M - xhat sum(dy xhat) / M), dw = sum(dy xhat), db = sum(dy) */
static int bn_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbn *b = self;
    const char *L = b->name;
    if (!b->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", L);
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *dy, *bm, *bv, *w = NULL;
    float *dx = NULL, *dw = NULL, *db = NULL;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(dy, dev, io->grad_output, NN_F32, L, "output gradient", err);
    SIM_TENSOR(bm, dev, io->buffers[b->b_mean], NN_F32, L, "batch_mean", err);
    SIM_TENSOR(bv, dev, io->buffers[b->b_var], NN_F32, L, "batch_var", err);
    if (b->affine) {
        SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
        SIM_TENSOR(dw, dev, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
        SIM_TENSOR(db, dev, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    }
    if (io->grad_inputs[0])
        SIM_TENSOR(dx, dev, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    int64_t n = io->inputs[0]->shape[0];
    double M = (double)b->count;
    for (int64_t c = 0; c < b->channels; c++) {
        double inv = 1.0 / sqrt((double)bv[c] + b->eps), mean = bm[c];
        double sdy = 0, sdyx = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *xc = x + (i * b->channels + c) * b->inner;
            const float *gc = dy + (i * b->channels + c) * b->inner;
            for (int64_t k = 0; k < b->inner; k++) {
                sdy += gc[k];
                sdyx += gc[k] * (xc[k] - mean) * inv;
            }
        }
        if (dw) {
            dw[c] = (float)sdyx;
            db[c] = (float)sdy;
        }
        if (!dx)
            continue;
        double scale = (w ? w[c] : 1.0) * inv;
        for (int64_t i = 0; i < n; i++) {
            const float *xc = x + (i * b->channels + c) * b->inner;
            const float *gc = dy + (i * b->channels + c) * b->inner;
            float *dc = dx + (i * b->channels + c) * b->inner;
            for (int64_t k = 0; k < b->inner; k++) {
                double xhat = (xc[k] - mean) * inv;
                dc[k] = (float)(scale * (gc[k] - sdy / M - xhat * sdyx / M));
            }
        }
    }
    return NN_OK;
}

static const nn_param_spec bn_params[] = {NN_STOCK_BATCHNORM_PARAMS, {.name = NULL}};

static const nn_layer_vtable bn_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = bn_create,
    .destroy = bn_destroy,
    .setup = bn_setup,
    .forward = bn_forward,
    .backward = bn_backward,
};

const nn_plugin_desc sim_batchnorm_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "batchnorm", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "batch normalisation over dim 1 of [N, C, ...] on the sim device, running "
               "statistics for eval",
    .caps = NN_CAP_BACKWARD, .params = bn_params, .vtable = &bn_vtable);
