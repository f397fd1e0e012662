/* random_deletion.c: transform plugin that deletes each token of an I32 sequence [L] with
 * probability p, closing the gaps (shift left, pad with 0) but never deleting every token.
 * apply() never allocates, never writes self, and draws only from the stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct deletion {
    double p;
    int64_t len;
} deletion;

static int del_create(const nn_params *params, void **self, nn_error *err)
{
    deletion *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "random_deletion: out of memory");
    d->p = nn_params_float(params, "p");
    *self = d;
    return NN_OK;
}

static void del_destroy(void *self)
{
    free(self);
}

static int del_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    deletion *d = self;
    int rc = tf_expect("random_deletion", s->in, NN_I32, 1, "I32 token ids [L]", err);
    if (rc)
        return rc;
    d->len = s->in->shape[0];
    return NN_OK;
}

static int del_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                     nn_error *err)
{
    (void)err;
    const deletion *d = self;
    const int32_t *x = NN_I32P(in);
    int32_t *y = NN_I32P(out);
    /* draws: one uniform per token (padding draws nothing), then, only if all were deleted,
     * the index of the one token that survives */
    int64_t kept = 0, tokens = 0;
    for (int64_t i = 0; i < d->len; i++) {
        if (x[i] == 0)
            continue;
        tokens++;
        if (nn_rng_uniform(rng) >= d->p)
            y[kept++] = x[i];
    }
    if (tokens > 0 && kept == 0) {
        int64_t keep = (int64_t)nn_rng_below(rng, (uint64_t)tokens);
        for (int64_t i = 0; i < d->len; i++)
            if (x[i] != 0 && keep-- == 0) {
                y[kept++] = x[i];
                break;
            }
    }
    for (int64_t i = kept; i < d->len; i++)
        y[i] = 0;
    return NN_OK;
}

static const nn_param_spec del_params[] = {
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, 1]",
     .doc = "probability that each non-padding token is deleted; a sequence never loses all "
            "of its tokens (one random token survives)"},
    {0},
};

static const nn_transform_vtable del_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = del_create,
    .destroy = del_destroy,
    .setup = del_setup,
    .apply = del_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc del_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_deletion", .version = "1.0.0", .license = "MIT",
    .summary = "Delete random tokens of an I32 sequence [L] (0 = padding), keeping at least one",
    .caps = NN_CAP_THREAD_SAFE, .params = del_params, .vtable = &del_vtable);

NN_PLUGIN_EXPORT(&del_desc);
