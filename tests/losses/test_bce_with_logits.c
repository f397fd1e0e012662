/* test_bce_with_logits.c: bce_with_logits against hand-computed values and PyTorch's
 * documented formula -[pw y log s(x) + (1 - y) log(1 - s(x))] in double, pos_weight (one or
 * per class), mean vs sum, finiteness for huge logits, its gradient, and its checks. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"

static void open_bce(nnt_loss *L, const char *const *kv, int nd, const int64_t *shape)
{
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, "bce_with_logits", kv, nd, shape, NN_F32, nd, shape, &err),
                 NN_OK, "%s", err.msg);
}

/* the textbook form, fine in double for |x| <= 10 */
static double ref(double x, double y, double pw)
{
    double s = 1.0 / (1.0 + exp(-x));
    return -(pw * y * log(s) + (1 - y) * log(1 - s));
}

Test(bce_with_logits, matches_hand_computed_values)
{
    const int64_t shape[] = {1, 3};
    const float x[] = {0, 2, 0}, y[] = {1, 0, 0.5f};
    const char *kvs[][2] = {{NULL}, {"reduction=sum", NULL}, {"pos_weight=3", NULL}};
    /* log 2; log(1 + e^2) = 2.1269280110429727; 0.5 log 2 + 0.5 log 2 = log 2 (pos_weight 3:
     * 1.5 log 2 + 0.5 log 2) */
    const double l2 = log(2.0), sp2 = 2.1269280110429727;
    const double want[] = {(l2 + sp2 + l2) / 3, l2 + sp2 + l2, (3 * l2 + sp2 + 2 * l2) / 3};
    for (int k = 0; k < 3; k++) {
        nnt_loss L;
        nn_error err = {0};
        open_bce(&L, kvs[k], 2, shape);
        for (int i = 0; i < 3; i++) {
            NN_F32P(L.pred)[i] = x[i];
            NN_F32P(L.target)[i] = y[i];
        }
        cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_float_eq(L.io.loss, want[k], 1e-12, "case %d: %.15g", k, L.io.loss);
        nnt_loss_close(&L);
    }
}

Test(bce_with_logits, matches_pytorch_formula_with_pos_weight_and_reductions)
{
    static const int64_t shapes[][4] = {{1, 1}, {5, 3}, {2, 3, 4}, {17, 3}};
    static const int nds[] = {2, 2, 3, 2};
    const char *pws[] = {NULL, "pos_weight=2.5", "pos_weight=0.5,1,4", "pos_weight=0.5,1,4,2"};
    const double pwv[][4] = {{1, 1, 1, 1}, {2.5, 2.5, 2.5, 2.5}, {0.5, 1, 4}, {0.5, 1, 4, 2}};
    for (int k = 0; k < 4; k++)
        for (int p = 0; p < 4; p++) {
            int64_t c = shapes[k][nds[k] - 1];
            if ((p == 2 && c != 3) || (p == 3 && c != 4)) /* per-class lists fit one width */
                continue;
            for (int sum = 0; sum < 2; sum++) {
                const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", pws[p], NULL};
                nnt_loss L;
                nn_error err = {0};
                char worst[256];
                open_bce(&L, kv, nds[k], shapes[k]);
                nnt_fill_uniform(L.pred, 11 + (uint64_t)k, -6, 6);
                nnt_fill_uniform(L.target, 12 + (uint64_t)k, 0, 1);
                cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
                int64_t n = nn_tensor_numel(L.pred);
                double want = 0;
                for (int64_t i = 0; i < n; i++)
                    want += ref(NN_F32P(L.pred)[i], NN_F32P(L.target)[i], pwv[p][i % c]);
                if (!sum)
                    want /= (double)n;
                cr_assert_float_eq(L.io.loss, want, 1e-11 * fmax(1, fabs(want)),
                                   "shape %d pos_weight %d sum %d", k, p, sum);
                /* computed in double: truncation eps^2 ~ 1e-6 relative, float rounding of the
                 * analytic gradient 6e-8; floor 1e-5 for saturated elements */
                double e = nnt_loss_gradcheck(&L, 1e-3, 1e-5, worst, sizeof worst);
                cr_assert_lt(e, 1e-4, "shape %d pos_weight %d sum %d: %s", k, p, sum, worst);
                nnt_loss_close(&L);
            }
        }
}

Test(bce_with_logits, stays_finite_for_huge_logits)
{
    const int64_t shape[] = {1, 4};
    const float x[] = {1000, -1000, 1000, -1000}, y[] = {1, 0, 0, 1};
    nnt_loss L;
    nn_error err = {0};
    open_bce(&L, (const char *[]){"reduction=sum", NULL}, 2, shape);
    for (int i = 0; i < 4; i++) {
        NN_F32P(L.pred)[i] = x[i];
        NN_F32P(L.target)[i] = y[i];
    }
    cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_float_eq(L.io.loss, 2000.0, 1e-9); /* two right (0), two wrong by 1000 each */
    const float g[] = {0, 0, 1, -1};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(NN_F32P(L.grad_pred)[i], g[i], 1e-12, "element %d", i);
    nnt_loss_close(&L);
}

static void expect_error(const char *const *kv, const int64_t *ps, int tnd, const int64_t *ts,
                         int status, const char *const *needles)
{
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, "bce_with_logits", kv, 2, ps, NN_F32, tnd, ts, &err), status,
                 "%s", err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(bce_with_logits, rejects_bad_parameters_and_shapes_naming_them)
{
    const int64_t a[] = {4, 3}, b[] = {4};
    expect_error((const char *[]){"pos_weight=1,2", NULL}, a, 2, a, NN_ESHAPE,
                 (const char *[]){"'pos_weight'", "2 values", "[4, 3]", NULL});
    expect_error((const char *[]){"pos_weight=-1", NULL}, a, 2, a, NN_EINVAL,
                 (const char *[]){"'pos_weight'", "-1", NULL});
    expect_error((const char *[]){"reduction=max", NULL}, a, 2, a, NN_EINVAL,
                 (const char *[]){"'reduction'", "max", NULL});
    expect_error((const char *[]){"pos_weights=2", NULL}, a, 2, a, NN_EINVAL,
                 (const char *[]){"'pos_weights'", "did you mean 'pos_weight'", NULL});
    expect_error(NULL, a, 1, b, NN_ESHAPE, (const char *[]){"[4, 3]", "[4]", NULL});
}

Test(bce_with_logits, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, "bce_with_logits", why, sizeof why),
              "%s", why);
}
