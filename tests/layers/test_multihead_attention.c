/* test_multihead_attention.c: multihead_attention against a naive double-precision
 * reference (self and cross, causal, padding from token ids, an F32 mask and lengths, with
 * and without bias), gradients against finite differences (also with dropout, whose mask
 * the step seed fixes), dropout's statistics, PyTorch's parameter names and inits, and the
 * error messages. PyTorch's own numbers are checked in test_torch_compat.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ref_seq.h"

typedef struct cfg {
    int64_t N, T, S, E, H;
    int cross, causal, bias;
    int pad;          /* 0 none, 1 I32 ids [N, S], 2 F32 mask [N, S], 3 I32 lengths [N] */
    const char *drop; /* dropout */
} cfg;

static int open_mha(nnt_layer *L, const cfg *c, int training, unsigned need, nn_error *err)
{
    char kh[32], kb[32], kc[32], kd[32];
    snprintf(kh, sizeof kh, "num_heads=%lld", (long long)c->H);
    snprintf(kb, sizeof kb, "bias=%s", c->bias ? "true" : "false");
    snprintf(kc, sizeof kc, "causal=%s", c->causal ? "true" : "false");
    snprintf(kd, sizeof kd, "dropout=%s", c->drop ? c->drop : "0");
    const char *kv[] = {kh, kb, kc, kd, "pad_id=3", NULL};
    int64_t sh[3][NN_MAX_DIMS] = {{c->N, c->T, c->E}, {c->N, c->S, c->E}, {c->N, c->S}};
    int nds[3] = {3, 3, 2};
    nn_dtype dts[3] = {NN_F32, NN_F32, NN_F32};
    int n = 1;
    if (c->cross)
        n++;
    if (c->pad) {
        sh[n][0] = c->N;
        sh[n][1] = c->S;
        nds[n] = c->pad == 3 ? 1 : 2;
        dts[n] = c->pad == 2 ? NN_F32 : NN_I32;
        n++;
    }
    int rc = nnt_layer_open(L, "multihead_attention", kv, n, nds,
                            (const int64_t(*)[NN_MAX_DIMS])sh, dts, training, need, err);
    if (rc || !c->pad)
        return rc;
    /* sample n pads its last n keys (sample 0 none; never all of them) */
    nn_tensor *p = L->inputs[n - 1];
    for (int64_t b = 0; b < c->N; b++) {
        int64_t len = c->S - (b % c->S);
        if (c->pad == 3)
            NN_I32P(p)[b] = (int32_t)len;
        for (int64_t s = 0; c->pad != 3 && s < c->S; s++) {
            if (c->pad == 1)
                NN_I32P(p)[b * c->S + s] = s >= len ? 3 : 7 + (int32_t)s;
            else
                NN_F32P(p)[b * c->S + s] = s >= len ? 1.0f : 0.0f;
        }
    }
    return rc;
}

static int is_pad(const cfg *c, int64_t b, int64_t s)
{
    return c->pad && s >= c->S - (b % c->S);
}

/* out = MHA(x, kv) in double, as torch.nn.MultiheadAttention without dropout */
static void reference(const nnt_layer *L, const cfg *c, double *out)
{
    int64_t T = c->T, S = c->cross ? c->S : c->T, E = c->E;
    static double x[4096], kv[4096];
    static unsigned char pad[256];
    for (int64_t i = 0; i < c->N * T * E; i++)
        x[i] = NN_F32P(L->inputs[0])[i];
    for (int64_t i = 0; i < c->N * S * E; i++)
        kv[i] = c->cross ? NN_F32P(L->inputs[1])[i] : x[i];
    for (int64_t b = 0; b < c->N; b++)
        for (int64_t s = 0; s < S; s++)
            pad[b * S + s] = (unsigned char)is_pad(c, b, s);
    const float *bi = c->bias ? NN_F32P(L->params[1]) : NULL;
    const float *bo = c->bias ? NN_F32P(L->params[3]) : NULL;
    ref_mha(x, kv, c->N, T, S, E, c->H, NN_F32P(L->params[0]), bi,
            NN_F32P(L->params[c->bias ? 2 : 1]), bo, c->causal, pad, out);
}

