/* random_resized_crop.c: transform plugin that cuts a random box of an F32 image [C, H, W],
 * its area and aspect ratio drawn from ranges, and resizes it to a fixed size, as
 * torchvision's RandomResizedCrop does (same box sampling, same fallback). apply() never
 * allocates, never writes self, and draws only from the per-sample stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "nn_resize.h"
#include "tf_common.h"

typedef struct rrc {
    int64_t size_h, size_w;
    double scale[2], ratio[2];
    nn_rs_filter filter;
    int antialias;
    int64_t c, h, w;
} rrc;

static int rrc_create(const nn_params *params, void **self, nn_error *err)
{
    rrc k = {0};
    int64_t size[2];
    int rc = tf_int_pair(params, "random_resized_crop", "size", size, err);
    if (!rc && tf_float_pair(params, "random_resized_crop", "scale", k.scale, err) < 0)
        rc = NN_EINVAL;
    if (!rc && tf_float_pair(params, "random_resized_crop", "ratio", k.ratio, err) < 0)
        rc = NN_EINVAL;
    if (rc)
        return rc;
    k.size_h = size[0];
    k.size_w = size[1];
    k.filter = (nn_rs_filter)nn_params_enum(params, "interpolation");
    k.antialias = nn_params_bool(params, "antialias");
    rrc *r = malloc(sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "random_resized_crop: out of memory");
    *r = k;
    *self = r;
    return NN_OK;
}

static void rrc_destroy(void *self)
{
    free(self);
}

static int rrc_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    rrc *k = self;
    int rc = tf_expect("random_resized_crop", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    k->c = s->in->shape[0];
    k->h = s->in->shape[1];
    k->w = s->in->shape[2];
    /* the largest box is the whole image: the filter's taps must fit then */
    if (nn_rs_taps_needed(k->filter, k->antialias, k->h, k->size_h) > NN_RS_MAX_TAPS ||
        nn_rs_taps_needed(k->filter, k->antialias, k->w, k->size_w) > NN_RS_MAX_TAPS) {
        char sh[128];
        return nn_error_set(err, NN_ESHAPE, "transform 'random_resized_crop': shrinking %s to "
                            "%lld x %lld reads over %d pixels per output pixel; choose a larger "
                            "'size' or another interpolation", nn_shape_str(s->in, sh, sizeof sh),
                            (long long)k->size_h, (long long)k->size_w, NN_RS_MAX_TAPS);
    }
    nn_tensor_describe(&s->out, NN_F32, 3, (const int64_t[]){k->c, k->size_h, k->size_w});
    return NN_OK;
}

/* torchvision's get_params: ten tries at a box inside the image, else the largest central box
 * whose aspect ratio is within range. Draws two uniforms per try, then row and column. */
static void rrc_box(const rrc *k, nn_rng *r, int64_t *y, int64_t *x, int64_t *h, int64_t *w)
{
    for (int t = 0; t < 10; t++) {
        tf_box_draw(r, (double)(k->h * k->w), k->scale, k->ratio, w, h);
        if (*w > 0 && *w <= k->w && *h > 0 && *h <= k->h) {
            *y = (int64_t)nn_rng_below(r, (uint64_t)(k->h - *h + 1));
            *x = (int64_t)nn_rng_below(r, (uint64_t)(k->w - *w + 1));
            return;
        }
    }
    double in_ratio = (double)k->w / (double)k->h;
    *w = k->w;
    *h = k->h;
    if (in_ratio < k->ratio[0])
        *h = (int64_t)nearbyint((double)k->w / k->ratio[0]);
    else if (in_ratio > k->ratio[1])
        *w = (int64_t)nearbyint((double)k->h * k->ratio[1]);
    *y = (k->h - *h) / 2;
    *x = (k->w - *w) / 2;
}

static int rrc_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                     nn_error *err)
{
    const rrc *k = self;
    int64_t y, x, h, w;
    rrc_box(k, rng, &y, &x, &h, &w);
    nn_rs_src src = {.base = NN_F32P(in), .u8 = 0, .cs = k->h * k->w, .ys = k->w, .xs = 1,
                     .c = (int)k->c};
    if (nn_resize(&src, y, x, h, w, NN_F32P(out), k->size_h, k->size_w, k->filter, k->antialias,
                  1.0f))
        return nn_error_set(err, NN_EINTERNAL, "random_resized_crop: a %lldx%lld box exceeds "
                            "the taps checked in setup", (long long)h, (long long)w);
    return NN_OK;
}

static const nn_param_spec rrc_params[] = {
    {.name = "size", .type = NN_PARAM_INT_LIST, .range = "[1, 65535]", .required = 1,
     .doc = "output size: one value for a square, or 'height, width'"},
    {.name = "scale", .type = NN_PARAM_FLOAT_LIST, .def = "0.08, 1", .range = "(0, 1]",
     .doc = "range of the box's area as a fraction of the image's: 'lo, hi' (one value: "
            "exactly that)"},
    {.name = "ratio", .type = NN_PARAM_FLOAT_LIST, .def = "0.75, 1.3333333333333333",
     .range = "(0, inf)",
     .doc = "range of the box's aspect ratio width / height, drawn uniformly in log space; "
            "after ten boxes that do not fit, the largest central box within it is taken"},
    {.name = "interpolation", .type = NN_PARAM_ENUM, .def = "bilinear", .choices = NN_RS_CHOICES,
     .doc = "how the box is resized: nearest, bilinear, bicubic (Keys a = -0.75) or area "
            "(footprint mean), as for image_folder's resize"},
    {.name = "antialias", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "bilinear and bicubic: widen the filter when shrinking, as torchvision's default "
            "antialias = True (Pillow's filters, bicubic with a = -0.5)"},
    {0},
};

static const nn_transform_vtable rrc_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = rrc_create,
    .destroy = rrc_destroy,
    .setup = rrc_setup,
    .apply = rrc_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc rrc_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_resized_crop", .version = "1.0.0",
    .license = "MIT",
    .summary = "Crop a random box (area and aspect ratio from ranges) of an F32 image [C, H, W] "
               "and resize it to a fixed size, as torchvision's RandomResizedCrop",
    .caps = NN_CAP_THREAD_SAFE, .params = rrc_params, .vtable = &rrc_vtable);

NN_PLUGIN_EXPORT(&rrc_desc);
