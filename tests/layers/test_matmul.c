/* test_matmul.c: the batched matmul layer against a naive double loop for every transpose
 * combination on 3-d and 4-d inputs, its gradients against finite differences (both inputs,
 * and one input only), and its shape and parameter errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* A is [batch..., M, K] (or [.., K, M]), B [batch..., K, P] (or [.., P, K]) */
static int open_mm(nnt_layer *L, int nd, const int64_t *lead, int64_t M, int64_t K, int64_t P,
                   int ta, int tb, const char *scale, int training, unsigned need,
                   nn_error *err)
{
    int64_t sh[2][NN_MAX_DIMS];
    int nds[2] = {nd, nd};
    for (int i = 0; i < nd - 2; i++)
        sh[0][i] = sh[1][i] = lead[i];
    sh[0][nd - 2] = ta ? K : M;
    sh[0][nd - 1] = ta ? M : K;
    sh[1][nd - 2] = tb ? P : K;
    sh[1][nd - 1] = tb ? K : P;
    char ka[32], kb[32], ks[32];
    snprintf(ka, sizeof ka, "transpose_a=%s", ta ? "true" : "false");
    snprintf(kb, sizeof kb, "transpose_b=%s", tb ? "true" : "false");
    snprintf(ks, sizeof ks, "scale=%s", scale);
    const char *kv[] = {ka, kb, ks, NULL};
    return nnt_layer_open(L, "matmul", kv, 2, nds, (const int64_t(*)[NN_MAX_DIMS])sh, NULL,
                          training, need, err);
}

static void check(const nnt_layer *L, int64_t batch, int64_t M, int64_t K, int64_t P, int ta,
                  int tb, double scale)
{
    const float *A = NN_F32P(L->inputs[0]), *B = NN_F32P(L->inputs[1]);
    const float *C = NN_F32P(L->output);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < P; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    double a = A[b * M * K + (ta ? k * M + i : i * K + k)];
                    double v = B[b * K * P + (tb ? j * K + k : k * P + j)];
                    acc += a * v;
                }
                acc *= scale;
                double got = C[(b * M + i) * P + j];
                /* float32 sums of K <= 33 products of magnitude <= 1: 1e-5 relative */
                cr_assert(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)),
                          "ta %d tb %d: C[%lld][%lld][%lld] = %.7g, want %.7g", ta, tb,
                          (long long)b, (long long)i, (long long)j, got, acc);
            }
}

Test(matmul, forward_matches_a_naive_loop_for_every_transpose)
{
    const int64_t lead3[1] = {3}, lead4[2] = {2, 3};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_mm(&L, 3, lead3, 5, 7, 4, ta, tb, "1", 0, 0, &err), NN_OK, "%s",
                         err.msg);
            cr_assert_eq(L.output->shape[1], 5);
            cr_assert_eq(L.output->shape[2], 4);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            check(&L, 3, 5, 7, 4, ta, tb, 1);
            nnt_layer_close(&L);
            cr_assert_eq(open_mm(&L, 4, lead4, 1, 33, 9, ta, tb, "0.25", 0, 0, &err), NN_OK,
                         "%s", err.msg);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            check(&L, 6, 1, 33, 9, ta, tb, 0.25);
            cr_assert_eq(L.setup.flops, 2ull * 6 * 1 * 33 * 9);
            nnt_layer_close(&L);
        }
}

Test(matmul, backward_matches_finite_differences_for_every_transpose)
{
    const int64_t lead[1] = {2};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_mm(&L, 3, lead, 3, 4, 5, ta, tb, "0.5", 1, 3, &err), NN_OK, "%s",
                         err.msg);
            /* bound here, run on another thread as [train] replicas run it */
            cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
            /* bilinear: central differences are exact but for the float rounding of
             * sum(C .* R) (~1e-6 / 2e-2 = 5e-5); floor 1e-2, bound 1e-3 */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 1e-3, "ta %d tb %d: %s", ta, tb, worst);
            nnt_layer_close(&L);
        }
}

Test(matmul, a_gradient_that_is_not_asked_for_is_not_written)
{
    const int64_t lead[1] = {2};
    for (unsigned need = 1; need <= 2; need++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(open_mm(&L, 3, lead, 3, 4, 5, 0, 1, "1", 1, need, &err), NN_OK, "%s",
                     err.msg);
        cr_assert_null(L.io.grad_inputs[need == 1 ? 1 : 0]);
        /* as backward_matches_finite_differences_for_every_transpose */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "need %u: %s", need, worst);
        nnt_layer_close(&L);
    }
}

Test(matmul, shape_errors_name_both_inputs)
{
    nnt_layer L;
    nn_error err = {0};
    const int64_t lead[1] = {2};
    cr_assert_eq(open_mm(&L, 3, lead, 3, 4, 5, 0, 1, "1", 0, 0, &err), NN_OK, "%s", err.msg);
    nnt_layer_close(&L);
    /* inner sizes: A [2, 3, 4] by B [2, 5, 4] without transpose_b */
    int64_t sh[2][NN_MAX_DIMS] = {{2, 3, 4}, {2, 5, 4}};
    int nds[2] = {3, 3};
    const char *kv[] = {NULL};
    cr_assert_eq(nnt_layer_open(&L, "matmul", kv, 2, nds, (const int64_t(*)[NN_MAX_DIMS])sh,
                                NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3, 4]", "[2, 5, 4]",
                                                 "inner sizes 4 and 5", NULL}),
              "%s", err.msg);
    int64_t lead_bad[2][NN_MAX_DIMS] = {{2, 3, 4}, {3, 4, 4}};
    cr_assert_eq(nnt_layer_open(&L, "matmul", kv, 2, nds,
                                (const int64_t(*)[NN_MAX_DIMS])lead_bad, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"leading axes", "[3, 4, 4]", NULL}), "%s",
              err.msg);
    int nd_bad[2] = {3, 2};
    cr_assert_eq(nnt_layer_open(&L, "matmul", kv, 2, nd_bad, (const int64_t(*)[NN_MAX_DIMS])sh,
                                NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"same rank", NULL}), "%s", err.msg);
    cr_assert_eq(nnt_layer_open(&L, "matmul", kv, 1, nds, (const int64_t(*)[NN_MAX_DIMS])sh,
                                NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"2 inputs", NULL}), "%s", err.msg);
    const char *bad[] = {"transpose_a=maybe", NULL};
    cr_assert_neq(nnt_layer_open(&L, "matmul", bad, 2, nds, (const int64_t(*)[NN_MAX_DIMS])sh,
                                 NULL, 0, 0, &err),
                  NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"transpose_a", NULL}), "%s", err.msg);
}

Test(matmul, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "matmul", why, sizeof why), "%s", why);
}
