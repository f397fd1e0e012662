/* export_graph.c: the builder behind <nntrain/export.h>: value names (each written once),
 * nodes with their attributes, constants encoded as ONNX TensorProto, and the tensors of a
 * PyTorch state dict. It checks what a plugin asks for (unknown inputs, a value written twice,
 * attributes of another plugin's node) and keeps the first failure, naming the plugin; it
 * never writes a file. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_internal.h"

enum { NAME_RESERVED = 1, NAME_DEFINED = 2 };

typedef struct ex_node {
    char *op;
    int n_in, n_out;
    const char **io; /* inputs then outputs: names owned by the table ("" for an omitted one) */
    nn_pb_buf attrs; /* NodeProto.attribute fields, encoded */
} ex_node;

typedef struct ex_tensor {
    char *name;
    nn_tensor t;
    void *owned; /* t's data when copied, else NULL (borrowed from the model) */
    int extra;
} ex_tensor;

struct nn_export {
    int format, opset;
    char kind[16];
    char scope[2 * NN_NAME_MAX];
    /* value names: open addressing, power-of-two capacity */
    char **names;
    uint8_t *state;
    size_t cap, count;
    ex_node *nodes;
    int n_nodes, cap_nodes, scope_first_node;
    nn_pb_buf inits;
    ex_tensor *tensors;
    int n_tensors, cap_tensors;
    int status;
    char msg[NN_ERROR_MSG_MAX];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

nn_export *nn_export_new(int format, int opset)
{
    nn_export *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->format = format;
    x->opset = opset;
    x->cap = 256;
    x->names = calloc(x->cap, sizeof *x->names);
    x->state = calloc(x->cap, 1);
    if (!x->names || !x->state) {
        nn_export_free(x);
        return NULL;
    }
    return x;
}

void nn_export_free(nn_export *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->cap; i++)
        free(x->names[i]);
    free(x->names);
    free(x->state);
    for (int i = 0; i < x->n_nodes; i++) {
        free(x->nodes[i].op);
        free(x->nodes[i].io);
        nn_pb_free(&x->nodes[i].attrs);
    }
    free(x->nodes);
    nn_pb_free(&x->inits);
    for (int i = 0; i < x->n_tensors; i++) {
        free(x->tensors[i].name);
        free(x->tensors[i].owned);
    }
    free(x->tensors);
    free(x);
}

void nn_export_scope(nn_export *x, const char *kind, const char *name)
{
    snprintf(x->kind, sizeof x->kind, "%s", kind ? kind : "");
    snprintf(x->scope, sizeof x->scope, "%s", name ? name : "");
    x->scope_first_node = x->n_nodes;
}

int nn_export_opset(const nn_export *x) { return x->opset; }
int nn_export_kind(const nn_export *x) { return x->format; }

