/* nn_unary.c: the parts of an elementwise layer that do not depend on its function: reading
 * its parameters into floats, the shape check and the output description. The per-element
 * loops live in each plugin (nn_unary.h), next to its inlined function. */
#include <stdlib.h>

#include "nn_unary.h"

static const nn_test_case unary_cases[] = {
    {.inputs = "4x9 f32 [-5, 5]"},
    {.inputs = "2x3x4x5 f32 [-1.5, 1.5]"},
    {.inputs = "3x7 f32 [-0.1, 0.1]"},
};

const nn_test_spec nn_unary_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof unary_cases / sizeof *unary_cases),
    .cases = unary_cases,
};

int nn_unary_create(const nn_unary_def *def, const nn_params *p, void **self, nn_error *err)
{
    nn_unary *u = calloc(1, sizeof *u);
    if (!u)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", def->name);
    u->def = def;
    for (int i = 0; def->params && def->params[i].name; i++) {
        const nn_param_spec *s = &def->params[i];
        if (i == NN_UNARY_MAX_ARGS) {
            free(u);
            return nn_error_set(err, NN_EINTERNAL, "%s: more than %d parameters", def->name,
                                NN_UNARY_MAX_ARGS);
        }
        switch (s->type) {
        case NN_PARAM_FLOAT: u->k[i] = (float)nn_params_float(p, s->name); break;
        case NN_PARAM_INT: u->k[i] = (float)nn_params_int(p, s->name); break;
        case NN_PARAM_ENUM: u->k[i] = (float)nn_params_enum(p, s->name); break;
        case NN_PARAM_BOOL: u->k[i] = (float)nn_params_bool(p, s->name); break;
        default:
            free(u);
            return nn_error_set(err, NN_EINTERNAL, "%s: parameter '%s' is not a number",
                                def->name, s->name);
        }
    }
    *self = u;
    return NN_OK;
}

void nn_unary_destroy(void *self)
{
    free(self);
}

int nn_unary_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    const char *name = ((const nn_unary *)self)->def->name;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): takes 1 input, got %d",
                            s->layer_name, name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): input %s must be F32",
                            s->layer_name, name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * (uint64_t)((const nn_unary *)self)->def->flops;
    return NN_OK;
}

int nn_unary_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const nn_unary *u = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    double args[NN_UNARY_MAX_ARGS];
    int n = 0;
    for (; u->def->params && u->def->params[n].name && n < NN_UNARY_MAX_ARGS; n++)
        args[n] = u->k[n];
    nn_export_activation(x->out, u->def->name, n, args, x->inputs[0], x->output);
    return nn_export_status(x->out, err);
}
