/* nn_seq.h: what the sequence and attention layer plugins share (static library libnn_seq.a):
 * one SAVED and one WORKSPACE buffer carved into regions, tensor views into them, the padding
 * input, dropout masks drawn from the step seed, row layer norm, oneDNN linear / batched
 * matmul / eltwise ops bound to views, and multi-head attention (nn_seq_attn.h).
 * Nothing here allocates after bind. */
#ifndef NN_SEQ_H
#define NN_SEQ_H

#include <stdint.h>

#include <nntrain/layer.h>
#include <nntrain/status.h>
#include <nntrain/tensor.h>

#include "nn_dnnl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena: one SAVED and one WORKSPACE F32 buffer per layer, carved into regions ------- */

/* Where a region lives. KEEP regions are written by a training forward and read by backward
 * (SAVED in training plans; in eval plans they fall back to forward scratch). FWD and BWD
 * regions are scratch of one call: the two phases share the same bytes. */
enum { NN_SEQ_KEEP = 0, NN_SEQ_FWD, NN_SEQ_BWD };

typedef struct nn_seq_region {
    int saved;   /* 1: in the SAVED buffer, 0: in the WORKSPACE buffer */
    int64_t off; /* in floats, a multiple of 16 (64 bytes) */
    int64_t n;   /* floats */
} nn_seq_region;

typedef struct nn_seq_arena {
    int training;
    int64_t saved, fwd, bwd; /* floats taken so far in each */
    int buf_saved, buf_work; /* buffer indices after nn_seq_arena_declare, -1 when empty */
} nn_seq_arena;

/* Starts an arena for a plan (training = s->training). */
void nn_seq_arena_init(nn_seq_arena *a, int training);
/* Reserves n floats in phase (NN_SEQ_KEEP/FWD/BWD). */
nn_seq_region nn_seq_take(nn_seq_arena *a, int phase, int64_t n);
/* Declares the buffers "saved" (SAVED) and "work" (WORKSPACE) that hold the regions. */
int nn_seq_arena_declare(nn_seq_arena *a, nn_layer_setup *s, nn_error *err);
/* The first float of region r in io's buffers, or NULL when the plan has no such buffer
 * (a KEEP region asked for in backward of an eval plan). */
float *nn_seq_at(const nn_seq_arena *a, const nn_layer_io *io, nn_seq_region r);

/* ---- views: an nn_tensor over part of another, for binding oneDNN ops to regions ------ */

typedef struct nn_seq_view {
    nn_tensor t;
    const nn_tensor *base;
    int64_t off; /* floats into base */
} nn_seq_view;

/* v covers n floats of base from float offset off (a 1-d F32 tensor) */
void nn_seq_view_set(nn_seq_view *v, const nn_tensor *base, int64_t off, int64_t n);
/* v covers region r of the arena's buffers in io; returns NN_OK or NN_EINTERNAL */
int nn_seq_view_region(nn_seq_view *v, const nn_seq_arena *a, const nn_layer_io *io,
                       nn_seq_region r, const char *layer, nn_error *err);
/* re-reads the base tensors' data pointers (a plan may move data between calls) */
void nn_seq_views_sync(nn_seq_view *v, int n);

/* ---- the padding input ---------------------------------------------------------------- */

/* How an optional input marks padded positions of a [N, S] sequence:
 *   [N, S] I32/I64 token ids: position s is padding when its id equals pad_id;
 *   [N, S] F32 mask: padding where the value is not 0 (PyTorch's key_padding_mask, True =
 *   ignore);
 *   [N] I32/I64/F32 lengths: positions s >= length are padding. */
enum { NN_SEQ_PAD_NONE = 0, NN_SEQ_PAD_IDS, NN_SEQ_PAD_MASK, NN_SEQ_PAD_LENGTHS };

typedef struct nn_seq_pad {
    int kind;
    int dtype;
    int64_t pad_id;
    int64_t S; /* positions per sample */
} nn_seq_pad;

#define NN_SEQ_PAD_DOC                                                                       \
    "the optional padding input is [N, S] token ids (I32/I64; padding where id == pad_id, "  \
    "e.g. the text dataset's ids wired with `inputs = ..., input`), an [N, S] F32 mask "       \
    "(padding where not 0, as PyTorch's key_padding_mask) or [N] lengths (padding from "      \
    "position length on)"

/* Checks that t can mark padding of N samples of S positions; fills p. */
int nn_seq_pad_setup(nn_seq_pad *p, const nn_tensor *t, int64_t N, int64_t S, int64_t pad_id,
                     const char *layer, nn_error *err);

