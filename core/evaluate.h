/* evaluate.h: forward-only passes over a data part, for metrics (eval, the end of training,
 * cross-validation) and for per-sample outputs (predict). Keeps nothing for backward. */
#ifndef NN_EVALUATE_H
#define NN_EVALUATE_H

#include "session.h"

/* Accumulates metrics (initialised by the caller) over `part`. */
int nn_evaluate(nn_session *s, nn_part part, nn_metrics *m, nn_error *err);

/* Calls fn for every sample of `part` in order with its dataset index, the model output row
 * (n_out floats) and its target row (NULL for NN_PART_PREDICT, whose targets are unknown and
 * which runs the model without the loss). fn returns 0 to go on. */
typedef int (*nn_predict_fn)(void *ctx, int64_t index, const float *out, int64_t n_out,
                             const void *target);
int nn_predict(nn_session *s, nn_part part, int64_t limit, nn_predict_fn fn, void *ctx,
               nn_error *err);

#endif
