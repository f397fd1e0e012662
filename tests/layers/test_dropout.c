/* test_dropout.c: dropout is the identity in evaluation; in training it zeroes about p of the
 * elements and scales the rest by 1 / (1 - p), with a mask fixed by (seed, sample); backward
 * matches finite differences; bad parameters are rejected. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

static void open_dropout(nnt_layer *L, const char *p, int64_t batch, int64_t feat, int training)
{
    char kv0[32];
    snprintf(kv0, sizeof kv0, "p=%s", p);
    const char *kv[] = {kv0, NULL};
    const int64_t s[][NN_MAX_DIMS] = {{batch, feat}};
    const int nd = 2;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(L, "dropout", kv, 1, &nd, s, NULL, training, 1, &err), NN_OK,
                 "%s", err.msg);
}

Test(dropout, evaluation_is_the_identity)
{
    nnt_layer L;
    nn_error err = {0};
    for (int training_plan = 0; training_plan < 2; training_plan++) {
        open_dropout(&L, "0.5", 3, 17, training_plan);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(memcmp(NN_F32P(L.output), NN_F32P(L.inputs[0]), nn_tensor_nbytes(L.output)),
                     0);
        nnt_layer_close(&L);
    }
}

Test(dropout, training_zeroes_about_p_and_scales_the_rest_by_one_over_one_minus_p)
{
    const double ps[] = {0.1, 0.3, 0.75};
    for (int k = 0; k < 3; k++) {
        char p[16];
        snprintf(p, sizeof p, "%g", ps[k]);
        nnt_layer L;
        nn_error err = {0};
        open_dropout(&L, p, 64, 97, 1);
        nnt_fill_uniform(L.inputs[0], 5, 0.5, 1.5); /* no zeros in the input */
        cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        int64_t n = nn_tensor_numel(L.output), zeros = 0;
        for (int64_t i = 0; i < n; i++) {
            double x = NN_F32P(L.inputs[0])[i], y = NN_F32P(L.output)[i];
            if (y == 0) {
                zeros++;
                continue;
            }
            cr_assert_float_eq(y, x / (1.0 - ps[k]), 1e-6 * fabs(y), "p %g element %lld", ps[k],
                               (long long)i);
        }
        /* 6208 Bernoulli(p) draws: standard deviation of the fraction <= 0.0064; 5 sigma */
        double frac = (double)zeros / (double)n;
        cr_assert_lt(fabs(frac - ps[k]), 0.032, "p %g: zeroed fraction %g", ps[k], frac);
        nnt_layer_close(&L);
    }
}

Test(dropout, p_zero_in_training_is_the_identity)
{
    nnt_layer L;
    nn_error err = {0};
    open_dropout(&L, "0", 4, 9, 1);
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(NN_F32P(L.output), NN_F32P(L.inputs[0]), nn_tensor_nbytes(L.output)), 0);
    nnt_layer_close(&L);
}

static void mask_of(nnt_layer *L, uint64_t seed, float *out)
{
    nn_error err = {0};
    nnt_fill_uniform(L->inputs[0], 5, 0.5, 1.5);
    L->io.seed = seed;
    cr_assert_eq(nnt_forward(L, 1, &err), NN_OK, "%s", err.msg);
    for (int64_t i = 0; i < nn_tensor_numel(L->output); i++)
        out[i] = NN_F32P(L->output)[i] == 0 ? 0.0f : 1.0f;
}

Test(dropout, same_seed_gives_the_same_mask_and_another_seed_another_mask)
{
    static float a[5 * 31], b[5 * 31], c[5 * 31];
    nnt_layer L;
    open_dropout(&L, "0.5", 5, 31, 1);
    mask_of(&L, 1000, a);
    mask_of(&L, 2000, c);
    mask_of(&L, 1000, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same seed gave two masks");
    int differ = 0;
    for (int i = 0; i < 5 * 31; i++)
        differ += a[i] != c[i];
    /* two independent p=0.5 masks differ on half of 155 elements; 30 is > 5 sigma below */
    cr_assert_gt(differ, 30, "seeds 1000 and 2000 gave nearly the same mask (%d differ)", differ);
    nnt_layer_close(&L);
}

Test(dropout, each_sample_has_its_own_mask_independent_of_the_batch_size)
{
    static float small[2 * 40], big[6 * 40];
    nnt_layer L;
    open_dropout(&L, "0.5", 2, 40, 1);
    mask_of(&L, 77, small);
    nnt_layer_close(&L);
    open_dropout(&L, "0.5", 6, 40, 1);
    mask_of(&L, 77, big);
    nnt_layer_close(&L);
    cr_assert_eq(memcmp(small, big, sizeof small), 0, "sample masks depend on the batch size");
    cr_assert_neq(memcmp(big, big + 40, 40 * sizeof(float)), 0, "samples 0 and 1 share a mask");
}

Test(dropout, backward_matches_finite_differences)
{
    nnt_layer L;
    char worst[256];
    open_dropout(&L, "0.4", 3, 11, 1);
    /* with the seed fixed the layer is linear in x (y = x * mask): the only error is float
     * rounding of y, ~1e-7 / eps relative */
    double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

Test(dropout, backward_passes_gradient_only_where_forward_kept)
{
    nnt_layer L;
    nn_error err = {0};
    open_dropout(&L, "0.5", 2, 50, 1);
    nnt_fill_uniform(L.inputs[0], 5, 0.5, 1.5);
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    for (int64_t i = 0; i < 100; i++)
        NN_F32P(L.grad_output)[i] = 1.0f;
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    for (int64_t i = 0; i < 100; i++) {
        float want = NN_F32P(L.output)[i] == 0 ? 0.0f : 2.0f;
        cr_assert_eq(NN_F32P(L.grad_inputs[0])[i], want, "element %lld", (long long)i);
    }
    nnt_layer_close(&L);
}

Test(dropout, training_forward_in_an_evaluation_plan_is_an_error)
{
    nnt_layer L;
    nn_error err = {0};
    open_dropout(&L, "0.5", 2, 3, 0);
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "mask"), "%s", err.msg);
    nnt_layer_close(&L);
}

static void expect_param_error(const char *kv0, const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "dropout", kv, 1, &nd, s, NULL, 1, 1, &err), NN_EINVAL,
                 "%s was accepted", kv0);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0, err.msg);
}

Test(dropout, rejects_bad_parameters_naming_the_key)
{
    expect_param_error("p=1", (const char *[]){"'p'", "1", NULL});
    expect_param_error("p=-0.1", (const char *[]){"'p'", "-0.1", NULL});
    expect_param_error("p=half", (const char *[]){"'p'", "half", NULL});
    expect_param_error("pp=0.5", (const char *[]){"'pp'", "did you mean 'p'", NULL});
}

Test(dropout, rejects_two_inputs_naming_the_layer)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "dropout", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
}

Test(dropout, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "dropout", why, sizeof why), "%s", why);
}
