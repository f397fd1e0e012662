/* cu_lib.c: cuDNN's handle and cuBLASLt's loading (cu_lib.h). The handles are made on first
 * use on the device's thread and bound to its stream; nothing here runs per step. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_lib.h"

#ifndef NN_CU_LIBDIR
#define NN_CU_LIBDIR "/usr/local/cuda/lib64"
#endif
#define CU_STR2(x) #x
#define CU_STR(x) CU_STR2(x)
#define CU_LT_SONAME "libcublasLt.so." CU_STR(CUBLAS_VER_MAJOR)

int cu_cudnn_fail(nn_error *err, cudnnStatus_t st, const char *who, const char *what)
{
    char msg[256] = "";
    cudnnGetLastErrorString(msg, sizeof msg);
    return nn_error_set(err, st == CUDNN_STATUS_ALLOC_FAILED ? NN_ENOMEM
                             : st == CUDNN_STATUS_NOT_SUPPORTED ? NN_ENOTSUP
                                                                : NN_EINTERNAL,
                        "%s: %s failed: %s%s%s", who, what, cudnnGetErrorString(st),
                        msg[0] ? ": " : "", msg);
}

int cu_lt_fail(const cu_lt *lt, nn_error *err, cublasStatus_t st, const char *who,
               const char *what)
{
    return nn_error_set(err, st == CUBLAS_STATUS_ALLOC_FAILED ? NN_ENOMEM
                             : st == CUBLAS_STATUS_NOT_SUPPORTED ? NN_ENOTSUP
                                                                 : NN_EINTERNAL,
                        "%s: %s failed: %s (%s)", who, what, lt->cublasLtGetStatusName(st),
                        lt->cublasLtGetStatusString(st));
}

cudnnHandle_t cu_cudnn(cu_dev *d, nn_error *err)
{
    if (d->cudnn)
        return d->cudnn;
    cudnnHandle_t h = NULL;
    cudnnStatus_t st = cudnnCreate(&h);
    if (st != CUDNN_STATUS_SUCCESS) {
        cu_cudnn_fail(err, st, d->name, "cudnnCreate");
        return NULL;
    }
    if ((st = cudnnSetStream(h, d->stream)) != CUDNN_STATUS_SUCCESS) {
        cudnnDestroy(h);
        cu_cudnn_fail(err, st, d->name, "cudnnSetStream");
        return NULL;
    }
    d->cudnn = h;
    return h;
}

static void *open_lt(char *path, size_t cap, char *why, size_t why_cap)
{
    const char *tries[] = {NN_CU_LIBDIR "/" CU_LT_SONAME, CU_LT_SONAME, "libcublasLt.so"};
    why[0] = 0;
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        void *so = dlopen(tries[i], RTLD_NOW | RTLD_LOCAL);
        if (so) {
            snprintf(path, cap, "%s", tries[i]);
            return so;
        }
        if (!why[0]) {
            const char *e = dlerror();
            snprintf(why, why_cap, "%s", e ? e : tries[i]);
        }
    }
    return NULL;
}

cu_lt *cu_lt_get(cu_dev *d, nn_error *err)
{
    if (d->lt)
        return d->lt;
    cu_lt *lt = calloc(1, sizeof *lt);
    if (!lt) {
        nn_error_set(err, NN_ENOMEM, "%s: out of memory", d->name);
        return NULL;
    }
    char why[300];
    if (!(lt->so = open_lt(lt->path, sizeof lt->path, why, sizeof why))) {
        free(lt);
        nn_error_set(err, NN_EDLOPEN, "%s: cannot load cuBLASLt (%s, tried %s/%s and the "
                     "library path): %s", d->name, CU_LT_SONAME, NN_CU_LIBDIR, CU_LT_SONAME, why);
        return NULL;
    }
#define CU_LT_LOAD(f)                                                                    \
    {                                                                                    \
        void *sym = dlsym(lt->so, #f);                                                   \
        if (!sym) {                                                                      \
            nn_error_set(err, NN_EDLOPEN, "%s: %s has no %s: is it cuBLASLt %d?",         \
                         d->name, lt->path, #f, CUBLAS_VER_MAJOR);                        \
            dlclose(lt->so);                                                             \
            free(lt);                                                                    \
            return NULL;                                                                 \
        }                                                                                \
        memcpy(&lt->f, &sym, sizeof sym);                                                \
    }
    CU_LT_FUNCS(CU_LT_LOAD)
#undef CU_LT_LOAD
    cublasStatus_t st = lt->cublasLtCreate(&lt->handle);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cu_lt_fail(lt, err, st, d->name, "cublasLtCreate");
        dlclose(lt->so);
        free(lt);
        return NULL;
    }
    d->lt = lt;
    return lt;
}

void cu_lib_versions(cu_dev *d, char *buf, size_t cap)
{
    size_t v = cudnnGetVersion();
    nn_error err = {0};
    cu_lt *lt = cu_lt_get(d, &err);
    size_t lv = lt ? lt->cublasLtGetVersion() : 0;
    if (lt)
        snprintf(buf, cap, "cuDNN %zu.%zu.%zu, cuBLASLt %zu.%zu.%zu", v / 10000, v % 10000 / 100,
                 v % 100, lv / 10000, lv % 10000 / 100, lv % 100);
    else
        snprintf(buf, cap, "cuDNN %zu.%zu.%zu, no cuBLASLt (%s)", v / 10000, v % 10000 / 100,
                 v % 100, err.msg);
}

void cu_lib_close(cu_dev *d)
{
    if (d->cudnn)
        cudnnDestroy(d->cudnn);
    d->cudnn = NULL;
    if (d->lt) {
        d->lt->cublasLtDestroy(d->lt->handle);
        /* cuBLASLt stays mapped: graphs and kernels of it may outlive the handle by a moment */
        free(d->lt);
        d->lt = NULL;
    }
}
