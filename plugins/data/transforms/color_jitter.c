/* color_jitter.c: transform plugin that changes the brightness, contrast, saturation and hue
 * of an F32 image [C, H, W] in [0, 1] by random amounts, in a random order, as torchvision's
 * ColorJitter does. apply() never allocates, never writes self, and draws only from the stream
 * it is given. With saturation and hue off, its draws and results are those of version 1.0. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct jitter {
    double b_lo, b_hi, c_lo, c_hi, s_lo, s_hi, h_lo, h_hi;
    int clamp;
    int four; /* saturation or hue is on: four adjustments in a random order */
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
    double h[2] = {0.0, 0.0};
    int rc = factor_range(params, "brightness", &j.b_lo, &j.b_hi, err);
    if (!rc)
        rc = factor_range(params, "contrast", &j.c_lo, &j.c_hi, err);
    if (!rc)
        rc = factor_range(params, "saturation", &j.s_lo, &j.s_hi, err);
    int nh = rc ? rc : tf_float_pair(params, "color_jitter", "hue", h, err);
    if (nh < 0)
        return nh;
    if (nh == 1 && h[0] < 0)
        return nn_error_set(err, NN_EINVAL, "transform 'color_jitter': key 'hue' = %g must be "
                            ">= 0 when it is a single value (the range is [-hue, hue])", h[0]);
    j.h_lo = nh == 1 ? -h[0] : h[0];
    j.h_hi = h[1];
    j.four = j.s_lo != 1.0 || j.s_hi != 1.0 || j.h_lo != 0.0 || j.h_hi != 0.0;
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
    char sh[128];
    if (j->four && j->c != 1 && j->c != 3)
        return nn_error_set(err, NN_ESHAPE, "transform 'color_jitter': saturation and hue need "
                            "a gray (1 channel) or RGB (3 channels) image, the sample is %s",
                            nn_shape_str(s->in, sh, sizeof sh));
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

/* saturation: blend with each pixel's own grey level (ITU-R 601 luma, as contrast uses); a
 * gray image has no colour to change */
static void saturation(const jitter *j, float *y, double f)
{
    if (j->c != 3)
        return;
    float *r = y, *g = y + j->plane, *b = y + 2 * j->plane;
    for (int64_t i = 0; i < j->plane; i++) {
        double gray = 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i];
        r[i] = clampf(j, f * (double)r[i] + (1.0 - f) * gray);
        g[i] = clampf(j, f * (double)g[i] + (1.0 - f) * gray);
        b[i] = clampf(j, f * (double)b[i] + (1.0 - f) * gray);
    }
}

static double clamp01(double v)
{
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* hue: to HSV, turn the hue by `shift` of a full turn, back to RGB, as torchvision's
 * _rgb2hsv / _hsv2rgb do (p, q, t clamped to [0, 1]); a shift of 0 leaves the image as is */
static void hue(const jitter *j, float *y, double shift)
{
    if (j->c != 3 || shift == 0.0)
        return;
    float *rp = y, *gp = y + j->plane, *bp = y + 2 * j->plane;
    for (int64_t i = 0; i < j->plane; i++) {
        double r = rp[i], g = gp[i], b = bp[i];
        double maxc = fmax(r, fmax(g, b)), minc = fmin(r, fmin(g, b)), cr = maxc - minc;
        int flat = maxc == minc;
        double s = cr / (flat ? 1.0 : maxc), div = flat ? 1.0 : cr;
        double rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
        double h = maxc == r ? bc - gc : maxc == g ? 2.0 + rc - bc : 4.0 + gc - rc;
        h = fmod(h / 6.0 + 1.0, 1.0);
        h = fmod(h + shift, 1.0);
        h = h < 0.0 ? h + 1.0 : h;
        double sect = floor(h * 6.0), f = h * 6.0 - sect, v = maxc;
        double p = clamp01(v * (1.0 - s)), q = clamp01(v * (1.0 - s * f));
        double t = clamp01(v * (1.0 - s * (1.0 - f)));
        const double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
        const double *o = rgb[(int)sect % 6];
        rp[i] = clampf(j, o[0]);
        gp[i] = clampf(j, o[1]);
        bp[i] = clampf(j, o[2]);
    }
}

static int jitter_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                        nn_error *err)
{
    (void)err;
    const jitter *j = self;
    /* draws: order, brightness factor, contrast factor; with saturation or hue on, then the
     * saturation factor, the hue shift and an order of all four (Fisher-Yates, 3 draws) */
    int contrast_first = nn_rng_uniform(rng) < 0.5;
    double fb = tf_uniform(rng, j->b_lo, j->b_hi);
    double fc = tf_uniform(rng, j->c_lo, j->c_hi);
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t i = 0; i < j->c * j->plane; i++)
        y[i] = x[i];
    if (j->four) {
        double fs = tf_uniform(rng, j->s_lo, j->s_hi), fh = tf_uniform(rng, j->h_lo, j->h_hi);
        int order[4] = {0, 1, 2, 3};
        for (int k = 3; k > 0; k--) {
            int m = (int)nn_rng_below(rng, (uint64_t)k + 1), swap = order[k];
            order[k] = order[m];
            order[m] = swap;
        }
        for (int k = 0; k < 4; k++) {
            if (order[k] == 0)
                brightness(j, y, fb);
            else if (order[k] == 1)
                contrast(j, y, fc);
            else if (order[k] == 2)
                saturation(j, y, fs);
            else
                hue(j, y, fh);
        }
        return NN_OK;
    }
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
    {.name = "saturation", .type = NN_PARAM_FLOAT_LIST, .def = "0",
     .doc = "saturation factor range, as for brightness; each pixel is blended with its grey "
            "level (0: gray, 1: unchanged; gray images are left alone)"},
    {.name = "hue", .type = NN_PARAM_FLOAT_LIST, .def = "0", .range = "[-0.5, 0.5]",
     .doc = "hue shift range in turns: one value h for [-h, h], or 'lo, hi'; the hue of each "
            "RGB pixel is turned in HSV (gray images are left alone). With saturation or hue "
            "on, the four adjustments run in a random order"},
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
    .kind = NN_KIND_TRANSFORM, .name = "color_jitter", .version = "1.1.0", .license = "MIT",
    .summary = "Randomly change brightness, contrast, saturation and hue of an F32 image "
               "[C, H, W] in [0, 1], as torchvision's ColorJitter",
    .caps = NN_CAP_THREAD_SAFE, .params = jitter_params, .vtable = &jitter_vtable);

NN_PLUGIN_EXPORT(&jitter_desc);
