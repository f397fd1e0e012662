/* test_maxpool_blk.c: the max pooling loops of libnn_dnnl (plugins/common/nn_maxpool_blk.c)
 * against a naive reference on the layouts they run on (nChw8c and nChw16c, nhwc at 8 and 16
 * lanes), in f32 and bf16: window, stride, padding, overlapping and disjoint windows, the floor
 * mode's uncovered rows and columns, ties (the first maximum in window order takes the
 * gradient, as in oneDNN and PyTorch), NaN (never the maximum), a dx that held garbage before
 * backward, and the ReLU's derivative folded into backward (the same as the ReLU's backward
 * after ours). Values are small multiples of 1/4, so that every sum is exact in bf16 too.
 * Compiled with the kernel's source: its symbols are private to the library. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn_maxpool_blk.h"

typedef struct geo {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
} geo;

static const geo cases[] = {
    /* n  c   h   w  kh kw sh sw ph pw */
    {2, 16, 28, 28, 2, 2, 2, 2, 0, 0}, /* the CNN's pool */
    {1, 8, 7, 9, 2, 2, 2, 2, 0, 0},    /* odd: a row and a column no window covers */
    {2, 8, 9, 7, 3, 3, 2, 2, 1, 1},    /* overlapping, padded */
    {1, 16, 8, 5, 2, 3, 1, 2, 1, 0},   /* stride 1: heavy overlap */
    {3, 8, 10, 11, 3, 3, 3, 3, 0, 0},  /* disjoint, not 2x2, remainder */
    {1, 8, 11, 10, 2, 2, 3, 3, 0, 0},  /* stride > window: gaps between windows */
    {1, 16, 5, 6, 3, 2, 3, 1, 0, 1},
    {2, 32, 6, 6, 2, 2, 2, 2, 0, 0},   /* nhwc: two chunks of 16 per pixel */
    {1, 24, 7, 5, 3, 3, 2, 2, 1, 1},   /* nhwc: three chunks of 8, overlapping */
};

/* how the kernel is run: L lanes, on nChwLc or (nhwc) [N][H][W][C], f32 or bf16 */
typedef struct how {
    int L, nhwc, bf16;
} how;

/* element (n, ch, h, w) of an H x W tensor laid out as hw says */
static size_t at(const geo *g, how hw, int64_t n, int64_t ch, int64_t h, int64_t w, int64_t H,
                 int64_t W)
{
    if (hw.nhwc)
        return (size_t)(((n * H + h) * W + w) * g->c + ch);
    int L = hw.L;
    return (size_t)((((n * (g->c / L) + ch / L) * H + h) * W + w) * L + ch % L);
}

/* f32 <-> bf16 for values that bf16 holds exactly (the upper half of the f32) */
static void *to_kernel(const float *v, size_t n, int bf16)
{
    void *k = malloc(n * (bf16 ? 2 : 4));
    cr_assert_not_null(k);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        if (bf16)
            ((uint16_t *)k)[i] = (uint16_t)(u >> 16);
        else
            ((float *)k)[i] = v[i];
    }
    return k;
}

static float from_kernel(const void *k, size_t i, int bf16)
{
    if (!bf16)
        return ((const float *)k)[i];
    uint32_t u = (uint32_t)((const uint16_t *)k)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p)
{
    return (in + 2 * p - k) / s + 1;
}

/* values from a small set, so that windows tie often */
static void fill_ties(float *x, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(rand() % 4) - 1.5f;
}

/* relu: x is made a ReLU's output (max(x, 0), NaN kept), and dx must equal the plain
 * backward followed by the ReLU's: zero where x <= 0 or is NaN */
