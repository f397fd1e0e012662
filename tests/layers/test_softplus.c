/* test_softplus.c: the softplus layer against a double-precision reference written here, with
 * beta and PyTorch's threshold, its gradient through the SDK's checker, its parameter checks
 * and its documentation. Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "unary_check.h"

static double beta_now = 1, threshold_now = 20;

static double ref(double x, double beta)
{
    (void)beta;
    if (beta_now * x > threshold_now)
        return x;
    return log1p(exp(beta_now * x)) / beta_now;
}

Test(softplus, forward_matches_reference_with_beta_and_threshold)
{
    unary_forward("softplus", NULL, ref, 0, -30, 30);
    beta_now = 2.5;
    threshold_now = 4;
    unary_forward("softplus", (const char *[]){"beta=2.5", "threshold=4", NULL}, ref, 0, -8, 8);
}

Test(softplus, is_the_identity_past_the_threshold_and_finite_far_below)
{
    static const int64_t s[][NN_MAX_DIMS] = {{1, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "softplus", NULL, 1, &nd, s, NULL, 0, 0, &err), NN_OK, "%s",
                 err.msg);
    const float x[] = {-1000.0f, 20.5f, 1e30f};
    for (int i = 0; i < 3; i++)
        NN_F32P(L.inputs[0])[i] = x[i];
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(NN_F32P(L.output)[0], 0.0f);
    cr_assert_eq(NN_F32P(L.output)[1], 20.5f);
    cr_assert_eq(NN_F32P(L.output)[2], 1e30f);
    nnt_layer_close(&L);
}

Test(softplus, backward_matches_finite_differences)
{
    unary_gradient("softplus", NULL, -6, 6);
    unary_gradient("softplus", (const char *[]){"beta=3", "threshold=5", NULL}, -3, 3);
}

Test(softplus, rejects_bad_parameters_naming_the_key)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    const char *bad[][2] = {{"beta=0", "beta"}, {"threshold=-1", "threshold"}, {"bta=1", "beta"}};
    for (int i = 0; i < 3; i++) {
        const char *kv[] = {bad[i][0], NULL};
        cr_assert_eq(nnt_layer_open(&L, "softplus", kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL,
                     "%s was accepted", bad[i][0]);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i][1], NULL}), "%s", err.msg);
    }
}

Test(softplus, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "softplus", why, sizeof why), "%s",
              why);
}
