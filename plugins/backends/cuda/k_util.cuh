/* k_util.cuh: what the pack's .cu files share: grid-stride loops, deterministic block
 * reductions (a fixed tree, so a sum never depends on timing) and claiming the error record.
 * Device code only; included by .cu files, never by the C side. */
#ifndef NN_K_UTIL_CUH
#define NN_K_UTIL_CUH

#include <stdint.h>

#include "k_args.h"

/* every index in [0, n) once, spread over the whole grid */
#define K_FOR(i, n)                                                                      \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
         i += (int64_t)gridDim.x * blockDim.x)

/* the sum of v over the block (K_REDUCE threads), in a fixed order; valid in thread 0 */
template <typename T> __device__ T k_block_sum(T v)
{
    __shared__ T s[K_REDUCE];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int w = K_REDUCE / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w)
            s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    T r = s[0];
    __syncthreads();
    return r;
}

/* NaN-sticky maximum (the host's norm_acc rule) */
__device__ inline double k_nanmax(double a, double b)
{
    return (a != a || b != b) ? __longlong_as_double(0x7ff8000000000000ll) : (a > b ? a : b);
}

__device__ inline double k_block_nanmax(double v)
{
    __shared__ double s[K_REDUCE];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int w = K_REDUCE / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w)
            s[threadIdx.x] = k_nanmax(s[threadIdx.x], s[threadIdx.x + w]);
        __syncthreads();
    }
    double r = s[0];
    __syncthreads();
    return r;
}

/* records the first error of a run; later ones are dropped (the first names the cause) */
__device__ inline void k_report(k_err *e, int32_t site, int32_t code, int32_t value,
                                int64_t index, int64_t limit, int64_t aux)
{
    if (!e || atomicCAS((int *)&e->set, 0, 1) != 0)
        return;
    e->site = site;
    e->code = code;
    e->value = value;
    e->index = index;
    e->limit = limit;
    e->aux = aux;
    __threadfence();
}

#endif
