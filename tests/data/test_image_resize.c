/* test_image_resize.c: image_folder's resize filters against small independent computations:
 * nearest (the pixel under each output centre), bicubic (PyTorch's a = -0.75 with repeated
 * edges, summed by distance), area (the footprint's mean, integrated by dense sampling),
 * bilinear antialiased (Pillow's widened triangle, by hand), in both directions. */
#include <math.h>

#include "image_fixtures.h"

#define SW 5
#define SH 5

static uint8_t src[SH * SW];

/* a 5x5 gray image of scattered values, alone in img/a */
static void fixture(void)
{
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/a");
    for (int i = 0; i < SH * SW; i++)
        src[i] = (uint8_t)((i * 97 + 13) % 251);
    ifx_png("img/a/p.png", SW, SH, 1, src);
}

static double at(int64_t y, int64_t x)
{
    y = y < 0 ? 0 : y >= SH ? SH - 1 : y;
    x = x < 0 ? 0 : x >= SW ? SW - 1 : x;
    return src[y * SW + x];
}

/* resizes the fixture to h x w with `filter` (scale 1) into out */
static void resize(const char *filter, const char *antialias, int h, int w, float *out)
{
    char hs[16], ws[16];
    snprintf(hs, sizeof hs, "%d", h);
    snprintf(ws, sizeof ws, "%d", w);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("scale", "1"),
                  FX_KV("height", hs), FX_KV("width", ws), FX_KV("resize", filter),
                  FX_KV("antialias", antialias)};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 7, NN_SPLIT_TRAIN);
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
}

Test(image_resize, nearest_takes_the_pixel_under_each_output_centre)
{
    fixture();
    const int sizes[2][2] = {{3, 2}, {8, 7}};
    for (int k = 0; k < 2; k++) {
        int h = sizes[k][0], w = sizes[k][1];
        float out[64];
        resize("nearest", "false", h, w, out);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int64_t sy = (int64_t)floor((y + 0.5) * SH / h);
                int64_t sx = (int64_t)floor((x + 0.5) * SW / w);
                cr_assert_eq(out[y * w + x], (float)at(sy, sx), "%dx%d at (%d, %d)", h, w, y, x);
            }
    }
}

/* Keys' kernel, a = -0.75, as a function of the distance to the tap */
static double keys(double d)
{
    const double a = -0.75;
    d = fabs(d);
    if (d <= 1)
        return (a + 2) * d * d * d - (a + 3) * d * d + 1;
    if (d < 2)
        return a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a;
    return 0;
}

Test(image_resize, bicubic_matches_pytorchs_sum_of_sixteen_taps)
{
    fixture();
    const int sizes[2][2] = {{7, 3}, {2, 8}};
    for (int k = 0; k < 2; k++) {
        int h = sizes[k][0], w = sizes[k][1];
        float out[64];
        resize("bicubic", "false", h, w, out);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double sy = (y + 0.5) * SH / h - 0.5, sx = (x + 0.5) * SW / w - 0.5, v = 0;
                for (int64_t i = (int64_t)floor(sy) - 1; i <= (int64_t)floor(sy) + 2; i++)
                    for (int64_t j = (int64_t)floor(sx) - 1; j <= (int64_t)floor(sx) + 2; j++)
                        v += keys(sy - (double)i) * keys(sx - (double)j) * at(i, j);
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                cr_assert(fabs(out[y * w + x] - v) < 2e-3, "%dx%d at (%d, %d): %g, want %g", h,
                          w, y, x, out[y * w + x], v);
            }
    }
}

Test(image_resize, area_is_the_mean_over_each_output_pixels_footprint)
{
    fixture();
    const int sizes[2][2] = {{3, 2}, {7, 6}};
    const int n = 400; /* sample points per axis and output pixel */
    for (int k = 0; k < 2; k++) {
        int h = sizes[k][0], w = sizes[k][1];
        float out[64];
        resize("area", "false", h, w, out);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double sum = 0, fy = (double)SH / h, fx = (double)SW / w;
                for (int a = 0; a < n; a++)
                    for (int b = 0; b < n; b++)
                        sum += at((int64_t)floor((y + (a + 0.5) / n) * fy),
                                  (int64_t)floor((x + (b + 0.5) / n) * fx));
                double v = sum / ((double)n * n);
                cr_assert(fabs(out[y * w + x] - v) < 0.05, "%dx%d at (%d, %d): %g, want %g", h,
                          w, y, x, out[y * w + x], v);
            }
    }
}

Test(image_resize, antialiased_bilinear_widens_the_triangle_when_shrinking)
{
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/a");
    const uint8_t ramp[4] = {0, 10, 20, 30}; /* one row */
    ifx_png("img/a/r.png", 4, 1, 1, ramp);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("scale", "1"),
                  FX_KV("height", "1"), FX_KV("width", "2"), FX_KV("antialias", "true")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 6, NN_SPLIT_TRAIN);
    float out[2];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    /* output 0: centre 1, support 2: taps 0, 1, 2 weighing 0.75, 0.75, 0.25 */
    cr_assert_float_eq(out[0], (0 * 0.75 + 10 * 0.75 + 20 * 0.25) / 1.75, 1e-4);
    /* output 1: centre 3: taps 1, 2, 3 weighing 0.25, 0.75, 0.75 (the 4th is cut) */
    cr_assert_float_eq(out[1], (10 * 0.25 + 20 * 0.75 + 30 * 0.75) / 1.75, 1e-4);
    /* without antialias, bilinear halves between pixels 0/1 and 2/3 */
    float plain[2];
    nn_kv kv2[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("scale", "1"),
                   FX_KV("height", "1"), FX_KV("width", "2")};
    fx_ds_ok(&d, "image_folder", kv2, 5, NN_SPLIT_TRAIN);
    cr_assert_eq(fx_ds_get(&d, 0, plain, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    cr_assert_float_eq(plain[0], 5.0f, 1e-4);
    cr_assert_float_eq(plain[1], 25.0f, 1e-4);
}

Test(image_resize, every_filter_keeps_an_image_of_the_same_size)
{
    fixture();
    const char *f[] = {"nearest", "bilinear", "bicubic", "area"};
    for (int k = 0; k < 4; k++)
        for (int aa = 0; aa < 2; aa++) {
            float out[SH * SW];
            resize(f[k], aa ? "true" : "false", SH, SW, out);
            for (int i = 0; i < SH * SW; i++)
                cr_assert_float_eq(out[i], (float)src[i], 1e-3, "%s pixel %d", f[k], i);
        }
}

Test(image_resize, a_bad_filter_is_rejected_naming_the_key)
{
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("resize", "lanczos")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_lt(fx_ds_create(&d, "image_folder", kv, 2, &err), 0);
    cr_assert(strstr(err.msg, "'resize'") && strstr(err.msg, "bicubic"), "%s", err.msg);
    fx_ds_free(&d);
}
