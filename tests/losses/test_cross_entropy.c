/* test_cross_entropy.c: cross_entropy against hand-computed values and against PyTorch's
 * documented formula evaluated here in double (soft target q = (1 - e) one_hot + e / C, class
 * weights, ignore_index, weighted mean), its gradient, its stability and its checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"

static void open_ce(nnt_loss *L, const char *const *kv, int64_t n, int64_t c)
{
    const int64_t ps[] = {n, c}, ts[] = {n};
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, "cross_entropy", kv, 2, ps, NN_I32, 1, ts, &err), NN_OK, "%s",
                 err.msg);
}

/* PyTorch's CrossEntropyLoss for class ids, written from its documentation:
 * l_n = -sum_c w_c q_nc log softmax(x_n)_c with q_n = (1 - e) one_hot(y_n) + e / C;
 * mean = sum_n l_n / sum_n w_{y_n} over the samples whose target is not ignore_index */
static double ref_ce(const float *x, const int32_t *y, int64_t n, int64_t c, const double *w,
                     double e, int ignore, int sum)
{
    double total = 0, denom = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == ignore)
            continue;
        double z = 0;
        for (int64_t k = 0; k < c; k++)
            z += exp((double)x[i * c + k]);
        for (int64_t k = 0; k < c; k++) {
            double q = (1 - e) * (k == y[i]) + e / (double)c;
            total -= (w ? w[k] : 1.0) * q * ((double)x[i * c + k] - log(z));
        }
        denom += w ? w[y[i]] : 1.0;
    }
    return sum ? total : total / denom;
}

Test(cross_entropy, matches_a_hand_computed_value)
{
    nnt_loss L;
    nn_error err = {0};
    open_ce(&L, NULL, 1, 3);
    const float x[] = {1, 2, 3};
    for (int k = 0; k < 3; k++)
        NN_F32P(L.pred)[k] = x[k];
    NN_I32P(L.target)[0] = 0;
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    /* log(e + e^2 + e^3) - 1 */
    cr_assert_float_eq(L.io.loss, 2.40760596444438, 1e-12);
    /* gradient: softmax - one_hot */
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    const double g[] = {exp(1.0) / z - 1, exp(2.0) / z, exp(3.0) / z};
    for (int k = 0; k < 3; k++)
        cr_assert_float_eq(NN_F32P(L.grad_pred)[k], g[k], 1e-7, "class %d", k);
    nnt_loss_close(&L);
}

Test(cross_entropy, uniform_logits_give_log_c_with_or_without_smoothing)
{
    const char *kvs[][2] = {{NULL, NULL}, {"label_smoothing=0.3", NULL}};
    for (int k = 0; k < 2; k++) {
        nnt_loss L;
        nn_error err = {0};
        open_ce(&L, kvs[k], 4, 7);
        for (int i = 0; i < 28; i++)
            NN_F32P(L.pred)[i] = 0.25f;
        nnt_fill_uniform(L.target, 3, 0, 7);
        cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_float_eq(L.io.loss, log(7.0), 1e-12, "case %d", k);
        nnt_loss_close(&L);
    }
}

typedef struct {
    int64_t n, c;
    double smoothing;
    int weighted, sum, ignore; /* ignore: also set some targets to ignore_index */
} case_t;

