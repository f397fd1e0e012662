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
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "tanh", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
    const nn_dtype i32 = NN_I32;
    cr_assert_eq(nnt_layer_open(&L, "tanh", NULL, 1, nd, s, &i32, 0, 0, &err), NN_EINVAL);
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
    cr_assert_eq(nnt_layer_open(&L, "tanh", kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL,
                 "%s was accepted", kv0);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0, err.msg);
}

Test(tanh, rejects_bad_parameters_naming_the_key)
{
    expect_param_error("alpha=1", (const char *[]){"alpha", "no parameters", NULL});
}

Test(tanh, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "tanh", why, sizeof why), "%s", why);
}
