/* malloc_count.c: a preloadable counter of heap allocations (LD_PRELOAD=malloc_count.so) for
 * processes the benchmark cannot link against, such as PyTorch's Python: every malloc-family
 * call that returns a block adds one to nnbench_malloc_count(). Forwards to glibc's own
 * allocator; it never changes what the program gets. */
#define _GNU_SOURCE
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long count;

__attribute__((visibility("default"))) long nnbench_malloc_count(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

static void *counted(void *p)
{
    if (p)
        __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    return p;
}

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    return counted(__libc_malloc(n));
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t m)
{
    return counted(__libc_calloc(n, m));
}

/* growing or moving a block is an allocation too; shrinking to nothing is not */
__attribute__((visibility("default"))) void *realloc(void *q, size_t n)
{
    void *p = __libc_realloc(q, n);
    return n ? counted(p) : p;
}

__attribute__((visibility("default"))) void *memalign(size_t a, size_t n)
{
    return counted(__libc_memalign(a, n));
}

__attribute__((visibility("default"))) void *aligned_alloc(size_t a, size_t n)
{
    return counted(__libc_memalign(a, n));
}

__attribute__((visibility("default"))) int posix_memalign(void **out, size_t a, size_t n)
{
    void *p = counted(__libc_memalign(a, n));
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

__attribute__((visibility("default"))) void *valloc(size_t n)
{
    return counted(__libc_memalign(4096, n));
}
