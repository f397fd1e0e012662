/* test_patch_embedding.c: patch_embedding against a naive strided convolution (with and
 * without class token and bias, 1 and 3 channels), gradients against finite differences
 * (and with no input gradient), the conv-shaped parameters and the error messages.
 * PyTorch's Conv2d on the same weights: test_torch_compat.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static int open_pe(nnt_layer *L, int64_t N, int64_t C, int64_t H, int64_t W, int64_t p,
                   int64_t E, int cls, int bias, int training, unsigned need, nn_error *err)
{
    char kp[32], ke[32], kc[32], kb[32];
    snprintf(kp, sizeof kp, "patch_size=%lld", (long long)p);
    snprintf(ke, sizeof ke, "embed_dim=%lld", (long long)E);
    snprintf(kc, sizeof kc, "class_token=%s", cls ? "true" : "false");
    snprintf(kb, sizeof kb, "bias=%s", bias ? "true" : "false");
    const char *kv[] = {kp, ke, kc, kb, NULL};
    const int64_t sh[1][NN_MAX_DIMS] = {{N, C, H, W}};
    const int nd = 4;
    return nnt_layer_open(L, "patch_embedding", kv, 1, &nd, sh, NULL, training, need, err);
}

/* y[n, 1? + gy * gw + gx, e] = b[e] + sum_{c,i,j} w[e, c, i, j] x[n, c, gy p + i, gx p + j] */
static void check(const nnt_layer *L, int64_t N, int64_t C, int64_t H, int64_t W, int64_t p,
                  int64_t E, int cls, int bias)
{
    const float *x = NN_F32P(L->inputs[0]), *w = NN_F32P(L->params[0]);
    const float *b = bias ? NN_F32P(L->params[1]) : NULL;
    const float *tok = cls ? NN_F32P(L->params[bias ? 2 : 1]) : NULL;
    const float *y = NN_F32P(L->output);
    int64_t gh = H / p, gw = W / p, T = gh * gw + (cls ? 1 : 0);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t e = 0; cls && e < E; e++)
            cr_assert_eq(y[n * T * E + e], tok[e]);
        for (int64_t gy = 0; gy < gh; gy++)
            for (int64_t gx = 0; gx < gw; gx++)
                for (int64_t e = 0; e < E; e++) {
                    double a = b ? b[e] : 0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < p; i++)
                            for (int64_t j = 0; j < p; j++)
                                a += (double)w[((e * C + c) * p + i) * p + j] *
                                     x[((n * C + c) * H + gy * p + i) * W + gx * p + j];
                    int64_t t = (cls ? 1 : 0) + gy * gw + gx;
                    double got = y[(n * T + t) * E + e];
                    /* float32 sums of <= 147 products of magnitude <= 0.5: 1e-5 relative */
                    cr_assert(fabs(got - a) <= 1e-5 * (1 + fabs(a)),
                              "n %lld patch (%lld, %lld) e %lld: %.7g, want %.7g", (long long)n,
                              (long long)gy, (long long)gx, (long long)e, got, a);
                }
    }
}

Test(patch_embedding, forward_matches_a_naive_strided_convolution)
{
    static const int64_t cases[][6] = {{2, 1, 28, 28, 7, 16}, {3, 3, 8, 12, 4, 5},
                                       {1, 2, 6, 6, 1, 3},    {2, 1, 4, 4, 4, 7}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int cls = 0; cls < 2; cls++)
            for (int bias = 0; bias < 2; bias++) {
                const int64_t *c = cases[k];
                nnt_layer L;
                nn_error err = {0};
                cr_assert_eq(open_pe(&L, c[0], c[1], c[2], c[3], c[4], c[5], cls, bias, 0, 0,
                                     &err),
                             NN_OK, "%s", err.msg);
                cr_assert_eq(L.output->shape[1], (c[2] / c[4]) * (c[3] / c[4]) + cls);
                cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
                check(&L, c[0], c[1], c[2], c[3], c[4], c[5], cls, bias);
                nnt_layer_close(&L);
            }
}

Test(patch_embedding, backward_matches_finite_differences)
{
    for (int cls = 0; cls < 2; cls++)
        for (unsigned need = 0; need < 2; need++) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_pe(&L, 2, 2, 4, 6, 2, 3, cls, 1, 1, need, &err), NN_OK, "%s",
                         err.msg);
            /* bound here, run on another thread as [train] replicas run it */
            cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
            /* bilinear: float rounding of sum(y .* R) only; floor 1e-2, bound 1e-3 */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 1e-3, "cls %d need %u: %s", cls, need, worst);
            nnt_layer_close(&L);
        }
}

Test(patch_embedding, declares_conv_shaped_parameters_and_a_class_token)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_pe(&L, 2, 3, 8, 8, 4, 6, 1, 1, 0, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(L.setup.n_params, 3);
    const nn_param_decl *w = &L.setup.params[0], *b = &L.setup.params[1], *t = &L.setup.params[2];
    cr_assert_str_eq(w->name, "proj.weight");
    cr_assert_eq(w->ndim, 4);
    cr_assert_eq(w->shape[0], 6);
    cr_assert_eq(w->shape[1], 3);
    cr_assert_eq(w->shape[2], 4);
    cr_assert_eq(w->shape[3], 4);
    cr_assert_eq(w->fan_in, 48);
    cr_assert_eq(w->init, NN_INIT_FAN_IN_UNIFORM);
    cr_assert_str_eq(b->name, "proj.bias");
    cr_assert_eq(b->flags, NN_TENSOR_BIAS);
    cr_assert_str_eq(t->name, "cls_token");
    cr_assert_eq(t->ndim, 3);
    cr_assert_eq(t->shape[2], 6);
    cr_assert_eq(t->init, NN_INIT_NORMAL);
    cr_assert_float_eq(t->init_arg, 0.02, 1e-12);
    cr_assert_eq(L.setup.flops, 2ull * 2 * 4 * 48 * 6);
    nnt_layer_close(&L);
}

Test(patch_embedding, errors_name_the_layer_and_the_shape)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_pe(&L, 2, 1, 28, 28, 5, 8, 0, 1, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 1, 28, 28]", "5 x 5", NULL}),
              "%s", err.msg);
    const int64_t sh[1][NN_MAX_DIMS] = {{2, 28, 28}};
    const int nd = 3;
    const char *kv[] = {"patch_size=7", "embed_dim=4", NULL};
    cr_assert_eq(nnt_layer_open(&L, "patch_embedding", kv, 1, &nd, sh, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[N, C, H, W]", "[2, 28, 28]", NULL}), "%s",
              err.msg);
    const char *missing[] = {"patch_size=7", NULL};
    const int nd4 = 4;
    const int64_t sh4[1][NN_MAX_DIMS] = {{2, 1, 28, 28}};
    cr_assert_neq(nnt_layer_open(&L, "patch_embedding", missing, 1, &nd4, sh4, NULL, 0, 0, &err),
                  NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"embed_dim", NULL}), "%s", err.msg);
}

Test(patch_embedding, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "patch_embedding", why, sizeof why),
              "%s", why);
}
