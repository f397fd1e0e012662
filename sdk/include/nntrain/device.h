/* device.h: where a plan's tensors live. The core hands every layer, loss and optimizer of a
 * run the same nn_device in setup and in every call (ABI 0.4), so a backend pack's plugins can
 * reach their device's stream and handles; CPU plugins may ignore it. */
#ifndef NNTRAIN_DEVICE_H
#define NNTRAIN_DEVICE_H

#include <dlpack/dlpack.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nn_backend_vtable;

typedef struct nn_device {
    uint32_t struct_size;
    DLDevice dl;      /* the device of every tensor the plugin is given; {kDLCPU, 0} on the host */
    const char *name; /* "cpu", "sim:1"; borrowed, valid for the run */
    /* NULL on the CPU. Otherwise the backend plugin of this device type and its instance,
     * opened on device dl.device_id: a pack's plugins call backend->... with backend_self, or,
     * when they live in the same .so as the backend, use backend_self as their own context. */
    const struct nn_backend_vtable *backend;
    void *backend_self;
    const void *reserved[8];
} nn_device;

/* true when tensors of this device are host memory the plugin may dereference */
static inline int nn_device_is_host(const nn_device *d)
{
    return !d || d->dl.device_type == kDLCPU;
}

#ifdef __cplusplus
}
#endif
#endif
