/* nntest_loss.c: a valid loss plugin (half the sum of squared predictions), so the tests
 * have a second kind to filter with `nntrain plugins --kind`. Test fixture only. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

static int loss_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    (void)err;
    *self = NULL;
    return NN_OK;
}

static void loss_destroy(void *self)
{
    (void)self;
}

static int loss_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
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

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS,
    .name = "nntest_loss",
    .version = "0.1.0",
    .license = "MIT",
    .summary = "half the sum of squared predictions, for the registry tests",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
