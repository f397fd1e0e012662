/* export_ops.c: the composite helpers of <nntrain/export.h> (reshape keeping the dynamic
 * batch, batch-dependent shapes, reductions across the opset-18 change, activations as ONNX
 * nodes). Each writes through the public builder calls only, so a plugin could have written
 * it; none of them knows a layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_internal.h"

int nn_export_reshape(nn_export *x, const char *in, int ndim, const int64_t *dims, const char *y)
{
    if (!x)
        return NN_EINVAL;
    if (ndim < 0 || ndim > NN_MAX_DIMS - 1)
        return nn_export_fail(x, NN_EINVAL, "reshape to %d dims: at most %d after the batch",
                              ndim, NN_MAX_DIMS - 1);
    int64_t shape[NN_MAX_DIMS] = {0}; /* 0 copies the input's extent: the batch stays dynamic */
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return nn_export_fail(x, NN_EINVAL, "reshape: extent %d is %lld; give every extent "
                                  "(>= 1) after the batch", i + 1, (long long)dims[i]);
        shape[i + 1] = dims[i];
    }
    int64_t n = ndim + 1;
    const char *s = nn_export_const_i64(x, "shape", 1, &n, shape);
    if (!s)
        return nn_export_status(x, NULL);
    return nn_export_op2(x, "Reshape", in, s, y) < 0 ? nn_export_status(x, NULL) : NN_OK;
}

const char *nn_export_batch_shape(nn_export *x, const char *like, int ndim, const int64_t *dims)
{
    if (!x || ndim < 0 || ndim > NN_MAX_DIMS - 1) {
        if (x)
            nn_export_fail(x, NN_EINVAL, "batch shape of %d dims: at most %d after the batch",
                           ndim, NN_MAX_DIMS - 1);
        return NULL;
    }
    int64_t one = 1, zero = 0;
    const char *shape = nn_export_value(x, "shape_of_input");
    const char *start = nn_export_const_i64(x, "batch_start", 1, &one, &zero);
    const char *end = nn_export_const_i64(x, "batch_end", 1, &one, &one);
    const char *n = nn_export_value(x, "batch");
    if (!shape || !start || !end || !n || nn_export_op1(x, "Shape", like, shape) < 0)
        return NULL;
    const char *sl[3] = {shape, start, end};
    if (nn_export_node(x, "Slice", 3, sl, 1, &n) < 0)
        return NULL;
    if (ndim == 0)
        return n;
    int64_t d = ndim;
    const char *rest = nn_export_const_i64(x, "dims", 1, &d, dims);
    const char *full = nn_export_value(x, "batch_shape");
    if (!rest || !full)
        return NULL;
    const char *cat[2] = {n, rest};
    int node = nn_export_node(x, "Concat", 2, cat, 1, &full);
    if (node < 0 || nn_export_attr_int(x, node, "axis", 0))
        return NULL;
    return full;
}

int nn_export_reduce(nn_export *x, const char *op, int n_axes, const int64_t *axes, int keepdims,
                     const char *in, const char *y)
{
    if (!x)
        return NN_EINVAL;
    /* ReduceSum took its axes as an input from opset 13, the others from 18 */
    int as_input = strcmp(op, "ReduceSum") == 0 || nn_export_opset(x) >= 18;
    int node;
    if (as_input) {
        int64_t n = n_axes;
        const char *a = nn_export_const_i64(x, "axes", 1, &n, axes);
        if (!a)
            return nn_export_status(x, NULL);
        node = nn_export_op2(x, op, in, a, y);
    } else {
        node = nn_export_op1(x, op, in, y);
        if (node >= 0)
            nn_export_attr_ints(x, node, "axes", n_axes, axes);
    }
    if (node >= 0)
        nn_export_attr_int(x, node, "keepdims", keepdims ? 1 : 0);
    return nn_export_status(x, NULL);
}

static void part_name(char *buf, size_t cap, const char *hint, const char *part)
{
    snprintf(buf, cap, "%s%s%s", hint && *hint ? hint : "", hint && *hint ? "." : "", part);
}

