/* sequence_pool.c: the layer plugin "sequence_pool", [N, T, C] -> [N, C] by mean, max, the
 * last or the first position over time, honouring padding: with a second input (token ids
 * [N, T] with pad_id, an F32 mask [N, T] or lengths [N]; see NN_SEQ_PAD_DOC) padded
 * positions are left out, "last" takes the last real position and "first" the first. A
 * sample with no real position pools to zeros. Plain C; backward recomputes the chosen
 * positions from the inputs, so nothing is saved and nothing is allocated. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

#include "nn_seq.h"
#include "nn_seq_export.h"

enum { POOL_MEAN = 0, POOL_MAX, POOL_LAST, POOL_FIRST };

typedef struct seqpool {
    int mode;
    int64_t pad_id;
    int64_t N, T, C;
    nn_seq_pad pad;
} seqpool;

static int seqpool_create(const nn_params *p, void **self, nn_error *err)
{
    seqpool *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "sequence_pool: out of memory");
    s->mode = nn_params_enum(p, "mode");
    s->pad_id = nn_params_int(p, "pad_id");
    *self = s;
    return NN_OK;
}

static void seqpool_destroy(void *self)
{
    free(self);
}

static int seqpool_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    seqpool *p = self;
    char buf[96];
    if (s->n_inputs < 1 || s->n_inputs > 2)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': sequence_pool takes x [N, T, C] and optionally a "
                            "padding input, got %d inputs",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 3 || nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': sequence_pool expects F32 [batch, time, channels], got "
                            "%s",
                            s->layer_name, nn_shape_str(x, buf, sizeof buf));
    p->N = x->shape[0], p->T = x->shape[1], p->C = x->shape[2];
    memset(&p->pad, 0, sizeof p->pad);
    int rc;
    if (s->n_inputs == 2 &&
        (rc = nn_seq_pad_setup(&p->pad, s->inputs[1], p->N, p->T, p->pad_id, s->layer_name,
                               err)))
        return rc;
    int64_t out[2] = {p->N, p->C};
    nn_tensor_describe(&s->output, NN_F32, 2, out);
    s->flops = (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

/* the real positions of sample n: count, first and last (-1 when none) */
static int64_t real_positions(const seqpool *p, const nn_tensor *pad, int64_t n, int64_t *first,
                              int64_t *last)
{
    int64_t count = 0;
    *first = *last = -1;
    for (int64_t t = 0; t < p->T; t++) {
        if (nn_seq_pad_at(&p->pad, pad, n, t))
            continue;
        if (*first < 0)
            *first = t;
        *last = t;
        count++;
    }
    return count;
}

/* forward (dy NULL): y = pool(x); backward: dx = the pool's adjoint of dy */
static void run(const seqpool *p, const nn_layer_io *io, const float *dy, float *dx)
{
    const nn_tensor *pad = io->n_inputs > 1 ? io->inputs[1] : NULL;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    int64_t T = p->T, C = p->C;
    if (dx)
        memset(dx, 0, sizeof *dx * (size_t)(p->N * T * C));
    for (int64_t n = 0; n < p->N; n++) {
        int64_t first, last, count = real_positions(p, pad, n, &first, &last);
        const float *xn = x + n * T * C;
        float *yn = y + n * C;
        const float *dyn = dy ? dy + n * C : NULL;
        float *dxn = dx ? dx + n * T * C : NULL;
        if (count == 0) {
            if (!dy)
                memset(yn, 0, sizeof *yn * (size_t)C);
            continue;
        }
        if (p->mode == POOL_LAST || p->mode == POOL_FIRST) {
            int64_t t = p->mode == POOL_LAST ? last : first;
            for (int64_t c = 0; c < C; c++) {
                if (dy)
                    dxn[t * C + c] = dyn[c];
                else
                    yn[c] = xn[t * C + c];
            }
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            double acc = 0;
            float best = -INFINITY;
            int64_t arg = first;
            for (int64_t t = first; t <= last; t++) {
                if (nn_seq_pad_at(&p->pad, pad, n, t))
                    continue;
                float v = xn[t * C + c];
                acc += v;
                if (v > best) { /* the first maximum, in forward and backward alike */
                    best = v;
                    arg = t;
                }
            }
            if (p->mode == POOL_MEAN && dy) {
                float g = (float)(dyn[c] / (double)count);
                for (int64_t t = first; t <= last; t++)
                    if (!nn_seq_pad_at(&p->pad, pad, n, t))
                        dxn[t * C + c] = g;
            } else if (p->mode == POOL_MEAN) {
                yn[c] = (float)(acc / (double)count);
            } else if (dy) {
                dxn[arg * C + c] = dyn[c];
            } else {
                yn[c] = best;
            }
        }
    }
}

static int seqpool_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    run(self, io, NULL, NULL);
    return NN_OK;
}

static int seqpool_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    if (io->n_inputs > 1 && io->grad_inputs[1])
        memset(NN_F32P(io->grad_inputs[1]), 0, nn_tensor_nbytes(io->grad_inputs[1]));
    if (io->grad_inputs[0])
        run(self, io, NN_F32P(io->grad_output), NN_F32P(io->grad_inputs[0]));
    return NN_OK;
}

