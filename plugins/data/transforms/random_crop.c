/* random_crop.c: transform plugin that pads an F32 image [C, H, W] (constant fill or
 * reflection) and cuts a window of a fixed size at a random offset. apply() never allocates,
 * never writes self, and draws its randomness only from the per-sample stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

enum { PAD_CONSTANT, PAD_REFLECT };

typedef struct crop {
    int64_t size_h, size_w, pad;
    int mode;
    float fill;
    int64_t c, h, w;
} crop;

static int crop_create(const nn_params *params, void **self, nn_error *err)
{
    int64_t size[2];
    int rc = tf_int_pair(params, "random_crop", "size", size, err);
    if (rc)
        return rc;
    crop *k = calloc(1, sizeof *k);
    if (!k)
        return nn_error_set(err, NN_ENOMEM, "random_crop: out of memory");
    k->size_h = size[0];
    k->size_w = size[1];
    k->pad = nn_params_int(params, "padding");
    k->mode = nn_params_enum(params, "padding_mode");
    k->fill = (float)nn_params_float(params, "fill");
    *self = k;
    return NN_OK;
}

static void crop_destroy(void *self)
{
    free(self);
}

static int crop_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    crop *k = self;
    int rc = tf_expect("random_crop", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    char sh[128];
    k->c = s->in->shape[0];
    k->h = s->in->shape[1];
    k->w = s->in->shape[2];
    if (k->mode == PAD_REFLECT && (k->pad >= k->h || k->pad >= k->w))
        return nn_error_set(err, NN_ESHAPE,
                            "transform 'random_crop': key 'padding' = %lld must be smaller than "
                            "the image's height and width for padding_mode = reflect; the sample "
                            "is %s", (long long)k->pad, nn_shape_str(s->in, sh, sizeof sh));
    if (k->size_h > k->h + 2 * k->pad || k->size_w > k->w + 2 * k->pad)
        return nn_error_set(err, NN_ESHAPE,
                            "transform 'random_crop': key 'size' = %lld x %lld is larger than the "
                            "padded image (%lld x %lld: sample %s with padding %lld)",
                            (long long)k->size_h, (long long)k->size_w,
                            (long long)(k->h + 2 * k->pad), (long long)(k->w + 2 * k->pad),
                            nn_shape_str(s->in, sh, sizeof sh), (long long)k->pad);
    int64_t shape[3] = {k->c, k->size_h, k->size_w};
    nn_tensor_describe(&s->out, NN_F32, 3, shape);
    return NN_OK;
}

/* maps a padded coordinate to the source row/column by reflection (edge not repeated, as
 * numpy's "reflect"); valid for |overhang| < n, which setup guarantees */
static int64_t reflect(int64_t i, int64_t n)
{
    if (i < 0)
        return -i;
    if (i >= n)
        return 2 * (n - 1) - i;
    return i;
}

static int crop_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                      nn_error *err)
{
    (void)err;
    const crop *k = self;
    /* the window's top-left corner in padded coordinates: row first, then column */
    int64_t oy = (int64_t)nn_rng_below(rng, (uint64_t)(k->h + 2 * k->pad - k->size_h + 1));
    int64_t ox = (int64_t)nn_rng_below(rng, (uint64_t)(k->w + 2 * k->pad - k->size_w + 1));
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t c = 0; c < k->c; c++)
        for (int64_t i = 0; i < k->size_h; i++) {
            int64_t sy = oy + i - k->pad;
            float *dst = y + (c * k->size_h + i) * k->size_w;
            int row_out = sy < 0 || sy >= k->h;
            if (row_out && k->mode == PAD_CONSTANT) {
                for (int64_t j = 0; j < k->size_w; j++)
                    dst[j] = k->fill;
                continue;
            }
            const float *src = x + (c * k->h + reflect(sy, k->h)) * k->w;
            for (int64_t j = 0; j < k->size_w; j++) {
                int64_t sx = ox + j - k->pad;
                if (sx >= 0 && sx < k->w)
                    dst[j] = src[sx];
                else
                    dst[j] = k->mode == PAD_CONSTANT ? k->fill : src[reflect(sx, k->w)];
            }
        }
    return NN_OK;
}

static const nn_param_spec crop_params[] = {
    {.name = "size", .type = NN_PARAM_INT_LIST, .range = "[1, inf)", .required = 1,
     .doc = "output size: one value for a square window, or 'height, width'"},
    {.name = "padding", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "pixels added on every side before cropping"},
    {.name = "padding_mode", .type = NN_PARAM_ENUM, .def = "constant", .choices = "constant|reflect",
     .doc = "constant fills the border with 'fill'; reflect mirrors the image without repeating "
            "the edge (padding must then be smaller than height and width)"},
    {.name = "fill", .type = NN_PARAM_FLOAT, .def = "0", .range = "(-inf, inf)",
     .doc = "value of padded pixels when padding_mode = constant"},
    {0},
};

static const nn_transform_vtable crop_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = crop_create,
    .destroy = crop_destroy,
    .setup = crop_setup,
    .apply = crop_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc crop_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_crop", .version = "1.0.0", .license = "MIT",
    .summary = "Pad an F32 image [C, H, W] and crop a window of fixed size at a random offset",
    .caps = NN_CAP_THREAD_SAFE, .params = crop_params, .vtable = &crop_vtable);

NN_PLUGIN_EXPORT(&crop_desc);
