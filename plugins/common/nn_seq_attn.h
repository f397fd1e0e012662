/* nn_seq_attn.h: multi-head scaled dot-product attention with PyTorch's
 * nn.MultiheadAttention(batch_first=True) parameters (in_proj_weight [3E, E], in_proj_bias,
 * out_proj.weight, out_proj.bias), shared by the multihead_attention and
 * transformer_encoder_layer plugins. Projections and the two batched products run on oneDNN
 * (inner product, matmul); head split/merge, masking, softmax and dropout are plain C.
 * Everything is built in bind; forward and backward never allocate. */
#ifndef NN_SEQ_ATTN_H
#define NN_SEQ_ATTN_H

#include "nn_seq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_seq_attn_cfg {
    int64_t heads;
    int bias;       /* in_proj_bias and out_proj.bias */
    int causal;     /* query t attends to keys s <= t only */
    double dropout; /* on the attention probabilities, training forwards only */
    int64_t pad_id; /* for a padding input of token ids */
} nn_seq_attn_cfg;

enum { NN_ATTN_IN_W = 0, NN_ATTN_IN_B, NN_ATTN_OUT_W, NN_ATTN_OUT_B };

/* views into params, gradients and the arena, re-synced before every call */
enum {
    NN_AV_WQ, NN_AV_WKV, NN_AV_BQ, NN_AV_BKV, NN_AV_DWQ, NN_AV_DWKV, NN_AV_DBQ, NN_AV_DBKV,
    NN_AV_QKV, NN_AV_KVP, NN_AV_QH, NN_AV_KH, NN_AV_VH, NN_AV_P, NN_AV_PD, NN_AV_CTXH,
    NN_AV_CTX, NN_AV_DCTX, NN_AV_DCTXH, NN_AV_DP, NN_AV_PDB, NN_AV_DQH, NN_AV_DKH, NN_AV_DVH,
    NN_AV_DQKV, NN_AV_DKVP, NN_AV_COUNT
};

typedef struct nn_seq_attn {
    nn_seq_attn_cfg cfg;
    const char *name;
    int64_t N, T, S, E, H, d;
    int self;          /* keys/values are the query input: one [3E, E] projection */
    nn_seq_pad pad;    /* kind NONE without a padding input */
    int param[4];      /* NN_ATTN_* -> parameter index (-1: no bias) */
    uint64_t stream;   /* dropout stream of this attention */
    nn_seq_region r_qkv, r_kvp, r_qh, r_kh, r_vh, r_p, r_pd, r_ctxh, r_ctx;
    nn_seq_region r_dctx, r_dctxh, r_dp, r_pdb, r_dqh, r_dkh, r_dvh, r_dqkv, r_dkvp;
    nn_seq_view v[NN_AV_COUNT];
    nn_seq_lin in_q, in_kv, out; /* in_q is the whole [3E, E] projection when self */
    nn_dnnl_op scores, ctx, b_dpd, b_dv, b_dq, b_dk;
    int has_backward;
} nn_seq_attn;

/* Checks x [N, T, E] (and kv [N, S, E], pad per nn_seq_pad_setup), declares the parameters
 * named prefix + PyTorch's names and reserves the arena regions. kv NULL = self attention.
 * Adds the forward FLOPs to s->flops. */
int nn_seq_attn_setup(nn_seq_attn *a, const nn_seq_attn_cfg *cfg, nn_layer_setup *s,
                      const char *prefix, const nn_tensor *x, const nn_tensor *kv,
                      const nn_tensor *pad, nn_seq_arena *ar, nn_error *err);

/* Binds to io's parameters and arena, x/kv (kv NULL for self), the output [N, T, E], and for
 * training plans dout and the input gradients dx, dkv (either may be NULL: not wanted). */
int nn_seq_attn_bind(nn_seq_attn *a, const nn_layer_io *io, const nn_seq_arena *ar,
                     const nn_tensor *x, const nn_tensor *kv, const nn_tensor *out,
                     const nn_tensor *dout, const nn_tensor *dx, const nn_tensor *dkv,
                     nn_error *err);

/* train = 1 applies dropout (io->seed); pad is the padding input or NULL */
int nn_seq_attn_forward(nn_seq_attn *a, const nn_layer_io *io, const nn_tensor *pad, int train,
                        nn_error *err);
/* After a training forward of the same step: parameter gradients, and dx/dkv when bound */
int nn_seq_attn_backward(nn_seq_attn *a, const nn_layer_io *io, nn_error *err);
void nn_seq_attn_destroy(nn_seq_attn *a);

#ifdef __cplusplus
}
#endif
#endif
