/* cu_shape.c: the layers of the CUDA pack that move data without arithmetic: flatten and
 * reshape (a device-to-device copy, skipped when the core lets output and input share memory;
 * ABI 0.4 gives a layer no way to make its output a view), add and concat, with the CPU
 * plugins' keys and refusals. Never allocates per step. */
#include <stdlib.h>
#include <string.h>

#include "cu_pack.h"

typedef struct cu_shape {
    int n;                          /* reshape: entries of shape; add/concat: inputs */
    int64_t shape[NN_MAX_DIMS - 1]; /* reshape */
    int64_t axis;                   /* concat */
    int64_t outer, out_chunk, chunk[NN_MAX_INPUTS];
    const char *name;
} cu_shape;

static int shape_new(void **self, nn_error *err)
{
    if (!(*self = calloc(1, sizeof(cu_shape))))
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    return NN_OK;
}

static int flatten_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    return shape_new(self, err);
}

static int add_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    return shape_new(self, err);
}

static int concat_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = shape_new(self, err);
    if (rc == NN_OK)
        ((cu_shape *)*self)->axis = nn_params_int(p, "axis");
    return rc;
}

static int reshape_create(const nn_params *params, void **self, nn_error *err)
{
    int n = 0, infer = 0;
    const int64_t *v = nn_params_ints(params, "shape", &n);
    if (n < 1 || n > NN_MAX_DIMS - 1)
        return nn_error_set(err, NN_EINVAL, "key 'shape' has %d entries; give 1 to %d (the "
                            "batch dimension is not part of it)", n, NN_MAX_DIMS - 1);
    for (int i = 0; i < n; i++) {
        if (v[i] == 0)
            return nn_error_set(err, NN_EINVAL, "key 'shape': entry %d is 0; extents are >= 1 "
                                "or -1 (inferred)", i);
        if (v[i] == -1 && infer++)
            return nn_error_set(err, NN_EINVAL, "key 'shape': more than one entry is -1; at "
                                "most one extent can be inferred");
    }
    int rc = shape_new(self, err);
    if (rc == NN_OK) {
        cu_shape *r = *self;
        r->n = n;
        memcpy(r->shape, v, sizeof(int64_t) * (size_t)n);
    }
    return rc;
}

static void shape_destroy(void *self)
{
    free(self);
}

static int flatten_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_shape *f = self;
    int rc = cu_one_input(s, "flatten", -1, &f->name, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    const int64_t out[2] = {x->shape[0], nn_shape_numel(x->dl.ndim - 1, x->shape + 1)};
    nn_tensor_describe(&s->output, (nn_dtype)nn_tensor_dtype(x), 2, out);
    s->flops = 0;
    return NN_OK;
}

static int reshape_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_shape *r = self;
    char shape[128], want[128];
    int rc = cu_one_input(s, "reshape", -1, &r->name, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    int64_t per = nn_shape_numel(x->dl.ndim - 1, x->shape + 1), known = 1, out[NN_MAX_DIMS];
    int infer = -1;
    out[0] = x->shape[0];
    size_t w = (size_t)snprintf(want, sizeof want, "[N");
    for (int i = 0; i < r->n; i++) {
        out[i + 1] = r->shape[i];
        if (r->shape[i] < 0)
            infer = i + 1;
        else
            known *= r->shape[i];
        if (w < sizeof want)
            w += (size_t)snprintf(want + w, sizeof want - w, ", %lld", (long long)r->shape[i]);
    }
    if (w < sizeof want)
        snprintf(want + w, sizeof want - w, "]");
    if (infer > 0 && known > 0 && per % known == 0)
        out[infer] = per / known;
    else if (infer > 0 || known != per)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (reshape): input %s has %lld elements "
                            "per sample, which key 'shape' %s cannot hold", r->name,
                            nn_shape_str(x, shape, sizeof shape), (long long)per, want);
    nn_tensor_describe(&s->output, (nn_dtype)nn_tensor_dtype(x), r->n + 1, out);
    s->flops = 0;
    return NN_OK;
}

/* dst = src (same bytes); nothing when they are the same memory */
static int copy_tensor(const cu_shape *f, const nn_layer_io *io, const nn_tensor *dst,
                       const nn_tensor *src, nn_error *err)
{
    cu_dev *d = cu_dev_of(io->device, 1, f->name, err);
    if (!d)
        return NN_EINVAL;
    void *y;
    const void *x;
    CU_TENSOR(x, d, src, -1, f->name, "source", err);
    CU_TENSOR(y, d, dst, -1, f->name, "destination", err);
    if (nn_tensor_nbytes(dst) != nn_tensor_nbytes(src))
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %zu bytes do not fit %zu", f->name,
                            nn_tensor_nbytes(src), nn_tensor_nbytes(dst));
    return cu_copy(d, f->name, y, x, nn_tensor_nbytes(dst), err);
}

