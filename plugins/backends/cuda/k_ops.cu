/* k_ops.cu: the kernels behind the backend's nn_device_ops (cu_ops.c launches them): vector
 * add/scale/clamp, the two-stage norm accumulation, the first non-finite element and the
 * classification counts, each following backend.h's rules for NaN, infinities and ties. */
#include "k_util.cuh"

__global__ void k_vec_run(k_vec a)
{
    K_FOR(i, a.n)
    {
        switch (a.op) {
        case K_VEC_ADD: a.y[i] += a.x[i]; break;
        case K_VEC_SCALE: a.y[i] *= a.s; break;
        case K_VEC_CLAMP: {
            float v = a.y[i]; /* NaN compares false both ways and stays NaN, as on the host */
            a.y[i] = v < a.lo ? a.lo : (v > a.hi ? a.hi : v);
            break;
        }
        default: a.y[i] = a.x[i];
        }
    }
}

/* block b sums (or NaN-max-es) its share of x into partial[b] */
__global__ void k_norm_partial(k_norm a)
{
    double acc = 0;
    K_FOR(i, a.n)
    {
        double v = a.x[i];
        if (a.inf)
            acc = k_nanmax(acc, fabs(v));
        else
            acc += v * v;
    }
    double r = a.inf ? k_block_nanmax(acc) : k_block_sum(acc);
    if (threadIdx.x == 0)
        a.partial[blockIdx.x] = r;
}

/* one block: the partials in index order into *acc */
__global__ void k_norm_final(k_norm a)
{
    double acc = 0;
    for (int b = threadIdx.x; b < a.blocks; b += blockDim.x)
        acc = a.inf ? k_nanmax(acc, a.partial[b]) : acc + a.partial[b];
    double r = a.inf ? k_block_nanmax(acc) : k_block_sum(acc);
    if (threadIdx.x == 0)
        *a.acc = a.inf ? k_nanmax(*a.acc, r) : *a.acc + r;
}

__global__ void k_nonfinite_run(k_nonfinite a)
{
    K_FOR(i, a.n)
    {
        if (!isfinite(a.x[i]))
            atomicMin(a.first, (unsigned long long)i);
    }
}

/* the first index of the largest value: NaN never wins (comparisons with it are false), ties
 * go to the lower index, as the host's count */
__device__ static int64_t argmax_row(const float *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t k = 1; k < c; k++)
        if (row[k] > row[best])
            best = k;
    return best;
}

/* one block; thread t takes rows t, t + K_REDUCE, ... */
__global__ void k_count_run(k_count a)
{
    long long correct = 0, in_top = 0;
    for (int64_t r = threadIdx.x; r < a.rows; r += blockDim.x) {
        const float *row = a.pred + r * a.classes;
        int64_t best = argmax_row(row, a.classes);
        int64_t t = a.soft ? argmax_row((const float *)a.target + r * a.classes, a.classes)
                           : ((const int32_t *)a.target)[r];
        if (t < 0 || t >= a.classes)
            continue;
        correct += best == t;
        int64_t above = 0;
        for (int64_t c = 0; c < a.classes; c++)
            above += row[c] > row[t];
        in_top += above < a.top_k;
    }
    long long c = k_block_sum(correct), k = k_block_sum(in_top);
    if (threadIdx.x == 0) {
        a.out[0] = (double)c;
        if (a.top_k > 0)
            a.out[1] = (double)k;
    }
}

extern "C" const void *k_ops_fn(int which)
{
    switch (which) {
    case K_OPS_VEC: return (const void *)k_vec_run;
    case K_OPS_NORM_PARTIAL: return (const void *)k_norm_partial;
    case K_OPS_NORM_FINAL: return (const void *)k_norm_final;
    case K_OPS_NONFINITE: return (const void *)k_nonfinite_run;
    case K_OPS_COUNT: return (const void *)k_count_run;
    default: return 0;
    }
}
