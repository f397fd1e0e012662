/* transform.h: the vtable of a transform (augmentation or normalisation): per-sample (apply)
 * or, from ABI 0.5, batch-level (apply_batch: mixup, cutmix). Both run on loader threads, so
 * they read self without changing it and draw randomness only from the stream they are given. */
#ifndef NNTRAIN_TRANSFORM_H
#define NNTRAIN_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>
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
    int train_only;       /* in/out: preset to 1; clear it to run on eval/predict too (a batch
                             transform must leave it set) */
    /* ---- ABI 0.5 (took reserved[0..3]; a host older than 0.5 leaves them zero) ---- */
    /* in: one sample's target as it reaches this transform: I32 ndim 0 for a class id, F32
     * otherwise (after an earlier batch transform: F32 [n_classes] probabilities) */
    const nn_tensor *target;
    /* out, batch transforms only (NULL for a per-sample one, which never changes targets):
     * one sample's target after apply_batch, preset = *target; a batch transform may describe
     * another one here, e.g. F32 [n_classes] probabilities from I32 class ids */
    nn_tensor *target_out;
    intptr_t n_classes;   /* in: the dataset's number of classes; 0 for regression */
    size_t batch_scratch; /* out, batch transforms: bytes of scratch apply_batch needs for any
                             batch size (nn_transform_batch.scratch); preset 0 */
    const void *reserved[4];
} nn_transform_setup;

/* One batch for apply_batch (ABI 0.5). Its tensors have exactly `rows` rows: the last batch of
 * an epoch may be partial, so rows can be anything from 1 to the batch size. */
typedef struct nn_transform_batch {
    uint32_t struct_size;
    int64_t rows;
    nn_tensor *x;                /* in/out: [rows, sample...] as the per-sample transforms left
                                    it (setup's out); rewritten in place */
    const nn_tensor *target;     /* in: [rows, target...] as setup's target describes one */
    nn_tensor *target_out;       /* out: [rows, target_out...]; never the memory of target;
                                    every element must be written */
    const int64_t *indices;      /* the rows' dataset indices, for messages */
    int64_t epoch, index;        /* the batch's epoch and number within it, for messages */
    void *scratch;               /* setup's batch_scratch bytes, 64-aligned, contents
                                    undefined; NULL when it asked for none */
    const void *reserved[8];
} nn_transform_batch;

/* Samples of the training split, for transforms that learn from data (normalize). */
typedef struct nn_sample_source {
    int64_t length;
    void *ctx;
    int (*get)(void *ctx, int64_t index, nn_tensor *sample, nn_error *err);
} nn_sample_source;

struct nn_transform_export; /* export.h */

typedef struct nn_transform_vtable {
    NN_VTABLE_COMMON;
    /* required; a batch transform checks in (it cannot change the sample: out stays = in) and
     * target, and describes target_out */
    int (*setup)(void *self, nn_transform_setup *s, nn_error *err);
    /* optional: learn statistics from the training split before the first apply */
    int (*fit)(void *self, const nn_sample_source *src, nn_error *err);
    /* required for a per-sample transform (unused in a batch one): in and out are distinct
     * tensors of setup's shapes; rng is the sample's stream (seed, epoch, sample index, 0) */
    int (*apply)(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng, nn_error *err);
    /* optional: fitted state as text for checkpoints (returns bytes needed, or < 0) */
    int (*state_save)(void *self, char *buf, size_t cap, nn_error *err);
    int (*state_load)(void *self, const char *text, nn_error *err);
    /* ABI 0.5 (took reserved[0]): a transform that sets this is a batch transform (its apply
     * is never called and may be NULL). It runs on training batches only, after every per-sample
     * transform (so its [transform.NAME] section comes after theirs), and never at
     * validation, test, eval or predict time. rng is the batch's own stream,
     * nn_rng_init(seed, epoch, batch index, 2), shared in file order by the batch transforms,
     * so a batch's result depends only on (seed, epoch, index), never on the loader's threads.
     * Rows are mixed only within the batch it is given (under data-parallel training: within a
     * rank's share of it). */
    int (*apply_batch)(void *self, const nn_transform_batch *b, nn_rng *rng, nn_error *err);
    /* optional, ABI 0.5 (took reserved[1]; NULL in older plugins): the ONNX nodes of apply()
     * as evaluation runs it, with the fitted state (see export.h). A transform that runs at
     * evaluation (train_only cleared) without it makes `nntrain export` fail naming it. */
    int (*export_as)(void *self, const struct nn_transform_export *x, nn_error *err);
    const void *reserved[6];
} nn_transform_vtable;

#ifdef __cplusplus
}
#endif
#endif
