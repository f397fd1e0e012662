/* random_rotation.c: transform plugin that rotates an F32 image [C, H, W] about its centre by
 * an angle drawn from a range, sampling bilinearly and filling uncovered pixels. apply() never
 * allocates, never writes self, and draws its randomness only from the stream it is given. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

enum { INTERP_BILINEAR, INTERP_NEAREST };

typedef struct rot {
    double lo, hi; /* degrees, counter-clockwise as seen with row 0 at the top */
    int interp;
    float fill;
    int64_t c, h, w;
} rot;

static int rot_create(const nn_params *params, void **self, nn_error *err)
{
    double v[2];
    int n = tf_float_pair(params, "random_rotation", "degrees", v, err);
    if (n < 0)
        return n;
    if (n == 1 && v[0] < 0)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'random_rotation': key 'degrees' = %g must be >= 0 when it "
                            "is a single value (the range is [-degrees, degrees])", v[0]);
    rot *r = calloc(1, sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "random_rotation: out of memory");
    r->lo = n == 1 ? -v[0] : v[0];
    r->hi = v[1];
    r->interp = nn_params_enum(params, "interpolation");
    r->fill = (float)nn_params_float(params, "fill");
    *self = r;
    return NN_OK;
}

static void rot_destroy(void *self)
{
    free(self);
}

static int rot_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    rot *r = self;
    int rc = tf_expect("random_rotation", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    r->c = s->in->shape[0];
    r->h = s->in->shape[1];
    r->w = s->in->shape[2];
    return NN_OK;
}

/* A source coordinate within this of an integer is that integer: rotations by multiples of 90
 * degrees then copy pixels exactly instead of blending with a 1e-16 weight. */
#define SNAP 1e-9

static double snap(double v)
{
    double r = nearbyint(v);
    return fabs(v - r) < SNAP ? r : v;
}

static int rot_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                     nn_error *err)
{
    (void)err;
    const rot *r = self;
    double deg = tf_uniform(rng, r->lo, r->hi);
    double a = deg * (3.14159265358979323846 / 180.0);
    double ca = snap(cos(a)), sa = snap(sin(a));
    double cy = 0.5 * (double)(r->h - 1), cx = 0.5 * (double)(r->w - 1);
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    int64_t plane = r->h * r->w;
    for (int64_t i = 0; i < r->h; i++)
        for (int64_t j = 0; j < r->w; j++) {
            /* inverse map: the output pixel (j, i) shows the source point rotated by -a */
            double dx = (double)j - cx, dy = (double)i - cy;
            double sx = snap(cx + dx * ca - dy * sa);
            double sy = snap(cy + dx * sa + dy * ca);
            float *dst = y + i * r->w + j;
            if (r->interp == INTERP_NEAREST) {
                int64_t px = (int64_t)nearbyint(sx), py = (int64_t)nearbyint(sy);
                int inside = px >= 0 && px < r->w && py >= 0 && py < r->h;
                for (int64_t c = 0; c < r->c; c++)
                    dst[c * plane] = inside ? x[c * plane + py * r->w + px] : r->fill;
                continue;
            }
            double fx0 = floor(sx), fy0 = floor(sy);
            double wx = sx - fx0, wy = sy - fy0;
            int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
            /* a neighbour with zero weight is not read, so exact hits never touch the fill */
            int64_t xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
            double wxs[2] = {1.0 - wx, wx}, wys[2] = {1.0 - wy, wy};
            for (int64_t c = 0; c < r->c; c++) {
                double acc = 0.0;
                for (int b = 0; b < 2; b++)
                    for (int d = 0; d < 2; d++) {
                        double wgt = wys[b] * wxs[d];
                        if (wgt == 0.0)
                            continue;
                        int inside = xs[d] >= 0 && xs[d] < r->w && ys[b] >= 0 && ys[b] < r->h;
                        acc += wgt * (inside ? x[c * plane + ys[b] * r->w + xs[d]] : r->fill);
                    }
                dst[c * plane] = (float)acc;
            }
        }
    return NN_OK;
}

static const nn_param_spec rot_params[] = {
    {.name = "degrees", .type = NN_PARAM_FLOAT_LIST, .required = 1,
     .doc = "rotation range in degrees, counter-clockwise positive: one value d for [-d, d], "
            "or 'lo, hi'"},
    {.name = "interpolation", .type = NN_PARAM_ENUM, .def = "bilinear", .choices = "bilinear|nearest",
     .doc = "how a rotated pixel is sampled from its source neighbours"},
    {.name = "fill", .type = NN_PARAM_FLOAT, .def = "0", .range = "(-inf, inf)",
     .doc = "value of pixels whose source lies outside the image"},
    {0},
};

static const nn_transform_vtable rot_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = rot_create,
    .destroy = rot_destroy,
    .setup = rot_setup,
    .apply = rot_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc rot_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_rotation", .version = "1.0.0", .license = "MIT",
    .summary = "Rotate an F32 image [C, H, W] by a random angle (bilinear, filled corners)",
    .caps = NN_CAP_THREAD_SAFE, .params = rot_params, .vtable = &rot_vtable);

NN_PLUGIN_EXPORT(&rot_desc);
