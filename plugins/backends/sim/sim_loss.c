/* sim_loss.c: "cross_entropy" on the sim device, the CPU plugin's function and keys (class
 * weights, label smoothing, ignore_index, mean/sum) from logits [N, C] and I32 class ids [N] or
 * F32 probabilities [N, C]. The batch loss goes into the core's loss_out device tensor (ABI
 * 0.4), never to the host; a bad target is refused naming the sample. Never allocates per step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct sce {
    int sum;
    double smoothing;
    int64_t ignore_index;
    int n_weights;
    double *weight, weight_sum;
    int64_t n, c;
    int soft; /* targets are F32 probabilities [N, C] */
} sce;

static int ce_create(const nn_params *params, void **self, nn_error *err)
{
    sce *ce = calloc(1, sizeof *ce);
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
    sce *ce = self;
    free(ce->weight);
    free(ce);
}

static int ce_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    sce *ce = self;
    char ps[128], ts[128];
    const nn_tensor *p = s->pred, *t = s->target;
    s->reduction = ce->sum ? NN_LOSS_SUM : NN_LOSS_MEAN;
    if (!sim_dev_from(s->device, "cross_entropy", err))
        return NN_EINVAL;
    nn_shape_str(p, ps, sizeof ps);
    nn_shape_str(t, ts, sizeof ts);
    if (nn_tensor_dtype(p) != NN_F32 || p->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE, "cross_entropy: predictions %s must be F32 logits "
                            "[N, C]", ps);
    ce->soft = nn_tensor_dtype(t) == NN_F32 && t->dl.ndim == 2 && nn_shape_equal(t, p);
    if (!ce->soft &&
        (nn_tensor_dtype(t) != NN_I32 || t->dl.ndim != 1 || t->shape[0] != p->shape[0]))
        return nn_error_set(err, NN_ESHAPE, "cross_entropy: targets %s must be I32 class ids "
                            "[N] or F32 probabilities [N, C] for predictions %s", ts, ps);
    if (ce->soft && ce->ignore_index != -100)
        return nn_error_set(err, NN_EINVAL, "cross_entropy: key 'ignore_index' = %lld applies "
                            "to class ids, but the targets %s are probabilities (mixup and "
                            "cutmix make them); PyTorch refuses it too: leave it unset",
                            (long long)ce->ignore_index, ts);
    ce->n = p->shape[0];
    ce->c = p->shape[1];
    if (ce->n_weights && ce->n_weights != ce->c)
        return nn_error_set(err, NN_ESHAPE, "cross_entropy: key 'weight' has %d values but "
                            "predictions %s have %lld classes", ce->n_weights, ps,
                            (long long)ce->c);
    ce->weight_sum = 0;
    for (int64_t k = 0; k < ce->c; k++)
        ce->weight_sum += ce->n_weights ? ce->weight[k] : 1.0;
    return NN_OK;
}

static double row_lse(const float *x, int64_t c)
{
    double m = x[0], s = 0;
    for (int64_t k = 1; k < c; k++)
        m = x[k] > m ? x[k] : m;
    for (int64_t k = 0; k < c; k++)
        s += exp(x[k] - m);
    return m + log(s);
}

/* probabilities t: loss_n = sum_c w[c] q_c (lse - x_c), q = (1 - e) t + e / C; mean over N */
static int ce_soft(const sce *ce, const float *x, const float *t, float *gp, float *out,
                   nn_error *err)
{
    const int64_t n = ce->n, c = ce->c;
    const double e = ce->smoothing, *w = ce->n_weights ? ce->weight : NULL;
    for (int64_t i = 0; i < n * c; i++)
        if (!(t[i] >= 0) || !isfinite(t[i]))
            return nn_error_set(err, NN_EINVAL, "cross_entropy: sample %lld has probability %g "
                                "for class %lld; probability targets must be finite and >= 0",
                                (long long)(i / c), (double)t[i], (long long)(i % c));
    const double scale = ce->sum ? 1.0 : (n > 0 ? 1.0 / (double)n : 0.0);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * c, *ti = t + i * c;
        const double lse = row_lse(xi, c);
        double wq = 0;
        for (int64_t k = 0; k < c; k++) {
            const double q = (1 - e) * ti[k] + e / (double)c, wk = w ? w[k] : 1.0;
            total += wk * q * (lse - xi[k]);
            wq += wk * q;
        }
        for (int64_t k = 0; gp && k < c; k++)
            gp[i * c + k] = (float)(scale * (wq * exp(xi[k] - lse) - (w ? w[k] : 1.0) *
                                             ((1 - e) * ti[k] + e / (double)c)));
    }
    out[0] = (float)(total * scale);
    return NN_OK;
}

