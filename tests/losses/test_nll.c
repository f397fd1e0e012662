/* test_nll.c: nll against hand-computed values and PyTorch's documented NLLLoss formula in
 * double (class weights, ignore_index, weighted mean, sum), its gradient and its checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"

static void open_nll(nnt_loss *L, const char *const *kv, int64_t n, int64_t c)
{
    const int64_t ps[] = {n, c}, ts[] = {n};
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(L, "nll", kv, 2, ps, NN_I32, 1, ts, &err), NN_OK, "%s", err.msg);
}

Test(nll, matches_hand_computed_values)
{
    const float x[] = {-0.5f, -1.25f, -2.0f, -3.0f, -0.125f, -1.5f};
    const int32_t y[] = {1, 2};
    const char *kvs[][3] = {{NULL}, {"reduction=sum", NULL}, {"weight=1,2,4", NULL}};
    /* mean: (1.25 + 1.5) / 2; sum: 1.25 + 1.5; weighted mean: (2 * 1.25 + 4 * 1.5) / (2 + 4) */
    const double want[] = {1.375, 2.75, 8.5 / 6.0};
    for (int k = 0; k < 3; k++) {
        nnt_loss L;
        nn_error err = {0};
        open_nll(&L, kvs[k], 2, 3);
        for (int i = 0; i < 6; i++)
            NN_F32P(L.pred)[i] = x[i];
        NN_I32P(L.target)[0] = y[0];
        NN_I32P(L.target)[1] = y[1];
        cr_assert_eq(nnt_loss_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        cr_assert_float_eq(L.io.loss, want[k], 1e-12, "case %d: %.15g", k, L.io.loss);
        nnt_loss_close(&L);
    }
}

/* PyTorch's NLLLoss: l_n = -w_{y_n} x_{n, y_n}; mean = sum l_n / sum w_{y_n}, ignored skipped */
static double ref_nll(const float *x, const int32_t *y, int64_t n, int64_t c, const double *w,
                      int ignore, int sum)
{
    double total = 0, denom = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == ignore)
            continue;
        double wy = w ? w[y[i]] : 1.0;
        total += -wy * x[i * c + y[i]];
        denom += wy;
    }
    return sum ? total : total / denom;
}

Test(nll, matches_pytorch_formula_and_its_gradient)
{
    const struct {
        int64_t n, c;
        int weighted, sum, ignore;
    } cases[] = {{1, 1, 0, 0, 0}, {5, 3, 0, 0, 0}, {17, 10, 1, 0, 0}, {17, 10, 1, 1, 1},
                 {8, 4, 0, 1, 1}};
    for (int k = 0; k < 5; k++) {
        double w[16];
        char wt[160];
        const char *kv[4] = {0};
        int nkv = 0;
        if (cases[k].weighted) {
            size_t used = (size_t)snprintf(wt, sizeof wt, "weight=");
            for (int64_t j = 0; j < cases[k].c; j++) {
                w[j] = 0.5 + 0.25 * (double)j;
                used += (size_t)snprintf(wt + used, sizeof wt - used, "%s%g", j ? "," : "", w[j]);
            }
            kv[nkv++] = wt;
        }
        if (cases[k].sum)
            kv[nkv++] = "reduction=sum";
        if (cases[k].ignore)
            kv[nkv++] = "ignore_index=-1";
        nnt_loss L;
        nn_error err = {0};
        char worst[256];
        open_nll(&L, kv, cases[k].n, cases[k].c);
        nnt_fill_uniform(L.pred, 70 + (uint64_t)k, -5, 0);
        nnt_fill_uniform(L.target, 80 + (uint64_t)k, 0, (double)cases[k].c);
        if (cases[k].ignore)
            for (int64_t i = 1; i < cases[k].n; i += 4)
                NN_I32P(L.target)[i] = -1;
        cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        double want = ref_nll(NN_F32P(L.pred), NN_I32P(L.target), cases[k].n, cases[k].c,
                              cases[k].weighted ? w : NULL, cases[k].ignore ? -1 : -100,
                              cases[k].sum);
        cr_assert_float_eq(L.io.loss, want, 1e-12 * fmax(1, fabs(want)), "case %d", k);
        /* linear in the input and computed in double: only float rounding of the analytic
         * gradient (6e-8) remains */
        double e = nnt_loss_gradcheck(&L, 1e-3, 1e-6, worst, sizeof worst);
        cr_assert_lt(e, 1e-5, "case %d: %s", k, worst);
        nnt_loss_close(&L);
    }
}

Test(nll, a_class_id_out_of_range_names_the_sample_and_the_value)
{
    nnt_loss L;
    nn_error err = {0};
    open_nll(&L, NULL, 4, 5);
    NN_I32P(L.target)[3] = 9;
    cr_assert_eq(nnt_loss_forward(&L, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"sample 3", "class id 9", "[0, 5)", NULL}), "%s",
              err.msg);
    nnt_loss_close(&L);
}

static void expect_error(const char *const *kv, nn_dtype tdt, int tnd, const int64_t *ts,
                         int status, const char *const *needles)
{
    const int64_t ps[] = {4, 3};
    nnt_loss L;
    nn_error err = {0};
    cr_assert_eq(nnt_loss_open(&L, "nll", kv, 2, ps, tdt, tnd, ts, &err), status, "%s", err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(nll, rejects_bad_parameters_and_shapes_naming_them)
{
    const int64_t t4[] = {4}, t3[] = {3};
    expect_error((const char *[]){"reduction=avg", NULL}, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'reduction'", "avg", NULL});
    expect_error((const char *[]){"weight=1,1", NULL}, NN_I32, 1, t4, NN_ESHAPE,
                 (const char *[]){"'weight'", "2 values", "[4, 3]", NULL});
    expect_error((const char *[]){"weights=1,1,1", NULL}, NN_I32, 1, t4, NN_EINVAL,
                 (const char *[]){"'weights'", "did you mean 'weight'", NULL});
    expect_error(NULL, NN_I32, 1, t3, NN_ESHAPE, (const char *[]){"[3]", "[4, 3]", NULL});
}

/* a softmax layer straight before nll gives it probabilities, and it trained on -p (a loss
 * of -0.11) without a word: refused in setup, naming the layer and log_softmax */
Test(nll, refuses_a_softmax_layer_as_its_input_and_takes_log_softmax)
{
    nnt_loss L;
    nn_error err = {0};
    open_nll(&L, NULL, 2, 3);
    L.setup.pred = L.pred; /* the harness's setup saw descriptions of these, then let go */
    L.setup.target = L.target;
    L.setup.pred_layer = "probs";
    L.setup.pred_layer_type = "softmax";
    cr_assert_eq(L.vt->setup(L.inst.self, &L.setup, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"nll: its input is layer 'probs' (softmax)",
                                                 "type = log_softmax", "cross_entropy", NULL}),
              "%s", err.msg);
    L.setup.pred_layer_type = "log_softmax";
    cr_assert_eq(L.vt->setup(L.inst.self, &L.setup, &err), NN_OK, "%s", err.msg);
    L.setup.pred_layer = L.setup.pred_layer_type = NULL; /* a harness, an older core */
    cr_assert_eq(L.vt->setup(L.inst.self, &L.setup, &err), NN_OK, "%s", err.msg);
    nnt_loss_close(&L);
}

Test(nll, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LOSS, "nll", why, sizeof why), "%s", why);
}
