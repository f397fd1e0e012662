/* test_alloc.c: the CUDA pack's caching allocator (cu_alloc.c) over a counting malloc, so its
 * bookkeeping is checked without a GPU: size classes, reuse without new raw allocations in a
 * repeating pattern, alignment, ownership lookups, bad frees, the retry after emptying the
 * cache when the device is full, and that destroy gives everything back. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "cu_alloc.h"

typedef struct fake_dev {
    size_t limit, held;
    int allocs, frees;
} fake_dev;

/* a device of `limit` bytes; blocks carry their size in a header kept outside the block */
static void *fake_alloc(void *ctx, size_t bytes)
{
    fake_dev *f = ctx;
    if (f->held + bytes > f->limit)
        return NULL;
    size_t *p = malloc(bytes + 16);
    if (!p)
        return NULL;
    p[0] = bytes;
    f->held += bytes;
    f->allocs++;
    return (char *)p + 16;
}

static void fake_free(void *ctx, void *p)
{
    fake_dev *f = ctx;
    size_t *h = (size_t *)((char *)p - 16);
    f->held -= h[0];
    f->frees++;
    free(h);
}

static fake_dev dev;
static cu_alloc a;

static void setup(void)
{
    dev = (fake_dev){.limit = (size_t)1 << 40};
    cu_alloc_init(&a, fake_alloc, fake_free, &dev, 16);
}

static void teardown(void)
{
    cu_alloc_destroy(&a);
}

TestSuite(cu_alloc, .init = setup, .fini = teardown);

Test(cu_alloc, classes_waste_at_most_an_eighth_and_grow_with_the_request)
{
    cr_assert_eq(cu_alloc_class(0), 512);
    cr_assert_eq(cu_alloc_class(1), 512);
    cr_assert_eq(cu_alloc_class(512), 512);
    cr_assert_eq(cu_alloc_class(513), 1024);
    cr_assert_eq(cu_alloc_class(4097), 4608); /* 4096 + 4096/8 */
    cr_assert_eq(cu_alloc_class((size_t)64 << 20), (size_t)64 << 20);
    cr_assert_eq(cu_alloc_class(((size_t)64 << 20) + 1), ((size_t)66 << 20));
    size_t prev = 0;
    for (size_t b = 1; b < ((size_t)300 << 20); b = b * 3 / 2 + 7) {
        size_t c = cu_alloc_class(b);
        cr_assert_geq(c, b);
        cr_assert_geq(c, prev, "classes must not shrink: %zu -> %zu at %zu", prev, c, b);
        if (b > 4096)
            cr_assert_leq((double)(c - b), b / 8.0 + ((size_t)2 << 20) * (b >= ((size_t)64 << 20)),
                          "class %zu wastes too much for %zu", c, b);
        prev = c;
    }
}

Test(cu_alloc, a_repeating_pattern_stops_asking_the_device_after_its_first_round)
{
    static const size_t sizes[] = {100, 4000, 4000, 100000, 784 * 128 * 4, 17, 3 << 20};
    void *p[sizeof sizes / sizeof *sizes];
    int n = (int)(sizeof sizes / sizeof *sizes), first_round = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < n; i++) {
            p[i] = cu_alloc_get(&a, sizes[i], 64);
            cr_assert_not_null(p[i]);
        }
        if (round == 0)
            first_round = dev.allocs;
        for (int i = n - 1; i >= 0; i--)
            cr_assert_eq(cu_alloc_put(&a, p[i]), 0);
    }
    cr_assert_eq(first_round, n);
    cr_assert_eq(dev.allocs, n, "later rounds must be served from the free lists");
    cr_assert_eq(a.stats.raw_allocs, (uint64_t)n);
    cr_assert_eq(a.stats.hits, (uint64_t)(4 * n));
    cr_assert_eq(a.stats.in_use, 0);
    cr_assert_eq(a.stats.live, 0);
    cr_assert_eq(a.stats.cached, dev.held);
}

Test(cu_alloc, a_freed_block_is_handed_out_again_for_the_same_class)
{
    void *x = cu_alloc_get(&a, 1000, 64);
    cr_assert_eq(cu_alloc_put(&a, x), 0);
    void *y = cu_alloc_get(&a, 1020, 64); /* same class (1024) */
    cr_assert_eq(y, x);
    void *z = cu_alloc_get(&a, 2000, 64); /* another class: a new block */
    cr_assert_neq(z, x);
    cr_assert_eq(dev.allocs, 2);
}

