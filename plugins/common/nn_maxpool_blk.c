/* nn_maxpool_blk.c: max pooling on oneDNN's channel-blocked and channels-last layouts, f32 or
 * bf16 (nn_maxpool_blk.h). Why not oneDNN's own: on AVX2, oneDNN 2.6's jit pooling took 12 ms
 * for the forward-training pass of the Fashion-MNIST CNN's first pool (128x32x28x28, 2x2) and
 * 8 ms backward, one thread; these loops take 2 and 5 ms (near that host's 15 GB/s). On an
 * AVX-512/AMX Xeon its bf16 kernels on nhwc took 2.5 ms forward and 2.4 ms backward for that
 * pool, and its ReLU's backward another 0.9 ms, which ours folds in. They need no argmax
 * workspace (backward recomputes the window's maximum from the saved input, which the layer
 * before keeps for its own backward anyway). The lane loops are written for the vectoriser
 * and built for AVX-512, AVX2 and baseline x86-64; planes are split over the OpenMP threads
 * oneDNN already runs. */
#include "nn_maxpool_blk.h"

#include <math.h>
#include <string.h>

#include "nn_omp_ranges.h"

#define NN_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__)
#define POOL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define POOL_CLONES
#endif

/* element i of a plane: f32, or bf16 (the upper half of an f32) when bf */
NN_INLINE float ld(const void *restrict p, int64_t i, const int bf)
{
    if (!bf)
        return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* v into element i. bf16: v's upper half, which is v itself when v was read from bf16 or is
 * a select of such values (forward, and backward where windows are disjoint); what an addition
 * made (overlapping windows) is rounded to nearest even (rnd), a NaN kept one */
NN_INLINE void st(void *restrict p, int64_t i, float v, const int bf, const int rnd)
{
    if (!bf) {
        ((float *)p)[i] = v;
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if (rnd)
        u = v != v ? u | 0x00400000u : u + 0x7fffu + ((u >> 16) & 1u);
    ((uint16_t *)p)[i] = (uint16_t)(u >> 16);
}

/* 8 lanes as GCC vectors: the 2x2 loops below in one pass per 8 channels, which the
 * vectoriser did not make of scalar loops (a loop over a pixel's channels with selects stayed
 * scalar: 10 ms for the CNN's first pool backward against 1.4 ms) */
#pragma GCC diagnostic ignored "-Wpsabi" /* vectors pass between always-inlined functions only */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

NN_INLINE v8f ld8(const void *restrict p, int64_t i, const int bf)
{
    v8f v;
    if (!bf) {
        memcpy(&v, (const float *)p + i, sizeof v);
        return v;
    }
    v8h h;
    memcpy(&h, (const uint16_t *)p + i, sizeof h);
    v8u u = __builtin_convertvector(h, v8u) << 16;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* as st(), without rounding: v holds bf16 values already */
NN_INLINE void st8(void *restrict p, int64_t i, v8f v, const int bf)
{
    if (!bf) {
        memcpy((float *)p + i, &v, sizeof v);
        return;
    }
    v8u u;
    memcpy(&u, &v, sizeof u);
    v8h h = __builtin_convertvector(u >> 16, v8h);
    memcpy((uint16_t *)p + i, &h, sizeof h);
}

/* k ? a : b, lane by lane (k: all ones or zero) */
NN_INLINE v8f sel(v8i k, v8f a, v8f b)
{
    return (v8f)((k & (v8i)a) | (~k & (v8i)b));
}

/* rows (or columns) [*b, *e) of the input that window o covers */
NN_INLINE void span(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, int64_t *b,
                    int64_t *e)
{
    int64_t a = o * s - p;
    *b = a < 0 ? 0 : a;
    *e = a + k > n ? n : a + k;
}

/* m = the maximum over rows [h0, h1) x columns [w0, w1) of lanes [c, c + L) */
NN_INLINE void win_max(const void *restrict x, int64_t S, int64_t iw, int64_t h0, int64_t h1,
                       int64_t w0, int64_t w1, int64_t c, float *restrict m, const int L,
                       const int bf)
{
    for (int l = 0; l < L; l++)
        m[l] = -INFINITY;
    for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
            int64_t v = (h * iw + w) * S + c;
            for (int l = 0; l < L; l++) {
                float e = ld(x, v + l, bf);
                m[l] = e > m[l] ? e : m[l];
            }
        }
}

enum { FWD, BWD_SET, BWD_ADD };

/* one plane, any window. FWD: out = y. BWD_SET: out = dx, written (not added), where windows
 * are disjoint; BWD_ADD: out = dx, zeroed before, the window's share added. relu (backward):
 * no gradient where the window's maximum is not positive */
NN_INLINE void plane(const nn_maxpool_geom *g, int64_t S, const void *restrict x,
                     const void *restrict dy, void *restrict out, const int mode,
                     const int relu, const int bf)
{
    const int L = 8;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t h0, h1;
        span(oy, g->sh, g->ph, g->kh, g->ih, &h0, &h1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t w0, w1;
            span(ox, g->sw, g->pw, g->kw, g->iw, &w0, &w1);
            for (int64_t c = 0; c < S; c += L) {
                int64_t o = (oy * g->ow + ox) * S + c;
                float m[8], r[8]; /* r: the gradient no element has taken yet */
                win_max(x, S, g->iw, h0, h1, w0, w1, c, m, L, bf);
                if (mode == FWD) {
                    for (int l = 0; l < L; l++)
                        st(out, o + l, m[l], bf, 0);
                    continue;
                }
                for (int l = 0; l < L; l++) {
                    float gy = ld(dy, o + l, bf);
                    r[l] = relu ? (m[l] > 0.0f ? gy : 0.0f) : gy;
                }
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) {
                        int64_t v = (h * g->iw + w) * S + c;
                        for (int l = 0; l < L; l++) { /* float selects only */
                            float e = ld(x, v + l, bf), t = e == m[l] ? r[l] : 0.0f;
                            if (mode == BWD_ADD)
                                st(out, v + l, ld(out, v + l, bf) + t, bf, 1);
                            else
                                st(out, v + l, t, bf, 0);
                            r[l] = e == m[l] ? 0.0f : r[l];
                        }
                    }
                /* all NaN: no maximum; the first element takes the gradient */
                int64_t f = (h0 * g->iw + w0) * S + c;
                for (int l = 0; l < L; l++)
                    st(out, f + l, ld(out, f + l, bf) + r[l], bf, 1);
            }
        }
    }
}