static int view_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return copy_tensor(self, io, io->output, io->inputs[0], err);
}

static int view_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    if (!io->grad_inputs[0])
        return NN_OK;
    return copy_tensor(self, io, io->grad_inputs[0], io->grad_output, err);
}

/* ---- add: y = x0 + x1 + ..., the gradient handed to every input that asks ------------------ */

static int add_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_shape *a = self;
    char x[128], y[128];
    a->name = cu_name(s->layer_name, "add");
    if (!cu_dev_of(s->device, 0, a->name, err))
        return NN_EINVAL;
    if (s->n_inputs < 2)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (add): needs at least 2 inputs, got %d",
                            a->name, s->n_inputs);
    const nn_tensor *x0 = s->inputs[0];
    for (int i = 0; i < s->n_inputs; i++) {
        const nn_tensor *t = s->inputs[i];
        if (nn_tensor_dtype(t) != NN_F32)
            return nn_error_set(err, NN_EINVAL, "layer '%s' (add): input %d %s must be F32",
                                a->name, i, nn_shape_str(t, x, sizeof x));
        if (!nn_shape_equal(t, x0))
            return nn_error_set(err, NN_ESHAPE, "layer '%s' (add): input 0 has shape %s but "
                                "input %d has shape %s; all inputs must have the same shape",
                                a->name, nn_shape_str(x0, x, sizeof x), i,
                                nn_shape_str(t, y, sizeof y));
    }
    a->n = s->n_inputs;
    nn_tensor_describe(&s->output, NN_F32, x0->dl.ndim, x0->shape);
    s->flops = (uint64_t)nn_tensor_numel(x0) * (uint64_t)(s->n_inputs - 1);
    return NN_OK;
}

static int add_pass(const cu_shape *a, const nn_layer_io *io, int backward, nn_error *err)
{
    cu_dev *d = cu_dev_of(io->device, 1, a->name, err);
    if (!d)
        return NN_EINVAL;
    k_multi m = {.n = nn_tensor_numel(io->output), .n_in = a->n,
                 .op = backward ? K_MULTI_FANOUT : K_MULTI_SUM};
    if (backward) {
        CU_TENSOR(m.x[0], d, io->grad_output, NN_F32, a->name, "output gradient", err);
        for (int k = 0; k < a->n; k++)
            if (io->grad_inputs[k])
                CU_TENSOR(m.out[k], d, io->grad_inputs[k], NN_F32, a->name, "input gradient",
                          err);
    } else {
        for (int k = 0; k < a->n; k++)
            CU_TENSOR(m.x[k], d, io->inputs[k], NN_F32, a->name, "input", err);
        CU_TENSOR(m.out[0], d, io->output, NN_F32, a->name, "output", err);
    }
    return cu_launch_n(d, a->name, k_eltwise_fn(K_ELT_MULTI), m.n, &m, sizeof m, err);
}

static int add_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return add_pass(self, io, 0, err);
}

static int add_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    return add_pass(self, io, 1, err);
}

/* ---- concat: along one non-batch axis --------------------------------------------------- */

static int concat_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_shape *c = self;
    char a[128], b[128];
    c->name = cu_name(s->layer_name, "concat");
    if (!cu_dev_of(s->device, 0, c->name, err))
        return NN_EINVAL;
    if (s->n_inputs < 2)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (concat): needs at least 2 inputs, got "
                            "%d", c->name, s->n_inputs);
    const nn_tensor *x0 = s->inputs[0];
    int nd = x0->dl.ndim;
    int64_t axis = c->axis < 0 ? c->axis + nd : c->axis;
    if (axis < 1 || axis >= nd)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (concat): key 'axis' = %lld does not "
                            "name a non-batch axis of input 0 %s (valid: 1..%d or -1..-%d)",
                            c->name, (long long)c->axis, nn_shape_str(x0, a, sizeof a), nd - 1,
                            nd - 1);
    int64_t out[NN_MAX_DIMS];
    memcpy(out, x0->shape, sizeof(int64_t) * (size_t)nd);
    out[axis] = 0;
    int64_t inner = nn_shape_numel(nd - (int)axis - 1, x0->shape + axis + 1);
    c->n = s->n_inputs;
    c->outer = nn_shape_numel((int)axis, x0->shape);
    c->out_chunk = 0;
    for (int i = 0; i < s->n_inputs; i++) {
        const nn_tensor *x = s->inputs[i];
        if (nn_tensor_dtype(x) != NN_F32)
            return nn_error_set(err, NN_EINVAL, "layer '%s' (concat): input %d %s must be F32",
                                c->name, i, nn_shape_str(x, a, sizeof a));
        int same = x->dl.ndim == nd;
        for (int k = 0; same && k < nd; k++)
            same = k == axis || x->shape[k] == x0->shape[k];
        if (!same)
            return nn_error_set(err, NN_ESHAPE, "layer '%s' (concat): input 0 has shape %s but "
                                "input %d has shape %s; all extents but axis %lld must match",
                                c->name, nn_shape_str(x0, a, sizeof a), i,
                                nn_shape_str(x, b, sizeof b), (long long)axis);
        out[axis] += x->shape[axis];
        c->chunk[i] = x->shape[axis] * inner;
        c->out_chunk += c->chunk[i];
    }
    nn_tensor_describe(&s->output, NN_F32, nd, out);
    s->flops = 0;
    return NN_OK;
}

