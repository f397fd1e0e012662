/* test_elu.c: the elu layer against a double-precision reference written here, its
 * gradient through the SDK's checker (the one `nntrain plugins test` runs), its parameter
 * checks and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double alpha)
{
    return x > 0 ? x : alpha * (exp(x) - 1.0);
}

static void check_forward(const char *const *kv, double arg)
{
    unary_forward("elu", kv, ref, arg, -3, 3);
}

Test(elu, forward_matches_reference_with_default_and_custom_alpha)
{
    check_forward(NULL, 1.0);
    check_forward((const char *[]){"alpha=0.4", NULL}, 0.4);
}

Test(elu, backward_matches_finite_differences)
{
    unary_gradient("elu", NULL, -3, 3);
    unary_gradient("elu", (const char *[]){"alpha=2.5", NULL}, -3, 3);
}

Test(elu, rejects_two_inputs_and_an_integer_input_naming_the_layer_and_shape)
{
    unary_rejects_bad_inputs("elu");
}

Test(elu, rejects_bad_parameters_naming_the_key)
{
    unary_param_error("elu", "alpha=-1", (const char *[]){"alpha", "-1", NULL});
    unary_param_error("elu", "alpah=1", (const char *[]){"alpah", "did you mean 'alpha'", NULL});
}

Test(elu, docs_show_in_plugins_show)
{
    unary_docs("elu");
}