static void check_forward(const nnt_layer *L, const cfg *c, const char *what)
{
    static double want[8 * 64 * 64];
    reference(L, c, want);
    const float *y = NN_F32P(L->output);
    for (int64_t i = 0; i < nn_tensor_numel(L->output); i++)
        /* float32 through two projections of E <= 16 terms and a softmax: 2e-5 */
        cr_assert(fabs(y[i] - want[i]) <= 2e-5 * (1 + fabs(want[i])), "%s: y[%lld] = %.7g, want %.7g",
                  what, (long long)i, y[i], want[i]);
}

static const cfg cases[] = {
    {.N = 2, .T = 5, .E = 8, .H = 2, .bias = 1},
    {.N = 1, .T = 1, .E = 4, .H = 1, .bias = 1},
    {.N = 3, .T = 4, .E = 12, .H = 3, .bias = 0},
    {.N = 2, .T = 6, .E = 8, .H = 4, .causal = 1, .bias = 1},
    {.N = 2, .T = 3, .S = 7, .E = 8, .H = 2, .cross = 1, .bias = 1},
    {.N = 3, .T = 5, .S = 4, .E = 8, .H = 2, .cross = 1, .causal = 1, .bias = 1},
    {.N = 3, .T = 5, .E = 8, .H = 2, .pad = 1, .bias = 1},
    {.N = 3, .T = 4, .S = 5, .E = 8, .H = 2, .cross = 1, .pad = 2, .bias = 1},
    {.N = 4, .T = 5, .E = 8, .H = 1, .pad = 3, .causal = 1, .bias = 1},
};

static cfg fixed(cfg c)
{
    if (!c.cross)
        c.S = c.T;
    return c;
}

Test(multihead_attention, forward_matches_a_naive_reference)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int training = 0; training < 2; training++) {
            cfg c = fixed(cases[i]);
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_mha(&L, &c, training, 0, &err), NN_OK, "case %zu: %s", i, err.msg);
            cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
            char what[32];
            snprintf(what, sizeof what, "case %zu training %d", i, training);
            check_forward(&L, &c, what);
            nnt_layer_close(&L);
        }
}

Test(multihead_attention, backward_matches_finite_differences)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg c = fixed(cases[i]);
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_mha(&L, &c, 1, c.cross ? 3u : 1u, &err), NN_OK, "%s", err.msg);
        /* bound here, run on another thread as [train] replicas run it */
        cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
        /* eps 1e-2 on float32: rounding noise of sum(y .* R) over 2 eps ~1e-4 relative,
         * O(eps^2) truncation through softmax ~1e-4; floor 1e-2. Bound 3e-3. */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 3e-3, "case %zu: %s", i, worst);
        nnt_layer_close(&L);
    }
}

Test(multihead_attention, dropout_gradients_use_the_forward_mask_and_skip_unwanted_inputs)
{
    cfg c = fixed((cfg){.N = 2, .T = 4, .S = 5, .E = 8, .H = 2, .cross = 1, .bias = 1,
                        .drop = "0.3"});
    for (unsigned need = 0; need < 4; need++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_mha(&L, &c, 1, need, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(L.io.grad_inputs[0] == NULL, !(need & 1));
        /* every forward of the check uses io.seed 42, hence one dropout mask: the loss is
         * smooth in the inputs and the bound of backward_matches_finite_differences holds */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 3e-3, "need %u: %s", need, worst);
        nnt_layer_close(&L);
    }
}

Test(multihead_attention, dropout_acts_in_training_only_and_follows_the_seed)
{
    cfg c = fixed((cfg){.N = 4, .T = 8, .E = 8, .H = 2, .bias = 1, .drop = "0.5"});
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_mha(&L, &c, 1, 0, &err), NN_OK, "%s", err.msg);
    int64_t n = nn_tensor_numel(L.output);
    float a[256], b[256];
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    check_forward(&L, &c, "eval forward of a training plan");
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    memcpy(a, NN_F32P(L.output), (size_t)n * sizeof(float));
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(a, NN_F32P(L.output), (size_t)n * sizeof(float)), 0, "same seed");
    L.io.seed = 43;
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    memcpy(b, NN_F32P(L.output), (size_t)n * sizeof(float));
    int differ = 0;
    for (int64_t i = 0; i < n; i++)
        differ += a[i] != b[i];
    cr_assert_gt(differ, n / 2, "a new seed draws new masks (%d of %lld differ)", differ,
                 (long long)n);
    nnt_layer_close(&L);
}

