/* nn_seq_export.c: ONNX nodes for the sequence layers' shared parts (see nn_seq_export.h).
 * Each follows the evaluation forward of nn_seq_attn.c / nn_seq_rnn.c step by step, so the
 * runtime computes the same function; allocations here are export-time only. */
#define _POSIX_C_SOURCE 200809L
#include "nn_seq_export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ONNX_FLOAT = 1 }; /* TensorProto.DataType */

static const char *cast_float(nn_export *g, const char *in)
{
    const char *out = nn_export_value(g, "as_float");
    int node = nn_export_op1(g, "Cast", in, out);
    if (node >= 0)
        nn_export_attr_int(g, node, "to", ONNX_FLOAT);
    return node >= 0 ? out : NULL;
}

static const char *op1(nn_export *g, const char *op, const char *a, const char *hint)
{
    const char *out = nn_export_value(g, hint);
    return nn_export_op1(g, op, a, out) >= 0 ? out : NULL;
}

static const char *op2(nn_export *g, const char *op, const char *a, const char *b,
                       const char *hint)
{
    const char *out = nn_export_value(g, hint);
    return nn_export_op2(g, op, a, b, out) >= 0 ? out : NULL;
}

static const char *transpose(nn_export *g, const char *in, int nd, const int64_t *perm,
                             const char *y)
{
    const char *out = y ? y : nn_export_value(g, "transposed");
    int node = nn_export_op1(g, "Transpose", in, out);
    if (node >= 0)
        nn_export_attr_ints(g, node, "perm", nd, perm);
    return node >= 0 ? out : NULL;
}

const char *nn_seq_export_keep(nn_export *g, const nn_seq_pad *p, const char *pad)
{
    switch (p->kind) {
    case NN_SEQ_PAD_IDS: { /* padding where the id is pad_id */
        int32_t id32 = (int32_t)p->pad_id;
        int64_t id64 = p->pad_id;
        nn_tensor id = {0};
        nn_tensor_describe(&id, p->dtype == NN_I32 ? NN_I32 : NN_I64, 0, NULL);
        id.dl.data = p->dtype == NN_I32 ? (void *)&id32 : (void *)&id64;
        const char *eq = op2(g, "Equal", pad, nn_export_const(g, "pad_id", &id), "is_pad");
        return cast_float(g, op1(g, "Not", eq, "is_real"));
    }
    case NN_SEQ_PAD_MASK: /* padding where the mask is not 0 */
        return cast_float(g, op2(g, "Equal", pad, nn_export_const_f32(g, "zero", 0, NULL,
                                                                      &(float){0.0f}),
                                 "is_real"));
    case NN_SEQ_PAD_LENGTHS: { /* padding from position `length` on */
        float *pos = malloc(sizeof *pos * (size_t)p->S);
        if (!pos) {
            nn_export_fail(g, NN_ENOMEM, "out of memory");
            return NULL;
        }
        for (int64_t s = 0; s < p->S; s++)
            pos[s] = (float)s;
        const char *positions = nn_export_const_f32(g, "positions", 1, &p->S, pos);
        free(pos);
        const char *len = p->dtype == NN_F32 ? pad : cast_float(g, pad);
        const char *col = op2(g, "Unsqueeze", len,
                              nn_export_const_i64(g, "axis1", 1, (const int64_t[]){1},
                                                  (const int64_t[]){1}),
                              "lengths"); /* [N, 1] */
        return cast_float(g, op2(g, "Less", positions, col, "is_real"));
    }
    default:
        return NULL;
    }
}

/* rows [r0, r0 + n) of a 2-d (or 1-d) F32 host tensor, as a view in *v (filled in place:
 * a tensor's shape points into the struct itself, so it is never returned by value) */
static void rows_of(const nn_tensor *t, int64_t r0, int64_t n, nn_tensor *v)
{
    int64_t shape[2] = {n, t->dl.ndim == 2 ? t->shape[1] : 1};
    memset(v, 0, sizeof *v);
    nn_tensor_describe(v, NN_F32, t->dl.ndim, shape);
    v->dl.data = NN_F32P(t) + r0 * shape[1];
}

/* [N, L, E] -> [N, H, L, d] (kt: [N, H, d, L], the keys ready for q k^T) */
static const char *heads(nn_export *g, const nn_seq_attn *a, const char *in, int64_t L, int kt)
{
    const char *split = nn_export_value(g, "split");
    nn_export_reshape(g, in, 3, (const int64_t[]){L, a->H, a->d}, split);
    static const int64_t keys[4] = {0, 2, 3, 1}, rest[4] = {0, 2, 1, 3};
    return transpose(g, split, 4, kt ? keys : rest, NULL);
}