static const case_t cases[] = {
    {1, 2, 0, 0, 0, 0},   {3, 5, 0, 0, 0, 0},   {17, 10, 0, 0, 1, 0}, {17, 10, 0.1, 0, 0, 0},
    {5, 4, 0.3, 0, 1, 0}, {9, 6, 0, 1, 0, 0},   {9, 6, 0.2, 1, 0, 0}, {9, 6, 0.2, 1, 1, 0},
    {8, 3, 0, 0, 0, 1},   {8, 3, 0.1, 1, 0, 1}, {8, 3, 0.1, 1, 1, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* opens case k with random logits in [-4, 4] and random targets; fills w when weighted */
static void open_case(nnt_loss *L, const case_t *c, size_t k, double *w)
{
    char ls[48], wt[160], red[32];
    const char *kv[5] = {0};
    int n = 0;
    snprintf(ls, sizeof ls, "label_smoothing=%g", c->smoothing);
    kv[n++] = ls;
    snprintf(red, sizeof red, "reduction=%s", c->sum ? "sum" : "mean");
    kv[n++] = red;
    if (c->weighted) {
        size_t used = (size_t)snprintf(wt, sizeof wt, "weight=");
        for (int64_t j = 0; j < c->c; j++) {
            w[j] = 0.25 + 0.5 * (double)j;
            used += (size_t)snprintf(wt + used, sizeof wt - used, "%s%g", j ? "," : "", w[j]);
        }
        kv[n++] = wt;
    }
    if (c->ignore)
        kv[n++] = "ignore_index=-1";
    open_ce(L, kv, c->n, c->c);
    nnt_fill_uniform(L->pred, 50 + k, -4, 4);
    nnt_fill_uniform(L->target, 60 + k, 0, (double)c->c);
    if (c->ignore)
        for (int64_t i = 0; i < c->n; i += 3)
            NN_I32P(L->target)[i] = -1;
}

Test(cross_entropy, matches_pytorch_formula_with_smoothing_weights_ignore_and_reductions)
{
    for (size_t k = 0; k < N_CASES; k++) {
        const case_t *c = &cases[k];
        double w[16];
        nnt_loss L;
        nn_error err = {0};
        open_case(&L, c, k, w);
        cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        double want = ref_ce(NN_F32P(L.pred), NN_I32P(L.target), c->n, c->c,
                             c->weighted ? w : NULL, c->smoothing, c->ignore ? -1 : -100, c->sum);
        cr_assert_float_eq(L.io.loss, want, 1e-10 * fmax(1, fabs(want)), "case %zu: %.15g vs %.15g",
                           k, L.io.loss, want);
        nnt_loss_close(&L);
    }
}

Test(cross_entropy, sum_is_mean_times_the_summed_weights)
{
    double w[16];
    nnt_loss a, b;
    nn_error err = {0};
    const case_t mean = {9, 6, 0.2, 1, 0, 0}, sum = {9, 6, 0.2, 1, 1, 0};
    open_case(&a, &mean, 3, w);
    open_case(&b, &sum, 3, w);
    cr_assert_eq(nnt_loss_forward(&a, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_loss_forward(&b, 0, &err), NN_OK, "%s", err.msg);
    double wsum = 0;
    for (int i = 0; i < 9; i++)
        wsum += w[NN_I32P(a.target)[i]];
    cr_assert_float_eq(b.io.loss, a.io.loss * wsum, 1e-10 * b.io.loss);
    nnt_loss_close(&a);
    nnt_loss_close(&b);
}

Test(cross_entropy, gradient_matches_finite_differences)
{
    for (size_t k = 0; k < N_CASES; k++) {
        double w[16];
        nnt_loss L;
        char worst[256];
        open_case(&L, &cases[k], k, w);
        /* the loss is computed in double from float logits, so the central difference only
         * carries its truncation error (eps^2 ~ 1e-6 relative) and the analytic gradient its
         * float rounding (6e-8); floor 1e-5 for the tiny entries of far-off classes */
        double e = nnt_loss_gradcheck(&L, 1e-3, 1e-5, worst, sizeof worst);
        cr_assert_lt(e, 1e-4, "case %zu: %s", k, worst);
        nnt_loss_close(&L);
    }
}

Test(cross_entropy, ignored_samples_get_zero_gradient)
{
    double w[16];
    nnt_loss L;
    nn_error err = {0};
    open_case(&L, &cases[9], 9, w);
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    for (int64_t i = 0; i < 8; i += 3)
        for (int64_t j = 0; j < 3; j++)
            cr_assert_eq(NN_F32P(L.grad_pred)[i * 3 + j], 0.0f, "sample %lld", (long long)i);
    nnt_loss_close(&L);
}

Test(cross_entropy, stays_finite_for_huge_logits)
{
    nnt_loss L;
    nn_error err = {0};
    open_ce(&L, NULL, 2, 2);
    const float x[] = {1000, 0, -1000, 1000};
    for (int k = 0; k < 4; k++)
        NN_F32P(L.pred)[k] = x[k];
    NN_I32P(L.target)[0] = 1; /* costs 1000 */
    NN_I32P(L.target)[1] = 1; /* costs 0 */
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_float_eq(L.io.loss, 500.0, 1e-9);
    const float g[] = {0.5f, -0.5f, 0, 0};
    for (int k = 0; k < 4; k++)
        cr_assert_float_eq(NN_F32P(L.grad_pred)[k], g[k], 1e-7, "element %d", k);
    nnt_loss_close(&L);
}

Test(cross_entropy, a_class_id_out_of_range_names_the_sample_and_the_value)
{
    const int32_t bad[] = {5, -3, 1000};
    for (int k = 0; k < 3; k++) {
        nnt_loss L;
        nn_error err = {0};
        char v[32];
        open_ce(&L, NULL, 4, 5);
        NN_I32P(L.target)[2] = bad[k];
        cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_EINVAL, "id %d accepted", bad[k]);
        snprintf(v, sizeof v, "class id %d", bad[k]);
        cr_assert(nnt_msg_has(&err, (const char *[]){"sample 2", v, "[0, 5)", NULL}), "%s",
                  err.msg);
        nnt_loss_close(&L);
    }
}

static void expect_error(const char *const *kv, int64_t n, int64_t c, nn_dtype tdt, int tnd,
                         const int64_t *ts, int status, const char *const *needles)
{
    const int64_t ps[] = {n, c};
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, "cross_entropy", kv, 2, ps, tdt, tnd, ts, &err), status, "%s",
                 err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(cross_entropy, rejects_bad_parameters_naming_the_key)
{
    const int64_t t4[] = {4};
    expect_error((const char *[]){"label_smoothing=1", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'label_smoothing'", "1", NULL});
    expect_error((const char *[]){"label_smoothing=-0.1", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'label_smoothing'", "-0.1", NULL});
    expect_error((const char *[]){"reduction=none", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'reduction'", "none", "mean", NULL});
    expect_error((const char *[]){"weight=1,-2,1", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'weight'", "-2", NULL});
    expect_error((const char *[]){"weight=1,2", NULL}, 4, 3, NN_I32, 1, t4, NN_ESHAPE,
                 (const char *[]){"'weight'", "2 values", "[4, 3]", "3 classes", NULL});
    expect_error((const char *[]){"ignore_index=x", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'ignore_index'", NULL});
    expect_error((const char *[]){"label_smothing=0.1", NULL}, 4, 3, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'label_smothing'", "did you mean 'label_smoothing'", NULL});
}

Test(cross_entropy, rejects_targets_that_do_not_fit_naming_both_shapes)
{
    const int64_t t5[] = {5}, t41[] = {4, 1}, t4[] = {4};
    expect_error(NULL, 4, 3, NN_I32, 1, t5, NN_ESHAPE, (const char *[]){"[5]", "[4, 3]", NULL});
    expect_error(NULL, 4, 3, NN_I32, 2, t41, NN_ESHAPE,
                 (const char *[]){"[4, 1]", "[4, 3]", NULL});
    expect_error(NULL, 4, 3, NN_F32, 1, t4, NN_ESHAPE, (const char *[]){"I32", "[4]", NULL});
}

Test(cross_entropy, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, "cross_entropy", why, sizeof why), "%s",
              why);
}