/* loss_n = (1 - e) w[y] (lse - x_y) + e / C * sum_c w[c] (lse - x_c); the mean divides by
 * the summed weights of the samples not ignored (PyTorch's weighted mean) */
static int ce_forward(void *self, nn_loss_io *io, nn_error *err)
{
    const sce *ce = self;
    const char *L = "cross_entropy";
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    io->loss = NAN; /* the host never gets the loss from a device: it reads loss_out */
    if (!io->loss_out)
        return nn_error_set(err, NN_EINVAL, "cross_entropy: no loss_out tensor: on a device "
                            "the loss is written to loss_out (ABI 0.4)");
    const float *x, *t;
    const int32_t *y;
    float *gp = NULL, *out;
    SIM_TENSOR(x, dev, io->pred, NN_F32, L, "predictions", err);
    SIM_TENSOR(out, dev, io->loss_out, NN_F32, L, "loss_out", err);
    if (io->grad_pred)
        SIM_TENSOR(gp, dev, io->grad_pred, NN_F32, L, "prediction gradient", err);
    if (ce->soft) {
        SIM_TENSOR(t, dev, io->target, NN_F32, L, "targets", err);
        return ce_soft(ce, x, t, gp, out, err);
    }
    SIM_TENSOR(y, dev, io->target, NN_I32, L, "targets", err);
    const int64_t n = ce->n, c = ce->c;
    const double e = ce->smoothing, *w = ce->n_weights ? ce->weight : NULL;
    double denom = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == ce->ignore_index)
            continue;
        if (y[i] < 0 || y[i] >= c)
            return nn_error_set(err, NN_EINVAL, "cross_entropy: sample %lld has class id %d, "
                                "outside [0, %lld) (and not ignore_index %lld)", (long long)i,
                                (int)y[i], (long long)c, (long long)ce->ignore_index);
        denom += w ? w[y[i]] : 1.0;
    }
    const double scale = ce->sum ? 1.0 : (denom > 0 ? 1.0 / denom : 0.0);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * c;
        float *gi = gp ? gp + i * c : NULL;
        if (y[i] == ce->ignore_index) {
            if (gi)
                memset(gi, 0, sizeof(float) * (size_t)c);
            continue;
        }
        const double lse = row_lse(xi, c), wy = w ? w[y[i]] : 1.0;
        double smooth = 0;
        if (e > 0)
            for (int64_t k = 0; k < c; k++)
                smooth += (w ? w[k] : 1.0) * (lse - xi[k]);
        total += (1 - e) * wy * (lse - xi[y[i]]) + e / (double)c * smooth;
        if (!gi)
            continue;
        const double a = (1 - e) * wy + e / (double)c * ce->weight_sum, b = e / (double)c;
        for (int64_t k = 0; k < c; k++)
            gi[k] = (float)(scale * (a * exp(xi[k] - lse) - b * (w ? w[k] : 1.0)));
        gi[y[i]] -= (float)(scale * (1 - e) * wy);
    }
    out[0] = (float)(total * scale);
    return NN_OK;
}

static const nn_loss_vtable ce_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = ce_create,
    .destroy = ce_destroy,
    .setup = ce_setup,
    .forward = ce_forward,
};

static const nn_param_spec ce_params[] = {NN_STOCK_CROSS_ENTROPY_PARAMS, {.name = NULL}};

const nn_plugin_desc sim_cross_entropy_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "cross_entropy", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "Softmax cross-entropy from logits [N, C] and class ids [N] or probabilities "
               "[N, C] on the sim device",
    .params = ce_params, .vtable = &ce_vtable);
