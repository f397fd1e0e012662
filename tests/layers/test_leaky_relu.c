/* test_leaky_relu.c: the leaky_relu layer against a double-precision reference written here, its
 * gradient through the SDK's checker (the one `nntrain plugins test` runs), its parameter
 * checks and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double slope)
{
    return x > 0 ? x : slope * x;
}

static void check_forward(const char *const *kv, double arg)
{
    unary_forward("leaky_relu", kv, ref, arg, -3, 3);
}

Test(leaky_relu, forward_matches_reference_with_default_and_custom_slope)
{
    check_forward(NULL, 0.01);
    check_forward((const char *[]){"negative_slope=0.3", NULL}, 0.3);
}

Test(leaky_relu, backward_matches_finite_differences)
{
    unary_gradient("leaky_relu", NULL, -3, 3);
    unary_gradient("leaky_relu", (const char *[]){"negative_slope=0.3", NULL}, -3, 3);
}

Test(leaky_relu, rejects_two_inputs_and_an_integer_input_naming_the_layer_and_shape)
{
    unary_rejects_bad_inputs("leaky_relu");
}

Test(leaky_relu, rejects_bad_parameters_naming_the_key)
{
    unary_param_error("leaky_relu", "negative_slope=-0.5",
                      (const char *[]){"negative_slope", "-0.5", NULL});
    unary_param_error("leaky_relu", "negative_slope=abc",
                      (const char *[]){"negative_slope", "abc", NULL});
    unary_param_error("leaky_relu", "negative_slop=0.1",
                      (const char *[]){"negative_slop", "did you mean 'negative_slope'", NULL});
}

Test(leaky_relu, docs_show_in_plugins_show)
{
    unary_docs("leaky_relu");
}
