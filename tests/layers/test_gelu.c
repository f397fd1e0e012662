/* test_gelu.c: the gelu layer against a double-precision reference written here, its
 * gradient through the SDK's checker (the one `nntrain plugins test` runs), its parameter
 * checks and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

/* PyTorch's formulas: exact x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2)); tanh form
 * x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) */
static double ref(double x, double use_tanh)
{
    if (use_tanh != 0)
        return 0.5 * x *
               (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void check_forward(const char *const *kv, double arg)
{
    unary_forward("gelu", kv, ref, arg, -4, 4);
}

Test(gelu, forward_matches_exact_erf_form_by_default)
{
    check_forward(NULL, 0);
    check_forward((const char *[]){"approximate=none", NULL}, 0);
}

Test(gelu, forward_matches_tanh_form_when_asked)
{
    check_forward((const char *[]){"approximate=tanh", NULL}, 1);
}

Test(gelu, exact_and_tanh_forms_differ_by_far_more_than_the_forward_tolerance)
{
    /* so forward_matches_tanh_form_when_asked proves that the enum reaches the plugin */
    double most = 0;
    for (double x = -4; x <= 4; x += 1.0 / 64)
        most = fmax(most, fabs(ref(x, 0) - ref(x, 1)));
    cr_assert_gt(most, 1e-4);
}

Test(gelu, backward_matches_finite_differences)
{
    unary_gradient("gelu", NULL, -4, 4);
    unary_gradient("gelu", (const char *[]){"approximate=tanh", NULL}, -4, 4);
}

Test(gelu, rejects_two_inputs_and_an_integer_input_naming_the_layer_and_shape)
{
    unary_rejects_bad_inputs("gelu");
}

Test(gelu, rejects_bad_parameters_naming_the_key)
{
    unary_param_error("gelu", "approximate=fast",
                      (const char *[]){"approximate", "fast", "none", NULL});
    unary_param_error("gelu", "aproximate=tanh",
                      (const char *[]){"aproximate", "did you mean 'approximate'", NULL});
}

Test(gelu, docs_show_in_plugins_show)
{
    unary_docs("gelu");
}
