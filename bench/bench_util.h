/* bench_util.h: what the benchmarks share: a monotonic clock and the order for medians.
 * Benchmarks only; never part of nntrain. */
#ifndef NN_BENCH_UTIL_H
#define NN_BENCH_UTIL_H

#include <time.h>

static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* qsort order of doubles */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