int nn_export_linear(nn_export *x, const char *hint, const char *in, int x_ndim,
                     const nn_tensor *w, const nn_tensor *b, const char *y)
{
    if (!x)
        return NN_EINVAL;
    if (!w || w->dl.ndim != 2 || nn_tensor_dtype(w) != NN_F32 || !w->dl.data || x_ndim < 2 ||
        (b && (b->dl.ndim != 1 || b->shape[0] != w->shape[0])))
        return nn_export_fail(x, NN_EINVAL, "linear '%s': needs an F32 weight [out, in], a "
                              "bias [out] or none, and an input of rank >= 2",
                              hint ? hint : "");
    char name[160];
    if (x_ndim == 2) {
        part_name(name, sizeof name, hint, "weight");
        const char *wn = nn_export_const(x, name, w);
        part_name(name, sizeof name, hint, "bias");
        const char *args[3] = {in, wn, b ? nn_export_const(x, name, b) : ""};
        int node = nn_export_node(x, "Gemm", b ? 3 : 2, args, 1, &y);
        if (node >= 0)
            nn_export_attr_int(x, node, "transB", 1);
        return nn_export_status(x, NULL);
    }
    int64_t o = w->shape[0], i = w->shape[1];
    float *wt = malloc(sizeof *wt * (size_t)(o * i + 1));
    if (!wt)
        return nn_export_fail(x, NN_ENOMEM, "out of memory");
    const float *src = (const float *)((const char *)w->dl.data + w->dl.byte_offset);
    for (int64_t r = 0; r < o; r++)
        for (int64_t c = 0; c < i; c++)
            wt[c * o + r] = src[r * i + c];
    part_name(name, sizeof name, hint, "weight_t");
    const char *wn = nn_export_const_f32(x, name, 2, (const int64_t[]){i, o}, wt);
    free(wt);
    if (!b)
        return nn_export_op2(x, "MatMul", in, wn, y) < 0 ? nn_export_status(x, NULL) : NN_OK;
    part_name(name, sizeof name, hint, "bias");
    const char *bn = nn_export_const(x, name, b);
    part_name(name, sizeof name, hint, "matmul");
    const char *prod = nn_export_value(x, name);
    nn_export_op2(x, "MatMul", in, wn, prod);
    nn_export_op2(x, "Add", prod, bn, y);
    return nn_export_status(x, NULL);
}

int nn_export_layernorm(nn_export *x, const char *hint, const char *in, int64_t d,
                        const nn_tensor *w, const nn_tensor *b, double eps, const char *y)
{
    if (!x)
        return NN_EINVAL;
    char name[160];
    const char *args[3] = {in, NULL, ""};
    if (w) {
        part_name(name, sizeof name, hint, "weight");
        args[1] = nn_export_const(x, name, w);
    } else {
        float *ones = malloc(sizeof *ones * (size_t)(d > 0 ? d : 1));
        if (!ones)
            return nn_export_fail(x, NN_ENOMEM, "out of memory");
        for (int64_t i = 0; i < d; i++)
            ones[i] = 1.0f;
        part_name(name, sizeof name, hint, "ones");
        args[1] = nn_export_const_f32(x, name, 1, &d, ones);
        free(ones);
    }
    if (b) {
        part_name(name, sizeof name, hint, "bias");
        args[2] = nn_export_const(x, name, b);
    }
    int node = nn_export_node(x, "LayerNormalization", b ? 3 : 2, args, 1, &y);
    if (node >= 0) {
        nn_export_attr_int(x, node, "axis", -1);
        nn_export_attr_float(x, node, "epsilon", (float)eps);
    }
    return nn_export_status(x, NULL);
}

/* y = a OP scalar c */
static const char *with_scalar(nn_export *x, const char *op, const char *a, float c,
                               const char *y)
{
    const char *k = nn_export_const_f32(x, "k", 0, NULL, &c);
    const char *out = y ? y : nn_export_value(x, "t");
    if (!k || !out || nn_export_op2(x, op, a, k, out) < 0)
        return NULL;
    return out;
}

static const char *tmp1(nn_export *x, const char *op, const char *a)
{
    const char *out = nn_export_value(x, "t");
    return out && nn_export_op1(x, op, a, out) >= 0 ? out : NULL;
}

static const char *tmp2(nn_export *x, const char *op, const char *a, const char *b,
                        const char *y)
{
    const char *out = y ? y : nn_export_value(x, "t");
    return out && a && b && nn_export_op2(x, op, a, b, out) >= 0 ? out : NULL;
}

