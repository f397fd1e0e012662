/* test_soft_targets.c: cross_entropy and nll with probability targets F32 [N, C] (what mixup
 * and cutmix make), against PyTorch's documented formula for class probabilities evaluated
 * here in double (q = (1 - e) t + e / C, class weights, mean over N, sum), hand values, the
 * mixup identity, gradients and the refusals; and the core's metrics on such targets. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "harness.h"
#include "metrics.h"

static void open_soft(nnt_loss *L, const char *plugin, const char *const *kv, int64_t n,
                      int64_t c)
{
    const int64_t ps[] = {n, c};
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, plugin, kv, 2, ps, NN_F32, 2, ps, &err), NN_OK, "%s",
                 err.msg);
}

/* torch.nn.functional.cross_entropy(x, t, weight, label_smoothing, reduction) for t of class
 * probabilities, from its documentation: l_n = -sum_c w_c q_nc log softmax(x_n)_c with
 * q = (1 - e) t + e / C; mean = sum_n l_n / N (not by the weights) */
static double ref_soft_ce(const float *x, const float *t, int64_t n, int64_t c, const double *w,
                          double e, int sum)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = 0;
        for (int64_t k = 0; k < c; k++)
            z += exp((double)x[i * c + k]);
        for (int64_t k = 0; k < c; k++) {
            double q = (1 - e) * t[i * c + k] + e / (double)c;
            total -= (w ? w[k] : 1.0) * q * ((double)x[i * c + k] - log(z));
        }
    }
    return sum ? total : total / (double)n;
}

/* random rows that sum to 1, some with exact zeros (mixup of two classes leaves C - 2) */
static void fill_probs(nn_tensor *t, uint64_t seed)
{
    int64_t n = t->shape[0], c = t->shape[1];
    nnt_fill_uniform(t, seed, 0, 1);
    float *p = NN_F32P(t);
    for (int64_t i = 0; i < n; i++) {
        if (i % 3 == 1)
            for (int64_t k = 0; k < c; k += 2)
                p[i * c + k] = 0;
        double s = 0;
        for (int64_t k = 0; k < c; k++)
            s += p[i * c + k];
        for (int64_t k = 0; k < c; k++)
            p[i * c + k] = s > 0 ? (float)(p[i * c + k] / s) : 1.0f / (float)c;
    }
}

typedef struct soft_case {
    int64_t n, c;
    double smoothing;
    int weighted, sum;
} soft_case;