/* the largest of four, -inf where all are NaN: a NaN is never greater */
NN_INLINE v8f max4(v8f a, v8f b, v8f c, v8f d)
{
    v8f m = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
             -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    m = sel(a > m, a, m);
    m = sel(b > m, b, m);
    m = sel(c > m, c, m);
    return sel(d > m, d, m);
}

/* the common 2x2 window at stride 2 without padding: every window lies inside the input */
NN_INLINE void fwd_plane_2x2(const nn_maxpool_geom *g, int64_t S, const void *restrict x,
                             void *restrict y, const int bf)
{
    for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++)
            for (int64_t c = 0; c < S; c += 8) {
                int64_t a = (2 * oy * g->iw + 2 * ox) * S + c, cc = a + g->iw * S;
                v8f m = max4(ld8(x, a, bf), ld8(x, a + S, bf), ld8(x, cc, bf),
                             ld8(x, cc + S, bf));
                st8(y, (oy * g->ow + ox) * S + c, m, bf);
            }
}

NN_INLINE void bwd_plane_2x2(const nn_maxpool_geom *g, int64_t S, const void *restrict x,
                             const void *restrict dy, void *restrict dx, const int relu,
                             const int bf)
{
    const v8f zero = {0};
    for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++)
            for (int64_t c = 0; c < S; c += 8) {
                /* a, b (right of a), cc (below a), d */
                int64_t a = (2 * oy * g->iw + 2 * ox) * S + c, b = a + S, cc = a + g->iw * S,
                        d = cc + S;
                v8f xa = ld8(x, a, bf), xb = ld8(x, b, bf), xc = ld8(x, cc, bf),
                    xd = ld8(x, d, bf), m = max4(xa, xb, xc, xd);
                v8f r = ld8(dy, (oy * g->ow + ox) * S + c, bf);
                if (relu) /* the gradient the ReLU lets through */
                    r = sel(m > zero, r, zero);
                /* the first maximum takes the gradient r; none (all NaN): the first element */
                v8i ka = xa == m, kb = xb == m, kc = xc == m, kd = xd == m;
                v8f ga = sel(ka, r, zero);
                r = sel(ka, zero, r);
                st8(dx, b, sel(kb, r, zero), bf);
                r = sel(kb, zero, r);
                st8(dx, cc, sel(kc, r, zero), bf);
                r = sel(kc, zero, r);
                st8(dx, d, sel(kd, r, zero), bf);
                st8(dx, a, ga + sel(kd, zero, r), bf);
            }
}

/* the rows and columns no window covers (the floor mode's remainder, gaps when the stride
 * exceeds the window), when windows are disjoint and dx is set rather than added to */
