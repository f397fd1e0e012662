/* add_noise.c: transform plugin that adds white Gaussian noise to an F32 waveform [C, T] at a
 * random signal-to-noise ratio (dB) measured against the sample's own power. apply() never
 * allocates, never writes self, and draws only from the per-sample stream it is given. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct noise {
    double lo, hi;
    int64_t n;
} noise;

static int noise_create(const nn_params *params, void **self, nn_error *err)
{
    double v[2];
    int k = tf_float_pair(params, "add_noise", "snr_db", v, err);
    if (k < 0)
        return k;
    noise *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "add_noise: out of memory");
    s->lo = v[0];
    s->hi = v[1];
    *self = s;
    return NN_OK;
}

static void noise_destroy(void *self)
{
    free(self);
}

static int noise_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    noise *p = self;
    int rc = tf_expect("add_noise", s->in, NN_F32, 2, "an F32 waveform [C, T]", err);
    if (rc)
        return rc;
    p->n = nn_tensor_numel(s->in);
    return NN_OK;
}

static int noise_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                       nn_error *err)
{
    (void)err;
    const noise *p = self;
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    /* draws: the SNR, then one standard normal per element in order */
    double snr = tf_uniform(rng, p->lo, p->hi);
    double power = 0.0;
    for (int64_t i = 0; i < p->n; i++)
        power += (double)x[i] * (double)x[i];
    power /= (double)p->n;
    /* SNR = 10 log10(P_signal / P_noise): silence stays silent */
    double sigma = sqrt(power / pow(10.0, snr / 10.0));
    for (int64_t i = 0; i < p->n; i++)
        y[i] = (float)((double)x[i] + sigma * nn_rng_normal(rng));
    return NN_OK;
}

static const nn_param_spec noise_params[] = {
    {.name = "snr_db", .type = NN_PARAM_FLOAT_LIST, .def = "10, 30",
     .doc = "signal-to-noise ratio range in dB, 'lo, hi' (or one fixed value); the noise power "
            "is the sample's mean square divided by 10^(snr/10)"},
    {0},
};

static const nn_transform_vtable noise_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = noise_create,
    .destroy = noise_destroy,
    .setup = noise_setup,
    .apply = noise_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc noise_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "add_noise", .version = "1.0.0", .license = "MIT",
    .summary = "Add Gaussian noise to an F32 waveform [C, T] at a random SNR in dB",
    .caps = NN_CAP_THREAD_SAFE, .params = noise_params, .vtable = &noise_vtable);

NN_PLUGIN_EXPORT(&noise_desc);