/* gelu without the opset-20 operator: 0.5 x (1 + erf(x / sqrt 2)), or with tanh
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); the factor 0.5 is exact either way */
static int gelu_formula(nn_export *x, int tanh_form, const char *in, const char *y)
{
    const char *inner;
    if (tanh_form) {
        const char *x3 = tmp2(x, "Mul", tmp2(x, "Mul", in, in, NULL), in, NULL);
        const char *u = tmp2(x, "Add", in, with_scalar(x, "Mul", x3, 0.044715f, NULL), NULL);
        inner = tmp1(x, "Tanh", with_scalar(x, "Mul", u, 0.79788456080286536f, NULL));
    } else {
        inner = tmp1(x, "Erf", with_scalar(x, "Mul", in, 0.70710678118654752f, NULL));
    }
    const char *h = tmp2(x, "Mul", in, with_scalar(x, "Add", inner, 1.0f, NULL), NULL);
    return with_scalar(x, "Mul", h, 0.5f, y) ? NN_OK : nn_export_status(x, NULL);
}

/* PyTorch's softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold */
static int softplus(nn_export *x, double beta, double threshold, const char *in, const char *y)
{
    const char *bx = beta == 1.0 ? in : with_scalar(x, "Mul", in, (float)beta, NULL);
    const char *sp = tmp1(x, "Softplus", bx);
    if (beta != 1.0)
        sp = with_scalar(x, "Div", sp, (float)beta, NULL);
    const char *thr = nn_export_const_f32(x, "threshold", 0, NULL, &(float){(float)threshold});
    const char *above = nn_export_value(x, "above");
    if (!sp || !thr || !above || nn_export_op2(x, "Greater", bx, thr, above) < 0)
        return nn_export_status(x, NULL);
    const char *w[3] = {above, in, sp};
    return nn_export_node(x, "Where", 3, w, 1, &y) < 0 ? nn_export_status(x, NULL) : NN_OK;
}

int nn_export_activation(nn_export *x, const char *fn, int n_args, const double *args,
                         const char *in, const char *y)
{
    if (!x)
        return NN_EINVAL;
    if (!fn)
        return nn_export_fail(x, NN_EINVAL, "activation without a name");
    double a0 = n_args > 0 ? args[0] : NAN, a1 = n_args > 1 ? args[1] : NAN;
    static const char *const plain[][2] = {
        {"identity", "Identity"}, {"none", "Identity"}, {"relu", "Relu"},
        {"sigmoid", "Sigmoid"},   {"tanh", "Tanh"},     {"hardswish", "HardSwish"},
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (strcmp(fn, plain[i][0]) == 0)
            return nn_export_op1(x, plain[i][1], in, y) < 0 ? nn_export_status(x, NULL) : NN_OK;
    if (strcmp(fn, "leaky_relu") == 0 || strcmp(fn, "elu") == 0) {
        int leaky = fn[0] == 'l';
        int node = nn_export_op1(x, leaky ? "LeakyRelu" : "Elu", in, y);
        if (node >= 0)
            nn_export_attr_float(x, node, "alpha", (float)(isnan(a0) ? (leaky ? 0.01 : 1.0)
                                                                    : a0));
        return nn_export_status(x, NULL);
    }
    if (strcmp(fn, "gelu") == 0) {
        int tanh_form = !isnan(a0) && a0 != 0;
        if (nn_export_opset(x) < 20)
            return gelu_formula(x, tanh_form, in, y);
        int node = nn_export_op1(x, "Gelu", in, y);
        if (node >= 0)
            nn_export_attr_string(x, node, "approximate", tanh_form ? "tanh" : "none");
        return nn_export_status(x, NULL);
    }
    if (strcmp(fn, "swish") == 0 || strcmp(fn, "silu") == 0)
        return tmp2(x, "Mul", in, tmp1(x, "Sigmoid", in), y) ? NN_OK : nn_export_status(x, NULL);
    if (strcmp(fn, "mish") == 0) {
        if (nn_export_opset(x) >= 18)
            return nn_export_op1(x, "Mish", in, y) < 0 ? nn_export_status(x, NULL) : NN_OK;
        return tmp2(x, "Mul", in, tmp1(x, "Tanh", tmp1(x, "Softplus", in)), y)
                   ? NN_OK
                   : nn_export_status(x, NULL);
    }
    if (strcmp(fn, "softplus") == 0)
        return softplus(x, isnan(a0) ? 1.0 : a0, isnan(a1) ? 20.0 : a1, in, y);
    return nn_export_fail(x, NN_ENOTSUP, "no ONNX form is known for the activation '%s'", fn);
}
