/* random_erasing.c: transform plugin that, with probability p, overwrites a random box of an
 * F32 image [C, H, W] (area and aspect ratio drawn from ranges) with a value, per-channel
 * values or standard normal noise, as torchvision's RandomErasing does. apply() never
 * allocates, never writes self, and draws only from the per-sample stream it is given. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/transform.h>

#include "tf_common.h"

#define RE_MAX_VALUES 64

typedef struct erase {
    double p, scale[2], ratio[2];
    int random; /* value = random: normal noise */
    int n_values;
    float values[RE_MAX_VALUES];
    int64_t c, h, w;
} erase;

/* `value`: random, or one or more comma-separated numbers */
static int parse_value(erase *e, const char *text, nn_error *err)
{
    if (!strcmp(text, "random")) {
        e->random = 1;
        return NN_OK;
    }
    for (const char *s = text; *s;) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == s || errno == ERANGE || (*end && *end != ',') ||
            e->n_values == RE_MAX_VALUES)
            return nn_error_set(err, NN_EINVAL, "transform 'random_erasing': key 'value' = '%s' "
                                "is not 'random' or up to %d comma-separated numbers", text,
                                RE_MAX_VALUES);
        e->values[e->n_values++] = (float)v;
        s = *end ? end + 1 : end;
    }
    if (e->n_values == 0)
        return nn_error_set(err, NN_EINVAL, "transform 'random_erasing': key 'value' is empty");
    return NN_OK;
}

static int erase_create(const nn_params *params, void **self, nn_error *err)
{
    erase e = {0};
    if (tf_float_pair(params, "random_erasing", "scale", e.scale, err) < 0 ||
        tf_float_pair(params, "random_erasing", "ratio", e.ratio, err) < 0)
        return NN_EINVAL;
    int rc = parse_value(&e, nn_params_str(params, "value"), err);
    if (rc)
        return rc;
    e.p = nn_params_float(params, "p");
    erase *k = malloc(sizeof *k);
    if (!k)
        return nn_error_set(err, NN_ENOMEM, "random_erasing: out of memory");
    *k = e;
    *self = k;
    return NN_OK;
}

static void erase_destroy(void *self)
{
    free(self);
}

static int erase_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    erase *e = self;
    int rc = tf_expect("random_erasing", s->in, NN_F32, 3, "an F32 image [C, H, W]", err);
    if (rc)
        return rc;
    e->c = s->in->shape[0];
    e->h = s->in->shape[1];
    e->w = s->in->shape[2];
    char sh[128];
    if (!e->random && e->n_values != 1 && e->n_values != e->c)
        return nn_error_set(err, NN_ESHAPE, "transform 'random_erasing': key 'value' has %d "
                            "numbers; the sample %s needs 1 or one per channel (%lld)",
                            e->n_values, nn_shape_str(s->in, sh, sizeof sh), (long long)e->c);
    return NN_OK;
}

static int erase_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                       nn_error *err)
{
    (void)err;
    const erase *e = self;
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    memcpy(y, x, (size_t)(e->c * e->h * e->w) * sizeof *y);
    /* draws: whether to erase; per try two uniforms (tf_box_draw); on a fit, row and column,
     * then for value = random one normal per erased element, channel by channel, row by row */
    if (nn_rng_uniform(rng) >= e->p)
        return NN_OK;
    for (int t = 0; t < 10; t++) {
        int64_t h, w;
        tf_box_draw(rng, (double)(e->h * e->w), e->scale, e->ratio, &h, &w);
        if (!(h < e->h && w < e->w))
            continue;
        int64_t i = (int64_t)nn_rng_below(rng, (uint64_t)(e->h - h + 1));
        int64_t j = (int64_t)nn_rng_below(rng, (uint64_t)(e->w - w + 1));
        for (int64_t c = 0; c < e->c; c++)
            for (int64_t r = i; r < i + h; r++)
                for (int64_t q = j; q < j + w; q++)
                    y[(c * e->h + r) * e->w + q] =
                        e->random ? (float)nn_rng_normal(rng) : e->values[e->n_values > 1 ? c : 0];
        return NN_OK;
    }
    return NN_OK; /* no box fitted in ten tries: the image is left as it is, as torchvision does */
}

static const nn_param_spec erase_params[] = {
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1]",
     .doc = "probability that a sample is erased at all"},
    {.name = "scale", .type = NN_PARAM_FLOAT_LIST, .def = "0.02, 0.33", .range = "(0, 1]",
     .doc = "range of the erased area as a fraction of the image's: 'lo, hi'"},
    {.name = "ratio", .type = NN_PARAM_FLOAT_LIST, .def = "0.3, 3.3", .range = "(0, inf)",
     .doc = "range of the box's aspect ratio height / width, drawn uniformly in log space; a "
            "box that does not fit is drawn again, ten times at most"},
    {.name = "value", .type = NN_PARAM_STRING, .def = "0",
     .doc = "what the box holds: one number, one number per channel ('0.485, 0.456, 0.406'), "
            "or random (standard normal noise per element)"},
    {0},
};

static const nn_transform_vtable erase_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = erase_create,
    .destroy = erase_destroy,
    .setup = erase_setup,
    .apply = erase_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc erase_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_erasing", .version = "1.0.0", .license = "MIT",
    .summary = "Overwrite a random box of an F32 image [C, H, W] with a value or noise, as "
               "torchvision's RandomErasing",
    .caps = NN_CAP_THREAD_SAFE, .params = erase_params, .vtable = &erase_vtable);

NN_PLUGIN_EXPORT(&erase_desc);
