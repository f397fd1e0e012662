/* cu_alloc.h: the CUDA pack's caching allocator: device memory handed out in size classes and
 * kept in per-class free lists after free, so that a run asks cudaMalloc only while it grows.
 * Plain C over two callbacks (the real ones call cudaMalloc/cudaFree; tests pass malloc), it
 * never touches the memory it manages and is used from one thread (the backend contract). */
#ifndef NN_CU_ALLOC_H
#define NN_CU_ALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct cu_alloc_stats {
    size_t in_use;     /* bytes of live blocks (their classes, not the requests) */
    size_t requested;  /* bytes the live blocks were asked for */
    size_t cached;     /* bytes of freed blocks kept for reuse */
    size_t peak;       /* largest in_use seen */
    uint64_t raw_allocs, raw_frees; /* calls of the raw callbacks that succeeded */
    uint64_t hits;     /* requests served from a free list */
    uint64_t retries;  /* raw allocations retried after the cache was emptied */
    uint64_t bad_frees; /* frees of pointers this allocator never handed out */
    int live;          /* live blocks */
} cu_alloc_stats;

typedef struct cu_block {
    uintptr_t user;   /* what alloc returned */
    void *raw;        /* what the raw callback returned */
    size_t size;      /* the block's class size (>= the request) */
    size_t request;   /* bytes asked for */
} cu_block;

typedef struct cu_free_list {
    size_t size; /* class size */
    void **raw;  /* stack of free raw blocks of this class */
    int n, cap;
    int total;   /* blocks of this class in existence, live or free (cap >= total) */
} cu_free_list;

typedef struct cu_alloc {
    void *(*raw_alloc)(void *ctx, size_t bytes); /* NULL when out of memory */
    void (*raw_free)(void *ctx, void *p);
    void *ctx;
    size_t raw_align;  /* alignment every raw block has (256 for cudaMalloc) */
    cu_block *live;    /* sorted by user address */
    int n_live, cap_live;
    cu_free_list *lists; /* sorted by size */
    int n_lists, cap_lists;
    cu_alloc_stats stats;
} cu_alloc;

/* raw_align: the alignment the raw callback guarantees (a power of two) */
void cu_alloc_init(cu_alloc *a, void *(*raw_alloc)(void *, size_t), void (*raw_free)(void *, void *),
                   void *ctx, size_t raw_align);
/* Frees every block, live or cached, through raw_free; the allocator may be initialised again. */
void cu_alloc_destroy(cu_alloc *a);

/* The class a request of `bytes` is served from: 512-byte minimum, 8 classes per power of two
 * below 64 MiB (at most 12.5% unused), multiples of 2 MiB above. */
size_t cu_alloc_class(size_t bytes);

/* bytes (0 counts as 1) aligned to align (a power of two); NULL when the raw allocator fails
 * even after the cache was given back, or when host memory for the bookkeeping runs out. */
void *cu_alloc_get(cu_alloc *a, size_t bytes, size_t align);
/* Returns a block to its class's free list. 0, or -1 for a pointer that is not the start of a
 * live block (counted in bad_frees, nothing freed). NULL is ignored (0). */
int cu_alloc_put(cu_alloc *a, void *p);
/* The live block that holds [p, p + bytes), or NULL: for checks that a tensor is this
 * device's memory. */
const cu_block *cu_alloc_find(const cu_alloc *a, const void *p, size_t bytes);
/* Gives every cached block back to the raw allocator (done by get before it fails). */
void cu_alloc_trim(cu_alloc *a);

#endif
