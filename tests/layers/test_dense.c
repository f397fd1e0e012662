/* test_dense.c: the dense layer against a naive double-precision loop, its fused activations
 * against the unfused reference, its gradients against finite differences, its parameter
 * declarations, and its error messages. Never compares against the plugin's own numbers. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

static double act_ref(int act, double z)
{
    switch (act) {
    case 1: return z > 0 ? z : 0;
    case 2: return tanh(z);
    case 3: return 1 / (1 + exp(-z));
    case 4: return 0.5 * z * (1 + erf(z / sqrt(2.0)));
    default: return z;
    }
}

static const char *const act_names[] = {"none", "relu", "tanh", "sigmoid", "gelu"};

/* y = act(x W^T + b) in double; W is [units, in] */
static void check_forward(nnt_layer *L, int act, int bias, double tol)
{
    const nn_tensor *x = L->inputs[0];
    int64_t n = x->shape[0], in = x->shape[1], u = L->output->shape[1];
    const float *X = NN_F32P(x), *W = NN_F32P(L->params[0]);
    const float *B = bias ? NN_F32P(L->params[1]) : NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < u; o++) {
            double z = B ? B[o] : 0;
            for (int64_t k = 0; k < in; k++)
                z += (double)X[i * in + k] * W[o * in + k];
            double want = act_ref(act, z), got = NN_F32P(L->output)[i * u + o];
            cr_assert(fabs(got - want) <= tol * (1 + fabs(want)),
                      "act %s, [%lld, %lld] -> %lld: y[%lld][%lld] = %.7g, want %.7g",
                      act_names[act], (long long)n, (long long)in, (long long)u, (long long)i,
                      (long long)o, got, want);
        }
}

static int open_dense(nnt_layer *L, int64_t n, int64_t in, const char *units, const char *act,
                      const char *bias, int training, unsigned need_grad, nn_error *err)
{
    char ku[32], ka[32], kb[32];
    snprintf(ku, sizeof ku, "units=%s", units);
    snprintf(ka, sizeof ka, "activation=%s", act);
    snprintf(kb, sizeof kb, "bias=%s", bias);
    const char *kv[] = {ku, ka, kb, NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{n, in}};
    const int nd = 2;
    return nnt_layer_open(L, "dense", kv, 1, &nd, shape, NULL, training, need_grad, err);
}

Test(dense, forward_matches_a_naive_loop_on_odd_shapes_and_batch_1)
{
    /* {batch, in, units}: batch 1, 1x1, odd sizes, and the MLP's first layer */
    static const int64_t cases[][3] = {{1, 1, 1}, {1, 7, 3}, {3, 5, 11}, {17, 33, 13},
                                       {128, 784, 256}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int bias = 0; bias < 2; bias++) {
            nnt_layer L;
            nn_error err = {0};
            char units[16];
            snprintf(units, sizeof units, "%lld", (long long)cases[c][2]);
            cr_assert_eq(open_dense(&L, cases[c][0], cases[c][1], units, "none",
                                    bias ? "true" : "false", 0, 0, &err),
                         NN_OK, "%s", err.msg);
            cr_assert_eq(L.setup.n_params, bias ? 2 : 1);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            /* float32 sums of up to 784 products of magnitude <= 0.5: relative 1e-5 */
            check_forward(&L, 0, bias, 1e-5);
            nnt_layer_close(&L);
        }
}

Test(dense, fused_activations_equal_the_unfused_reference_in_eval_and_training_plans)
{
    for (int act = 1; act < 5; act++)
        for (int training = 0; training < 2; training++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_dense(&L, 5, 9, "7", act_names[act], "true", training, 1, &err),
                         NN_OK, "%s", err.msg);
            nnt_fill_uniform(L.inputs[0], 77, -3, 3); /* reach the saturating parts */
            cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
            /* oneDNN's tanh/sigmoid/erf are vectorised approximations: ~1e-6 relative */
            check_forward(&L, act, 1, 1e-5);
            if (training) { /* an eval-mode step of a training plan (validation) */
                memset(NN_F32P(L.output), 0, nn_tensor_nbytes(L.output));
                cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
                check_forward(&L, act, 1, 1e-5);
            }
            nnt_layer_close(&L);
        }
}

Test(dense, backward_matches_finite_differences_for_every_activation)
{
    for (int act = 0; act < 5; act++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_dense(&L, 3, 7, "5", act_names[act], "true", 1, 1, &err), NN_OK, "%s",
                     err.msg);
        /* bound here, run on another thread as [train] replicas run it */
        cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
        /* eps 1e-2 on float32: the rounding of sum(y .* R) (~1e-6) over 2 eps gives ~1e-4 of
         * noise, the O(eps^2) truncation of tanh/sigmoid/gelu ~2e-5; floor 1e-2 keeps tiny
         * gradients from turning that noise into a large relative error. relu with these
         * seeds has no pre-activation within eps of its kink. Bound: 2e-3. */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 2e-3, "activation %s: %s", act_names[act], worst);
        nnt_layer_close(&L);
    }
}

