/* nn_dnnl_conv_internal.h: the state of libnn_dnnl's convolution, shared by nn_dnnl_conv.c
 * (keys, shapes, the choice of layouts and primitive descriptors in setup) and
 * nn_dnnl_conv_run.c (primitives bound in bind, forward, backward). Private to libnn_dnnl.
 *
 * Layouts. oneDNN 2.6's fast kernels want blocked layouts (nChw8c on AVX2, nChw16c on
 * AVX-512) that only oneDNN layers read. The forward primitive runs blocked ("jit") when
 * oneDNN has a kernel other than its reference one for it (`jit:...`, or `brgconv:...` on
 * nhwc, which it picks on AVX-512 and AMX for some shapes), else plain (gemm). Backward-weights runs in the forward's
 * layouts ("native") unless that is oneDNN's reference kernel: on AVX2-only CPUs a layer with
 * one input channel gets only `ref` there, measured 150x slower than the plain gemm kernel,
 * so it runs blocked on its own copy of the input, reordered during backward ("xr"), where
 * oneDNN has a jit kernel for that (AVX2: nChw8c, the channels zero-padded), else on plain f32
 * data (gemm), dLoss/dz reordered for it. The gemm kernel is faster on one free core but
 * joins its threads at a spinning barrier: on a shared 2-core host, a second thread that
 * loses its core made it 25x slower (311 ms against 13 ms, 1->32 5x5, 128x28x28), which the
 * jit kernel does not suffer. Backward-data likewise
 * (few input channels in blocked layout: `ref`). Where backward-weights would be xr or plain,
 * it is our own kernel instead ("own", nn_conv_bwdw_blk.c: the plain input and dLoss/dz in
 * the forward's blocked layout, AVX2) when the CPU and the shapes allow: 4-5x faster than
 * oneDNN's for one input channel. Where native backward-weights is oneDNN's AVX2 jit kernel
 * on nChw8c with unit stride, it is our own too (nn_conv_bwdw_nchwc.c, the same layouts):
 * 1.1x faster at one thread and 1.3x at two on the Fashion-MNIST CNN's second layer. The
 * input is taken in the layout its producer offers (tensor.h, nn_layout) when
 * backward-weights is native or reads the forward's layouts; the output is
 * offered in the forward's layout; both are reordered only where a tensor stays plain.
 *
 * Forward:  [x -> xb] [w -> wb] conv(xb|x, wb|w, b) -> then nn_dnnl_out: activation and
 *           the output's reorder where it stays plain;
 * Backward: nn_dnnl_out gives dLoss/dz in the forward's layout, dyp;
 *           weights: own(x, dyp) -> dw, db (plain x), or own(xb|x, dyp) -> dw, db, or
 *                    native bwd_w(xb|x, dyp) -> dw|scrB [scrB -> dw], or xr:
 *                    x -> scrA; bwd_w(scrA, dyp) -> dw|scrB [scrB -> dw], or plain:
 *                    [dyp -> scrA as plain f32] bwd_w(x, scrA|dyp) -> dw;
 *           data:    native [w -> scrA] bwd_d(dyp, wb|w|scrA) -> dx|scrB [scrB -> dx], or
 *                    plain: bwd_d(scrA|dyp as plain f32, w) -> dx|scrB [scrB -> dx]
 *                    (dyp -> scrA then runs after bwd_w unless bwd_w is plain too).
 * Under [train] precision = bf16 the activations and weight copies are bf16 and the
 * parameters, their gradients and every plain edge f32. */
#ifndef NN_DNNL_CONV_INTERNAL_H
#define NN_DNNL_CONV_INTERNAL_H

#include "nn_conv_bwdw_blk.h"
#include "nn_conv_bwdw_nchwc.h"
#include "nn_dnnl.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

/* nn_dnnl_conv.bwd_w_own: which of our backward-weights kernels replaces oneDNN's */
enum {
    OWN_NONE = 0,
    OWN_PLAIN_X,  /* nn_conv_bwdw_blk(): few input channels, the plain input */
    OWN_BLOCKED_X /* nn_conv_bwdw_nchwc(): the input in the forward's blocked layout */
};

/* buffers a convolution may declare, by role; the index in nn_layer_io.buffers is kept in
 * nn_dnnl_conv.buf[role], -1 when absent */
enum {
    CB_XB = 0, /* input in the forward's layout (SAVED when native backward-weights reads it) */
    CB_WB,     /* weights in the forward's layout (SAVED when backward-data reads them) */
    CB_SCRA,   /* dLoss/dz as plain f32, the weights as backward-data wants them, or (xr)
                  the input as backward-weights wants it */
    CB_SCRB,   /* dLoss/dw or dLoss/dx before their reorder */
    CB_PAD,    /* oneDNN's user-managed scratchpad */
    CB_COUNT
};

struct nn_dnnl_conv {
    nn_dnnl_conv_cfg c;
    const char *name;
    const char *kind; /* "conv1d" / "conv2d" for messages */
    int training;
    int need_dx;                /* the plan may ask for dLoss/dx (nn_layer_setup) */
    int64_t pad_l[2], pad_r[2]; /* resolved in setup (padding = same depends on the input) */
    dnnl_data_type_t dt;        /* activations and weight copies: f32, or bf16 */
    int jit;                    /* the forward runs blocked (else plain f32 gemm) */
    int bwd_w_plain, bwd_d_plain; /* those run on plain f32 data (see above) */
    int bwd_w_xr;                 /* bwd_w runs blocked on a reordered copy of the input */
    int bwd_w_own;                /* bwd_w is ours on bw_geom: OWN_PLAIN_X, OWN_BLOCKED_X */
    nn_conv_bwdw_geom bw_geom;
    int bwd_bound;                /* bind_backward has run */
    nn_dnnl_out out;            /* activation, output layout, dLoss/dz (nn_dnnl.h) */
    dnnl_memory_desc_t x_md;         /* the input as it crosses the ABI */
    dnnl_memory_desc_t xq_md, yq_md, w_md, b_md; /* plain f32: input, output, weights, bias */
    dnnl_memory_desc_t xp_md, wp_md, yp_md;       /* the forward primitive's */
    dnnl_memory_desc_t dwp_md, wd_md;             /* native bwd_w's dw, native bwd_d's w */
    dnnl_memory_desc_t xw_md;                     /* xr bwd_w's input */
    int buf[CB_COUNT];
    dnnl_primitive_desc_t fwd_pd, bwd_w_pd, bwd_d_pd;
    nn_dnnl_op r_x, r_w, fwd;                      /* forward */
    nn_dnnl_op r_xw, r_dyq, bwd_w, r_dw, r_wd, bwd_d, r_dx; /* backward */
};

#endif
