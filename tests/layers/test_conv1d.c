/* test_conv1d.c: the conv1d layer ([N, C, L], for audio) against a naive double-precision loop
 * (stride, padding incl. 'same', dilation, groups, batch 1, odd lengths), fused activation,
 * gradients (its test spec through the SDK's checker), declarations and error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "spec_check.h"

typedef struct conv_case {
    int64_t n, c, len, filters, k, s, d, groups;
    const char *padding;
    int64_t p; /* explicit padding the reference uses ('same' is computed) */
} conv_case;

static int open_conv(nnt_layer *L, const conv_case *c, const char *act, int training,
                     unsigned need_grad, nn_error *err)
{
    char k[7][48];
    snprintf(k[0], sizeof k[0], "filters=%lld", (long long)c->filters);
    snprintf(k[1], sizeof k[1], "kernel=%lld", (long long)c->k);
    snprintf(k[2], sizeof k[2], "stride=%lld", (long long)c->s);
    snprintf(k[3], sizeof k[3], "padding=%s", c->padding);
    snprintf(k[4], sizeof k[4], "dilation=%lld", (long long)c->d);
    snprintf(k[5], sizeof k[5], "groups=%lld", (long long)c->groups);
    snprintf(k[6], sizeof k[6], "activation=%s", act);
    const char *kv[] = {k[0], k[1], k[2], k[3], k[4], k[5], k[6], NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{c->n, c->c, c->len}};
    const int nd = 3;
    return nnt_layer_open(L, "conv1d", kv, 1, &nd, shape, NULL, training, need_grad, err);
}

static void check_forward(const nnt_layer *L, const conv_case *c, int relu, double tol)
{
    int64_t span = (c->k - 1) * c->d + 1, out, pl;
    if (!strcmp(c->padding, "same")) {
        out = (c->len + c->s - 1) / c->s;
        int64_t tot = (out - 1) * c->s + span - c->len;
        pl = tot > 0 ? tot / 2 : 0;
    } else {
        pl = c->p;
        out = (c->len + 2 * c->p - span) / c->s + 1;
    }
    cr_assert_eq(L->output->dl.ndim, 3);
    cr_assert_eq(L->output->shape[1], c->filters);
    cr_assert_eq(L->output->shape[2], out, "L' %lld, want %lld",
                 (long long)L->output->shape[2], (long long)out);
    const float *x = NN_F32P(L->inputs[0]), *w = NN_F32P(L->params[0]);
    const float *b = NN_F32P(L->params[1]), *y = NN_F32P(L->output);
    int64_t cg = c->c / c->groups, fg = c->filters / c->groups;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->filters; o++)
            for (int64_t i = 0; i < out; i++) {
                double z = b[o];
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t u = 0; u < c->k; u++) {
                        int64_t t = i * c->s - pl + u * c->d;
                        if (t >= 0 && t < c->len)
                            z += (double)x[(n * c->c + o / fg * cg + ci) * c->len + t] *
                                 w[(o * cg + ci) * c->k + u];
                    }
                double want = relu && z < 0 ? 0 : z, got = y[(n * c->filters + o) * out + i];
                cr_assert(fabs(got - want) <= tol * (1 + fabs(want)),
                          "len %lld k %lld s %lld p %s d %lld g %lld: y[%lld][%lld][%lld] = "
                          "%.7g, want %.7g",
                          (long long)c->len, (long long)c->k, (long long)c->s, c->padding,
                          (long long)c->d, (long long)c->groups, (long long)n, (long long)o,
                          (long long)i, got, want);
            }
}

static const conv_case cases[] = {
    /* n c  len  f  k  s  d  g  padding p */
    {1, 1, 1, 1, 1, 1, 1, 1, "0", 0},
    {2, 3, 17, 5, 3, 1, 1, 1, "1", 1},
    {3, 4, 16, 6, 5, 2, 1, 2, "same", 0},
    {1, 6, 23, 6, 3, 3, 2, 6, "2", 2},
    {2, 2, 50, 4, 4, 1, 3, 1, "same", 0}, /* even kernel, dilated */
    {4, 1, 400, 8, 25, 10, 1, 1, "valid", 0}, /* a strided audio front end */
    {2, 32, 20, 16, 3, 1, 1, 1, "same", 0},   /* blocked layouts inside */
};

Test(conv1d, forward_matches_a_naive_loop_with_stride_padding_dilation_and_groups)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int relu = 0; relu < 2; relu++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_conv(&L, &cases[k], relu ? "relu" : "none", 0, 0, &err), NN_OK,
                         "case %zu: %s", k, err.msg);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            /* float32 sums of at most 25 products: relative 1e-5; relu is fused */
            check_forward(&L, &cases[k], relu, 1e-5);
            nnt_layer_close(&L);
        }
}

Test(conv1d, backward_matches_finite_differences)
{
    /* its test spec: stride, groups, dilation, 'same' padding, fused tanh/gelu, no bias, and
     * 16 channels (blocked layouts inside) */
    spec_gradient("conv1d", 3);
}

Test(conv1d, declares_oiw_weight_with_fans)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_conv(&L, &cases[2], "none", 0, 0, &err), NN_OK, "%s", err.msg);
    const nn_param_decl *w = &L.setup.params[0];
    cr_assert_eq(w->ndim, 3);
    cr_assert_eq(w->shape[0], 6);
    cr_assert_eq(w->shape[1], 2);
    cr_assert_eq(w->shape[2], 5);
    cr_assert_eq(w->fan_in, 10);
    cr_assert_eq(w->fan_out, 30);
    cr_assert_eq(L.setup.params[1].flags, NN_TENSOR_BIAS);
    nnt_layer_close(&L);
}

Test(conv1d, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv;
        const char *key;
    } bad[] = {{"kernel=3,3", "kernel"}, {"stride=1,2", "stride"}, {"padding=1,1", "padding"},
               {"padding=same1", "padding"}, {"dilation=2,2", "dilation"},
               {"groups=5", "groups"}};
    const int64_t shape[][NN_MAX_DIMS] = {{2, 4, 30}};
    const int nd = 3;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[4] = {"filters=4", "kernel=3", NULL, NULL};
        kv[!strncmp(bad[i].kv, "kernel", 6) ? 1 : 2] = bad[i].kv;
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "conv1d", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_OK,
                      "%s accepted", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(conv1d, shape_errors_name_the_input_shape)
{
    nnt_layer L;
    nn_error err = {0};
    const char *kv[] = {"filters=4", "kernel=5", NULL};
    const int64_t s4[][NN_MAX_DIMS] = {{2, 4, 8, 8}};
    const int nd4 = 4, nd3 = 3;
    cr_assert_eq(nnt_layer_open(&L, "conv1d", kv, 1, &nd4, s4, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 4, 8, 8]", "[N, C, L]", NULL}), "%s",
              err.msg);
    const int64_t shortl[][NN_MAX_DIMS] = {{2, 4, 3}};
    cr_assert_eq(nnt_layer_open(&L, "conv1d", kv, 1, &nd3, shortl, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 4, 3]", "kernel", NULL}), "%s", err.msg);
}

Test(conv1d, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "conv1d", why, sizeof why), "%s", why);
}
