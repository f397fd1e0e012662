/* test_clip.c: nn_clip_grad_norm and nn_clip_grad_value against hand-computed numbers and a
 * naive double-precision norm: the returned pre-clip norm, the scaled gradients for both norm
 * types, no change below the limit, and NaN propagation; the replicas' gradient sum that
 * measures the norm as it adds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/optim/clip_internal.h"
#include "core/optim/optim.h"

static nn_tensor *vec(int64_t n, const float *v)
{
    nn_tensor *t = nn_tensor_new(NN_F32, 1, &n);
    cr_assert(t);
    if (v)
        memcpy(NN_F32P(t), v, (size_t)n * sizeof(float));
    return t;
}

Test(clip, two_norm_is_returned_and_gradients_scaled_like_torch)
{
    const float a[] = {3, 4}, b[] = {12};
    nn_tensor *g[2] = {vec(2, a), vec(1, b)};
    double norm = nn_clip_grad_norm(g, 2, 6.5, 0);
    cr_assert_float_eq(norm, 13.0, 1e-12); /* sqrt(9 + 16 + 144) */
    double c = 6.5 / (13.0 + 1e-6);        /* torch: max_norm / (total_norm + 1e-6) */
    cr_assert_float_eq(NN_F32P(g[0])[0], 3 * c, 1e-6);
    cr_assert_float_eq(NN_F32P(g[0])[1], 4 * c, 1e-6);
    cr_assert_float_eq(NN_F32P(g[1])[0], 12 * c, 1e-6);
    nn_tensor_free(g[0]);
    nn_tensor_free(g[1]);
}

Test(clip, inf_norm_is_the_largest_magnitude)
{
    const float a[] = {3, -4}, b[] = {-12, 1};
    nn_tensor *g[2] = {vec(2, a), vec(2, b)};
    double norm = nn_clip_grad_norm(g, 2, 6, 1);
    cr_assert_float_eq(norm, 12.0, 1e-12);
    double c = 6 / (12.0 + 1e-6);
    cr_assert_float_eq(NN_F32P(g[1])[0], -12 * c, 1e-6);
    cr_assert_float_eq(NN_F32P(g[0])[1], -4 * c, 1e-6);
    nn_tensor_free(g[0]);
    nn_tensor_free(g[1]);
}

Test(clip, gradients_below_the_limit_are_untouched)
{
    const float a[] = {0.3f, -0.4f};
    nn_tensor *g[1] = {vec(2, a)};
    cr_assert_float_eq(nn_clip_grad_norm(g, 1, 1.0, 0), 0.5, 1e-7);
    cr_assert_eq(memcmp(NN_F32P(g[0]), a, sizeof a), 0);
    cr_assert_float_eq(nn_clip_grad_norm(g, 1, 0.0, 1), 0.4, 1e-7); /* 0: measure only */
    cr_assert_eq(memcmp(NN_F32P(g[0]), a, sizeof a), 0);
    nn_tensor_free(g[0]);
}

Test(clip, long_vectors_match_a_naive_double_norm)
{
    /* lengths that are not multiples of the 16 lanes nor of the 4096-element blocks */
    int64_t n1 = 10007, n2 = 33;
    nn_tensor *g[2] = {vec(n1, NULL), vec(n2, NULL)};
    double naive = 0;
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < (k ? n2 : n1); i++) {
            float v = (float)sin((double)(i * (k + 3))) * (k ? 5.0f : 0.01f);
            NN_F32P(g[k])[i] = v;
            naive += (double)v * v;
        }
    naive = sqrt(naive);
    cr_assert_float_eq(nn_clip_grad_norm(g, 2, 0, 0), naive, naive * 1e-6);
    nn_tensor_free(g[0]);
    nn_tensor_free(g[1]);
}

/* the replicas' gradient sum (graph.c): dst += each source in order, element by element, and
 * the sum of the results' squares; lengths around the 64-float groups the sum is taken in
 * and the 4096-float blocks it folds into a double */
Test(clip, replica_sums_add_in_order_and_measure_the_result)
{
    static const int64_t lens[] = {1, 63, 64, 65, 127, 4095, 4096, 4097, 10007};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (int n_src = 0; n_src <= 3; n_src++) {
            int64_t n = lens[li];
            float *dst = malloc((size_t)n * sizeof *dst), *want = malloc((size_t)n * sizeof *want);
            float *src[3];
            cr_assert(dst && want);
            for (int s = 0; s < n_src; s++)
                cr_assert_not_null(src[s] = malloc((size_t)n * sizeof(float)));
            double naive = 0;
            for (int64_t i = 0; i < n; i++) {
                dst[i] = want[i] = (float)sin((double)i * 0.37) * 0.1f;
                for (int s = 0; s < n_src; s++) {
                    src[s][i] = (float)cos((double)i * (s + 1.3)) * (float)(s + 1);
                    want[i] += src[s][i];
                }
                naive += (double)want[i] * want[i];
            }
            double got = nn_grad_sum_into(dst, (const float *const *)src, n_src, n);
            cr_assert_eq(memcmp(dst, want, (size_t)n * sizeof *dst), 0,
                         "n = %lld, %d sources: the sums differ", (long long)n, n_src);
            cr_assert_float_eq(got, naive, naive * 1e-6, "n = %lld, %d sources: %.9g, not %.9g",
                               (long long)n, n_src, got, naive);
            for (int s = 0; s < n_src; s++)
                free(src[s]);
            free(dst);
            free(want);
        }
}

Test(clip, nan_gradient_gives_a_nan_norm_for_both_types)
{
    const float a[] = {1, NAN, 2};
    nn_tensor *g[1] = {vec(3, a)};
    cr_assert(isnan(nn_clip_grad_norm(g, 1, 1.0, 0)));
    cr_assert(isnan(nn_clip_grad_norm(g, 1, 1.0, 1)));
    cr_assert_eq(NN_F32P(g[0])[0], 1.0f); /* not scaled by a NaN factor */
    nn_tensor_free(g[0]);
}

Test(clip, value_clipping_clamps_each_element)
{
    const float a[] = {-3, -0.5f, 0, 0.25f, 7};
    nn_tensor *g[1] = {vec(5, a)};
    nn_clip_grad_value(g, 1, 0.5);
    const float want[] = {-0.5f, -0.5f, 0, 0.25f, 0.5f};
    cr_assert_eq(memcmp(NN_F32P(g[0]), want, sizeof want), 0);
    nn_tensor_free(g[0]);
}
