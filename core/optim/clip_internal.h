/* clip_internal.h: the two halves of nn_clip_grad_norm(), for the driver, which checks that
 * the norm is finite before it scales anything. Not part of any public surface. */
#ifndef NN_CLIP_INTERNAL_H
#define NN_CLIP_INTERNAL_H

#include "nntrain/tensor.h"

/* the global 2-norm (or max-abs norm) of all gradients; NAN/inf propagate */
double nn_grad_norm(nn_tensor *const *grads, int n, int norm_type_inf);
/* dst[i] += src[0][i], src[1][i], ... in that order (n_src >= 0 sources, the replicas'
 * gradients), returning the sum of the results' squares (float blocks folded into a double,
 * as nn_grad_norm() sums) */
double nn_grad_sum_into(float *dst, const float *const *src, int n_src, int64_t n);
/* scales by max_norm / (norm + 1e-6) when max_norm > 0 and that is below 1 */
void nn_grad_clip_scale(nn_tensor *const *grads, int n, double norm, double max_norm);

#endif
