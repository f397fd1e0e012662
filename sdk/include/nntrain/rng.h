/* rng.h: the counter-derived random streams every plugin uses.
 * A stream is a pure function of (seed, a, b, c), e.g. (run seed, epoch, sample index), so
 * results never depend on thread timing. Header-only: plugins need no library for it. */
#ifndef NNTRAIN_RNG_H
#define NNTRAIN_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** state; a plain value, copy it freely. */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;

static inline uint64_t nn_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seeds a stream from a seed and three stream coordinates. */
static inline void nn_rng_init(nn_rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = seed;
    uint64_t h = nn_splitmix64(&x) ^ a;
    h = nn_splitmix64(&h) ^ b;
    h = nn_splitmix64(&h) ^ c;
    for (int i = 0; i < 4; i++)
        r->s[i] = nn_splitmix64(&h);
}

static inline uint64_t nn_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t nn_rng_u64(nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = nn_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = nn_rng_rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) with 53 random bits */
static inline double nn_rng_uniform(nn_rng *r)
{
    return (double)(nn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [0, n); n > 0; unbiased (Lemire's method with rejection) */
static inline uint64_t nn_rng_below(nn_rng *r, uint64_t n)
{
    uint64_t threshold = (0 - n) % n, x;
    do
        x = nn_rng_u64(r);
    while (x < threshold);
    return x % n;
}

/* standard normal (Box-Muller; one value per call, the pair's twin is dropped for simplicity
 * of the state: a stream stays a plain 32-byte value) */
static inline double nn_rng_normal(nn_rng *r)
{
    double u1 = nn_rng_uniform(r), u2 = nn_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#ifdef __cplusplus
}
#endif
#endif
