/* nntest_loss.c: a valid loss plugin (half the sum of squared predictions), so the tests
 * have a second kind to filter with `nntrain plugins --kind`, and a third-party loss that
 * declares in setup how it reduces its rows (any value, to test the host's check). Test
 * fixture only. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

typedef struct nntest_loss {
    intptr_t declare;
} nntest_loss;

static int loss_create(const nn_params *params, void **self, nn_error *err)
{
    nntest_loss *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "nntest_loss: out of memory");
    l->declare = (intptr_t)nn_params_int(params, "declare_reduction");
    *self = l;
    return NN_OK;
}

static void loss_destroy(void *self)
{
    free(self);
}

static int loss_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    s->reduction = ((nntest_loss *)self)->declare;
    if (nn_tensor_dtype(s->pred) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "nntest_loss: predictions must be f32");
    return NN_OK;
}

static int loss_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *p = NN_F32P(io->pred);
    double sum = 0;
    for (int64_t i = 0; i < nn_tensor_numel(io->pred); i++) {
        sum += 0.5 * (double)p[i] * p[i];
        if (io->grad_pred)
            NN_F32P(io->grad_pred)[i] = p[i];
    }
    io->loss = sum;
    return NN_OK;
}

static const nn_loss_vtable vt = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = loss_create,
    .destroy = loss_destroy,
    .setup = loss_setup,
    .forward = loss_forward,
};

static const nn_param_spec params[] = {
    {.name = "declare_reduction", .type = NN_PARAM_INT, .def = "0", .range = "[0, 99]",
     .doc = "what setup declares in nn_loss_setup.reduction (1 = NN_LOSS_SUM, which it is)"},
    {.name = NULL},
};

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS,
    .name = "nntest_loss",
    .version = "0.1.0",
    .license = "MIT",
    .summary = "half the sum of squared predictions, for the registry tests",
    .params = params,
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
