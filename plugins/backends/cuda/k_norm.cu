/* k_norm.cu: batch and layer normalisation. Statistics are summed in double in a fixed block
 * order (deterministic); batchnorm's running statistics are updated with the CPU plugin's
 * float operations, unfused, so they match it to the bit. */
#include "k_util.cuh"

/* one block (K_REDUCE threads) per channel */
__global__ void k_bn_run(k_bn a)
{
    int64_t c = blockIdx.x, M = a.n * a.inner;
#define BN_AT(k) (((k) / a.inner * a.channels + c) * a.inner + (k) % a.inner)
    if (a.mode == K_BN_BACKWARD) {
        double mean = a.mean[c], inv = 1.0 / sqrt((double)a.var[c] + (double)a.eps);
        double sdy = 0, sdyx = 0;
        for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
            int64_t e = BN_AT(k);
            sdy += a.g[e];
            sdyx += a.g[e] * (a.x[e] - mean) * inv;
        }
        sdy = k_block_sum(sdy);
        sdyx = k_block_sum(sdyx);
        if (threadIdx.x == 0 && a.gw) {
            a.gw[c] = (float)sdyx;
            a.gb[c] = (float)sdy;
        }
        if (!a.gx)
            return;
        double scale = (a.w ? a.w[c] : 1.0) * inv, dM = (double)M;
        for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
            int64_t e = BN_AT(k);
            double xhat = (a.x[e] - mean) * inv;
            a.gx[e] = (float)(scale * (a.g[e] - sdy / dM - xhat * sdyx / dM));
        }
        return;
    }
    float m, v;
    if (a.mode == K_BN_TRAIN) {
        double s = 0, q = 0;
        for (int64_t k = threadIdx.x; k < M; k += blockDim.x)
            s += a.x[BN_AT(k)];
        double mean = k_block_sum(s) / (double)M;
        for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
            double d = a.x[BN_AT(k)] - mean;
            q += d * d;
        }
        double var = k_block_sum(q) / (double)M;
        m = (float)mean;
        v = (float)var;
        if (threadIdx.x == 0) {
            a.mean[c] = m;
            a.var[c] = v;
            /* the CPU plugin's update: keep * running + momentum * batch, unbiased variance */
            a.rmean[c] = __fadd_rn(__fmul_rn(a.keep, a.rmean[c]), __fmul_rn(a.momentum, m));
            a.rvar[c] = __fadd_rn(__fmul_rn(a.keep, a.rvar[c]),
                                  __fmul_rn(__fmul_rn(a.momentum, v), a.unbias));
        }
    } else {
        m = a.rmean[c];
        v = a.rvar[c];
    }
    float inv = 1.0f / sqrtf(v + a.eps);
    float w = a.w ? a.w[c] : 1.0f, b = a.w ? a.b[c] : 0.0f;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        int64_t e = BN_AT(k);
        a.y[e] = (a.x[e] - m) * inv * w + b;
    }
#undef BN_AT
}

__global__ void k_ln_run(k_ln a)
{
    if (a.mode == K_LN_PARAM_GRAD) {
        K_FOR(j, a.d)
        {
            double gw = 0, gb = 0;
            for (int64_t r = 0; r < a.rows; r++) {
                double inv = 1.0 / sqrt((double)a.var[r] + (double)a.eps);
                double g = a.g[r * a.d + j];
                gw += g * (a.x[r * a.d + j] - a.mean[r]) * inv;
                gb += g;
            }
            a.gw[j] = (float)gw;
            a.gb[j] = (float)gb;
        }
        return;
    }
    /* one block (K_REDUCE threads) per row */
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *x = a.x + r * a.d;
        if (a.mode == K_LN_BACKWARD) {
            double mean = a.mean[r], inv = 1.0 / sqrt((double)a.var[r] + (double)a.eps);
            double s1 = 0, s2 = 0;
            for (int64_t j = threadIdx.x; j < a.d; j += blockDim.x) {
                double gw = (double)a.g[r * a.d + j] * (a.w ? a.w[j] : 1.0f);
                s1 += gw;
                s2 += gw * (x[j] - mean) * inv;
            }
            s1 = k_block_sum(s1);
            s2 = k_block_sum(s2);
            double dd = (double)a.d;
            for (int64_t j = threadIdx.x; j < a.d; j += blockDim.x) {
                double gw = (double)a.g[r * a.d + j] * (a.w ? a.w[j] : 1.0f);
                double xhat = (x[j] - mean) * inv;
                a.gx[r * a.d + j] = (float)(inv * (gw - s1 / dd - xhat * s2 / dd));
            }
            continue;
        }
        double s = 0, q = 0;
        for (int64_t j = threadIdx.x; j < a.d; j += blockDim.x)
            s += x[j];
        double mean = k_block_sum(s) / (double)a.d;
        for (int64_t j = threadIdx.x; j < a.d; j += blockDim.x)
            q += (x[j] - mean) * (x[j] - mean);
        double var = k_block_sum(q) / (double)a.d;
        float m = (float)mean, v = (float)var;
        if (threadIdx.x == 0 && a.mean) {
            a.mean[r] = m;
            a.var[r] = v;
        }
        float inv = 1.0f / sqrtf(v + a.eps);
        for (int64_t j = threadIdx.x; j < a.d; j += blockDim.x) {
            float y = (x[j] - m) * inv;
            a.y[r * a.d + j] = a.w ? y * a.w[j] + a.b[j] : y;
        }
    }
}

extern "C" const void *k_norm_fn(int which)
{
    switch (which) {
    case K_NORM_BN: return (const void *)k_bn_run;
    case K_NORM_LN: return (const void *)k_ln_run;
    default: return 0;
    }
}
