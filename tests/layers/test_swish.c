/* test_swish.c: the swish layer (and its second name, silu) against a double-precision
 * reference written here, its gradient through the SDK's checker, and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "unary_check.h"

static double ref(double x, double unused)
{
    (void)unused;
    return x / (1.0 + exp(-x));
}

Test(swish, forward_matches_reference)
{
    unary_forward("swish", NULL, ref, 0, -8, 8);
    unary_forward("silu", NULL, ref, 0, -8, 8);
}

Test(swish, saturates_to_zero_and_to_x_without_nan)
{
    static const int64_t s[][NN_MAX_DIMS] = {{1, 4}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "swish", NULL, 1, &nd, s, NULL, 0, 0, &err), NN_OK, "%s",
                 err.msg);
    const float x[] = {-1000.0f, -90.0f, 90.0f, 1000.0f};
    for (int i = 0; i < 4; i++)
        NN_F32P(L.inputs[0])[i] = x[i];
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(NN_F32P(L.output)[i], x[i] > 0 ? x[i] : 0.0f, 1e-30, "x = %g", x[i]);
    nnt_layer_close(&L);
}

Test(swish, backward_matches_finite_differences)
{
    unary_gradient("swish", NULL, -6, 6);
    unary_gradient("silu", NULL, -6, 6);
}

Test(swish, rejects_two_inputs_and_an_unknown_key)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "silu", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "(swish)", "1 input", NULL}),
              "%s", err.msg);
    const char *kv[] = {"beta=1", NULL};
    cr_assert_eq(nnt_layer_open(&L, "swish", kv, 1, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"beta", "no parameters", NULL}), "%s", err.msg);
}

Test(swish, docs_show_in_plugins_show_under_both_names)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "swish", why, sizeof why), "%s", why);
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "silu", why, sizeof why), "%s", why);
}
