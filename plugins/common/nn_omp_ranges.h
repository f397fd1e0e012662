/* nn_omp_ranges.h: [0, n) split into one contiguous range per OpenMP thread (the pool that
 * Debian's oneDNN runs on), for libnn_dnnl's own loops (nn_maxpool_blk.c, nn_conv_bwdw_blk.c).
 * On one thread, for one item or when the caller says the work is too small, a plain call:
 * libgomp allocates a team on every parallel region, even one of one thread, which the
 * benchmark saw as allocations per step. Header-only: the kernels' tests build their sources
 * alone. */
#ifndef NN_OMP_RANGES_H
#define NN_OMP_RANGES_H

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

typedef void nn_range_fn(void *ctx, int64_t begin, int64_t end);

static inline void nn_omp_ranges(int64_t n, int worth_threads, nn_range_fn *fn, void *ctx)
{
#ifdef _OPENMP
    if (worth_threads && n > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel
        {
            int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
            fn(ctx, n * t / k, n * (t + 1) / k);
        }
        return;
    }
#else
    (void)worth_threads;
#endif
    fn(ctx, 0, n);
}

#endif
