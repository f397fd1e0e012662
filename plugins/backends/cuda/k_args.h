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

/* An error a kernel found in its data (a class id or token id out of range), written into
 * mapped host memory by the first kernel that finds one and read after the next
 * synchronisation (cu_check_async). */
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

#ifdef __cplusplus
}
#endif
#endif
