/* mse.c: the loss plugin "mse", squared error (p - t)^2 between F32 predictions and F32
 * targets of the same shape, reduced by mean (over all elements) or sum. Accumulates in
 * double; the gradient is a plain loop over contiguous floats. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct mse {
    int sum; /* reduction: 0 mean, 1 sum */
} mse;

static int mse_create(const nn_params *params, void **self, nn_error *err)
{
    mse *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "mse: out of memory");
    l->sum = nn_params_enum(params, "reduction") == 1;
    *self = l;
    return NN_OK;
}

static void mse_destroy(void *self)
{
    free(self);
}

static int mse_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    char ps[128], ts[128];
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target))
        return nn_error_set(err, NN_ESHAPE,
                            "mse: predictions %s and targets %s must be F32 of the same shape",
                            nn_shape_str(s->pred, ps, sizeof ps),
                            nn_shape_str(s->target, ts, sizeof ts));
    return NN_OK;
}

static int mse_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)err;
    const mse *l = self;
    const float *restrict p = NN_F32P(io->pred), *restrict t = NN_F32P(io->target);
    const int64_t n = nn_tensor_numel(io->pred);
    const double scale = l->sum || n == 0 ? 1.0 : 1.0 / (double)n;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        total += d * d;
    }
    io->loss = total * scale;
    if (io->grad_pred) {
        float *restrict g = NN_F32P(io->grad_pred);
        const float s = (float)scale;
        for (int64_t i = 0; i < n; i++) {
            float d = p[i] - t[i];
            g[i] = 2.0f * s * d;
        }
    }
    return NN_OK;
}

static const nn_loss_vtable mse_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = mse_create,
    .destroy = mse_destroy,
    .setup = mse_setup,
    .forward = mse_forward,
};

static const nn_param_spec mse_params[] = {
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",
     .doc = "mean: divide the summed loss by the number of elements; sum: plain sum"},
    {.name = NULL},
};

static const nn_plugin_desc mse_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "mse", .version = "1.0.0", .license = "MIT",
    .summary = "Mean squared error between predictions and targets of one shape",
    .params = mse_params, .vtable = &mse_vtable);

NN_PLUGIN_EXPORT(&mse_desc);
