/* sim_backend.c: the backend plugin of the sim pack: device count, open, memory, copies,
 * events and page-aligned host buffers. copy_async is honestly asynchronous: the copy is
 * queued and done at the next call into the device (or when its event is waited for), so a
 * caller that reuses a host buffer before the event completes sees wrong numbers here too. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim.h"

#define SIM_EVENT_MAGIC 0x51e7e7e7u

typedef struct sim_event {
    uint32_t magic;
    sim_dev *dev;
    uint64_t seq; /* the async copy it completes with; 0 = none */
} sim_event;

static int sim_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    sim_dev *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "sim: out of memory");
    d->index = -1;
    snprintf(d->name, sizeof d->name, "sim");
    *self = d;
    return NN_OK;
}

static void sim_destroy(void *self)
{
    sim_dev *d = self;
    sim_flush(d);
    sim_mem_close(d);
    free(d->pack_a);
    free(d->pack_b);
    free(d);
}

/* NNTRAIN_SIM_DEVICES=N pretends N devices (0 to 8, default 2) */
static int sim_device_count(void *self, nn_error *err)
{
    (void)self;
    const char *s = getenv("NNTRAIN_SIM_DEVICES");
    if (!s || !*s)
        return 2;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end || end == s || n < 0 || n > SIM_MAX_DEVICES)
        return nn_error_set(err, NN_EINVAL, "sim: NNTRAIN_SIM_DEVICES = \"%s\": expected a "
                            "number of devices from 0 to %d", s, SIM_MAX_DEVICES);
    return (int)n;
}

static int sim_open(void *self, int index, nn_error *err)
{
    sim_dev *d = self;
    if (d->index >= 0)
        return nn_error_set(err, NN_EINVAL, "%s: this instance is already open", d->name);
    int n = sim_device_count(self, err);
    if (n < 0)
        return n;
    if (index < 0 || index >= n)
        return nn_error_set(err, NN_ENOTFOUND, "sim: no device %d (devices: %d)", index, n);
    d->pack_a = aligned_alloc(64, sizeof(float) * SIM_GEMM_MC * SIM_GEMM_KC);
    d->pack_b = aligned_alloc(64, sizeof(float) * SIM_GEMM_KC * SIM_GEMM_NC);
    if (!d->pack_a || !d->pack_b)
        return nn_error_set(err, NN_ENOMEM, "sim: out of memory");
    return sim_mem_open(d, index, err);
}

static int sim_describe(void *self, char *buf, size_t cap)
{
    const sim_dev *d = self;
    if (d->index < 0)
        return snprintf(buf, cap, "pretend accelerator (not open)") < 0 ? NN_EINTERNAL : NN_OK;
    snprintf(buf, cap, "pretend accelerator, %.4g %s of memory the host cannot touch, "
             "%.1f MiB in use (peak %.1f MiB), asynchronous copies",
             d->cap >= ((size_t)1 << 30) ? (double)d->cap / 1073741824.0
                                         : (double)d->cap / 1048576.0,
             d->cap >= ((size_t)1 << 30) ? "GiB" : "MiB", (double)d->in_use / 1048576.0,
             (double)d->peak / 1048576.0);
    return NN_OK;
}

static void *sim_alloc(void *self, size_t bytes, size_t align, nn_error *err)
{
    return sim_mem_alloc(self, bytes, align, err);
}

static void sim_free(void *self, void *p)
{
    sim_mem_free(self, p);
}

/* the host and device ends of a copy, checked: device ends must be this device's memory,
 * host ends must not be any sim device's */
static int copy_ends(sim_dev *d, void **dst, const void **src, size_t bytes, nn_copy_kind kind,
                     const char *what, nn_error *err)
{
    char owner[16], role[64];
    int dst_dev = kind == NN_COPY_HOST_TO_DEVICE || kind == NN_COPY_DEVICE_TO_DEVICE;
    int src_dev = kind == NN_COPY_DEVICE_TO_HOST || kind == NN_COPY_DEVICE_TO_DEVICE;
    if (!dst_dev && !src_dev)
        return nn_error_set(err, NN_EINVAL, "%s: %s: unknown copy kind %d", d->name, what,
                            (int)kind);
    if (dst_dev) {
        snprintf(role, sizeof role, "%s destination", what);
        if (!(*dst = sim_mem_bytes(d, *dst, bytes, role, err)))
            return NN_EINVAL;
    } else if (sim_mem_is_device(*dst, owner, sizeof owner)) {
        return nn_error_set(err, NN_EINVAL, "%s: %s to the host: the destination %p is device "
                            "memory of %s", d->name, what, *dst, owner);
    }
    if (src_dev) {
        snprintf(role, sizeof role, "%s source", what);
        if (!(*src = sim_mem_bytes(d, *src, bytes, role, err)))
            return NN_EINVAL;
    } else if (sim_mem_is_device(*src, owner, sizeof owner)) {
        return nn_error_set(err, NN_EINVAL, "%s: %s from the host: the source %p is device "
                            "memory of %s", d->name, what, *src, owner);
    }
    return NN_OK;
}

