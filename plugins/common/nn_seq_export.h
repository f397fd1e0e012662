/* nn_seq_export.h: ONNX export of what libnn_seq.a's layers share: the padding input as a
 * mask, multi-head attention as a MatMul/Softmax subgraph, and stacked (bidirectional)
 * LSTM/GRU as ONNX's LSTM and GRU operators with PyTorch's gates reordered. Part of
 * libnn_seq.a; it only writes nodes through <nntrain/export.h>. */
#ifndef NN_SEQ_EXPORT_H
#define NN_SEQ_EXPORT_H

#include <nntrain/export.h>

#include "nn_seq_attn.h"
#include "nn_seq_rnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An F32 [N, S] value, 1 at real positions and 0 at padded ones, from the padding input
 * `pad` as p describes it (token ids, an F32 mask, lengths). returns its name or NULL. */
const char *nn_seq_export_keep(nn_export *g, const nn_seq_pad *p, const char *pad);

/* y = attention(q, kv) as nn_seq_attn_forward computes it in evaluation: projections, heads,
 * scaled scores, the causal and padding masks (a query without any key gets zeros), softmax,
 * context, out_proj. kv NULL = self attention; pad NULL = no padding input. The parameters
 * are x->params at the indices a->param holds. */
int nn_seq_attn_export(const nn_seq_attn *a, const nn_layer_export *x, const char *hint,
                       const char *q, const char *kv, const char *pad, const char *y);

/* the export slot of lstm and gru (self is their nn_seq_rnn) */
int nn_seq_rnn_layer_export(void *self, const nn_layer_export *x, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