/* 1 when position s of sample n is padding (p->kind NONE: never) */
static inline int nn_seq_pad_at(const nn_seq_pad *p, const nn_tensor *t, int64_t n, int64_t s)
{
    switch (p->kind) {
    case NN_SEQ_PAD_IDS:
        return p->dtype == NN_I32 ? NN_I32P(t)[n * p->S + s] == p->pad_id
                                  : NN_I64P(t)[n * p->S + s] == p->pad_id;
    case NN_SEQ_PAD_MASK: return NN_F32P(t)[n * p->S + s] != 0.0f;
    case NN_SEQ_PAD_LENGTHS: {
        double len = p->dtype == NN_I32   ? (double)NN_I32P(t)[n]
                     : p->dtype == NN_I64 ? (double)NN_I64P(t)[n]
                                          : (double)NN_F32P(t)[n];
        return (double)s >= len;
    }
    default: return 0;
    }
}

/* ---- dropout from the step seed ------------------------------------------------------- */

/* y = x * m over rows of `per` floats, m = 0 with probability p, else 1 / (1 - p); row r's
 * mask is a pure function of (seed, stream, r), so calling it again with the same arguments
 * applies the same mask: backward calls it on the gradient instead of storing the mask.
 * y may alias x. p == 0 copies (when y != x). */
void nn_seq_dropout(float *y, const float *x, int64_t rows, int64_t per, double p,
                    uint64_t seed, uint64_t stream);

/* FNV-1a of a string, for per-layer dropout streams */
uint64_t nn_seq_hash(const char *s);

/* ---- row layer norm (plain C, as PyTorch's LayerNorm over the last dim) --------------- */

/* y = (x - mean) * rstd * g + b per row of D; saves mean and rstd per row (may be NULL in
 * inference). g/b NULL: no affine. */
void nn_seq_ln_forward(const float *x, float *y, const float *g, const float *b, float *mean,
                       float *rstd, int64_t rows, int64_t D, double eps);
/* dx (overwritten; NULL = skip), dg/db (overwritten: sums over rows; NULL = skip) */
void nn_seq_ln_backward(const float *x, const float *dy, const float *g, const float *mean,
                        const float *rstd, float *dx, float *dg, float *db, int64_t rows,
                        int64_t D);

/* ---- oneDNN ops bound to (views of) tensors ------------------------------------------- */

/* y[M, OC] = x[M, IC] w[OC, IC]^T (+ b[OC]), as PyTorch's Linear, on inner product
 * primitives. Backward: dx = dy w (when dx was bound), dw = dy^T x, db = sum_rows dy. */
typedef struct nn_seq_lin {
    dnnl_primitive_desc_t fwd_pd, bd_pd, bw_pd;
    nn_dnnl_op fwd, bd, bw;
} nn_seq_lin;

/* Builds the forward op, and the backward ones when dy is given (dx may be NULL: no
 * backward-data; dw/db are then required, db only with b). */
int nn_seq_lin_bind(nn_seq_lin *l, int training, int64_t M, int64_t IC, int64_t OC,
                    const nn_tensor *x, const nn_tensor *w, const nn_tensor *b,
                    const nn_tensor *y, const nn_tensor *dy, const nn_tensor *dx,
                    const nn_tensor *dw, const nn_tensor *db, const char *layer, nn_error *err);
int nn_seq_lin_forward(nn_seq_lin *l, const char *layer, nn_error *err);
/* runs backward-data when bound and want_dx, then backward-weights */
int nn_seq_lin_backward(nn_seq_lin *l, int want_dx, const char *layer, nn_error *err);
void nn_seq_lin_destroy(nn_seq_lin *l);

/* c[B, M, N] = alpha * op(a) op(b) on a oneDNN matmul: a is stored [B, M, K] ([B, K, M] when
 * ta), b [B, K, N] ([B, N, K] when tb), or with one batch (bb = 0) shared by all B. c is
 * contiguous. accumulate: c += instead of c = (a sum post-op). */
int nn_seq_bmm_bind(nn_dnnl_op *op, int64_t B, int64_t M, int64_t K, int64_t N,
                    const nn_tensor *a, int ta, const nn_tensor *b, int tb, int bb,
                    const nn_tensor *c, float alpha, int accumulate, const char *layer,
                    nn_error *err);

/* An elementwise activation (NN_ACT_* of nn_dnnl.h, not none) over n floats:
 * forward y = f(x); backward dx = f'(x) dy (x is the forward's input). */
typedef struct nn_seq_act {
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op fwd, bwd;
} nn_seq_act;

int nn_seq_act_bind(nn_seq_act *a, int kind, int training, int64_t n, const nn_tensor *x,
                    const nn_tensor *y, const nn_tensor *dy, const nn_tensor *dx,
                    const char *layer, nn_error *err);
void nn_seq_act_destroy(nn_seq_act *a);

#ifdef __cplusplus
}
#endif
#endif