static const nn_param_spec seqpool_params[] = {
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|max|last|first",
     .doc = "mean or max over the real (unpadded) positions, or the last / first real "
            "position (last = the state after the whole sequence for a left-to-right RNN; "
            "first = a class token at position 0)"},
    {.name = "pad_id", .type = NN_PARAM_INT, .def = "0", .range = "(-inf, inf)",
     .doc = "the padding token id, when the padding input holds token ids; " NN_SEQ_PAD_DOC},
    {.name = NULL},
};

/* ONNX: a reduction over time; with a padding input, over the real positions (weights 1 at
 * the first/last real one; a sample without any pools to zeros) */
static int seqpool_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const seqpool *p = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    const int64_t time_axis = 1;
    if (x->n_inputs == 1 && (p->mode == POOL_MEAN || p->mode == POOL_MAX))
        return nn_export_reduce(g, p->mode == POOL_MEAN ? "ReduceMean" : "ReduceMax", 1,
                                &time_axis, 0, x->inputs[0], x->output) ? nn_export_status(g, err)
                                                                         : NN_OK;
    if (x->n_inputs == 1) {
        int64_t t = p->mode == POOL_LAST ? p->T - 1 : 0;
        int node = nn_export_op2(g, "Gather", x->inputs[0],
                                 nn_export_const_i64(g, "position", 0, NULL, &t), x->output);
        if (node >= 0)
            nn_export_attr_int(g, node, "axis", 1);
        return nn_export_status(g, err);
    }
    const char *keep = nn_seq_export_keep(g, &p->pad, x->inputs[1]); /* [N, T] */
    const char *w = keep, *count = nn_export_value(g, "count");
    nn_export_reduce(g, "ReduceSum", 1, &time_axis, 1, keep, count); /* [N, 1] */
    if (p->mode == POOL_FIRST || p->mode == POOL_LAST) { /* keep where the running count is 1 */
        const char *run = nn_export_value(g, "running"), *one = nn_export_value(g, "is_edge");
        const char *edge = nn_export_value(g, "edge"), *wt = nn_export_value(g, "pick");
        const char *in[2] = {keep, nn_export_const_i64(g, "time_axis", 0, NULL, &time_axis)};
        int node = nn_export_node(g, "CumSum", 2, in, 1, &run);
        if (node >= 0 && p->mode == POOL_LAST)
            nn_export_attr_int(g, node, "reverse", 1);
        nn_export_op2(g, "Equal", run, nn_export_const_f32(g, "one", 0, NULL, &(float){1}), one);
        node = nn_export_op1(g, "Cast", one, edge);
        if (node >= 0)
            nn_export_attr_int(g, node, "to", 1);
        nn_export_op2(g, "Mul", keep, edge, wt);
        w = wt;
    }
    const char *w3 = nn_export_value(g, "weights"), *xw = nn_export_value(g, "weighted");
    nn_export_op2(g, "Unsqueeze", w,
                  nn_export_const_i64(g, "axis2", 1, (const int64_t[]){1}, (const int64_t[]){2}),
                  w3); /* [N, T, 1] */
    if (p->mode == POOL_MAX) { /* max over real positions; none: 0 */
        const char *real = nn_export_value(g, "is_real"), *masked = nn_export_value(g, "masked");
        const char *mx = nn_export_value(g, "max"), *any = nn_export_value(g, "any");
        int node = nn_export_op1(g, "Cast", w3, real);
        if (node >= 0)
            nn_export_attr_int(g, node, "to", 9); /* BOOL */
        const char *sel[3] = {real, x->inputs[0],
                              nn_export_const_f32(g, "minus_inf", 0, NULL, &(float){-INFINITY})};
        nn_export_node(g, "Where", 3, sel, 1, &masked);
        nn_export_reduce(g, "ReduceMax", 1, &time_axis, 0, masked, mx);
        nn_export_op2(g, "Greater", count,
                      nn_export_const_f32(g, "zero", 0, NULL, &(float){0}), any);
        const char *pick[3] = {any, mx, nn_export_const_f32(g, "zero", 0, NULL, &(float){0})};
        nn_export_node(g, "Where", 3, pick, 1, &x->output);
        return nn_export_status(g, err);
    }
    nn_export_op2(g, "Mul", x->inputs[0], w3, xw);
    if (p->mode != POOL_MEAN) /* one weight of 1: the sum is that position's value */
        return nn_export_reduce(g, "ReduceSum", 1, &time_axis, 0, xw, x->output)
                   ? nn_export_status(g, err) : NN_OK;
    const char *sum = nn_export_value(g, "sum"), *den = nn_export_value(g, "count_at_least_1");
    nn_export_reduce(g, "ReduceSum", 1, &time_axis, 0, xw, sum);
    nn_export_op2(g, "Max", count, nn_export_const_f32(g, "one", 0, NULL, &(float){1}), den);
    nn_export_op2(g, "Div", sum, den, x->output);
    return nn_export_status(g, err);
}

static const nn_layer_vtable seqpool_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = seqpool_create,
    .destroy = seqpool_destroy,
    .setup = seqpool_setup,
    .forward = seqpool_forward,
    .backward = seqpool_backward,
    .export_as = seqpool_export, /* optional: ONNX */
};

static const nn_plugin_desc seqpool_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "sequence_pool", .version = "1.0.0", .license = "MIT",
    .summary = "pools [N, T, C] over time to [N, C] (mean, max, last, first), skipping padded "
               "positions given by an optional second input",
    .caps = NN_CAP_BACKWARD, .params = seqpool_params, .vtable = &seqpool_vtable);

NN_PLUGIN_EXPORT(&seqpool_desc);
