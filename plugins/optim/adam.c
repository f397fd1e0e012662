/* adam.c: the "adam" optimizer plugin, Adam with L2 weight decay added to the gradient and the
 * AMSGrad variant, following torch.optim.Adam's update (bias correction included) exactly.
 * Its state lives only in its slots; step() never allocates. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/optimizer.h>

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ADAM_CLONES
#endif

typedef struct adam {
    double beta1, beta2, eps, weight_decay;
    int amsgrad;
} adam;

static int adam_create(const nn_params *p, void **self, nn_error *err)
{
    int nb = 0;
    const double *betas = nn_params_floats(p, "betas", &nb);
    if (nb != 2)
        return nn_error_set(err, NN_EINVAL, "key 'betas' needs exactly 2 numbers (beta1, beta2), "
                            "got %d", nb);
    adam *s = calloc(1, sizeof *s);
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

static void adam_destroy(void *self)
{
    free(self);
}

static int adam_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)err;
    const adam *s = self;
    st->n_slots = s->amsgrad ? 3 : 2;
    st->slot_names[0] = "exp_avg";
    st->slot_names[1] = "exp_avg_sq";
    st->slot_names[2] = "max_exp_avg_sq";
    return NN_OK;
}

/* d = g + wd*w; m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2;
 * w -= step_size * m / (sqrt(v) / sqrt(1-b2^t) + eps), v replaced by its running max with
 * AMSGrad */
ADAM_CLONES
static void adam_update(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, float *restrict vmax, int64_t n, float step_size,
                        float inv_bc2_sqrt, float b1, float c1, float b2, float c2, float eps,
                        float wd)
{
    if (vmax) {
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            float mi = b1 * m[i] + c1 * d;
            float vi = b2 * v[i] + c2 * d * d;
            float vm = vmax[i] > vi ? vmax[i] : vi;
            m[i] = mi;
            v[i] = vi;
            vmax[i] = vm;
            w[i] -= step_size * mi / (sqrtf(vm) * inv_bc2_sqrt + eps);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] -= step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}

static int adam_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const adam *s = self;
    double bc1 = 1.0 - pow(s->beta1, (double)st->t);
    double bc2 = 1.0 - pow(s->beta2, (double)st->t);
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        double lr = st->lr * p->lr_mult;
        adam_update(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]),
                    NN_F32P(p->slots[1]), s->amsgrad ? NN_F32P(p->slots[2]) : NULL,
                    nn_tensor_numel(p->value), (float)(lr / bc1), (float)(1.0 / sqrt(bc2)),
                    (float)s->beta1, (float)(1.0 - s->beta1), (float)s->beta2,
                     (float)(1.0 - s->beta2), (float)s->eps,
                    (float)(s->weight_decay * p->weight_decay_mult));
    }
    return NN_OK;
}

static const nn_param_spec adam_params[] = {
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.001", .range = "[0, inf)",
     .doc = "base learning rate; the scheduler and each parameter's lr_mult scale it"},
    {.name = "betas", .type = NN_PARAM_FLOAT_LIST, .def = "0.9, 0.999", .range = "[0, 1)",
     .doc = "two numbers: decay rates of the running mean of the gradient and of its square"},
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-8", .range = "[0, inf)",
     .doc = "added to the denominator for numerical stability"},
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "L2 penalty added to the gradient (times each parameter's weight_decay_mult); "
            "for decoupled decay use the adamw optimizer"},
    {.name = "amsgrad", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "use the running maximum of the squared-gradient average (AMSGrad); adds a slot"},
    {.name = NULL},
};

static const nn_optimizer_vtable adam_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adam_create,
    .destroy = adam_destroy,
    .setup = adam_setup,
    .step = adam_step,
};

static const nn_plugin_desc adam_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adam", .version = "1.0.0", .license = "MIT",
    .summary = "Adam with bias correction, L2 weight decay and AMSGrad (torch.optim.Adam)",
    .params = adam_params, .vtable = &adam_vtable);

NN_PLUGIN_EXPORT(&adam_desc);
