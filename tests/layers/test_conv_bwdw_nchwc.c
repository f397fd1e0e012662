/* test_conv_bwdw_nchwc.c: libnn_dnnl's weight and bias gradients on channel-blocked input and
 * dLoss/dz (plugins/common/nn_conv_bwdw_nchwc.c) against naive double sums, on both blocks
 * (8 lanes, as oneDNN picks on AVX2, and 16, as on AVX-512, which a CPU with AVX2 only never
 * gets from oneDNN): channels that fill neither a block nor the kernel's 4-channel and
 * 24-channel tiles, garbage in the padded channels of both tensors, stride, dilation,
 * padding past the window's reach, output rows split into strips, and the limits under
 * which it declines. Built from the kernel's source. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nn_conv_bwdw_nchwc.h"
#include "ref_conv.h"

typedef struct geo {
    int64_t n, ic, ih, iw, oc, kh, kw, sh, sw, dh, dw, ph, pw;
} geo;

static const geo cases[] = {
    /* n ic  ih  iw  oc kh kw sh sw dh dw ph pw */
    {2, 32, 14, 14, 64, 5, 5, 1, 1, 1, 1, 2, 2}, /* the CNN's second layer: tiles 3 + 3 + 2 */
    {1, 13, 9, 11, 20, 3, 3, 1, 1, 1, 1, 1, 1},  /* 13 = 4+4+4+1; 20 channels: one tile of 3 */
    {2, 6, 12, 15, 8, 3, 7, 2, 2, 2, 1, 2, 3},   /* stride, dilation; one vector of 8 */
    {1, 8, 40, 10, 40, 3, 3, 1, 1, 1, 1, 1, 1},  /* 40 rows of 10: three strips; tiles 3 + 2 */
    {1, 4, 3, 200, 16, 1, 3, 1, 1, 1, 1, 0, 1},  /* rows wider than a strip */
    {2, 9, 6, 7, 12, 3, 11, 1, 1, 1, 1, 4, 6},   /* padding past the input: empty taps */
    {1, 16, 7, 7, 48, 1, 1, 1, 1, 1, 1, 0, 0},   /* 1x1 */
};

/* plain [N][C][H][W] into [N][C/L][H][W][L], the padded channels set to `pad` */
static float *blocked(const float *plain, int64_t n, int64_t c, int64_t hw, int L, float pad)
{
    int64_t cb = (c + L - 1) / L;
    float *b = malloc((size_t)(n * cb * hw * L) * sizeof *b);
    cr_assert(b);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < cb * L; k++)
            for (int64_t p = 0; p < hw; p++)
                b[((i * cb + k / L) * hw + p) * L + k % L] =
                    k < c ? plain[(i * c + k) * hw + p] : pad;
    return b;
}

static float *random_plain(size_t n, unsigned seed)
{
    float *v = malloc(n * sizeof *v);
    cr_assert(v);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return v;
}

static void check(const geo *c, int L, float pad)
{
    int64_t oh = ref_conv_out_len(c->ih, c->kh, c->sh, c->dh, c->ph);
    int64_t ow = ref_conv_out_len(c->iw, c->kw, c->sw, c->dw, c->pw);
    float *x = random_plain((size_t)(c->n * c->ic * c->ih * c->iw), (unsigned)(c->iw + L));
    float *dyq = random_plain((size_t)(c->n * c->oc * oh * ow), (unsigned)(c->ic * 3 + L));
    float *xb = blocked(x, c->n, c->ic, c->ih * c->iw, L, pad);
    float *dyb = blocked(dyq, c->n, c->oc, oh * ow, L, pad);
    size_t nw = (size_t)(c->oc * c->ic * c->kh * c->kw);
    float *dw = malloc(nw * sizeof *dw), *db = malloc((size_t)c->oc * sizeof *db);
    cr_assert(dw && db);
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN; /* overwritten, never added to */
    for (int64_t i = 0; i < c->oc; i++)
        db[i] = NAN;
    nn_conv_bwdw_geom g = {.n = c->n, .ic = c->ic, .ih = c->ih, .iw = c->iw, .oc = c->oc,
                           .oh = oh, .ow = ow, .kh = c->kh, .kw = c->kw, .sh = c->sh,
                           .sw = c->sw, .dh = c->dh, .dw = c->dw, .ph = c->ph, .pw = c->pw,
                           .lanes = L};
    cr_assert(nn_conv_bwdw_nchwc_fits(&g), "this test needs a CPU with AVX2 and FMA");
    nn_conv_bwdw_nchwc(&g, xb, dyb, dw, db);
    const ref_conv r = {c->n, c->ic, c->ih, c->iw, c->oc, oh, ow, c->kh, c->kw, c->sh, c->sw,
                        c->dh, c->dw, c->ph, c->pw, 1};
    char where[160] = "";
    double worst = ref_conv_worst(&r, x, dyq, dw, db, where, sizeof where);
    cr_assert_leq(worst, 1e-4, "L=%d, %lld->%lld channels, %lldx%lld input, %lldx%lld window: %s",
                  L, (long long)c->ic, (long long)c->oc, (long long)c->ih, (long long)c->iw,
                  (long long)c->kh, (long long)c->kw, where);
    /* no bias asked for: the weights alone, the same */
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN;
    nn_conv_bwdw_nchwc(&g, xb, dyb, dw, NULL);
    worst = ref_conv_worst(&r, x, dyq, dw, NULL, where, sizeof where);
    cr_assert_leq(worst, 1e-4, "L=%d without bias: %s", L, where);
    free(x);
    free(dyq);
    free(xb);
    free(dyb);
    free(dw);
    free(db);
}

Test(conv_bwdw_nchwc, weight_and_bias_gradients_match_naive_sums_on_8_and_16_lanes)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        cr_skip_test("no AVX2+FMA: the convolution keeps oneDNN's kernels on this CPU");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        check(&cases[k], 8, 1e30f); /* padded channels: huge, or NaN; never read into dw */
        check(&cases[k], 16, NAN);
    }
}

Test(conv_bwdw_nchwc, declines_what_it_does_not_handle)
{
    nn_conv_bwdw_geom g = {.n = 1, .ic = 8, .ih = 8, .iw = 8, .oc = 8, .oh = 8, .ow = 8,
                           .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = 1,
                           .pw = 1, .lanes = 8};
    __builtin_cpu_init();
    int cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    cr_assert_eq(nn_conv_bwdw_nchwc_fits(&g), cpu);
    nn_conv_bwdw_geom taps = g;
    taps.kh = 9;
    taps.kw = 8; /* 72 taps > NN_CONV_BWDW_NCHWC_TAPS */
    cr_assert_eq(nn_conv_bwdw_nchwc_fits(&taps), 0);
    nn_conv_bwdw_geom lanes = g;
    lanes.lanes = 4;
    cr_assert_eq(nn_conv_bwdw_nchwc_fits(&lanes), 0);
    nn_conv_bwdw_geom empty = g;
    empty.oh = 0;
    cr_assert_eq(nn_conv_bwdw_nchwc_fits(&empty), 0);
}
