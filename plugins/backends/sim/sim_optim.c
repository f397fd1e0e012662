/* sim_optim.c: "sgd" and "adam" on the sim device with the CPU plugins' keys, slots and
 * update equations (torch.optim's: momentum, dampening, Nesterov, L2 decay; Adam's bias
 * correction and AMSGrad), in the same float operations in the same order, so a step gives
 * the CPU's numbers bit for bit. This file is built without FMA contraction for that reason. */
#include <math.h>
#include <stdlib.h>

#include "sim.h"

/* the CPU plugins' clones: vector code that rounds exactly like the scalar loop */
#if defined(__x86_64__) && defined(__GNUC__)
#define OPT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OPT_CLONES
#endif

typedef struct soptim {
    nn_stock_sgd sgd;   /* the keys of sgd */
    nn_stock_adam adam; /* or of adam */
} soptim;

static void optim_destroy(void *self)
{
    free(self);
}

/* the value, gradient and first n_slots slots of parameter k, checked */
static int param_data(sim_dev *dev, const nn_optim_param *p, int n_slots, float **w,
                      const float **g, float **s, nn_error *err)
{
    const char *who = p->name ? p->name : "parameter";
    SIM_TENSOR(*w, dev, p->value, NN_F32, who, "value", err);
    SIM_TENSOR(*g, dev, p->grad, NN_F32, who, "gradient", err);
    if (nn_tensor_numel(p->grad) != nn_tensor_numel(p->value))
        return nn_error_set(err, NN_ESHAPE, "%s: the gradient's shape differs from the value's",
                            who);
    static const char *const roles[] = {"slot 0", "slot 1", "slot 2", "slot 3"};
    for (int i = 0; i < n_slots; i++) {
        SIM_TENSOR(s[i], dev, p->slots[i], NN_F32, who, roles[i], err);
        if (nn_tensor_numel(p->slots[i]) != nn_tensor_numel(p->value))
            return nn_error_set(err, NN_ESHAPE, "%s: %s is not shaped like the value", who,
                                roles[i]);
    }
    return NN_OK;
}

/* ---- sgd --------------------------------------------------------------------------------- */

static int sgd_create(const nn_params *p, void **self, nn_error *err)
{
    soptim *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = nn_stock_sgd_read(p, &s->sgd, err);
    if (rc) {
        free(s);
        return rc;
    }
    *self = s;
    return NN_OK;
}

static int sgd_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    const soptim *s = self;
    if (!sim_dev_from(st->device, "sgd", err))
        return NN_EINVAL;
    nn_stock_sgd_slots(&s->sgd, st);
    return NN_OK;
}

OPT_CLONES
static void sgd_plain(float *restrict w, const float *restrict g, int64_t n, float lr, float wd)
{
    for (int64_t i = 0; i < n; i++)
        w[i] -= lr * (g[i] + wd * w[i]);
}

/* b = d on the first step (bm 0, bd 1), b = mu*b + (1-dampening)*d after; the update is b
 * (cd 0, cb 1), or d + mu*b with Nesterov (cd 1, cb mu); d = g + wd*w */
OPT_CLONES
static void sgd_momentum(float *restrict w, const float *restrict g, float *restrict b,
                         int64_t n, float lr, float wd, float bm, float bd, float cd, float cb)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float nb = bm * b[i] + bd * d;
        b[i] = nb;
        w[i] -= lr * (cd * d + cb * nb);
    }
}

static int sgd_step(void *self, const nn_optim_step *st, nn_error *err)
{
    const soptim *s = self;
    sim_dev *dev = sim_dev_from(st->device, "sgd", err);
    if (!dev)
        return NN_EINVAL;
    int mom = s->sgd.momentum != 0;
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        float *w, *b[1];
        const float *g;
        int rc = param_data(dev, p, mom, &w, &g, b, err);
        if (rc)
            return rc;
        float lr = (float)(st->lr * p->lr_mult);
        float wd = (float)(s->sgd.weight_decay * p->weight_decay_mult);
        int64_t n = nn_tensor_numel(p->value);
        if (!mom) {
            sgd_plain(w, g, n, lr, wd);
            continue;
        }
        int first = st->t == 1;
        float mu = (float)s->sgd.momentum, damp1 = (float)(1 - s->sgd.dampening);
        sgd_momentum(w, g, b[0], n, lr, wd, first ? 0.0f : mu, first ? 1.0f : damp1,
                     s->sgd.nesterov ? 1.0f : 0.0f, s->sgd.nesterov ? mu : 1.0f);
    }
    return NN_OK;
}

/* ---- adam -------------------------------------------------------------------------------- */

static int adam_create(const nn_params *p, void **self, nn_error *err)
{
    soptim *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = nn_stock_adam_read(p, &s->adam, err);
    if (rc) {
        free(s);
        return rc;
    }
    *self = s;
    return NN_OK;
}

static int adam_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    const soptim *s = self;
    if (!sim_dev_from(st->device, "adam", err))
        return NN_EINVAL;
    nn_stock_adam_slots(&s->adam, st);
    return NN_OK;
}

/* d = g + wd*w; m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2;
 * w -= step_size * m / (sqrt(v) / sqrt(1-b2^t) + eps), v its running max with AMSGrad */
OPT_CLONES
static void adam_update(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, float *restrict vmax, int64_t n, float step_size,
                        float inv_bc2_sqrt, float b1, float c1, float b2, float c2, float eps,
                        float wd)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        w[i] -= step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}

static int adam_step(void *self, const nn_optim_step *st, nn_error *err)
{
    const soptim *s = self;
    sim_dev *dev = sim_dev_from(st->device, "adam", err);
    if (!dev)
        return NN_EINVAL;
    double bc1 = 1.0 - pow(s->adam.beta1, (double)st->t);
    double bc2 = 1.0 - pow(s->adam.beta2, (double)st->t);
    float b1 = (float)s->adam.beta1, c1 = (float)(1.0 - s->adam.beta1);
    float b2 = (float)s->adam.beta2, c2 = (float)(1.0 - s->adam.beta2), eps = (float)s->adam.eps;
    float inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        float *w, *sl[3];
        const float *g;
        int rc = param_data(dev, p, s->adam.amsgrad ? 3 : 2, &w, &g, sl, err);
        if (rc)
            return rc;
        adam_update(w, g, sl[0], sl[1], s->adam.amsgrad ? sl[2] : NULL, nn_tensor_numel(p->value),
                    (float)(st->lr * p->lr_mult / bc1), inv_bc2_sqrt, b1, c1, b2, c2, eps,
                    (float)(s->adam.weight_decay * p->weight_decay_mult));
    }
    return NN_OK;
}

static const nn_param_spec sgd_params[] = {NN_STOCK_SGD_PARAMS, {.name = NULL}};

static const nn_param_spec adam_params[] = {NN_STOCK_ADAM_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable sgd_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = sgd_create,
    .destroy = optim_destroy,
    .setup = sgd_setup,
    .step = sgd_step,
};

static const nn_optimizer_vtable adam_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adam_create,
    .destroy = optim_destroy,
    .setup = adam_setup,
    .step = adam_step,
};

const nn_plugin_desc sim_sgd_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "sgd", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "stochastic gradient descent with momentum, Nesterov and L2 decay on the sim "
               "device (torch.optim.SGD)",
    .params = sgd_params, .vtable = &sgd_vtable);

const nn_plugin_desc sim_adam_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adam", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "Adam with bias correction, L2 weight decay and AMSGrad on the sim device "
               "(torch.optim.Adam)",
    .params = adam_params, .vtable = &adam_vtable);
