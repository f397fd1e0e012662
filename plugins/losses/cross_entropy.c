/* cross_entropy.c: the loss plugin "cross_entropy": softmax cross-entropy from logits [N, C]
 * and I32 class ids [N] or F32 probabilities [N, C] (mixup, cutmix), with PyTorch's semantics
 * for class weights, label smoothing, ignore_index and mean/sum (nn_class_loss.h checks the
 * shapes and targets). Log-sum-exp in double keeps it finite. Never allocates per step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_class_loss.h"

typedef struct cross_entropy {
    nn_class_loss cl;
    double smoothing; /* label_smoothing */
} cross_entropy;

static int ce_create(const nn_params *params, void **self, nn_error *err)
{
    cross_entropy *ce = calloc(1, sizeof *ce);
    if (!ce)
        return nn_error_set(err, NN_ENOMEM, "cross_entropy: out of memory");
    int rc = nn_class_loss_init(&ce->cl, "cross_entropy", params, err);
    if (rc) {
        free(ce);
        return rc;
    }
    ce->smoothing = nn_params_float(params, "label_smoothing");
    *self = ce;
    return NN_OK;
}

static void ce_destroy(void *self)
{
    cross_entropy *ce = self;
    nn_class_loss_free(&ce->cl);
    free(ce);
}

static int ce_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    return nn_class_loss_setup(&((cross_entropy *)self)->cl, s, "logits", err);
}

/* lse = log sum_k exp(x_k), in double from the row's maximum */
static double log_sum_exp(const float *x, int64_t c)
{
    double m = x[0], s = 0;
    for (int64_t k = 1; k < c; k++)
        m = x[k] > m ? x[k] : m;
    for (int64_t k = 0; k < c; k++)
        s += exp(x[k] - m);
    return m + log(s);
}

/* probability targets t (PyTorch's cross_entropy with class probabilities):
 * loss_n = sum_c w[c] q_c (lse - x_c) with q = (1 - e) t + e / C; mean divides by N */
static int ce_forward_soft(const cross_entropy *ce, nn_loss_io *io, nn_error *err)
{
    const nn_class_loss *cl = &ce->cl;
    const float *x = NN_F32P(io->pred), *t = NN_F32P(io->target);
    const int64_t n = cl->n, c = cl->c;
    const double e = ce->smoothing;
    double scale, total = 0;
    int rc = nn_class_loss_soft_scale(cl, t, &scale, err);
    if (rc)
        return rc;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * c, *ti = t + i * c;
        const double lse = log_sum_exp(xi, c);
        double wq = 0; /* sum_c w[c] q_c */
        for (int64_t k = 0; k < c; k++) {
            const double q = (1 - e) * ti[k] + e / (double)c, w = nn_class_loss_w(cl, k);
            total += w * q * (lse - xi[k]);
            wq += w * q;
        }
        if (!io->grad_pred)
            continue;
        /* d/dx_k = (sum_c w[c] q_c) p_k - w[k] q_k */
        float *gi = NN_F32P(io->grad_pred) + i * c;
        for (int64_t k = 0; k < c; k++)
            gi[k] = (float)(scale * (wq * exp(xi[k] - lse) -
                                     nn_class_loss_w(cl, k) * ((1 - e) * ti[k] + e / (double)c)));
    }
    io->loss = total * scale;
    return NN_OK;
}

/* class ids: loss_n = (1 - e) w[y] (lse - x_y) + e / C * sum_c w[c] (lse - x_c)
 * mean divides by sum_n w[y_n] over the samples not ignored (PyTorch's weighted mean) */
static int ce_forward(void *self, nn_loss_io *io, nn_error *err)
{
    const cross_entropy *ce = self;
    const nn_class_loss *cl = &ce->cl;
    if (cl->soft)
        return ce_forward_soft(ce, io, err);
    const float *x = NN_F32P(io->pred);
    const int32_t *y = NN_I32P(io->target);
    const int64_t n = cl->n, c = cl->c;
    const double e = ce->smoothing;
    double scale;
    int rc = nn_class_loss_scale(cl, y, &scale, err);
    if (rc)
        return rc;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * c;
        float *gi = io->grad_pred ? NN_F32P(io->grad_pred) + i * c : NULL;
        if (y[i] == cl->ignore_index) {
            if (gi)
                memset(gi, 0, sizeof(float) * (size_t)c);
            continue;
        }
        const double lse = log_sum_exp(xi, c), wy = nn_class_loss_w(cl, y[i]);
        double smooth = 0;
        if (e > 0)
            for (int64_t k = 0; k < c; k++)
                smooth += nn_class_loss_w(cl, k) * (lse - xi[k]);
        total += (1 - e) * wy * (lse - xi[y[i]]) + e / (double)c * smooth;
        if (!gi)
            continue;
        /* d/dx_k = (1 - e) wy (p_k - [k = y]) + e / C (W p_k - w_k), W = sum of weights */
        const double a = (1 - e) * wy + e / (double)c * cl->weight_sum, b = e / (double)c;
        for (int64_t k = 0; k < c; k++) {
            double pk = exp(xi[k] - lse);
            gi[k] = (float)(scale * (a * pk - b * nn_class_loss_w(cl, k)));
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

static const nn_param_spec ce_params[] = {NN_STOCK_CROSS_ENTROPY_PARAMS, {.name = NULL}};

static const nn_plugin_desc ce_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "cross_entropy", .version = "1.0.0", .license = "MIT",
    .summary = "Softmax cross-entropy from logits [N, C] and class ids [N] or probabilities "
               "[N, C] (PyTorch semantics)",
    .params = ce_params, .vtable = &ce_vtable, .test = &nn_class_loss_test);

NN_PLUGIN_EXPORT(&ce_desc);
