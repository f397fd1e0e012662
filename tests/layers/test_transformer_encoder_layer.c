/* test_transformer_encoder_layer.c: the encoder block against a naive double-precision
 * reference built from ref_seq's attention and layer norm (post- and pre-norm, relu and
 * gelu, causal, padding), gradients against finite differences (with dropout, whose masks
 * the step seed fixes, and without an input gradient), dropout in training only, the twelve
 * PyTorch parameter names, and the error messages. PyTorch's own numbers: test_torch_compat. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ref_seq.h"

typedef struct cfg {
    int64_t N, T, E, H, F;
    int norm_first, gelu, causal, pad; /* pad: token ids, sample b pads its last b % T */
    const char *drop;
} cfg;

static int open_tel(nnt_layer *L, const cfg *c, int training, unsigned need, nn_error *err)
{
    char kh[32], kf[32], kn[32], ka[32], kc[32], kd[32];
    snprintf(kh, sizeof kh, "nhead=%lld", (long long)c->H);
    snprintf(kf, sizeof kf, "dim_feedforward=%lld", (long long)c->F);
    snprintf(kn, sizeof kn, "norm_first=%s", c->norm_first ? "true" : "false");
    snprintf(ka, sizeof ka, "activation=%s", c->gelu ? "gelu" : "relu");
    snprintf(kc, sizeof kc, "causal=%s", c->causal ? "true" : "false");
    snprintf(kd, sizeof kd, "dropout=%s", c->drop ? c->drop : "0");
    const char *kv[] = {kh, kf, kn, ka, kc, kd, NULL};
    const int64_t sh[2][NN_MAX_DIMS] = {{c->N, c->T, c->E}, {c->N, c->T}};
    const int nds[2] = {3, 2};
    const nn_dtype dts[2] = {NN_F32, NN_I32};
    int rc = nnt_layer_open(L, "transformer_encoder_layer", kv, c->pad ? 2 : 1, nds, sh, dts,
                            training, need, err);
    if (rc || !c->pad)
        return rc;
    for (int64_t b = 0; b < c->N; b++)
        for (int64_t s = 0; s < c->T; s++)
            NN_I32P(L->inputs[1])[b * c->T + s] = s >= c->T - (b % c->T) ? 0 : 5;
    return rc;
}

static const float *P(const nnt_layer *L, int k)
{
    return NN_F32P(L->params[k]);
}

/* y[rows, O] = act(x[rows, I] W^T + b) in double */
static void lin(const double *x, int64_t rows, int64_t I, int64_t O, const float *W,
                const float *b, int act, double *y)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < O; o++) {
            double a = b[o];
            for (int64_t i = 0; i < I; i++)
                a += x[r * I + i] * W[o * I + i];
            if (act == 1)
                a = a > 0 ? a : 0;
            else if (act == 2)
                a = 0.5 * a * (1 + erf(a / sqrt(2.0)));
            y[r * O + o] = a;
        }
}

/* the smallest |linear1 pre-activation| of the last reference() call */
static double min_preact;

static void reference(const nnt_layer *L, const cfg *c, double *out)
{
    static double x[4096], n1[4096], a[4096], x1[4096], n2[4096], h[8192], f[4096];
    static unsigned char pad[256];
    int64_t R = c->N * c->T, E = c->E, RE = R * E;
    for (int64_t i = 0; i < RE; i++)
        x[i] = NN_F32P(L->inputs[0])[i];
    for (int64_t b = 0; b < c->N; b++)
        for (int64_t s = 0; s < c->T; s++)
            pad[b * c->T + s] = (unsigned char)(c->pad && s >= c->T - (b % c->T));
    if (c->norm_first)
        ref_ln(x, n1, R, E, P(L, 8), P(L, 9), 1e-5);
    const double *ain = c->norm_first ? n1 : x;
    ref_mha(ain, ain, c->N, c->T, c->T, E, c->H, P(L, 0), P(L, 1), P(L, 2), P(L, 3), c->causal,
            pad, a);
    for (int64_t i = 0; i < RE; i++)
        x1[i] = x[i] + a[i];
    if (!c->norm_first)
        ref_ln(x1, x1, R, E, P(L, 8), P(L, 9), 1e-5);
    const double *fin = x1;
    if (c->norm_first) {
        ref_ln(x1, n2, R, E, P(L, 10), P(L, 11), 1e-5);
        fin = n2;
    }
    lin(fin, R, E, c->F, P(L, 4), P(L, 5), 0, h);
    min_preact = INFINITY;
    for (int64_t i = 0; i < R * c->F; i++) {
        min_preact = fmin(min_preact, fabs(h[i]));
        h[i] = c->gelu ? 0.5 * h[i] * (1 + erf(h[i] / sqrt(2.0))) : fmax(h[i], 0);
    }
    lin(h, R, c->F, E, P(L, 6), P(L, 7), 0, f);
    for (int64_t i = 0; i < RE; i++)
        out[i] = x1[i] + f[i];
    if (!c->norm_first)
        ref_ln(out, out, R, E, P(L, 10), P(L, 11), 1e-5);
}

