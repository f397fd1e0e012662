/* test_conv2d.c: the conv2d layer against a naive double-precision loop (stride, padding incl.
 * 'same', dilation, groups, batch 1, odd sizes), fused activations, gradients (its test spec
 * through the SDK's checker), parameter declarations and error messages. Never uses the
 * plugin's own numbers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ref_conv.h"
#include "spec_check.h"

typedef struct conv_case {
    int64_t n, c, h, w, filters, kh, kw, sh, sw, dh, dw, groups;
    const char *padding; /* as given to the plugin */
    int64_t ph, pw;      /* top/left padding the reference uses (for 'same': computed) */
} conv_case;

static double act_ref(const char *act, double z)
{
    if (!strcmp(act, "relu"))
        return z > 0 ? z : 0;
    if (!strcmp(act, "tanh"))
        return tanh(z);
    if (!strcmp(act, "sigmoid"))
        return 1 / (1 + exp(-z));
    if (!strcmp(act, "gelu"))
        return 0.5 * z * (1 + erf(z / sqrt(2.0)));
    return z;
}

/* output extent; for 'same' also the leading padding (extra zero at the end, as PyTorch) */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, const char *padding,
                       int64_t p, int64_t *pl)
{
    int64_t span = (k - 1) * d + 1;
    if (!strcmp(padding, "same")) {
        int64_t out = (in + s - 1) / s, tot = (out - 1) * s + span - in;
        *pl = tot > 0 ? tot / 2 : 0;
        return out;
    }
    *pl = p;
    return (in + 2 * p - span) / s + 1;
}

static int open_conv(nnt_layer *L, const conv_case *c, const char *act, int bias, int training,
                     unsigned need_grad, nn_error *err)
{
    char k[8][48];
    snprintf(k[0], sizeof k[0], "filters=%lld", (long long)c->filters);
    snprintf(k[1], sizeof k[1], "kernel=%lld,%lld", (long long)c->kh, (long long)c->kw);
    snprintf(k[2], sizeof k[2], "stride=%lld,%lld", (long long)c->sh, (long long)c->sw);
    snprintf(k[3], sizeof k[3], "padding=%s", c->padding);
    snprintf(k[4], sizeof k[4], "dilation=%lld,%lld", (long long)c->dh, (long long)c->dw);
    snprintf(k[5], sizeof k[5], "groups=%lld", (long long)c->groups);
    snprintf(k[6], sizeof k[6], "activation=%s", act);
    snprintf(k[7], sizeof k[7], "bias=%s", bias ? "true" : "false");
    const char *kv[] = {k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{c->n, c->c, c->h, c->w}};
    const int nd = 4;
    return nnt_layer_open(L, "conv2d", kv, 1, &nd, shape, NULL, training, need_grad, err);
}

static void check_forward(const nnt_layer *L, const conv_case *c, const char *act, int bias,
                          double tol)
{
    int64_t ph, pw;
    int64_t oh = out_len(c->h, c->kh, c->sh, c->dh, c->padding, c->ph, &ph);
    int64_t ow = out_len(c->w, c->kw, c->sw, c->dw, c->padding, c->pw, &pw);
    cr_assert_eq(L->output->dl.ndim, 4);
    cr_assert_eq(L->output->shape[0], c->n);
    cr_assert_eq(L->output->shape[1], c->filters);
    cr_assert_eq(L->output->shape[2], oh, "padding %s: H' %lld, want %lld", c->padding,
                 (long long)L->output->shape[2], (long long)oh);
    cr_assert_eq(L->output->shape[3], ow, "padding %s: W' %lld, want %lld", c->padding,
                 (long long)L->output->shape[3], (long long)ow);
    const float *x = NN_F32P(L->inputs[0]), *w = NN_F32P(L->params[0]);
    const float *b = bias ? NN_F32P(L->params[1]) : NULL, *y = NN_F32P(L->output);
    int64_t cg = c->c / c->groups, fg = c->filters / c->groups;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->filters; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double z = b ? b[o] : 0;
                    int64_t g = o / fg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t u = 0; u < c->kh; u++)
                            for (int64_t v = 0; v < c->kw; v++) {
                                int64_t hi = i * c->sh - ph + u * c->dh;
                                int64_t wi = j * c->sw - pw + v * c->dw;
                                if (hi < 0 || hi >= c->h || wi < 0 || wi >= c->w)
                                    continue;
                                z += (double)x[((n * c->c + g * cg + ci) * c->h + hi) * c->w +
                                               wi] *
                                     w[((o * cg + ci) * c->kh + u) * c->kw + v];
                            }
                    double want = act_ref(act, z);
                    double got = y[((n * c->filters + o) * oh + i) * ow + j];
                    cr_assert(fabs(got - want) <= tol * (1 + fabs(want)),
                              "case %lldx%lldx%lldx%lld k%lldx%lld s%lld p%s d%lld g%lld act %s: "
                              "y[%lld][%lld][%lld][%lld] = %.7g, want %.7g",
                              (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w,
                              (long long)c->kh, (long long)c->kw, (long long)c->sh, c->padding,
                              (long long)c->dh, (long long)c->groups, act, (long long)n,
                              (long long)o, (long long)i, (long long)j, got, want);
                }
}

