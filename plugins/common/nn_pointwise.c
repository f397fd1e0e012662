/* nn_pointwise.c: the parts of a pointwise loss that do not depend on its function: reading
 * the reduction and the numbers of its schema, and the shape check. The loops live in each
 * plugin (nn_pointwise.h), next to its inlined value and derivative. */
#include <stdlib.h>
#include <string.h>

#include "nn_pointwise.h"

static const nn_test_case pointwise_cases[] = {
    {.inputs = "4x5 f32 [-1, 2]", .target = "4x5 f32 [0, 1]"},
    {.inputs = "2x3x4 f32 [-3, 3]", .target = "2x3x4 f32 [-1, 1]"},
    {.params = "reduction=sum", .inputs = "6 f32 [-2, 2]", .target = "6 f32 [0, 1]"},
};

const nn_test_spec nn_pointwise_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof pointwise_cases / sizeof *pointwise_cases),
    .cases = pointwise_cases,
};

int nn_pointwise_create(const nn_pointwise_def *def, const nn_params *p, void **self,
                        nn_error *err)
{
    nn_pointwise *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", def->name);
    l->def = def;
    int n = 0;
    for (const nn_param_spec *s = def->params; s && s->name; s++) {
        if (strcmp(s->name, "reduction") == 0) {
            l->sum = nn_params_enum(p, "reduction") == 1;
            continue;
        }
        if (n == NN_POINTWISE_MAX_ARGS || (s->type != NN_PARAM_FLOAT && s->type != NN_PARAM_INT)) {
            free(l);
            return nn_error_set(err, NN_EINTERNAL, "%s: key '%s' is not one of at most %d "
                                "numbers", def->name, s->name, NN_POINTWISE_MAX_ARGS);
        }
        l->k[n] = s->type == NN_PARAM_FLOAT ? nn_params_float(p, s->name)
                                            : (double)nn_params_int(p, s->name);
        l->kf[n] = (float)l->k[n];
        n++;
    }
    *self = l;
    return NN_OK;
}

void nn_pointwise_destroy(void *self)
{
    free(self);
}

int nn_pointwise_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    s->reduction = ((const nn_pointwise *)self)->sum ? NN_LOSS_SUM : NN_LOSS_MEAN;
    const char *name = ((const nn_pointwise *)self)->def->name;
    char ps[128], ts[128];
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target))
        return nn_error_set(err, NN_ESHAPE,
                            "%s: predictions %s and targets %s must be F32 of the same shape",
                            name, nn_shape_str(s->pred, ps, sizeof ps),
                            nn_shape_str(s->target, ts, sizeof ts));
    return NN_OK;
}
