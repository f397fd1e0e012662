/* adamw.c: the "adamw" optimizer plugin, Adam with decoupled weight decay (the weights shrink by
 * lr*weight_decay before the Adam update) and AMSGrad, following torch.optim.AdamW exactly.
 * Its state lives only in its slots; step() never allocates. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/optimizer.h>

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAMW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ADAMW_CLONES
#endif

typedef struct adamw {
    double beta1, beta2, eps, weight_decay;
    int amsgrad;
} adamw;

static int adamw_create(const nn_params *p, void **self, nn_error *err)
{
    int nb = 0;
    const double *betas = nn_params_floats(p, "betas", &nb);
    if (nb != 2)
        return nn_error_set(err, NN_EINVAL, "key 'betas' needs exactly 2 numbers (beta1, beta2), "
                            "got %d", nb);
    adamw *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->beta1 = betas[0];
    s->beta2 = betas[1];
    s->eps = nn_params_float(p, "eps");
    s->weight_decay = nn_params_float(p, "weight_decay");
    s->amsgrad = nn_params_bool(p, "amsgrad");
    *self = s;
    return NN_OK;
}

static void adamw_destroy(void *self)
{
    free(self);
}

static int adamw_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)err;
    const adamw *s = self;
    st->n_slots = s->amsgrad ? 3 : 2;
    st->slot_names[0] = "exp_avg";
    st->slot_names[1] = "exp_avg_sq";
    st->slot_names[2] = "max_exp_avg_sq";
    return NN_OK;
}

/* w *= 1 - lr*wd; then with d = g: m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2;
 * w -= step_size * m / (sqrt(v) / sqrt(1-b2^t) + eps), v replaced by its running max with
 * AMSGrad */
ADAMW_CLONES
static void adamw_update(float *restrict w, const float *restrict g, float *restrict m,
                         float *restrict v, float *restrict vmax, int64_t n, float step_size,
                         float inv_bc2_sqrt, float b1, float c1, float b2, float c2, float eps,
                         float decay)
{
    if (vmax) {
        for (int64_t i = 0; i < n; i++) {
            float d = g[i];
            float mi = b1 * m[i] + c1 * d;
            float vi = b2 * v[i] + c2 * d * d;
            float vm = vmax[i] > vi ? vmax[i] : vi;
            m[i] = mi;
            v[i] = vi;
            vmax[i] = vm;
            w[i] = w[i] * decay - step_size * mi / (sqrtf(vm) * inv_bc2_sqrt + eps);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}

static int adamw_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const adamw *s = self;
    double bc1 = 1.0 - pow(s->beta1, (double)st->t);
    double bc2 = 1.0 - pow(s->beta2, (double)st->t);
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        double lr = st->lr * p->lr_mult;
        adamw_update(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]),
                     NN_F32P(p->slots[1]), s->amsgrad ? NN_F32P(p->slots[2]) : NULL,
                     nn_tensor_numel(p->value), (float)(lr / bc1), (float)(1.0 / sqrt(bc2)),
                     (float)s->beta1, (float)(1.0 - s->beta1), (float)s->beta2,
                     (float)(1.0 - s->beta2), (float)s->eps,
                     (float)(1.0 - lr * s->weight_decay * p->weight_decay_mult));
    }
    return NN_OK;
}

static const nn_param_spec adamw_params[] = {
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.001", .range = "[0, inf)",
     .doc = "base learning rate; the scheduler and each parameter's lr_mult scale it"},
    {.name = "betas", .type = NN_PARAM_FLOAT_LIST, .def = "0.9, 0.999", .range = "[0, 1)",
     .doc = "two numbers: decay rates of the running mean of the gradient and of its square"},
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-8", .range = "[0, inf)",
     .doc = "added to the denominator for numerical stability"},
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .def = "0.01", .range = "[0, inf)",
     .doc = "decoupled weight decay: weights shrink by lr*weight_decay (times each "
            "parameter's lr_mult and weight_decay_mult) before each update"},
    {.name = "amsgrad", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "use the running maximum of the squared-gradient average (AMSGrad); adds a slot"},
    {.name = NULL},
};

static const nn_optimizer_vtable adamw_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adamw_create,
    .destroy = adamw_destroy,
    .setup = adamw_setup,
    .step = adamw_step,
};

static const nn_plugin_desc adamw_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adamw", .version = "1.0.0", .license = "MIT",
    .summary = "AdamW: Adam with decoupled weight decay and AMSGrad (torch.optim.AdamW)",
    .params = adamw_params, .vtable = &adamw_vtable);

NN_PLUGIN_EXPORT(&adamw_desc);
