/* k_pool.cu: 2-D max and average pooling (floor mode) and the global average. Max pooling
 * keeps the first largest tap of a window (a later one wins only when strictly greater, NaN
 * never) as the CPU's kernels; both backward passes gather, for each input element, the
 * windows that cover it in output order, so sums are deterministic and need no atomics. */
#include <float.h>

#include "k_util.cuh"

__global__ void k_pool_forward(k_pool a)
{
    K_FOR(o, a.planes * a.oh * a.ow)
    {
        int64_t p = o / (a.oh * a.ow), i = o % (a.oh * a.ow) / a.ow, j = o % a.ow;
        const float *xp = a.x + p * a.h * a.w;
        int64_t h0 = i * a.sh - a.ph, w0 = j * a.sw - a.pw;
        float best = -FLT_MAX, sum = 0.0f;
        int32_t at = -1;
        int count = 0;
        for (int ki = 0; ki < a.kh; ki++) {
            int64_t ih = h0 + ki;
            if (ih < 0 || ih >= a.h)
                continue;
            for (int kj = 0; kj < a.kw; kj++) {
                int64_t iw = w0 + kj;
                if (iw < 0 || iw >= a.w)
                    continue;
                float v = xp[ih * a.w + iw];
                sum += v;
                count++;
                if (at < 0 || v > best) { /* the first tap, then only a strictly larger one */
                    at = (int32_t)(ih * a.w + iw);
                    best = v > best ? v : best;
                }
            }
        }
        if (a.mode == K_POOL_MAX) {
            a.y[o] = best;
            if (a.arg)
                a.arg[o] = at;
        } else {
            a.y[o] = sum / (float)(a.include_pad ? a.kh * a.kw : (count ? count : 1));
        }
    }
}

/* the windows along one axis that hold input position x: [*lo, *hi) */
__device__ static void covering(int64_t x, int64_t pad, int k, int s, int64_t out, int64_t *lo,
                                int64_t *hi)
{
    int64_t first = x + pad - k + 1; /* the lowest window start that still reaches x */
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    int64_t last = (x + pad) / s;
    *hi = last + 1 < out ? last + 1 : out;
}

__global__ void k_pool_backward(k_pool a)
{
    K_FOR(e, a.planes * a.h * a.w)
    {
        int64_t p = e / (a.h * a.w), ih = e % (a.h * a.w) / a.w, iw = e % a.w;
        int64_t i0, i1, j0, j1;
        covering(ih, a.ph, a.kh, a.sh, a.oh, &i0, &i1);
        covering(iw, a.pw, a.kw, a.sw, a.ow, &j0, &j1);
        const float *g = a.g + p * a.oh * a.ow;
        float acc = 0.0f;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) {
                int64_t o = i * a.ow + j;
                if (a.mode == K_POOL_MAX) {
                    if (a.arg[p * a.oh * a.ow + o] == (int32_t)(ih * a.w + iw))
                        acc += g[o];
                    continue;
                }
                int count = a.kh * a.kw;
                if (!a.include_pad) {
                    int64_t h0 = i * a.sh - a.ph, w0 = j * a.sw - a.pw;
                    int64_t hh = (h0 + a.kh < a.h ? h0 + a.kh : a.h) - (h0 > 0 ? h0 : 0);
                    int64_t ww = (w0 + a.kw < a.w ? w0 + a.kw : a.w) - (w0 > 0 ? w0 : 0);
                    count = (int)(hh * ww);
                }
                acc += g[o] / (float)(count ? count : 1);
            }
        a.gx[e] = acc;
    }
}

__global__ void k_gap_run(k_gap a)
{
    if (a.backward) {
        K_FOR(e, a.planes * a.hw)
        a.gx[e] = a.g[e / a.hw] / (float)a.hw;
        return;
    }
    /* K_REDUCE threads per block, a block per plane: a fixed-order sum */
    for (int64_t p = blockIdx.x; p < a.planes; p += gridDim.x) {
        double acc = 0;
        for (int64_t k = threadIdx.x; k < a.hw; k += blockDim.x)
            acc += a.x[p * a.hw + k];
        double r = k_block_sum(acc);
        if (threadIdx.x == 0)
            a.y[p] = (float)(r / (double)a.hw);
    }
}

extern "C" const void *k_pool_fn(int which)
{
    switch (which) {
    case K_POOL_FWD: return (const void *)k_pool_forward;
    case K_POOL_BWD: return (const void *)k_pool_backward;
    case K_POOL_GLOBAL: return (const void *)k_gap_run;
    default: return 0;
    }
}
