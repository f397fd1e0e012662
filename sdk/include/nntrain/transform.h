/* transform.h: the vtable of a sample transform (augmentation or normalisation). apply() runs
 * on loader threads, so it reads self without changing it and draws randomness only from the
 * per-sample stream it is given. */
#ifndef NNTRAIN_TRANSFORM_H
#define NNTRAIN_TRANSFORM_H

#include <stddef.h>
#include "plugin.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_transform_setup {
    uint32_t struct_size;
    const nn_tensor *in;  /* in: shape/dtype of one sample */
    nn_tensor out;        /* out: shape/dtype after the transform (the core presets it = in) */
    int train_only;       /* in/out: preset to 1; clear it to run on eval/predict too */
    const void *reserved[8];
} nn_transform_setup;

/* Samples of the training split, for transforms that learn from data (normalize). */
typedef struct nn_sample_source {
    int64_t length;
    void *ctx;
    int (*get)(void *ctx, int64_t index, nn_tensor *sample, nn_error *err);
} nn_sample_source;

struct nn_transform_export; /* export.h */

typedef struct nn_transform_vtable {
    NN_VTABLE_COMMON;
    /* required */
    int (*setup)(void *self, nn_transform_setup *s, nn_error *err);
    /* optional: learn statistics from the training split before the first apply */
    int (*fit)(void *self, const nn_sample_source *src, nn_error *err);
    /* required: in and out are distinct tensors of setup's shapes */
    int (*apply)(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng, nn_error *err);
    /* optional: fitted state as text for checkpoints (returns bytes needed, or < 0) */
    int (*state_save)(void *self, char *buf, size_t cap, nn_error *err);
    int (*state_load)(void *self, const char *text, nn_error *err);
    /* optional, ABI 0.5 (took reserved[0]; NULL in older plugins): the ONNX nodes of apply()
     * as evaluation runs it, with the fitted state (see export.h). A transform that runs at
     * evaluation (train_only cleared) without it makes `nntrain export` fail naming it. */
    int (*export_as)(void *self, const struct nn_transform_export *x, nn_error *err);
    const void *reserved[7];
} nn_transform_vtable;

#ifdef __cplusplus
}
#endif
#endif
