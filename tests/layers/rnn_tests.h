/* rnn_tests.h: the Criterion tests that lstm and gru share, written once: test_lstm.c and
 * test_gru.c define RNN_SUITE (the suite name), RNN_PLUGIN ("lstm"/"gru") and RNN_GRU (0/1),
 * then include this file. Forward against ref_seq's naive cells (uni/bidirectional, 1 to 3
 * layers, every step or the last), gradients against finite differences (with more than
 * eight parameters, dropout between layers, and no input gradient), parameter names and
 * layouts as PyTorch's state dict, and the errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ref_seq.h"

#define RNN_G (RNN_GRU ? 3 : 4)

typedef struct rcfg {
    int64_t N, T, C, H, layers;
    int bidir, seqs;
    const char *drop;
} rcfg;

static int open_rnn(nnt_layer *L, const rcfg *c, int training, unsigned need, nn_error *err)
{
    char kh[32], kl[32], kb[32], ks[40], kd[32];
    snprintf(kh, sizeof kh, "hidden_size=%lld", (long long)c->H);
    snprintf(kl, sizeof kl, "num_layers=%lld", (long long)c->layers);
    snprintf(kb, sizeof kb, "bidirectional=%s", c->bidir ? "true" : "false");
    snprintf(ks, sizeof ks, "return_sequences=%s", c->seqs ? "true" : "false");
    snprintf(kd, sizeof kd, "dropout=%s", c->drop ? c->drop : "0");
    const char *kv[] = {kh, kl, kb, ks, kd, NULL};
    const int64_t sh[1][NN_MAX_DIMS] = {{c->N, c->T, c->C}};
    const int nd = 3;
    return nnt_layer_open(L, RNN_PLUGIN, kv, 1, &nd, sh, NULL, training, need, err);
}

/* the stacked network in double, without dropout; out as the layer's output */
static void reference(const nnt_layer *L, const rcfg *c, double *out)
{
    int64_t D = c->bidir ? 2 : 1, DH = D * c->H, NT = c->N * c->T;
    static double a[8192], b[8192];
    for (int64_t i = 0; i < NT * c->C; i++)
        a[i] = NN_F32P(L->inputs[0])[i];
    int64_t in = c->C;
    for (int64_t l = 0; l < c->layers; l++) {
        for (int64_t d = 0; d < D; d++) {
            const int k = (int)((l * D + d) * 4);
            ref_rnn_dir(RNN_GRU, a, c->N, c->T, in, c->H, NN_F32P(L->params[k]),
                        NN_F32P(L->params[k + 1]), NN_F32P(L->params[k + 2]),
                        NN_F32P(L->params[k + 3]), (int)d, b, DH, d * c->H);
        }
        memcpy(a, b, sizeof *a * (size_t)(NT * DH));
        in = DH;
    }
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t t = c->seqs ? 0 : c->T - 1; t < c->T; t++)
            for (int64_t j = 0; j < DH; j++)
                out[c->seqs ? (n * c->T + t) * DH + j : n * DH + j] = a[(n * c->T + t) * DH + j];
}

static void check_forward(const nnt_layer *L, const rcfg *c, const char *what)
{
    static double want[8192];
    reference(L, c, want);
    for (int64_t i = 0; i < nn_tensor_numel(L->output); i++) {
        double got = NN_F32P(L->output)[i];
        /* float32 gate sums of <= 30 terms through sigmoid/tanh, 6 steps, 3 layers: 1e-5 */
        cr_assert(fabs(got - want[i]) <= 1e-5, "%s: y[%lld] = %.7g, want %.7g", what,
                  (long long)i, got, want[i]);
    }
}

static const rcfg cases[] = {
    {.N = 2, .T = 5, .C = 3, .H = 4, .layers = 1, .seqs = 1},
    {.N = 3, .T = 4, .C = 5, .H = 3, .layers = 1, .bidir = 1, .seqs = 1},
    {.N = 2, .T = 6, .C = 4, .H = 5, .layers = 2, .seqs = 0},
    {.N = 2, .T = 3, .C = 2, .H = 3, .layers = 3, .bidir = 1, .seqs = 1},
    {.N = 1, .T = 1, .C = 1, .H = 1, .layers = 2, .bidir = 1, .seqs = 0},
    {.N = 4, .T = 7, .C = 28, .H = 8, .layers = 1, .bidir = 1, .seqs = 0},
};

Test(RNN_SUITE, forward_matches_a_naive_cell_loop)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int training = 0; training < 2; training++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_rnn(&L, &cases[i], training, 0, &err), NN_OK, "case %zu: %s", i,
                         err.msg);
            cr_assert_eq(nnt_forward(&L, training, &err), NN_OK, "%s", err.msg);
            char what[48];
            snprintf(what, sizeof what, "case %zu training %d", i, training);
            check_forward(&L, &cases[i], what);
            nnt_layer_close(&L);
        }
}

