/* bench_util.h: what the benchmarks share: a monotonic clock, the order for medians, and
 * ending on a failed oneDNN call. Benchmarks only; never part of nntrain. */
#ifndef NN_BENCH_UTIL_H
#define NN_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ends the benchmark PROG naming the call x when it does not return 0 (dnnl_success) */
#define BENCH_TRY(prog, x)                                                    \
    do {                                                                      \
        int st_ = (int)(x);                                                   \
        if (st_ != 0) {                                                       \
            fprintf(stderr, "%s: %s failed (%d)\n", prog, #x, st_);           \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

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
