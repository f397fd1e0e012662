/* speed_change.c: transform plugin that plays an F32 waveform [C, T] faster or slower by a
 * random factor (linear-interpolation resampling), then crops or zero-pads it back to T.
 * apply() never allocates, never writes self, and draws only from the stream it is given. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct speed {
    double lo, hi;
    int64_t c, t;
} speed;

static int speed_create(const nn_params *params, void **self, nn_error *err)
{
    double v[2];
    int n = tf_float_pair(params, "speed_change", "factor", v, err);
    if (n < 0)
        return n;
    speed *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "speed_change: out of memory");
    s->lo = v[0];
    s->hi = v[1];
    *self = s;
    return NN_OK;
}

static void speed_destroy(void *self)
{
    free(self);
}

static int speed_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    speed *p = self;
    int rc = tf_expect("speed_change", s->in, NN_F32, 2, "an F32 waveform [C, T]", err);
    if (rc)
        return rc;
    p->c = s->in->shape[0];
    p->t = s->in->shape[1];
    return NN_OK;
}

static int speed_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                       nn_error *err)
{
    (void)err;
    const speed *p = self;
    /* one draw: the factor; factor f plays f times as fast, so the sound lasts T / f samples */
    double f = tf_uniform(rng, p->lo, p->hi);
    int64_t len = (int64_t)floor((double)p->t / f + 0.5);
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t c = 0; c < p->c; c++) {
        const float *src = x + c * p->t;
        float *dst = y + c * p->t;
        for (int64_t i = 0; i < p->t; i++) {
            double pos = (double)i * f;
            if (i >= len || pos > (double)(p->t - 1)) {
                dst[i] = 0.0f; /* past the resampled sound: silence */
                continue;
            }
            int64_t j = (int64_t)pos;
            double w = pos - (double)j;
            double v = src[j];
            if (w > 0.0 && j + 1 < p->t)
                v += w * ((double)src[j + 1] - v);
            dst[i] = (float)v;
        }
    }
    return NN_OK;
}

static const nn_param_spec speed_params[] = {
    {.name = "factor", .type = NN_PARAM_FLOAT_LIST, .def = "0.9, 1.1", .range = "(0, inf)",
     .doc = "speed factor range 'lo, hi' (or one fixed value): 2 plays twice as fast (the "
            "second half becomes silence), 0.5 half as fast (the end is cut off)"},
    {0},
};

static const nn_transform_vtable speed_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = speed_create,
    .destroy = speed_destroy,
    .setup = speed_setup,
    .apply = speed_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc speed_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "speed_change", .version = "1.0.0", .license = "MIT",
    .summary = "Resample an F32 waveform [C, T] by a random speed factor, keeping length T",
    .caps = NN_CAP_THREAD_SAFE, .params = speed_params, .vtable = &speed_vtable);

NN_PLUGIN_EXPORT(&speed_desc);