static const conv_case cases[] = {
    /* n  c   h   w  f  kh kw sh sw dh dw g  padding      ph pw */
    {1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1, 1, "0", 0, 0},
    {2, 3, 7, 6, 4, 3, 2, 2, 1, 1, 1, 1, "1,0", 1, 0},
    {3, 4, 9, 8, 6, 3, 3, 1, 1, 2, 2, 2, "same", 0, 0},
    {2, 6, 8, 7, 6, 3, 3, 2, 2, 1, 1, 3, "1", 1, 1},
    {1, 5, 11, 10, 5, 4, 3, 2, 3, 1, 2, 5, "same", 0, 0}, /* depthwise, even kernel */
    {2, 2, 6, 9, 3, 1, 5, 3, 2, 1, 1, 1, "valid", 0, 0},
    {1, 1, 28, 28, 32, 5, 5, 1, 1, 1, 1, 1, "2", 2, 2},   /* the CNN's first layer */
    {2, 32, 7, 6, 20, 3, 3, 1, 1, 1, 1, 1, "1", 1, 1},    /* blocked layouts inside */
};

Test(conv2d, forward_matches_a_naive_loop_with_stride_padding_dilation_and_groups)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int bias = 0; bias < 2; bias++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_conv(&L, &cases[k], "none", bias, 0, 0, &err), NN_OK,
                         "case %zu: %s", k, err.msg);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            /* float32 sums of at most 100 products: relative 1e-5 */
            check_forward(&L, &cases[k], "none", bias, 1e-5);
            nnt_layer_close(&L);
        }
}

Test(conv2d, fused_activations_equal_the_unfused_reference_in_eval_and_training_plans)
{
    static const char *const acts[] = {"relu", "tanh", "sigmoid", "gelu"};
    /* cases[3] (grouped) runs plain gemm kernels, cases[7] (32 channels) blocked jit ones */
    static const size_t which[] = {3, 7};
    for (size_t a = 0; a < 8; a++)
        for (int training = 0; training < 2; training++) {
            const conv_case *cc = &cases[which[a / 4]];
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_conv(&L, cc, acts[a % 4], 1, training, 1, &err), NN_OK, "%s",
                         err.msg);
            nnt_fill_uniform(L.inputs[0], 99, -3, 3);
            cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
            /* oneDNN's vectorised tanh/sigmoid/erf: ~1e-6 relative */
            check_forward(&L, cc, acts[a % 4], 1, 1e-5);
            if (training) { /* eval-mode step of a training plan */
                memset(NN_F32P(L.output), 0, nn_tensor_nbytes(L.output));
                cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
                check_forward(&L, cc, acts[a % 4], 1, 1e-5);
            }
            nnt_layer_close(&L);
        }
}

Test(conv2d, backward_matches_finite_differences)
{
    /* its test spec: strides, dilation, groups, 'same' padding, fused tanh/gelu/sigmoid, no
     * bias, and 16 channels (oneDNN picks blocked input, weights and output, all reordered) */
    spec_gradient("conv2d", 5);
}

/* few input channels: backward-weights is libnn_dnnl's own kernel (nn_conv_bwdw_blk.c) where
 * the CPU has AVX2, else oneDNN's; either way dw and db equal the naive double sums */
