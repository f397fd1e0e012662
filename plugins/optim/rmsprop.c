/* rmsprop.c: the "rmsprop" optimizer plugin, RMSprop with L2 weight decay, momentum and the
 * centered variant, following torch.optim.RMSprop's update exactly.
 * Its state lives only in its slots; step() never allocates. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/optimizer.h>
#include <nntrain/stock_params.h>

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define RMSPROP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RMSPROP_CLONES
#endif

typedef struct rmsprop {
    double alpha, eps, weight_decay, momentum;
    int centered;
    int slot_buf, slot_gavg; /* slot index of momentum_buffer / grad_avg, -1 if none */
} rmsprop;

static int rmsprop_create(const nn_params *p, void **self, nn_error *err)
{
    rmsprop *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->alpha = nn_params_float(p, "alpha");
    s->eps = nn_params_float(p, "eps");
    s->weight_decay = nn_params_float(p, "weight_decay");
    s->momentum = nn_params_float(p, "momentum");
    s->centered = nn_params_bool(p, "centered");
    *self = s;
    return NN_OK;
}

static void rmsprop_destroy(void *self)
{
    free(self);
}

static int rmsprop_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)err;
    rmsprop *s = self;
    int n = 0;
    st->slot_names[n++] = "square_avg";
    s->slot_buf = s->momentum > 0 ? n : -1;
    if (s->momentum > 0)
        st->slot_names[n++] = "momentum_buffer";
    s->slot_gavg = s->centered ? n : -1;
    if (s->centered)
        st->slot_names[n++] = "grad_avg";
    st->n_slots = n;
    return NN_OK;
}

/* d = g + wd*w; sq = a*sq + (1-a)*d^2; centered: ga = a*ga + (1-a)*d, avg = sqrt(sq - ga^2),
 * else avg = sqrt(sq); avg += eps; momentum: b = mu*b + d/avg, w -= lr*b; else w -= lr*d/avg.
 * Always inlined with constant flags, so each of the four variants is a branch-free loop that
 * vectorises. */
static inline __attribute__((always_inline)) void
rmsprop_loop(float *restrict w, const float *restrict g, float *restrict sq,
             float *restrict buf, float *restrict ga, int64_t n, float lr, float wd, float a,
             float c, float eps, float mu, const int centered, const int momentum)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float s = a * sq[i] + c * d * d;
        sq[i] = s;
        float var = s;
        if (centered) {
            float gi = a * ga[i] + c * d;
            ga[i] = gi;
            var = s - gi * gi;
        }
        float q = d / (sqrtf(var) + eps);
        if (momentum) {
            q = mu * buf[i] + q;
            buf[i] = q;
        }
        w[i] -= lr * q;
    }
}

RMSPROP_CLONES
static void rmsprop_update(float *restrict w, const float *restrict g, float *restrict sq,
                           float *restrict buf, float *restrict ga, int64_t n, float lr,
                           float wd, float a, float c, float eps, float mu)
{
    if (ga && buf)
        rmsprop_loop(w, g, sq, buf, ga, n, lr, wd, a, c, eps, mu, 1, 1);
    else if (ga)
        rmsprop_loop(w, g, sq, buf, ga, n, lr, wd, a, c, eps, mu, 1, 0);
    else if (buf)
        rmsprop_loop(w, g, sq, buf, ga, n, lr, wd, a, c, eps, mu, 0, 1);
    else
        rmsprop_loop(w, g, sq, buf, ga, n, lr, wd, a, c, eps, mu, 0, 0);
}

static int rmsprop_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const rmsprop *s = self;
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        rmsprop_update(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]),
                       s->slot_buf >= 0 ? NN_F32P(p->slots[s->slot_buf]) : NULL,
                       s->slot_gavg >= 0 ? NN_F32P(p->slots[s->slot_gavg]) : NULL,
                       nn_tensor_numel(p->value), (float)(st->lr * p->lr_mult),
                       (float)(s->weight_decay * p->weight_decay_mult), (float)s->alpha,
                       (float)(1.0 - s->alpha), (float)s->eps, (float)s->momentum);
    }
    return NN_OK;
}

static const nn_param_spec rmsprop_params[] = {NN_STOCK_RMSPROP_PARAMS, {.name = NULL}};

static const nn_optimizer_vtable rmsprop_vtable = {
    .struct_size = sizeof(nn_optimizer_vtable),
    .create = rmsprop_create,
    .destroy = rmsprop_destroy,
    .setup = rmsprop_setup,
    .step = rmsprop_step,
};

static const nn_plugin_desc rmsprop_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "rmsprop", .version = "1.0.0", .license = "MIT",
    .caps = NN_CAP_ELEMENTWISE,
    .summary = "RMSprop with momentum, centered variant and L2 decay (torch.optim.RMSprop)",
    .params = rmsprop_params, .vtable = &rmsprop_vtable);

NN_PLUGIN_EXPORT(&rmsprop_desc);
