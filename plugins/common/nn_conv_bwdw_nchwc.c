/* nn_conv_bwdw_nchwc.c: convolution weight and bias gradients on channel-blocked input and
 * dLoss/dz (nn_conv_bwdw_nchwc.h).
 *
 * dw[oc][ic][kh][kw] = sum over n, oh, ow of dy[n][oc][oh][ow] * x[n][ic][ih][iw] with
 * ih = oh*sh - ph + kh*dh and iw = ow*sw - pw + kw*dw: for each tap a GEMM whose reduction runs
 * over the output pixels. The register tile is 3 vectors of 8 output channels (dy, loaded) by
 * 4 input channels (x, broadcast): 12 accumulators, 7 loads for 12 FMAs, so the FMA units
 * and not the loads set the pace. For one image, one strip of output rows (STRIP_PIXELS) and
 * one tap the tile sums over the output pixels whose input pixel is inside the image (no
 * padding is read), then adds into a per-tile stack array of every tap; the strip's dy stays
 * in L1 across the taps.
 * Work items are (4 input channels, tile of output channels), input channels outermost so
 * that contiguous ranges of items cost about the same; each owns its part of dw, so the
 * OpenMP threads oneDNN runs share nothing and nothing is allocated. */
#include "nn_conv_bwdw_nchwc.h"

#include <string.h>

#include "nn_omp_ranges.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum { MB = 3, NJ = 4 }; /* the tile: MB vectors of 8 output channels by NJ input channels */
#define STRIP_PIXELS 160   /* output pixels per strip: MB vectors of dy in 15 KB */

int nn_conv_bwdw_nchwc_fits(const nn_conv_bwdw_geom *g)
{
    return nn_conv_bwdw_geom_ok(g) && g->kh * g->kw <= NN_CONV_BWDW_NCHWC_TAPS;
}

#if HAVE_X86
#define TGT __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline))

/* first o in [0, on) with 0 <= o*s + off, and one past the last with o*s + off < in */
static void out_range(int64_t off, int64_t s, int64_t in, int64_t on, int64_t *o0, int64_t *o1)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = in - off <= 0 ? 0 : (in - off - 1) / s + 1;
    *o0 = a;
    *o1 = b < on ? b : on;
}

/* acc[m][j] (8 lanes each) += sum over ow in [o0, o1) of dy_m[ow*L] * xs[(ow*sw)*L + j] for
 * one output row; dy_m = dy + m * mstride. M vectors (M <= MB; rows of acc past M are neither
 * read nor written), sw given as a constant 1 for unit stride so that the addressing
 * simplifies. The sums run in locals: acc itself may alias the loads (__m256 may alias
 * anything), which would keep it in memory */
TGT INL void tile_row(const float *dy, int64_t mstride, const float *xs, int64_t o0, int64_t o1,
                      int64_t L, int64_t sw, __m256 acc[][NJ], const int M)
{
    const __m256 z = _mm256_setzero_ps();
    __m256 c0 = acc[0][0], c1 = acc[0][1], c2 = acc[0][2], c3 = acc[0][3];
    __m256 d0 = M > 1 ? acc[1][0] : z, d1 = M > 1 ? acc[1][1] : z;
    __m256 d2 = M > 1 ? acc[1][2] : z, d3 = M > 1 ? acc[1][3] : z;
    __m256 e0 = M > 2 ? acc[2][0] : z, e1 = M > 2 ? acc[2][1] : z;
    __m256 e2 = M > 2 ? acc[2][2] : z, e3 = M > 2 ? acc[2][3] : z;
    for (int64_t o = o0; o < o1; o++) {
        const float *d = dy + o * L, *xp = xs + o * sw * L;
        __m256 a0 = _mm256_loadu_ps(d), b;
        __m256 a1 = M > 1 ? _mm256_loadu_ps(d + mstride) : a0;
        __m256 a2 = M > 2 ? _mm256_loadu_ps(d + 2 * mstride) : a0;
#define NN_TILE_COL(j, c, dd, e)                          \
    b = _mm256_broadcast_ss(xp + (j));                    \
    c = _mm256_fmadd_ps(a0, b, c);                        \
    if (M > 1)                                            \
        dd = _mm256_fmadd_ps(a1, b, dd);                  \
    if (M > 2)                                            \
        e = _mm256_fmadd_ps(a2, b, e);
        NN_TILE_COL(0, c0, d0, e0)
        NN_TILE_COL(1, c1, d1, e1)
        NN_TILE_COL(2, c2, d2, e2)
        NN_TILE_COL(3, c3, d3, e3)
#undef NN_TILE_COL
    }
    acc[0][0] = c0, acc[0][1] = c1, acc[0][2] = c2, acc[0][3] = c3;
    if (M > 1)
        acc[1][0] = d0, acc[1][1] = d1, acc[1][2] = d2, acc[1][3] = d3;
    if (M > 2)
        acc[2][0] = e0, acc[2][1] = e1, acc[2][2] = e2, acc[2][3] = e3;
}

