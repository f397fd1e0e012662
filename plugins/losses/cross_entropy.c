/* cross_entropy.c: the loss plugin "cross_entropy": softmax cross-entropy from logits [N, C]
 * and I32 class ids [N], with PyTorch's semantics for class weights, label smoothing,
 * ignore_index and mean/sum. Log-sum-exp in double keeps it finite for any logits. A class id
 * out of range is an error naming the sample, never a silent read. Never allocates per step. */
#include <math.h>
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct cross_entropy {
    int sum;              /* reduction: 0 mean, 1 sum */
    double smoothing;     /* label_smoothing */
    int64_t ignore_index;
    int n_weights;        /* 0: unweighted */
    double *weight;       /* [n_weights], owned */
    double weight_sum;    /* sum of weight[] (C when unweighted) */
    int64_t n, c;         /* from setup */
} cross_entropy;

static int ce_create(const nn_params *params, void **self, nn_error *err)
{
    cross_entropy *ce = calloc(1, sizeof *ce);
    if (!ce)
        return nn_error_set(err, NN_ENOMEM, "cross_entropy: out of memory");
    ce->sum = nn_params_enum(params, "reduction") == 1;
    ce->smoothing = nn_params_float(params, "label_smoothing");
    ce->ignore_index = nn_params_int(params, "ignore_index");
    if (nn_params_has(params, "weight")) {
        int n = 0;
        const double *w = nn_params_floats(params, "weight", &n);
        ce->weight = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!ce->weight) {
            free(ce);
            return nn_error_set(err, NN_ENOMEM, "cross_entropy: out of memory");
        }
        memcpy(ce->weight, w, sizeof(double) * (size_t)n);
        ce->n_weights = n;
    }
    *self = ce;
    return NN_OK;
}

static void ce_destroy(void *self)
{
    cross_entropy *ce = self;
    free(ce->weight);
    free(ce);
}

static int ce_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    cross_entropy *ce = self;
    char ps[128], ts[128];
    const nn_tensor *p = s->pred, *t = s->target;
    nn_shape_str(p, ps, sizeof ps);
    nn_shape_str(t, ts, sizeof ts);
    if (nn_tensor_dtype(p) != NN_F32 || p->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE,
                            "cross_entropy: predictions %s must be F32 logits [N, C]", ps);
    if (nn_tensor_dtype(t) != NN_I32 || t->dl.ndim != 1 || t->shape[0] != p->shape[0])
        return nn_error_set(err, NN_ESHAPE,
                            "cross_entropy: targets %s must be I32 class ids [N] for "
                            "predictions %s",
                            ts, ps);
    ce->n = p->shape[0];
    ce->c = p->shape[1];
    if (ce->n_weights && ce->n_weights != ce->c)
        return nn_error_set(err, NN_ESHAPE,
                            "cross_entropy: key 'weight' has %d values but predictions %s have "
                            "%lld classes",
                            ce->n_weights, ps, (long long)ce->c);
    ce->weight_sum = 0;
    for (int64_t k = 0; k < ce->c; k++)
        ce->weight_sum += ce->n_weights ? ce->weight[k] : 1.0;
    return NN_OK;
}

/* loss_n = (1 - e) w[y] (lse - x_y) + e / C * sum_c w[c] (lse - x_c)
 * mean divides by sum_n w[y_n] over the samples not ignored (PyTorch's weighted mean) */
static int ce_forward(void *self, nn_loss_io *io, nn_error *err)
{
    const cross_entropy *ce = self;
    const float *x = NN_F32P(io->pred);
    const int32_t *y = NN_I32P(io->target);
    const int64_t n = ce->n, c = ce->c;
    const double e = ce->smoothing, *w = ce->n_weights ? ce->weight : NULL;
    double denom = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == ce->ignore_index)
            continue;
        if (y[i] < 0 || y[i] >= c)
            return nn_error_set(err, NN_EINVAL,
                                "cross_entropy: sample %lld has class id %d, outside [0, %lld) "
                                "(and not ignore_index %lld)",
                                (long long)i, (int)y[i], (long long)c,
                                (long long)ce->ignore_index);
        denom += w ? w[y[i]] : 1.0;
    }
    /* every sample ignored (or weighted 0): loss 0 and no gradient rather than PyTorch's NaN */
    const double scale = ce->sum ? 1.0 : (denom > 0 ? 1.0 / denom : 0.0);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * c;
        float *gi = io->grad_pred ? NN_F32P(io->grad_pred) + i * c : NULL;
        if (y[i] == ce->ignore_index) {
            if (gi)
                memset(gi, 0, sizeof(float) * (size_t)c);
            continue;
        }
        double m = xi[0], s = 0;
        for (int64_t k = 1; k < c; k++)
            m = xi[k] > m ? xi[k] : m;
        for (int64_t k = 0; k < c; k++)
            s += exp(xi[k] - m);
        const double lse = m + log(s), wy = w ? w[y[i]] : 1.0;
        double smooth = 0;
        if (e > 0)
            for (int64_t k = 0; k < c; k++)
                smooth += (w ? w[k] : 1.0) * (lse - xi[k]);
        total += (1 - e) * wy * (lse - xi[y[i]]) + e / (double)c * smooth;
        if (!gi)
            continue;
        /* d/dx_k = (1 - e) wy (p_k - [k = y]) + e / C (W p_k - w_k), W = sum of weights */
        const double a = (1 - e) * wy + e / (double)c * ce->weight_sum, b = e / (double)c;
        for (int64_t k = 0; k < c; k++) {
            double pk = exp(xi[k] - lse);
            gi[k] = (float)(scale * (a * pk - b * (w ? w[k] : 1.0)));
        }
        gi[y[i]] -= (float)(scale * (1 - e) * wy);
    }
    io->loss = total * scale;
    return NN_OK;
}

static const nn_loss_vtable ce_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = ce_create,
    .destroy = ce_destroy,
    .setup = ce_setup,
    .forward = ce_forward,
};

static const nn_param_spec ce_params[] = {
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",
     .doc = "mean: sum over samples divided by the summed weights of their classes (the count "
            "without weights); sum: plain sum"},
    {.name = "label_smoothing", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",
     .doc = "mixes the one-hot target with the uniform distribution: (1 - e) one_hot + e / C"},
    {.name = "weight", .type = NN_PARAM_FLOAT_LIST, .range = "[0, inf)",
     .doc = "optional weight of each class, C values, e.g. \"1, 2.5, 1\"; unset = all 1"},
    {.name = "ignore_index", .type = NN_PARAM_INT, .def = "-100",
     .doc = "a target value that contributes neither loss nor gradient (e.g. padding)"},
    {.name = NULL},
};

static const nn_plugin_desc ce_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "cross_entropy", .version = "1.0.0", .license = "MIT",
    .summary = "Softmax cross-entropy from logits [N, C] and class ids [N] (PyTorch semantics)",
    .params = ce_params, .vtable = &ce_vtable);

NN_PLUGIN_EXPORT(&ce_desc);
