/* test_transforms.c: transform plugins for the data tests only (never installed): a random
 * train-only jitter, a fitted centring with checkpoint state, and a shape-changing halving.
 * They exist to check the chain in core/data, not to be used. */
#include <stdio.h>
#include <stdlib.h>

#include <nntrain/nntrain.h>

typedef struct tt {
    int shrink;
    double mean;
} tt;

static int tt_create(const nn_params *p, void **self, nn_error *err)
{
    tt *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    t->shrink = nn_params_has(p, "shrink") ? nn_params_bool(p, "shrink") : 0;
    *self = t;
    return NN_OK;
}

static void tt_destroy(void *self)
{
    free(self);
}

static int jitter_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    tt *t = self;
    if (nn_tensor_dtype(s->in) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "test_jitter needs F32 samples");
    if (t->shrink)
        s->out.shape[s->out.dl.ndim - 1]--;
    nn_tensor_describe(&s->out, NN_F32, s->out.dl.ndim, s->out.shape);
    return NN_OK;
}

/* adds one uniform draw per sample: train_only stays set */
static int jitter_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                        nn_error *err)
{
    (void)self;
    (void)err;
    float u = (float)nn_rng_uniform(rng);
    for (int64_t i = 0; i < nn_tensor_numel(out); i++)
        NN_F32P(out)[i] = NN_F32P(in)[i] + u;
    return NN_OK;
}

static int center_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->train_only = 0;
    return NN_OK;
}

static int center_fit(void *self, const nn_sample_source *src, nn_error *err)
{
    tt *t = self;
    nn_tensor *x = NULL;
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < src->length; i++) {
        if (!x) {
            /* the first call tells nothing of the shape: ask the source for sample 0 into a
             * generous buffer (test samples are small) */
            x = nn_tensor_new(NN_F32, 1, (const int64_t[]){4096});
            if (!x)
                return nn_error_set(err, NN_ENOMEM, "out of memory");
        }
        int rc = src->get(src->ctx, i, x, err);
        if (rc) {
            nn_tensor_free(x);
            return rc;
        }
        sum += NN_F32P(x)[0];
        cnt++;
    }
    nn_tensor_free(x);
    t->mean = cnt ? sum / (double)cnt : 0;
    return NN_OK;
}

/* subtracts the fitted mean of element 0 from every element */
static int center_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                        nn_error *err)
{
    tt *t = self;
    (void)rng;
    (void)err;
    for (int64_t i = 0; i < nn_tensor_numel(out); i++)
        NN_F32P(out)[i] = NN_F32P(in)[i] - (float)t->mean;
    return NN_OK;
}

static int center_save(void *self, char *buf, size_t cap, nn_error *err)
{
    (void)err;
    tt *t = self;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "mean=%.17g", t->mean);
    if (buf && (size_t)n < cap)
        snprintf(buf, cap, "%s", tmp);
    return n;
}

static int center_load(void *self, const char *text, nn_error *err)
{
    tt *t = self;
    if (sscanf(text, "mean=%lf", &t->mean) != 1)
        return nn_error_set(err, NN_EFORMAT, "test_center: bad state '%s'", text);
    return NN_OK;
}

static int halve_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->out.shape[s->out.dl.ndim - 1] /= 2;
    nn_tensor_describe(&s->out, NN_F32, s->out.dl.ndim, s->out.shape);
    s->train_only = 0;
    return NN_OK;
}

/* keeps the even elements of the flattened sample */
static int halve_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                       nn_error *err)
{
    (void)self;
    (void)rng;
    (void)err;
    for (int64_t i = 0; i < nn_tensor_numel(out); i++)
        NN_F32P(out)[i] = NN_F32P(in)[2 * i];
    return NN_OK;
}

static const nn_param_spec jitter_params[] = {
    {.name = "shrink", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "drop the last element (an invalid train-only shape change, for a test)"},
    {0}};

static const nn_transform_vtable jitter_vt = {.struct_size = sizeof(nn_transform_vtable),
                                              .create = tt_create,
                                              .destroy = tt_destroy,
                                              .setup = jitter_setup,
                                              .apply = jitter_apply};
static const nn_transform_vtable center_vt = {.struct_size = sizeof(nn_transform_vtable),
                                              .create = tt_create,
                                              .destroy = tt_destroy,
                                              .setup = center_setup,
                                              .fit = center_fit,
                                              .apply = center_apply,
                                              .state_save = center_save,
                                              .state_load = center_load};
static const nn_transform_vtable halve_vt = {.struct_size = sizeof(nn_transform_vtable),
                                             .create = tt_create,
                                             .destroy = tt_destroy,
                                             .setup = halve_setup,
                                             .apply = halve_apply};

static const nn_plugin_desc jitter_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "test_jitter", .version = "0.0.1", .license = "MIT",
    .summary = "test only: adds one uniform draw per sample", .caps = NN_CAP_THREAD_SAFE,
    .params = jitter_params, .vtable = &jitter_vt);
static const nn_plugin_desc center_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "test_center", .version = "0.0.1", .license = "MIT",
    .summary = "test only: subtracts the fitted mean of element 0",
    .caps = NN_CAP_THREAD_SAFE | NN_CAP_STATEFUL, .vtable = &center_vt);
static const nn_plugin_desc halve_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "test_halve", .version = "0.0.1", .license = "MIT",
    .summary = "test only: keeps every other element", .caps = NN_CAP_THREAD_SAFE,
    .vtable = &halve_vt);

NN_PLUGIN_EXPORT(&jitter_desc, &center_desc, &halve_desc);