Test(multihead_attention, declares_pytorch_named_parameters)
{
    cfg c = fixed((cfg){.N = 2, .T = 3, .E = 8, .H = 2, .bias = 1});
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_mha(&L, &c, 0, 0, &err), NN_OK, "%s", err.msg);
    static const struct {
        const char *name;
        int64_t d0, d1;
        nn_init init;
        uint32_t flags;
    } want[] = {{"in_proj_weight", 24, 8, NN_INIT_XAVIER_UNIFORM, 0},
                {"in_proj_bias", 24, 0, NN_INIT_ZEROS, NN_TENSOR_BIAS},
                {"out_proj.weight", 8, 8, NN_INIT_FAN_IN_UNIFORM, 0},
                {"out_proj.bias", 8, 0, NN_INIT_ZEROS, NN_TENSOR_BIAS}};
    cr_assert_eq(L.setup.n_params, 4);
    for (int k = 0; k < 4; k++) {
        const nn_param_decl *d = &L.setup.params[k];
        cr_assert_str_eq(d->name, want[k].name);
        cr_assert_eq(d->shape[0], want[k].d0);
        cr_assert_eq(d->ndim, want[k].d1 ? 2 : 1);
        if (want[k].d1)
            cr_assert_eq(d->shape[1], want[k].d1);
        cr_assert_eq(d->init, want[k].init, "%s", want[k].name);
        cr_assert_eq(d->flags, want[k].flags);
    }
    cr_assert_eq(L.setup.params[0].fan_in, 8);
    cr_assert_eq(L.setup.params[0].fan_out, 24);
    cr_assert_eq(L.output->shape[2], 8);
    nnt_layer_close(&L);
}

Test(multihead_attention, errors_name_the_layer_and_what_was_expected)
{
    nnt_layer L;
    nn_error err = {0};
    cfg c = fixed((cfg){.N = 2, .T = 3, .E = 10, .H = 4, .bias = 1});
    cr_assert_eq(open_mha(&L, &c, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "embed_dim 10", "num_heads 4",
                                                 NULL}),
              "%s", err.msg);
    /* keys with another embed_dim */
    int64_t sh[2][NN_MAX_DIMS] = {{2, 3, 8}, {2, 4, 6}};
    int nds[3] = {3, 3, 2};
    const char *kv[] = {"num_heads=2", NULL};
    cr_assert_eq(nnt_layer_open(&L, "multihead_attention", kv, 2, nds,
                                (const int64_t(*)[NN_MAX_DIMS])sh, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"keys/values", "[2, 4, 6]", "[2, 3, 8]", NULL}),
              "%s", err.msg);
    /* a padding input of the wrong length */
    int64_t sp[2][NN_MAX_DIMS] = {{2, 3, 8}, {2, 4}};
    int ndp[2] = {3, 2};
    nn_dtype dts[2] = {NN_F32, NN_I32};
    cr_assert_eq(nnt_layer_open(&L, "multihead_attention", kv, 2, ndp,
                                (const int64_t(*)[NN_MAX_DIMS])sp, dts, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"padding input", "[2, 4]", "[2, 3]", NULL}),
              "%s", err.msg);
    /* a 2-d query */
    int64_t s2[1][NN_MAX_DIMS] = {{2, 8}};
    int nd2 = 2;
    cr_assert_eq(nnt_layer_open(&L, "multihead_attention", kv, 1, &nd2,
                                (const int64_t(*)[NN_MAX_DIMS])s2, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"query", "[batch, sequence, embed_dim]", NULL}),
              "%s", err.msg);
    static const struct {
        const char *kv, *key;
    } bad[] = {{"num_heads=0", "num_heads"}, {"dropout=1", "dropout"},
               {"causal=perhaps", "causal"}, {"num_head=2", "num_head"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *k2[] = {strncmp(bad[i].kv, "num_heads", 9) ? "num_heads=2" : bad[i].kv,
                            bad[i].kv, NULL};
        cr_assert_neq(nnt_layer_open(&L, "multihead_attention", k2, 1, nds,
                                     (const int64_t(*)[NN_MAX_DIMS])sh, NULL, 0, 0, &err),
                      NN_OK, "%s", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
}

Test(multihead_attention, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "multihead_attention", why, sizeof why),
              "%s", why);
}