static void check(const geo *g, how hw, int with_nan, int relu)
{
    int64_t oh = out_size(g->h, g->kh, g->sh, g->ph), ow = out_size(g->w, g->kw, g->sw, g->pw);
    size_t nx = (size_t)(g->n * g->c * g->h * g->w), ny = (size_t)(g->n * g->c * oh * ow);
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *y);
    float *dx = malloc(nx * sizeof *x);
    double *want = calloc(nx, sizeof *want);
    cr_assert(x && y && dy && dx && want);
    const int L = hw.L, bf = hw.bf16;
    fill_ties(x, nx, (unsigned)(g->h * 31 + L));
    if (with_nan)
        for (size_t i = 0; i < nx; i += 7)
            x[i] = NAN;
    for (size_t i = 0; relu && i < nx; i++)
        x[i] = x[i] < 0 ? 0.0f : x[i];
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)((int)(i % 13) - 6) * 0.25f;
    for (size_t i = 0; i < nx; i++)
        dx[i] = 1e30f; /* garbage: backward must overwrite every element */
    nn_maxpool_geom mg = {.planes = hw.nhwc ? g->n : g->n * (g->c / L), .ih = g->h, .iw = g->w,
                          .oh = oh, .ow = ow, .kh = g->kh, .kw = g->kw, .sh = g->sh,
                          .sw = g->sw, .ph = g->ph, .pw = g->pw, .lanes = L,
                          .pix = hw.nhwc ? g->c : 0, .bf16 = bf};
    cr_assert(nn_maxpool_blk_fits(&mg));
    void *kx = to_kernel(x, nx, bf), *kdy = to_kernel(dy, ny, bf), *kdx = to_kernel(dx, nx, bf);
    void *ky = malloc(ny * (bf ? 2 : 4));
    cr_assert_not_null(ky);
    nn_maxpool_blk_forward(&mg, kx, ky);
    nn_maxpool_blk_backward(&mg, kx, kdy, kdx, relu);
    for (size_t i = 0; i < ny; i++)
        y[i] = from_kernel(ky, i, bf);
    for (size_t i = 0; i < nx; i++)
        dx[i] = from_kernel(kdx, i, bf);
    free(kx);
    free(ky);
    free(kdy);
    free(kdx);
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t ch = 0; ch < g->c; ch++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    size_t best = SIZE_MAX, first = SIZE_MAX;
                    for (int64_t u = 0; u < g->kh; u++)
                        for (int64_t v = 0; v < g->kw; v++) {
                            int64_t hi = i * g->sh - g->ph + u, wi = j * g->sw - g->pw + v;
                            if (hi < 0 || hi >= g->h || wi < 0 || wi >= g->w)
                                continue;
                            size_t k = at(g, hw, n, ch, hi, wi, g->h, g->w);
                            if (first == SIZE_MAX)
                                first = k;
                            if (!isnan(x[k]) && (best == SIZE_MAX || x[k] > x[best]))
                                best = k; /* strictly greater: the first maximum wins */
                        }
                    size_t o = at(g, hw, n, ch, i, j, oh, ow);
                    if (best == SIZE_MAX) {
                        cr_assert(isinf(y[o]) && y[o] < 0, "all-NaN window: y = %g", y[o]);
                        want[first] += dy[o];
                    } else {
                        cr_assert_eq(y[o], x[best], "L=%d nhwc %d bf16 %d %lldx%lld case: y[%zu] = "
                                     "%g, want %g", L, hw.nhwc, bf, (long long)g->h, (long long)g->w, o, y[o], x[best]);
                        want[best] += dy[o];
                    }
                }
    for (size_t i = 0; i < nx; i++) {
        if (relu && !(x[i] > 0))
            want[i] = 0;
        cr_assert(fabs(dx[i] - want[i]) <= 1e-6, "L=%d nhwc %d bf16 %d %lldx%lld k%lld s%lld "
                  "p%lld relu %d: dx[%zu] = %g, want %g", L, hw.nhwc, bf, (long long)g->h, (long long)g->w,
                  (long long)g->kh, (long long)g->sh, (long long)g->ph, relu, i, dx[i], want[i]);
    }
    free(x);
    free(y);
    free(dy);
    free(dx);
    free(want);
}

/* every way of running the kernel: blocked and nhwc, 8 and 16 lanes, f32 and bf16 */
static const how hows[] = {{8, 0, 0}, {16, 0, 0}, {8, 1, 0}, {16, 1, 0},
                           {8, 0, 1}, {16, 0, 1}, {8, 1, 1}, {16, 1, 1}};

/* every case on every way that fits its channels */
static void check_all(int with_nan, int relu)
{
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (size_t h = 0; h < sizeof hows / sizeof *hows; h++)
            if (cases[k].c % hows[h].L == 0)
                check(&cases[k], hows[h], with_nan, relu);
}

Test(maxpool_blk, forward_and_backward_match_a_naive_loop_on_every_layout_and_type)
{
    check_all(0, 0);
}

Test(maxpool_blk, backward_after_a_relu_applies_its_derivative_as_the_relu_would)
{
    check_all(0, 1);
    check_all(1, 1);
}

Test(maxpool_blk, nan_never_wins_and_an_all_nan_window_sends_its_gradient_to_its_first_element)
{
    check_all(1, 0);
    /* every element NaN */
    const geo g = {1, 8, 4, 4, 2, 2, 2, 2, 0, 0};
    float x[128], y[32], dy[32], dx[128];
    for (int i = 0; i < 128; i++)
        x[i] = NAN;
    for (int i = 0; i < 32; i++)
        dy[i] = 1.0f + (float)i;
    nn_maxpool_geom mg = {.planes = 1, .ih = 4, .iw = 4, .oh = 2, .ow = 2, .kh = 2, .kw = 2,
                          .sh = 2, .sw = 2, .lanes = 8};
    nn_maxpool_blk_forward(&mg, x, y);
    nn_maxpool_blk_backward(&mg, x, dy, dx, 0);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 2; j++)
            for (int l = 0; l < 8; l++) {
                size_t o = at(&g, (how){8, 0, 0}, 0, l, i, j, 2, 2),
                       f = at(&g, (how){8, 0, 0}, 0, l, 2 * i, 2 * j, 4, 4);
                cr_assert_eq(dx[f], dy[o]);
                cr_assert_eq(dx[f + 8], 0.0f);
            }
}
