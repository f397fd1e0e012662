/* test_add.c: add sums 2 to 8 inputs elementwise, hands the output gradient to each input
 * that asks for it, and rejects mismatched shapes naming both. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"

static void open_add(nnt_layer *L, int n, int nd, const int64_t *shape, int train, unsigned need)
{
    int nds[NN_MAX_INPUTS];
    int64_t s[NN_MAX_INPUTS][NN_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        nds[i] = nd;
        for (int d = 0; d < NN_MAX_DIMS; d++)
            s[i][d] = d < nd ? shape[d] : 0;
    }
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(L, "add", NULL, n, nds, (const int64_t(*)[NN_MAX_DIMS])s, NULL,
                                train, need, &err),
                 NN_OK, "%s", err.msg);
}

Test(add, forward_is_the_elementwise_sum_of_all_inputs)
{
    static const int64_t shapes[][NN_MAX_DIMS] = {{1, 1}, {3, 5}, {2, 3, 5, 7}};
    static const int nds[] = {2, 2, 4};
    const int counts[] = {2, 3, 8};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++) {
            nnt_layer L;
            nn_error err = {0};
            open_add(&L, counts[c], nds[k], shapes[k], 0, 0);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            for (int64_t i = 0; i < nn_tensor_numel(L.output); i++) {
                double want = 0;
                for (int j = 0; j < counts[c]; j++)
                    want += NN_F32P(L.inputs[j])[i];
                cr_assert_float_eq(NN_F32P(L.output)[i], want, 1e-6, "shape %d, %d inputs", k,
                                   counts[c]);
            }
            nnt_layer_close(&L);
        }
}

Test(add, backward_matches_finite_differences_for_every_input)
{
    const int64_t shape[] = {3, 4, 5};
    nnt_layer L;
    char worst[256];
    open_add(&L, 3, 3, shape, 1, 7u);
    /* linear: only float rounding of y (|y| < 3, ~2.4e-7) over 2 eps = 2e-2 separates them */
    double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

Test(add, backward_writes_only_the_gradients_that_are_asked_for)
{
    const int64_t shape[] = {2, 3};
    nnt_layer L;
    nn_error err = {0};
    open_add(&L, 3, 2, shape, 1, 5u); /* inputs 0 and 2 */
    cr_assert_null(L.grad_inputs[1]);
    nnt_fill_uniform(L.grad_output, 9, -1, 1);
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(NN_F32P(L.grad_inputs[0])[i], NN_F32P(L.grad_output)[i]);
        cr_assert_eq(NN_F32P(L.grad_inputs[2])[i], NN_F32P(L.grad_output)[i]);
    }
    nnt_layer_close(&L);
}

Test(add, rejects_mismatched_shapes_naming_both)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 4}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "add", NULL, 2, nd, s, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3]", "[2, 4]", NULL}), "%s",
              err.msg);
    static const int64_t r[][NN_MAX_DIMS] = {{2, 3}, {2, 3, 1}};
    const int nd2[] = {2, 3};
    cr_assert_eq(nnt_layer_open(&L, "add", NULL, 2, nd2, r, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 3]", "[2, 3, 1]", NULL}), "%s", err.msg);
}

Test(add, rejects_a_single_input_and_integer_inputs)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "add", NULL, 1, nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "at least 2", NULL}), "%s",
              err.msg);
    const nn_dtype dt[] = {NN_F32, NN_I32};
    cr_assert_eq(nnt_layer_open(&L, "add", NULL, 2, nd, s, dt, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"input 1", "F32", NULL}), "%s", err.msg);
}

Test(add, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "add", why, sizeof why), "%s", why);
}
