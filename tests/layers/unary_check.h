/* unary_check.h: what the tests of elementwise activations share: the forward pass against a
 * double-precision reference that the test writes itself, over several shapes, the gradient
 * through the SDK's checker (<nntrain/gradcheck.h>, the one `nntrain plugins test` runs), the
 * inputs and parameters they refuse, and their docs. Test code; the reference never comes
 * from the plugin under test. */
#ifndef NNT_UNARY_CHECK_H
#define NNT_UNARY_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "harness.h"

static const int64_t unary_shapes[][NN_MAX_DIMS] = {{1, 1}, {1, 7}, {3, 5}, {2, 3, 5, 7},
                                                    {5, 13, 11}};
static const int unary_ndims[] = {2, 2, 2, 4, 3};
#define UNARY_N_SHAPES (sizeof unary_ndims / sizeof unary_ndims[0])

/* forward on inputs U(lo, hi) of every shape: float32 libm functions are within a few ulp, so
 * 2e-6 relative plus 1e-7 absolute */
static inline void unary_forward(const char *name, const char *const *kv,
                                 double (*ref)(double x, double arg), double arg, double lo,
                                 double hi)
{
    for (size_t k = 0; k < UNARY_N_SHAPES; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(nnt_layer_open(&L, name, kv, 1, &unary_ndims[k], &unary_shapes[k], NULL, 0,
                                    0, &err), NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.inputs[0], 10 + k, lo, hi);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        cr_assert(nn_shape_equal(L.output, L.inputs[0]));
        for (int64_t i = 0; i < nn_tensor_numel(L.output); i++) {
            double x = NN_F32P(L.inputs[0])[i], want = ref(x, arg), got = NN_F32P(L.output)[i];
            cr_assert_leq(fabs(got - want), 1e-7 + 2e-6 * fabs(want),
                          "%s, shape %zu, x = %.9g: got %.9g, want %.9g", name, k, x, got, want);
        }
        nnt_layer_close(&L);
    }
}

/* the gradient on inputs U(lo, hi) of three shapes, through nn_gradcheck_layer */
static inline void unary_gradient(const char *name, const char *const *kv, double lo,
                                  double hi)
{
    nnt_layer L;
    nn_error err = {0};
    const int nd = 2;
    const int64_t s[][NN_MAX_DIMS] = {{1, 1}};
    cr_assert_eq(nnt_layer_open(&L, name, kv, 1, &nd, s, NULL, 0, 0, &err), NN_OK, "%s",
                 err.msg);
    const char *const shapes[] = {"1x1", "3x5", "2x3x5x7", "5x13x11"};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        char spec[96];
        snprintf(spec, sizeof spec, "%s f32 [%g, %g]", shapes[k], lo, hi);
        nn_gradcheck_result res;
        cr_assert_eq(nn_gradcheck_layer(L.inst.desc, kv, spec, NULL, &res, &err), NN_OK,
                     "%s on %s: %s", name, spec, err.msg);
        cr_assert_gt(res.n_checked, 0);
    }
    nnt_layer_close(&L);
}

/* two inputs, and one integer input, are refused naming the layer and the shape */
static inline void unary_rejects_bad_inputs(const char *name)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}, {2, 3}};
    const int nd[] = {2, 2};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, name, NULL, 2, nd, s, NULL, 0, 0, &err), NN_EINVAL, "%s",
                 name);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "1 input", NULL}), "%s", err.msg);
    const nn_dtype i32 = NN_I32;
    cr_assert_eq(nnt_layer_open(&L, name, NULL, 1, nd, s, &i32, 0, 0, &err), NN_EINVAL, "%s",
                 name);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3]", "F32", NULL}), "%s",
              err.msg);
}

/* the parameter kv0 is refused with a message holding needles */
static inline void unary_param_error(const char *name, const char *kv0,
                                     const char *const *needles)
{
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    const char *kv[] = {kv0, NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, name, kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL,
                 "%s: %s was accepted", name, kv0);
    cr_assert(nnt_msg_has(&err, needles), "%s: %s: %s", name, kv0, err.msg);
}

static inline void unary_docs(const char *name)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, name, why, sizeof why), "%s", why);
}

#endif
