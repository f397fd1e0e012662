/* log_softmax.c: the layer plugin "log_softmax", y = x - max - log(sum(exp(x - max))) along one
 * axis of an F32 tensor (the last by default), the log-probabilities the nll loss takes; never
 * log(softmax(x)), which is -inf once a probability underflows. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>

#include "nn_axis.h"

static int ls_create(const nn_params *params, void **self, nn_error *err)
{
    return nn_axis_create("log_softmax", params, self, err);
}

/* one contiguous row (inner == 1, the common case); the sum in double keeps log exact to
 * float rounding for long rows */
static void ls_row(const float *restrict x, float *restrict y, int64_t len)
{
    float m = x[0];
    for (int64_t a = 1; a < len; a++)
        m = x[a] > m ? x[a] : m;
    double sum = 0.0;
    for (int64_t a = 0; a < len; a++)
        sum += exp((double)(x[a] - m));
    float lse = m + (float)log(sum);
    for (int64_t a = 0; a < len; a++)
        y[a] = x[a] - lse;
}

static int ls_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const nn_axis_layer *ls = self;
    const float *xs = NN_F32P(io->inputs[0]);
    float *ys = NN_F32P(io->output);
    const int64_t len = ls->len, inner = ls->inner;
    for (int64_t o = 0; o < ls->outer; o++) {
        const float *restrict x = xs + o * len * inner;
        float *restrict y = ys + o * len * inner;
        if (inner == 1) {
            ls_row(x, y, len);
            continue;
        }
        /* [len, inner] slice: reduce along len with inner contiguous lanes */
        float *restrict mx = NN_F32P(io->buffers[ls->ws_buf]);
        float *restrict sum = mx + inner;
        for (int64_t i = 0; i < inner; i++) {
            mx[i] = x[i];
            sum[i] = 0.0f;
        }
        for (int64_t a = 1; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                mx[i] = x[a * inner + i] > mx[i] ? x[a * inner + i] : mx[i];
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                sum[i] += expf(x[a * inner + i] - mx[i]);
        for (int64_t i = 0; i < inner; i++)
            sum[i] = mx[i] + logf(sum[i]); /* log-sum-exp of the lane */
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                y[a * inner + i] = x[a * inner + i] - sum[i];
    }
    return NN_OK;
}

/* dx = g - softmax(x) * sum(g) along the axis, softmax(x) = exp(y) from the saved-by-graph
 * output y */
static int ls_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const nn_axis_layer *ls = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *ys = NN_F32P(io->output), *gs = NN_F32P(io->grad_output);
    float *gxs = NN_F32P(io->grad_inputs[0]);
    const int64_t len = ls->len, inner = ls->inner;
    float *restrict gsum = NN_F32P(io->buffers[ls->ws_buf]);
    for (int64_t o = 0; o < ls->outer; o++) {
        const float *restrict y = ys + o * len * inner;
        const float *restrict g = gs + o * len * inner;
        float *restrict gx = gxs + o * len * inner;
        for (int64_t i = 0; i < inner; i++)
            gsum[i] = 0.0f;
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                gsum[i] += g[a * inner + i];
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                gx[a * inner + i] = g[a * inner + i] - expf(y[a * inner + i]) * gsum[i];
    }
    return NN_OK;
}

static int ls_export(void *self, const nn_layer_export *x, nn_error *err)
{
    return nn_axis_export(self, x, "LogSoftmax", err);
}

static const nn_layer_vtable ls_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = ls_create,
    .destroy = nn_axis_destroy,
    .setup = nn_axis_setup,
    .forward = ls_forward,
    .backward = ls_backward,
    .export_as = ls_export, /* optional: ONNX */
};

static const nn_param_spec ls_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "-1", .range = "[-8, 7]",
     .doc = "axis along which exp(outputs) sum to 1 (the class axis the nll loss reads); "
            "negative counts from the last (-1); the batch axis 0 is not allowed"},
    {.name = NULL},
};

static const nn_plugin_desc ls_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "log_softmax", .version = "1.0.0", .license = "MIT",
    .summary = "LogSoftmax along one axis (the last by default), numerically stable: the "
               "log-probabilities nll takes (as PyTorch's log_softmax + nll_loss)",
    .caps = NN_CAP_BACKWARD, .params = ls_params, .vtable = &ls_vtable);

NN_PLUGIN_EXPORT(&ls_desc);
