/* softmax.c: the layer plugin "softmax", y = exp(x - max) / sum(exp(x - max)) along one axis
 * of an F32 tensor (the last by default); subtracting the max keeps it finite for any input.
 * Forward and backward never allocate: per-slice maxima and sums live in a WORKSPACE buffer. */
#include <math.h>
#include <nntrain/nntrain.h>

#include "nn_axis.h"

static int softmax_create(const nn_params *params, void **self, nn_error *err)
{
    return nn_axis_create("softmax", params, self, err);
}

/* one contiguous row (inner == 1, the common case) */
static void softmax_row(const float *restrict x, float *restrict y, int64_t len)
{
    float m = x[0];
    for (int64_t a = 1; a < len; a++)
        m = x[a] > m ? x[a] : m;
    float sum = 0.0f;
    for (int64_t a = 0; a < len; a++) {
        y[a] = expf(x[a] - m);
        sum += y[a];
    }
    float inv = 1.0f / sum;
    for (int64_t a = 0; a < len; a++)
        y[a] *= inv;
}

static int softmax_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const nn_axis_layer *sm = self;
    const float *xs = NN_F32P(io->inputs[0]);
    float *ys = NN_F32P(io->output);
    const int64_t len = sm->len, inner = sm->inner;
    for (int64_t o = 0; o < sm->outer; o++) {
        const float *restrict x = xs + o * len * inner;
        float *restrict y = ys + o * len * inner;
        if (inner == 1) {
            softmax_row(x, y, len);
            continue;
        }
        /* [len, inner] slice: reduce along len with inner contiguous lanes */
        float *restrict mx = NN_F32P(io->buffers[sm->ws_buf]);
        float *restrict sum = mx + inner;
        for (int64_t i = 0; i < inner; i++) {
            mx[i] = x[i];
            sum[i] = 0.0f;
        }
        for (int64_t a = 1; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                mx[i] = x[a * inner + i] > mx[i] ? x[a * inner + i] : mx[i];
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++) {
                y[a * inner + i] = expf(x[a * inner + i] - mx[i]);
                sum[i] += y[a * inner + i];
            }
        for (int64_t i = 0; i < inner; i++)
            sum[i] = 1.0f / sum[i];
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                y[a * inner + i] *= sum[i];
    }
    return NN_OK;
}

/* dx = y * (g - sum(g * y)) along the axis; reads the saved-by-graph output y */
static int softmax_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const nn_axis_layer *sm = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *ys = NN_F32P(io->output), *gs = NN_F32P(io->grad_output);
    float *gxs = NN_F32P(io->grad_inputs[0]);
    const int64_t len = sm->len, inner = sm->inner;
    float *restrict dot = NN_F32P(io->buffers[sm->ws_buf]);
    for (int64_t o = 0; o < sm->outer; o++) {
        const float *restrict y = ys + o * len * inner;
        const float *restrict g = gs + o * len * inner;
        float *restrict gx = gxs + o * len * inner;
        for (int64_t i = 0; i < inner; i++)
            dot[i] = 0.0f;
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                dot[i] += g[a * inner + i] * y[a * inner + i];
        for (int64_t a = 0; a < len; a++)
            for (int64_t i = 0; i < inner; i++)
                gx[a * inner + i] = y[a * inner + i] * (g[a * inner + i] - dot[i]);
    }
    return NN_OK;
}

static int softmax_export(void *self, const nn_layer_export *x, nn_error *err)
{
    return nn_axis_export(self, x, "Softmax", err);
}

static const nn_layer_vtable softmax_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = softmax_create,
    .destroy = nn_axis_destroy,
    .setup = nn_axis_setup,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .export_as = softmax_export, /* optional: ONNX */
};

static const nn_param_spec softmax_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "-1", .range = "[-8, 7]",
     .doc = "axis along which the outputs sum to 1; negative counts from the last (-1); the "
            "batch axis 0 is not allowed"},
    {.name = NULL},
};

static const nn_plugin_desc softmax_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "softmax", .version = "1.0.0", .license = "MIT",
    .summary = "Softmax along one axis (the last by default), numerically stable",
    .caps = NN_CAP_BACKWARD, .params = softmax_params, .vtable = &softmax_vtable);

NN_PLUGIN_EXPORT(&softmax_desc);