static int sim_copy(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                    nn_error *err)
{
    sim_dev *d = self;
    sim_flush(d);
    if (!bytes)
        return NN_OK;
    int rc = copy_ends(d, &dst, &src, bytes, kind, "copy", err);
    if (rc)
        return rc;
    memmove(dst, src, bytes);
    return NN_OK;
}

static int sim_sync(void *self, nn_error *err)
{
    (void)err;
    sim_flush(self);
    return NN_OK;
}

static int sim_memset(void *self, void *dst, int value, size_t bytes, nn_error *err)
{
    sim_dev *d = self;
    sim_flush(d);
    if (!bytes)
        return NN_OK;
    void *p = sim_mem_bytes(d, dst, bytes, "memset destination", err);
    if (!p)
        return NN_EINVAL;
    memset(p, value, bytes);
    return NN_OK;
}

static void *sim_event_new(void *self, nn_error *err)
{
    sim_event *e = calloc(1, sizeof *e);
    if (!e) {
        nn_error_set(err, NN_ENOMEM, "sim: out of memory for an event");
        return NULL;
    }
    e->magic = SIM_EVENT_MAGIC;
    e->dev = self;
    return e;
}

static int event_of(sim_dev *d, void *event, sim_event **out, nn_error *err)
{
    sim_event *e = event;
    *out = NULL;
    if (!e)
        return NN_OK;
    if (e->magic != SIM_EVENT_MAGIC)
        return nn_error_set(err, NN_EINVAL, "%s: %p is not an event of the sim backend",
                            d->name, event);
    if (e->dev != d)
        return nn_error_set(err, NN_EINVAL, "%s: the event was made by %s, not by this "
                            "device", d->name, e->dev->name);
    *out = e;
    return NN_OK;
}

static int sim_copy_async(void *self, void *dst, const void *src, size_t bytes,
                          nn_copy_kind kind, void *event, nn_error *err)
{
    sim_dev *d = self;
    sim_event *e;
    int rc = event_of(d, event, &e, err);
    if (rc)
        return rc;
    if (bytes && (rc = copy_ends(d, &dst, &src, bytes, kind, "copy_async", err)))
        return rc;
    if (d->n_queued == SIM_QUEUE)
        sim_flush(d);
    d->queue[d->n_queued++] = (sim_queued_copy){dst, src, bytes};
    d->issued++;
    if (e)
        e->seq = d->issued;
    return NN_OK;
}

static int sim_event_wait(void *self, void *event, nn_error *err)
{
    sim_dev *d = self;
    sim_event *e;
    int rc = event_of(d, event, &e, err);
    if (rc)
        return rc;
    if (e && e->seq > d->done)
        sim_flush(d);
    return NN_OK;
}

static void sim_event_free(void *self, void *event)
{
    (void)self;
    sim_event *e = event;
    if (e && e->magic == SIM_EVENT_MAGIC) {
        e->magic = 0;
        free(e);
    }
}

/* "pinned" buffers: whole pages from mmap, so a caller that frees them with free() is caught
 * by the allocator at once instead of silently working */
void *sim_host_alloc(void *self, size_t bytes, nn_error *err)
{
    sim_dev *d = self;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t total = (bytes + page - 1) / page * page + page;
    char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        nn_error_set(err, NN_ENOMEM, "%s: cannot map %zu bytes of host memory", d->name,
                     bytes);
        return NULL;
    }
    memcpy(p, &total, sizeof total);
    return p + page;
}

void sim_host_free(void *self, void *ptr)
{
    (void)self;
    if (!ptr)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), total;
    char *p = (char *)ptr - page;
    memcpy(&total, p, sizeof total);
    munmap(p, total);
}

const nn_backend_vtable sim_backend_vtable = {
    .struct_size = sizeof(nn_backend_vtable),
    .create = sim_create,
    .destroy = sim_destroy,
    .device_type = SIM_DEVICE_TYPE,
    .open = sim_open,
    .alloc = sim_alloc,
    .free = sim_free,
    .copy = sim_copy,
    .sync = sim_sync,
    .device_count = sim_device_count,
    .describe = sim_describe,
    .memset = sim_memset,
    .copy_async = sim_copy_async,
    .event_new = sim_event_new,
    .event_wait = sim_event_wait,
    .event_free = sim_event_free,
    .ops = &sim_device_ops,
};

const nn_plugin_desc sim_backend_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_BACKEND, .name = "sim", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "pretend accelerator (2 devices) whose memory the host cannot touch: proves "
               "the device paths without a GPU",
    .vtable = &sim_backend_vtable);
