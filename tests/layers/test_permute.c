/* test_permute.c: permute against index arithmetic done by hand (3-d to 5-d, every order of a
 * 4-d tensor that keeps the batch first, I32 data), its gradient against finite
 * differences, and its error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static int open_perm(nnt_layer *L, const char *order, int nd, const int64_t *shape,
                     const nn_dtype *dt, int training, nn_error *err)
{
    char k[64];
    snprintf(k, sizeof k, "order=%s", order);
    const char *kv[] = {k, NULL};
    int64_t sh[1][NN_MAX_DIMS];
    memcpy(sh[0], shape, sizeof(int64_t) * (size_t)nd);
    return nnt_layer_open(L, "permute", kv, 1, &nd, (const int64_t(*)[NN_MAX_DIMS])sh, dt,
                          training, training ? 1u : 0u, err);
}

/* y[i] == x[j] where j[order[a]] = i[a], walking every output index */
static void check(const nnt_layer *L, const int *order, int nd, int i32)
{
    const nn_tensor *x = L->inputs[0], *y = L->output;
    int64_t n = nn_tensor_numel(y);
    for (int a = 0; a < nd; a++)
        cr_assert_eq(y->shape[a], x->shape[order[a]], "axis %d", a);
    for (int64_t flat = 0; flat < n; flat++) {
        int64_t i[NN_MAX_DIMS], j[NN_MAX_DIMS], rem = flat;
        for (int a = nd - 1; a >= 0; a--) {
            i[a] = rem % y->shape[a];
            rem /= y->shape[a];
        }
        for (int a = 0; a < nd; a++)
            j[order[a]] = i[a];
        int64_t src = 0;
        for (int a = 0; a < nd; a++)
            src = src * x->shape[a] + j[a];
        if (i32)
            cr_assert_eq(NN_I32P(y)[flat], NN_I32P(x)[src], "flat %lld", (long long)flat);
        else
            cr_assert_eq(NN_F32P(y)[flat], NN_F32P(x)[src], "flat %lld", (long long)flat);
    }
}

Test(permute, forward_moves_every_element_where_index_arithmetic_says)
{
    static const struct {
        const char *order;
        int o[5], nd;
        int64_t shape[5];
    } cases[] = {
        {"0,2,1", {0, 2, 1}, 3, {2, 3, 5}},
        {"0,1,2", {0, 1, 2}, 3, {1, 4, 3}},
        {"0,3,1,2", {0, 3, 1, 2}, 4, {2, 3, 4, 5}},
        {"0,2,3,1", {0, 2, 3, 1}, 4, {3, 2, 1, 4}},
        {"0,4,2,1,3", {0, 4, 2, 1, 3}, 5, {2, 2, 3, 1, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_perm(&L, cases[c].order, cases[c].nd, cases[c].shape, NULL, 0, &err),
                     NN_OK, "%s", err.msg);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        check(&L, cases[c].o, cases[c].nd, 0);
        nnt_layer_close(&L);
    }
    /* every order of a 4-d tensor with the batch first, on integers */
    static const int perms[6][3] = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3},
                                    {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
    const int64_t shape[4] = {2, 3, 4, 5};
    const nn_dtype i32 = NN_I32;
    for (int k = 0; k < 6; k++) {
        int o[4] = {0, perms[k][0], perms[k][1], perms[k][2]};
        char order[32];
        snprintf(order, sizeof order, "0,%d,%d,%d", o[1], o[2], o[3]);
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_perm(&L, order, 4, shape, &i32, 0, &err), NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 9, -1000, 1000);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(nn_tensor_dtype(L.output), NN_I32);
        check(&L, o, 4, 1);
        nnt_layer_close(&L);
    }
}

Test(permute, backward_is_the_inverse_permutation_of_the_gradient)
{
    const int64_t shape[4] = {2, 3, 4, 2};
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_perm(&L, "0,3,1,2", 4, shape, NULL, 1, &err), NN_OK, "%s", err.msg);
    /* a linear map of the input: central differences are exact up to float rounding of
     * sum(y .* R) (~1e-6 over 2 eps = 2e-2), so 1e-3 relative with floor 1e-2 */
    double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 1e-3, "%s", worst);
    /* and exactly: dx[j] = dy[i] for the matching indices */
    for (int64_t k = 0; k < nn_tensor_numel(L.grad_output); k++)
        NN_F32P(L.grad_output)[k] = (float)k;
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t a = 0; a < 3; a++)
            for (int64_t b = 0; b < 4; b++)
                for (int64_t c = 0; c < 2; c++) {
                    /* y = [n, c, a, b] of shape [2, 2, 3, 4] */
                    float want = (float)(((n * 2 + c) * 3 + a) * 4 + b);
                    cr_assert_eq(NN_F32P(L.grad_inputs[0])[((n * 3 + a) * 4 + b) * 2 + c], want);
                }
    nnt_layer_close(&L);
}

Test(permute, bad_orders_are_rejected_naming_the_key)
{
    static const struct {
        const char *order;
        const char *why;
    } bad[] = {{"0,1,1", "not a permutation"}, {"0,1,3", "not a permutation"},
               {"1,0,2", "batch axis first"},  {"0", "one per input axis"},
               {"0,-1,2", "order"}};
    const int64_t shape[3] = {2, 3, 4};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(open_perm(&L, bad[i].order, 3, shape, NULL, 0, &err), NN_OK, "%s",
                      bad[i].order);
        cr_assert(nnt_msg_has(&err, (const char *[]){"order", bad[i].why, NULL}), "%s: %s",
                  bad[i].order, err.msg);
    }
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_perm(&L, "0,2,3,1", 3, shape, NULL, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "4 axes", "[2, 3, 4]", NULL}),
              "%s", err.msg);
}

Test(permute, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "permute", why, sizeof why), "%s", why);
}
