/* cu_backend.c: the backend plugin of the CUDA pack: device count and description, one stream
 * per opened device, the caching allocator, blocking and asynchronous copies with events,
 * memset, and page-locked host buffers. Every use of the stream goes through the issuer, so
 * deferred work (and its graphs) stays in program order with copies and synchronisations. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_lib.h"
#include "cu_pack.h"

#define CU_EVENT_MAGIC 0xc0da0e7eu

typedef struct cu_event {
    uint32_t magic;
    cu_dev *dev;
    cudaEvent_t ev;
} cu_event;

static void *raw_alloc(void *ctx, size_t bytes)
{
    (void)ctx;
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    return p;
}

static void raw_free(void *ctx, void *p)
{
    (void)ctx;
    cudaFree(p);
}

/* a boolean environment switch: unset gives def */
static int env_flag(const char *name, int def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    return !(strcmp(s, "0") == 0 || strcmp(s, "off") == 0 || strcmp(s, "false") == 0 ||
             strcmp(s, "no") == 0);
}

static int cu_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    cu_dev *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    d->index = -1;
    snprintf(d->name, sizeof d->name, "cuda");
    d->debug = env_flag("NNTRAIN_CUDA_DEBUG", 0);
    d->tf32 = env_flag("NNTRAIN_CUDA_TF32", 0);
    cu_alloc_init(&d->alloc, raw_alloc, raw_free, d, 256);
    cu_issue_init(&d->issue, &cu_exec_cuda, d, env_flag("NNTRAIN_CUDA_GRAPHS", 1) && !d->debug);
    snprintf(d->sites[0], sizeof d->sites[0], "a kernel");
    d->n_sites = 1;
    *self = d;
    return NN_OK;
}

static void cu_destroy(void *self)
{
    cu_dev *d = self;
    if (d->index >= 0) {
        nn_error err = {0};
        cu_issue_flush(&d->issue, &err);
        cudaStreamSynchronize(d->stream);
        cu_issue_destroy(&d->issue);
        cu_lib_close(d);
        cu_alloc_destroy(&d->alloc);
        cudaFreeHost(d->err_host);
        cudaStreamDestroy(d->stream);
    } else {
        cu_issue_destroy(&d->issue);
        cu_alloc_destroy(&d->alloc);
    }
    cu_algo_free(&d->algos);
    free(d);
}

static int cu_device_count(void *self, nn_error *err)
{
    (void)self;
    char why[300];
    int n = cu_count_devices(why, sizeof why);
    if (n < 0)
        return nn_error_set(err, NN_ENOTFOUND, "%s", why);
    return n;
}

static int cu_open(void *self, int index, nn_error *err)
{
    cu_dev *d = self;
    char why[300];
    if (d->index >= 0)
        return nn_error_set(err, NN_EINVAL, "%s: this instance is already open", d->name);
    int n = cu_count_devices(why, sizeof why);
    if (n < 0)
        return nn_error_set(err, NN_ENOTFOUND, "%s", why);
    if (index < 0 || index >= n)
        return nn_error_set(err, NN_ENOTFOUND, "cuda: no device %d (devices: %d)", index, n);
    snprintf(d->name, sizeof d->name, "cuda:%d", index);
    cudaError_t e;
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(index)) || (e = cudaGetDeviceProperties(&prop, index)))
        return cu_fail(err, e, d->name, "opening the device");
    snprintf(d->gpu, sizeof d->gpu, "%s", prop.name);
    d->sm_count = prop.multiProcessorCount;
    d->total_mem = prop.totalGlobalMem;
    d->cc_major = prop.major;
    d->cc_minor = prop.minor;
    if ((e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)))
        return cu_fail(err, e, d->name, "cudaStreamCreateWithFlags");
    if ((e = cudaHostAlloc((void **)&d->err_host, sizeof *d->err_host, cudaHostAllocDefault))) {
        cudaStreamDestroy(d->stream);
        return cu_fail(err, e, d->name, "allocating the error record's host copy");
    }
    memset(d->err_host, 0, sizeof *d->err_host);
    d->index = index;
    d->partial = cu_alloc_get(&d->alloc, sizeof(double) * CU_PARTIALS, 256);
    d->first = cu_alloc_get(&d->alloc, sizeof *d->first, 256);
    d->err_dev = cu_alloc_get(&d->alloc, sizeof *d->err_dev, 256);
    if (!d->partial || !d->first || !d->err_dev)
        return nn_error_set(err, NN_ENOMEM, "%s: cannot allocate the reduction scratch",
                            d->name);
    if ((e = cudaMemsetAsync(d->err_dev, 0, sizeof *d->err_dev, d->stream)) ||
        (e = cudaStreamSynchronize(d->stream)))
        return cu_fail(err, e, d->name, "clearing the error record");
    return NN_OK;
}

/* the kernel module's release ("580.159.03"), or "" where /proc does not say */
static void driver_release(char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen("/proc/driver/nvidia/version", "r");
    if (!f)
        return;
    char line[512];
    if (fgets(line, sizeof line, f)) {
        char *k = strstr(line, "Kernel Module");
        if (k) {
            k += strlen("Kernel Module");
            while (*k == ' ')
                k++;
            size_t n = strcspn(k, " \t\n");
            snprintf(buf, cap, "%.*s", (int)(n < 64 ? n : 64), k);
        }
    }
    fclose(f);
}

