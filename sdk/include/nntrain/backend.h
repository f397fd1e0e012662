/* backend.h: the vtable of a backend plugin: a device's allocator and copies. A backend pack
 * (CUDA, say) ships one backend plugin plus layer plugins registered with the same names as
 * the stock ones and .device = "cuda"; `--device cuda:0` selects them. */
#ifndef NNTRAIN_BACKEND_H
#define NNTRAIN_BACKEND_H

#include <stddef.h>
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_copy_kind {
    NN_COPY_HOST_TO_DEVICE = 1,
    NN_COPY_DEVICE_TO_HOST,
    NN_COPY_DEVICE_TO_DEVICE,
} nn_copy_kind;

typedef struct nn_backend_vtable {
    NN_VTABLE_COMMON;
    int device_type;                                                    /* DLDeviceType */
    int (*open)(void *self, int device_index, nn_error *err);           /* required */
    void *(*alloc)(void *self, size_t bytes, size_t align, nn_error *err); /* required */
    void (*free)(void *self, void *ptr);                                /* required */
    int (*copy)(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                nn_error *err);                                         /* required */
    int (*sync)(void *self, nn_error *err);                             /* required */
    const void *reserved[8];
} nn_backend_vtable;

#ifdef __cplusplus
}
#endif
#endif
