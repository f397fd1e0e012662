/* canary.h: canary zones around a buffer the conformance runners hand to plugin code (the host
 * runner's fenced tensors, device tensors of `plugins test --device` and `devices test`). */
#ifndef NN_CANARY_H
#define NN_CANARY_H

#include <stddef.h>

#include "nntrain/status.h"
#include "nntrain/tensor.h"

#define NN_CANARY_BYTE 0xA5

/* NN_OK when the front_len bytes that were before t's data and the back_len after it hold
 * NN_CANARY_BYTE only; else NN_EINVAL with "WHO wrote past the end of NAME (shape, N bytes):
 * bytes A to B after its end changed ..." (or before its start). */
int nn_canary_check(const nn_tensor *t, const unsigned char *front, size_t front_len,
                    const unsigned char *back, size_t back_len, const char *who,
                    const char *name, nn_error *err);

#endif
