/* test_positional_embedding.c: learned and sinusoidal position embeddings against their
 * formulas, gradients against finite differences (the table's rows past T get none), the
 * max_len check and the docs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static int open_pe(nnt_layer *L, const char *mode, const char *max_len, int64_t N, int64_t T,
                   int64_t E, int training, unsigned need, nn_error *err)
{
    char km[32], kl[32];
    snprintf(km, sizeof km, "mode=%s", mode);
    snprintf(kl, sizeof kl, "max_len=%s", max_len);
    const char *kv[] = {km, kl, NULL};
    const int64_t sh[1][NN_MAX_DIMS] = {{N, T, E}};
    const int nd = 3;
    return nnt_layer_open(L, "positional_embedding", kv, 1, &nd, sh, NULL, training, need, err);
}

Test(positional_embedding, learned_adds_the_table_row_of_each_position)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_pe(&L, "learned", "9", 3, 5, 4, 0, 0, &err), NN_OK, "%s", err.msg);
    const nn_param_decl *d = &L.setup.params[0];
    cr_assert_str_eq(d->name, "weight");
    cr_assert_eq(d->shape[0], 9);
    cr_assert_eq(d->shape[1], 4);
    cr_assert_eq(d->init, NN_INIT_NORMAL);
    cr_assert_float_eq(d->init_arg, 0.02, 1e-12);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    const float *x = NN_F32P(L.inputs[0]), *P = NN_F32P(L.params[0]), *y = NN_F32P(L.output);
    for (int n = 0; n < 3; n++)
        for (int t = 0; t < 5; t++)
            for (int j = 0; j < 4; j++) {
                int i = (n * 5 + t) * 4 + j;
                cr_assert_eq(y[i], x[i] + P[t * 4 + j], "n %d t %d j %d", n, t, j);
            }
    nnt_layer_close(&L);
}

Test(positional_embedding, sinusoidal_matches_vaswani_et_al_and_has_no_parameters)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_pe(&L, "sinusoidal", "1", 2, 50, 6, 0, 0, &err), NN_OK,
                 "max_len does not bound the sinusoids: %s", err.msg);
    cr_assert_eq(L.setup.n_params, 0);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    const float *x = NN_F32P(L.inputs[0]), *y = NN_F32P(L.output);
    for (int n = 0; n < 2; n++)
        for (int t = 0; t < 50; t++)
            for (int i = 0; i < 3; i++) {
                double w = 1.0 / pow(10000.0, 2.0 * i / 6.0);
                int k = (n * 50 + t) * 6 + 2 * i;
                /* sin/cos of arguments up to 49 in double, rounded once to float */
                cr_assert_float_eq(y[k] - x[k], sin(t * w), 2e-6, "t %d pair %d", t, i);
                cr_assert_float_eq(y[k + 1] - x[k + 1], cos(t * w), 2e-6, "t %d pair %d", t, i);
            }
    nnt_layer_close(&L);
}

Test(positional_embedding, backward_matches_finite_differences)
{
    static const char *const modes[] = {"learned", "sinusoidal"};
    for (int m = 0; m < 2; m++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_pe(&L, modes[m], "6", 2, 4, 3, 1, 1, &err), NN_OK, "%s", err.msg);
        /* linear in x and the table: only float rounding of sum(y .* R) (~1e-6 over 2e-2);
         * floor 1e-2, bound 1e-3. Rows 4 and 5 of the table must get exactly 0, which the
         * check compares against their (zero) finite differences. */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "%s: %s", modes[m], worst);
        if (m == 0)
            for (int i = 12; i < 18; i++)
                cr_assert_eq(NN_F32P(L.param_grads[0])[i], 0.0f);
        nnt_layer_close(&L);
    }
}

Test(positional_embedding, a_sequence_longer_than_max_len_is_refused)
{
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_pe(&L, "learned", "4", 2, 5, 3, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "5 positions", "max_len is 4",
                                                 NULL}),
              "%s", err.msg);
    cr_assert_neq(open_pe(&L, "rotary", "4", 2, 5, 3, 0, 0, &err), NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"mode", NULL}), "%s", err.msg);
    const int64_t sh[1][NN_MAX_DIMS] = {{2, 5}};
    const int nd = 2;
    cr_assert_eq(nnt_layer_open(&L, "positional_embedding", NULL, 1, &nd, sh, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 5]", "embed_dim", NULL}), "%s", err.msg);
}

Test(positional_embedding, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "positional_embedding", why, sizeof why),
              "%s", why);
}