Test(RNN_SUITE, backward_matches_finite_differences)
{
    static const rcfg small[] = {
        {.N = 2, .T = 3, .C = 3, .H = 2, .layers = 1, .seqs = 1},
        {.N = 2, .T = 3, .C = 2, .H = 2, .layers = 1, .bidir = 1, .seqs = 0},
        {.N = 2, .T = 3, .C = 2, .H = 2, .layers = 2, .bidir = 1, .seqs = 1}, /* 16 params */
        {.N = 3, .T = 4, .C = 2, .H = 3, .layers = 2, .seqs = 1, .drop = "0.3"},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        for (unsigned need = 0; need < 2; need++) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_rnn(&L, &small[i], 1, need, &err), NN_OK, "%s", err.msg);
            /* bound here, run on another thread as [train] replicas run it */
            cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
            /* eps 1e-2 on float32: smooth cells (sigmoid, tanh), O(eps^2) truncation ~1e-4,
             * rounding of sum(y .* R) over 2 eps ~1e-4; dropout masks fixed by io.seed;
             * floor 1e-2. Bound 3e-3. */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 3e-3, "case %zu need %u: %s", i, need, worst);
            nnt_layer_close(&L);
        }
}

Test(RNN_SUITE, dropout_between_layers_acts_in_training_forwards_only)
{
    rcfg c = {.N = 4, .T = 5, .C = 3, .H = 6, .layers = 2, .seqs = 1, .drop = "0.5"};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_rnn(&L, &c, 1, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    check_forward(&L, &c, "eval forward of a training plan");
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    static double want[1024];
    reference(&L, &c, want);
    double diff = 0;
    int64_t n = nn_tensor_numel(L.output);
    for (int64_t i = 0; i < n; i++)
        diff += fabs(NN_F32P(L.output)[i] - want[i]);
    cr_assert_gt(diff / (double)n, 1e-3, "p = 0.5 between layers must change the output");
    nnt_layer_close(&L);
}

Test(RNN_SUITE, declares_pytorch_state_dict_names_and_shapes)
{
    rcfg c = {.N = 2, .T = 3, .C = 5, .H = 4, .layers = 2, .bidir = 1, .seqs = 1};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_rnn(&L, &c, 0, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(L.setup.n_params, 16);
    static const char *const base[4] = {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"};
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 4; k++) {
                const nn_param_decl *p = nn_layer_param_decl(&L.setup, (l * 2 + d) * 4 + k);
                char want[48];
                snprintf(want, sizeof want, "%s%d%s", base[k], l, d ? "_reverse" : "");
                cr_assert_str_eq(p->name, want);
                cr_assert_eq(p->ndim, k < 2 ? 2 : 1, "%s", want);
                cr_assert_eq(p->shape[0], RNN_G * 4, "%s", want);
                if (k < 2)
                    cr_assert_eq(p->shape[1], k == 1 ? 4 : l ? 8 : 5, "%s", want);
                cr_assert_eq(p->init, NN_INIT_FAN_IN_UNIFORM, "%s", want);
                cr_assert_eq(p->fan_in, 4, "%s: PyTorch's bound is 1/sqrt(hidden_size)", want);
                cr_assert_eq(p->flags, k < 2 ? 0u : NN_TENSOR_BIAS, "%s", want);
            }
    cr_assert_eq(L.output->shape[2], 8);
    nnt_layer_close(&L);
}

Test(RNN_SUITE, errors_name_the_layer_and_the_key)
{
    nnt_layer L;
    nn_error err = {0};
    const int64_t sh[1][NN_MAX_DIMS] = {{2, 28}};
    const int nd = 2;
    const char *kv[] = {"hidden_size=4", NULL};
    cr_assert_eq(nnt_layer_open(&L, RNN_PLUGIN, kv, 1, &nd, sh, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[batch, time, features]",
                                                 "[2, 28]", NULL}),
              "%s", err.msg);
    rcfg c = {.N = 2, .T = 3, .C = 5, .H = 4, .layers = 9, .bidir = 1, .seqs = 1};
    cr_assert_eq(open_rnn(&L, &c, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "9 layers", "72 parameters",
                                                 NULL}),
              "%s", err.msg);
    static const struct {
        const char *kv, *key;
    } bad[] = {{"hidden_size=0", "hidden_size"},
               {"num_layers=0", "num_layers"},
               {"dropout=1.5", "dropout"},
               {"bidirectional=2", "bidirectional"},
               {"batch_first=true", "batch_first"}};
    const int64_t s3[1][NN_MAX_DIMS] = {{2, 3, 4}};
    const int nd3 = 3;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *k2[] = {strncmp(bad[i].kv, "hidden", 6) ? "hidden_size=4" : bad[i].kv,
                            bad[i].kv, NULL};
        cr_assert_neq(nnt_layer_open(&L, RNN_PLUGIN, k2, 1, &nd3, s3, NULL, 0, 0, &err), NN_OK,
                      "%s", bad[i].kv);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%s: %s", bad[i].kv,
                  err.msg);
    }
    const char *none[] = {NULL};
    cr_assert_neq(nnt_layer_open(&L, RNN_PLUGIN, none, 1, &nd3, s3, NULL, 0, 0, &err), NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"hidden_size", NULL}), "%s", err.msg);
}

Test(RNN_SUITE, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, RNN_PLUGIN, why, sizeof why), "%s", why);
}