static const conv_case few[] = {
    /* n  c   h   w  f  kh kw sh sw dh dw g  padding  ph pw */
    {3, 1, 28, 28, 32, 5, 5, 1, 1, 1, 1, 1, "2", 2, 2},  /* the CNN's first layer */
    {2, 3, 13, 11, 20, 3, 3, 2, 2, 1, 1, 1, "1", 1, 1},  /* RGB, stride 2, 20 = 8 + 8 + 4 */
    {2, 1, 12, 15, 16, 3, 7, 1, 2, 2, 1, 1, "2,3", 2, 3}, /* dilation, 7 taps: 5 + 2 */
    {1, 2, 9, 10, 8, 4, 2, 3, 1, 1, 2, 1, "valid", 0, 0},
    {2, 1, 16, 14, 20, 3, 6, 1, 1, 1, 1, 1, "1,2", 1, 2}, /* 6 taps: 5 + 1; 8 + 8 + 4 */
};

/* dw and db of each case through the plugin against the naive double sums */
static void check_weight_grads(const conv_case *cases_, size_t n_cases)
{
    for (size_t k = 0; k < n_cases; k++) {
        const conv_case *c = &cases_[k];
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_conv(&L, c, "none", 1, 1, 0, &err), NN_OK, "case %zu: %s", k, err.msg);
        /* bound here, run on another thread as [train] replicas run it */
        cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 11 + k, -1, 1);
        nnt_fill_uniform(L.grad_output, 17 + k, -1, 1);
        cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
        int64_t ph, pw, oh = out_len(c->h, c->kh, c->sh, c->dh, c->padding, c->ph, &ph);
        int64_t ow = out_len(c->w, c->kw, c->sw, c->dw, c->padding, c->pw, &pw);
        const float *x = NN_F32P(L.inputs[0]), *dy = NN_F32P(L.grad_output);
        const float *dw = NN_F32P(L.param_grads[0]), *db = NN_F32P(L.param_grads[1]);
        const ref_conv r = {c->n, c->c, c->h, c->w, c->filters, oh, ow, c->kh, c->kw, c->sh,
                            c->sw, c->dh, c->dw, ph, pw, 1};
        char where[160] = "";
        double worst = ref_conv_worst(&r, x, dy, dw, db, where, sizeof where);
        cr_assert_leq(worst, 1e-4, "case %zu: %s", k, where);
        nnt_layer_close(&L);
    }
}

Test(conv2d, few_input_channels_weight_and_bias_gradients_match_naive_sums)
{
    check_weight_grads(few, sizeof few / sizeof *few);
}

/* input and dLoss/dz both blocked (8+ input channels, unit stride): backward-weights is
 * libnn_dnnl's nn_conv_bwdw_nchwc.c where oneDNN would run its AVX2 jit kernel on at most
 * 16x16 output pixels, else oneDNN's */
static const conv_case many[] = {
    /* n  c   h   w  f  kh kw sh sw dh dw g  padding  ph pw */
    {2, 32, 14, 14, 64, 5, 5, 1, 1, 1, 1, 1, "2", 2, 2},  /* the CNN's second layer */
    {2, 12, 9, 11, 20, 3, 3, 1, 1, 1, 1, 1, "1", 1, 1},   /* 12 = 8 + 4, 20 = 8 + 8 + 4 */
    {1, 16, 10, 12, 40, 3, 5, 1, 1, 2, 1, 1, "2,2", 2, 2}, /* dilation */
    {2, 8, 18, 12, 8, 3, 3, 1, 1, 1, 1, 1, "valid", 0, 0},
    {1, 9, 9, 10, 16, 4, 2, 1, 1, 1, 1, 1, "same", 0, 0}, /* even window: more padding right */
};

Test(conv2d, many_input_channels_weight_and_bias_gradients_match_naive_sums)
{
    check_weight_grads(many, sizeof many / sizeof *many);
}

