/* test_l1.c: the l1 loss against hand-computed values and a double reference of
 * PyTorch's L1Loss, |p - t|, written here, mean vs sum, its gradient, and its checks. */
#include <criterion/criterion.h>

#include "pointwise_check.h"

static double ref(double d, double unused)
{
    (void)unused;
    return fabs(d);
}

Test(l1, matches_hand_computed_values)
{
    /* differences p - t = -0.5, 0, 3, -2 */
    const float p[] = {1, 2, 3, -1}, t[] = {1.5f, 2, 0, 1};
    const char *const kvs[][3] = {{NULL}, {"reduction=sum", NULL}};
    /* (0.5 + 0 + 3 + 2) / 4 and the sum; gradient sign(d) / 4 and sign(d) */
    const double want[] = {5.5 / 4, 5.5};
    const double grad[][4] = {{-0.25, 0, 0.25, -0.25}, {-1, 0, 1, -1}};
    pointwise_hand_values("l1", 2, kvs, p, t, want, grad);
}

Test(l1, matches_reference_on_random_shapes_with_mean_and_sum)
{
    pointwise_reference("l1", NULL, ref, 0);
}

Test(l1, gradient_matches_finite_differences)
{
    pointwise_gradient("l1", NULL);
}

Test(l1, rejects_bad_parameters_and_mismatched_shapes_naming_them)
{
    pointwise_common_errors("l1");
}

Test(l1, gradient_at_zero_difference_is_zero_as_in_pytorch)
{
    const int64_t shape[] = {1, 2};
    nnt_loss L;
    nn_error err = {0};
    pointwise_open(&L, "l1", NULL, 2, shape);
    NN_F32P(L.pred)[0] = NN_F32P(L.target)[0] = 0.75f;
    NN_F32P(L.pred)[1] = 1.0f;
    NN_F32P(L.target)[1] = 0.0f;
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(NN_F32P(L.grad_pred)[0], 0.0f);
    cr_assert_eq(NN_F32P(L.grad_pred)[1], 0.5f);
    nnt_loss_close(&L);
}

Test(l1, docs_show_in_plugins_show)
{
    pointwise_docs("l1");
}
