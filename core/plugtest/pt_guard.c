/* pt_guard.c: the host tensors the conformance runner hands a plugin, fenced: the data sits
 * between canary zones (a page before, at least PT_GUARD_AFTER bytes after) with inaccessible
 * pages beyond, so a write past either end is named after the call, and a far one crashes the
 * child (reported) instead of corrupting the runner. It never calls a plugin itself. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "canary.h"
#include "pt_internal.h"

/* inaccessible address space on each side of the canaries: costs no memory */
#define PT_GUARD_FAR ((size_t)1 << 20)

typedef struct fence {
    unsigned char *base; /* the whole mapping */
    size_t len;
    unsigned char *front; /* canary before the data: front .. data */
    unsigned char *back;  /* canary after it: data + bytes .. back_end */
    unsigned char *back_end;
} fence;

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* where the zones of a guarded tensor holding `bytes` at data lie: a function of both alone,
 * so nothing is stored next to the data for a plugin to overwrite */
static fence fence_of(unsigned char *data, size_t bytes)
{
    size_t page = page_size(), front = page, body = round_up(bytes + PT_GUARD_AFTER, page);
    fence f;
    f.front = data - front;
    f.base = f.front - PT_GUARD_FAR;
    f.len = PT_GUARD_FAR + front + body + PT_GUARD_FAR;
    f.back = data + bytes;
    f.back_end = data + body;
    return f;
}

nn_tensor *pt_guarded_new(nn_dtype dt, int ndim, const int64_t *shape)
{
    nn_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (nn_tensor_describe(t, dt, ndim, shape) != 0) {
        free(t);
        return NULL;
    }
    size_t page = page_size(), bytes = nn_tensor_nbytes(t);
    size_t len = PT_GUARD_FAR + page + round_up(bytes + PT_GUARD_AFTER, page) + PT_GUARD_FAR;
    unsigned char *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        free(t);
        return NULL;
    }
    unsigned char *data = base + PT_GUARD_FAR + page;
    fence f = fence_of(data, bytes);
    if (mprotect(f.front, (size_t)(f.back_end - f.front), PROT_READ | PROT_WRITE) != 0) {
        munmap(base, len);
        free(t);
        return NULL;
    }
    memset(f.front, NN_CANARY_BYTE, (size_t)(data - f.front));
    memset(data, 0, bytes);
    memset(f.back, NN_CANARY_BYTE, (size_t)(f.back_end - f.back));
    t->dl.data = data; /* page-aligned, so NN_TENSOR_ALIGN-aligned */
    return t;
}

void pt_guarded_free(nn_tensor *t)
{
    if (!t)
        return;
    fence f = fence_of(t->dl.data, nn_tensor_nbytes(t));
    munmap(f.base, f.len);
    free(t);
}

int pt_guard_check(const nn_tensor *t, const char *call, const char *name, nn_error *err)
{
    if (!t)
        return NN_OK;
    unsigned char *data = t->dl.data;
    fence f = fence_of(data, nn_tensor_nbytes(t));
    char who[64];
    snprintf(who, sizeof who, "%s()", call);
    return nn_canary_check(t, f.front, (size_t)(data - f.front), f.back,
                           (size_t)(f.back_end - f.back), who, name, err);
}

int pt_unchanged(const nn_tensor *t, const void *kept, const char *call, const char *name,
                 nn_error *err)
{
    if (!t || !kept)
        return NN_OK;
    size_t bytes = nn_tensor_nbytes(t);
    const unsigned char *now = t->dl.data, *was = kept;
    if (memcmp(now, was, bytes) == 0)
        return NN_OK;
    size_t es = t->dl.dtype.bits / 8u ? t->dl.dtype.bits / 8u : 1, k = 0;
    while (now[k] == was[k])
        k++;
    size_t e = k / es;
    char values[96] = "";
    if (nn_tensor_dtype(t) == NN_F32) {
        float a, b;
        memcpy(&a, was + e * 4, 4);
        memcpy(&b, now + e * 4, 4);
        snprintf(values, sizeof values, ": %.9g became %.9g", (double)a, (double)b);
    }
    return nn_error_set(err, NN_EINVAL, "%s() changed %s, which it must only read (element "
                        "%zu%s)", call, name, e, values);
}
