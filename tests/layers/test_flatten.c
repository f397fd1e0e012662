/* test_flatten.c: flatten keeps the batch dimension and joins the rest, copying the data in
 * row-major order (also for integer tensors); its gradient; its input checks and docs. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

Test(flatten, joins_every_dimension_but_the_batch_in_row_major_order)
{
    static const int64_t shapes[][NN_MAX_DIMS] = {{1, 1}, {1, 7}, {3, 5, 1}, {2, 3, 5, 7}, {4}};
    static const int nds[] = {2, 2, 3, 4, 1};
    static const int64_t want[][2] = {{1, 1}, {1, 7}, {3, 5}, {2, 105}, {4, 1}};
    for (int k = 0; k < 5; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(nnt_layer_open(&L, "flatten", NULL, 1, &nds[k], &shapes[k], NULL, 0, 0, &err),
                     NN_OK, "%s", err.msg);
        cr_assert_eq(L.output->dl.ndim, 2);
        cr_assert_eq(L.output->shape[0], want[k][0], "case %d", k);
        cr_assert_eq(L.output->shape[1], want[k][1], "case %d", k);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        /* row-major: element (n, i, j, ...) lands at n * prod + its linear index in the sample */
        for (int64_t i = 0; i < nn_tensor_numel(L.output); i++)
            cr_assert_eq(NN_F32P(L.output)[i], NN_F32P(L.inputs[0])[i], "case %d element %lld", k,
                         (long long)i);
        nnt_layer_close(&L);
    }
}

Test(flatten, copies_integer_tensors_too)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3, 4}};
    const int nd = 3;
    const nn_dtype i32 = NN_I32;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "flatten", NULL, 1, &nd, s, &i32, 0, 0, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_tensor_dtype(L.output), NN_I32);
    nnt_fill_uniform(L.inputs[0], 3, -1000, 1000);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(NN_I32P(L.output), NN_I32P(L.inputs[0]), 24 * sizeof(int32_t)), 0);
    nnt_layer_close(&L);
}

Test(flatten, backward_matches_finite_differences)
{
    static const int64_t s[][NN_MAX_DIMS] = {{3, 2, 5}};
    const int nd = 3;
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(nnt_layer_open(&L, "flatten", NULL, 1, &nd, s, NULL, 1, 1, &err), NN_OK, "%s",
                 err.msg);
    /* a copy: linear, so only float rounding of y (~1e-7 / eps) separates the two */
    double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

Test(flatten, rejects_two_inputs_and_any_parameter)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "flatten", NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
    const char *kv[] = {"start_dim=1", NULL};
    cr_assert_eq(nnt_layer_open(&L, "flatten", kv, 1, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"start_dim", "no parameters", NULL}), "%s",
              err.msg);
}

Test(flatten, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "flatten", why, sizeof why), "%s", why);
}