static int cu_describe(void *self, char *buf, size_t cap)
{
    cu_dev *d = self;
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    if (d->index < 0) {
        char why[300];
        int n = cu_count_devices(why, sizeof why);
        snprintf(buf, cap, "CUDA backend (not open): runtime %d.%d; %s", rt / 1000,
                 rt % 1000 / 10, n > 0 ? "devices found" : why);
        return NN_OK;
    }
    char rel[80], libs[200];
    driver_release(rel, sizeof rel);
    cu_lib_versions(d, libs, sizeof libs);
    const cu_alloc_stats *s = &d->alloc.stats;
    const cu_issue_stats *q = &d->issue.stats;
    /* what a run's summary needs first (train prints this line, cut to 300 characters) */
    snprintf(buf, cap, "%s (compute %d.%d, %d SMs, %.1f GiB); graphs %s: %llu captured, %llu "
             "replays; %llu cudaMalloc calls, peak %.1f MiB; driver %s%sCUDA %d.%d%s, runtime "
             "%d.%d, %s; TF32 %s",
             d->gpu, d->cc_major, d->cc_minor, d->sm_count, (double)d->total_mem / 1073741824.0,
             d->issue.defer ? "on" : "off", (unsigned long long)q->captures,
             (unsigned long long)q->replays, (unsigned long long)s->raw_allocs,
             (double)s->peak / 1048576.0, rel, rel[0] ? " (" : "", drv / 1000, drv % 1000 / 10,
             rel[0] ? ")" : "", rt / 1000, rt % 1000 / 10, libs, d->tf32 ? "on" : "off");
    return NN_OK;
}

static void *cu_backend_alloc(void *self, size_t bytes, size_t align, nn_error *err)
{
    cu_dev *d = self;
    if (d->index < 0) {
        nn_error_set(err, NN_EINVAL, "cuda: alloc before open");
        return NULL;
    }
    void *p = cu_alloc_get(&d->alloc, bytes, align);
    if (!p) {
        const cu_alloc_stats *s = &d->alloc.stats;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        (void)cudaGetLastError();
        nn_error_set(err, NN_ENOMEM, "%s: out of device memory for %zu bytes (this run holds "
                     "%.1f MiB, the device has %.1f of %.1f MiB free)", d->name, bytes,
                     (double)s->in_use / 1048576.0, (double)free_b / 1048576.0,
                     (double)total_b / 1048576.0);
    }
    return p;
}

static void cu_backend_free(void *self, void *p)
{
    cu_dev *d = self;
    cu_alloc_put(&d->alloc, p);
}

/* the device ends of a copy must be this device's memory; host ends must not be */
static int copy_ends(cu_dev *d, const void *dst, const void *src, size_t bytes,
                     nn_copy_kind kind, const char *what, nn_error *err)
{
    int dst_dev = kind == NN_COPY_HOST_TO_DEVICE || kind == NN_COPY_DEVICE_TO_DEVICE;
    int src_dev = kind == NN_COPY_DEVICE_TO_HOST || kind == NN_COPY_DEVICE_TO_DEVICE;
    if (!dst_dev && !src_dev)
        return nn_error_set(err, NN_EINVAL, "%s: %s: unknown copy kind %d", d->name, what,
                            (int)kind);
    if (dst_dev != !!cu_alloc_find(&d->alloc, dst, bytes))
        return nn_error_set(err, NN_EINVAL, "%s: %s: the destination %p (%zu bytes) is %s",
                            d->name, what, dst, bytes, dst_dev ? "not memory of this device"
                                                               : "device memory, not the host's");
    if (src_dev != !!cu_alloc_find(&d->alloc, src, bytes))
        return nn_error_set(err, NN_EINVAL, "%s: %s: the source %p (%zu bytes) is %s", d->name,
                            what, src, bytes, src_dev ? "not memory of this device"
                                                      : "device memory, not the host's");
    return NN_OK;
}

static enum cudaMemcpyKind memcpy_kind(nn_copy_kind kind)
{
    return kind == NN_COPY_HOST_TO_DEVICE   ? cudaMemcpyHostToDevice
           : kind == NN_COPY_DEVICE_TO_HOST ? cudaMemcpyDeviceToHost
                                            : cudaMemcpyDeviceToDevice;
}

static int cu_backend_copy(void *self, void *dst, const void *src, size_t bytes,
                           nn_copy_kind kind, nn_error *err)
{
    cu_dev *d = self;
    int rc;
    if (!bytes)
        return cu_sync(d, err);
    if ((rc = copy_ends(d, dst, src, bytes, kind, "copy", err)) ||
        (rc = cu_issue_flush(&d->issue, err)))
        return rc;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, memcpy_kind(kind), d->stream);
    if (e)
        return cu_fail(err, e, d->name, "cudaMemcpyAsync");
    return cu_sync(d, err);
}

