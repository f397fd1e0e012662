/* random_flip.c: transform plugin that mirrors an F32 image [C, H, W] left-right and/or
 * top-bottom, each with probability p. apply() never allocates, never writes self, and draws
 * its randomness only from the per-sample stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

enum { FLIP_HORIZONTAL, FLIP_VERTICAL, FLIP_BOTH };

typedef struct flip {
    int mode;
    double p;
    int64_t c, h, w;
} flip;

static int flip_create(const nn_params *params, void **self, nn_error *err)
{
    flip *f = calloc(1, sizeof *f);
    if (!f)
        return nn_error_set(err, NN_ENOMEM, "random_flip: out of memory");
    f->mode = nn_params_enum(params, "mode");
    f->p = nn_params_float(params, "p");
    *self = f;
    return NN_OK;
}

static void flip_destroy(void *self)
{
    free(self);
}

static int flip_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    flip *f = self;
    int rc = tf_expect("random_flip", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    f->c = s->in->shape[0];
    f->h = s->in->shape[1];
    f->w = s->in->shape[2];
    return NN_OK;
}

static int flip_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                      nn_error *err)
{
    (void)err;
    const flip *f = self;
    /* one draw per axis the mode covers, horizontal first */
    int fh = 0, fv = 0;
    if (f->mode != FLIP_VERTICAL)
        fh = nn_rng_uniform(rng) < f->p;
    if (f->mode != FLIP_HORIZONTAL)
        fv = nn_rng_uniform(rng) < f->p;
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t c = 0; c < f->c; c++)
        for (int64_t i = 0; i < f->h; i++) {
            const float *src = x + (c * f->h + (fv ? f->h - 1 - i : i)) * f->w;
            float *dst = y + (c * f->h + i) * f->w;
            for (int64_t j = 0; j < f->w; j++)
                dst[j] = src[fh ? f->w - 1 - j : j];
        }
    return NN_OK;
}

static const nn_param_spec flip_params[] = {
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "horizontal",
     .choices = "horizontal|vertical|both",
     .doc = "which axes may flip: horizontal mirrors left-right, vertical top-bottom, both "
            "decides each axis independently"},
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1]",
     .doc = "probability that each allowed axis is flipped"},
    {0},
};

static const nn_transform_vtable flip_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = flip_create,
    .destroy = flip_destroy,
    .setup = flip_setup,
    .apply = flip_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc flip_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_flip", .version = "1.0.0", .license = "MIT",
    .summary = "Randomly mirror an F32 image [C, H, W] horizontally and/or vertically",
    .caps = NN_CAP_THREAD_SAFE, .params = flip_params, .vtable = &flip_vtable);

NN_PLUGIN_EXPORT(&flip_desc);
