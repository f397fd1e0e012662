/* test_reshape.c: reshape gives [N, shape...] (one -1 inferred) with the data in row-major
 * order, passes gradients through, and rejects shapes that cannot hold the input, naming them. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static void open_reshape(nnt_layer *L, const char *shape, int nd, const int64_t *in, int train)
{
    char kv0[64];
    snprintf(kv0, sizeof kv0, "shape=%s", shape);
    const char *kv[] = {kv0, NULL};
    const int64_t (*s)[NN_MAX_DIMS] = (const int64_t(*)[NN_MAX_DIMS])in;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(L, "reshape", kv, 1, &nd, s, NULL, train, 1, &err), NN_OK,
                 "%s: %s", kv0, err.msg);
}

Test(reshape, gives_the_batch_then_the_requested_shape_and_keeps_the_data)
{
    static const struct {
        const char *shape;
        int nd;
        int64_t in[NN_MAX_DIMS];
        int out_nd;
        int64_t out[NN_MAX_DIMS];
    } cases[] = {
        {"4, 7, 7", 2, {3, 196}, 4, {3, 4, 7, 7}},
        {"-1", 4, {2, 3, 5, 7}, 2, {2, 105}},
        {"5, -1", 3, {1, 3, 5}, 3, {1, 5, 3}},
        {"1, 1, 1", 2, {5, 1}, 4, {5, 1, 1, 1}},
    };
    for (int k = 0; k < 4; k++) {
        nnt_layer L;
        nn_error err = {0};
        open_reshape(&L, cases[k].shape, cases[k].nd, cases[k].in, 0);
        cr_assert_eq(L.output->dl.ndim, cases[k].out_nd, "case %d", k);
        for (int d = 0; d < cases[k].out_nd; d++)
            cr_assert_eq(L.output->shape[d], cases[k].out[d], "case %d dim %d", k, d);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(memcmp(NN_F32P(L.output), NN_F32P(L.inputs[0]), nn_tensor_nbytes(L.output)),
                     0, "case %d", k);
        nnt_layer_close(&L);
    }
}

Test(reshape, backward_matches_finite_differences)
{
    nnt_layer L;
    char worst[256];
    const int64_t in[NN_MAX_DIMS] = {3, 2, 6};
    open_reshape(&L, "3, -1, 2", 3, in, 1);
    /* a copy: linear, so only float rounding of y (~1e-7 / eps) separates the two */
    double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

static void expect_error(const char *kv0, int status, const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3, 4}};
    const int nd = 3;
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "reshape", kv, 1, &nd, s, NULL, 0, 0, &err), status,
                 "%s: %s", kv0 ? kv0 : "(none)", err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0 ? kv0 : "(none)", err.msg);
}

Test(reshape, rejects_shapes_that_cannot_hold_the_input_naming_both)
{
    expect_error("shape=5, 5", NN_ESHAPE, (const char *[]){"[2, 3, 4]", "[N, 5, 5]", "12", NULL});
    expect_error("shape=5, -1", NN_ESHAPE, (const char *[]){"[2, 3, 4]", "[N, 5, -1]", NULL});
}

Test(reshape, rejects_bad_parameters_naming_the_key)
{
    expect_error(NULL, NN_EINVAL, (const char *[]){"missing required key 'shape'", NULL});
    expect_error("shape=-1, -1", NN_EINVAL, (const char *[]){"'shape'", "more than one", NULL});
    expect_error("shape=3, 0", NN_EINVAL, (const char *[]){"'shape'", "0", NULL});
    expect_error("shape=-2, 6", NN_EINVAL, (const char *[]){"'shape'", "-2", NULL});
    expect_error("shape=3, x", NN_EINVAL, (const char *[]){"'shape'", "x", NULL});
    expect_error("shap=12", NN_EINVAL, (const char *[]){"'shap'", "did you mean 'shape'", NULL});
}

Test(reshape, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "reshape", why, sizeof why), "%s", why);
}
