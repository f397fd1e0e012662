/* gaussian_blur.c: transform plugin that blurs an F32 image [C, H, W] with a Gaussian kernel of
 * a fixed size and a sigma drawn from a range, as torchvision's GaussianBlur does (normalised
 * kernel, reflected borders). apply() never allocates (one stack row), never writes self, and
 * draws only from the per-sample stream it is given. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/transform.h>

#include "tf_common.h"

#define GB_MAX_KERNEL 255
#define GB_ROW 8192 /* rows up to this width are blurred in two passes, wider ones in one */

typedef struct blur {
    int64_t kh, kw;
    double sigma[2], p;
    int64_t c, h, w;
} blur;

static int blur_create(const nn_params *params, void **self, nn_error *err)
{
    blur b = {0};
    int64_t k[2];
    int rc = tf_int_pair(params, "gaussian_blur", "kernel_size", k, err);
    if (rc)
        return rc;
    if (k[0] % 2 == 0 || k[1] % 2 == 0)
        return nn_error_set(err, NN_EINVAL, "transform 'gaussian_blur': key 'kernel_size' = "
                            "%lld, %lld must be odd (the kernel is centred on the pixel)",
                            (long long)k[0], (long long)k[1]);
    if (tf_float_pair(params, "gaussian_blur", "sigma", b.sigma, err) < 0)
        return NN_EINVAL;
    b.kh = k[0];
    b.kw = k[1];
    b.p = nn_params_float(params, "p");
    blur *s = malloc(sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "gaussian_blur: out of memory");
    *s = b;
    *self = s;
    return NN_OK;
}

static void blur_destroy(void *self)
{
    free(self);
}

static int blur_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    blur *b = self;
    int rc = tf_expect("gaussian_blur", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    b->c = s->in->shape[0];
    b->h = s->in->shape[1];
    b->w = s->in->shape[2];
    return NN_OK;
}

/* torchvision's _get_gaussian_kernel1d: exp(-x^2 / (2 sigma^2)) at x = -(n-1)/2 .. (n-1)/2,
 * normalised to sum 1 */
static void kernel1d(double *k, int64_t n, double sigma)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)i - (double)(n - 1) / 2.0;
        sum += k[i] = exp(-0.5 * (x / sigma) * (x / sigma));
    }
    for (int64_t i = 0; i < n; i++)
        k[i] /= sum;
}

/* a coordinate past the border mirrored back without repeating the edge (torch's "reflect"),
 * as often as it takes for a kernel wider than the image */
static int64_t reflect(int64_t i, int64_t n)
{
    if (n == 1)
        return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

static int blur_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                      nn_error *err)
{
    (void)err;
    const blur *b = self;
    /* draws: sigma, then (p < 1) whether to blur at all */
    double sigma = tf_uniform(rng, b->sigma[0], b->sigma[1]);
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    int64_t H = b->h, W = b->w, plane = H * W, rh = b->kh / 2, rw = b->kw / 2;
    if (b->p < 1.0 && nn_rng_uniform(rng) >= b->p) {
        memcpy(y, x, (size_t)(b->c * plane) * sizeof *y);
        return NN_OK;
    }
    double ky[GB_MAX_KERNEL], kx[GB_MAX_KERNEL];
    kernel1d(ky, b->kh, sigma);
    kernel1d(kx, b->kw, sigma);
    for (int64_t c = 0; c < b->c; c++) {
        const float *xc = x + c * plane;
        float *yc = y + c * plane;
        if (W > GB_ROW) { /* one pass, no row buffer */
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    double acc = 0.0;
                    for (int64_t u = 0; u < b->kh; u++) {
                        const float *row = xc + reflect(i + u - rh, H) * W;
                        double r = 0.0;
                        for (int64_t v = 0; v < b->kw; v++)
                            r += kx[v] * row[reflect(j + v - rw, W)];
                        acc += ky[u] * r;
                    }
                    yc[i * W + j] = (float)acc;
                }
            continue;
        }
        for (int64_t i = 0; i < H; i++) /* columns, into out */
            for (int64_t j = 0; j < W; j++) {
                double acc = 0.0;
                for (int64_t u = 0; u < b->kh; u++)
                    acc += ky[u] * xc[reflect(i + u - rh, H) * W + j];
                yc[i * W + j] = (float)acc;
            }
        float row[GB_ROW];
        for (int64_t i = 0; i < H; i++) { /* rows, in place through a copy of the row */
            memcpy(row, yc + i * W, (size_t)W * sizeof *row);
            for (int64_t j = 0; j < W; j++) {
                double acc = 0.0;
                for (int64_t v = 0; v < b->kw; v++)
                    acc += kx[v] * row[reflect(j + v - rw, W)];
                yc[i * W + j] = (float)acc;
            }
        }
    }
    return NN_OK;
}

static const nn_param_spec blur_params[] = {
    {.name = "kernel_size", .type = NN_PARAM_INT_LIST, .range = "[1, 255]", .required = 1,
     .doc = "odd kernel size: one value for a square, or 'height, width' (torchvision takes "
            "width first)"},
    {.name = "sigma", .type = NN_PARAM_FLOAT_LIST, .def = "0.1, 2", .range = "(0, inf)",
     .doc = "standard deviation of the Gaussian in pixels, drawn uniformly from 'lo, hi' per "
            "sample (one value: exactly that); the same for both axes"},
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "1", .range = "[0, 1]",
     .doc = "probability that a sample is blurred (1: always, as torchvision's GaussianBlur)"},
    {0},
};

static const nn_transform_vtable blur_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = blur_create,
    .destroy = blur_destroy,
    .setup = blur_setup,
    .apply = blur_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc blur_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "gaussian_blur", .version = "1.0.0", .license = "MIT",
    .summary = "Blur an F32 image [C, H, W] with a Gaussian of random sigma (reflected borders), "
               "as torchvision's GaussianBlur",
    .caps = NN_CAP_THREAD_SAFE, .params = blur_params, .vtable = &blur_vtable);

NN_PLUGIN_EXPORT(&blur_desc);
