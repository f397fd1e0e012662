/* cu_lib.h: the two libraries the CUDA pack's products run on. cuDNN is linked (its libcudnn
 * is a small loader); cuBLASLt (half a gigabyte) is opened with dlopen the first time a dense
 * layer binds, so that loading the pack (every registry scan does) stays cheap and a missing
 * cuBLASLt is a sentence at bind time rather than a pack that fails to load. */
#ifndef NN_CU_LIB_H
#define NN_CU_LIB_H

#include <cublasLt.h>
#include <cudnn.h>

#include "cu_pack.h"

/* the cuBLASLt entry points the pack uses */
#define CU_LT_FUNCS(X)                                                                   \
    X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtGetVersion) X(cublasLtGetStatusName)   \
    X(cublasLtGetStatusString) X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy)   \
    X(cublasLtMatmulDescSetAttribute) X(cublasLtMatrixLayoutCreate)                       \
    X(cublasLtMatrixLayoutDestroy) X(cublasLtMatmulPreferenceCreate)                      \
    X(cublasLtMatmulPreferenceDestroy) X(cublasLtMatmulPreferenceSetAttribute)            \
    X(cublasLtMatmulAlgoGetHeuristic) X(cublasLtMatmul)

struct cu_lt {
    void *so;
    char path[256];
    cublasLtHandle_t handle;
#define CU_LT_MEMBER(f) __typeof__(&f) f;
    CU_LT_FUNCS(CU_LT_MEMBER)
#undef CU_LT_MEMBER
};

/* cuDNN's handle for d, made (and bound to d's stream) on first use; NULL with err */
cudnnHandle_t cu_cudnn(cu_dev *d, nn_error *err);
/* cuBLASLt for d, loaded and its handle made on first use; NULL with err naming the file */
cu_lt *cu_lt_get(cu_dev *d, nn_error *err);
/* the status sentence of a failed library call, as cu_fail */
int cu_cudnn_fail(nn_error *err, cudnnStatus_t st, const char *who, const char *what);
int cu_lt_fail(const cu_lt *lt, nn_error *err, cublasStatus_t st, const char *who,
               const char *what);
/* "cuDNN 9.19.0, cuBLASLt 13.0.2" (what is loaded, or why not) */
void cu_lib_versions(cu_dev *d, char *buf, size_t cap);
/* destroys the handles and closes cuBLASLt (at device close) */
void cu_lib_close(cu_dev *d);

#endif
