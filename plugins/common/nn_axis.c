/* nn_axis.c: the set-up of layers that normalise along one axis (nn_axis.h). */
#include <stdlib.h>

#include "nn_axis.h"

int nn_axis_create(const char *kind, const nn_params *params, void **self, nn_error *err)
{
    nn_axis_layer *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", kind);
    l->kind = kind;
    l->axis_param = nn_params_int(params, "axis");
    *self = l;
    return NN_OK;
}

void nn_axis_destroy(void *self)
{
    free(self);
}

int nn_axis_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    nn_axis_layer *l = self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): takes 1 input, got %d",
                            s->layer_name, l->kind, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nn_tensor_dtype(x) != NN_F32 || nd < 2)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (%s): input %s must be F32 with at least 2 dimensions "
                            "(batch first)",
                            s->layer_name, l->kind, nn_shape_str(x, shape, sizeof shape));
    int64_t axis = l->axis_param < 0 ? l->axis_param + nd : l->axis_param;
    if (axis < 1 || axis >= nd)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s' (%s): key 'axis' = %lld does not name a non-batch axis "
                            "of input %s (valid: 1..%d or -1..-%d)",
                            s->layer_name, l->kind, (long long)l->axis_param,
                            nn_shape_str(x, shape, sizeof shape), nd - 1, nd - 1);
    l->outer = nn_shape_numel((int)axis, x->shape);
    l->len = x->shape[axis];
    l->inner = nn_shape_numel(nd - (int)axis - 1, x->shape + axis + 1);
    nn_tensor_describe(&s->output, NN_F32, nd, x->shape);
    int64_t ws = 2 * l->inner;
    l->ws_buf = nn_layer_add_buffer(s, "workspace", NN_BUF_WORKSPACE, NN_F32, 1, &ws);
    if (l->ws_buf < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (%s): no buffer slot left",
                            s->layer_name, l->kind);
    s->flops = (uint64_t)nn_tensor_numel(x) * 5;
    return NN_OK;
}

int nn_axis_export(void *self, const nn_layer_export *x, const char *op, nn_error *err)
{
    const nn_axis_layer *l = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    int node = nn_export_op1(x->out, op, x->inputs[0], x->output);
    if (node >= 0)
        nn_export_attr_int(x->out, node, "axis", l->axis_param);
    return nn_export_status(x->out, err);
}
