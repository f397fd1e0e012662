/* nn_maxpool_blk.c: max pooling on oneDNN's channel-blocked f32 layouts (nn_maxpool_blk.h).
 * Why not oneDNN's own: on AVX2, oneDNN 2.6's jit pooling took 12 ms for the forward-training
 * pass of the Fashion-MNIST CNN's first pool (128x32x28x28, 2x2) and 8 ms backward, one
 * thread; these loops take 2 and 5 ms (near this host's 15 GB/s), and they need no argmax
 * workspace (backward recomputes the window's maximum from the saved input, which the layer
 * before keeps for its own backward anyway). The lane loops are written for the vectoriser;
 * planes are split over the OpenMP threads oneDNN already runs. */
#include "nn_maxpool_blk.h"

#include <math.h>
#include <string.h>

#include "nn_omp_ranges.h"

#define NN_INLINE static inline __attribute__((always_inline))
#define MAXL 16

/* rows (or columns) [*b, *e) of the input that window o covers */
NN_INLINE void span(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, int64_t *b,
                    int64_t *e)
{
    int64_t a = o * s - p;
    *b = a < 0 ? 0 : a;
    *e = a + k > n ? n : a + k;
}

NN_INLINE void win_max(const float *restrict x, int64_t iw, int64_t h0, int64_t h1, int64_t w0,
                       int64_t w1, float *restrict m, const int L)
{
    for (int l = 0; l < L; l++)
        m[l] = -INFINITY;
    for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
            const float *v = x + (h * iw + w) * L;
            for (int l = 0; l < L; l++)
                m[l] = v[l] > m[l] ? v[l] : m[l];
        }
}

enum { FWD, BWD_SET, BWD_ADD };

/* one plane, any window. FWD: out = y. BWD_SET: out = dx, written (not added), where windows
 * are disjoint; BWD_ADD: out = dx, zeroed before, the window's share added. relu (backward):
 * no gradient where the window's maximum is not positive */
NN_INLINE void plane(const nn_maxpool_geom *g, const float *restrict x, const float *restrict dy,
                     float *restrict out, const int L, const int mode, const int relu)
{
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t h0, h1;
        span(oy, g->sh, g->ph, g->kh, g->ih, &h0, &h1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t w0, w1;
            span(ox, g->sw, g->pw, g->kw, g->iw, &w0, &w1);
            if (mode == FWD) {
                win_max(x, g->iw, h0, h1, w0, w1, out + (oy * g->ow + ox) * L, L);
                continue;
            }
            const float *gy = dy + (oy * g->ow + ox) * L;
            float m[MAXL], r[MAXL]; /* r: the gradient no element has taken yet */
            win_max(x, g->iw, h0, h1, w0, w1, m, L);
            for (int l = 0; l < L; l++)
                r[l] = relu ? (m[l] > 0.0f ? gy[l] : 0.0f) : gy[l];
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    const float *v = x + (h * g->iw + w) * L;
                    float *d = out + (h * g->iw + w) * L;
                    for (int l = 0; l < L; l++) { /* float selects: see bwd_plane_2x2 */
                        float t = v[l] == m[l] ? r[l] : 0.0f;
                        d[l] = mode == BWD_SET ? t : d[l] + t;
                        r[l] = v[l] == m[l] ? 0.0f : r[l];
                    }
                }
            /* all NaN: no maximum; the first element takes the gradient */
            float *d = out + (h0 * g->iw + w0) * L;
            for (int l = 0; l < L; l++)
                d[l] += r[l];
        }
    }
}

/* the common 2x2 window at stride 2 without padding: every window lies inside the input */
NN_INLINE void fwd_plane_2x2(const nn_maxpool_geom *g, const float *restrict x,
                             float *restrict y, const int L)
{
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *r0 = x + 2 * oy * g->iw * L, *r1 = r0 + g->iw * L;
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const float *a = r0 + 2 * ox * L, *b = a + L, *c = r1 + 2 * ox * L, *d = c + L;
            float *o = y + (oy * g->ow + ox) * L;
            for (int l = 0; l < L; l++) {
                float m = -INFINITY;
                m = a[l] > m ? a[l] : m;
                m = b[l] > m ? b[l] : m;
                m = c[l] > m ? c[l] : m;
                m = d[l] > m ? d[l] : m;
                o[l] = m;
            }
        }
    }
}

NN_INLINE void bwd_plane_2x2(const nn_maxpool_geom *g, const float *restrict x,
                             const float *restrict dy, float *restrict dx, const int L,
                             const int relu)
{
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *r0 = x + 2 * oy * g->iw * L, *r1 = r0 + g->iw * L;
        float *q0 = dx + 2 * oy * g->iw * L, *q1 = q0 + g->iw * L;
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const float *a = r0 + 2 * ox * L, *b = a + L, *c = r1 + 2 * ox * L, *d = c + L;
            float *da = q0 + 2 * ox * L, *db = da + L, *dc = q1 + 2 * ox * L, *dd = dc + L;
            const float *gy = dy + (oy * g->ow + ox) * L;
            float m[MAXL];
            for (int l = 0; l < L; l++) { /* two loops: one would not vectorise */
                float v = -INFINITY;
                v = a[l] > v ? a[l] : v;
                v = b[l] > v ? b[l] : v;
                v = c[l] > v ? c[l] : v;
                m[l] = d[l] > v ? d[l] : v;
            }
            float gm[MAXL]; /* relu: the gradient the ReLU lets through (a loop of its own,
                               as a select inside the next would not vectorise) */
            const float *gr = gy;
            if (relu) {
                for (int l = 0; l < L; l++)
                    gm[l] = m[l] > 0.0f ? gy[l] : 0.0f;
                gr = gm;
            }
            for (int l = 0; l < L; l++) {
                /* the first maximum takes the gradient r; none (all NaN): the first
                 * element. Float selects only: integer flags would not vectorise */
                float r = gr[l], ga = a[l] == m[l] ? r : 0.0f;
                r = a[l] == m[l] ? 0.0f : r;
                db[l] = b[l] == m[l] ? r : 0.0f;
                r = b[l] == m[l] ? 0.0f : r;
                dc[l] = c[l] == m[l] ? r : 0.0f;
                r = c[l] == m[l] ? 0.0f : r;
                dd[l] = d[l] == m[l] ? r : 0.0f;
                da[l] = ga + (d[l] == m[l] ? 0.0f : r);
            }
        }
    }
}