static int concat_pass(const cu_shape *c, const nn_layer_io *io, int backward, nn_error *err)
{
    cu_dev *d = cu_dev_of(io->device, 1, c->name, err);
    if (!d)
        return NN_EINVAL;
    k_concat k = {.outer = c->outer, .out_chunk = c->out_chunk, .n_in = c->n,
                  .backward = backward};
    memcpy(k.chunk, c->chunk, sizeof k.chunk);
    if (backward) {
        CU_TENSOR(k.x[0], d, io->grad_output, NN_F32, c->name, "output gradient", err);
        for (int i = 0; i < c->n; i++)
            if (io->grad_inputs[i])
                CU_TENSOR(k.out[i], d, io->grad_inputs[i], NN_F32, c->name, "input gradient",
                          err);
    } else {
        for (int i = 0; i < c->n; i++)
            CU_TENSOR(k.x[i], d, io->inputs[i], NN_F32, c->name, "input", err);
        CU_TENSOR(k.out[0], d, io->output, NN_F32, c->name, "output", err);
    }
    return cu_launch_n(d, c->name, k_eltwise_fn(K_ELT_CONCAT), c->outer * c->out_chunk, &k,
                       sizeof k, err);
}

static int concat_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return concat_pass(self, io, 0, err);
}

static int concat_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    return concat_pass(self, io, 1, err);
}

/* ---- schemas and descriptors ------------------------------------------------------------- */

static const nn_param_spec no_params[] = {{.name = NULL}};
static const nn_param_spec reshape_params[] = {
    {.name = "shape", .type = NN_PARAM_INT_LIST, .range = "[-1, inf)", .required = 1,
     .doc = "extents of one sample after the reshape, without the batch dimension, e.g. "
            "\"4, 7, 7\"; one entry may be -1 to infer it"},
    {.name = NULL},
};
static const nn_param_spec concat_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "1", .range = "[-8, 7]",
     .doc = "axis to join along (1 = channels/features); negative counts from the last; the "
            "batch axis 0 is not allowed"},
    {.name = NULL},
};

#define CU_SHAPE_VTABLE(nm, fwd, bwd)                                                    \
    static const nn_layer_vtable nm##_vtable = {                                         \
        .struct_size = sizeof(nn_layer_vtable),                                          \
        .create = nm##_create,                                                           \
        .destroy = shape_destroy,                                                        \
        .setup = nm##_setup,                                                             \
        .forward = fwd,                                                                  \
        .backward = bwd,                                                                 \
    }
CU_SHAPE_VTABLE(flatten, view_forward, view_backward);
CU_SHAPE_VTABLE(reshape, view_forward, view_backward);
CU_SHAPE_VTABLE(add, add_forward, add_backward);
CU_SHAPE_VTABLE(concat, concat_forward, concat_backward);

CU_LAYER_DESC(flatten, "Flattens every dimension but the batch on CUDA: [N, ...] -> "
                       "[N, product]", no_params);
CU_LAYER_DESC(reshape, "Reshapes each sample to `shape` on CUDA (batch dimension kept; one -1 "
                       "is inferred)", reshape_params);
CU_LAYER_DESC(add, "Elementwise sum of 2 or more inputs of the same shape on CUDA (residual "
                   "connections)", no_params);
CU_LAYER_DESC(concat, "Concatenates 2 or more inputs along one non-batch axis on CUDA (1 by "
                      "default)", concat_params);