/* one output row of the tile for M vectors at dyv[m] + r (for L = 16 a pair of vectors
 * shares a block, so three are not evenly spaced: two, then one) */
TGT INL void tile_row_any(const float *const dyv[MB], int64_t r, const float *xs, int64_t o0,
                          int64_t o1, int64_t L, int64_t sw, __m256 acc[MB][NJ], const int M)
{
    if (M == 3 && dyv[1] - dyv[0] != dyv[2] - dyv[1]) {
        tile_row(dyv[0] + r, dyv[1] - dyv[0], xs, o0, o1, L, sw, acc, 2);
        tile_row(dyv[2] + r, 0, xs, o0, o1, L, sw, &acc[2], 1);
    } else {
        tile_row(dyv[0] + r, M > 1 ? dyv[1] - dyv[0] : 0, xs, o0, o1, L, sw, acc, M);
    }
}

/* what every work item shares */
typedef struct pass {
    const nn_conv_bwdw_geom *g;
    const float *x, *dy;
    float *dw, *db;
    int64_t tiles; /* tiles of output channels: ceil(ceil(OC / 8) / MB) */
} pass;

/* one image's contribution to every tap of the tile (M vectors starting at output-channel
 * vector v0, input channels c0 .. c0+3) in sums[tap][m][j] */
TGT INL void tile_image(const pass *a, int64_t n, int64_t v0, int64_t c0, float *sums,
                        int64_t sw, const int M)
{
    const nn_conv_bwdw_geom *g = a->g;
    const int64_t L = g->lanes, ohw = g->oh * g->ow, ihw = g->ih * g->iw;
    const int64_t ocb = (g->oc + L - 1) / L, icb = (g->ic + L - 1) / L;
    /* dy of vector v: block v*8/L, lanes from v*8%L */
    const float *dyv[MB];
    for (int m = 0; m < M; m++)
        dyv[m] = a->dy + ((n * ocb + (v0 + m) * 8 / L) * ohw) * L + (v0 + m) * 8 % L;
    const float *xn = a->x + ((n * icb + c0 / L) * ihw) * L + c0 % L;
    /* strips of output rows whose dy (M vectors) stays in L1 across the taps */
    int64_t rows = STRIP_PIXELS / g->ow > 0 ? STRIP_PIXELS / g->ow : 1;
    for (int64_t r0 = 0; r0 < g->oh; r0 += rows) {
        int64_t r1 = r0 + rows < g->oh ? r0 + rows : g->oh;
        for (int64_t kh = 0; kh < g->kh; kh++) {
            int64_t h0, h1;
            out_range(kh * g->dh - g->ph, g->sh, g->ih, g->oh, &h0, &h1);
            h0 = h0 > r0 ? h0 : r0;
            h1 = h1 < r1 ? h1 : r1;
            if (h0 >= h1)
                continue;
            for (int64_t kw = 0; kw < g->kw; kw++) {
                int64_t w0, w1, offw = kw * g->dw - g->pw;
                out_range(offw, sw, g->iw, g->ow, &w0, &w1);
                if (w0 >= w1)
                    continue;
                __m256 acc[MB][NJ];
                for (int m = 0; m < MB; m++)
                    for (int j = 0; j < NJ; j++)
                        acc[m][j] = _mm256_setzero_ps();
                for (int64_t oh = h0; oh < h1; oh++) {
                    int64_t ih = oh * g->sh - g->ph + kh * g->dh;
                    tile_row_any(dyv, oh * g->ow * L, xn + (ih * g->iw + offw) * L, w0, w1, L,
                                 sw, acc, M);
                }
                float *s = sums + (kh * g->kw + kw) * MB * NJ * 8;
                for (int m = 0; m < M; m++)
                    for (int j = 0; j < NJ; j++) {
                        float *p = s + (m * NJ + j) * 8;
                        _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), acc[m][j]));
                    }
            }
        }
    }
}

