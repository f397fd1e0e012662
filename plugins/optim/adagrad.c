/* adagrad.c: the "adagrad" optimizer plugin, Adagrad with learning-rate decay, L2 weight decay
 * and an initial accumulator value, following torch.optim.Adagrad's update exactly.
 * Its state lives only in its slot; step() never allocates. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/optimizer.h>
#include <nntrain/stock_params.h>

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ADAGRAD_CLONES
#endif

typedef struct adagrad {
    double lr_decay, weight_decay, init_acc, eps;
} adagrad;

static int adagrad_create(const nn_params *p, void **self, nn_error *err)
{
    adagrad *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->lr_decay = nn_params_float(p, "lr_decay");
    s->weight_decay = nn_params_float(p, "weight_decay");
    s->init_acc = nn_params_float(p, "initial_accumulator_value");
    s->eps = nn_params_float(p, "eps");
    *self = s;
    return NN_OK;
}

static void adagrad_destroy(void *self)
{
    free(self);
}

static int adagrad_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)self;
    (void)err;
    st->n_slots = 1;
    st->slot_names[0] = "sum";
    return NN_OK;
}

/* d = g + wd*w; sum += d^2 (the zeroed slot stands for initial_accumulator_value on the first
 * step, passed as `base`); w -= clr * d / (sqrt(sum) + eps) */
ADAGRAD_CLONES
static void adagrad_update(float *restrict w, const float *restrict g, float *restrict sum,
                           int64_t n, float clr, float wd, float eps, float base, int first)
{
    float keep = first ? 0.0f : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float s = (keep * sum[i] + base) + d * d;
        sum[i] = s;
        w[i] -= clr * d / (sqrtf(s) + eps);
    }
}

static int adagrad_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const adagrad *s = self;
    int first = st->t == 1;
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        double clr = st->lr * p->lr_mult / (1.0 + (double)(st->t - 1) * s->lr_decay);
        adagrad_update(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]),
                       nn_tensor_numel(p->value), (float)clr,
                       (float)(s->weight_decay * p->weight_decay_mult), (float)s->eps,
                       first ? (float)s->init_acc : 0.0f, first);
    }
    return NN_OK;
}

static const nn_param_spec adagrad_params[] = {NN_STOCK_ADAGRAD_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable adagrad_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = adagrad_create,
    .destroy = adagrad_destroy,
    .setup = adagrad_setup,
    .step = adagrad_step,
};

static const nn_plugin_desc adagrad_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "adagrad", .version = "1.0.0", .license = "MIT",
    .caps = NN_CAP_ELEMENTWISE,
    .summary = "Adagrad with lr decay, L2 decay and initial accumulator (torch.optim.Adagrad)",
    .params = adagrad_params, .vtable = &adagrad_vtable);

NN_PLUGIN_EXPORT(&adagrad_desc);
