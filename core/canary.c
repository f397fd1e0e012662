/* canary.c: the report of canary zones around a tensor's data, read wherever they lie (in
 * place on the host, copied back from a device): which bytes past either end a call wrote. */
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
