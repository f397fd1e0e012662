/* pointwise_check.h: the checks the pointwise losses (mse, l1, huber) share: hand-computed
 * values, a double reference of the elementwise term on random shapes, the gradient through the
 * SDK's checker (<nntrain/gradcheck.h>, the one `nntrain plugins test` runs) with a tight
 * tolerance (these losses are summed in double, so the differences carry almost no rounding
 * and the analytic gradient only its float32 rounding; kinks, l1 at 0 and huber at delta, are
 * met with one-sided differences), and the errors every one of them gives. Test code. */
#ifndef NNT_POINTWISE_CHECK_H
#define NNT_POINTWISE_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"

/* pred and target of the same shape */
static inline void pointwise_open(nnt_loss *L, const char *name, const char *const *kv, int nd,
                                  const int64_t *shape)
{
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, name, kv, nd, shape, NN_F32, nd, shape, &err), NN_OK,
                 "%s: %s", name, err.msg);
}

/* case k: the loss of p and t (2x2) under kvs[k] is want[k] and its gradient grad[k] */
static inline void pointwise_hand_values(const char *name, int cases, const char *const kvs[][3],
                                         const float p[4], const float t[4], const double *want,
                                         const double grad[][4])
{
    const int64_t shape[] = {2, 2};
    for (int k = 0; k < cases; k++) {
        nnt_loss L;
        nn_error err = {0};
        pointwise_open(&L, name, kvs[k], 2, shape);
        for (int i = 0; i < 4; i++) {
            NN_F32P(L.pred)[i] = p[i];
            NN_F32P(L.target)[i] = t[i];
        }
        cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        cr_assert_float_eq(L.io.loss, want[k], 1e-12, "%s case %d: %.15g", name, k, L.io.loss);
        for (int i = 0; i < 4; i++)
            cr_assert_float_eq(NN_F32P(L.grad_pred)[i], grad[k][i], 1e-7, "%s case %d grad %d",
                               name, k, i);
        nnt_loss_close(&L);
    }
}

/* the loss on five shapes, mean and sum, against the double sum of ref(p - t, arg) */
static inline void pointwise_reference(const char *name, const char *extra,
                                       double (*ref)(double d, double arg), double arg)
{
    static const int64_t shapes[][4] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7}, {17, 1}};
    static const int nds[] = {2, 2, 2, 4, 2};
    for (int k = 0; k < 5; k++)
        for (int sum = 0; sum < 2; sum++) {
            const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", extra, NULL};
            nnt_loss L;
            nn_error err = {0};
            pointwise_open(&L, name, kv, nds[k], shapes[k]);
            nnt_fill_uniform(L.pred, 90 + (uint64_t)k, -3, 3);
            nnt_fill_uniform(L.target, 95 + (uint64_t)k, -3, 3);
            cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            int64_t n = nn_tensor_numel(L.pred);
            double want = 0;
            for (int64_t i = 0; i < n; i++)
                want += ref((double)NN_F32P(L.pred)[i] - NN_F32P(L.target)[i], arg);
            if (!sum)
                want /= (double)n;
            cr_assert_float_eq(L.io.loss, want, 1e-12 * fmax(1, fabs(want)),
                               "%s shape %d sum %d", name, k, sum);
            nnt_loss_close(&L);
        }
}

/* opening the loss with kv on these shapes fails with status, the message holding needles */
static inline void pointwise_expect_error(const char *name, const char *const *kv, int pnd,
                                          const int64_t *ps, nn_dtype tdt, int tnd,
                                          const int64_t *ts, int status,
                                          const char *const *needles)
{
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, name, kv, pnd, ps, tdt, tnd, ts, &err), status, "%s: %s",
                 name, err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

/* what every pointwise loss refuses: other shapes or dtype for the target, a reduction it
 * does not have, a misspelt key */
static inline void pointwise_common_errors(const char *name)
{
    const int64_t a[] = {4, 3}, b[] = {4, 2}, c[] = {4};
    pointwise_expect_error(name, NULL, 2, a, NN_F32, 2, b, NN_ESHAPE,
                           (const char *[]){"[4, 3]", "[4, 2]", NULL});
    pointwise_expect_error(name, NULL, 2, a, NN_F32, 1, c, NN_ESHAPE,
                           (const char *[]){"[4, 3]", "[4]", NULL});
    pointwise_expect_error(name, NULL, 2, a, NN_I32, 2, a, NN_ESHAPE,
                           (const char *[]){"F32", NULL});
    pointwise_expect_error(name, (const char *[]){"reduction=none", NULL}, 2, a, NN_F32, 2, a,
                           NN_EINVAL, (const char *[]){"'reduction'", "none", "mean|sum", NULL});
    pointwise_expect_error(name, (const char *[]){"reductoin=sum", NULL}, 2, a, NN_F32, 2, a,
                           NN_EINVAL,
                           (const char *[]){"'reductoin'", "did you mean 'reduction'", NULL});
}

static inline void pointwise_docs(const char *name)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, name, why, sizeof why), "%s", why);
}

/* shapes 1x1, 3x5 and 2x3x4, mean and sum, predictions and targets U(-3, 3) */
static inline void pointwise_gradient(const char *name, const char *extra)
{
    nnt_loss L;
    nn_error err = {0};
    const int64_t one[] = {1, 1};
    pointwise_open(&L, name, NULL, 2, one);
    const char *const shapes[] = {"1x1", "3x5", "2x3x4"};
    nn_gradcheck_opts o = {.struct_size = sizeof o, .rtol = 1e-5};
    for (int k = 0; k < 3; k++)
        for (int sum = 0; sum < 2; sum++) {
            const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", extra, NULL};
            char pred[64], target[64];
            snprintf(pred, sizeof pred, "%s f32 [-3, 3]", shapes[k]);
            snprintf(target, sizeof target, "%s f32 [-3, 3]", shapes[k]);
            for (uint64_t seed = 1; seed <= 3; seed++) {
                nn_gradcheck_result res;
                o.seed = seed;
                cr_assert_eq(nn_gradcheck_loss(L.inst.desc, kv, pred, target, &o, &res, &err),
                             NN_OK, "%s on %s, %s, seed %llu: %s", name, pred, kv[0],
                             (unsigned long long)seed, err.msg);
            }
        }
    nnt_loss_close(&L);
}

#endif
