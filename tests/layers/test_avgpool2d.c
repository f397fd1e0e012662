/* test_avgpool2d.c: average pooling against a naive loop (count_include_pad true and false,
 * stride, padding, batch 1, odd sizes), its backward against finite differences, and its
 * error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

typedef struct pool_case {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case cases[] = {
    /* n  c  h   w  kh kw sh sw ph pw */
    {1, 1, 2, 2, 2, 2, 2, 2, 0, 0},
    {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},
    {3, 2, 8, 5, 2, 3, 1, 2, 1, 1},
    {1, 4, 5, 11, 3, 2, 3, 1, 0, 1},
    {2, 8, 14, 14, 2, 2, 2, 2, 0, 0},
};

static int open_pool(nnt_layer *L, const pool_case *c, int include_pad, int training,
                     nn_error *err)
{
    char k[4][48];
    snprintf(k[0], sizeof k[0], "kernel=%lld,%lld", (long long)c->kh, (long long)c->kw);
    snprintf(k[1], sizeof k[1], "stride=%lld,%lld", (long long)c->sh, (long long)c->sw);
    snprintf(k[2], sizeof k[2], "padding=%lld,%lld", (long long)c->ph, (long long)c->pw);
    snprintf(k[3], sizeof k[3], "count_include_pad=%s", include_pad ? "true" : "false");
    const char *kv[] = {k[0], k[1], k[2], k[3], NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{c->n, c->c, c->h, c->w}};
    const int nd = 4;
    return nnt_layer_open(L, "avgpool2d", kv, 1, &nd, shape, NULL, training, 1, err);
}

Test(avgpool2d, forward_matches_a_naive_loop_with_and_without_counting_padding)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int inc = 0; inc < 2; inc++) {
            const pool_case *c = &cases[k];
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_pool(&L, c, inc, 0, &err), NN_OK, "case %zu: %s", k, err.msg);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            int64_t oh = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
            int64_t ow = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
            cr_assert_eq(L.output->shape[2], oh);
            cr_assert_eq(L.output->shape[3], ow);
            const float *x = NN_F32P(L.inputs[0]), *y = NN_F32P(L.output);
            for (int64_t p = 0; p < c->n * c->c; p++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        double s = 0;
                        int64_t cnt = 0;
                        for (int64_t u = 0; u < c->kh; u++)
                            for (int64_t v = 0; v < c->kw; v++) {
                                int64_t hi = i * c->sh - c->ph + u, wi = j * c->sw - c->pw + v;
                                if (hi < 0 || hi >= c->h || wi < 0 || wi >= c->w)
                                    continue;
                                s += x[(p * c->h + hi) * c->w + wi];
                                cnt++;
                            }
                        double want = s / (double)(inc ? c->kh * c->kw : cnt);
                        double got = y[(p * oh + i) * ow + j];
                        cr_assert(fabs(got - want) <= 1e-6,
                                  "case %zu include_pad %d: y[%lld][%lld][%lld] = %.7g, want "
                                  "%.7g",
                                  k, inc, (long long)p, (long long)i, (long long)j, got, want);
                    }
            nnt_layer_close(&L);
        }
}

Test(avgpool2d, backward_matches_finite_differences)
{
    for (int inc = 0; inc < 2; inc++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_pool(&L, &cases[2], inc, 1, &err), NN_OK, "%s", err.msg);
        /* bound here, run on another thread as [train] replicas run it */
        cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
        /* linear in x: the only error is float rounding of sum(y .* R) over 2 eps, ~1e-5 with
         * eps 1e-2; floor 1e-2. Bound 1e-3. */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "include_pad %d: %s", inc, worst);
        nnt_layer_close(&L);
    }
}

Test(avgpool2d, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv[3];
        const char *key;
    } bad[] = {{{"kernel=-2", NULL}, "kernel"},
               {{"kernel=2", "stride=1,2,3"}, "stride"},
               {{"kernel=3", "padding=2"}, "padding"},
               {{"kernel=2", "count_include_pad=sometimes"}, "count_include_pad"},
               {{NULL}, "kernel"}};
    const int64_t shape[][NN_MAX_DIMS] = {{1, 2, 8, 8}};
    const int nd = 4;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "avgpool2d", bad[i].kv, 1, &nd, shape, NULL, 0, 0, &err),
                      NN_OK, "case %zu accepted", i);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%zu: %s", i, err.msg);
    }
}

Test(avgpool2d, shape_errors_name_the_input_shape)
{
    const char *kv[] = {"kernel=3", NULL};
    const int64_t small[][NN_MAX_DIMS] = {{1, 2, 8, 2}};
    const int nd4 = 4;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "avgpool2d", kv, 1, &nd4, small, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[1, 2, 8, 2]", NULL}), "%s",
              err.msg);
}

Test(avgpool2d, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "avgpool2d", why, sizeof why), "%s",
              why);
}
