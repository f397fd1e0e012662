/* huber.c: the loss plugin "huber", Huber loss (quadratic within delta, linear outside)
 * between F32 predictions and F32 targets of the same shape, reduced by mean (over all
 * elements) or sum. Accumulates in double; the gradient is a plain loop over contiguous
 * floats. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>

typedef struct huber {
    int sum; /* reduction: 0 mean, 1 sum */
    double delta;
} huber;

static int huber_create(const nn_params *params, void **self, nn_error *err)
{
    huber *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "huber: out of memory");
    l->sum = nn_params_enum(params, "reduction") == 1;
    l->delta = nn_params_float(params, "delta");
    *self = l;
    return NN_OK;
}

static void huber_destroy(void *self)
{
    free(self);
}

static int huber_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    char ps[128], ts[128];
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target))
        return nn_error_set(err, NN_ESHAPE,
                            "huber: predictions %s and targets %s must be F32 of the same shape",
                            nn_shape_str(s->pred, ps, sizeof ps),
                            nn_shape_str(s->target, ts, sizeof ts));
    return NN_OK;
}

static int huber_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)err;
    const huber *l = self;
    const double delta = l->delta;
    const float fdelta = (float)delta;
    const float *restrict p = NN_F32P(io->pred), *restrict t = NN_F32P(io->target);
    const int64_t n = nn_tensor_numel(io->pred);
    const double scale = l->sum || n == 0 ? 1.0 : 1.0 / (double)n;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        double a = fabs(d);
        total += a <= delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
    }
    io->loss = total * scale;
    if (io->grad_pred) {
        float *restrict g = NN_F32P(io->grad_pred);
        const float s = (float)scale;
        for (int64_t i = 0; i < n; i++) {
            float d = p[i] - t[i];
            float c = d > fdelta ? fdelta : (d < -fdelta ? -fdelta : d);
            g[i] = s * c;
        }
    }
    return NN_OK;
}

static const nn_loss_vtable huber_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = huber_create,
    .destroy = huber_destroy,
    .setup = huber_setup,
    .forward = huber_forward,
};

static const nn_param_spec huber_params[] = {
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",
     .doc = "mean: divide the summed loss by the number of elements; sum: plain sum"},
    {.name = "delta", .type = NN_PARAM_FLOAT, .def = "1.0", .range = "(0, inf)",
     .doc = "where the loss turns from 0.5 d^2 to delta * (|d| - 0.5 delta) (PyTorch's HuberLoss)"},
    {.name = NULL},
};

static const nn_plugin_desc huber_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "huber", .version = "1.0.0", .license = "MIT",
    .summary = "Huber loss: squared error near 0, absolute error beyond delta",
    .params = huber_params, .vtable = &huber_vtable);

NN_PLUGIN_EXPORT(&huber_desc);
