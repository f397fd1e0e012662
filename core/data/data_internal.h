/* data_internal.h: what the loader needs from nn_data beyond data.h: decoding one sample
 * through the dataset and the transform chain. Core-only; never allocates. */
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

#endif
