/* test_log_softmax.c: log_softmax along the last, a middle and a negative axis against a
 * double reference written here, finite and exact where log(softmax) would be -inf, its
 * gradient against finite differences, its axis checks and its docs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

/* reference in double: log_softmax of x viewed as [outer, len, inner] along len */
static void ref_log_softmax(const float *x, double *y, int64_t outer, int64_t len, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * len * inner + i;
            double *ys = y + o * len * inner + i, m = -INFINITY, s = 0;
            for (int64_t a = 0; a < len; a++)
                m = fmax(m, xs[a * inner]);
            for (int64_t a = 0; a < len; a++)
                s += exp(xs[a * inner] - m);
            for (int64_t a = 0; a < len; a++)
                ys[a * inner] = xs[a * inner] - m - log(s);
        }
}

typedef struct {
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    const char *axis; /* NULL: default */
    int real_axis;
} case_t;

static const case_t cases[] = {
    {2, {1, 1}, NULL, 1},         {2, {1, 7}, NULL, 1},        {2, {5, 13}, "axis=1", 1},
    {3, {3, 4, 9}, NULL, 2},      {3, {3, 4, 9}, "axis=1", 1}, {4, {2, 5, 3, 7}, "axis=2", 2},
    {4, {2, 5, 3, 7}, "axis=-3", 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void open_case(nnt_layer *L, const case_t *c, int training)
{
    const char *kv[] = {c->axis, NULL};
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(L, "log_softmax", kv, 1, &c->ndim, &c->shape, NULL, training, 1,
                                &err),
                 NN_OK, "%s", err.msg);
}

Test(log_softmax, forward_matches_reference_along_any_axis)
{
    for (size_t k = 0; k < N_CASES; k++) {
        const case_t *c = &cases[k];
        nnt_layer L;
        nn_error err = {0};
        open_case(&L, c, 0);
        nnt_fill_uniform(L.inputs[0], 30 + k, -5, 5);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        int64_t n = nn_tensor_numel(L.output);
        double *want = malloc(sizeof(double) * (size_t)n);
        int64_t outer = nn_shape_numel(c->real_axis, c->shape), len = c->shape[c->real_axis];
        ref_log_softmax(NN_F32P(L.inputs[0]), want, outer, len, n / outer / len);
        for (int64_t i = 0; i < n; i++)
            cr_assert_float_eq(NN_F32P(L.output)[i], want[i], 1e-5 + 1e-6 * fabs(want[i]),
                               "case %zu element %lld: %g, expected %g", k, (long long)i,
                               NN_F32P(L.output)[i], want[i]);
        free(want);
        nnt_layer_close(&L);
    }
}

/* logits 1000 apart: softmax gives exactly 0 for the small ones, so log(softmax) is -inf;
 * log_softmax is x - max - log(1 + ...) = -1000 exactly in float */
Test(log_softmax, stays_finite_and_exact_for_huge_logits)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "log_softmax", NULL, 1, &nd, s, NULL, 0, 0, &err), NN_OK,
                 "%s", err.msg);
    const float x[] = {1000, 1001, 1002, 0, 1000, -1000};
    memcpy(NN_F32P(L.inputs[0]), x, sizeof x);
    cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
    double lse0 = 1002 + log(1 + exp(-1.0) + exp(-2.0));
    const double want[] = {1000 - lse0, 1001 - lse0, 1002 - lse0, -1000, 0, -2000};
    for (int i = 0; i < 6; i++) {
        cr_assert(isfinite(NN_F32P(L.output)[i]), "element %d: %g", i, NN_F32P(L.output)[i]);
        cr_assert_float_eq(NN_F32P(L.output)[i], want[i], 1e-4, "element %d: %g, expected %g",
                           i, NN_F32P(L.output)[i], want[i]);
    }
    nnt_layer_close(&L);
}

Test(log_softmax, backward_matches_finite_differences)
{
    for (size_t k = 0; k < N_CASES; k++) {
        nnt_layer L;
        char worst[256];
        open_case(&L, &cases[k], 1);
        /* smooth, eps 1e-2: truncation ~1e-5 relative; float rounding over the step is a few
         * 1e-7 / 2e-2, ~1e-5 absolute, floor 1e-2: ~1e-3 relative at worst. Bound 1e-3, as
         * softmax's; a wrong Jacobian (softmax's, or the sum left out) errs by more than 1e-1 */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "case %zu: %s", k, worst);
        nnt_layer_close(&L);
    }
}

static void expect_error(const char *kv0, int status, const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3, 4}};
    const int nd = 3;
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "log_softmax", kv, 1, &nd, s, NULL, 0, 0, &err), status,
                 "%s: %s", kv0, err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s", kv0, err.msg);
}

Test(log_softmax, rejects_a_bad_axis_naming_the_key_and_the_shape)
{
    expect_error("axis=0", NN_ESHAPE, (const char *[]){"'axis'", "0", "[2, 3, 4]", NULL});
    expect_error("axis=3", NN_ESHAPE, (const char *[]){"'axis'", "3", "[2, 3, 4]", NULL});
    expect_error("axis=-4", NN_ESHAPE, (const char *[]){"'axis'", "-4", "[2, 3, 4]", NULL});
    expect_error("axis=last", NN_EINVAL, (const char *[]){"'axis'", "last", NULL});
    expect_error("axes=1", NN_EINVAL, (const char *[]){"'axes'", "did you mean 'axis'", NULL});
}

Test(log_softmax, rejects_a_batch_only_input_naming_its_shape)
{
    static const int64_t s[][NN_MAX_DIMS] = {{7}};
    const int nd = 1;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "log_softmax", NULL, 1, &nd, s, NULL, 0, 0, &err),
                 NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[7]", "log_softmax", NULL}),
              "%s", err.msg);
}

Test(log_softmax, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "log_softmax", why, sizeof why), "%s",
              why);
}
