/* matmul.c: the layer plugin "matmul", a batched product of its two inputs,
 * C = scale * op(A) op(B) with op = optional transpose of the last two axes, as
 * torch.matmul(A, B) for inputs of equal rank >= 3 and equal leading (batch) axes:
 * A [N, ..., M, K] ([N, ..., K, M] with transpose_a), B [N, ..., K, P] -> C [N, ..., M, P].
 * oneDNN matmul primitives built in bind (forward and both gradients); never allocates in
 * forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq.h"

typedef struct matmul {
    int ta, tb;
    float scale;
    const char *name;
    int64_t batch, M, K, P;
    nn_dnnl_op fwd, da, db;
} matmul;

static int matmul_create(const nn_params *p, void **self, nn_error *err)
{
    matmul *m = calloc(1, sizeof *m);
    if (!m)
        return nn_error_set(err, NN_ENOMEM, "matmul: out of memory");
    m->ta = nn_params_bool(p, "transpose_a");
    m->tb = nn_params_bool(p, "transpose_b");
    m->scale = (float)nn_params_float(p, "scale");
    m->name = "matmul";
    *self = m;
    return NN_OK;
}

static void matmul_destroy(void *self)
{
    matmul *m = self;
    nn_dnnl_op_destroy(&m->fwd);
    nn_dnnl_op_destroy(&m->da);
    nn_dnnl_op_destroy(&m->db);
    free(m);
}

static int matmul_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    matmul *m = self;
    const char *L = m->name = s->layer_name ? s->layer_name : "matmul";
    char ba[96], bb[96];
    if (s->n_inputs != 2)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': matmul takes 2 inputs (inputs = A, B), got %d", L,
                            s->n_inputs);
    const nn_tensor *a = s->inputs[0], *b = s->inputs[1];
    int nd = a->dl.ndim;
    if (nn_tensor_dtype(a) != NN_F32 || nn_tensor_dtype(b) != NN_F32 || nd < 3 ||
        b->dl.ndim != nd)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': matmul needs two F32 inputs of the same rank >= 3 "
                            "[batch, ..., rows, cols], got A %s and B %s",
                            L, nn_shape_str(a, ba, sizeof ba), nn_shape_str(b, bb, sizeof bb));
    m->batch = 1;
    for (int i = 0; i < nd - 2; i++) {
        if (a->shape[i] != b->shape[i])
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s': matmul's inputs must agree on the leading axes, "
                                "got A %s and B %s (axis %d)",
                                L, nn_shape_str(a, ba, sizeof ba),
                                nn_shape_str(b, bb, sizeof bb), i);
        m->batch *= a->shape[i];
    }
    m->M = a->shape[nd - (m->ta ? 1 : 2)];
    m->K = a->shape[nd - (m->ta ? 2 : 1)];
    int64_t kb = b->shape[nd - (m->tb ? 1 : 2)];
    m->P = b->shape[nd - (m->tb ? 2 : 1)];
    if (kb != m->K)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': matmul of A %s%s by B %s%s: the inner sizes %lld and "
                            "%lld differ",
                            L, nn_shape_str(a, ba, sizeof ba), m->ta ? " (transposed)" : "",
                            nn_shape_str(b, bb, sizeof bb), m->tb ? " (transposed)" : "",
                            (long long)m->K, (long long)kb);
    int64_t out[NN_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++)
        out[i] = a->shape[i];
    out[nd - 2] = m->M;
    out[nd - 1] = m->P;
    nn_tensor_describe(&s->output, NN_F32, nd, out);
    s->flops = (uint64_t)(2 * m->batch * m->M * m->K * m->P);
    return NN_OK;
}

static int matmul_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    matmul *m = self;
    const char *L = m->name;
    const nn_tensor *a = io->inputs[0], *b = io->inputs[1];
    int rc = nn_seq_bmm_bind(&m->fwd, m->batch, m->M, m->K, m->P, a, m->ta, b, m->tb, 1,
                             io->output, m->scale, 0, L, err);
    if (rc || !io->grad_output)
        return rc;
    const nn_tensor *dc = io->grad_output;
    /* d op(A) = s dC op(B)^T and d op(B) = s op(A)^T dC, written into A's and B's own
     * layouts by picking which operand is read transposed */
    if (io->grad_inputs[0]) {
        rc = m->ta ? nn_seq_bmm_bind(&m->da, m->batch, m->K, m->P, m->M, b, m->tb, dc, 1, 1,
                                     io->grad_inputs[0], m->scale, 0, L, err)
                   : nn_seq_bmm_bind(&m->da, m->batch, m->M, m->P, m->K, dc, 0, b, !m->tb, 1,
                                     io->grad_inputs[0], m->scale, 0, L, err);
        if (rc)
            return rc;
    }
    if (io->grad_inputs[1])
        rc = m->tb ? nn_seq_bmm_bind(&m->db, m->batch, m->P, m->M, m->K, dc, 1, a, m->ta, 1,
                                     io->grad_inputs[1], m->scale, 0, L, err)
                   : nn_seq_bmm_bind(&m->db, m->batch, m->K, m->M, m->P, a, !m->ta, dc, 0, 1,
                                     io->grad_inputs[1], m->scale, 0, L, err);
    return rc;
}

