/* k_misc.cu: dropout and embedding. Dropout draws the CPU plugin's mask bit for bit (one
 * stream per batch row, two 32-bit draws per 64-bit number); embedding refuses ids out of
 * range by writing NaN rows and recording the first bad id, and sums the table gradient per
 * column in token order (deterministic, no atomics). */
#include "k_rng.cuh"
#include "k_util.cuh"

/* the mask of one batch row, exactly as plugins/layers/dropout.c draws it */
__host__ __device__ static void dropout_row(const k_dropout *a, int64_t r, float *mb)
{
    k_rng g;
    k_rng_init(&g, a->seed, a->stream, (uint64_t)r, 0);
    int64_t i = 0;
    for (; i + 1 < a->per; i += 2) {
        uint64_t u = k_rng_u64(&g);
        mb[i] = (u & 0xffffffffu) >= a->threshold ? a->scale : 0.0f;
        mb[i + 1] = (u >> 32) >= a->threshold ? a->scale : 0.0f;
    }
    if (i < a->per)
        mb[i] = (k_rng_u64(&g) & 0xffffffffu) >= a->threshold ? a->scale : 0.0f;
}

__global__ void k_dropout_run(k_dropout a)
{
    K_FOR(r, a.rows)
    {
        float *mb = a.mask + r * a.per;
        dropout_row(&a, r, mb);
        const float *x = a.x + r * a.per;
        float *y = a.y + r * a.per;
        for (int64_t i = 0; i < a.per; i++)
            y[i] = x[i] * mb[i];
    }
}

extern "C" void k_dropout_host(const k_dropout *a, float *mask)
{
    for (int64_t r = 0; r < a->rows; r++)
        dropout_row(a, r, mask + r * a->per);
}

__global__ void k_embed_run(k_embed a)
{
    if (!a.backward) {
        K_FOR(i, a.tokens * a.dim)
        {
            int64_t t = i / a.dim, j = i % a.dim;
            int32_t id = a.ids[t];
            if (id < 0 || id >= a.num) {
                if (j == 0)
                    k_report(a.err, a.site, K_ERR_TOKEN, id, t, a.num, a.per_row);
                a.y[i] = __int_as_float(0x7fc00000); /* NaN: never a silent wrong value */
            } else {
                a.y[i] = id == a.padding ? 0.0f : a.w[(int64_t)id * a.dim + j];
            }
        }
        return;
    }
    /* one thread per column: the tokens in order, as the CPU's loop adds them */
    K_FOR(j, a.dim)
    {
        for (int64_t t = 0; t < a.tokens; t++) {
            int32_t id = a.ids[t];
            if (id < 0 || id >= a.num) {
                if (j == 0)
                    k_report(a.err, a.site, K_ERR_TOKEN, id, t, a.num, a.per_row);
                continue;
            }
            if (id != a.padding)
                a.gw[(int64_t)id * a.dim + j] += a.g[t * a.dim + j];
        }
    }
}

extern "C" const void *k_misc_fn(int which)
{
    switch (which) {
    case K_MISC_DROPOUT: return (const void *)k_dropout_run;
    case K_MISC_EMBED: return (const void *)k_embed_run;
    default: return 0;
    }
}
