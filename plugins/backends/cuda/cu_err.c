/* cu_err.c: CUDA errors as nntrain sentences: runtime errors with their names, the reason no
 * device was found, and the bad class or token ids kernels record in the device's error word
 * (copied back by every synchronisation), named by layer or loss and sample. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cu_pack.h"

const char *cu_strerror(cudaError_t e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
    return buf;
}

int cu_fail(nn_error *err, cudaError_t e, const char *who, const char *what)
{
    char b[200];
    int st = e == cudaErrorMemoryAllocation ? NN_ENOMEM
             : e == cudaErrorInvalidValue   ? NN_EINVAL
                                            : NN_EINTERNAL;
    return nn_error_set(err, st, "%s: %s failed: %s", who, what, cu_strerror(e, b, sizeof b));
}

int cu_count_devices(char *buf, size_t cap)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess) {
        if (n == 0)
            snprintf(buf, cap, "no CUDA device: cudaGetDeviceCount found 0 devices");
        return n;
    }
    (void)cudaGetLastError();
    char b[200];
    cu_strerror(e, b, sizeof b);
    if (e == cudaErrorNoDevice) {
        snprintf(buf, cap, "no CUDA device: cudaGetDeviceCount returned %s", b);
        return 0;
    }
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (e == cudaErrorInsufficientDriver && drv == 0)
        snprintf(buf, cap, "no CUDA device: cudaGetDeviceCount returned %s; no NVIDIA driver "
                 "is loaded on this machine", b);
    else if (e == cudaErrorInsufficientDriver)
        snprintf(buf, cap, "no CUDA device: cudaGetDeviceCount returned %s; the driver "
                 "supports CUDA %d.%d, this pack was built with CUDA %d.%d", b, drv / 1000,
                 drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
    else
        snprintf(buf, cap, "no CUDA device: cudaGetDeviceCount returned %s", b);
    return -1;
}

int cu_site(cu_dev *d, const char *fmt, ...)
{
    char name[CU_SITE_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < d->n_sites; i++)
        if (strcmp(d->sites[i], name) == 0)
            return i;
    if (d->n_sites == CU_MAX_SITES)
        return 0; /* site 0 is "a kernel" */
    memcpy(d->sites[d->n_sites], name, sizeof name);
    return d->n_sites++;
}

int cu_check_async(cu_dev *d, nn_error *err)
{
    volatile k_err *e = d->err_host;
    if (!e || !e->set)
        return NN_OK;
    k_err r = {.site = e->site, .code = e->code, .value = e->value, .index = e->index,
               .limit = e->limit, .aux = e->aux};
    memset((void *)d->err_host, 0, sizeof *d->err_host);
    /* cleared on the device too, so the next bad id is reported afresh (the stream is idle:
     * this runs right after a synchronisation) */
    if (d->err_dev && d->index >= 0 &&
        (cudaMemsetAsync(d->err_dev, 0, sizeof *d->err_dev, d->stream) != cudaSuccess ||
         cudaStreamSynchronize(d->stream) != cudaSuccess))
        (void)cudaGetLastError();
    const char *who = r.site >= 0 && r.site < d->n_sites ? d->sites[r.site] : "a kernel";
    if (r.code == K_ERR_TOKEN && r.aux > 0)
        return nn_error_set(err, NN_EINVAL, "%s: token id %d at batch row %lld, position %lld "
                            "is outside [0, %lld) (num_embeddings)", who, (int)r.value,
                            (long long)(r.index / r.aux), (long long)(r.index % r.aux),
                            (long long)r.limit);
    return nn_error_set(err, NN_EINVAL, "%s: sample %lld has class id %d, outside [0, %lld)",
                        who, (long long)r.index, (int)r.value, (long long)r.limit);
}