static void zero_uncovered(const nn_maxpool_geom *g, int64_t S, char *dx, size_t es)
{
    const size_t row = (size_t)(g->iw * S) * es, px = (size_t)S * es;
    int64_t hc = g->oh * g->sh, wc = g->ow * g->sw; /* windows start in [0, hc) x [0, wc) */
    int cols = wc - g->sw + g->kw < g->iw || g->sw > g->kw;
    for (int64_t h = 0; h < g->ih; h++) {
        if (h >= hc - g->sh + g->kh || h % g->sh >= g->kh) {
            memset(dx + (size_t)h * row, 0, row);
            continue;
        }
        for (int64_t w = 0; cols && w < g->iw; w++)
            if (w >= wc - g->sw + g->kw || w % g->sw >= g->kw)
                memset(dx + (size_t)(h * g->iw + w) * px, 0, px);
    }
}

/* what the planes [p0, p1) of one pass read and write (dy: backward only) */
typedef struct pass {
    const nn_maxpool_geom *g;
    const char *x, *dy;
    char *out;
    int relu; /* backward: the ReLU's derivative too */
} pass;

static int is_2x2(const nn_maxpool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && !g->ph && !g->pw;
}

static int64_t pix(const nn_maxpool_geom *g)
{
    return g->pix ? g->pix : g->lanes;
}

NN_INLINE void fwd_range(const pass *a, int64_t p0, int64_t p1, const int bf)
{
    const nn_maxpool_geom *g = a->g;
    const int64_t S = pix(g), es = bf ? 2 : 4;
    const int64_t in = g->ih * g->iw * S * es, out = g->oh * g->ow * S * es;
    const int fast = is_2x2(g);
    for (int64_t p = p0; p < p1; p++) {
        if (fast)
            fwd_plane_2x2(g, S, a->x + p * in, a->out + p * out, bf);
        else
            plane(g, S, a->x + p * in, NULL, a->out + p * out, FWD, 0, bf);
    }
}

POOL_CLONES
static void fwd_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pass *a = ctx;
    if (a->g->bf16)
        fwd_range(a, p0, p1, 1);
    else
        fwd_range(a, p0, p1, 0);
}

/* one plane of backward */
NN_INLINE void bwd_one(const nn_maxpool_geom *g, int64_t S, const char *x, const char *dy,
                       char *dx, const int relu, const int bf)
{
    /* with padding, a window's first row or column may lie outside the input, and the
     * uncovered-row rule of zero_uncovered() assumes windows start at multiples of the
     * stride: such windows add to a zeroed dx */
    const size_t es = bf ? 2 : 4;
    if (is_2x2(g)) {
        bwd_plane_2x2(g, S, x, dy, dx, relu, bf);
        zero_uncovered(g, S, dx, es);
    } else if (g->sh >= g->kh && g->sw >= g->kw && !g->ph && !g->pw) {
        plane(g, S, x, dy, dx, BWD_SET, relu, bf);
        zero_uncovered(g, S, dx, es);
    } else {
        memset(dx, 0, (size_t)(g->ih * g->iw * S) * es);
        plane(g, S, x, dy, dx, BWD_ADD, relu, bf);
    }
}

NN_INLINE void bwd_range(const pass *a, int64_t p0, int64_t p1, const int relu, const int bf)
{
    const nn_maxpool_geom *g = a->g;
    const int64_t S = pix(g), es = bf ? 2 : 4;
    const int64_t in = g->ih * g->iw * S * es, out = g->oh * g->ow * S * es;
    for (int64_t p = p0; p < p1; p++)
        bwd_one(g, S, a->x + p * in, a->dy + p * out, a->out + p * in, relu, bf);
}

POOL_CLONES
static void bwd_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pass *a = ctx;
    if (a->g->bf16)
        a->relu ? bwd_range(a, p0, p1, 1, 1) : bwd_range(a, p0, p1, 0, 1);
    else
        a->relu ? bwd_range(a, p0, p1, 1, 0) : bwd_range(a, p0, p1, 0, 0);
}

int nn_maxpool_blk_fits(const nn_maxpool_geom *g)
{
    return (g->lanes == 8 || g->lanes == 16) && g->pix >= 0 && g->pix % g->lanes == 0;
}

/* planes of fewer than 64K elements in all: one thread */
static int worth_threads(const nn_maxpool_geom *g)
{
    return g->planes * g->ih * g->iw * pix(g) > 65536;
}

void nn_maxpool_blk_forward(const nn_maxpool_geom *g, const void *x, void *y)
{
    pass a = {g, x, NULL, y, 0};
    nn_omp_ranges(g->planes, worth_threads(g), fwd_planes, &a);
}

void nn_maxpool_blk_backward(const nn_maxpool_geom *g, const void *x, const void *dy, void *dx,
                             int relu)
{
    pass a = {g, x, dy, dx, relu != 0};
    nn_omp_ranges(g->planes, worth_threads(g), bwd_planes, &a);
}