TGT static void tile_image_any(const pass *a, int64_t n, int64_t v0, int64_t c0, float *sums,
                               int M)
{
    if (a->g->sw == 1)
        switch (M) {
        case 3: tile_image(a, n, v0, c0, sums, 1, 3); break;
        case 2: tile_image(a, n, v0, c0, sums, 1, 2); break;
        default: tile_image(a, n, v0, c0, sums, 1, 1); break;
        }
    else
        switch (M) {
        case 3: tile_image(a, n, v0, c0, sums, a->g->sw, 3); break;
        case 2: tile_image(a, n, v0, c0, sums, a->g->sw, 2); break;
        default: tile_image(a, n, v0, c0, sums, a->g->sw, 1); break;
        }
}

/* work items [u0, u1): item u = (input-channel quad u / tiles, output tile u % tiles) */
TGT static void items(void *ctx, int64_t u0, int64_t u1)
{
    const pass *a = ctx;
    const nn_conv_bwdw_geom *g = a->g;
    const int64_t L = g->lanes, taps = g->kh * g->kw, vecs = (g->oc + 7) / 8;
    float sums[NN_CONV_BWDW_NCHWC_TAPS * MB * NJ * 8];
    for (int64_t u = u0; u < u1; u++) {
        int64_t c0 = u / a->tiles * NJ, v0 = u % a->tiles * MB;
        int M = (int)(vecs - v0 < MB ? vecs - v0 : MB);
        memset(sums, 0, (size_t)(taps * MB * NJ * 8) * sizeof *sums);
        for (int64_t n = 0; n < g->n; n++)
            tile_image_any(a, n, v0, c0, sums, M);
        for (int m = 0; m < M; m++)
            for (int l = 0; l < 8; l++) {
                int64_t oc = (v0 + m) * 8 + l;
                if (oc >= g->oc)
                    break;
                for (int j = 0; j < NJ && c0 + j < g->ic; j++) {
                    float *w = a->dw + (oc * g->ic + c0 + j) * taps;
                    for (int64_t t = 0; t < taps; t++)
                        w[t] = sums[((t * MB + m) * NJ + j) * 8 + l];
                }
            }
        if (a->db && c0 == 0) /* the bias once per tile: sum of dy over images and pixels */
            for (int m = 0; m < M; m++) {
                int64_t v = v0 + m, ocb = (g->oc + L - 1) / L, ohw = g->oh * g->ow;
                __m256 s = _mm256_setzero_ps();
                for (int64_t n = 0; n < g->n; n++) {
                    const float *d = a->dy + (n * ocb + v * 8 / L) * ohw * L + v * 8 % L;
                    for (int64_t p = 0; p < ohw; p++)
                        s = _mm256_add_ps(s, _mm256_loadu_ps(d + p * L));
                }
                float b[8];
                _mm256_storeu_ps(b, s);
                for (int l = 0; l < 8 && v * 8 + l < g->oc; l++)
                    a->db[v * 8 + l] = b[l];
            }
    }
}
#endif

void nn_conv_bwdw_nchwc(const nn_conv_bwdw_geom *g, const float *x, const float *dy, float *dw,
                        float *db)
{
#if HAVE_X86
    int64_t vecs = (g->oc + 7) / 8;
    pass a = {g, x, dy, dw, db, (vecs + MB - 1) / MB};
    nn_omp_ranges((g->ic + NJ - 1) / NJ * a.tiles, 1, items, &a);
#else
    (void)g, (void)x, (void)dy, (void)dw, (void)db;
#endif
}
