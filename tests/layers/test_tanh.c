/* test_tanh.c: the tanh layer against a double-precision reference written here, its
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
    return tanh(x);
}

static void check_forward(const char *const *kv, double arg)
{
    unary_forward("tanh", kv, ref, arg, -4, 4);
}

Test(tanh, forward_matches_reference)
{
    check_forward(NULL, 0);
}

Test(tanh, backward_matches_finite_differences)
{
    unary_gradient("tanh", NULL, -4, 4);
}

Test(tanh, rejects_two_inputs_and_an_integer_input_naming_the_layer_and_shape)
{
    unary_rejects_bad_inputs("tanh");
}

Test(tanh, rejects_bad_parameters_naming_the_key)
{
    unary_param_error("tanh", "alpha=1", (const char *[]){"alpha", "no parameters", NULL});
}

Test(tanh, docs_show_in_plugins_show)
{
    unary_docs("tanh");
}
