/* canary.h: canary zones around a buffer the conformance runners hand to plugin code (the host
 * runner's fenced tensors, device tensors of `plugins test --device` and `devices test`). */
#ifndef NN_CANARY_H
#define NN_CANARY_H

#include <stddef.h>

#include "device.h"
#include "nntrain/status.h"
#include "nntrain/tensor.h"

#define NN_CANARY_BYTE 0xA5

/* NN_OK when the front_len bytes that were before t's data and the back_len after it hold
 * NN_CANARY_BYTE only; else NN_EINVAL with "WHO wrote past the end of NAME (shape, N bytes):
 * bytes A to B after its end changed ..." (or before its start). */
int nn_canary_check(const nn_tensor *t, const unsigned char *front, size_t front_len,
                    const unsigned char *back, size_t back_len, const char *who,
                    const char *name, nn_error *err);

/* Device memory for `bytes` of data (zeroed) between canary zones of `front` and `back`
 * bytes, set with the backend's memset: the data's address, or NULL with err. A device has no
 * inaccessible pages, so a write beyond the zones goes unseen. */
void *nn_canary_dev_alloc(nn_dev *d, size_t bytes, size_t front, size_t back, nn_error *err);
void nn_canary_dev_free(nn_dev *d, void *data, size_t front); /* NULL is allowed */
/* The zones of that data read back into to[0, front) and to[front, front + back) for
 * nn_canary_check: NN_OK, or the copy's status with err. */
int nn_canary_dev_read(nn_dev *d, const void *data, size_t bytes, size_t front, size_t back,
                       unsigned char *to, nn_error *err);

#endif
