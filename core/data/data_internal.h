/* data_internal.h: what the loader needs from nn_data beyond data.h: decoding one sample
 * through the dataset and the transform chain, and the batch transforms of training batches.
 * Core-only; never allocates while decoding. */
#ifndef NN_DATA_INTERNAL_H
#define NN_DATA_INTERNAL_H

#include "data.h"

/* seed given in nn_data_opts */
uint64_t nn_data_seed(const nn_data *d);
/* bytes each of the two scratch buffers of nn_data_decode needs (0 without transforms) */
size_t nn_data_scratch_bytes(const nn_data *d);
/* Decodes dataset sample `index` of part into sample (the final shape, data set by the caller)
 * and target, running the transform chain (train-only ones only when augment) with the stream
 * nn_rng_init(seed, epoch, index, 0). scratch_a/b: nn_data_scratch_bytes each, 64-aligned.
 * Thread-safe: reads d only. On failure err names the file/record and the transform. */
int nn_data_decode(const nn_data *d, nn_part part, int64_t index, int augment, int64_t epoch,
                   void *scratch_a, void *scratch_b, nn_tensor *sample, nn_tensor *target,
                   nn_error *err);

/* Where a loader slot keeps what the batch transforms need: the decoded targets (before them),
 * targets between two of them and their scratch. Made once per slot: applying allocates
 * nothing. */
typedef struct nn_batch_ws nn_batch_ws;
/* *out = a workspace for batches of up to `rows` rows, or NULL (and NN_OK) when batches loaded
 * with this `augment` have no batch transform to run (augment = 0: validation, test, eval,
 * predict). Owned by the caller (nn_batch_ws_free, which takes NULL). */
int nn_batch_ws_new(const nn_data *d, int64_t rows, int augment, nn_batch_ws **out,
                    nn_error *err);
void nn_batch_ws_free(nn_batch_ws *w);
/* where nn_data_decode writes row `row`'s target (as nn_data_info's target) for w's batch */
void *nn_batch_ws_target(nn_batch_ws *w, int64_t row);
/* Runs the batch transforms on a decoded batch: x [B, sample...] in place and targets from
 * w into y [B, target...] (nn_data_target(d, 1)), rows [0, n) only, with the stream
 * nn_rng_init(seed, epoch, index, 2). indices: the rows' dataset indices. Thread-safe for
 * distinct workspaces; on failure err names the transform, the batch and the epoch. */
int nn_data_batch_apply(const nn_data *d, nn_batch_ws *w, nn_tensor *x, nn_tensor *y, int64_t n,
                        const int64_t *indices, int64_t epoch, int64_t index, nn_error *err);

#endif