static const soft_case cases[] = {
    {1, 2, 0, 0, 0},   {4, 3, 0, 0, 0},   {9, 10, 0.1, 0, 0}, {6, 5, 0, 1, 0},
    {6, 5, 0.2, 1, 0}, {6, 5, 0.2, 1, 1}, {17, 7, 0.3, 0, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void open_case(nnt_loss *L, const char *plugin, const soft_case *c, size_t k, double *w)
{
    char ls[48], wt[160], red[32];
    const char *kv[4] = {0};
    int n = 0;
    if (c->smoothing > 0) {
        snprintf(ls, sizeof ls, "label_smoothing=%g", c->smoothing);
        kv[n++] = ls;
    }
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
    open_soft(L, plugin, kv, c->n, c->c);
    nnt_fill_uniform(L->pred, 70 + k, -4, 4);
    fill_probs(L->target, 80 + k);
}

Test(soft_targets, cross_entropy_matches_a_hand_computed_value)
{
    nnt_loss L;
    nn_error err = {0};
    open_soft(&L, "cross_entropy", NULL, 1, 3);
    const float x[] = {1, 2, 3}, t[] = {0.25f, 0, 0.75f};
    for (int k = 0; k < 3; k++) {
        NN_F32P(L.pred)[k] = x[k];
        NN_F32P(L.target)[k] = t[k];
    }
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    /* log(e + e^2 + e^3) - (0.25 * 1 + 0.75 * 3) */
    cr_assert_float_eq(L.io.loss, 3.40760596444438 - 2.5, 1e-12, "%.15g", L.io.loss);
    /* gradient: softmax - t */
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    for (int k = 0; k < 3; k++)
        cr_assert_float_eq(NN_F32P(L.grad_pred)[k], exp(x[k]) / z - t[k], 1e-7, "class %d", k);
    nnt_loss_close(&L);
}

Test(soft_targets, cross_entropy_matches_pytorch_formula_with_smoothing_weights_and_reductions)
{
    for (size_t k = 0; k < N_CASES; k++) {
        const soft_case *c = &cases[k];
        double w[16];
        nnt_loss L;
        nn_error err = {0};
        open_case(&L, "cross_entropy", c, k, w);
        cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        double want = ref_soft_ce(NN_F32P(L.pred), NN_F32P(L.target), c->n, c->c,
                                  c->weighted ? w : NULL, c->smoothing, c->sum);
        cr_assert_float_eq(L.io.loss, want, 1e-10 * fmax(1, fabs(want)), "case %zu: %.15g vs "
                           "%.15g", k, L.io.loss, want);
        nnt_loss_close(&L);
    }
}

Test(soft_targets, cross_entropy_gradient_matches_finite_differences)
{
    for (size_t k = 0; k < N_CASES; k++) {
        double w[16];
        nnt_loss L;
        char worst[256];
        open_case(&L, "cross_entropy", &cases[k], k, w);
        double e = nnt_loss_gradcheck(&L, 1e-3, 1e-5, worst, sizeof worst);
        cr_assert_lt(e, 1e-4, "case %zu: %s", k, worst);
        nnt_loss_close(&L);
    }
}

/* the loss of a mixed target is the same mix of the two class-id losses (mixup's criterion,
 * lam CE(x, a) + (1 - lam) CE(x, b)), smoothing included; without weights the means agree */
Test(soft_targets, a_mixed_target_costs_the_mix_of_the_two_class_losses)
{
    const int64_t n = 5, c = 4, ps[] = {n, c}, ts[] = {n};
    const double lam = 0.3;
    const char *kv[] = {"label_smoothing=0.1", NULL};
    nnt_loss S, A, B;
    nn_error err = {0};
    open_soft(&S, "cross_entropy", kv, n, c);
    cr_assert_eq(nnt_loss_open(&A, "cross_entropy", kv, 2, ps, NN_I32, 1, ts, &err), NN_OK);
    cr_assert_eq(nnt_loss_open(&B, "cross_entropy", kv, 2, ps, NN_I32, 1, ts, &err), NN_OK);
    nnt_fill_uniform(S.pred, 5, -3, 3);
    memcpy(NN_F32P(A.pred), NN_F32P(S.pred), sizeof(float) * (size_t)(n * c));
    memcpy(NN_F32P(B.pred), NN_F32P(S.pred), sizeof(float) * (size_t)(n * c));
    for (int64_t i = 0; i < n; i++) {
        int32_t a = (int32_t)(i % c), b = (int32_t)((i + 1 + i / 2) % c);
        NN_I32P(A.target)[i] = a;
        NN_I32P(B.target)[i] = b;
        for (int64_t k = 0; k < c; k++)
            NN_F32P(S.target)[i * c + k] = (float)(lam * (k == a) + (1 - lam) * (k == b));
    }
    cr_assert_eq(nnt_loss_forward(&S, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_loss_forward(&A, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_loss_forward(&B, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_float_eq(S.io.loss, lam * A.io.loss + (1 - lam) * B.io.loss, 1e-6);
    for (int64_t i = 0; i < n * c; i++)
        cr_assert_float_eq(NN_F32P(S.grad_pred)[i],
                           lam * NN_F32P(A.grad_pred)[i] + (1 - lam) * NN_F32P(B.grad_pred)[i],
                           1e-7, "element %lld", (long long)i);
    nnt_loss_close(&S);
    nnt_loss_close(&A);
    nnt_loss_close(&B);
}

/* PyTorch divides a weighted mean of class ids by the summed weights of the targets, and one of
 * probabilities by N: one-hot probabilities give the class-id loss times sum w_y / N */
Test(soft_targets, weighted_mean_divides_by_n_as_pytorch_does)
{
    const int64_t n = 4, c = 3, ps[] = {n, c}, ts[] = {n};
    const char *kv[] = {"weight=1,2,4", NULL};
    const int32_t y[] = {0, 2, 2, 1};
    nnt_loss S, I;
    nn_error err = {0};
    open_soft(&S, "cross_entropy", kv, n, c);
    cr_assert_eq(nnt_loss_open(&I, "cross_entropy", kv, 2, ps, NN_I32, 1, ts, &err), NN_OK);
    nnt_fill_uniform(S.pred, 9, -2, 2);
    memcpy(NN_F32P(I.pred), NN_F32P(S.pred), sizeof(float) * (size_t)(n * c));
    memset(NN_F32P(S.target), 0, sizeof(float) * (size_t)(n * c));
    for (int64_t i = 0; i < n; i++) {
        NN_I32P(I.target)[i] = y[i];
        NN_F32P(S.target)[i * c + y[i]] = 1;
    }
    cr_assert_eq(nnt_loss_forward(&S, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_loss_forward(&I, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_float_eq(S.io.loss, I.io.loss * (1 + 4 + 4 + 2) / 4.0, 1e-9);
    nnt_loss_close(&S);
    nnt_loss_close(&I);
}

/* nll with probabilities: l_n = -sum_c w_c t_nc x_nc (cross_entropy's probability form on
 * log-probabilities), mean over N */
Test(soft_targets, nll_matches_the_probability_form_and_its_gradient)
{
    for (size_t k = 0; k < N_CASES; k++) {
        soft_case c = cases[k];
        c.smoothing = 0; /* nll has no smoothing */
        double w[16];
        nnt_loss L;
        nn_error err = {0};
        char worst[256];
        open_case(&L, "nll", &c, k, w);
        cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        double want = 0;
        const float *x = NN_F32P(L.pred), *t = NN_F32P(L.target);
        for (int64_t i = 0; i < c.n * c.c; i++)
            want -= (c.weighted ? w[i % c.c] : 1.0) * t[i] * x[i];
        want = c.sum ? want : want / (double)c.n;
        cr_assert_float_eq(L.io.loss, want, 1e-10 * fmax(1, fabs(want)), "case %zu", k);
        for (int64_t i = 0; i < c.n * c.c; i++)
            cr_assert_float_eq(NN_F32P(L.grad_pred)[i],
                               -(c.weighted ? w[i % c.c] : 1.0) * t[i] / (c.sum ? 1.0 : c.n),
                               1e-7, "case %zu element %lld", k, (long long)i);
        double e = nnt_loss_gradcheck(&L, 1e-3, 1e-5, worst, sizeof worst);
        cr_assert_lt(e, 1e-4, "case %zu: %s", k, worst);
        nnt_loss_close(&L);
    }
}

Test(soft_targets, a_negative_or_nan_probability_names_the_sample_and_the_class)
{
    const float bad[] = {-0.25f, NAN, INFINITY};
    const char *const plugins[] = {"cross_entropy", "nll"};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 3; k++) {
            nnt_loss L;
            nn_error err = {0};
            open_soft(&L, plugins[p], NULL, 4, 5);
            fill_probs(L.target, 3);
            NN_F32P(L.target)[2 * 5 + 3] = bad[k];
            cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_EINVAL, "%s: %g accepted",
                         plugins[p], (double)bad[k]);
            cr_assert(nnt_msg_has(&err, (const char *[]){plugins[p], "sample 2", "class 3",
                                                          ">= 0", NULL}), "%s", err.msg);
            nnt_loss_close(&L);
        }
}

Test(soft_targets, ignore_index_and_mismatched_shapes_are_refused)
{
    const int64_t ps[] = {4, 3}, t42[] = {4, 2}, t53[] = {5, 3};
    const char *const plugins[] = {"cross_entropy", "nll"};
    for (int p = 0; p < 2; p++) {
        nnt_loss L;
        nn_error err = {0};
        cr_assert_eq(nnt_loss_open(&L, plugins[p], (const char *[]){"ignore_index=0", NULL}, 2,
                                   ps, NN_F32, 2, ps, &err), NN_EINVAL, "%s", err.msg);
        cr_assert(nnt_msg_has(&err, (const char *[]){"'ignore_index'", "probabilities", NULL}),
                  "%s", err.msg);
        err = (nn_error){0};
        cr_assert_eq(nnt_loss_open(&L, plugins[p], NULL, 2, ps, NN_F32, 2, t42, &err),
                     NN_ESHAPE);
        cr_assert(nnt_msg_has(&err, (const char *[]){"[4, 2]", "[4, 3]", "[N, C]", NULL}), "%s",
                  err.msg);
        err = (nn_error){0};
        cr_assert_eq(nnt_loss_open(&L, plugins[p], NULL, 2, ps, NN_F32, 2, t53, &err),
                     NN_ESHAPE);
        cr_assert(nnt_msg_has(&err, (const char *[]){"[5, 3]", "[4, 3]", NULL}), "%s", err.msg);
    }
}

/* ---- metrics (core/metrics.c) with probability targets ---- */

/* accuracy, top-k and the confusion matrix of probability targets are those of the class each
 * target weighs most (its first maximum, as the devices' count_correct takes it) */
Test(soft_targets, metrics_count_the_class_a_target_weighs_most)
{
    enum { N = 7, K = 4 };
    const int64_t ps[] = {N, K}, is[] = {N};
    nn_tensor *pred = nn_tensor_new(NN_F32, 2, ps), *soft = nn_tensor_new(NN_F32, 2, ps);
    nn_tensor *ids = nn_tensor_new(NN_I32, 1, is);
    cr_assert(pred && soft && ids);
    nnt_fill_uniform(pred, 4, -1, 1);
    const int32_t y[N] = {0, 1, 2, 3, 0, 2, 1};
    for (int64_t i = 0; i < N; i++) {
        float *t = NN_F32P(soft) + i * K;
        for (int64_t k = 0; k < K; k++)
            t[k] = 0.1f;
        t[y[i]] = 0.6f - 0.1f * (float)(i % 3); /* the most, though not alone at times */
        t[(y[i] + 1) % K] = i == 4 ? t[y[i]] : 0.2f; /* row 4: a tie after its class */
        if (i == 6)
            t[(y[i] + 3) % K] = t[y[i]]; /* row 6: a tie before it, so class 0 */
        NN_I32P(ids)[i] = i == 6 ? 0 : y[i];
    }
    nn_metrics a, b;
    cr_assert_eq(nn_metrics_init(&a, K, 2, 1), 0);
    cr_assert_eq(nn_metrics_init(&b, K, 2, 1), 0);
    nn_metrics_add(&a, pred, soft, N, 0.5);
    nn_metrics_add(&b, pred, ids, N, 0.5);
    cr_assert_eq(a.correct, b.correct);
    cr_assert_eq(a.topk_correct, b.topk_correct);
    cr_assert_arr_eq(a.confusion, b.confusion, K * K * sizeof *a.confusion);
    cr_assert_eq(nn_metrics_accuracy(&a), nn_metrics_accuracy(&b));
    double dev[2] = {-1, -1};
    nn_error err = {0};
    cr_assert_eq(nn_dev_count_correct(nn_dev_host(), pred, soft, N, 2, dev, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(dev[0], (double)a.correct, "as the devices count");
    cr_assert_eq(dev[1], (double)a.topk_correct);
    nn_metrics_free(&a);
    nn_metrics_free(&b);
    nn_tensor_free(pred);
    nn_tensor_free(soft);
    nn_tensor_free(ids);
}
