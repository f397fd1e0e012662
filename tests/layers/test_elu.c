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
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "elu", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
    const nn_dtype i32 = NN_I32;
    cr_assert_eq(nnt_layer_open(&L, "elu", NULL, 1, nd, s, &i32, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3]", "F32", NULL}), "%s",
              err.msg);
}

static void expect_param_error(const char *kv0, const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "elu", kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL,
                 "%s was accepted", kv0);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0, err.msg);
}

Test(elu, rejects_bad_parameters_naming_the_key)
{
    expect_param_error("alpha=-1", (const char *[]){"alpha", "-1", NULL});
    expect_param_error("alpah=1", (const char *[]){"alpah", "did you mean 'alpha'", NULL});
}

Test(elu, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "elu", why, sizeof why), "%s", why);
}
