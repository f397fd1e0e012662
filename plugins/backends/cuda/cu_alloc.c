/* cu_alloc.c: the caching allocator of cu_alloc.h. Live blocks sit in an array sorted by
 * address (binary search serves free() and the "is this our memory" checks); freed blocks go
 * to a stack per size class and are handed out again before the raw allocator is asked.
 * It only does bookkeeping: it never reads or writes the memory it manages. */
#include <stdlib.h>
#include <string.h>

#include "cu_alloc.h"

#define CU_MIN_CLASS ((size_t)512)
#define CU_BIG ((size_t)64 << 20)
#define CU_BIG_STEP ((size_t)2 << 20)

void cu_alloc_init(cu_alloc *a, void *(*raw_alloc)(void *, size_t), void (*raw_free)(void *, void *),
                   void *ctx, size_t raw_align)
{
    memset(a, 0, sizeof *a);
    a->raw_alloc = raw_alloc;
    a->raw_free = raw_free;
    a->ctx = ctx;
    a->raw_align = raw_align ? raw_align : 1;
}

size_t cu_alloc_class(size_t bytes)
{
    if (bytes <= CU_MIN_CLASS)
        return CU_MIN_CLASS;
    if (bytes >= CU_BIG) {
        if (bytes > SIZE_MAX - CU_BIG_STEP)
            return bytes;
        return (bytes + CU_BIG_STEP - 1) / CU_BIG_STEP * CU_BIG_STEP;
    }
    /* the highest power of two below bytes, then 8 steps up to the next one */
    size_t top = CU_MIN_CLASS;
    while (top * 2 < bytes)
        top *= 2;
    size_t step = top / 8 < CU_MIN_CLASS ? CU_MIN_CLASS : top / 8;
    return (bytes + step - 1) / step * step;
}

static cu_free_list *list_of(cu_alloc *a, size_t size, int create)
{
    int lo = 0, hi = a->n_lists;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (a->lists[mid].size < size)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->n_lists && a->lists[lo].size == size)
        return &a->lists[lo];
    if (!create)
        return NULL;
    if (a->n_lists == a->cap_lists) {
        int cap = a->cap_lists ? 2 * a->cap_lists : 16;
        cu_free_list *l = realloc(a->lists, sizeof *l * (size_t)cap);
        if (!l)
            return NULL;
        a->lists = l;
        a->cap_lists = cap;
    }
    memmove(&a->lists[lo + 1], &a->lists[lo], sizeof *a->lists * (size_t)(a->n_lists - lo));
    memset(&a->lists[lo], 0, sizeof a->lists[lo]);
    a->lists[lo].size = size;
    a->n_lists++;
    return &a->lists[lo];
}

/* index of the first live block whose user address is >= p */
static int live_lower(const cu_alloc *a, uintptr_t p)
{
    int lo = 0, hi = a->n_live;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (a->live[mid].user < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void cu_alloc_trim(cu_alloc *a)
{
    for (int i = 0; i < a->n_lists; i++) {
        cu_free_list *l = &a->lists[i];
        for (int k = 0; k < l->n; k++) {
            a->raw_free(a->ctx, l->raw[k]);
            a->stats.raw_frees++;
            a->stats.cached -= l->size;
        }
        l->total -= l->n;
        l->n = 0;
    }
}

void *cu_alloc_get(cu_alloc *a, size_t bytes, size_t align)
{
    if (!bytes)
        bytes = 1;
    if (!align || (align & (align - 1)))
        return NULL;
    size_t extra = align > a->raw_align ? align : 0;
    if (bytes > SIZE_MAX - extra - CU_BIG_STEP)
        return NULL;
    size_t size = cu_alloc_class(bytes + extra);
    /* room in the live array first: a block must never be lost for want of a slot */
    if (a->n_live == a->cap_live) {
        int cap = a->cap_live ? 2 * a->cap_live : 64;
        cu_block *l = realloc(a->live, sizeof *l * (size_t)cap);
        if (!l)
            return NULL;
        a->live = l;
        a->cap_live = cap;
    }
    cu_free_list *list = list_of(a, size, 1);
    if (!list)
        return NULL;
    void *raw = NULL;
    if (list->n > 0) {
        raw = list->raw[--list->n];
        a->stats.cached -= size;
        a->stats.hits++;
    } else {
        /* the list's stack must be able to take every block of the class back */
        if (list->total + 1 > list->cap) {
            int cap = list->cap ? 2 * list->cap : 4;
            void **r = realloc(list->raw, sizeof *r * (size_t)cap);
            if (!r)
                return NULL;
            list->raw = r;
            list->cap = cap;
        }
        raw = a->raw_alloc(a->ctx, size);
        if (!raw && a->stats.cached > 0) {
            cu_alloc_trim(a);
            a->stats.retries++;
            raw = a->raw_alloc(a->ctx, size);
        }
        if (!raw)
            return NULL;
        a->stats.raw_allocs++;
        list->total++;
    }
    uintptr_t user = (uintptr_t)raw;
    if (extra)
        user = (user + align - 1) & ~(uintptr_t)(align - 1);
    int at = live_lower(a, user);
    memmove(&a->live[at + 1], &a->live[at], sizeof *a->live * (size_t)(a->n_live - at));
    a->live[at] = (cu_block){.user = user, .raw = raw, .size = size, .request = bytes};
    a->n_live++;
    a->stats.live = a->n_live;
    a->stats.in_use += size;
    a->stats.requested += bytes;
    if (a->stats.in_use > a->stats.peak)
        a->stats.peak = a->stats.in_use;
    return (void *)user;
}

int cu_alloc_put(cu_alloc *a, void *p)
{
    if (!p)
        return 0;
    int at = live_lower(a, (uintptr_t)p);
    if (at == a->n_live || a->live[at].user != (uintptr_t)p) {
        a->stats.bad_frees++;
        return -1;
    }
    cu_block b = a->live[at];
    memmove(&a->live[at], &a->live[at + 1], sizeof *a->live * (size_t)(a->n_live - at - 1));
    a->n_live--;
    a->stats.live = a->n_live;
    a->stats.in_use -= b.size;
    a->stats.requested -= b.request;
    /* get() made room in this stack when the block was first allocated */
    cu_free_list *list = list_of(a, b.size, 0);
    if (list && list->n < list->cap) {
        list->raw[list->n++] = b.raw;
        a->stats.cached += b.size;
    } else { /* cannot happen while total is kept: the block goes back rather than leaking */
        a->raw_free(a->ctx, b.raw);
        a->stats.raw_frees++;
        if (list)
            list->total--;
    }
    return 0;
}

const cu_block *cu_alloc_find(const cu_alloc *a, const void *p, size_t bytes)
{
    uintptr_t u = (uintptr_t)p;
    int at = live_lower(a, u + 1); /* first block starting after p */
    if (at == 0)
        return NULL;
    const cu_block *b = &a->live[at - 1];
    if (u < b->user || bytes > b->request || u - b->user > b->request - bytes)
        return NULL;
    return b;
}

void cu_alloc_destroy(cu_alloc *a)
{
    cu_alloc_trim(a);
    for (int i = 0; i < a->n_live; i++) {
        a->raw_free(a->ctx, a->live[i].raw);
        a->stats.raw_frees++;
    }
    for (int i = 0; i < a->n_lists; i++)
        free(a->lists[i].raw);
    free(a->lists);
    free(a->live);
    a->lists = NULL;
    a->live = NULL;
    a->n_lists = a->cap_lists = a->n_live = a->cap_live = 0;
    a->stats.in_use = a->stats.requested = 0;
    a->stats.live = 0;
}
