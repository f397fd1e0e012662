/* test_tanh.c: the tanh layer against a double-precision reference written here, its
 * gradient against finite differences, its parameter checks and its documentation.
 * Never compares against numbers produced by the plugin under test. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"

static const int64_t shapes[][NN_MAX_DIMS] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7}, {5, 13, 11}};
static const int ndims[] = {2, 2, 2, 4, 3};
#define N_SHAPES (sizeof ndims / sizeof ndims[0])

static double ref(double x, double unused)
{
    (void)unused;
    return tanh(x);
}


static void check_forward(const char *const *kv, double arg)
{
    for (size_t k = 0; k < N_SHAPES; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(nnt_layer_open(&L, "tanh", kv, 1, &ndims[k], &shapes[k], NULL, 0, 0, &err),
                     NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 10 + k, -4, 4);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert(nn_shape_equal(L.output, L.inputs[0]));
        for (int64_t i = 0; i < nn_tensor_numel(L.output); i++) {
            double x = NN_F32P(L.inputs[0])[i], want = ref(x, arg), got = NN_F32P(L.output)[i];
            /* float32 libm functions are within a few ulp: 2e-6 relative plus 1e-7 absolute */
            cr_assert_leq(fabs(got - want), 1e-7 + 2e-6 * fabs(want),
                          "shape %zu, x = %.9g: got %.9g, want %.9g", k, x, got, want);
        }
        nnt_layer_close(&L);
    }
}

static void check_gradient(const char *const *kv)
{
    for (size_t k = 0; k < N_SHAPES; k++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(nnt_layer_open(&L, "tanh", kv, 1, &ndims[k], &shapes[k], NULL, 1, 1, &err),
                     NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 20 + k, -4, 4);
        /* eps 1e-2: truncation error eps^2 |d3y| / 6 ~ 2e-5 relative; the float rounding of the
         * one output that moves (ulp 4.8e-7 for |y| < 4) over the step 2 eps gives up to 2.4e-5
         * absolute, so the floor is 5e-2 (5e-4 relative at worst) and the bound 1e-3. A wrong
         * formula errs by more than 1e-1. */
        double e = nnt_gradcheck(&L, 1e-2, 5e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "shape %zu: %s", k, worst);
        nnt_layer_close(&L);
    }
}

Test(tanh, forward_matches_reference)
{
    check_forward(NULL, 0);
}

Test(tanh, backward_matches_finite_differences)
{
    check_gradient(NULL);
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
