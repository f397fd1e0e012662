/* k_eltwise.cu: the elementwise kernels of the CUDA pack: activations (forward with an
 * optional per-channel bias, backward with each CPU plugin's formula), sums and fan-outs,
 * concat, softmax, zero padding and per-channel sums. Float arithmetic in the CPU plugins'
 * order, so results stay within an ulp or two of theirs. */
#include "k_util.cuh"

#define GELU_RSQRT2 0.70710678118654752f   /* 1 / sqrt(2) */
#define GELU_RSQRT2PI 0.39894228040143268f /* 1 / sqrt(2 pi) */
#define GELU_K0 0.79788456080286536f       /* sqrt(2 / pi) */
#define GELU_K1 0.044715f

__device__ static float act_forward(int act, float v, float alpha)
{
    switch (act) {
    case K_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case K_ACT_TANH: return tanhf(v);
    case K_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case K_ACT_GELU: return 0.5f * v * (1.0f + erff(v * GELU_RSQRT2));
    case K_ACT_GELU_TANH: {
        float u = GELU_K0 * (v + GELU_K1 * v * v * v);
        return 0.5f * v * (1.0f + tanhf(u));
    }
    case K_ACT_LEAKY: return v > 0.0f ? v : alpha * v;
    case K_ACT_ELU: return v > 0.0f ? v : alpha * expm1f(v);
    default: return v;
    }
}

/* dLoss/dx from g, the input (or pre-activation) x and the output y */
__device__ static float act_backward(int act, float x, float y, float g, float alpha)
{
    switch (act) {
    case K_ACT_RELU: return x > 0.0f ? g : 0.0f;
    case K_ACT_TANH: return g * (1.0f - y * y);
    case K_ACT_SIGMOID: return g * y * (1.0f - y);
    case K_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * GELU_RSQRT2));
        float pdf = GELU_RSQRT2PI * expf(-0.5f * x * x);
        return g * (cdf + x * pdf);
    }
    case K_ACT_GELU_TANH: {
        float x2 = x * x;
        float t = tanhf(GELU_K0 * (x + GELU_K1 * x2 * x));
        float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x2);
        return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
    case K_ACT_LEAKY: return x > 0.0f ? g : alpha * g;
    case K_ACT_ELU: return x > 0.0f ? g : g * (y + alpha);
    default: return g;
    }
}

__global__ void k_act_run(k_act a)
{
    K_FOR(i, a.n)
    {
        if (a.backward) {
            a.out[i] = act_backward(a.act, a.x ? a.x[i] : 0.0f, a.y ? a.y[i] : 0.0f, a.g[i],
                                    a.alpha);
            continue;
        }
        float v = a.x[i];
        if (a.bias)
            v += a.bias[(i / a.inner) % a.channels];
        if (a.z)
            a.z[i] = v;
        a.out[i] = act_forward(a.act, v, a.alpha);
    }
}

__global__ void k_multi_run(k_multi a)
{
    K_FOR(i, a.n)
    {
        switch (a.op) {
        case K_MULTI_SUM: {
            float v = a.x[0][i] + a.x[1][i];
            for (int k = 2; k < a.n_in; k++)
                v += a.x[k][i];
            a.out[0][i] = v;
            break;
        }
        case K_MULTI_MUL: a.out[0][i] = a.x[0][i] * a.x[1][i]; break;
        default:
            for (int k = 0; k < a.n_in; k++)
                if (a.out[k])
                    a.out[k][i] = a.x[0][i];
        }
    }
}

__global__ void k_concat_run(k_concat a)
{
    K_FOR(idx, a.outer * a.out_chunk)
    {
        int64_t o = idx / a.out_chunk, j = idx % a.out_chunk;
        int k = 0;
        while (k + 1 < a.n_in && j >= a.chunk[k]) {
            j -= a.chunk[k];
            k++;
        }
        if (!a.backward)
            a.out[0][idx] = a.x[k][o * a.chunk[k] + j];
        else if (a.out[k])
            a.out[k][o * a.chunk[k] + j] = a.x[0][idx];
    }
}

__global__ void k_softmax_run(k_softmax a)
{
    K_FOR(s, a.outer * a.inner)
    {
        int64_t base = s / a.inner * a.len * a.inner + s % a.inner, st = a.inner;
        if (a.backward) {
            float dot = 0.0f;
            for (int64_t k = 0; k < a.len; k++)
                dot += a.g[base + k * st] * a.y[base + k * st];
            for (int64_t k = 0; k < a.len; k++)
                a.out[base + k * st] = a.y[base + k * st] * (a.g[base + k * st] - dot);
            continue;
        }
        float m = a.x[base];
        for (int64_t k = 1; k < a.len; k++)
            m = a.x[base + k * st] > m ? a.x[base + k * st] : m;
        float sum = 0.0f;
        for (int64_t k = 0; k < a.len; k++) {
            float e = expf(a.x[base + k * st] - m);
            a.out[base + k * st] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int64_t k = 0; k < a.len; k++)
            a.out[base + k * st] *= inv;
    }
}

__global__ void k_pad_run(k_pad a)
{
    if (a.crop) {
        K_FOR(i, a.planes * a.h * a.w)
        {
            int64_t p = i / (a.h * a.w), r = i % (a.h * a.w) / a.w, c = i % a.w;
            a.dst[i] = a.src[(p * a.hp + r + a.top) * a.wp + c + a.left];
        }
        return;
    }
    K_FOR(i, a.planes * a.hp * a.wp)
    {
        int64_t p = i / (a.hp * a.wp), r = i % (a.hp * a.wp) / a.wp - a.top,
                c = i % a.wp - a.left;
        a.dst[i] = r >= 0 && r < a.h && c >= 0 && c < a.w ? a.src[(p * a.h + r) * a.w + c] : 0.0f;
    }
}

/* one block per channel, the sum in a fixed order */
__global__ void k_chansum_run(k_chansum a)
{
    int64_t c = blockIdx.x, m = a.n * a.inner;
    double acc = 0;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
        int64_t n = k / a.inner, i = k % a.inner;
        acc += a.x[(n * a.channels + c) * a.inner + i];
    }
    double r = k_block_sum(acc);
    if (threadIdx.x == 0)
        a.out[c] = (float)r;
}

extern "C" const void *k_eltwise_fn(int which)
{
    switch (which) {
    case K_ELT_ACT: return (const void *)k_act_run;
    case K_ELT_MULTI: return (const void *)k_multi_run;
    case K_ELT_CONCAT: return (const void *)k_concat_run;
    case K_ELT_SOFTMAX: return (const void *)k_softmax_run;
    case K_ELT_PAD: return (const void *)k_pad_run;
    case K_ELT_CHANSUM: return (const void *)k_chansum_run;
    default: return 0;
    }
}
