/* sgd.c: the "sgd" optimizer plugin, stochastic gradient descent with optional (Nesterov)
 * momentum and L2 weight decay, following torch.optim.SGD's update exactly.
 * It keeps all state in its one slot and never allocates in step(). */
#include <stdlib.h>

#include <nntrain/optimizer.h>
#include <nntrain/stock_params.h>
#include <nntrain/stock_setup.h>

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define SGD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SGD_CLONES
#endif

typedef nn_stock_sgd sgd;

static int sgd_create(const nn_params *p, void **self, nn_error *err)
{
    sgd *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = nn_stock_sgd_read(p, s, err);
    if (rc) {
        free(s);
        return rc;
    }
    *self = s;
    return NN_OK;
}

static void sgd_destroy(void *self)
{
    free(self);
}

static int sgd_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)err;
    nn_stock_sgd_slots(self, st);
    return NN_OK;
}

SGD_CLONES
static void sgd_plain(float *restrict w, const float *restrict g, int64_t n, float lr, float wd)
{
    for (int64_t i = 0; i < n; i++)
        w[i] -= lr * (g[i] + wd * w[i]);
}

/* b = d on the first step (the slot is still zero then), b = mu*b + (1-dampening)*d after;
 * the update is b, or d + mu*b with Nesterov (d = g + wd*w) */
SGD_CLONES
static void sgd_momentum(float *restrict w, const float *restrict g, float *restrict b,
                         int64_t n, float lr, float wd, float mu, float damp1, int first,
                         int nesterov)
{
    float bm = first ? 0.0f : mu, bd = first ? 1.0f : damp1;
    float cd = nesterov ? 1.0f : 0.0f, cb = nesterov ? mu : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float nb = bm * b[i] + bd * d;
        b[i] = nb;
        w[i] -= lr * (cd * d + cb * nb);
    }
}

static int sgd_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const sgd *s = self;
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        float lr = (float)(st->lr * p->lr_mult);
        float wd = (float)(s->weight_decay * p->weight_decay_mult);
        int64_t n = nn_tensor_numel(p->value);
        if (s->momentum == 0)
            sgd_plain(NN_F32P(p->value), NN_F32P(p->grad), n, lr, wd);
        else
            sgd_momentum(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]), n, lr, wd,
                         (float)s->momentum, (float)(1 - s->dampening), st->t == 1,
                         s->nesterov);
    }
    return NN_OK;
}

static const nn_param_spec sgd_params[] = {NN_STOCK_SGD_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable sgd_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = sgd_create,
    .destroy = sgd_destroy,
    .setup = sgd_setup,
    .step = sgd_step,
};

static const nn_plugin_desc sgd_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "sgd", .version = "1.0.0", .license = "MIT",
    .caps = NN_CAP_ELEMENTWISE,
    .summary = "stochastic gradient descent with momentum, Nesterov and L2 decay (torch.optim.SGD)",
    .params = sgd_params, .vtable = &sgd_vtable);

NN_PLUGIN_EXPORT(&sgd_desc);
