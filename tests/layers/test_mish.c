/* test_mish.c: the mish layer against a double-precision reference written here, its gradient
 * through the SDK's checker, its stability far out, and its documentation. Never compares
 * against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double unused)
{
    (void)unused;
    return x * tanh(log1p(exp(x)));
}

Test(mish, forward_matches_reference)
{
    unary_forward("mish", NULL, ref, 0, -8, 8);
}

Test(mish, is_finite_and_right_far_out)
{
    static const int64_t s[][NN_MAX_DIMS] = {{1, 4}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "mish", NULL, 1, &nd, s, NULL, 1, 1, &err), NN_OK, "%s",
                 err.msg);
    const float x[] = {-200.0f, -100.0f, 100.0f, 500.0f};
    for (int i = 0; i < 4; i++) {
        NN_F32P(L.inputs[0])[i] = x[i];
        NN_F32P(L.grad_output)[i] = 1.0f;
    }
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++) {
        float y = NN_F32P(L.output)[i], g = NN_F32P(L.grad_inputs[0])[i];
        cr_assert(isfinite(y) && isfinite(g), "x = %g: y %g, dy/dx %g", x[i], y, g);
        cr_assert_float_eq(y, x[i] > 0 ? x[i] : 0.0f, 1e-6f * fabsf(x[i]), "x = %g: %g", x[i], y);
        cr_assert_float_eq(g, x[i] > 0 ? 1.0f : 0.0f, 1e-6f, "x = %g: dy/dx %g", x[i], g);
    }
    nnt_layer_close(&L);
}

Test(mish, backward_matches_finite_differences)
{
    unary_gradient("mish", NULL, -6, 6);
}

Test(mish, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "mish", why, sizeof why), "%s", why);
}
