/* sizes.c: overflow-safe sizes of what a layer declares, checked before the graph allocates
 * (`units = 2147483648` must be a sentence about that key, not "out of memory for N bytes"
 * or an overflowed product). It reads declarations only; it never allocates tensors. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sizes.h"

int nn_shape_bytes(int ndim, const int64_t *shape, unsigned bits, size_t *out)
{
    size_t n = (bits + 7) / 8;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if ((uint64_t)shape[i] > SIZE_MAX || __builtin_mul_overflow(n, (size_t)shape[i], &n))
            return -1;
    }
    /* the SDK counts elements in int64_t and pads to 64 bytes: stay well inside both */
    if (n > (size_t)INT64_MAX / 2)
        return -1;
    *out = n;
    return 0;
}

size_t nn_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (size_t)pages > SIZE_MAX / (size_t)page)
        return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

void nn_bytes_str(size_t bytes, char *buf, size_t cap)
{
    static const char *const unit[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%zu bytes", bytes);
    else
        snprintf(buf, cap, "%.2f %s", v, unit[u]);
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* " (key 'units' = 2147483648 at model.ini:28)" for the first key whose value (or an item of
 * its list) equals one of the dimensions > 1, or "" */
static void key_behind(const int64_t *shape, int ndim, const nn_kv *kvs, int n, char *buf,
                       size_t cap)
{
    buf[0] = 0;
    for (int k = 0; k < n; k++) {
        const char *v = kvs[k].value;
        while (v && *v) {
            char *end;
            long long x = strtoll(v, &end, 10);
            if (end == v)
                break;
            for (int d = 0; d < ndim; d++)
                if (shape[d] > 1 && x == shape[d]) {
                    char at[300] = "";
                    if (kvs[k].file && kvs[k].line > 0)
                        snprintf(at, sizeof at, " at %s:%d", kvs[k].file, kvs[k].line);
                    else if (kvs[k].file)
                        snprintf(at, sizeof at, " (%s)", kvs[k].file);
                    snprintf(buf, cap, "; key '%s' = %s%s sets it", kvs[k].key, kvs[k].value,
                             at);
                    return;
                }
            v = end;
            while (*v == ',' || *v == ' ' || *v == '\t')
                v++;
        }
    }
}

/* subject: "layer 'fc1' (dense)", "loss 'mse'" */
static int check_one(const char *what, const char *tname, int ndim, const int64_t *shape,
                     unsigned bits, size_t limit, const char *origin, const char *subject,
                     const nn_kv *kvs, int n_kvs, nn_error *err)
{
    char sh[200], why[400], size[32], mem[32];
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_error_set(err, NN_ESHAPE, "%s: %s declared %s '%.*s' with %d dimensions (at "
                            "most %d)", origin, subject, what, NN_NAME_MAX, tname, ndim,
                            NN_MAX_DIMS);
    shape_str(ndim, shape, sh, sizeof sh);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return nn_error_set(err, NN_ESHAPE, "%s: %s declared %s '%.*s' with a negative "
                                "dimension: %s", origin, subject, what, NN_NAME_MAX, tname, sh);
    size_t bytes;
    key_behind(shape, ndim, kvs, n_kvs, why, sizeof why);
    if (nn_shape_bytes(ndim, shape, bits, &bytes) != 0)
        return nn_error_set(err, NN_ENOMEM, "%s: %s: %s '%.*s' of shape %s would hold more "
                            "bytes than a 64-bit size can count%s", origin, subject, what,
                            NN_NAME_MAX, tname, sh, why);
    if (bytes > limit) {
        nn_bytes_str(bytes, size, sizeof size);
        nn_bytes_str(limit, mem, sizeof mem);
        return nn_error_set(err, NN_ENOMEM, "%s: %s: %s '%.*s' of shape %s needs %s (%zu "
                            "bytes), more than this machine's %s of memory%s", origin, subject,
                            what, NN_NAME_MAX, tname, sh, size, bytes, mem, why);
    }
    return NN_OK;
}

int nn_total_bytes_check(size_t total, const char *what, const char *advice, nn_error *err)
{
    size_t limit = nn_memory_bytes();
    char size[32], mem[32];
    if (total <= limit)
        return NN_OK;
    nn_bytes_str(total, size, sizeof size);
    nn_bytes_str(limit, mem, sizeof mem);
    return nn_error_set(err, NN_ENOMEM, "%s need %s (%zu bytes), more than this machine's %s of "
                        "memory; %s", what, size, total, mem, advice);
}

int nn_buffer_sizes_check(const nn_buffer_decl *b, int n, const char *origin,
                          const char *subject, const nn_kv *kvs, int n_kvs, nn_error *err)
{
    size_t limit = nn_memory_bytes();
    int rc = NN_OK;
    for (int k = 0; rc == NN_OK && k < n && k < NN_MAX_LAYER_BUFFERS; k++)
        rc = check_one("buffer", b[k].name, b[k].ndim, b[k].shape, nn_dtype_dl(b[k].dtype).bits,
                       limit, origin, subject, kvs, n_kvs, err);
    return rc;
}

int nn_layer_sizes_check(const nn_layer_setup *s, const char *origin, const char *name,
                         const char *type, const nn_kv *kvs, int n_kvs, nn_error *err)
{
    size_t limit = nn_memory_bytes();
    char subject[700];
    snprintf(subject, sizeof subject, "layer '%s' (%s)", name, type);
    int rc = check_one("output", name, s->output.dl.ndim, s->output.shape,
                       s->output.dl.dtype.bits, limit, origin, subject, kvs, n_kvs, err);
    int max_params = s->params_more ? NN_MAX_LAYER_PARAMS_ALL : NN_MAX_LAYER_PARAMS;
    for (int k = 0; rc == NN_OK && k < s->n_params && k < max_params; k++) {
        const nn_param_decl *d = nn_layer_param_decl(s, k);
        rc = check_one("parameter", d->name, d->ndim, d->shape, 32, limit, origin, subject, kvs,
                       n_kvs, err);
    }
    return rc ? rc : nn_buffer_sizes_check(s->buffers, s->n_buffers, origin, subject, kvs, n_kvs,
                                           err);
}
