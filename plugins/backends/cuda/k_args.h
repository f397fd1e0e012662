/* k_args.h: the one by-value argument of every kernel of the CUDA pack, shared by the C side
 * (which fills it and hands it to cu_issue as the call's payload) and the .cu files (which
 * take it as their parameter). Plain C with fixed-width types only, so gcc and nvcc lay each
 * struct out alike; the kernels' host addresses come from the k_*_fn() tables. */
#ifndef NN_K_ARGS_H
#define NN_K_ARGS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define K_BLOCK 256 /* threads per block of the grid-stride kernels */
#define K_REDUCE 256 /* threads per block of the block reductions */

/* An error a kernel found in its data (a class id or token id out of range), claimed by the
 * first kernel that finds one (in device memory) and copied to the host with every
 * synchronisation of the stream (cu_sync, cu_check_async). */
typedef struct k_err {
    int32_t set;   /* 0, then 1 once claimed */
    int32_t site;  /* who: an index into the device's table of site names */
    int32_t code;  /* K_ERR_* */
    int32_t value; /* the offending id */
    int64_t index; /* the sample or token position */
    int64_t limit; /* the valid range is [0, limit) */
    int64_t aux;   /* K_ERR_TOKEN: ids per batch row, to name row and position */
} k_err;

enum { K_ERR_CLASS = 1, K_ERR_TOKEN = 2 };

/* ---- the core's device math (k_ops.cu) ------------------------------------------------ */

enum { K_VEC_ADD = 0, K_VEC_SCALE, K_VEC_CLAMP, K_VEC_COPY };

typedef struct k_vec {
    float *y;
    const float *x;
    int64_t n;
    float s, lo, hi;
    int32_t op; /* K_VEC_*: y += x; y *= s; y = clamp(y, lo, hi); y = x */
} k_vec;

typedef struct k_norm {
    const float *x;
    int64_t n;
    double *partial; /* one per block of the first kernel */
    double *acc;     /* the caller's device double */
    int32_t inf;     /* 0: sum of squares; 1: max |x|, NaN sticky */
    int32_t blocks;  /* blocks of the first kernel */
} k_norm;

typedef struct k_nonfinite {
    const float *x;
    int64_t n;
    unsigned long long *first; /* set to all ones before; the lowest bad index after */
} k_nonfinite;

typedef struct k_count {
    const float *pred;
    const void *target; /* I32 [N] or F32 [N, C] */
    int64_t rows, classes;
    int32_t soft, top_k;
    double *out;
} k_count;

enum { K_OPS_VEC = 0, K_OPS_NORM_PARTIAL, K_OPS_NORM_FINAL, K_OPS_NONFINITE, K_OPS_COUNT,
       K_OPS_N };
const void *k_ops_fn(int which);

/* ---- elementwise layers and the pieces of dense/conv (k_eltwise.cu) ------------------- */

enum { K_ACT_NONE = 0, K_ACT_RELU, K_ACT_TANH, K_ACT_SIGMOID, K_ACT_GELU, K_ACT_GELU_TANH,
       K_ACT_LEAKY, K_ACT_ELU };

/* forward: v = x + bias[(i / inner) % channels] (bias may be NULL), z = v when z is not NULL,
 * out = act(v). backward: out = dLoss/dx from g, the input x (or pre-activation) and the
 * output y, with each CPU plugin's formula. */
