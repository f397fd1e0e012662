/* nll.c: the loss plugin "nll", negative log-likelihood from log-probabilities [N, C] (e.g. a
 * log_softmax output) and I32 class ids [N] or F32 probabilities [N, C], with PyTorch's class
 * weights, ignore_index and means (nn_class_loss.h checks the shapes and targets). Never
 * allocates in forward. */
#include <stdlib.h>
#include <string.h>

#include "nn_class_loss.h"

static int nll_create(const nn_params *params, void **self, nn_error *err)
{
    nn_class_loss *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "nll: out of memory");
    int rc = nn_class_loss_init(l, "nll", params, err);
    if (rc) {
        free(l);
        return rc;
    }
    *self = l;
    return NN_OK;
}

static void nll_destroy(void *self)
{
    nn_class_loss_free(self);
    free(self);
}

static int nll_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    int rc = nn_stock_nll_check_input(s->pred_layer, s->pred_layer_type, err);
    return rc ? rc : nn_class_loss_setup(self, s, "log-probabilities", err);
}

/* probability targets: loss_n = -sum_c w[c] t_c x[n, c] (cross_entropy's probability form on
 * log-probabilities; PyTorch's nll_loss takes class ids only); mean divides by N */
static int nll_forward_soft(const nn_class_loss *l, nn_loss_io *io, nn_error *err)
{
    const float *x = NN_F32P(io->pred), *t = NN_F32P(io->target);
    double scale, total = 0;
    int rc = nn_class_loss_soft_scale(l, t, &scale, err);
    if (rc)
        return rc;
    float *g = io->grad_pred ? NN_F32P(io->grad_pred) : NULL;
    for (int64_t i = 0; i < l->n * l->c; i++) {
        const double w = nn_class_loss_w(l, i % l->c);
        total -= w * t[i] * x[i];
        if (g)
            g[i] = (float)(-w * t[i] * scale);
    }
    io->loss = total * scale;
    return NN_OK;
}

/* class ids: loss_n = -w[y] x[n, y]; mean divides by sum_n w[y_n] over the samples not
 * ignored */
static int nll_forward(void *self, nn_loss_io *io, nn_error *err)
{
    const nn_class_loss *l = self;
    if (l->soft)
        return nll_forward_soft(l, io, err);
    const float *x = NN_F32P(io->pred);
    const int32_t *y = NN_I32P(io->target);
    double scale, total = 0;
    int rc = nn_class_loss_scale(l, y, &scale, err);
    if (rc)
        return rc;
    for (int64_t i = 0; i < l->n; i++)
        if (y[i] != l->ignore_index)
            total -= nn_class_loss_w(l, y[i]) * x[i * l->c + y[i]];
    io->loss = total * scale;
    if (io->grad_pred) {
        float *g = NN_F32P(io->grad_pred);
        memset(g, 0, nn_tensor_nbytes(io->grad_pred));
        for (int64_t i = 0; i < l->n; i++)
            if (y[i] != l->ignore_index)
                g[i * l->c + y[i]] = (float)(-nn_class_loss_w(l, y[i]) * scale);
    }
    return NN_OK;
}

static const nn_loss_vtable nll_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = nll_create,
    .destroy = nll_destroy,
    .setup = nll_setup,
    .forward = nll_forward,
};

static const nn_param_spec nll_params[] = {NN_STOCK_NLL_PARAMS, {.name = NULL}};

static const nn_plugin_desc nll_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "nll", .version = "1.0.0", .license = "MIT",
    .summary = "Negative log-likelihood from log-probabilities [N, C] (a log_softmax layer's; "
               "straight after a softmax layer it is refused) and class ids [N] or "
               "probabilities [N, C]",
    .params = nll_params, .vtable = &nll_vtable, .test = &nn_class_loss_test);

NN_PLUGIN_EXPORT(&nll_desc);
