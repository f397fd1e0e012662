/* test_relu.c: the relu layer against a naive reference, its gradient against finite
 * differences, and the harness's gradient checker itself (it must catch a 1% wrong gradient).
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "unary_check.h"

static const int64_t shapes[][NN_MAX_DIMS] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7}, {5, 13, 11}};
static const int ndims[] = {2, 2, 2, 4, 3};

/* keeps inputs away from the kink at 0, where a central difference is meaningless */
static void push_off_kink(nn_tensor *t, float margin)
{
    float *x = NN_F32P(t);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        if (fabsf(x[i]) < margin)
            x[i] = x[i] < 0 ? -margin : margin;
}

Test(relu, forward_matches_max_of_x_and_zero)
{
    for (size_t k = 0; k < sizeof ndims / sizeof ndims[0]; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(nnt_layer_open(&L, "relu", NULL, 1, &ndims[k], &shapes[k], NULL, 0, 0, &err),
                     NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 10 + k, -2, 2);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert(nn_shape_equal(L.output, L.inputs[0]));
        for (int64_t i = 0; i < nn_tensor_numel(L.output); i++) {
            double x = NN_F32P(L.inputs[0])[i];
            double want = x > 0 ? x : 0;
            cr_assert_eq(NN_F32P(L.output)[i], (float)want, "shape %zu element %lld", k,
                         (long long)i);
        }
        nnt_layer_close(&L);
    }
}

Test(relu, backward_matches_finite_differences)
{
    /* inputs near 0 on purpose: the checker meets the kink with one-sided differences */
    unary_gradient("relu", NULL, -1, 1);
    unary_gradient("relu", NULL, -0.05, 0.05);
}

static void scale_grad_input(nnt_layer *L, void *ctx)
{
    float f = *(const float *)ctx;
    for (int64_t i = 0; i < nn_tensor_numel(L->grad_inputs[0]); i++)
        NN_F32P(L->grad_inputs[0])[i] *= f;
}

Test(relu, gradcheck_reports_a_gradient_that_is_one_percent_wrong)
{
    static const int64_t s[][NN_MAX_DIMS] = {{3, 4}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(nnt_layer_open(&L, "relu", NULL, 1, &nd, s, NULL, 1, 1, &err), NN_OK, "%s",
                 err.msg);
    push_off_kink(L.inputs[0], 0.05f);
    float f = 1.01f;
    L.after_backward = scale_grad_input;
    L.after_backward_ctx = &f;
    double bad = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    /* |1.01 g - g| / (1.01 |g|) = 0.0099 on every element with a nonzero gradient */
    cr_assert_gt(bad, 9e-3, "the checker missed a 1%% error: %g (%s)", bad, worst);
    cr_assert(strstr(worst, "input 0"), "worst element not named: %s", worst);
    L.after_backward = NULL;
    double good = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(good, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

Test(relu, gradcheck_reports_a_missing_gradient)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(nnt_layer_open(&L, "relu", NULL, 1, &nd, s, NULL, 1, 1, &err), NN_OK, "%s",
                 err.msg);
    push_off_kink(L.inputs[0], 0.05f);
    float f = 0.0f;
    L.after_backward = scale_grad_input;
    L.after_backward_ctx = &f;
    cr_assert_geq(nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst), 1.0, "%s", worst);
    nnt_layer_close(&L);
}

Test(relu, rejects_two_inputs_and_integer_input_naming_the_layer)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "relu", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
    const nn_dtype i32 = NN_I32;
    cr_assert_eq(nnt_layer_open(&L, "relu", NULL, 1, nd, s, &i32, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3]", "F32", NULL}), "%s",
              err.msg);
}

Test(relu, rejects_an_unknown_key)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    const char *kv[] = {"alpha=1", NULL};
    cr_assert_eq(nnt_layer_open(&L, "relu", kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"alpha", NULL}), "%s", err.msg);
}

Test(relu, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "relu", why, sizeof why), "%s", why);
}
