/* nn_conv_bwdw_blk.c: convolution weight and bias gradients for few input channels
 * (nn_conv_bwdw_blk.h). Measured on the Fashion-MNIST CNN's first layer (1->32, 5x5, pad 2,
 * 128x28x28, AVX2, one thread): oneDNN 2.6's jit kernel on the input padded to 8 channels
 * 21.5 ms, its gemm kernel 13 ms (and 25x slower when its spinning barrier loses a core);
 * this one 4.4 ms.
 *
 * For each block of 8 output channels (one AVX2 register of dy's lanes) the input is read a
 * row at a time into a zero-padded row buffer, and every window row kh that maps it onto an
 * output row oh adds sum_ow dy[oh][ow] * row[ow*sw + kw*dw] to the accumulators of taps
 * (kh, kw), five taps per pass, two output columns at a time (ten independent FMA chains).
 * Blocks are split over the OpenMP threads oneDNN runs (no parallel region on one thread:
 * libgomp would allocate a team per call); nothing is allocated. */
#include "nn_conv_bwdw_blk.h"

#include <string.h>

#include "nn_omp_ranges.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define ROW_MAX 4096 /* floats in the padded row buffer */
#define ACC_MAX 4096 /* IC * KH * KW * 8 accumulators */
#define CHUNK 5      /* taps per pass: 2 x 5 accumulators + 2 dy registers of 16 */

