/* test_l1.c: the l1 loss against hand-computed values and a double reference of
 * PyTorch's L1Loss, |p - t|, written here, mean vs sum, its gradient, and its checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"
#include "pointwise_check.h"

static double ref(double d)
{
    return fabs(d);
}

static void open_loss(nnt_loss *L, const char *const *kv, int nd, const int64_t *shape)
{
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, "l1", kv, nd, shape, NN_F32, nd, shape, &err), NN_OK, "%s",
                 err.msg);
}

Test(l1, matches_hand_computed_values)
{
    /* differences p - t = -0.5, 0, 3, -2 */
    const float p[] = {1, 2, 3, -1}, t[] = {1.5f, 2, 0, 1};
    const int64_t shape[] = {2, 2};
    const char *kvs[][2] = {{NULL}, {"reduction=sum", NULL}};
    /* (0.5 + 0 + 3 + 2) / 4 and the sum; gradient sign(d) / 4 and sign(d) */
    const double want[] = {5.5 / 4, 5.5};
    const double grad[][4] = {{-0.25, 0, 0.25, -0.25}, {-1, 0, 1, -1}};
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

Test(l1, matches_reference_on_random_shapes_with_mean_and_sum)
{
    static const int64_t shapes[][4] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7}, {17, 1}};
    static const int nds[] = {2, 2, 2, 4, 2};
    for (int k = 0; k < 5; k++)
        for (int sum = 0; sum < 2; sum++) {
            const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", NULL};
            nnt_loss L;
            nn_error err = {0};
            open_loss(&L, kv, nds[k], shapes[k]);
            nnt_fill_uniform(L.pred, 90 + (uint64_t)k, -3, 3);
            nnt_fill_uniform(L.target, 95 + (uint64_t)k, -3, 3);
            cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            int64_t n = nn_tensor_numel(L.pred);
            double want = 0;
            for (int64_t i = 0; i < n; i++)
                want += ref((double)NN_F32P(L.pred)[i] - NN_F32P(L.target)[i]);
            if (!sum)
                want /= (double)n;
            cr_assert_float_eq(L.io.loss, want, 1e-12 * fmax(1, fabs(want)), "shape %d sum %d", k,
                               sum);
            nnt_loss_close(&L);
        }
}

Test(l1, gradient_matches_finite_differences)
{
    pointwise_gradient("l1", NULL);
}

static void expect_error(const char *const *kv, int pnd, const int64_t *ps, nn_dtype tdt,
                         int tnd, const int64_t *ts, int status, const char *const *needles)
{
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, "l1", kv, pnd, ps, tdt, tnd, ts, &err), status, "%s",
                 err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(l1, rejects_bad_parameters_and_mismatched_shapes_naming_them)
{
    const int64_t a[] = {4, 3}, b[] = {4, 2}, c[] = {4};
    expect_error(NULL, 2, a, NN_F32, 2, b, NN_ESHAPE, (const char *[]){"[4, 3]", "[4, 2]", NULL});
    expect_error(NULL, 2, a, NN_F32, 1, c, NN_ESHAPE, (const char *[]){"[4, 3]", "[4]", NULL});
    expect_error(NULL, 2, a, NN_I32, 2, a, NN_ESHAPE, (const char *[]){"F32", NULL});
    expect_error((const char *[]){"reduction=none", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'reduction'", "none", "mean|sum", NULL});
    expect_error((const char *[]){"reductoin=sum", NULL}, 2, a, NN_F32, 2, a, NN_EINVAL,
                 (const char *[]){"'reductoin'", "did you mean 'reduction'", NULL});
}

Test(l1, gradient_at_zero_difference_is_zero_as_in_pytorch)
{
    const int64_t shape[] = {1, 2};
    nnt_loss L;
    nn_error err = {0};
    open_loss(&L, NULL, 2, shape);
    NN_F32P(L.pred)[0] = NN_F32P(L.target)[0] = 0.75f;
    NN_F32P(L.pred)[1] = 1.0f;
    NN_F32P(L.target)[1] = 0.0f;
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(NN_F32P(L.grad_pred)[0], 0.0f);
    cr_assert_eq(NN_F32P(L.grad_pred)[1], 0.5f);
    nnt_loss_close(&L);
}

Test(l1, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, "l1", why, sizeof why), "%s", why);
}