int nn_seq_attn_export(const nn_seq_attn *a, const nn_layer_export *x, const char *hint,
                       const char *q, const char *kv, const char *pad, const char *y)
{
    nn_export *g = x->out;
    int64_t E = a->E, T = a->T, S = a->S;
    const nn_tensor *w = x->params[a->param[NN_ATTN_IN_W]];
    const nn_tensor *b = a->param[NN_ATTN_IN_B] >= 0 ? x->params[a->param[NN_ATTN_IN_B]] : NULL;
    const char *proj[3];
    static const char *const names[3] = {"q_proj", "k_proj", "v_proj"};
    for (int k = 0; k < 3; k++) { /* in_proj's three row blocks: q, k, v */
        nn_tensor wk, bk;
        rows_of(w, k * E, E, &wk);
        if (b)
            rows_of(b, k * E, E, &bk);
        char h[96];
        snprintf(h, sizeof h, "%s%s", hint, names[k]);
        proj[k] = nn_export_value(g, h);
        nn_export_linear(g, h, k == 0 || !kv ? q : kv, 3, &wk, b ? &bk : NULL, proj[k]);
    }
    float scale = (float)(1.0 / sqrt((double)a->d)); /* on q, as split_heads applies it */
    const char *qh = op2(g, "Mul", heads(g, a, proj[0], T, 0),
                         nn_export_const_f32(g, "scale", 0, NULL, &scale), "q_scaled");
    const char *scores = op2(g, "MatMul", qh, heads(g, a, proj[1], S, 1), "scores");
    if (a->cfg.causal) { /* query t sees keys s < end(t), as masked_softmax */
        float *m = malloc(sizeof *m * (size_t)(T * S));
        if (!m)
            return nn_export_fail(g, NN_ENOMEM, "out of memory");
        for (int64_t t = 0; t < T; t++)
            for (int64_t s = 0; s < S; s++)
                m[t * S + s] = s >= (t + 1 < S ? t + 1 : S) ? -INFINITY : 0.0f;
        scores = op2(g, "Add", scores, nn_export_const_f32(g, "causal", 2,
                                                           (const int64_t[]){T, S}, m),
                     "scores_causal");
        free(m);
    }
    const char *keep4 = NULL;
    if (pad) { /* padded keys: -1e30 before softmax, and 0 after (a row of padding only) */
        const char *keep = nn_seq_export_keep(g, &a->pad, pad);
        keep4 = op2(g, "Unsqueeze", keep,
                    nn_export_const_i64(g, "axes12", 1, (const int64_t[]){2},
                                        (const int64_t[]){1, 2}),
                    "keep"); /* [N, 1, 1, S] */
        const char *bias = op2(g, "Mul",
                               op2(g, "Sub", keep4, nn_export_const_f32(g, "one", 0, NULL,
                                                                        &(float){1.0f}),
                                   "minus_pad"),
                               nn_export_const_f32(g, "big", 0, NULL, &(float){1e30f}),
                               "pad_bias");
        scores = op2(g, "Add", scores, bias, "scores_masked");
    }
    const char *probs = nn_export_value(g, "weights");
    int node = nn_export_op1(g, "Softmax", scores, probs);
    if (node >= 0)
        nn_export_attr_int(g, node, "axis", -1);
    if (keep4)
        probs = op2(g, "Mul", probs, keep4, "weights_masked");
    const char *ctx = op2(g, "MatMul", probs, heads(g, a, proj[2], S, 0), "context");
    const char *merged = transpose(g, ctx, 4, (const int64_t[]){0, 2, 1, 3}, NULL);
    const char *flat = nn_export_value(g, "context_flat");
    nn_export_reshape(g, merged, 2, (const int64_t[]){T, E}, flat);
    char h[96];
    snprintf(h, sizeof h, "%sout_proj", hint);
    nn_export_linear(g, h, flat, 3, x->params[a->param[NN_ATTN_OUT_W]],
                     a->param[NN_ATTN_OUT_B] >= 0 ? x->params[a->param[NN_ATTN_OUT_B]] : NULL,
                     y);
    return nn_export_status(g, NULL);
}