static int cu_backend_sync(void *self, nn_error *err)
{
    return cu_sync(self, err);
}

static int cu_backend_memset(void *self, void *dst, int value, size_t bytes, nn_error *err)
{
    cu_dev *d = self;
    if (bytes && !cu_alloc_find(&d->alloc, dst, bytes))
        return nn_error_set(err, NN_EINVAL, "%s: memset: %p (%zu bytes) is not memory of this "
                            "device", d->name, dst, bytes);
    return cu_memset(d, "memset", dst, value, bytes, err);
}

static int event_of(cu_dev *d, void *event, cu_event **out, nn_error *err)
{
    cu_event *e = event;
    *out = NULL;
    if (!e)
        return NN_OK;
    if (e->magic != CU_EVENT_MAGIC)
        return nn_error_set(err, NN_EINVAL, "%s: %p is not an event of the cuda backend",
                            d->name, event);
    if (e->dev != d)
        return nn_error_set(err, NN_EINVAL, "%s: the event was made by %s, not by this "
                            "device", d->name, e->dev->name);
    *out = e;
    return NN_OK;
}

static int cu_backend_copy_async(void *self, void *dst, const void *src, size_t bytes,
                                 nn_copy_kind kind, void *event, nn_error *err)
{
    cu_dev *d = self;
    cu_event *ev;
    int rc;
    if ((rc = event_of(d, event, &ev, err)) ||
        (bytes && (rc = copy_ends(d, dst, src, bytes, kind, "copy_async", err))))
        return rc;
    /* device-to-device copies join the run (and its graph); the others use the stream now */
    if (kind == NN_COPY_DEVICE_TO_DEVICE && !ev)
        return cu_copy(d, "copy_async", dst, src, bytes, err);
    if ((rc = cu_issue_flush(&d->issue, err)))
        return rc;
    cudaError_t e = bytes ? cudaMemcpyAsync(dst, src, bytes, memcpy_kind(kind), d->stream)
                          : cudaSuccess;
    if (!e && ev)
        e = cudaEventRecord(ev->ev, d->stream);
    d->issue.busy = 1;
    return e ? cu_fail(err, e, d->name, "copy_async") : NN_OK;
}

static void *cu_event_new(void *self, nn_error *err)
{
    cu_dev *d = self;
    cu_event *e = calloc(1, sizeof *e);
    if (!e) {
        nn_error_set(err, NN_ENOMEM, "%s: out of memory for an event", d->name);
        return NULL;
    }
    cudaError_t ce = cudaEventCreateWithFlags(&e->ev, cudaEventDisableTiming);
    if (ce) {
        free(e);
        cu_fail(err, ce, d->name, "cudaEventCreateWithFlags");
        return NULL;
    }
    e->magic = CU_EVENT_MAGIC;
    e->dev = d;
    return e;
}

static int cu_event_wait(void *self, void *event, nn_error *err)
{
    cu_dev *d = self;
    cu_event *ev;
    int rc = event_of(d, event, &ev, err);
    if (rc || !ev)
        return rc;
    cudaError_t e = cudaEventSynchronize(ev->ev);
    return e ? cu_fail(err, e, d->name, "cudaEventSynchronize") : NN_OK;
}

static void cu_event_free(void *self, void *event)
{
    (void)self;
    cu_event *e = event;
    if (e && e->magic == CU_EVENT_MAGIC) {
        cudaEventDestroy(e->ev);
        e->magic = 0;
        free(e);
    }
}

void *cu_host_alloc(void *self, size_t bytes, nn_error *err)
{
    cu_dev *d = self;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e) {
        (void)cudaGetLastError();
        cu_fail(err, e, d->name, "cudaHostAlloc (page-locked host memory)");
        return NULL;
    }
    return p;
}

void cu_host_free(void *self, void *ptr)
{
    (void)self;
    if (ptr)
        cudaFreeHost(ptr);
}

const nn_backend_vtable cu_backend_vtable = {
    .struct_size = sizeof(nn_backend_vtable),
    .create = cu_create,
    .destroy = cu_destroy,
    .device_type = CU_DEVICE_TYPE,
    .open = cu_open,
    .alloc = cu_backend_alloc,
    .free = cu_backend_free,
    .copy = cu_backend_copy,
    .sync = cu_backend_sync,
    .device_count = cu_device_count,
    .describe = cu_describe,
    .memset = cu_backend_memset,
    .copy_async = cu_backend_copy_async,
    .event_new = cu_event_new,
    .event_wait = cu_event_wait,
    .event_free = cu_event_free,
    .ops = &cu_device_ops,
#if NN_ABI_MINOR < 5 /* ABI 0.5 moved page-locked host memory into the ops table */
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
#endif
};

const nn_plugin_desc cu_backend_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_BACKEND, .name = "cuda", .version = "1.0.0", .license = "MIT",
    .device = "cuda",
    .summary = "NVIDIA GPUs through the CUDA runtime, cuBLASLt and cuDNN: a stream per "
               "device, a caching allocator, asynchronous copies, CUDA graphs",
    .vtable = &cu_backend_vtable);