/* the rows and columns no window covers (the floor mode's remainder, gaps when the stride
 * exceeds the window), when windows are disjoint and dx is set rather than added to */
static void zero_uncovered(const nn_maxpool_geom *g, float *dx, int L)
{
    const size_t row = (size_t)(g->iw * L) * sizeof *dx, px = (size_t)L * sizeof *dx;
    int64_t hc = g->oh * g->sh, wc = g->ow * g->sw; /* windows start in [0, hc) x [0, wc) */
    int cols = wc - g->sw + g->kw < g->iw || g->sw > g->kw;
    for (int64_t h = 0; h < g->ih; h++) {
        if (h >= hc - g->sh + g->kh || h % g->sh >= g->kh) {
            memset(dx + h * g->iw * L, 0, row);
            continue;
        }
        for (int64_t w = 0; cols && w < g->iw; w++)
            if (w >= wc - g->sw + g->kw || w % g->sw >= g->kw)
                memset(dx + (h * g->iw + w) * L, 0, px);
    }
}

/* what the planes [p0, p1) of one pass read and write (dy: backward only) */
typedef struct pass {
    const nn_maxpool_geom *g;
    const float *x, *dy;
    float *out;
    int relu; /* backward: the ReLU's derivative too */
} pass;

static int is_2x2(const nn_maxpool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && !g->ph && !g->pw;
}

static void fwd_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pass *a = ctx;
    const nn_maxpool_geom *g = a->g;
    const float *x = a->x;
    float *y = a->out;
    const int64_t in = g->ih * g->iw * g->lanes, out = g->oh * g->ow * g->lanes;
    const int fast = is_2x2(g);
    for (int64_t p = p0; p < p1; p++) {
        if (g->lanes == 8 && fast)
            fwd_plane_2x2(g, x + p * in, y + p * out, 8);
        else if (g->lanes == 8)
            plane(g, x + p * in, NULL, y + p * out, 8, FWD, 0);
        else if (fast)
            fwd_plane_2x2(g, x + p * in, y + p * out, 16);
        else
            plane(g, x + p * in, NULL, y + p * out, 16, FWD, 0);
    }
}

/* one plane of backward at L lanes */
NN_INLINE void bwd_one(const nn_maxpool_geom *g, const float *x, const float *dy, float *dx,
                       const int L, const int relu)
{
    /* with padding, a window's first row or column may lie outside the input, and the
     * uncovered-row rule of zero_uncovered() assumes windows start at multiples of the
     * stride: such windows add to a zeroed dx */
    if (is_2x2(g)) {
        bwd_plane_2x2(g, x, dy, dx, L, relu);
        zero_uncovered(g, dx, L);
    } else if (g->sh >= g->kh && g->sw >= g->kw && !g->ph && !g->pw) {
        plane(g, x, dy, dx, L, BWD_SET, relu);
        zero_uncovered(g, dx, L);
    } else {
        memset(dx, 0, (size_t)(g->ih * g->iw * L) * sizeof *dx);
        plane(g, x, dy, dx, L, BWD_ADD, relu);
    }
}

static void bwd_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pass *a = ctx;
    const nn_maxpool_geom *g = a->g;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    const int64_t in = g->ih * g->iw * g->lanes, out = g->oh * g->ow * g->lanes;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = x + p * in, *dyp = dy + p * out;
        float *dxp = dx + p * in;
        if (g->lanes == 8 && a->relu)
            bwd_one(g, xp, dyp, dxp, 8, 1);
        else if (g->lanes == 8)
            bwd_one(g, xp, dyp, dxp, 8, 0);
        else if (a->relu)
            bwd_one(g, xp, dyp, dxp, 16, 1);
        else
            bwd_one(g, xp, dyp, dxp, 16, 0);
    }
}

/* planes of fewer than 64K floats in all: one thread */
static int worth_threads(const nn_maxpool_geom *g)
{
    return g->planes * g->ih * g->iw * g->lanes > 65536;
}

void nn_maxpool_blk_forward(const nn_maxpool_geom *g, const float *x, float *y)
{
    pass a = {g, x, NULL, y, 0};
    nn_omp_ranges(g->planes, worth_threads(g), fwd_planes, &a);
}

void nn_maxpool_blk_backward(const nn_maxpool_geom *g, const float *x, const float *dy,
                             float *dx, int relu)
{
    pass a = {g, x, dy, dx, relu != 0};
    nn_omp_ranges(g->planes, worth_threads(g), bwd_planes, &a);
}
