/* color_jitter.c: transform plugin that scales the brightness and contrast of an F32 image
 * [C, H, W] in [0, 1] by random factors, in a random order, as torchvision's ColorJitter does.
 * apply() never allocates, never writes self, and draws only from the stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct jitter {
    double b_lo, b_hi, c_lo, c_hi;
    int clamp;
    int64_t c, plane;
} jitter;

/* torchvision's rule: one value v means factors in [max(0, 1 - v), 1 + v]; a pair is the
 * range itself; factors are never negative */
static int factor_range(const nn_params *p, const char *key, double *lo, double *hi,
                        nn_error *err)
{
    double v[2];
    int n = tf_float_pair(p, "color_jitter", key, v, err);
    if (n < 0)
        return n;
    if (v[0] < 0)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'color_jitter': key '%s' = %g must be >= 0 (a factor "
                            "range never goes below 0)", key, v[0]);
    *lo = n == 1 ? (1.0 - v[0] > 0 ? 1.0 - v[0] : 0.0) : v[0];
    *hi = n == 1 ? 1.0 + v[0] : v[1];
    return NN_OK;
}

static int jitter_create(const nn_params *params, void **self, nn_error *err)
{
    jitter j = {0};
    int rc = factor_range(params, "brightness", &j.b_lo, &j.b_hi, err);
    if (!rc)
        rc = factor_range(params, "contrast", &j.c_lo, &j.c_hi, err);
    if (rc)
        return rc;
    j.clamp = nn_params_bool(params, "clamp");
    jitter *k = malloc(sizeof *k);
    if (!k)
        return nn_error_set(err, NN_ENOMEM, "color_jitter: out of memory");
    *k = j;
    *self = k;
    return NN_OK;
}

static void jitter_destroy(void *self)
{
    free(self);
}

static int jitter_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    jitter *j = self;
    int rc = tf_expect("color_jitter", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    j->c = s->in->shape[0];
    j->plane = s->in->shape[1] * s->in->shape[2];
    return NN_OK;
}

static float clampf(const jitter *j, double v)
{
    if (j->clamp)
        v = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
    return (float)v;
}

/* brightness: blend with black, y = f * x */
static void brightness(const jitter *j, float *y, double f)
{
    for (int64_t i = 0; i < j->c * j->plane; i++)
        y[i] = clampf(j, f * (double)y[i]);
}

/* contrast: blend with the mean grey level, y = f * x + (1 - f) * mean(gray(x)); gray is
 * ITU-R 601 luma for 3 channels, the channel average otherwise */
static void contrast(const jitter *j, float *y, double f)
{
    double mean = 0.0;
    if (j->c == 3) {
        for (int64_t i = 0; i < j->plane; i++)
            mean += 0.299 * y[i] + 0.587 * y[j->plane + i] + 0.114 * y[2 * j->plane + i];
        mean /= (double)j->plane;
    } else {
        for (int64_t i = 0; i < j->c * j->plane; i++)
            mean += y[i];
        mean /= (double)(j->c * j->plane);
    }
    for (int64_t i = 0; i < j->c * j->plane; i++)
        y[i] = clampf(j, f * (double)y[i] + (1.0 - f) * mean);
}

static int jitter_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                        nn_error *err)
{
    (void)err;
    const jitter *j = self;
    /* draws: order, brightness factor, contrast factor */
    int contrast_first = nn_rng_uniform(rng) < 0.5;
    double fb = tf_uniform(rng, j->b_lo, j->b_hi);
    double fc = tf_uniform(rng, j->c_lo, j->c_hi);
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t i = 0; i < j->c * j->plane; i++)
        y[i] = x[i];
    if (contrast_first) {
        contrast(j, y, fc);
        brightness(j, y, fb);
    } else {
        brightness(j, y, fb);
        contrast(j, y, fc);
    }
    return NN_OK;
}

static const nn_param_spec jitter_params[] = {
    {.name = "brightness", .type = NN_PARAM_FLOAT_LIST, .def = "0",
     .doc = "brightness factor range: one value v for [max(0, 1 - v), 1 + v], or 'lo, hi'; "
            "the image is multiplied by the factor"},
    {.name = "contrast", .type = NN_PARAM_FLOAT_LIST, .def = "0",
     .doc = "contrast factor range, as for brightness; the image is blended with its mean grey "
            "level (factor 0 gives a flat grey image)"},
    {.name = "clamp", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "clamp results to [0, 1] after each adjustment, as for torchvision float images"},
    {0},
};

static const nn_transform_vtable jitter_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = jitter_create,
    .destroy = jitter_destroy,
    .setup = jitter_setup,
    .apply = jitter_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc jitter_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "color_jitter", .version = "1.0.0", .license = "MIT",
    .summary = "Randomly change brightness and contrast of an F32 image [C, H, W] in [0, 1]",
    .caps = NN_CAP_THREAD_SAFE, .params = jitter_params, .vtable = &jitter_vtable);

NN_PLUGIN_EXPORT(&jitter_desc);
