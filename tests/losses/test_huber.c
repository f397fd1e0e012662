/* test_huber.c: the huber loss against hand-computed values and a double reference of
 * PyTorch's HuberLoss (0.5 d^2 for |d| <= delta, else delta (|d| - delta / 2)) written here,
 * mean vs sum, its gradient, and its checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"
#include "pointwise_check.h"

static double ref(double d, double delta)
{
    return fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
}

static void open_loss(nnt_loss *L, const char *const *kv, int nd, const int64_t *shape)
{
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, "huber", kv, nd, shape, NN_F32, nd, shape, &err), NN_OK, "%s",
                 err.msg);
}

Test(huber, matches_hand_computed_values)
{
    /* differences p - t = -0.5, 0, 3, -2 */
    const float p[] = {1, 2, 3, -1}, t[] = {1.5f, 2, 0, 1};
    const int64_t shape[] = {2, 2};
    const char *kvs[][3] = {{NULL}, {"reduction=sum", NULL}, {"delta=2.5", NULL}};
    /* delta 1: 0.125 + 0 + (3 - 0.5) + (2 - 0.5) = 4.125; delta 2.5: 0.125 + 0 +
     * 2.5 (3 - 1.25) + 0.5 * 4 = 6.5; gradient clamp(d, -delta, delta) (/ 4 for mean) */
    const double want[] = {4.125 / 4, 4.125, 6.5 / 4};
    const double grad[][4] = {{-0.125, 0, 0.25, -0.25}, {-0.5, 0, 1, -1}, {-0.125, 0, 0.625, -0.5}};
    for (int k = 0; k < (int)(sizeof want / sizeof want[0]); k++) {
        nnt_loss L;
        nn_error err = {0};
        open_loss(&L, kvs[k], 2, shape);
        for (int i = 0; i < 4; i++) {
            NN_F32P(L.pred)[i] = p[i];
            NN_F32P(L.target)[i] = t[i];
        }
        cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        cr_assert_float_eq(L.io.loss, want[k], 1e-12, "case %d: %.15g", k, L.io.loss);
        for (int i = 0; i < 4; i++)
            cr_assert_float_eq(NN_F32P(L.grad_pred)[i], grad[k][i], 1e-7, "case %d grad %d", k, i);
        nnt_loss_close(&L);
    }
}

Test(huber, matches_reference_on_random_shapes_with_mean_and_sum)
{
    static const int64_t shapes[][4] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7}, {17, 1}};
    static const int nds[] = {2, 2, 2, 4, 2};
    for (int k = 0; k < 5; k++)
        for (int sum = 0; sum < 2; sum++) {
            const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", "delta=0.7", NULL};
            nnt_loss L;
            nn_error err = {0};
            open_loss(&L, kv, nds[k], shapes[k]);
            nnt_fill_uniform(L.pred, 90 + (uint64_t)k, -3, 3);
            nnt_fill_uniform(L.target, 95 + (uint64_t)k, -3, 3);
            cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            int64_t n = nn_tensor_numel(L.pred);
            double want = 0;
            for (int64_t i = 0; i < n; i++)
                want += ref((double)NN_F32P(L.pred)[i] - NN_F32P(L.target)[i], 0.7);
            if (!sum)
                want /= (double)n;
            cr_assert_float_eq(L.io.loss, want, 1e-12 * fmax(1, fabs(want)), "shape %d sum %d", k,
                               sum);
            nnt_loss_close(&L);
        }
}

Test(huber, gradient_matches_finite_differences)
{
    pointwise_gradient("huber", "delta=0.7");
}

static void expect_error(const char *const *kv, int pnd, const int64_t *ps, nn_dtype tdt,
                         int tnd, const int64_t *ts, int status, const char *const *needles)
{
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, "huber", kv, pnd, ps, tdt, tnd, ts, &err), status, "%s",
                 err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(huber, rejects_bad_parameters_and_mismatched_shapes_naming_them)
{
    const int64_t a[] = {4, 3}, b[] = {4, 2}, c[] = {4};
    expect_error(NULL, 2, a, NN_F32, 2, b, NN_ESHAPE, (const char *[]){"[4, 3]", "[4, 2]", NULL});
    expect_error(NULL, 2, a, NN_F32, 1, c, NN_ESHAPE, (const char *[]){"[4, 3]", "[4]", NULL});
    expect_error(NULL, 2, a, NN_I32, 2, a, NN_ESHAPE, (const char *[]){"F32", NULL});
    expect_error((const char *[]){"reduction=none", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'reduction'", "none", "mean|sum", NULL});
    expect_error((const char *[]){"reductoin=sum", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'reductoin'", "did you mean 'reduction'", NULL});
    expect_error((const char *[]){"delta=0", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'delta'", "0", NULL});
    expect_error((const char *[]){"delta=-1", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'delta'", "-1", NULL});
}

Test(huber, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, "huber", why, sizeof why), "%s", why);
}