Test(dense, first_layer_without_input_gradient_still_gets_weight_gradients)
{
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_dense(&L, 4, 6, "3", "tanh", "true", 1, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_null(L.io.grad_inputs[0]);
    /* same bound and reasoning as backward_matches_finite_differences_for_every_activation */
    double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 2e-3, "%s", worst);
    nnt_layer_close(&L);
}

Test(dense, declares_pytorch_shaped_parameters_with_fans_and_inits)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_dense(&L, 2, 784, "256", "relu", "true", 0, 0, &err), NN_OK, "%s",
                 err.msg);
    const nn_param_decl *w = &L.setup.params[0], *b = &L.setup.params[1];
    cr_assert_str_eq(w->name, "weight");
    cr_assert_eq(w->ndim, 2);
    cr_assert_eq(w->shape[0], 256);
    cr_assert_eq(w->shape[1], 784);
    cr_assert_eq(w->fan_in, 784);
    cr_assert_eq(w->fan_out, 256);
    cr_assert_eq(w->init, NN_INIT_FAN_IN_UNIFORM);
    cr_assert_eq(w->flags, 0u);
    cr_assert_str_eq(b->name, "bias");
    cr_assert_eq(b->shape[0], 256);
    cr_assert_eq(b->init, NN_INIT_FAN_IN_UNIFORM);
    cr_assert_eq(b->fan_in, 784);
    cr_assert_eq(b->flags, NN_TENSOR_BIAS);
    cr_assert_eq(L.setup.output.shape[0], 2);
    cr_assert_eq(L.setup.output.shape[1], 256);
    cr_assert_eq(L.setup.flops, 2ull * 2 * 784 * 256);
    nnt_layer_close(&L);

    static const struct {
        const char *v;
        nn_init want;
    } inits[] = {{"he_uniform", NN_INIT_HE_UNIFORM},
                 {"he_normal", NN_INIT_HE_NORMAL},
                 {"xavier_uniform", NN_INIT_XAVIER_UNIFORM},
                 {"xavier_normal", NN_INIT_XAVIER_NORMAL},
                 {"torch", NN_INIT_FAN_IN_UNIFORM}};
    for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
        char k[48];
        snprintf(k, sizeof k, "weight_init=%s", inits[i].v);
        const char *kv[] = {"units=3", k, "bias_init=zeros", NULL};
        const int64_t shape[][NN_MAX_DIMS] = {{2, 5}};
        const int nd = 2;
        cr_assert_eq(nnt_layer_open(&L, "dense", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_OK,
                     "%s", err.msg);
        cr_assert_eq(L.setup.params[0].init, inits[i].want, "%s", inits[i].v);
        cr_assert_eq(L.setup.params[1].init, NN_INIT_ZEROS);
        nnt_layer_close(&L);
    }
}

Test(dense, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv;
        const char *key;
    } bad[] = {{"units=0", "units"},           {"units=-3", "units"},
               {"units=abc", "units"},         {"activation=swish", "activation"},
               {"weight_init=zero", "weight_init"}, {"bias=maybe", "bias"},
               {"bias_init=ones", "bias_init"}, {"unit=3", "unit"}};
    const int64_t shape[][NN_MAX_DIMS] = {{2, 5}};
    const int nd = 2;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnt_layer L;
        nn_error err = {0};
        const char *kv[] = {strncmp(bad[i].kv, "unit", 4) ? "units=3" : bad[i].kv, bad[i].kv,
                            NULL};
        if (strncmp(bad[i].kv, "unit", 4) == 0)
            kv[1] = NULL;
        cr_assert_neq(nnt_layer_open(&L, "dense", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_OK,
                      "%s accepted", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
    nnt_layer L;
    nn_error err = {0};
    cr_assert_neq(nnt_layer_open(&L, "dense", NULL, 1, &nd, shape, NULL, 0, 0, &err), NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"units", NULL}), "%s", err.msg);
}

Test(dense, rejects_inputs_that_are_not_batch_by_features_naming_the_shape)
{
    const int64_t shape[][NN_MAX_DIMS] = {{2, 3, 4, 5}};
    const int nd = 4;
    const char *kv[] = {"units=3", NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "dense", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3, 4, 5]", "flatten", NULL}),
              "%s", err.msg);
    const int64_t two[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd2[] = {2, 2};
    cr_assert_eq(nnt_layer_open(&L, "dense", kv, 2, nd2, two, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s",
              err.msg);
    const nn_dtype i32 = NN_I32;
    cr_assert_eq(nnt_layer_open(&L, "dense", kv, 1, nd2, two, &i32, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "F32", NULL}), "%s", err.msg);
}

Test(dense, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "dense", why, sizeof why), "%s", why);
}
