/* bce_with_logits.c: the loss plugin "bce_with_logits", binary cross-entropy on logits with
 * F32 targets in [0, 1] of the same shape, optional pos_weight per class (last dimension) as
 * in PyTorch, reduced by mean or sum. Uses softplus in its stable form, so any logit gives a
 * finite loss; accumulates in double. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct bce {
    int sum;          /* reduction: 0 mean, 1 sum */
    int n_pos;        /* 0: no pos_weight; 1: one for all; C: one per class */
    double *pos;      /* [n_pos], owned */
    int64_t classes;  /* last dimension of pred */
} bce;

static int bce_create(const nn_params *params, void **self, nn_error *err)
{
    bce *b = calloc(1, sizeof *b);
    if (!b)
        return nn_error_set(err, NN_ENOMEM, "bce_with_logits: out of memory");
    b->sum = nn_params_enum(params, "reduction") == 1;
    if (nn_params_has(params, "pos_weight")) {
        int n = 0;
        const double *w = nn_params_floats(params, "pos_weight", &n);
        b->pos = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!b->pos) {
            free(b);
            return nn_error_set(err, NN_ENOMEM, "bce_with_logits: out of memory");
        }
        memcpy(b->pos, w, sizeof(double) * (size_t)n);
        b->n_pos = n;
    }
    *self = b;
    return NN_OK;
}

static void bce_destroy(void *self)
{
    bce *b = self;
    free(b->pos);
    free(b);
}

static int bce_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    bce *b = self;
    char ps[128], ts[128];
    s->reduction = b->sum ? NN_LOSS_SUM : NN_LOSS_MEAN;
    nn_shape_str(s->pred, ps, sizeof ps);
    nn_shape_str(s->target, ts, sizeof ts);
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target) || s->pred->dl.ndim < 1)
        return nn_error_set(err, NN_ESHAPE,
                            "bce_with_logits: predictions %s and targets %s must be F32 of the "
                            "same shape",
                            ps, ts);
    b->classes = s->pred->shape[s->pred->dl.ndim - 1];
    if (b->n_pos > 1 && b->n_pos != b->classes)
        return nn_error_set(err, NN_ESHAPE,
                            "bce_with_logits: key 'pos_weight' has %d values but predictions %s "
                            "have %lld classes in their last dimension (give 1 or %lld values)",
                            b->n_pos, ps, (long long)b->classes, (long long)b->classes);
    return NN_OK;
}

/* softplus(v) = log(1 + exp(v)) without overflow */
static inline double softplus(double v)
{
    return (v > 0 ? v : 0) + log1p(exp(-fabs(v)));
}

/* loss = pw y softplus(-x) + (1 - y) softplus(x)
 * d/dx = pw y (sigmoid(x) - 1) + (1 - y) sigmoid(x) */
static int bce_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)err;
    const bce *b = self;
    const float *x = NN_F32P(io->pred), *y = NN_F32P(io->target);
    float *g = io->grad_pred ? NN_F32P(io->grad_pred) : NULL;
    const int64_t n = nn_tensor_numel(io->pred), c = b->classes ? b->classes : 1;
    const double scale = b->sum || n == 0 ? 1.0 : 1.0 / (double)n;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double pw = b->n_pos == 0 ? 1.0 : b->pos[b->n_pos == 1 ? 0 : i % c];
        double xi = x[i], yi = y[i];
        total += pw * yi * softplus(-xi) + (1 - yi) * softplus(xi);
        if (g) {
            double sig = xi >= 0 ? 1.0 / (1.0 + exp(-xi)) : exp(xi) / (1.0 + exp(xi));
            g[i] = (float)(scale * (pw * yi * (sig - 1.0) + (1 - yi) * sig));
        }
    }
    io->loss = total * scale;
    return NN_OK;
}

static const nn_loss_vtable bce_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = bce_create,
    .destroy = bce_destroy,
    .setup = bce_setup,
    .forward = bce_forward,
};

static const nn_param_spec bce_params[] = {NN_STOCK_BCE_WITH_LOGITS_PARAMS, {.name = NULL}};

static const nn_plugin_desc bce_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "bce_with_logits", .version = "1.0.0", .license = "MIT",
    .summary = "Binary cross-entropy on logits, numerically stable, optional pos_weight",
    .params = bce_params, .vtable = &bce_vtable);

NN_PLUGIN_EXPORT(&bce_desc);
