/* nn_adam.c: the update of the Adam family, following torch.optim.Adam and AdamW exactly
 * (bias correction, AMSGrad, L2 or decoupled weight decay). One loop serves both: Adam passes
 * decay 1 and its L2 coefficient, AdamW 1 - lr * wd and none. Never allocates in step(). */
#include <math.h>
#include <stdlib.h>

#include "nn_adam.h"

/* the update loops are built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ADAM_CLONES
#endif

typedef struct adam {
    nn_stock_adam k; /* the keys */
    int decoupled;
} adam;

int nn_adam_create(const nn_params *p, int decoupled, void **self, nn_error *err)
{
    nn_stock_adam k = {0};
    int rc = nn_stock_adam_read(p, &k, err);
    if (rc)
        return rc;
    adam *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->k = k;
    s->decoupled = decoupled;
    *self = s;
    return NN_OK;
}

void nn_adam_destroy(void *self)
{
    free(self);
}

int nn_adam_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    (void)err;
    const adam *s = self;
    nn_stock_adam_slots(&s->k, st);
    return NN_OK;
}

/* w *= decay; d = g + wd*w; m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2;
 * w -= step_size * m / (sqrt(v) / sqrt(1-b2^t) + eps), v replaced by its running max with
 * AMSGrad. Adam has decay 1, AdamW wd 0: l2 and decoupled are constants at each call, so the
 * compiler drops the term that does nothing and each variant runs as fast as its own loop. */
static inline __attribute__((always_inline)) void
adam_loop(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
          float *restrict vmax, int64_t n, float step_size, float inv_bc2_sqrt, float b1,
          float c1, float b2, float c2, float eps, float wd, float decay, int l2, int decoupled)
{
    for (int64_t i = 0; i < n; i++) {
        float d = l2 ? g[i] + wd * w[i] : g[i];
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        float wi = decoupled ? w[i] * decay : w[i];
        w[i] = wi - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}

ADAM_CLONES
static void adam_update(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, float *restrict vmax, int64_t n, float step_size,
                        float inv_bc2_sqrt, float b1, float c1, float b2, float c2, float eps,
                        float wd, float decay)
{
#define ADAM_LOOP(VMAX, L2, DEC)                                                             \
    adam_loop(w, g, m, v, VMAX, n, step_size, inv_bc2_sqrt, b1, c1, b2, c2, eps, wd, decay, \
              L2, DEC)
    int l2 = wd != 0.0f, dec = decay != 1.0f;
    if (vmax) {
        if (l2)
            ADAM_LOOP(vmax, 1, dec);
        else if (dec)
            ADAM_LOOP(vmax, 0, 1);
        else
            ADAM_LOOP(vmax, 0, 0);
    } else {
        if (l2)
            ADAM_LOOP(NULL, 1, dec);
        else if (dec)
            ADAM_LOOP(NULL, 0, 1);
        else
            ADAM_LOOP(NULL, 0, 0);
    }
#undef ADAM_LOOP
}

int nn_adam_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    const adam *s = self;
    double bc1 = 1.0 - pow(s->k.beta1, (double)st->t);
    double bc2 = 1.0 - pow(s->k.beta2, (double)st->t);
    for (int k = 0; k < st->n_params; k++) {
        nn_optim_param *p = &st->params[k];
        double lr = st->lr * p->lr_mult, wd = s->k.weight_decay * p->weight_decay_mult;
        adam_update(NN_F32P(p->value), NN_F32P(p->grad), NN_F32P(p->slots[0]),
                    NN_F32P(p->slots[1]), s->k.amsgrad ? NN_F32P(p->slots[2]) : NULL,
                    nn_tensor_numel(p->value), (float)(lr / bc1), (float)(1.0 / sqrt(bc2)),
                    (float)s->k.beta1, (float)(1.0 - s->k.beta1), (float)s->k.beta2,
                    (float)(1.0 - s->k.beta2), (float)s->k.eps, s->decoupled ? 0.0f : (float)wd,
                    s->decoupled ? (float)(1.0 - lr * wd) : 1.0f);
    }
    return NN_OK;
}
