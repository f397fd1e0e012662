/* tf_common.h: small header-only helpers the stock transform plugins share (shape checks with
 * messages that name the transform and the shape, "lo,hi" range and "height, width" size keys,
 * torchvision's box draw). Static inline only: it must never define an exported symbol or hold
 * state. */
#ifndef NN_TF_COMMON_H
#define NN_TF_COMMON_H

#include <math.h>

#include <nntrain/params.h>
#include <nntrain/rng.h>
#include <nntrain/status.h>
#include <nntrain/tensor.h>

static inline const char *tf_dtype_name(const nn_tensor *t)
{
    static const char *const names[NN_DTYPE_COUNT] = {"F32", "F64", "F16", "BF16",
                                                      "I32", "I64", "U8"};
    int d = nn_tensor_dtype(t);
    return d < 0 ? "unknown dtype" : names[d];
}

/* Checks that t has dtype dt and ndim dims (all > 0); what says what was expected, e.g.
 * "an F32 image [C, H, W]". returns NN_OK or NN_ESHAPE naming the transform and the shape. */
static inline int tf_expect(const char *who, const nn_tensor *t, nn_dtype dt, int ndim,
                            const char *what, nn_error *err)
{
    int ok = nn_tensor_dtype(t) == (int)dt && t->dl.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] > 0;
    if (ok)
        return NN_OK;
    char sh[128];
    return nn_error_set(err, NN_ESHAPE, "transform '%s' expects %s, but the sample is %s %s",
                        who, what, tf_dtype_name(t), nn_shape_str(t, sh, sizeof sh));
}

/* Reads a FLOAT_LIST key holding one value or a "lo, hi" pair. returns the count (1 or 2)
 * with v[0..count) filled, or NN_EINVAL naming the key when there are more than two values or
 * lo > hi. */
static inline int tf_float_pair(const nn_params *p, const char *who, const char *key, double v[2],
                                nn_error *err)
{
    int n = 0;
    const double *x = nn_params_floats(p, key, &n);
    v[0] = v[1] = 0.0;
    if (n < 1 || n > 2)
        return nn_error_set(err, NN_EINVAL,
                            "transform '%s': key '%s' takes one value or a 'lo, hi' pair, got %d "
                            "values", who, key, n);
    v[0] = x[0];
    v[1] = n == 2 ? x[1] : x[0];
    if (v[0] > v[1])
        return nn_error_set(err, NN_EINVAL, "transform '%s': key '%s' = %g, %g has lo > hi", who,
                            key, v[0], v[1]);
    return n;
}

/* Reads an INT_LIST key holding one value (a square) or "height, width" into v[0], v[1].
 * returns NN_OK, or NN_EINVAL naming the key for any other count. */
static inline int tf_int_pair(const nn_params *p, const char *who, const char *key, int64_t v[2],
                              nn_error *err)
{
    int n = 0;
    const int64_t *x = nn_params_ints(p, key, &n);
    v[0] = v[1] = 0;
    if (n < 1 || n > 2)
        return nn_error_set(err, NN_EINVAL,
                            "transform '%s': key '%s' takes one value (square) or 'height, "
                            "width', got %d values", who, key, n);
    v[0] = x[0];
    v[1] = x[n - 1];
    return NN_OK;
}

/* uniform in [lo, hi]; always draws once, so the stream advances alike for any range */
static inline double tf_uniform(nn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * nn_rng_uniform(r);
}

/* One try of torchvision's box draw (RandomResizedCrop, RandomErasing): a target area of
 * area x U(scale), an aspect ratio exp(U(log ratio)); *along = round(sqrt(target x aspect)),
 * *across = round(sqrt(target / aspect)), rounding half to even as Python's round(). Draws
 * two uniforms, in that order. */
static inline void tf_box_draw(nn_rng *r, double area, const double scale[2],
                               const double ratio[2], int64_t *along, int64_t *across)
{
    double target = area * tf_uniform(r, scale[0], scale[1]);
    double aspect = exp(tf_uniform(r, log(ratio[0]), log(ratio[1])));
    *along = (int64_t)nearbyint(sqrt(target * aspect));
    *across = (int64_t)nearbyint(sqrt(target / aspect));
}

#endif