static int64_t row_len(const nn_conv_bwdw_geom *g)
{
    return (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
}

int nn_conv_bwdw_blk_fits(const nn_conv_bwdw_geom *g)
{
    return nn_conv_bwdw_geom_ok(g) && g->ic * g->kh * g->kw * 8 <= ACC_MAX &&
           row_len(g) <= ROW_MAX;
}

#if HAVE_X86
#define TGT __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline))

/* acc[8 j + l] += sum_o dy[o * ps + l] * row[o * sw + j * dw], j < NK, o < on */
TGT INL void taps(const float *row, const float *dy, int64_t ps, int64_t on, int64_t sw,
                  int64_t dw, float *acc, const int NK)
{
    __m256 a[CHUNK], b[CHUNK];
    for (int j = 0; j < NK; j++)
        a[j] = b[j] = _mm256_setzero_ps();
    int64_t o = 0;
    for (; o + 1 < on; o += 2) {
        __m256 d0 = _mm256_loadu_ps(dy + o * ps), d1 = _mm256_loadu_ps(dy + (o + 1) * ps);
        const float *r0 = row + o * sw, *r1 = r0 + sw;
        for (int j = 0; j < NK; j++) {
            a[j] = _mm256_fmadd_ps(d0, _mm256_broadcast_ss(r0 + j * dw), a[j]);
            b[j] = _mm256_fmadd_ps(d1, _mm256_broadcast_ss(r1 + j * dw), b[j]);
        }
    }
    if (o < on) {
        __m256 d0 = _mm256_loadu_ps(dy + o * ps);
        for (int j = 0; j < NK; j++)
            a[j] = _mm256_fmadd_ps(d0, _mm256_broadcast_ss(row + o * sw + j * dw), a[j]);
    }
    for (int j = 0; j < NK; j++)
        _mm256_storeu_ps(acc + 8 * j,
                         _mm256_add_ps(_mm256_loadu_ps(acc + 8 * j), _mm256_add_ps(a[j], b[j])));
}

/* one input row against dy row oh: taps (kh, 0..KW-1); sw, dw: 1 for the common unit
 * stride and dilation, given as constants so that the addressing simplifies */
TGT INL void row_taps_sd(const nn_conv_bwdw_geom *g, const float *row, const float *dyr,
                         float *acc, int64_t sw, int64_t dw)
{
    for (int64_t k0 = 0; k0 < g->kw; k0 += CHUNK) {
        const float *r = row + k0 * dw;
        float *a = acc + 8 * k0;
        switch (g->kw - k0 < CHUNK ? g->kw - k0 : CHUNK) {
        case 1: taps(r, dyr, g->lanes, g->ow, sw, dw, a, 1); break;
        case 2: taps(r, dyr, g->lanes, g->ow, sw, dw, a, 2); break;
        case 3: taps(r, dyr, g->lanes, g->ow, sw, dw, a, 3); break;
        case 4: taps(r, dyr, g->lanes, g->ow, sw, dw, a, 4); break;
        default: taps(r, dyr, g->lanes, g->ow, sw, dw, a, 5); break;
        }
    }
}

TGT static void row_taps(const nn_conv_bwdw_geom *g, const float *row, const float *dyr,
                         float *acc)
{
    if (g->sw == 1 && g->dw == 1)
        row_taps_sd(g, row, dyr, acc, 1, 1);
    else
        row_taps_sd(g, row, dyr, acc, g->sw, g->dw);
}

/* what the blocks share */
typedef struct pass {
    const nn_conv_bwdw_geom *g;
    const float *x, *dy;
    float *dw, *db;
} pass;

/* 8-channel blocks [b0, b1) of dw and db */
TGT static void blocks(void *ctx, int64_t b0, int64_t b1)
{
    const pass *a = ctx;
    const nn_conv_bwdw_geom *g = a->g;
    const float *x = a->x, *dy = a->dy;
    float *dw = a->dw, *db = a->db;
    const int64_t L = g->lanes, dblocks = (g->oc + L - 1) / L, taps_n = g->ic * g->kh * g->kw;
    const int64_t len = row_len(g), cols = g->iw < len - g->pw ? g->iw : len - g->pw;
    float acc[ACC_MAX], row[ROW_MAX];
    for (int64_t b = b0; b < b1; b++) {
        memset(acc, 0, (size_t)(taps_n * 8) * sizeof *acc);
        __m256 bias = _mm256_setzero_ps();
        for (int64_t n = 0; n < g->n; n++) {
            const float *dyn = dy + (n * dblocks + b * 8 / L) * g->oh * g->ow * L + b * 8 % L;
            for (int64_t ic = 0; ic < g->ic; ic++)
                for (int64_t ih = 0; ih < g->ih; ih++) {
                    /* rows of padding add nothing; this row, padded to `len` */
                    memset(row, 0, (size_t)len * sizeof *row);
                    if (cols > 0)
                        memcpy(row + g->pw, x + ((n * g->ic + ic) * g->ih + ih) * g->iw,
                               (size_t)cols * sizeof *row);
                    for (int64_t kh = 0; kh < g->kh; kh++) {
                        int64_t t = ih + g->ph - kh * g->dh;
                        if (t < 0 || t % g->sh || t / g->sh >= g->oh)
                            continue;
                        row_taps(g, row, dyn + t / g->sh * g->ow * L,
                                 acc + (ic * g->kh + kh) * g->kw * 8);
                    }
                }
            for (int64_t p = 0; p < g->oh * g->ow; p++)
                bias = _mm256_add_ps(bias, _mm256_loadu_ps(dyn + p * L));
        }
        float bl[8];
        _mm256_storeu_ps(bl, bias);
        for (int l = 0; l < 8 && b * 8 + l < g->oc; l++) {
            float *w = dw + (b * 8 + l) * taps_n;
            for (int64_t t = 0; t < taps_n; t++)
                w[t] = acc[t * 8 + l];
            if (db)
                db[b * 8 + l] = bl[l];
        }
    }
}
#endif

void nn_conv_bwdw_blk(const nn_conv_bwdw_geom *g, const float *x, const float *dy, float *dw,
                      float *db)
{
#if HAVE_X86
    pass a = {g, x, dy, dw, db};
    nn_omp_ranges((g->oc + 7) / 8, 1, blocks, &a);
#else
    (void)g, (void)x, (void)dy, (void)dw, (void)db;
#endif
}
