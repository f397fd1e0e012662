/* mixup.c: batch transform plugin "mixup" (Zhang et al., 2018, as torchvision's RandomMixup):
 * with probability p, each sample of a training batch becomes lam x_i + (1 - lam) x_{i-1}
 * (the batch rolled by one) and its target the same mix of the two one-hot targets, with
 * lam ~ Beta(alpha, alpha) once per batch. apply_batch never allocates and never writes self. */
#include <stdlib.h>
#include <string.h>

#include "tf_mix.h"

static int mixup_create(const nn_params *params, void **self, nn_error *err)
{
    tf_mix *m = malloc(sizeof *m);
    if (!m)
        return nn_error_set(err, NN_ENOMEM, "mixup: out of memory");
    tf_mix_init(m, "mixup", params);
    *self = m;
    return NN_OK;
}

static void mixup_destroy(void *self)
{
    free(self);
}

static int mixup_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    return tf_mix_setup(self, s, err);
}

/* draws: one uniform (applied when < p), then lambda (tf_beta_draw) when applied */
static int mixup_apply_batch(void *self, const nn_transform_batch *b, nn_rng *rng,
                             nn_error *err)
{
    const tf_mix *m = self;
    double lam = 1;
    if (nn_rng_uniform(rng) < m->p)
        lam = tf_beta_draw(rng, m->alpha);
    int rc = tf_mix_targets(m, b, lam, err);
    if (rc || lam == 1 || b->rows < 2)
        return rc;
    /* x_i = lam x_i + (1 - lam) x_{i-1}: from the last row down, each reads a row not yet
     * written, except row 0, which reads the last row's original kept in scratch */
    const int64_t n = b->rows, d = m->sample_numel;
    const float l = (float)lam, r = (float)(1 - lam);
    float *x = NN_F32P(b->x), *last = b->scratch;
    memcpy(last, x + (n - 1) * d, (size_t)d * sizeof *x);
    for (int64_t i = n - 1; i >= 0; i--) {
        float *xi = x + i * d;
        const float *prev = i ? xi - d : last;
        for (int64_t k = 0; k < d; k++)
            xi[k] = l * xi[k] + r * prev[k];
    }
    return NN_OK;
}

static const nn_param_spec mixup_params[] = {
    TF_MIX_PARAMS("probability that a batch is mixed at all; an unmixed batch keeps its "
                  "samples and gets its one-hot (smoothed) targets"),
    {0},
};

static const nn_test_case mixup_cases[] = {
    {.params = "p=1", .inputs = "3x4x4"},
    {.params = "alpha=0.2; p=0.8; label_smoothing=0.1", .inputs = "7"},
};

static const nn_test_spec mixup_test = {.struct_size = sizeof(nn_test_spec), .n_cases = 2,
                                        .cases = mixup_cases};

static const nn_transform_vtable mixup_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = mixup_create,
    .destroy = mixup_destroy,
    .setup = mixup_setup,
    .apply_batch = mixup_apply_batch, /* a batch transform: no per-sample apply */
};

static const nn_plugin_desc mixup_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "mixup", .version = "1.0.0", .license = "MIT",
    .summary = "Mix each training sample and its one-hot target with the previous one of its "
               "batch, lam ~ Beta(alpha, alpha), as torchvision's RandomMixup (batch transform)",
    .caps = NN_CAP_THREAD_SAFE, .params = mixup_params, .vtable = &mixup_vtable,
    .test = &mixup_test);

NN_PLUGIN_EXPORT(&mixup_desc);