static int matmul_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    matmul *m = self;
    int rc;
    if (!m->fwd.prim && (rc = matmul_bind(self, io, err)))
        return rc;
    return nn_dnnl_op_run(&m->fwd, m->name, err);
}

static int matmul_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    matmul *m = self;
    int rc;
    for (int k = 0; k < 2; k++) {
        nn_dnnl_op *op = k ? &m->db : &m->da;
        if (!io->grad_inputs[k])
            continue;
        if (!op->prim)
            return nn_error_set(err, NN_EINVAL,
                                "layer '%s': a gradient for input %d was asked for but the plan "
                                "bound none",
                                m->name, k);
        if ((rc = nn_dnnl_op_run(op, m->name, err)))
            return rc;
    }
    return NN_OK;
}

static const nn_param_spec matmul_params[] = {
    {.name = "transpose_a", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "use A with its last two axes swapped (A is then [N, ..., K, M])"},
    {.name = "transpose_b", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "use B with its last two axes swapped (B is then [N, ..., P, K]): A B^T, as "
            "attention scores q k^T"},
    {.name = "scale", .type = NN_PARAM_FLOAT, .def = "1", .range = "(-inf, inf)",
     .doc = "multiplies the product, e.g. 1/sqrt(d) for attention scores"},
    {.name = NULL},
};

/* ONNX: MatMul of the (transposed) operands, then the scale */
static int matmul_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const matmul *m = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    int nd = x->input_descs[0]->dl.ndim;
    int64_t perm[NN_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        perm[i] = i;
    perm[nd - 2] = nd - 1;
    perm[nd - 1] = nd - 2;
    const char *op[2] = {x->inputs[0], x->inputs[1]};
    for (int k = 0; k < 2; k++)
        if (k ? m->tb : m->ta) {
            const char *t = nn_export_value(g, k ? "b_t" : "a_t");
            int node = nn_export_op1(g, "Transpose", op[k], t);
            if (node >= 0)
                nn_export_attr_ints(g, node, "perm", nd, perm);
            op[k] = t;
        }
    if (m->scale == 1.0f)
        return nn_export_op2(g, "MatMul", op[0], op[1], x->output) < 0
                   ? nn_export_status(g, err) : NN_OK;
    const char *prod = nn_export_value(g, "product");
    nn_export_op2(g, "MatMul", op[0], op[1], prod);
    nn_export_op2(g, "Mul", prod, nn_export_const_f32(g, "scale", 0, NULL, &m->scale),
                  x->output);
    return nn_export_status(g, err);
}

static const nn_layer_vtable matmul_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = matmul_create,
    .destroy = matmul_destroy,
    .setup = matmul_setup,
    .bind = matmul_bind,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .export_as = matmul_export, /* optional: ONNX */
};

static const nn_plugin_desc matmul_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "matmul", .version = "1.0.0", .license = "MIT",
    .summary = "batched product of two inputs, scale * op(A) op(B) over the last two axes "
               "(oneDNN matmul), optional transposes",
    .caps = NN_CAP_BACKWARD, .params = matmul_params, .vtable = &matmul_vtable);

NN_PLUGIN_EXPORT(&matmul_desc);
