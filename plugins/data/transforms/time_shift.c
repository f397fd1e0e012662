/* time_shift.c: transform plugin that shifts an F32 waveform [C, T] in time by a random whole
 * number of samples, rolling it around or filling with silence. apply() never allocates, never
 * writes self, and draws its randomness only from the per-sample stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

enum { SHIFT_ROLL, SHIFT_ZERO };

typedef struct shift {
    double max_frac;
    int mode;
    int64_t c, t, max_shift;
} shift;

static int shift_create(const nn_params *params, void **self, nn_error *err)
{
    shift *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "time_shift: out of memory");
    s->max_frac = nn_params_float(params, "max");
    s->mode = nn_params_enum(params, "mode");
    *self = s;
    return NN_OK;
}

static void shift_destroy(void *self)
{
    free(self);
}

static int shift_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    shift *h = self;
    int rc = tf_expect("time_shift", s->in, NN_F32, 2, "an F32 waveform [C, T]", err);
    if (rc)
        return rc;
    h->c = s->in->shape[0];
    h->t = s->in->shape[1];
    h->max_shift = (int64_t)(h->max_frac * (double)h->t);
    if (h->max_shift >= h->t)
        h->max_shift = h->t - 1;
    return NN_OK;
}

static int shift_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                       nn_error *err)
{
    (void)err;
    const shift *h = self;
    /* one draw: the shift in samples, uniform over [-max_shift, max_shift]; positive delays */
    int64_t m = h->max_shift;
    int64_t k = (int64_t)nn_rng_below(rng, (uint64_t)(2 * m + 1)) - m;
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t c = 0; c < h->c; c++) {
        const float *src = x + c * h->t;
        float *dst = y + c * h->t;
        for (int64_t i = 0; i < h->t; i++) {
            int64_t j = i - k;
            if (j >= 0 && j < h->t)
                dst[i] = src[j];
            else if (h->mode == SHIFT_ROLL)
                dst[i] = src[j < 0 ? j + h->t : j - h->t];
            else
                dst[i] = 0.0f;
        }
    }
    return NN_OK;
}

static const nn_param_spec shift_params[] = {
    {.name = "max", .type = NN_PARAM_FLOAT, .def = "0.2", .range = "[0, 1]",
     .doc = "largest shift as a fraction of the length T; the shift is a whole number of "
            "samples drawn uniformly from [-floor(max * T), floor(max * T)], positive = later"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "roll", .choices = "roll|zero",
     .doc = "roll wraps the samples pushed out of one end around to the other; zero fills the "
            "gap with silence"},
    {0},
};

static const nn_transform_vtable shift_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = shift_create,
    .destroy = shift_destroy,
    .setup = shift_setup,
    .apply = shift_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc shift_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "time_shift", .version = "1.0.0", .license = "MIT",
    .summary = "Shift an F32 waveform [C, T] in time by a random number of samples",
    .caps = NN_CAP_THREAD_SAFE, .params = shift_params, .vtable = &shift_vtable);

NN_PLUGIN_EXPORT(&shift_desc);
