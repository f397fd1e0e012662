/* nn_seq_rnn.h: stacked, optionally bidirectional LSTM and GRU layers on oneDNN's RNN
 * primitives with PyTorch's parameters (weight_ih_l0 [G*H, C], weight_hh_l0 [G*H, H],
 * bias_ih_l0, bias_hh_l0, ..._reverse; gates i,f,g,o for LSTM and r,z,n for GRU), shared by
 * the lstm and gru plugins. GRU runs oneDNN's lbr_gru, which is PyTorch's formulation.
 * One primitive per layer (oneDNN stacks only layers of equal width), batch-first [N, T, C]
 * data (oneDNN's ntc layout), zero initial states. Every step converts the parameters into
 * oneDNN's layouts (O(parameters) copies: gate order, the two biases summed) and the weight
 * gradients back. Built in setup/bind; forward and backward never allocate. */
#ifndef NN_SEQ_RNN_H
#define NN_SEQ_RNN_H

#include "nn_seq.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { NN_RNN_LSTM = 0, NN_RNN_GRU };

#define NN_RNN_MAX_LAYERS 16

typedef struct nn_seq_rnn_cfg {
    int cell;              /* NN_RNN_* */
    int64_t hidden;        /* H */
    int64_t layers;        /* stacked layers */
    int bidirectional;
    int return_sequences;  /* 1: [N, T, D*H]; 0: the last step's output [N, D*H] */
    double dropout;        /* between stacked layers, training only (PyTorch's dropout) */
} nn_seq_rnn_cfg;

/* the arena regions and primitives of one stacked layer */
typedef struct nn_rnn_layer {
    int64_t in; /* input width: C for layer 0, D*H above */
    int param;  /* index of weight_ih_l{l} (direction 0); 4 parameters per direction */
    nn_seq_region dst, drop, ws, wl, wi, b, bwl, bwi, bb, dwl, dwi, db, gdst, dsrc;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    nn_dnnl_op fwd, bwd;
} nn_rnn_layer;

/* per layer: the views its primitives are bound to */
enum { NN_RV_DST, NN_RV_DROP, NN_RV_WS, NN_RV_WL, NN_RV_WI, NN_RV_B, NN_RV_BWL, NN_RV_BWI,
       NN_RV_BB, NN_RV_DWL, NN_RV_DWI, NN_RV_DB, NN_RV_GDST, NN_RV_DSRC, NN_RV_COUNT };

typedef struct nn_seq_rnn {
    nn_seq_rnn_cfg cfg;
    const char *name;
    int64_t N, T, C, H, D, G, GB; /* G gates, GB bias gates (lbr_gru: 4) */
    int training;
    uint64_t stream;
    nn_seq_arena ar;
    nn_rnn_layer l[NN_RNN_MAX_LAYERS];
    nn_seq_view v[NN_RNN_MAX_LAYERS][NN_RV_COUNT];
    nn_seq_region r_gout; /* return_sequences = 0: the last layer's output gradient */
    nn_seq_view v_gout;
    int has_backward;
} nn_seq_rnn;

/* Checks x [N, T, C], declares the parameters and buffers, builds the primitive descriptors
 * (their workspace sizes are needed now), sets the output. */
int nn_seq_rnn_setup(nn_seq_rnn *r, const nn_seq_rnn_cfg *cfg, nn_layer_setup *s,
                     nn_error *err);
int nn_seq_rnn_bind(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err);
int nn_seq_rnn_forward(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err);
int nn_seq_rnn_backward(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err);
void nn_seq_rnn_destroy(nn_seq_rnn *r);

#ifdef __cplusplus
}
#endif
#endif
