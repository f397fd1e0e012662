/* test_mse.c: the mse loss against hand-computed values and a double reference of
 * PyTorch's MSELoss, (p - t)^2, written here, mean vs sum, its gradient, and its checks. */
#include <criterion/criterion.h>

#include "pointwise_check.h"

static double ref(double d, double unused)
{
    (void)unused;
    return d * d;
}

Test(mse, matches_hand_computed_values)
{
    /* differences p - t = -0.5, 0, 3, -2 */
    const float p[] = {1, 2, 3, -1}, t[] = {1.5f, 2, 0, 1};
    const char *const kvs[][3] = {{NULL}, {"reduction=sum", NULL}};
    /* (0.25 + 0 + 9 + 4) / 4 and the sum; gradient 2 d / 4 and 2 d */
    const double want[] = {13.25 / 4, 13.25};
    const double grad[][4] = {{-0.25, 0, 1.5, -1}, {-1, 0, 6, -4}};
    pointwise_hand_values("mse", 2, kvs, p, t, want, grad);
}

Test(mse, matches_reference_on_random_shapes_with_mean_and_sum)
{
    pointwise_reference("mse", NULL, ref, 0);
}

Test(mse, gradient_matches_finite_differences)
{
    pointwise_gradient("mse", NULL);
}

Test(mse, rejects_bad_parameters_and_mismatched_shapes_naming_them)
{
    pointwise_common_errors("mse");
}

Test(mse, docs_show_in_plugins_show)
{
    pointwise_docs("mse");
}
