/* status.c: names of statuses and kinds, and the small tensor helpers plugins link against.
 * Nothing here allocates except nn_tensor_new(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nntrain/plugin.h"
#include "nntrain/status.h"
#include "nntrain/tensor.h"

const char *nn_strerror(int status)
{
    switch (status) {
    case NN_OK: return "success";
    case NN_EINVAL: return "invalid argument";
    case NN_ENOMEM: return "out of memory";
    case NN_EABI: return "plugin ABI mismatch";
    case NN_EIO: return "input/output error";
    case NN_ENOTFOUND: return "not found";
    case NN_EEXIST: return "already exists";
    case NN_EPERM: return "insecure permissions";
    case NN_ESHAPE: return "shape mismatch";
    case NN_EFORMAT: return "malformed file";
    case NN_ENOTSUP: return "not supported";
    case NN_ENONFINITE: return "non-finite value";
    case NN_ECANCELED: return "interrupted";
    case NN_EDLOPEN: return "cannot load shared object";
    case NN_EINTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char *nn_kind_name(int kind)
{
    static const char *names[] = {"?", "layer", "loss", "optimizer", "scheduler",
                                  "dataset", "transform", "logger", "backend",
                                  "communicator"};
    return (kind > 0 && kind < NN_KIND_COUNT_) ? names[kind] : "?";
}

char *nn_shape_str(const nn_tensor *t, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return buf;
    buf[0] = 0;
    used += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->dl.ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "",
                                 (long long)t->shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

nn_tensor *nn_tensor_new(nn_dtype dt, int ndim, const int64_t *shape)
{
    nn_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (nn_tensor_describe(t, dt, ndim, shape) != 0) {
        free(t);
        return NULL;
    }
    size_t bytes = nn_tensor_nbytes(t);
    size_t padded = (bytes + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
    t->dl.data = aligned_alloc(NN_TENSOR_ALIGN, padded ? padded : NN_TENSOR_ALIGN);
    if (!t->dl.data) {
        free(t);
        return NULL;
    }
    memset(t->dl.data, 0, padded);
    return t;
}

void nn_tensor_free(nn_tensor *t)
{
    if (!t)
        return;
    free(t->dl.data);
    free(t);
}
