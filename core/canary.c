/* canary.c: canary zones around a tensor's data: the report of which bytes past either end a
 * call wrote, read wherever the zones lie (in place on the host, copied back from a device),
 * and device memory laid out with them. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "canary.h"

/* the first and last byte of [p, end) that lost the pattern; 0 when none did */
static int changed(const unsigned char *p, const unsigned char *end, size_t *first,
                   size_t *last)
{
    const uint64_t pat = 0x0101010101010101ull * NN_CANARY_BYTE;
    const unsigned char *q = p;
    uint64_t diff = 0;
    for (; q + 8 <= end; q += 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        diff |= w ^ pat;
    }
    for (; q < end; q++)
        diff |= (uint64_t)(*q ^ NN_CANARY_BYTE);
    if (!diff)
        return 0;
    size_t n = (size_t)(end - p), i = 0, j = n;
    while (i < n && p[i] == NN_CANARY_BYTE)
        i++;
    while (j > i && p[j - 1] == NN_CANARY_BYTE)
        j--;
    *first = i;
    *last = j - 1;
    return 1;
}

int nn_canary_check(const nn_tensor *t, const unsigned char *front, size_t front_len,
                    const unsigned char *back, size_t back_len, const char *who,
                    const char *name, nn_error *err)
{
    size_t bytes = nn_tensor_nbytes(t), first, last;
    char shape[96];
    nn_shape_str(t, shape, sizeof shape);
    size_t es = t->dl.dtype.bits / 8u ? t->dl.dtype.bits / 8u : 1;
    if (changed(back, back + back_len, &first, &last))
        return nn_error_set(err, NN_EINVAL, "%s wrote past the end of %s (%s, %zu bytes): "
                            "bytes %zu to %zu after its end changed (as far as element %zu of "
                            "a tensor with %zu); write only inside the tensor", who, name,
                            shape, bytes, first, last, (bytes + last) / es, bytes / es);
    if (changed(front, front + front_len, &first, &last))
        return nn_error_set(err, NN_EINVAL, "%s wrote before the start of %s (%s, %zu bytes): "
                            "bytes %zu to %zu before its start changed; write only inside the "
                            "tensor", who, name, shape, bytes, front_len - last,
                            front_len - first);
    return NN_OK;
}

void *nn_canary_dev_alloc(nn_dev *d, size_t bytes, size_t front, size_t back, nn_error *err)
{
    char *base = nn_dev_alloc(d, front + bytes + back, err);
    if (!base)
        return NULL;
    char *data = base + front;
    int rc = nn_dev_memset(d, base, NN_CANARY_BYTE, front, err);
    if (rc == NN_OK)
        rc = nn_dev_memset(d, data, 0, bytes, err);
    if (rc == NN_OK)
        rc = nn_dev_memset(d, data + bytes, NN_CANARY_BYTE, back, err);
    if (rc) {
        nn_dev_free(d, base);
        return NULL;
    }
    return data;
}

void nn_canary_dev_free(nn_dev *d, void *data, size_t front)
{
    if (data)
        nn_dev_free(d, (char *)data - front);
}

int nn_canary_dev_read(nn_dev *d, const void *data, size_t bytes, size_t front, size_t back,
                       unsigned char *to, nn_error *err)
{
    const char *p = data;
    int rc = nn_dev_copy(d, to, p - front, front, NN_COPY_DEVICE_TO_HOST, err);
    return rc ? rc : nn_dev_copy(d, to + front, p + bytes, back, NN_COPY_DEVICE_TO_HOST, err);
}