static void check_forward(const nnt_layer *L, const cfg *c, const char *what)
{
    static double want[4096];
    reference(L, c, want);
    for (int64_t i = 0; i < nn_tensor_numel(L->output); i++) {
        double got = NN_F32P(L->output)[i];
        /* float32 through attention, two linears and two layer norms of <= 32 terms: 3e-5 */
        cr_assert(fabs(got - want[i]) <= 3e-5 * (1 + fabs(want[i])),
                  "%s: y[%lld] = %.7g, want %.7g", what, (long long)i, got, want[i]);
    }
}

static const cfg cases[] = {
    {.N = 2, .T = 4, .E = 8, .H = 2, .F = 16},
    {.N = 2, .T = 4, .E = 8, .H = 2, .F = 16, .norm_first = 1},
    {.N = 3, .T = 5, .E = 8, .H = 4, .F = 12, .gelu = 1, .causal = 1},
    {.N = 3, .T = 5, .E = 8, .H = 1, .F = 12, .gelu = 1, .norm_first = 1, .pad = 1},
    {.N = 1, .T = 1, .E = 4, .H = 2, .F = 3},
};

Test(transformer_encoder_layer, forward_matches_a_naive_reference)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int training = 0; training < 2; training++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_tel(&L, &cases[i], training, 0, &err), NN_OK, "%s", err.msg);
            cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
            char what[48];
            snprintf(what, sizeof what, "case %zu training %d", i, training);
            check_forward(&L, &cases[i], what);
            nnt_layer_close(&L);
        }
}

/* For relu: scales linear1 by 8 (and linear2 by 1/8, keeping the output's size) and redraws
 * the input until no pre-activation lies within 0.05 of the kink, so that no finite
 * difference of step 1e-2 (which moves a pre-activation by < 0.05) crosses it. Returns the
 * seed used. */
static int away_from_the_kink(nnt_layer *L, const cfg *c)
{
    for (int k = 4; k < 7; k++)
        for (int64_t i = 0; i < nn_tensor_numel(L->params[k]); i++)
            NN_F32P(L->params[k])[i] *= k < 6 ? 8.0f : 0.125f;
    double want[4096];
    for (int seed = 100; seed < 300; seed++) {
        nnt_fill_uniform(L->inputs[0], (uint64_t)seed, -1, 1);
        reference(L, c, want);
        if (min_preact > 0.05)
            return seed;
    }
    return -1;
}

Test(transformer_encoder_layer, backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg c = cases[i];
        c.drop = i % 2 ? "0.2" : "0";
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_tel(&L, &c, 1, 1, &err), NN_OK, "%s", err.msg);
        /* bound here, run on another thread as [train] replicas run it */
        cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
        if (!c.gelu)
            cr_assert_geq(away_from_the_kink(&L, &c), 0, "case %zu: no input clear of relu's kink",
                          i);
        /* eps 1e-2 on float32: each of the <= 64 outputs (|y| ~ 2 after layer norm) is
         * rounded to ~1e-7, so sum(y .* R) carries ~1e-6 and its difference over 2 eps
         * ~1e-4 of noise, 1e-2 of the floor; O(eps^2) truncation through the layer norms and
         * the softmax ~1e-4; dropout masks are fixed by io.seed. Bound 1e-2. */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-2, "case %zu: %s", i, worst);
        nnt_layer_close(&L);
    }
}

Test(transformer_encoder_layer, without_an_input_gradient_the_parameters_still_get_theirs)
{
    for (int nf = 0; nf < 2; nf++) {
        cfg c = {.N = 2, .T = 3, .E = 4, .H = 2, .F = 6, .norm_first = nf, .gelu = 1};
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_tel(&L, &c, 1, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_null(L.io.grad_inputs[0]);
        /* as backward_matches_finite_differences */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-2, "norm_first %d: %s", nf, worst);
        nnt_layer_close(&L);
    }
}

