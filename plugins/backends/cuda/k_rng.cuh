/* k_rng.cuh: nntrain's counter-derived stream (sdk/include/nntrain/rng.h: splitmix64 seeding,
 * xoshiro256**) for device and host code alike, so a kernel draws exactly the numbers a CPU
 * plugin draws from the same (seed, a, b, c). Keep it equal to rng.h to the bit. */
#ifndef NN_K_RNG_CUH
#define NN_K_RNG_CUH

#include <stdint.h>

typedef struct k_rng {
    uint64_t s[4];
} k_rng;

__host__ __device__ inline uint64_t k_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__host__ __device__ inline void k_rng_init(k_rng *r, uint64_t seed, uint64_t a, uint64_t b,
                                           uint64_t c)
{
    uint64_t x = seed;
    uint64_t h = k_splitmix64(&x) ^ a;
    h = k_splitmix64(&h) ^ b;
    h = k_splitmix64(&h) ^ c;
    for (int i = 0; i < 4; i++)
        r->s[i] = k_splitmix64(&h);
}

__host__ __device__ inline uint64_t k_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

__host__ __device__ inline uint64_t k_rng_u64(k_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = k_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = k_rotl(s[3], 45);
    return result;
}

#endif
