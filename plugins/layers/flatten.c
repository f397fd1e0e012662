/* flatten.c: the layer plugin "flatten", [N, d1, d2, ...] -> [N, d1 * d2 * ...]: the batch
 * dimension stays, the rest become one. The data is already contiguous, so forward and
 * backward are plain copies; they never allocate. */
#include <nntrain/nntrain.h>
#include <stdlib.h>

#include "nn_view.h"

typedef struct flatten {
    int unused;
} flatten;

static int flatten_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    flatten *f = calloc(1, sizeof *f);
    if (!f)
        return nn_error_set(err, NN_ENOMEM, "flatten: out of memory");
    *self = f;
    return NN_OK;
}

static void flatten_destroy(void *self)
{
    free(self);
}

static int flatten_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    nn_dtype dt;
    int rc = nn_view_input(s, "flatten", &dt, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    const int64_t out[2] = {x->shape[0], nn_shape_numel(x->dl.ndim - 1, x->shape + 1)};
    nn_tensor_describe(&s->output, dt, 2, out);
    s->flops = 0;
    return NN_OK;
}

/* ONNX: Flatten with axis 1 keeps the (dynamic) batch */
static int flatten_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    int node = nn_export_op1(x->out, "Flatten", x->inputs[0], x->output);
    if (node >= 0)
        nn_export_attr_int(x->out, node, "axis", 1);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable flatten_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = flatten_create,
    .destroy = flatten_destroy,
    .setup = flatten_setup,
    .forward = nn_view_forward,
    .backward = nn_view_backward,
    .export_as = flatten_export, /* optional: ONNX */
};

static const nn_param_spec flatten_params[] = {
    {.name = NULL},
};

static const nn_plugin_desc flatten_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "flatten", .version = "1.0.0", .license = "MIT",
    .summary = "Flattens every dimension but the batch: [N, ...] -> [N, product]",
    .caps = NN_CAP_BACKWARD, .params = flatten_params, .vtable = &flatten_vtable);

NN_PLUGIN_EXPORT(&flatten_desc);
