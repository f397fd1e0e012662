/* test_hardswish.c: the hardswish layer against a reference written here, its derivative at
 * and around the kinks (-3 and 3) as PyTorch defines it, its gradient through the SDK's
 * checker, and its documentation. Never compares against the plugin's own numbers. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double unused)
{
    (void)unused;
    return x * fmin(fmax(x + 3, 0), 6) / 6;
}

Test(hardswish, forward_matches_reference)
{
    unary_forward("hardswish", NULL, ref, 0, -5, 5);
}

Test(hardswish, derivative_at_the_kinks_is_pytorchs)
{
    static const int64_t s[][NN_MAX_DIMS] = {{1, 7}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "hardswish", NULL, 1, &nd, s, NULL, 1, 1, &err), NN_OK,
                 "%s", err.msg);
    /* torch: 0 for x < -3, x / 3 + 0.5 for -3 <= x <= 3, 1 above */
    const float x[] = {-4.0f, -3.0f, -1.5f, 0.0f, 1.5f, 3.0f, 4.0f};
    const float want[] = {0.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 1.0f};
    for (int i = 0; i < 7; i++) {
        NN_F32P(L.inputs[0])[i] = x[i];
        NN_F32P(L.grad_output)[i] = 2.0f;
    }
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 7; i++)
        cr_assert_float_eq(NN_F32P(L.grad_inputs[0])[i], 2.0f * want[i], 1e-6f, "x = %g: %g",
                           x[i], NN_F32P(L.grad_inputs[0])[i]);
    nnt_layer_close(&L);
}

Test(hardswish, backward_matches_finite_differences)
{
    unary_gradient("hardswish", NULL, -5, 5);
}

Test(hardswish, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "hardswish", why, sizeof why), "%s",
              why);
}