Test(conv2d, first_layer_without_input_gradient_gets_the_same_weight_gradients)
{
    /* no backward-data primitive in that plan: the weight gradients must not change */
    nnt_layer A, B;
    nn_error err = {0};
    cr_assert_eq(open_conv(&A, &cases[1], "sigmoid", 1, 1, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(open_conv(&B, &cases[1], "sigmoid", 1, 1, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_null(B.io.grad_inputs[0]);
    nnt_fill_uniform(A.grad_output, 5, -1, 1);
    nnt_fill_uniform(B.grad_output, 5, -1, 1);
    nnt_layer *ab[2] = {&A, &B};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(nnt_forward(ab[k], 1, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(nnt_backward(ab[k], &err), NN_OK, "%s", err.msg);
    }
    for (int p = 0; p < 2; p++) {
        cr_assert(nn_tensor_numel(A.param_grads[p]) > 0);
        cr_assert_eq(memcmp(A.param_grads[p]->dl.data, B.param_grads[p]->dl.data,
                            nn_tensor_nbytes(A.param_grads[p])), 0, "param %d", p);
    }
    nnt_layer_close(&A);
    nnt_layer_close(&B);
}

Test(conv2d, declares_oihw_weight_and_bias_with_fans)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_conv(&L, &cases[3], "none", 1, 0, 0, &err), NN_OK, "%s", err.msg);
    const nn_param_decl *w = &L.setup.params[0], *b = &L.setup.params[1];
    cr_assert_str_eq(w->name, "weight");
    cr_assert_eq(w->ndim, 4);
    cr_assert_eq(w->shape[0], 6);
    cr_assert_eq(w->shape[1], 2); /* 6 channels / 3 groups */
    cr_assert_eq(w->shape[2], 3);
    cr_assert_eq(w->shape[3], 3);
    cr_assert_eq(w->fan_in, 2 * 9);
    cr_assert_eq(w->fan_out, 6 * 9);
    cr_assert_eq(w->init, NN_INIT_FAN_IN_UNIFORM);
    cr_assert_str_eq(b->name, "bias");
    cr_assert_eq(b->shape[0], 6);
    cr_assert_eq(b->flags, NN_TENSOR_BIAS);
    cr_assert_eq(b->fan_in, 18);
    nnt_layer_close(&L);
}

Test(conv2d, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv;
        const char *key;
    } bad[] = {{"filters=0", "filters"},     {"kernel=0", "kernel"},
               {"kernel=1,2,3", "kernel"},    {"stride=0", "stride"},
               {"stride=1,1,1", "stride"},    {"padding=-1", "padding"},
               {"padding=abc", "padding"},    {"padding=1,2,3", "padding"},
               {"dilation=0", "dilation"},    {"groups=0", "groups"},
               {"groups=3", "groups"},        {"activation=swish", "activation"},
               {"weight_init=ones", "weight_init"}, {"bias=2", "bias"}};
    const int64_t shape[][NN_MAX_DIMS] = {{2, 6, 8, 8}};
    const int nd = 4;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[4] = {"filters=4", "kernel=3", NULL, NULL};
        int slot = !strncmp(bad[i].kv, "filters", 7) ? 0 : !strncmp(bad[i].kv, "kernel", 6) ? 1 : 2;
        kv[slot] = bad[i].kv;
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "conv2d", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_OK,
                      "%s accepted", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(conv2d, shape_errors_name_the_input_shape)
{
    nnt_layer L;
    nn_error err = {0};
    const char *kv[] = {"filters=4", "kernel=3", "groups=2", NULL};
    const int64_t s3[][NN_MAX_DIMS] = {{2, 4, 8}};
    const int nd3 = 3, nd4 = 4;
    cr_assert_eq(nnt_layer_open(&L, "conv2d", kv, 1, &nd3, s3, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 4, 8]", NULL}), "%s",
              err.msg);
    const int64_t odd[][NN_MAX_DIMS] = {{2, 3, 8, 8}};
    cr_assert_eq(nnt_layer_open(&L, "conv2d", kv, 1, &nd4, odd, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 3, 8, 8]", "groups", NULL}), "%s",
              err.msg);
    const int64_t tiny[][NN_MAX_DIMS] = {{2, 4, 2, 8}};
    cr_assert_eq(nnt_layer_open(&L, "conv2d", kv, 1, &nd4, tiny, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 4, 2, 8]", "kernel", NULL}), "%s",
              err.msg);
}

Test(conv2d, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "conv2d", why, sizeof why), "%s", why);
}
