/* test_huber.c: the huber loss against hand-computed values and a double reference of
 * PyTorch's HuberLoss (0.5 d^2 for |d| <= delta, else delta (|d| - delta / 2)) written here,
 * mean vs sum, its gradient, and its checks. */
#include <criterion/criterion.h>

#include "pointwise_check.h"

static double ref(double d, double delta)
{
    return fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
}

Test(huber, matches_hand_computed_values)
{
    /* differences p - t = -0.5, 0, 3, -2 */
    const float p[] = {1, 2, 3, -1}, t[] = {1.5f, 2, 0, 1};
    const char *const kvs[][3] = {{NULL}, {"reduction=sum", NULL}, {"delta=2.5", NULL}};
    /* delta 1: 0.125 + 0 + (3 - 0.5) + (2 - 0.5) = 4.125; delta 2.5: 0.125 + 0 +
     * 2.5 (3 - 1.25) + 0.5 * 4 = 6.5; gradient clamp(d, -delta, delta) (/ 4 for mean) */
    const double want[] = {4.125 / 4, 4.125, 6.5 / 4};
    const double grad[][4] = {{-0.125, 0, 0.25, -0.25}, {-0.5, 0, 1, -1}, {-0.125, 0, 0.625, -0.5}};
    pointwise_hand_values("huber", 3, kvs, p, t, want, grad);
}

Test(huber, matches_reference_on_random_shapes_with_mean_and_sum)
{
    pointwise_reference("huber", "delta=0.7", ref, 0.7);
}

Test(huber, gradient_matches_finite_differences)
{
    pointwise_gradient("huber", "delta=0.7");
}

Test(huber, rejects_bad_parameters_and_mismatched_shapes_naming_them)
{
    const int64_t a[] = {4, 3};
    pointwise_common_errors("huber");
    pointwise_expect_error("huber", (const char *[]){"delta=0", NULL}, 2, a, NN_F32, 2, a,
                           NN_EINVAL, (const char *[]){"'delta'", "0", NULL});
    pointwise_expect_error("huber", (const char *[]){"delta=-1", NULL}, 2, a, NN_F32, 2, a,
                           NN_EINVAL, (const char *[]){"'delta'", "-1", NULL});
}

Test(huber, docs_show_in_plugins_show)
{
    pointwise_docs("huber");
}
