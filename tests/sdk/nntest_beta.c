/* nntest_beta.c: a test layer "learned_shift", y = x + beta, whose learned beta starts at the
 * model file's `beta` through NN_INIT_CONSTANT. Used by test_init.c only; never installed. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

typedef struct shift {
    double beta0;
} shift;

static int shift_create(const nn_params *p, void **self, nn_error *err)
{
    shift *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "learned_shift: out of memory");
    s->beta0 = nn_params_float(p, "beta");
    *self = s;
    return NN_OK;
}

static void shift_destroy(void *self)
{
    free(self);
}

static int shift_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    const shift *sh = self;
    const nn_tensor *x = s->inputs[0];
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    const int64_t c[1] = {x->shape[x->dl.ndim - 1]};
    int i = nn_layer_add_param(s, "beta", 1, c, NN_INIT_CONSTANT, c[0], c[0], NN_TENSOR_BIAS);
    if (i < 0)
        return nn_error_set(err, NN_EINTERNAL, "learned_shift: cannot declare beta");
    s->params[i].init_arg = sh->beta0;
    return NN_OK;
}

static int shift_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const nn_tensor *x = io->inputs[0];
    int64_t c = x->shape[x->dl.ndim - 1], n = nn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        NN_F32P(io->output)[i] = NN_F32P(x)[i] + NN_F32P(io->params[0])[i % c];
    return NN_OK;
}

static const nn_layer_vtable shift_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = shift_create,
    .destroy = shift_destroy,
    .setup = shift_setup,
    .forward = shift_forward,
};

static const nn_param_spec shift_params[] = {
    {.name = "beta", .type = NN_PARAM_FLOAT, .def = "0", .doc = "initial value of beta"},
    {.name = NULL},
};

static const nn_plugin_desc shift_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "learned_shift", .version = "1.0.0", .license = "MIT",
    .summary = "y = x + beta, beta learned from the model file's value",
    .params = shift_params, .vtable = &shift_vtable);

NN_PLUGIN_EXPORT(&shift_desc);