typedef struct k_act {
    const float *x, *y, *g, *bias;
    float *out, *z;
    int64_t n, inner, channels;
    float alpha; /* leaky_relu's slope, elu's alpha */
    int32_t act, backward;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_act;

#define K_MAX_IN 8

/* add: y = x[0] + x[1] + ... (forward); gx[k] = g for every gx[k] not NULL (backward);
 * mul: y = x[0] * x[1] */
enum { K_MULTI_SUM = 0, K_MULTI_FANOUT, K_MULTI_MUL };
typedef struct k_multi {
    const float *x[K_MAX_IN];
    float *out[K_MAX_IN];
    int64_t n;
    int32_t n_in, op;
} k_multi;

/* concat along one axis: the output seen as [outer, out_chunk], input k as [outer, chunk[k]] */
typedef struct k_concat {
    const float *x[K_MAX_IN]; /* forward: the inputs; backward: x[0] is the output gradient */
    float *out[K_MAX_IN];     /* forward: out[0]; backward: the input gradients (NULL: skip) */
    int64_t chunk[K_MAX_IN];
    int64_t outer, out_chunk;
    int32_t n_in, backward;
} k_concat;

/* softmax along len of [outer, len, inner], one thread per (outer, inner) slice */
typedef struct k_softmax {
    const float *x, *y, *g;
    float *out;
    int64_t outer, len, inner;
    int32_t backward;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_softmax;

/* zero padding into a larger plane ([planes, h, w] -> [planes, hp, wp] at (top, left)), or
 * the crop back (backward) */
typedef struct k_pad {
    const float *src;
    float *dst;
    int64_t planes, h, w, hp, wp, top, left;
    int32_t crop;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_pad;

/* out[c] = sum over n and i of x[(n * channels + c) * inner + i] (bias gradients) */
typedef struct k_chansum {
    const float *x;
    float *out;
    int64_t n, channels, inner;
} k_chansum;

enum { K_ELT_ACT = 0, K_ELT_MULTI, K_ELT_CONCAT, K_ELT_SOFTMAX, K_ELT_PAD, K_ELT_CHANSUM,
       K_ELT_N };
const void *k_eltwise_fn(int which);

/* ---- dropout and embedding (k_misc.cu) ------------------------------------------------ */

/* one thread per batch row draws the CPU plugin's mask from nn_rng(seed, stream, row, 0) */
typedef struct k_dropout {
    const float *x;
    float *y, *mask;
    int64_t rows, per;
    uint64_t seed, stream, threshold;
    float scale;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_dropout;

typedef struct k_embed {
    const int32_t *ids;
    const float *w, *g;
    float *y, *gw;
    int64_t tokens, dim, num, padding, per_row;
    k_err *err;
    int32_t site, backward;
} k_embed;

enum { K_MISC_DROPOUT = 0, K_MISC_EMBED, K_MISC_N };
const void *k_misc_fn(int which);
/* the same mask on the host, with the kernel's code (for tests without a GPU) */
void k_dropout_host(const k_dropout *a, float *mask);

/* ---- pooling (k_pool.cu) ------------------------------------------------------------- */

enum { K_POOL_MAX = 0, K_POOL_AVG };
typedef struct k_pool {
    const float *x, *g;
    float *y, *gx;
    int32_t *arg; /* max: the input index (h * w + w) each output took, -1 if none */
    int64_t planes, h, w, oh, ow;
    int32_t kh, kw, sh, sw, ph, pw;
    int32_t mode, include_pad, backward;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_pool;

typedef struct k_gap {
    const float *x, *g;
    float *y, *gx;
    int64_t planes, hw;
    int32_t backward;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_gap;

enum { K_POOL_FWD = 0, K_POOL_BWD, K_POOL_GLOBAL, K_POOL_N };
const void *k_pool_fn(int which);

/* ---- normalisation (k_norm.cu) -------------------------------------------------------- */

/* batchnorm, one block per channel over [n, channels, inner] */
enum { K_BN_TRAIN = 0, K_BN_EVAL, K_BN_BACKWARD };
typedef struct k_bn {
    const float *x, *w, *b, *g;
    float *y, *mean, *var, *rmean, *rvar, *gx, *gw, *gb;
    int64_t n, channels, inner;
    float eps, momentum, keep, unbias;
    int32_t mode;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_bn;

/* layernorm over the last dim d of [rows, d]: one block per row (forward, dx), and one thread
 * per column for the parameter gradients */
enum { K_LN_FORWARD = 0, K_LN_BACKWARD, K_LN_PARAM_GRAD };
typedef struct k_ln {
    const float *x, *w, *b, *g;
    float *y, *mean, *var, *gx, *gw, *gb;
    int64_t rows, d;
    float eps;
    int32_t mode, training;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_ln;

enum { K_NORM_BN = 0, K_NORM_LN, K_NORM_N };
const void *k_norm_fn(int which);

/* ---- losses (k_loss.cu) --------------------------------------------------------------- */

/* class losses over [rows, classes] logits or log-probabilities and I32 targets; per-row
 * results go to ws: lse[rows], wy[rows], loss[rows], state[rows] (0 counted, 1 ignored,
 * 2 a bad class id), then ws[4 rows] = the scale the gradient uses */
#define K_CLASS_WS(rows) (4 * (rows) + 1)
enum { K_LOSS_CE = 0, K_LOSS_NLL };
typedef struct k_class_loss {
    const float *x;
    const int32_t *y;
    const double *weight; /* NULL: unweighted */
    float *grad;          /* NULL: no gradient */
    float *loss_out;
    double *ws;
    k_err *err;
    int64_t rows, classes, ignore;
    double smoothing, weight_sum;
    int32_t kind, sum, site;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_class_loss;

/* elementwise losses between predictions and targets of one shape: partial sums in
 * partial[blocks], then one block writes loss_out */
enum { K_LOSS_MSE = 0, K_LOSS_L1, K_LOSS_HUBER, K_LOSS_BCE };
typedef struct k_elem_loss {
    const float *p, *t;
    const double *pos_weight; /* bce: NULL, 1 value or one per class */
    float *grad, *loss_out;
    double *partial;
    int64_t n, classes;
    double scale, delta;
    int32_t kind, n_pos, blocks;
    int32_t pad_; /* no tail padding: payloads are compared byte by byte */
} k_elem_loss;

enum { K_LOSS_CLASS_ROWS = 0, K_LOSS_CLASS_REDUCE, K_LOSS_CLASS_GRAD, K_LOSS_ELEM,
       K_LOSS_ELEM_REDUCE, K_LOSS_N };
const void *k_loss_fn(int which);

/* ---- optimizers (k_optim.cu) ---------------------------------------------------------- */

/* one parameter of a multi-tensor step; the table lives in device memory */
typedef struct k_opt_param {
    float *w;
    const float *g;
    float *s[3];
    int64_t n;
    int64_t block0;   /* the first block of the grid that works on it */
    double lr_mult, wd_mult;
    float wd;         /* (float)(weight_decay * wd_mult), as the CPU plugins compute it */
    float pad_;
} k_opt_param;

enum { K_OPT_SGD = 0, K_OPT_ADAM, K_OPT_ADAMW, K_OPT_RMSPROP, K_OPT_ADAGRAD };
#define K_OPT_PER_BLOCK 1024 /* elements a block updates */
typedef struct k_optim {
    const k_opt_param *params;
    int32_t n_params, kind;
    double lr;          /* the step's rate, before each parameter's lr_mult */
    double bc1;         /* adam(w): 1 - beta1^t */
    double weight_decay; /* adamw: the decoupled decay before wd_mult */
    double lr_div;      /* adagrad: 1 + (t - 1) * lr_decay */
    float b1, c1, b2, c2, eps, mu, damp1, inv_bc2_sqrt, base;
    int32_t momentum, nesterov, first, amsgrad, centered;
} k_optim;

const void *k_optim_fn(void);
/* the kernel's updates run on the host over a host table (tests) */
void k_optim_host(const k_optim *a);

#ifdef __cplusplus
}
#endif
#endif