Test(transformer_encoder_layer, dropout_acts_in_training_forwards_only)
{
    cfg c = {.N = 2, .T = 4, .E = 8, .H = 2, .F = 16, .drop = "0.5"};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_tel(&L, &c, 1, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    check_forward(&L, &c, "eval forward");
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    double want[64], diff = 0;
    reference(&L, &c, want);
    for (int i = 0; i < 64; i++)
        diff += fabs(NN_F32P(L.output)[i] - want[i]);
    cr_assert_gt(diff / 64, 0.05, "a training forward with p = 0.5 must differ (%g)", diff / 64);
    nnt_layer_close(&L);
}

Test(transformer_encoder_layer, declares_the_twelve_pytorch_parameters)
{
    cfg c = {.N = 2, .T = 3, .E = 8, .H = 2, .F = 32};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_tel(&L, &c, 0, 0, &err), NN_OK, "%s", err.msg);
    static const struct {
        const char *name;
        int64_t d0, d1;
        nn_init init;
        uint32_t flags;
    } want[] = {
        {"self_attn.in_proj_weight", 24, 8, NN_INIT_XAVIER_UNIFORM, 0},
        {"self_attn.in_proj_bias", 24, 0, NN_INIT_ZEROS, NN_TENSOR_BIAS},
        {"self_attn.out_proj.weight", 8, 8, NN_INIT_FAN_IN_UNIFORM, 0},
        {"self_attn.out_proj.bias", 8, 0, NN_INIT_ZEROS, NN_TENSOR_BIAS},
        {"linear1.weight", 32, 8, NN_INIT_FAN_IN_UNIFORM, 0},
        {"linear1.bias", 32, 0, NN_INIT_FAN_IN_UNIFORM, NN_TENSOR_BIAS},
        {"linear2.weight", 8, 32, NN_INIT_FAN_IN_UNIFORM, 0},
        {"linear2.bias", 8, 0, NN_INIT_FAN_IN_UNIFORM, NN_TENSOR_BIAS},
        {"norm1.weight", 8, 0, NN_INIT_ONES, NN_TENSOR_NORM},
        {"norm1.bias", 8, 0, NN_INIT_ZEROS, NN_TENSOR_NORM},
        {"norm2.weight", 8, 0, NN_INIT_ONES, NN_TENSOR_NORM},
        {"norm2.bias", 8, 0, NN_INIT_ZEROS, NN_TENSOR_NORM},
    };
    cr_assert_eq(L.setup.n_params, 12);
    for (int k = 0; k < 12; k++) {
        const nn_param_decl *d = nn_layer_param_decl(&L.setup, k);
        cr_assert_str_eq(d->name, want[k].name);
        cr_assert_eq(d->ndim, want[k].d1 ? 2 : 1, "%s", d->name);
        cr_assert_eq(d->shape[0], want[k].d0, "%s", d->name);
        if (want[k].d1)
            cr_assert_eq(d->shape[1], want[k].d1, "%s", d->name);
        cr_assert_eq(d->init, want[k].init, "%s", d->name);
        cr_assert_eq(d->flags, want[k].flags, "%s", d->name);
    }
    cr_assert_eq(nn_layer_param_decl(&L.setup, 6)->fan_in, 32, "linear2 fans in from F");
    nnt_layer_close(&L);
}

Test(transformer_encoder_layer, errors_name_the_layer_and_what_was_expected)
{
    nnt_layer L;
    nn_error err = {0};
    cfg c = {.N = 2, .T = 3, .E = 6, .H = 4, .F = 8};
    cr_assert_eq(open_tel(&L, &c, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "embed_dim 6", "num_heads 4",
                                                 NULL}),
              "%s", err.msg);
    const int64_t sh[2][NN_MAX_DIMS] = {{2, 3, 8}, {2, 3, 8}};
    const int nds[2] = {3, 3};
    const char *kv[] = {"nhead=2", NULL};
    cr_assert_eq(nnt_layer_open(&L, "transformer_encoder_layer", kv, 2, nds, sh, NULL, 0, 0,
                                &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "padding input", NULL}), "%s",
              err.msg);
    static const struct {
        const char *kv, *key;
    } bad[] = {{"nhead=0", "nhead"},
               {"activation=tanh", "activation"},
               {"dim_feedforward=0", "dim_feedforward"},
               {"layer_norm_eps=0", "layer_norm_eps"},
               {"norm_frist=true", "norm_frist"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *k2[] = {strncmp(bad[i].kv, "nhead", 5) ? "nhead=2" : bad[i].kv, bad[i].kv,
                            NULL};
        cr_assert_neq(nnt_layer_open(&L, "transformer_encoder_layer", k2, 1, nds, sh, NULL, 0,
                                     0, &err),
                      NN_OK, "%s", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(transformer_encoder_layer, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "transformer_encoder_layer", why,
                                          sizeof why),
              "%s", why);
}