Test(cu_alloc, pointers_are_aligned_as_asked_even_beyond_the_raw_alignment)
{
    static const size_t aligns[] = {64, 256, 1024, 4096};
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 8; k++) {
            char *p = cu_alloc_get(&a, 1000 + 37 * (size_t)k, aligns[i]);
            cr_assert_not_null(p);
            cr_assert_eq((uintptr_t)p % aligns[i], 0, "%p not aligned to %zu", (void *)p,
                         aligns[i]);
            p[0] = 1; /* the bytes are really there (the raw block covers the request) */
            p[999 + 37 * k] = 1;
        }
    }
    cr_assert_null(cu_alloc_get(&a, 100, 48), "a non-power-of-two alignment is refused");
}

Test(cu_alloc, find_accepts_interior_ranges_of_live_blocks_only)
{
    char *p = cu_alloc_get(&a, 1000, 64), *q = cu_alloc_get(&a, 5000, 64);
    cr_assert_eq(cu_alloc_find(&a, p, 1000)->user, (uintptr_t)p);
    cr_assert_not_null(cu_alloc_find(&a, p + 500, 500));
    cr_assert_null(cu_alloc_find(&a, p + 500, 501), "past the request's end");
    cr_assert_null(cu_alloc_find(&a, p - 1, 1));
    cr_assert_eq(cu_alloc_find(&a, q + 4999, 1)->user, (uintptr_t)q);
    cr_assert_not_null(cu_alloc_find(&a, q + 5000, 0), "an empty range at the end");
    char host[16];
    cr_assert_null(cu_alloc_find(&a, host, 4), "host memory is not ours");
    cu_alloc_put(&a, p);
    cr_assert_null(cu_alloc_find(&a, p, 4), "a freed block is not live");
}

Test(cu_alloc, a_bad_free_is_counted_and_frees_nothing)
{
    char *p = cu_alloc_get(&a, 1000, 64);
    int host;
    cr_assert_eq(cu_alloc_put(&a, &host), -1);
    cr_assert_eq(cu_alloc_put(&a, p + 64), -1, "an interior pointer is not a block");
    cr_assert_eq(cu_alloc_put(&a, NULL), 0);
    cr_assert_eq(a.stats.bad_frees, 2);
    cr_assert_eq(a.stats.live, 1);
    cr_assert_eq(cu_alloc_put(&a, p), 0);
    cr_assert_eq(cu_alloc_put(&a, p), -1, "a double free is refused");
    cr_assert_eq(a.stats.bad_frees, 3);
}

Test(cu_alloc, a_full_device_gets_the_cache_back_before_the_request_fails)
{
    dev.limit = 10 << 20;
    void *big = cu_alloc_get(&a, 6 << 20, 16); /* 16: the fake's own alignment */
    cr_assert_not_null(big);
    cu_alloc_put(&a, big); /* cached: the device still holds 6 MiB */
    cr_assert_eq(dev.held, (size_t)6 << 20);
    void *other = cu_alloc_get(&a, 7 << 20, 16); /* another class: needs the cache back */
    cr_assert_not_null(other);
    cr_assert_eq(a.stats.retries, 1);
    cr_assert_eq(a.stats.cached, 0);
    cr_assert_null(cu_alloc_get(&a, 8 << 20, 16), "really out of memory");
    cr_assert_eq(a.stats.live, 1);
}

Test(cu_alloc, stats_follow_use_and_peak)
{
    void *x = cu_alloc_get(&a, 3000, 64), *y = cu_alloc_get(&a, 100, 64);
    cr_assert_eq(a.stats.in_use, cu_alloc_class(3000) + 512);
    cr_assert_eq(a.stats.requested, 3100);
    size_t peak = a.stats.in_use;
    cu_alloc_put(&a, x);
    cr_assert_eq(a.stats.in_use, 512);
    cr_assert_eq(a.stats.cached, cu_alloc_class(3000));
    cr_assert_eq(a.stats.peak, peak);
    cu_alloc_put(&a, y);
}

Test(cu_alloc, destroy_gives_every_block_back)
{
    for (int i = 0; i < 100; i++)
        cu_alloc_get(&a, (size_t)(i * 997 + 1), 64);
    for (int i = 0; i < 10; i++)
        cu_alloc_put(&a, (void *)a.live[a.n_live - 1].user);
    cu_alloc_destroy(&a);
    cr_assert_eq(dev.allocs, dev.frees);
    cr_assert_eq(dev.held, 0);
    cu_alloc_init(&a, fake_alloc, fake_free, &dev, 16); /* for teardown */
}
