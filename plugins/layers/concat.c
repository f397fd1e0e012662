/* concat.c: the layer plugin "concat", joins 2 to 8 F32 inputs along one non-batch axis (1 by
 * default); every other extent must match. Forward and backward are block copies between
 * contiguous buffers; they never allocate. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct concat {
    int64_t axis_param;
    int n;
    int64_t outer;               /* product of the extents before the axis */
    int64_t chunk[NN_MAX_INPUTS]; /* floats of input k per outer index: extent * inner */
    int64_t out_chunk;           /* sum of chunk[] */
} concat;

static int concat_create(const nn_params *params, void **self, nn_error *err)
{
    concat *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, "concat: out of memory");
    c->axis_param = nn_params_int(params, "axis");
    *self = c;
    return NN_OK;
}

static void concat_destroy(void *self)
{
    free(self);
}

static int concat_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    concat *c = self;
    char a[128], b[128];
    if (s->n_inputs < 2)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (concat): needs at least 2 inputs, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x0 = s->inputs[0];
    int nd = x0->dl.ndim;
    int64_t axis = c->axis_param < 0 ? c->axis_param + nd : c->axis_param;
    if (axis < 1 || axis >= nd)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s' (concat): key 'axis' = %lld does not name a non-batch "
                            "axis of input 0 %s (valid: 1..%d or -1..-%d)",
                            s->layer_name, (long long)c->axis_param,
                            nn_shape_str(x0, a, sizeof a), nd - 1, nd - 1);
    int64_t out[NN_MAX_DIMS];
    for (int d = 0; d < nd; d++)
        out[d] = x0->shape[d];
    out[axis] = 0;
    int64_t inner = nn_shape_numel(nd - (int)axis - 1, x0->shape + axis + 1);
    c->n = s->n_inputs;
    c->outer = nn_shape_numel((int)axis, x0->shape);
    c->out_chunk = 0;
    for (int i = 0; i < s->n_inputs; i++) {
        const nn_tensor *x = s->inputs[i];
        if (nn_tensor_dtype(x) != NN_F32)
            return nn_error_set(err, NN_EINVAL, "layer '%s' (concat): input %d %s must be F32",
                                s->layer_name, i, nn_shape_str(x, a, sizeof a));
        int same = x->dl.ndim == nd;
        for (int d = 0; same && d < nd; d++)
            same = d == axis || x->shape[d] == x0->shape[d];
        if (!same)
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s' (concat): input 0 has shape %s but input %d has shape "
                                "%s; all extents but axis %lld must match",
                                s->layer_name, nn_shape_str(x0, a, sizeof a), i,
                                nn_shape_str(x, b, sizeof b), (long long)axis);
        out[axis] += x->shape[axis];
        c->chunk[i] = x->shape[axis] * inner;
        c->out_chunk += c->chunk[i];
    }
    nn_tensor_describe(&s->output, NN_F32, nd, out);
    s->flops = 0;
    return NN_OK;
}

static int concat_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const concat *c = self;
    float *y = NN_F32P(io->output);
    for (int64_t o = 0; o < c->outer; o++) {
        float *dst = y + o * c->out_chunk;
        for (int k = 0; k < c->n; k++) {
            memcpy(dst, NN_F32P(io->inputs[k]) + o * c->chunk[k],
                   sizeof(float) * (size_t)c->chunk[k]);
            dst += c->chunk[k];
        }
    }
    return NN_OK;
}

static int concat_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const concat *c = self;
    const float *g = NN_F32P(io->grad_output);
    for (int64_t o = 0; o < c->outer; o++) {
        const float *src = g + o * c->out_chunk;
        for (int k = 0; k < c->n; k++) {
            if (io->grad_inputs[k])
                memcpy(NN_F32P(io->grad_inputs[k]) + o * c->chunk[k], src,
                       sizeof(float) * (size_t)c->chunk[k]);
            src += c->chunk[k];
        }
    }
    return NN_OK;
}

/* ONNX: Concat along the same axis */
static int concat_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const concat *c = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    int node = nn_export_node(x->out, "Concat", x->n_inputs, x->inputs, 1, &x->output);
    if (node >= 0)
        nn_export_attr_int(x->out, node, "axis", c->axis_param);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable concat_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = concat_create,
    .destroy = concat_destroy,
    .setup = concat_setup,
    .forward = concat_forward,
    .backward = concat_backward,
    .export_as = concat_export, /* optional: ONNX */
};

static const nn_param_spec concat_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "1", .range = "[-8, 7]",
     .doc = "axis to join along (1 = channels/features); negative counts from the last; the "
            "batch axis 0 is not allowed"},
    {.name = NULL},
};

static const nn_plugin_desc concat_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "concat", .version = "1.0.0", .license = "MIT",
    .summary = "Concatenates 2 or more inputs along one non-batch axis (1 by default)",
    .caps = NN_CAP_BACKWARD, .params = concat_params, .vtable = &concat_vtable);

NN_PLUGIN_EXPORT(&concat_desc);
