/* test_batchnorm.c: batch normalisation against a naive double-precision reference on
 * [N, C], [N, C, L] and [N, C, H, W]: batch statistics in training, running statistics updated
 * with PyTorch's momentum convention, eval using them; finite-difference gradients,
 * declarations and error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const int64_t shapes[][NN_MAX_DIMS] = {{5, 3}, {3, 4, 7}, {2, 3, 5, 7}, {1, 2, 3, 3}};
static const int ndims[] = {2, 3, 4, 4};

static int open_bn(nnt_layer *L, size_t k, const char *momentum, const char *affine,
                   int training, unsigned need_grad, nn_error *err)
{
    char m[32], a[32];
    snprintf(m, sizeof m, "momentum=%s", momentum);
    snprintf(a, sizeof a, "affine=%s", affine);
    const char *kv[] = {m, a, NULL};
    return nnt_layer_open(L, "batchnorm", kv, 1, &ndims[k], &shapes[k], NULL, training,
                          need_grad, err);
}

/* per channel: mean and biased variance of x, in double */
static void stats(const nn_tensor *x, double *mean, double *var)
{
    int64_t n = x->shape[0], c = x->shape[1], inner = nn_tensor_numel(x) / (n * c);
    const float *p = NN_F32P(x);
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++)
                s += p[(i * c + ch) * inner + j];
        mean[ch] = s / (double)(n * inner);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                double d = p[(i * c + ch) * inner + j] - mean[ch];
                s2 += d * d;
            }
        var[ch] = s2 / (double)(n * inner);
    }
}

/* y = w (x - mean) / sqrt(var + eps) + b with the given statistics */
static void check_output(const nnt_layer *L, const double *mean, const double *var, int affine,
                         double tol, const char *what)
{
    const nn_tensor *x = L->inputs[0];
    int64_t n = x->shape[0], c = x->shape[1], inner = nn_tensor_numel(x) / (n * c);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t j = 0; j < inner; j++) {
                int64_t idx = (i * c + ch) * inner + j;
                double w = affine ? NN_F32P(L->params[0])[ch] : 1;
                double b = affine ? NN_F32P(L->params[1])[ch] : 0;
                double want = w * (NN_F32P(x)[idx] - mean[ch]) / sqrt(var[ch] + 1e-5) + b;
                double got = NN_F32P(L->output)[idx];
                cr_assert(fabs(got - want) <= tol, "%s: y[%lld] = %.7g, want %.7g", what,
                          (long long)idx, got, want);
            }
}

Test(batchnorm, training_forward_normalises_with_batch_statistics)
{
    for (size_t k = 0; k < 4; k++)
        for (int affine = 0; affine < 2; affine++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_bn(&L, k, "0.1", affine ? "true" : "false", 1, 1, &err), NN_OK,
                         "%s", err.msg);
            cr_assert_eq(L.setup.n_params, affine ? 2 : 0);
            cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
            double mean[8], var[8];
            stats(L.inputs[0], mean, var);
            /* float32 normalisation of values of magnitude <= ~3: 1e-5 absolute */
            check_output(&L, mean, var, affine, 1e-5, "batch statistics");
            nnt_layer_close(&L);
        }
}

Test(batchnorm, running_statistics_follow_the_pytorch_momentum_rule)
{
    for (size_t k = 0; k < 4; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_bn(&L, k, "0.3", "true", 1, 1, &err), NN_OK, "%s", err.msg);
        int64_t c = shapes[k][1], cnt = nn_tensor_numel(L.inputs[0]) / c;
        const float *rm = NN_F32P(L.buffers[0]), *rv = NN_F32P(L.buffers[1]);
        cr_assert_str_eq(L.setup.buffers[0].name, "running_mean");
        cr_assert_str_eq(L.setup.buffers[1].name, "running_var");
        double want_m[8], want_v[8], mean[8], var[8];
        for (int64_t ch = 0; ch < c; ch++) {
            cr_assert_eq(rm[ch], 0.0f, "running_mean starts at 0");
            cr_assert_eq(rv[ch], 1.0f, "running_var starts at 1");
            want_m[ch] = 0;
            want_v[ch] = 1;
        }
        for (int step = 0; step < 3; step++) {
            nnt_fill_uniform(L.inputs[0], 50 + (uint64_t)step, -1 + step, 2 + 2 * step);
            cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
            stats(L.inputs[0], mean, var);
            for (int64_t ch = 0; ch < c; ch++) {
                want_m[ch] = 0.7 * want_m[ch] + 0.3 * mean[ch];
                want_v[ch] = 0.7 * want_v[ch] + 0.3 * var[ch] * (double)cnt / (double)(cnt - 1);
                cr_assert(fabs(rm[ch] - want_m[ch]) <= 1e-5, "shape %zu step %d: mean %g, want %g",
                          k, step, rm[ch], want_m[ch]);
                cr_assert(fabs(rv[ch] - want_v[ch]) <= 1e-5 * (1 + want_v[ch]),
                          "shape %zu step %d: var %g, want %g", k, step, rv[ch], want_v[ch]);
            }
        }
        /* an eval step uses the running statistics and leaves them alone */
        float before_m[8], before_v[8];
        memcpy(before_m, rm, sizeof(float) * (size_t)c);
        memcpy(before_v, rv, sizeof(float) * (size_t)c);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(memcmp(before_m, rm, sizeof(float) * (size_t)c), 0);
        cr_assert_eq(memcmp(before_v, rv, sizeof(float) * (size_t)c), 0);
        check_output(&L, want_m, want_v, 1, 1e-4, "eval step of a training plan");
        nnt_layer_close(&L);
    }
}

