/* sim_maxpool2d.c: "maxpool2d" on the sim device, [N, C, H, W] -> [N, C, H', W'] in floor
 * mode with -inf padding, the CPU plugin's keys. The first largest tap of a window wins (as
 * oneDNN's kernels: a later tap replaces it only when strictly greater); training forwards
 * keep its index in a SAVED buffer for backward. Never allocates. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct spool {
    int64_t kernel[2], stride[2], pad[2];
    const char *name;
    int64_t c, h, w, oh, ow;
    int b_arg; /* SAVED argmax (I32, shaped like the output), -1 in eval plans */
} spool;

static int pool_create(const nn_params *p, void **self, nn_error *err)
{
    spool pl = {.b_arg = -1};
    int rc;
    if ((rc = nn_stock_int_list(p, "kernel", 2, pl.kernel, "maxpool2d", err)) ||
        (rc = nn_stock_int_list(p, "padding", 2, pl.pad, "maxpool2d", err)))
        return rc;
    if (nn_params_has(p, "stride")) {
        if ((rc = nn_stock_int_list(p, "stride", 2, pl.stride, "maxpool2d", err)))
            return rc;
    } else {
        pl.stride[0] = pl.kernel[0];
        pl.stride[1] = pl.kernel[1];
    }
    for (int i = 0; i < 2; i++)
        if (pl.pad[i] * 2 > pl.kernel[i])
            return nn_error_set(err, NN_EINVAL, "%s: maxpool2d: key 'padding' = %lld is more "
                                "than half the kernel (%lld): a window could lie entirely in "
                                "the padding", nn_params_origin(p), (long long)pl.pad[i],
                                (long long)pl.kernel[i]);
    spool *s = malloc(sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "maxpool2d: out of memory");
    *s = pl;
    s->name = "maxpool2d";
    *self = s;
    return NN_OK;
}

static void pool_destroy(void *self)
{
    free(self);
}

static int pool_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    spool *pl = self;
    const char *L = pl->name = s->layer_name ? s->layer_name : "maxpool2d";
    char buf[96];
    if (!sim_dev_from(s->device, L, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': maxpool2d takes 1 input, got %d", L,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 4)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': maxpool2d expects an [N, C, H, W] "
                            "input, got %s", L, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': maxpool2d supports float32 (F32) "
                            "input only", L);
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        int64_t avail = x->shape[2 + i] + 2 * pl->pad[i] - pl->kernel[i];
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s is smaller than the "
                                "maxpool2d kernel %lldx%lld plus padding %lld", L,
                                nn_shape_str(x, buf, sizeof buf), (long long)pl->kernel[0],
                                (long long)pl->kernel[1], (long long)pl->pad[i]);
        out[i] = avail / pl->stride[i] + 1;
    }
    pl->c = x->shape[1];
    pl->h = x->shape[2];
    pl->w = x->shape[3];
    pl->oh = out[0];
    pl->ow = out[1];
    int64_t oshape[4] = {x->shape[0], pl->c, out[0], out[1]};
    nn_tensor_describe(&s->output, NN_F32, 4, oshape);
    s->flops = (uint64_t)(nn_shape_numel(4, oshape) * pl->kernel[0] * pl->kernel[1]);
    pl->b_arg = -1;
    if (s->training &&
        (pl->b_arg = nn_layer_add_buffer(s, "argmax", NN_BUF_SAVED, NN_I32, 4, oshape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare a buffer", L);
    return NN_OK;
}

static int pool_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const spool *pl = self;
    const char *L = pl->name;
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x;
    float *y;
    int32_t *arg = NULL;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, L, "output", err);
    if (pl->b_arg >= 0 && io->buffers[pl->b_arg])
        SIM_TENSOR(arg, dev, io->buffers[pl->b_arg], NN_I32, L, "argmax", err);
    int64_t planes = io->inputs[0]->shape[0] * pl->c, hw = pl->h * pl->w;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * hw;
        for (int64_t i = 0; i < pl->oh; i++)
            for (int64_t j = 0; j < pl->ow; j++) {
                int64_t h0 = i * pl->stride[0] - pl->pad[0], w0 = j * pl->stride[1] - pl->pad[1];
                float best = -FLT_MAX;
                int32_t at = -1;
                for (int64_t ki = 0; ki < pl->kernel[0]; ki++) {
                    int64_t ih = h0 + ki;
                    if (ih < 0 || ih >= pl->h)
                        continue;
                    for (int64_t kj = 0; kj < pl->kernel[1]; kj++) {
                        int64_t iw = w0 + kj;
                        if (iw < 0 || iw >= pl->w)
                            continue;
                        float v = xp[ih * pl->w + iw];
                        /* NaN never wins; a window of -inf keeps -FLT_MAX, as oneDNN */
                        if (at < 0 || v > best) {
                            at = (int32_t)(ih * pl->w + iw);
                            best = v > best ? v : best;
                        }
                    }
                }
                int64_t o = (p * pl->oh + i) * pl->ow + j;
                y[o] = best;
                if (arg)
                    arg[o] = at;
            }
    }
    return NN_OK;
}

static int pool_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const spool *pl = self;
    const char *L = pl->name;
    if (!io->grad_inputs[0])
        return NN_OK;
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    if (pl->b_arg < 0 || !io->buffers[pl->b_arg])
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward needs the argmax of a "
                            "training forward, which this plan does not keep", L);
    const float *dy;
    const int32_t *arg;
    float *dx;
    SIM_TENSOR(dy, dev, io->grad_output, NN_F32, L, "output gradient", err);
    SIM_TENSOR(arg, dev, io->buffers[pl->b_arg], NN_I32, L, "argmax", err);
    SIM_TENSOR(dx, dev, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    int64_t planes = io->inputs[0]->shape[0] * pl->c, hw = pl->h * pl->w, ohw = pl->oh * pl->ow;
    memset(dx, 0, sizeof *dx * (size_t)(planes * hw));
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < ohw; o++)
            if (arg[p * ohw + o] >= 0 && arg[p * ohw + o] < hw)
                dx[p * hw + arg[p * ohw + o]] += dy[p * ohw + o];
    return NN_OK;
}

static const nn_param_spec pool_params[] = {NN_STOCK_MAXPOOL2D_PARAMS, {.name = NULL}};

static const nn_layer_vtable pool_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = pool_create,
    .destroy = pool_destroy,
    .setup = pool_setup,
    .forward = pool_forward,
    .backward = pool_backward,
};

const nn_plugin_desc sim_maxpool2d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "maxpool2d", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "2-D max pooling [N, C, H, W] -> [N, C, H', W'] on the sim device (floor mode)",
    .caps = NN_CAP_BACKWARD, .params = pool_params, .vtable = &pool_vtable);