/* ONNX's gate j is PyTorch's gate perm[j]: LSTM i,o,f,c <- i,f,g,o; GRU z,r,h <- r,z,n */
static const int lstm_gates[4] = {0, 3, 1, 2};
static const int gru_gates[3] = {1, 0, 2};

/* ONNX's W [D, G H, in], R [D, G H, H] and B [D, 2 G H] of stacked layer li */
static int rnn_weights(const nn_seq_rnn *r, const nn_layer_export *x, int li, const char **wrb)
{
    nn_export *g = x->out;
    int64_t G = r->G, H = r->H, D = r->D, in = r->l[li].in;
    const int *perm = r->cfg.cell == NN_RNN_LSTM ? lstm_gates : gru_gates;
    size_t nw = (size_t)(D * G * H * in), nr = (size_t)(D * G * H * H),
           nb = (size_t)(D * 2 * G * H);
    float *w = malloc(sizeof *w * (nw + nr + nb)), *rr = w + nw, *b = rr + nr;
    if (!w)
        return nn_export_fail(g, NN_ENOMEM, "out of memory");
    for (int64_t d = 0; d < D; d++) {
        const nn_tensor *const *p = x->params + r->l[li].param + 4 * d;
        for (int64_t j = 0; j < G; j++) {
            int64_t src = perm[j] * H;
            memcpy(w + (d * G * H + j * H) * in, NN_F32P(p[0]) + src * in,
                   sizeof *w * (size_t)(H * in));
            memcpy(rr + (d * G * H + j * H) * H, NN_F32P(p[1]) + src * H,
                   sizeof *w * (size_t)(H * H));
            memcpy(b + d * 2 * G * H + j * H, NN_F32P(p[2]) + src, sizeof *w * (size_t)H);
            memcpy(b + d * 2 * G * H + G * H + j * H, NN_F32P(p[3]) + src,
                   sizeof *w * (size_t)H);
        }
    }
    char name[32];
    snprintf(name, sizeof name, "W_l%d", li);
    wrb[0] = nn_export_const_f32(g, name, 3, (const int64_t[]){D, G * H, in}, w);
    snprintf(name, sizeof name, "R_l%d", li);
    wrb[1] = nn_export_const_f32(g, name, 3, (const int64_t[]){D, G * H, H}, rr);
    snprintf(name, sizeof name, "B_l%d", li);
    wrb[2] = nn_export_const_f32(g, name, 2, (const int64_t[]){D, 2 * G * H}, b);
    free(w);
    return nn_export_status(g, NULL);
}

int nn_seq_rnn_layer_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const nn_seq_rnn *r = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    int lstm = r->cfg.cell == NN_RNN_LSTM;
    int64_t DH = r->D * r->H;
    static const int64_t swap01[3] = {1, 0, 2}, tdnh_tndh[4] = {0, 2, 1, 3};
    /* ONNX Runtime runs time-major recurrences only: [N, T, C] -> [T, N, C] */
    const char *cur = transpose(g, x->inputs[0], 3, swap01, NULL);
    for (int li = 0; li < r->cfg.layers; li++) {
        const char *in[4] = {cur, NULL, NULL, NULL}, *y = nn_export_value(g, "Y");
        rnn_weights(r, x, li, in + 1);
        int node = nn_export_node(g, lstm ? "LSTM" : "GRU", 4, in, 1, &y);
        if (node >= 0) {
            nn_export_attr_int(g, node, "hidden_size", r->H);
            nn_export_attr_string(g, node, "direction", r->D == 2 ? "bidirectional" : "forward");
            if (!lstm) /* PyTorch's GRU: the reset gate multiplies (W_hn h + b_hn) */
                nn_export_attr_int(g, node, "linear_before_reset", 1);
        }
        /* Y [T, D, N, H] -> [T, N, D H]: the directions side by side, as PyTorch */
        const char *tndh = transpose(g, y, 4, tdnh_tndh, NULL);
        cur = op2(g, "Reshape", tndh,
                  nn_export_const_i64(g, "tn_dh", 1, (const int64_t[]){3},
                                      (const int64_t[]){0, 0, DH}),
                  "sequence");
    }
    if (r->cfg.return_sequences) {
        transpose(g, cur, 3, swap01, x->output);
    } else { /* output[:, -1, :] */
        int64_t last = r->T - 1;
        int node = nn_export_op2(g, "Gather", cur, nn_export_const_i64(g, "last", 0, NULL, &last),
                                 x->output);
        if (node >= 0)
            nn_export_attr_int(g, node, "axis", 0);
    }
    return nn_export_status(g, err);
}