int nn_export_fail(nn_export *x, int status, const char *fmt, ...)
{
    if (x->status)
        return x->status;
    x->status = status;
    int n = 0;
    if (x->scope[0])
        n = snprintf(x->msg, sizeof x->msg, "%s '%s': ", x->kind, x->scope);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg + n, sizeof x->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

int nn_export_status(const nn_export *x, nn_error *err)
{
    if (!x)
        return nn_error_set(err, NN_EINVAL, "nn_export_status: no export");
    if (x->status)
        nn_error_set(err, x->status, "%s", x->msg);
    return x->status;
}

/* the slot of name in the table: its entry, or the empty slot where it would go */
static size_t slot_of(const nn_export *x, const char *name)
{
    size_t i = (size_t)hash(name) & (x->cap - 1);
    while (x->names[i] && strcmp(x->names[i], name) != 0)
        i = (i + 1) & (x->cap - 1);
    return i;
}

static int grow_names(nn_export *x)
{
    size_t ocap = x->cap;
    char **on = x->names;
    uint8_t *os = x->state;
    x->cap *= 2;
    x->names = calloc(x->cap, sizeof *x->names);
    x->state = calloc(x->cap, 1);
    if (!x->names || !x->state) {
        free(x->names);
        free(x->state);
        x->names = on;
        x->state = os;
        x->cap = ocap;
        return -1;
    }
    for (size_t i = 0; i < ocap; i++)
        if (on[i]) {
            size_t j = slot_of(x, on[i]);
            x->names[j] = on[i];
            x->state[j] = os[i];
        }
    free(on);
    free(os);
    return 0;
}

static const char *lookup(const nn_export *x, const char *name, int *state)
{
    size_t i = slot_of(x, name);
    *state = x->names[i] ? x->state[i] : 0;
    return x->names[i];
}

static void set_state(nn_export *x, const char *name, int state)
{
    size_t i = slot_of(x, name);
    if (x->names[i])
        x->state[i] = (uint8_t)state;
}

int nn_export_defined(const nn_export *x, const char *name)
{
    int st;
    return lookup(x, name, &st) && st == NAME_DEFINED;
}

const char *nn_export_claim(nn_export *x, const char *want, int defined)
{
    if (x->status)
        return NULL;
    if (!want || !*want) {
        nn_export_fail(x, NN_EINVAL, "a value name may not be empty");
        return NULL;
    }
    if ((x->count + 1) * 2 > x->cap && grow_names(x) != 0) {
        nn_export_fail(x, NN_ENOMEM, "out of memory");
        return NULL;
    }
    size_t len = strlen(want);
    char *name = malloc(len + 24);
    if (!name) {
        nn_export_fail(x, NN_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(name, want, len + 1);
    int st;
    for (long k = 1; lookup(x, name, &st); k++)
        snprintf(name + len, 24, "_%ld", k);
    size_t i = slot_of(x, name);
    x->names[i] = name;
    x->state[i] = defined ? NAME_DEFINED : NAME_RESERVED;
    x->count++;
    return name;
}

/* "SCOPE.hint", or hint alone at graph level */
static const char *scoped(nn_export *x, const char *hint, int defined)
{
    if (!hint || !*hint)
        hint = "value";
    char want[3 * NN_NAME_MAX + 8];
    if (x->scope[0])
        snprintf(want, sizeof want, "%s.%s", x->scope, hint);
    else
        snprintf(want, sizeof want, "%s", hint);
    return nn_export_claim(x, want, defined);
}

const char *nn_export_value(nn_export *x, const char *hint)
{
    if (!x)
        return NULL;
    if (x->format != NN_EXPORT_ONNX) {
        nn_export_fail(x, NN_EINVAL, "nn_export_value() is for the ONNX format");
        return NULL;
    }
    return scoped(x, hint, 0);
}

/* ---- constants ---- */

static const int onnx_types[NN_DTYPE_COUNT] = {
    [NN_F32] = 1, [NN_F64] = 11, [NN_F16] = 10, [NN_BF16] = 16,
    [NN_I32] = 6, [NN_I64] = 7,  [NN_U8] = 2,
};

int nn_export_tensor_proto(nn_pb_buf *b, const char *name, const nn_tensor *t)
{
    int dt = nn_tensor_dtype(t);
    if (dt < 0)
        return -1;
    for (int d = 0; d < t->dl.ndim; d++)
        nn_pb_int64(b, 1, t->shape[d]);
    nn_pb_int64(b, 2, onnx_types[dt]);
    if (name)
        nn_pb_string(b, 8, name);
    /* raw_data is little-endian, as the host's bytes are on every target nntrain builds for */
    nn_pb_bytes(b, 9, (const char *)t->dl.data + t->dl.byte_offset, nn_tensor_nbytes(t));
    return 0;
}

static int contiguous(const nn_tensor *t)
{
    int64_t s = 1;
    for (int d = t->dl.ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->dl.strides && t->dl.strides[d] != s)
            return 0;
        s *= t->shape[d];
    }
    return 1;
}

const char *nn_export_const(nn_export *x, const char *hint, const nn_tensor *t)
{
    if (!x || x->status)
        return NULL;
    if (x->format != NN_EXPORT_ONNX) {
        nn_export_fail(x, NN_EINVAL, "nn_export_const() is for the ONNX format");
        return NULL;
    }
    if (!t || (!t->dl.data && nn_tensor_numel(t) > 0) || !contiguous(t) ||
        t->dl.device.device_type != kDLCPU) {
        nn_export_fail(x, NN_EINVAL, "constant '%s' is not a contiguous host tensor with data",
                       hint ? hint : "?");
        return NULL;
    }
    const char *name = scoped(x, hint, 1);
    if (!name)
        return NULL;
    nn_pb_buf one = {0};
    if (nn_export_tensor_proto(&one, name, t) != 0) {
        nn_pb_free(&one);
        nn_export_fail(x, NN_EINVAL, "constant '%s' has a dtype ONNX export does not support",
                       name);
        return NULL;
    }
    nn_pb_message(&x->inits, 5, &one); /* GraphProto.initializer */
    nn_pb_free(&one);
    if (x->inits.oom) {
        nn_export_fail(x, NN_ENOMEM, "out of memory for constant '%s'", name);
        return NULL;
    }
    return name;
}

static const char *const_of(nn_export *x, const char *hint, nn_dtype dt, int ndim,
                            const int64_t *shape, const void *v)
{
    nn_tensor t = {0};
    if (ndim < 0 || ndim > NN_MAX_DIMS || (ndim && !shape) || !v) {
        if (x)
            nn_export_fail(x, NN_EINVAL, "constant '%s': bad shape or no values",
                           hint ? hint : "?");
        return NULL;
    }
    nn_tensor_describe(&t, dt, ndim, shape);
    t.dl.data = (void *)v;
    return nn_export_const(x, hint, &t);
}

const char *nn_export_const_f32(nn_export *x, const char *hint, int ndim, const int64_t *shape,
                                const float *v)
{
    return const_of(x, hint, NN_F32, ndim, shape, v);
}

const char *nn_export_const_i64(nn_export *x, const char *hint, int ndim, const int64_t *shape,
                                const int64_t *v)
{
    return const_of(x, hint, NN_I64, ndim, shape, v);
}

/* ---- nodes ---- */

static int valid_op(const char *op)
{
    if (!op || !((*op >= 'A' && *op <= 'Z') || (*op >= 'a' && *op <= 'z')))
        return 0;
    for (; *op; op++)
        if (!((*op >= 'A' && *op <= 'Z') || (*op >= 'a' && *op <= 'z') ||
              (*op >= '0' && *op <= '9') || *op == '_'))
            return 0;
    return 1;
}

int nn_export_node(nn_export *x, const char *op, int n_in, const char *const *in, int n_out,
                   const char *const *outs)
{
    if (!x)
        return NN_EINVAL;
    if (x->status)
        return x->status;
    if (x->format != NN_EXPORT_ONNX)
        return nn_export_fail(x, NN_EINVAL, "nn_export_node() is for the ONNX format");
    if (!valid_op(op))
        return nn_export_fail(x, NN_EINVAL, "'%s' is not an ONNX operator name", op ? op : "");
    if (n_in < 0 || n_out < 1 || (n_in && !in) || !outs)
        return nn_export_fail(x, NN_EINVAL, "node %s: needs inputs and at least one output", op);
    const char **io = calloc((size_t)(n_in + n_out), sizeof *io);
    if (!io)
        return nn_export_fail(x, NN_ENOMEM, "out of memory");
    int st;
    for (int k = 0; k < n_in; k++) {
        const char *name = in[k] ? lookup(x, in[k], &st) : NULL;
        if (in[k] && !in[k][0]) {
            io[k] = "";
            continue;
        }
        if (!name || st != NAME_DEFINED) {
            free(io);
            return nn_export_fail(x, NN_EINVAL, "node %s reads '%s' (input %d), which %s", op,
                                  in[k] ? in[k] : "(null)", k,
                                  name ? "no node has written yet (nodes go in the order they "
                                         "compute)"
                                       : "is neither the layer's input, a constant nor a value "
                                         "from nn_export_value()");
        }
        io[k] = name;
    }
    for (int k = 0; k < n_out; k++) {
        const char *name = outs[k] ? lookup(x, outs[k], &st) : NULL;
        if (!name || st != NAME_RESERVED) {
            free(io);
            return nn_export_fail(x, NN_EINVAL, "node %s writes '%s' (output %d), which %s", op,
                                  outs[k] ? outs[k] : "(null)", k,
                                  name ? "is already written: each value is written once"
                                       : "is not a name from nn_export_value() or the layer's "
                                         "output");
        }
        io[n_in + k] = name;
    }
    if (x->n_nodes == x->cap_nodes) {
        int cap = x->cap_nodes ? 2 * x->cap_nodes : 64;
        ex_node *g = realloc(x->nodes, (size_t)cap * sizeof *g);
        if (!g) {
            free(io);
            return nn_export_fail(x, NN_ENOMEM, "out of memory");
        }
        x->nodes = g;
        x->cap_nodes = cap;
    }
    ex_node *nd = &x->nodes[x->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->op = strdup(op);
    if (!nd->op) {
        free(io);
        return nn_export_fail(x, NN_ENOMEM, "out of memory");
    }
    nd->n_in = n_in;
    nd->n_out = n_out;
    nd->io = io;
    for (int k = 0; k < n_out; k++)
        set_state(x, io[n_in + k], NAME_DEFINED);
    return x->n_nodes++;
}

int nn_export_op1(nn_export *x, const char *op, const char *a, const char *y)
{
    return nn_export_node(x, op, 1, &a, 1, &y);
}

int nn_export_op2(nn_export *x, const char *op, const char *a, const char *b, const char *y)
{
    const char *in[2] = {a, b};
    return nn_export_node(x, op, 2, in, 1, &y);
}

/* AttributeProto field numbers and AttributeType values of onnx.proto */
enum { AT_NAME = 1, AT_F = 2, AT_I = 3, AT_S = 4, AT_FLOATS = 7, AT_INTS = 8, AT_TYPE = 20 };
enum { T_FLOAT = 1, T_INT = 2, T_STRING = 3, T_FLOATS = 6, T_INTS = 7 };

static nn_pb_buf *attr_target(nn_export *x, int node, const char *name)
{
    if (!x || x->status)
        return NULL;
    if (node < x->scope_first_node || node >= x->n_nodes) {
        nn_export_fail(x, NN_EINVAL, "attribute '%s' for node %d, which this %s did not add",
                       name ? name : "?", node, x->kind[0] ? x->kind : "export");
        return NULL;
    }
    if (!name || !*name) {
        nn_export_fail(x, NN_EINVAL, "an attribute of node %s has no name", x->nodes[node].op);
        return NULL;
    }
    return &x->nodes[node].attrs;
}

/* wraps the AttributeProto in a as NodeProto.attribute into the node's list */
static int attr_done(nn_export *x, nn_pb_buf *list, nn_pb_buf *a)
{
    nn_pb_message(list, 5, a);
    nn_pb_free(a);
    return list->oom ? nn_export_fail(x, NN_ENOMEM, "out of memory") : NN_OK;
}

int nn_export_attr_int(nn_export *x, int node, const char *name, int64_t v)
{
    nn_pb_buf *list = attr_target(x, node, name), a = {0};
    if (!list)
        return x ? x->status : NN_EINVAL;
    nn_pb_string(&a, AT_NAME, name);
    nn_pb_int64(&a, AT_TYPE, T_INT);
    nn_pb_int64(&a, AT_I, v);
    return attr_done(x, list, &a);
}

int nn_export_attr_float(nn_export *x, int node, const char *name, float v)
{
    nn_pb_buf *list = attr_target(x, node, name), a = {0};
    if (!list)
        return x ? x->status : NN_EINVAL;
    nn_pb_string(&a, AT_NAME, name);
    nn_pb_int64(&a, AT_TYPE, T_FLOAT);
    nn_pb_float(&a, AT_F, v);
    return attr_done(x, list, &a);
}

int nn_export_attr_string(nn_export *x, int node, const char *name, const char *v)
{
    nn_pb_buf *list = attr_target(x, node, name), a = {0};
    if (!list)
        return x ? x->status : NN_EINVAL;
    nn_pb_string(&a, AT_NAME, name);
    nn_pb_int64(&a, AT_TYPE, T_STRING);
    nn_pb_string(&a, AT_S, v ? v : "");
    return attr_done(x, list, &a);
}

/* repeated scalars unpacked: onnx.proto is proto2, whose parsers take both forms */
int nn_export_attr_ints(nn_export *x, int node, const char *name, int n, const int64_t *v)
{
    nn_pb_buf *list = attr_target(x, node, name), a = {0};
    if (!list)
        return x ? x->status : NN_EINVAL;
    nn_pb_string(&a, AT_NAME, name);
    nn_pb_int64(&a, AT_TYPE, T_INTS);
    for (int i = 0; i < n; i++)
        nn_pb_int64(&a, AT_INTS, v[i]);
    return attr_done(x, list, &a);
}

int nn_export_attr_floats(nn_export *x, int node, const char *name, int n, const float *v)
{
    nn_pb_buf *list = attr_target(x, node, name), a = {0};
    if (!list)
        return x ? x->status : NN_EINVAL;
    nn_pb_string(&a, AT_NAME, name);
    nn_pb_int64(&a, AT_TYPE, T_FLOATS);
    for (int i = 0; i < n; i++)
        nn_pb_float(&a, AT_FLOATS, v[i]);
    return attr_done(x, list, &a);
}

/* an Identity node that writes no graph output is left out (dropout in evaluation, an
 * activation "none"): its readers read its input instead */
static int elided(const nn_export *x, const ex_node *n, int n_keep, const char *const *keep)
{
    if (strcmp(n->op, "Identity") != 0 || n->n_in != 1 || n->n_out != 1)
        return 0;
    for (int k = 0; k < n_keep; k++)
        if (strcmp(keep[k], n->io[1]) == 0)
            return 0;
    (void)x;
    return 1;
}

/* the value v read by node `upto`, after the elided nodes before it */
static const char *resolve(const nn_export *x, int upto, const char *v, int n_keep,
                           const char *const *keep)
{
    for (int i = upto - 1; i >= 0; i--) {
        const ex_node *n = &x->nodes[i];
        if (strcmp(n->io[1], v) == 0 && n->n_out == 1 && elided(x, n, n_keep, keep))
            v = n->io[0];
    }
    return v;
}

void nn_export_encode(const nn_export *x, nn_pb_buf *graph, int n_keep,
                      const char *const *keep)
{
    nn_pb_buf nd = {0};
    for (int i = 0; i < x->n_nodes; i++) {
        const ex_node *n = &x->nodes[i];
        if (elided(x, n, n_keep, keep))
            continue;
        char name[64];
        nn_pb_reset(&nd);
        for (int k = 0; k < n->n_in + n->n_out; k++)
            nn_pb_string(&nd, k < n->n_in ? 1 : 2,
                         k < n->n_in ? resolve(x, i, n->io[k], n_keep, keep) : n->io[k]);
        snprintf(name, sizeof name, "%s_%d", n->op, i);
        nn_pb_string(&nd, 3, name);
        nn_pb_string(&nd, 4, n->op);
        nn_pb_raw(&nd, n->attrs.p, n->attrs.len);
        nn_pb_message(graph, 1, &nd); /* GraphProto.node */
    }
    nn_pb_free(&nd);
    nn_pb_raw(graph, x->inits.p, x->inits.len);
}

/* ---- PyTorch state dicts ---- */

static int torch_find(const nn_export *x, const char *name)
{
    for (int i = 0; i < x->n_tensors; i++)
        if (strcmp(x->tensors[i].name, name) == 0)
            return i;
    return -1;
}

static int torch_put(nn_export *x, const char *name, const nn_tensor *t, int copy)
{
    int i = torch_find(x, name);
    if (i < 0 && x->n_tensors == x->cap_tensors) {
        int cap = x->cap_tensors ? 2 * x->cap_tensors : 64;
        ex_tensor *g = realloc(x->tensors, (size_t)cap * sizeof *g);
        if (!g)
            return nn_export_fail(x, NN_ENOMEM, "out of memory");
        /* a tensor's shape and strides point into the struct itself: follow the move */
        for (int k = 0; k < x->n_tensors; k++) {
            g[k].t.dl.shape = g[k].t.shape;
            g[k].t.dl.strides = g[k].t.strides;
        }
        x->tensors = g;
        x->cap_tensors = cap;
    }
    void *data = NULL;
    if (copy) {
        size_t bytes = nn_tensor_nbytes(t);
        data = aligned_alloc(NN_TENSOR_ALIGN, (bytes + NN_TENSOR_ALIGN) / NN_TENSOR_ALIGN *
                                                  NN_TENSOR_ALIGN);
        if (!data)
            return nn_export_fail(x, NN_ENOMEM, "out of memory for '%s'", name);
        memcpy(data, (const char *)t->dl.data + t->dl.byte_offset, bytes);
    }
    ex_tensor *e;
    if (i >= 0) {
        e = &x->tensors[i];
        free(e->owned);
    } else {
        e = &x->tensors[x->n_tensors];
        memset(e, 0, sizeof *e);
        if (!(e->name = strdup(name))) {
            free(data);
            return nn_export_fail(x, NN_ENOMEM, "out of memory");
        }
        x->n_tensors++;
        e->extra = copy;
    }
    e->owned = data;
    nn_tensor_describe(&e->t, (nn_dtype)nn_tensor_dtype(t), t->dl.ndim, t->shape);
    e->t.dl.data = copy ? data : (char *)t->dl.data + t->dl.byte_offset;
    e->t.name = e->name;
    return NN_OK;
}

int nn_export_torch_add(nn_export *x, const char *name, const nn_tensor *t)
{
    return x->status ? x->status : torch_put(x, name, t, 0);
}

int nn_export_tensor(nn_export *x, const char *name, const nn_tensor *t)
{
    if (!x)
        return NN_EINVAL;
    if (x->status)
        return x->status;
    if (x->format != NN_EXPORT_TORCH)
        return nn_export_fail(x, NN_EINVAL, "nn_export_tensor() is for the PyTorch format");
    if (!name || !*name || !t || nn_tensor_dtype(t) < 0 || !contiguous(t) ||
        (!t->dl.data && nn_tensor_numel(t) > 0) || t->dl.device.device_type != kDLCPU)
        return nn_export_fail(x, NN_EINVAL, "tensor '%s' needs a name and contiguous host data "
                              "of a known dtype", name ? name : "");
    char full[3 * NN_NAME_MAX + 8];
    snprintf(full, sizeof full, "%s%s%s", x->scope, x->scope[0] ? "." : "", name);
    return torch_put(x, full, t, 1);
}

int nn_export_torch_count(const nn_export *x) { return x->n_tensors; }

const nn_tensor *nn_export_torch_at(const nn_export *x, int i, const char **name, int *extra)
{
    if (name)
        *name = x->tensors[i].name;
    if (extra)
        *extra = x->tensors[i].extra;
    return &x->tensors[i].t;
}
