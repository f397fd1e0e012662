/* cu_gemm.h: row-major matrix products on cuBLASLt for the CUDA pack's dense layer: a plan
 * per product (descriptors, layouts, an algorithm from the heuristic, cached per shape in the
 * device's algorithm cache) with an optional fused epilogue (bias, bias + relu, or the bias
 * gradient), run as a deferred library call so it joins the step's graph. */
#ifndef NN_CU_GEMM_H
#define NN_CU_GEMM_H

#include "cu_lib.h"

typedef struct cu_mm {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    size_t ws;
    int epilogue; /* the cublasLtEpilogue_t it runs with */
    int ready;
} cu_mm;

/* Plans C[M, N] = op(A) op(B), row-major: A is [M, K] (stored [K, M] when ta), B is [K, N]
 * (stored [N, K] when tb). epilogue: CUBLASLT_EPILOGUE_DEFAULT, _BIAS, _RELU or _RELU_BIAS
 * (bias has N values, added to every row of C), or _BGRADB (bias receives the M row sums of
 * op(A) over K). NN_ENOTSUP when cuBLASLt has no algorithm for the epilogue (plan again
 * without it). */
int cu_mm_plan(cu_dev *d, cu_mm *mm, const char *who, int64_t M, int64_t N, int64_t K, int ta,
               int tb, int epilogue, void *bias, nn_error *err);
/* C = op(A) op(B) (+ the epilogue), deferred onto the stream */
int cu_mm_run(cu_dev *d, const cu_mm *mm, const char *who, const float *A, const float *B,
              float *C, nn_error *err);
void cu_mm_free(cu_dev *d, cu_mm *mm);

#endif
