/* softmax.c: the layer plugin "softmax", y = exp(x - max) / sum(exp(x - max)) along one axis
 * of an F32 tensor (the last by default); subtracting the max keeps it finite for any input.
 * Forward and backward never allocate: per-slice maxima and sums live in a WORKSPACE buffer. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct softmax {
    int64_t axis_param;          /* as given: negative counts from the end */
    int64_t outer, len, inner;   /* the input seen as [outer, len, inner], len along the axis */
    int ws_buf;                  /* WORKSPACE of 2 * inner floats */
} softmax;

static int softmax_create(const nn_params *params, void **self, nn_error *err)
{
    softmax *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "softmax: out of memory");
    s->axis_param = nn_params_int(params, "axis");
    *self = s;
    return NN_OK;
}

static void softmax_destroy(void *self)
{
    free(self);
}

static int softmax_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    softmax *sm = self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (softmax): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nn_tensor_dtype(x) != NN_F32 || nd < 2)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (softmax): input %s must be F32 with at least 2 "
                            "dimensions (batch first)",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    int64_t axis = sm->axis_param < 0 ? sm->axis_param + nd : sm->axis_param;
    if (axis < 1 || axis >= nd)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s' (softmax): key 'axis' = %lld does not name a non-batch "
                            "axis of input %s (valid: 1..%d or -1..-%d)",
                            s->layer_name, (long long)sm->axis_param,
                            nn_shape_str(x, shape, sizeof shape), nd - 1, nd - 1);
    sm->outer = nn_shape_numel((int)axis, x->shape);
    sm->len = x->shape[axis];
    sm->inner = nn_shape_numel(nd - (int)axis - 1, x->shape + axis + 1);
    nn_tensor_describe(&s->output, NN_F32, nd, x->shape);
    int64_t ws = 2 * sm->inner;
    sm->ws_buf = nn_layer_add_buffer(s, "workspace", NN_BUF_WORKSPACE, NN_F32, 1, &ws);
    if (sm->ws_buf < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (softmax): no buffer slot left",
                            s->layer_name);
    s->flops = (uint64_t)nn_tensor_numel(x) * 5;
    return NN_OK;
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
    const softmax *sm = self;
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
    const softmax *sm = self;
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

/* ONNX: Softmax along the same axis (opset 13 and later take one axis, as this layer) */
static int softmax_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const softmax *sm = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    int node = nn_export_op1(x->out, "Softmax", x->inputs[0], x->output);
    if (node >= 0)
        nn_export_attr_int(x->out, node, "axis", sm->axis_param);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable softmax_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = softmax_create,
    .destroy = softmax_destroy,
    .setup = softmax_setup,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .export_as = softmax_export, /* optional: ONNX */
};

static const nn_param_spec softmax_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "-1",
     .doc = "axis along which the outputs sum to 1; negative counts from the last (-1); the "
            "batch axis 0 is not allowed"},
    {.name = NULL},
};

static const nn_plugin_desc softmax_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "softmax", .version = "1.0.0", .license = "MIT",
    .summary = "Softmax along one axis (the last by default), numerically stable",
    .caps = NN_CAP_BACKWARD, .params = softmax_params, .vtable = &softmax_vtable);

NN_PLUGIN_EXPORT(&softmax_desc);
