/* test_sigmoid.c: the sigmoid layer against a double-precision reference written here, its
 * gradient through the SDK's checker (the one `nntrain plugins test` runs), its parameter
 * checks and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double unused)
{
    (void)unused;
    return 1.0 / (1.0 + exp(-x));
}

static void check_forward(const char *const *kv, double arg)
{
    unary_forward("sigmoid", kv, ref, arg, -8, 8);
}

Test(sigmoid, forward_matches_reference)
{
    check_forward(NULL, 0);
}

Test(sigmoid, saturates_without_nan_for_huge_inputs)
{
    static const int64_t s[][NN_MAX_DIMS] = {{1, 4}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "sigmoid", NULL, 1, &nd, s, NULL, 0, 0, &err), NN_OK, "%s",
                 err.msg);
    const float x[] = {-1000.0f, -100.0f, 100.0f, 1000.0f}, want[] = {0.0f, 0.0f, 1.0f, 1.0f};
    for (int i = 0; i < 4; i++)
        NN_F32P(L.inputs[0])[i] = x[i];
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(NN_F32P(L.output)[i], want[i], 1e-30, "x = %g", x[i]);
    nnt_layer_close(&L);
}

Test(sigmoid, backward_matches_finite_differences)
{
    unary_gradient("sigmoid", NULL, -8, 8);
}

Test(sigmoid, rejects_two_inputs_and_an_integer_input_naming_the_layer_and_shape)
{
    unary_rejects_bad_inputs("sigmoid");
}

Test(sigmoid, rejects_bad_parameters_naming_the_key)
{
    unary_param_error("sigmoid", "alpha=1", (const char *[]){"alpha", "no parameters", NULL});
}

Test(sigmoid, docs_show_in_plugins_show)
{
    unary_docs("sigmoid");
}
