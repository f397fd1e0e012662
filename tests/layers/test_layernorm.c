/* test_layernorm.c: layer normalisation over the last dim against a naive double-precision
 * reference (2 to 4 dims, D = 1, batch 1, with and without affine), eval plan = training
 * plan, finite-difference gradients, declarations and error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const int64_t shapes[][NN_MAX_DIMS] = {{3, 7}, {2, 3, 5}, {1, 4, 2, 6}, {4, 33}, {2, 1}};
static const int ndims[] = {2, 3, 4, 2, 2};

static int open_ln(nnt_layer *L, size_t k, int affine, int training, unsigned need_grad,
                   nn_error *err)
{
    const char *kv[] = {affine ? "elementwise_affine=true" : "elementwise_affine=false", NULL};
    return nnt_layer_open(L, "layernorm", kv, 1, &ndims[k], &shapes[k], NULL, training,
                          need_grad, err);
}

static void check_output(const nnt_layer *L, int affine)
{
    const nn_tensor *x = L->inputs[0];
    int64_t d = x->shape[x->dl.ndim - 1], rows = nn_tensor_numel(x) / d;
    const float *p = NN_F32P(x), *y = NN_F32P(L->output);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < d; j++)
            s += p[r * d + j];
        double mean = s / (double)d;
        for (int64_t j = 0; j < d; j++)
            s2 += (p[r * d + j] - mean) * (p[r * d + j] - mean);
        double inv = 1 / sqrt(s2 / (double)d + 1e-5);
        for (int64_t j = 0; j < d; j++) {
            double w = affine ? NN_F32P(L->params[0])[j] : 1;
            double b = affine ? NN_F32P(L->params[1])[j] : 0;
            double want = w * (p[r * d + j] - mean) * inv + b, got = y[r * d + j];
            /* float32 normalisation of values of magnitude <= ~5: 1e-5 absolute */
            cr_assert(fabs(got - want) <= 1e-5, "row %lld col %lld: %.7g, want %.7g",
                      (long long)r, (long long)j, got, want);
        }
    }
}

Test(layernorm, forward_matches_a_naive_loop_in_eval_and_training_plans)
{
    for (size_t k = 0; k < sizeof ndims / sizeof ndims[0]; k++)
        for (int affine = 0; affine < 2; affine++)
            for (int training = 0; training < 2; training++) {
                nnt_layer L;
                nn_error err = {0};
                cr_assert_eq(open_ln(&L, k, affine, training, 1, &err), NN_OK, "%s", err.msg);
                cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
                check_output(&L, affine);
                nnt_layer_close(&L);
            }
}

Test(layernorm, backward_matches_finite_differences)
{
    for (size_t k = 0; k < 4; k++)
        for (int affine = 0; affine < 2; affine++) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_ln(&L, k, affine, 1, 1, &err), NN_OK, "%s", err.msg);
            /* bound here, run on another thread as [train] replicas run it */
            cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
            /* eps 1e-2 on float32: rounding noise ~1e-4 relative, O(eps^2) truncation through
             * 1/sigma ~1e-4; floor 1e-2. Bound 3e-3. */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 3e-3, "shape %zu affine %d: %s", k, affine, worst);
            nnt_layer_close(&L);
        }
}

Test(layernorm, first_layer_without_input_gradient_still_gets_scale_and_shift_gradients)
{
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_ln(&L, 1, 1, 1, 0, &err), NN_OK, "%s", err.msg);
    /* as backward_matches_finite_differences */
    double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 3e-3, "%s", worst);
    nnt_layer_close(&L);
}

Test(layernorm, declares_norm_parameters_over_the_last_dim)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_ln(&L, 2, 1, 0, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(L.setup.n_params, 2);
    cr_assert_eq(L.setup.params[0].shape[0], 6);
    cr_assert_eq(L.setup.params[0].init, NN_INIT_ONES);
    cr_assert_eq(L.setup.params[0].flags, NN_TENSOR_NORM);
    cr_assert_eq(L.setup.params[1].init, NN_INIT_ZEROS);
    cr_assert_eq(L.setup.params[1].flags, NN_TENSOR_NORM);
    cr_assert_eq(L.setup.n_buffers, 0, "an eval plan keeps nothing");
    nnt_layer_close(&L);
}

Test(layernorm, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv;
        const char *key;
    } bad[] = {{"eps=0", "eps"}, {"eps=x", "eps"}, {"elementwise_affine=2", "elementwise_affine"},
               {"affine=true", "affine"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[] = {bad[i].kv, NULL};
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "layernorm", kv, 1, &ndims[0], &shapes[0], NULL, 0, 0,
                                     &err),
                      NN_OK, "%s accepted", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(layernorm, shape_errors_name_the_input_shape)
{
    nnt_layer L;
    nn_error err = {0};
    const int64_t flat[][NN_MAX_DIMS] = {{7}}, big[][NN_MAX_DIMS] = {{1, 2, 2, 2, 2, 3}};
    const int nd1 = 1, nd6 = 6;
    cr_assert_eq(nnt_layer_open(&L, "layernorm", NULL, 1, &nd1, flat, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[7]", NULL}), "%s", err.msg);
    cr_assert_eq(nnt_layer_open(&L, "layernorm", NULL, 1, &nd6, big, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[1, 2, 2, 2, 2, 3]", NULL}), "%s", err.msg);
}

Test(layernorm, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "layernorm", why, sizeof why), "%s",
              why);
}
