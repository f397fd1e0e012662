/* cutmix.c: batch transform plugin "cutmix" (Yun et al., 2019, as torchvision's RandomCutmix):
 * with probability p, a box of each F32 image [C, H, W] of a training batch is pasted from the
 * image before it (the batch rolled by one) and the targets are mixed by the share of the
 * image each one keeps. apply_batch never allocates and never writes self. */
#include <stdlib.h>
#include <string.h>

#include "tf_mix.h"

typedef struct cutmix {
    tf_mix m;
    int64_t c, h, w;
} cutmix;

static int cutmix_create(const nn_params *params, void **self, nn_error *err)
{
    cutmix *k = calloc(1, sizeof *k);
    if (!k)
        return nn_error_set(err, NN_ENOMEM, "cutmix: out of memory");
    tf_mix_init(&k->m, "cutmix", params);
    *self = k;
    return NN_OK;
}

static void cutmix_destroy(void *self)
{
    free(self);
}

static int cutmix_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    cutmix *k = self;
    int rc = tf_expect("cutmix", s->in, NN_F32, 3, "an F32 image [C, H, W] (it pastes a box "
                       "of rows and columns)", err);
    if (rc)
        return rc;
    k->c = s->in->shape[0];
    k->h = s->in->shape[1];
    k->w = s->in->shape[2];
    return tf_mix_setup(&k->m, s, err);
}

/* draws: one uniform (applied when < p); when applied lambda (tf_beta_draw), then the box
 * centre's column in [0, W) and row in [0, H) */
static int cutmix_apply_batch(void *self, const nn_transform_batch *b, nn_rng *rng,
                              nn_error *err)
{
    const cutmix *k = self;
    const int64_t C = k->c, H = k->h, W = k->w, n = b->rows;
    if (nn_rng_uniform(rng) >= k->m.p)
        return tf_mix_targets(&k->m, b, 1.0, err);
    double lam = tf_beta_draw(rng, k->m.alpha);
    int64_t cx = (int64_t)nn_rng_below(rng, (uint64_t)W);
    int64_t cy = (int64_t)nn_rng_below(rng, (uint64_t)H);
    /* a box of half-sides r W and r H around the centre, cut at the edges (torchvision's
     * int() truncation); lambda then becomes the share of the image left unpasted */
    double r = 0.5 * sqrt(1.0 - lam);
    int64_t rw = (int64_t)(r * (double)W), rh = (int64_t)(r * (double)H);
    int64_t x1 = cx - rw > 0 ? cx - rw : 0, y1 = cy - rh > 0 ? cy - rh : 0;
    int64_t x2 = cx + rw < W ? cx + rw : W, y2 = cy + rh < H ? cy + rh : H;
    lam = 1.0 - (double)((x2 - x1) * (y2 - y1)) / (double)(W * H);
    int rc = tf_mix_targets(&k->m, b, lam, err);
    if (rc || x2 <= x1 || y2 <= y1 || n < 2)
        return rc;
    /* from the last image down, each box comes from an image not yet written, except image
     * 0's, which comes from the last image's original box kept in scratch */
    const size_t bw = (size_t)(x2 - x1) * sizeof(float);
    const int64_t d = C * H * W;
    float *x = NN_F32P(b->x), *keep = b->scratch;
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = y1; y < y2; y++)
            memcpy(keep + (c * H + y) * W + x1, x + (n - 1) * d + (c * H + y) * W + x1, bw);
    for (int64_t i = n - 1; i >= 0; i--) {
        float *xi = x + i * d;
        const float *prev = i ? xi - d : keep;
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = y1; y < y2; y++)
                memcpy(xi + (c * H + y) * W + x1, prev + (c * H + y) * W + x1, bw);
    }
    return NN_OK;
}

static const nn_param_spec cutmix_params[] = {
    TF_MIX_PARAMS("probability that a batch is cut and mixed at all; an untouched batch gets "
                  "its one-hot (smoothed) targets"),
    {0},
};

static const nn_test_case cutmix_cases[] = {
    {.params = "p=1", .inputs = "3x8x8"},
    {.params = "alpha=0.5; p=0.9; label_smoothing=0.1", .inputs = "1x5x7"},
};

static const nn_test_spec cutmix_test = {.struct_size = sizeof(nn_test_spec), .n_cases = 2,
                                         .cases = cutmix_cases};

static const nn_transform_vtable cutmix_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = cutmix_create,
    .destroy = cutmix_destroy,
    .setup = cutmix_setup,
    .apply_batch = cutmix_apply_batch, /* a batch transform: no per-sample apply */
};

static const nn_plugin_desc cutmix_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "cutmix", .version = "1.0.0", .license = "MIT",
    .summary = "Paste a box of each training image [C, H, W] from the previous one of its batch "
               "and mix the targets by area, as torchvision's RandomCutmix (batch transform)",
    .caps = NN_CAP_THREAD_SAFE, .params = cutmix_params, .vtable = &cutmix_vtable,
    .test = &cutmix_test);

NN_PLUGIN_EXPORT(&cutmix_desc);
