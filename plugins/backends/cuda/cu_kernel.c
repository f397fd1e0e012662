/* cu_kernel.c: what every kernel plugin of the CUDA pack starts with (its device, its tensors
 * checked to be contiguous memory of that device) and the launch helpers that route all
 * stream work through the issuer. A device address is only ever passed on, never read. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cu_pack.h"

cu_dev *cu_dev_of(const nn_device *dev, int need_open, const char *who, nn_error *err)
{
    if (!dev || dev->backend != &cu_backend_vtable || !dev->backend_self) {
        nn_error_set(err, NN_EINVAL, "%s: a cuda plugin was run on device '%s', which is not "
                     "a device of this pack", who, dev && dev->name ? dev->name : "cpu");
        return NULL;
    }
    cu_dev *d = dev->backend_self;
    if (need_open && (d->index < 0 || d->index != dev->dl.device_id)) {
        nn_error_set(err, NN_EINVAL, "%s: device '%s' is not open", who,
                     dev->name ? dev->name : "cuda");
        return NULL;
    }
    return d;
}

static const char *dtype_name(int dt)
{
    static const char *const names[] = {"F32", "F64", "F16", "BF16", "I32", "I64", "U8"};
    return dt >= 0 && dt < NN_DTYPE_COUNT ? names[dt] : "an unknown dtype";
}

void *cu_tensor(cu_dev *d, const nn_tensor *t, int dt, const char *who, const char *role,
                nn_error *err)
{
    char shape[96];
    if (!t) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor is missing", who, role);
        return NULL;
    }
    int tdt = nn_tensor_dtype(t);
    if (dt >= 0 && tdt != dt) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor %s is %s, expected %s", who, role,
                     nn_shape_str(t, shape, sizeof shape), dtype_name(tdt), dtype_name(dt));
        return NULL;
    }
    if (t->dl.device.device_type != kDLCPU &&
        (t->dl.device.device_type != CU_DEVICE_TYPE || t->dl.device.device_id != d->index)) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor is marked as on device type %d index %d, "
                     "but this is %s", who, role, (int)t->dl.device.device_type,
                     (int)t->dl.device.device_id, d->name);
        return NULL;
    }
    int64_t expect = 1;
    for (int i = t->dl.ndim - 1; i >= 0; i--) {
        /* the struct's own array: dl.strides of a tensor copied by value may be stale */
        if (t->shape[i] != 1 && t->strides[i] != expect) {
            nn_error_set(err, NN_ENOTSUP, "%s: %s tensor %s is not contiguous", who, role,
                         nn_shape_str(t, shape, sizeof shape));
            return NULL;
        }
        expect *= t->shape[i];
    }
    char *p = (char *)t->dl.data + t->dl.byte_offset;
    if (!cu_alloc_find(&d->alloc, p, nn_tensor_nbytes(t))) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor %s at %p is not memory this device (%s) "
                     "allocated, or runs past the end of it", who, role,
                     nn_shape_str(t, shape, sizeof shape), (void *)p, d->name);
        return NULL;
    }
    return p;
}

uint32_t cu_grid(const cu_dev *d, int64_t n, uint32_t block)
{
    int64_t g = (n + block - 1) / block, cap = (int64_t)(d->sm_count > 0 ? d->sm_count : 16) * 16;
    if (g > cap)
        g = cap;
    return g < 1 ? 1 : (uint32_t)g;
}

int cu_launch(cu_dev *d, const char *who, const void *fn, uint32_t grid, uint32_t block,
              const void *args, size_t size, nn_error *err)
{
    const uint32_t g[3] = {grid, 1, 1}, b[3] = {block, 1, 1};
    if (!fn)
        return nn_error_set(err, NN_EINTERNAL, "%s: a kernel of the pack is missing", who);
    return cu_issue_kernel(&d->issue, who, fn, g, b, 0, args, size, err);
}

int cu_launch_n(cu_dev *d, const char *who, const void *fn, int64_t n, const void *args,
                size_t size, nn_error *err)
{
    if (n <= 0)
        return NN_OK;
    return cu_launch(d, who, fn, cu_grid(d, n, K_BLOCK), K_BLOCK, args, size, err);
}

int cu_memset(cu_dev *d, const char *who, void *dst, int value, size_t bytes, nn_error *err)
{
    return bytes ? cu_issue_memset(&d->issue, who, dst, value, bytes, err) : NN_OK;
}

int cu_copy(cu_dev *d, const char *who, void *dst, const void *src, size_t bytes,
            nn_error *err)
{
    return bytes && dst != src ? cu_issue_copy(&d->issue, who, dst, src, bytes, err) : NN_OK;
}

int cu_sync(cu_dev *d, nn_error *err)
{
    int rc = cu_issue_flush(&d->issue, err);
    if (rc)
        return rc;
    /* the kernels' error record comes back with the same wait: 32 bytes behind the work */
    cudaError_t e = cudaMemcpyAsync(d->err_host, d->err_dev, sizeof *d->err_host,
                                    cudaMemcpyDeviceToHost, d->stream);
    if (!e)
        e = cudaStreamSynchronize(d->stream);
    cu_issue_sync_point(&d->issue);
    if (e)
        return cu_fail(err, e, d->name, "synchronising the stream");
    return cu_check_async(d, err);
}

void cu_forget_graphs(cu_dev *d)
{
    nn_error err = {0};
    if (cu_issue_flush(&d->issue, &err) == NN_OK)
        cu_issue_forget(&d->issue);
    d->generation++;
}

void *cu_workspace(cu_dev *d, size_t bytes, nn_error *err)
{
    if (bytes <= d->ws_bytes)
        return d->ws;
    size_t want = cu_alloc_class(bytes);
    /* the old workspace may be named by pending calls and graphs: put them on the stream
     * first (the caching allocator hands memory out again only to later stream work) */
    cu_forget_graphs(d);
    void *p = cu_alloc_get(&d->alloc, want, 256);
    if (!p) {
        nn_error_set(err, NN_ENOMEM, "%s: cannot allocate a %zu-byte library workspace",
                     d->name, want);
        return NULL;
    }
    cu_alloc_put(&d->alloc, d->ws);
    d->ws = p;
    d->ws_bytes = want;
    return p;
}

const char *cu_name(const char *layer_name, const char *kind)
{
    return layer_name && *layer_name ? layer_name : kind;
}