Test(batchnorm, eval_plan_uses_the_running_statistics)
{
    for (size_t k = 0; k < 4; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_bn(&L, k, "0.1", "true", 0, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(L.setup.n_buffers, 2, "an eval plan keeps only the running statistics");
        double rm[8], rv[8];
        for (int64_t ch = 0; ch < shapes[k][1]; ch++) {
            rm[ch] = NN_F32P(L.buffers[0])[ch] = (float)(0.25 * (double)ch - 0.3);
            rv[ch] = NN_F32P(L.buffers[1])[ch] = (float)(0.5 + 0.75 * (double)ch);
        }
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        check_output(&L, rm, rv, 1, 1e-5, "eval plan");
        nnt_layer_close(&L);
    }
}

Test(batchnorm, backward_matches_finite_differences)
{
    for (size_t k = 0; k < 4; k++)
        for (int affine = 0; affine < 2; affine++) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_bn(&L, k, "0.1", affine ? "true" : "false", 1, 1, &err), NN_OK,
                         "%s", err.msg);
            /* bound here, run on another thread as [train] replicas run it */
            cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
            /* eps 1e-2 on float32: rounding of sum(y .* R) over 2 eps ~1e-4; the O(eps^2)
             * truncation through 1/sigma (sigma ~ 0.58 for U(-1, 1)) ~1e-4; floor 1e-2.
             * Bound 3e-3. */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 3e-3, "shape %zu affine %d: %s", k, affine, worst);
            nnt_layer_close(&L);
        }
}

Test(batchnorm, first_layer_without_input_gradient_still_gets_scale_and_shift_gradients)
{
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_bn(&L, 2, "0.1", "true", 1, 0, &err), NN_OK, "%s", err.msg);
    /* as backward_matches_finite_differences */
    double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 3e-3, "%s", worst);
    nnt_layer_close(&L);
}

Test(batchnorm, declares_norm_parameters_and_state_buffers)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_bn(&L, 2, "0.1", "true", 1, 1, &err), NN_OK, "%s", err.msg);
    const nn_param_decl *w = &L.setup.params[0], *b = &L.setup.params[1];
    cr_assert_str_eq(w->name, "weight");
    cr_assert_eq(w->shape[0], 3);
    cr_assert_eq(w->init, NN_INIT_ONES);
    cr_assert_eq(w->flags, NN_TENSOR_NORM);
    cr_assert_str_eq(b->name, "bias");
    cr_assert_eq(b->init, NN_INIT_ZEROS);
    cr_assert_eq(b->flags, NN_TENSOR_NORM);
    cr_assert_eq(L.setup.buffers[0].kind, NN_BUF_STATE);
    cr_assert_eq(L.setup.buffers[0].init, NN_INIT_ZEROS);
    cr_assert_eq(L.setup.buffers[1].kind, NN_BUF_STATE);
    cr_assert_eq(L.setup.buffers[1].init, NN_INIT_ONES);
    cr_assert_eq(L.setup.buffers[2].kind, NN_BUF_SAVED);
    cr_assert_eq(L.setup.buffers[3].kind, NN_BUF_SAVED);
    nnt_layer_close(&L);
}

Test(batchnorm, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv;
        const char *key;
    } bad[] = {{"momentum=1.5", "momentum"}, {"momentum=-0.1", "momentum"},
               {"eps=0", "eps"},             {"eps=-1e-5", "eps"},
               {"affine=perhaps", "affine"}, {"mommentum=0.1", "mommentum"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[] = {bad[i].kv, NULL};
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "batchnorm", kv, 1, &ndims[0], &shapes[0], NULL, 0, 0,
                                     &err),
                      NN_OK, "%s accepted", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(batchnorm, shape_errors_name_the_input_shape)
{
    nnt_layer L;
    nn_error err = {0};
    const int64_t flat[][NN_MAX_DIMS] = {{7}}, one[][NN_MAX_DIMS] = {{1, 4}};
    const int nd1 = 1, nd2 = 2;
    cr_assert_eq(nnt_layer_open(&L, "batchnorm", NULL, 1, &nd1, flat, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[7]", NULL}), "%s", err.msg);
    cr_assert_eq(nnt_layer_open(&L, "batchnorm", NULL, 1, &nd2, one, NULL, 1, 1, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[1, 4]", "more than 1 value", NULL}), "%s",
              err.msg);
    /* batch 1 is fine for inference */
    cr_assert_eq(nnt_layer_open(&L, "batchnorm", NULL, 1, &nd2, one, NULL, 0, 0, &err), NN_OK,
                 "%s", err.msg);
    nnt_layer_close(&L);
}

Test(batchnorm, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "batchnorm", why, sizeof why), "%s",
              why);
}
