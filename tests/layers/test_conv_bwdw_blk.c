/* test_conv_bwdw_blk.c: libnn_dnnl's weight and bias gradients for few input channels
 * (plugins/common/nn_conv_bwdw_blk.c) against naive double sums, on both blocked layouts of
 * dLoss/dz it reads (8 lanes, as oneDNN picks on AVX2, and 16, as on AVX-512, which a CPU
 * with AVX2 only never gets from oneDNN), with output channels that do not fill the last
 * block, stride, dilation, padding wider than the window's reach and window rows that map
 * to no output row; and the limits under which it declines. Built from the kernel's source. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nn_conv_bwdw_blk.h"
#include "ref_conv.h"

typedef struct geo {
    int64_t n, ic, ih, iw, oc, kh, kw, sh, sw, dh, dw, ph, pw;
} geo;

static const geo cases[] = {
    /* n ic  ih  iw  oc kh kw sh sw dh dw ph pw */
    {2, 1, 28, 28, 32, 5, 5, 1, 1, 1, 1, 2, 2},
    {3, 3, 13, 11, 20, 3, 3, 2, 2, 1, 1, 1, 1},
    {1, 2, 12, 15, 16, 3, 7, 1, 2, 2, 1, 2, 3},
    {2, 1, 9, 10, 12, 4, 2, 3, 1, 1, 2, 0, 0},
    {1, 1, 6, 7, 8, 3, 11, 1, 1, 1, 1, 4, 6}, /* 11 taps: 5 + 5 + 1; padding past the input */
    {2, 4, 5, 5, 40, 2, 2, 2, 2, 1, 1, 0, 0},
};

static void check(const geo *c, int L)
{
    int64_t oh = ref_conv_out_len(c->ih, c->kh, c->sh, c->dh, c->ph);
    int64_t ow = ref_conv_out_len(c->iw, c->kw, c->sw, c->dw, c->pw);
    int64_t blocks = (c->oc + L - 1) / L;
    size_t nx = (size_t)(c->n * c->ic * c->ih * c->iw);
    size_t ny = (size_t)(c->n * blocks * oh * ow * L);
    size_t nw = (size_t)(c->oc * c->ic * c->kh * c->kw);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *dw = malloc(nw * 4);
    float *db = malloc((size_t)c->oc * sizeof *db);
    cr_assert(x && dy && dw && db);
    srand((unsigned)(c->iw * 7 + L));
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < ny; i++) /* the padded channels hold garbage: never read */
        dy[i] = (i % (size_t)L) + (size_t)(((i / ((size_t)(oh * ow * L))) % (size_t)blocks) * L) >=
                        (size_t)c->oc
                    ? 1e30f
                    : (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN; /* overwritten, never added to */
    nn_conv_bwdw_geom g = {.n = c->n, .ic = c->ic, .ih = c->ih, .iw = c->iw, .oc = c->oc,
                           .oh = oh, .ow = ow, .kh = c->kh, .kw = c->kw, .sh = c->sh,
                           .sw = c->sw, .dh = c->dh, .dw = c->dw, .ph = c->ph, .pw = c->pw,
                           .lanes = L};
    cr_assert(nn_conv_bwdw_blk_fits(&g), "this test needs a CPU with AVX2 and FMA");
    nn_conv_bwdw_blk(&g, x, dy, dw, db);
    const ref_conv r = {c->n, c->ic, c->ih, c->iw, c->oc, oh, ow, c->kh, c->kw, c->sh, c->sw,
                        c->dh, c->dw, c->ph, c->pw, L};
    char where[160] = "";
    double worst = ref_conv_worst(&r, x, dy, dw, db, where, sizeof where);
    cr_assert_leq(worst, 1e-4, "L=%d, %lldx%lld input, %lldx%lld window: %s", L,
                  (long long)c->ih, (long long)c->iw, (long long)c->kh, (long long)c->kw, where);
    free(x);
    free(dy);
    free(dw);
    free(db);
}

Test(conv_bwdw_blk, weight_and_bias_gradients_match_naive_sums_on_8_and_16_lanes)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA: the convolution keeps oneDNN's kernels on this CPU");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        check(&cases[k], 8);
        check(&cases[k], 16);
    }
}

Test(conv_bwdw_blk, declines_what_its_buffers_cannot_hold)
{
    nn_conv_bwdw_geom g = {.n = 1, .ic = 1, .ih = 8, .iw = 8, .oc = 8, .oh = 8, .ow = 8,
                           .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = 1,
                           .pw = 1, .lanes = 8};
    __builtin_cpu_init();
    int cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    cr_assert_eq(nn_conv_bwdw_blk_fits(&g), cpu);
    nn_conv_bwdw_geom wide = g;
    wide.iw = wide.ow = 5000; /* a padded row of 5002 floats */
    cr_assert_eq(nn_conv_bwdw_blk_fits(&wide), 0);
    nn_conv_bwdw_geom taps = g;
    taps.ic = 4;
    taps.kh = taps.kw = 13; /* 4 x 13 x 13 x 8 accumulators > 4096 */
    cr_assert_eq(nn_conv_bwdw_blk_fits(&taps), 0);
    nn_conv_bwdw_geom lanes = g;
    lanes.lanes = 4;
    cr_assert_eq(nn_conv_bwdw_blk_fits(&lanes), 0);
}
