/* l1.c: the loss plugin "l1", absolute error |p - t| between F32 predictions and F32 targets
 * of the same shape, reduced by mean (over all elements) or sum. Accumulates in double;
 * the gradient is a plain loop over contiguous floats. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct l1 {
    int sum; /* reduction: 0 mean, 1 sum */
} l1;

static int l1_create(const nn_params *params, void **self, nn_error *err)
{
    l1 *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "l1: out of memory");
    l->sum = nn_params_enum(params, "reduction") == 1;
    *self = l;
    return NN_OK;
}

static void l1_destroy(void *self)
{
    free(self);
}

static int l1_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    char ps[128], ts[128];
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target))
        return nn_error_set(err, NN_ESHAPE,
                            "l1: predictions %s and targets %s must be F32 of the same shape",
                            nn_shape_str(s->pred, ps, sizeof ps),
                            nn_shape_str(s->target, ts, sizeof ts));
    return NN_OK;
}

static int l1_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)err;
    const l1 *l = self;
    const float *restrict p = NN_F32P(io->pred), *restrict t = NN_F32P(io->target);
    const int64_t n = nn_tensor_numel(io->pred);
    const double scale = l->sum || n == 0 ? 1.0 : 1.0 / (double)n;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        total += fabs(d);
    }
    io->loss = total * scale;
    if (io->grad_pred) {
        float *restrict g = NN_F32P(io->grad_pred);
        const float s = (float)scale;
        for (int64_t i = 0; i < n; i++) {
            float d = p[i] - t[i];
            /* sign(d), 0 at d = 0 as in PyTorch */
            g[i] = d > 0.0f ? s : (d < 0.0f ? -s : 0.0f);
        }
    }
    return NN_OK;
}

static const nn_loss_vtable l1_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = l1_create,
    .destroy = l1_destroy,
    .setup = l1_setup,
    .forward = l1_forward,
};

static const nn_param_spec l1_params[] = {
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",
     .doc = "mean: divide the summed loss by the number of elements; sum: plain sum"},
    {.name = NULL},
};

static const nn_plugin_desc l1_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "l1", .version = "1.0.0", .license = "MIT",
    .summary = "Mean absolute error (L1) between predictions and targets of one shape",
    .params = l1_params, .vtable = &l1_vtable);

NN_PLUGIN_EXPORT(&l1_desc);
