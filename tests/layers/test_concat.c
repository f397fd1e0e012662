/* test_concat.c: concat joins inputs along axis 1 (default), a later or a negative axis,
 * against an index-by-index reference written here; splits the gradient back; rejects
 * mismatched extents and bad axes naming the shapes and the key. */
#include <criterion/criterion.h>

#include "harness.h"

typedef struct {
    int n, nd;
    int64_t shapes[3][NN_MAX_DIMS];
    const char *axis;
    int real_axis;
} case_t;

static const case_t cases[] = {
    {2, 2, {{1, 1}, {1, 2}}, NULL, 1},
    {3, 2, {{3, 5}, {3, 1}, {3, 7}}, NULL, 1},
    {2, 4, {{2, 3, 5, 4}, {2, 1, 5, 4}}, "axis=1", 1},
    {3, 4, {{2, 3, 5, 4}, {2, 3, 2, 4}, {2, 3, 1, 4}}, "axis=2", 2},
    {2, 3, {{2, 3, 5}, {2, 3, 4}}, "axis=-1", 2},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void open_case(nnt_layer *L, const case_t *c, int train)
{
    const char *kv[] = {c->axis, NULL};
    int nds[3] = {c->nd, c->nd, c->nd};
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(L, "concat", kv, c->n, nds, c->shapes, NULL, train, 7u, &err),
                 NN_OK, "%s", err.msg);
}

/* the input element that output index `flat` comes from, by unravelling the index */
static float ref_element(const nnt_layer *L, const case_t *c, int64_t flat)
{
    int64_t idx[NN_MAX_DIMS] = {0};
    for (int d = c->nd - 1; d >= 0; d--) {
        idx[d] = flat % L->output->shape[d];
        flat /= L->output->shape[d];
    }
    int k = 0;
    while (idx[c->real_axis] >= c->shapes[k][c->real_axis])
        idx[c->real_axis] -= c->shapes[k++][c->real_axis];
    int64_t off = 0;
    for (int d = 0; d < c->nd; d++)
        off = off * c->shapes[k][d] + idx[d];
    return NN_F32P(L->inputs[k])[off];
}

Test(concat, forward_places_each_input_along_the_axis)
{
    for (size_t k = 0; k < N_CASES; k++) {
        const case_t *c = &cases[k];
        nnt_layer L;
        nn_error err = {0};
        open_case(&L, c, 0);
        int64_t sum = 0;
        for (int i = 0; i < c->n; i++)
            sum += c->shapes[i][c->real_axis];
        cr_assert_eq(L.output->shape[c->real_axis], sum, "case %zu", k);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        for (int64_t i = 0; i < nn_tensor_numel(L.output); i++)
            cr_assert_eq(NN_F32P(L.output)[i], ref_element(&L, c, i), "case %zu element %lld", k,
                         (long long)i);
        nnt_layer_close(&L);
    }
}

Test(concat, backward_matches_finite_differences)
{
    for (size_t k = 0; k < N_CASES; k++) {
        nnt_layer L;
        char worst[256];
        open_case(&L, &cases[k], 1);
        /* a copy: linear, so only float rounding of y (~1e-7 / eps) separates the two */
        double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
        cr_assert_lt(e, 1e-4, "case %zu: %s", k, worst);
        nnt_layer_close(&L);
    }
}

Test(concat, rejects_mismatched_extents_naming_both_shapes)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3, 4}, {2, 5, 5}};
    const int nd[] = {3, 3};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "concat", NULL, 2, nd, s, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3, 4]", "[2, 5, 5]", NULL}),
              "%s", err.msg);
    static const int64_t r[][NN_MAX_DIMS] = {{2, 3}, {2, 3, 1}};
    const int nd2[] = {2, 3};
    cr_assert_eq(nnt_layer_open(&L, "concat", NULL, 2, nd2, r, NULL, 0, 0, &err), NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[2, 3]", "[2, 3, 1]", NULL}), "%s", err.msg);
}

static void expect_error(const char *kv0, int status, const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3, 4}, {2, 3, 4}};
    const int nd[] = {3, 3};
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "concat", kv, 2, nd, s, NULL, 0, 0, &err), status, "%s: %s",
                 kv0, err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0, err.msg);
}

Test(concat, rejects_a_bad_axis_naming_the_key)
{
    expect_error("axis=0", NN_ESHAPE, (const char *[]){"'axis'", "0", "[2, 3, 4]", NULL});
    expect_error("axis=3", NN_ESHAPE, (const char *[]){"'axis'", "3", NULL});
    expect_error("axis=-4", NN_ESHAPE, (const char *[]){"'axis'", "-4", NULL});
    expect_error("axis=one", NN_EINVAL, (const char *[]){"'axis'", "one", NULL});
    expect_error("dim=1", NN_EINVAL, (const char *[]){"'dim'", NULL});
}

Test(concat, rejects_a_single_input)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "concat", NULL, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "at least 2", NULL}), "%s",
              err.msg);
}

Test(concat, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "concat", why, sizeof why), "%s", why);
}
