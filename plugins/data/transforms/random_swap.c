/* random_swap.c: transform plugin that swaps n random pairs of non-padding tokens of an I32
 * sequence [L] (0 = padding stays where it is). apply() never allocates, never writes self,
 * and draws its randomness only from the per-sample stream it is given. */
#include <stdlib.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct swap {
    int64_t n, len;
} swap;

static int swap_create(const nn_params *params, void **self, nn_error *err)
{
    swap *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "random_swap: out of memory");
    s->n = nn_params_int(params, "n");
    *self = s;
    return NN_OK;
}

static void swap_destroy(void *self)
{
    free(self);
}

static int swap_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    swap *w = self;
    int rc = tf_expect("random_swap", s->in, NN_I32, 1, "I32 token ids [L]", err);
    if (rc)
        return rc;
    w->len = s->in->shape[0];
    return NN_OK;
}

/* position of the k-th (0-based) non-padding token */
static int64_t nth_token(const int32_t *y, int64_t len, int64_t k)
{
    for (int64_t i = 0; i < len; i++)
        if (y[i] != 0 && k-- == 0)
            return i;
    return -1;
}

static int swap_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                      nn_error *err)
{
    (void)err;
    const swap *w = self;
    const int32_t *x = NN_I32P(in);
    int32_t *y = NN_I32P(out);
    int64_t tokens = 0;
    for (int64_t i = 0; i < w->len; i++) {
        y[i] = x[i];
        tokens += x[i] != 0;
    }
    if (tokens < 2)
        return NN_OK;
    /* draws per swap: the first token's rank, then the second's among the others */
    for (int64_t s = 0; s < w->n; s++) {
        int64_t a = (int64_t)nn_rng_below(rng, (uint64_t)tokens);
        int64_t b = (int64_t)nn_rng_below(rng, (uint64_t)(tokens - 1));
        if (b >= a)
            b++;
        int64_t i = nth_token(y, w->len, a), j = nth_token(y, w->len, b);
        int32_t t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
    return NN_OK;
}

static const nn_param_spec swap_params[] = {
    {.name = "n", .type = NN_PARAM_INT, .def = "1", .range = "[0, 1000000]",
     .doc = "number of swaps; each exchanges two different non-padding positions (a sequence "
            "with fewer than two tokens is left as it is)"},
    {0},
};

static const nn_transform_vtable swap_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = swap_create,
    .destroy = swap_destroy,
    .setup = swap_setup,
    .apply = swap_apply,
    /* no fit, no state: nothing is learned */
};

static const nn_plugin_desc swap_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "random_swap", .version = "1.0.0", .license = "MIT",
    .summary = "Swap n random pairs of tokens of an I32 sequence [L] (0 = padding, untouched)",
    .caps = NN_CAP_THREAD_SAFE, .params = swap_params, .vtable = &swap_vtable);

NN_PLUGIN_EXPORT(&swap_desc);
