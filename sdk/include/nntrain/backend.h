/* backend.h: the vtable of a backend plugin: one device type's memory, copies, events and the
 * few pieces of device math the core needs for itself. A backend pack (CUDA, say) ships one
 * backend plugin (kind backend, .device = "cuda") plus layer, loss and optimizer plugins
 * registered under the stock names with the same .device; `--device cuda:0` selects them all.
 *
 * What the core guarantees (ABI 0.4):
 * - Threads. Every call of a backend instance and of the device's layer, loss and optimizer
 *   plugins comes from one thread, the run's compute thread (the loader's threads only touch
 *   host memory). The device is opened, used and closed on that thread.
 * - Memory. With a non-CPU device every tensor of a plan (input, outputs, gradients,
 *   workspaces, saved buffers), the parameters, their gradients, state buffers and optimizer
 *   slots come from alloc(); the core never dereferences them. Parameters are initialised on
 *   the host (the same values on every device) and copied once. Checkpoints, the loss, metric
 *   counters and predictions come back through copy().
 * - Ordering. Work is issued in program order: a kernel a plugin launches, a copy_async and
 *   an ops call issued later all see the effects of earlier ones on the device (one stream per
 *   opened device is the simple way to honour this). copy() and sync() block the host until
 *   everything issued before them has finished.
 * - Synchronisation. The core blocks on the device once per training step, to read a few
 *   bytes (the step's loss, gradient norm and correct-prediction counts) that decide the
 *   non-finite check and feed the logs; and at epoch ends, checkpoints and evaluation outputs.
 *
 * A backend built for ABI 0.3 (no device_count, memset or ops) is listed but refused for
 * training, with a message asking for a rebuild. */
#ifndef NNTRAIN_BACKEND_H
#define NNTRAIN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_copy_kind {
    NN_COPY_HOST_TO_DEVICE = 1,
    NN_COPY_DEVICE_TO_HOST,
    NN_COPY_DEVICE_TO_DEVICE,
} nn_copy_kind;

/* Device math the core needs for its own work (gradient sums, clipping, the non-finite
 * diagnosis, accuracy counters), so it never reads device memory on the host. Tensors are
 * contiguous F32 on the device unless a slot says otherwise. Each call is asynchronous,
 * ordered after earlier work, unless it returns a host value. */
typedef struct nn_device_ops {
    uint32_t struct_size;
    /* y += x (same shape): sums the gradients of a tensor used by several layers */
    int (*add)(void *self, nn_tensor *y, const nn_tensor *x, nn_error *err);
    /* x *= s */
    int (*scale)(void *self, nn_tensor *x, float s, nn_error *err);
    /* every element into [lo, hi] */
    int (*clamp)(void *self, nn_tensor *x, float lo, float hi, nn_error *err);
    /* acc is one device double: inf = 0: *acc += sum of x^2; inf = 1: *acc = max(*acc,
     * max |x|) (NaN and infinities must propagate into *acc, never be skipped) */
    int (*norm_acc)(void *self, const nn_tensor *x, int inf, double *acc, nn_error *err);
    /* host result, blocks: *index = the first element of x (F32) that is NaN or infinite in
     * row-major order, or -1 when all are finite */
    int (*find_nonfinite)(void *self, const nn_tensor *x, int64_t *index, nn_error *err);
    /* pred [N, C] (F32 scores); target I32 [N] class ids, or F32 [N, C] probabilities whose
     * argmax is the class; rows: the first `rows` of N count. The argmax of a row is
     * nn_argmax_first's (below): the first index i with x[i] > x[best] scanning from best =
     * 0, so ties go to the lower index, a NaN at index 0 stays the argmax and a NaN elsewhere
     * never wins. out is two device doubles: out[0] = rows whose argmax(pred) is the class,
     * out[1] = rows whose class has fewer than top_k scores strictly above its own (so a tie
     * counts for the true class, as the CPU does); top_k 0 leaves out[1] alone. Class ids
     * outside [0, C) count as wrong. */
    int (*count_correct)(void *self, const nn_tensor *pred, const nn_tensor *target,
                         int64_t rows, int top_k, double *out, nn_error *err);
    /* optional: page-locked host memory for batches (faster, truly asynchronous copies);
     * without it the core uses ordinary host memory. self is the backend instance. */
    void *(*host_alloc)(void *self, size_t bytes, nn_error *err);
    void (*host_free)(void *self, void *ptr);
    /* optional, ABI 0.11 (a 0.10 pack has NULL here): the device allocations of this
     * instance alive now (alloc'd, not yet freed) and the bytes they were asked for; host
     * result, no device work. `plugins test --device` reads it around a plugin's lives to
     * find device memory it leaves behind. self is the backend instance. */
    int (*mem_live)(void *self, int64_t *blocks, int64_t *bytes);
    const void *reserved[5];
} nn_device_ops;

/* count_correct's argmax of x[0..n): the first index i with x[i] > x[best], scanning from
 * best = 0. Ties go to the lower index; a NaN at index 0 stays the argmax (nothing compares
 * greater than it), a NaN anywhere else never wins. The host reference and the stock packs
 * use this; a device kernel must give the same index. */
static inline int64_t nn_argmax_first(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

typedef struct nn_backend_vtable {
    NN_VTABLE_COMMON;
    int device_type;                                                    /* DLDeviceType */
    /* required: bind this instance to device device_index (0-based, < device_count) */
    int (*open)(void *self, int device_index, nn_error *err);
    /* required: align is a power of two >= 64; the memory need not be zeroed */
    void *(*alloc)(void *self, size_t bytes, size_t align, nn_error *err);
    void (*free)(void *self, void *ptr);                                /* required; NULL ok */
    /* required: blocking copy (waits for earlier work, then copies) */
    int (*copy)(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                nn_error *err);
    int (*sync)(void *self, nn_error *err); /* required: waits for all issued work */

    /* ---- ABI 0.4: these took the eight reserved slots of 0.3 (a 0.3 backend has them
     * NULL, and the core refuses it for training) ---- */
    /* required: devices of this type on this machine; called before open(), may be 0 */
    int (*device_count)(void *self, nn_error *err);
    /* optional: one line about the opened device ("H200, 141 GiB, driver 580") into buf */
    int (*describe)(void *self, char *buf, size_t cap);
    /* required: sets bytes of device memory to value, ordered like a kernel */
    int (*memset)(void *self, void *dst, int value, size_t bytes, nn_error *err);
    /* optional: a copy ordered after earlier work that returns at once. The host buffer of
     * src (HOST_TO_DEVICE) or dst (DEVICE_TO_HOST) must stay untouched until `event` (from
     * event_new, may be NULL) completes; later device work sees the copied bytes. */
    int (*copy_async)(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                      void *event, nn_error *err);
    /* optional (required with copy_async): completion events */
    void *(*event_new)(void *self, nn_error *err);
    int (*event_wait)(void *self, void *event, nn_error *err); /* blocks until it completed */
    void (*event_free)(void *self, void *event);
    /* required: the device math above (and pinned host memory); a static table. Later ABI
     * versions grow the backend through it, since these eight slots took 0.3's reserve. */
    const nn_device_ops *ops;
} nn_backend_vtable;

/* ABI 0.3's vtable had the same size, with reserved slots where 0.4's functions are */
#define NN_BACKEND_VTABLE_SIZE_0_3 sizeof(nn_backend_vtable)

#ifdef __cplusplus
}
#endif
#endif
