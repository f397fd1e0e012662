/* test_image_formats.c: image_folder reads JPEG as well as PNG, tells them by their bytes,
 * converts gray and colour files of either format to the channel count `mode` asks for, reads
 * CMYK JPEGs, and skips a JPEG cut short at open. The reference for a JPEG is libjpeg's own
 * decoding of the file the test wrote, and the original pixels within JPEG's loss. */
#include <math.h>

#include "image_fixtures.h"

/* an 8x6 RGB image with smooth colour ramps (JPEG keeps it within a few levels) */
static void ramp(uint8_t *px, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + 3 * (y * w + x);
            p[0] = (uint8_t)(40 + 20 * x);
            p[1] = (uint8_t)(60 + 25 * y);
            p[2] = (uint8_t)(200 - 10 * x - 5 * y);
        }
}

/* opens img (one class folder) in `mode` with scale 1 and decodes sample i into out */
static void decode(const char *mode, int64_t i, float *out, int64_t *shape)
{
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", mode), FX_KV("scale", "1")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 3, NN_SPLIT_TRAIN);
    for (int k = 0; k < 3; k++)
        shape[k] = d.info.sample.shape[k];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, i, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
}

static void one_folder(void)
{
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/a");
}

Test(image_formats, an_rgb_jpeg_decodes_as_libjpeg_does_in_rgb_and_in_gray)
{
    one_folder();
    uint8_t px[8 * 6 * 3], ref[8 * 6 * 3];
    ramp(px, 8, 6);
    ifx_jpeg("img/a/x.jpg", 8, 6, 3, px, 100);
    float out[3 * 48];
    int64_t shape[3];
    decode("rgb", 0, out, shape);
    cr_assert(shape[0] == 3 && shape[1] == 6 && shape[2] == 8);
    cr_assert_eq(ifx_jpeg_decode("img/a/x.jpg", JCS_RGB, ref, sizeof ref), sizeof ref);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 48; p++) {
            cr_assert_eq(out[c * 48 + p], (float)ref[3 * p + c], "channel %d pixel %d", c, p);
            cr_assert(fabsf(out[c * 48 + p] - (float)px[3 * p + c]) <= 6.0f,
                      "lossy beyond 6: %g %d", out[c * 48 + p], px[3 * p + c]);
        }
    decode("gray", 0, out, shape);
    cr_assert_eq(shape[0], 1);
    cr_assert_eq(ifx_jpeg_decode("img/a/x.jpg", JCS_GRAYSCALE, ref, sizeof ref), 48);
    for (int p = 0; p < 48; p++) {
        const uint8_t *o = px + 3 * p;
        double luma = 0.299 * o[0] + 0.587 * o[1] + 0.114 * o[2];
        cr_assert_eq(out[p], (float)ref[p], "pixel %d", p);
        cr_assert(fabs(out[p] - luma) <= 6.0, "pixel %d: %g, luma %g", p, out[p], luma);
    }
}

Test(image_formats, a_gray_jpeg_and_a_gray_png_in_rgb_mode_repeat_the_gray_level)
{
    one_folder();
    uint8_t g[4 * 4];
    for (int i = 0; i < 16; i++)
        g[i] = (uint8_t)(30 + 12 * i);
    ifx_jpeg("img/a/1.jpeg", 4, 4, 1, g, 100);
    ifx_png("img/a/2.png", 4, 4, 1, g);
    uint8_t ref[16];
    cr_assert_eq(ifx_jpeg_decode("img/a/1.jpeg", JCS_GRAYSCALE, ref, sizeof ref), 16);
    float out[3 * 16];
    int64_t shape[3];
    decode("rgb", 0, out, shape);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++)
            cr_assert_eq(out[c * 16 + p], (float)ref[p], "jpeg channel %d pixel %d", c, p);
    decode("rgb", 1, out, shape);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++)
            cr_assert_eq(out[c * 16 + p], (float)g[p], "png channel %d pixel %d", c, p);
}

Test(image_formats, an_rgb_png_in_gray_mode_keeps_grays_and_orders_green_red_blue)
{
    one_folder();
    /* pixels: gray 100, pure red, pure green, pure blue */
    const uint8_t px[4 * 3] = {100, 100, 100, 255, 0, 0, 0, 255, 0, 0, 0, 255};
    ifx_png("img/a/c.png", 4, 1, 3, px);
    float out[4];
    int64_t shape[3];
    decode("gray", 0, out, shape);
    cr_assert(fabsf(out[0] - 100.0f) <= 1.0f, "a gray pixel stays gray: %g", out[0]);
    cr_assert(out[2] > out[1] && out[1] > out[3] && out[3] > 0, "luma order: r %g g %g b %g",
              out[1], out[2], out[3]);
}

Test(image_formats, a_cmyk_jpeg_converts_to_rgb_and_gray)
{
    one_folder();
    /* stored as Adobe writes it (255 = no ink): no ink is white, full magenta + yellow is red */
    uint8_t px[2 * 4] = {255, 255, 255, 255, 255, 0, 0, 255};
    ifx_jpeg("img/a/k.jpg", 2, 1, 4, px, 100);
    float out[3 * 2];
    int64_t shape[3];
    decode("rgb", 0, out, shape);
    const float want[3][2] = {{255, 255}, {255, 0}, {255, 0}};
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 2; p++)
            cr_assert(fabsf(out[c * 2 + p] - want[c][p]) <= 8.0f, "channel %d pixel %d: %g", c,
                      p, out[c * 2 + p]);
    decode("gray", 0, out, shape);
    cr_assert(fabsf(out[0] - 255.0f) <= 8.0f && fabsf(out[1] - 0.299f * 255) <= 8.0f,
              "gray %g %g", out[0], out[1]);
}

Test(image_formats, the_format_comes_from_the_bytes_not_the_name)
{
    one_folder();
    uint8_t g[4] = {10, 20, 30, 40};
    ifx_png("img/a/really_png.jpg", 2, 2, 1, g);
    float out[4];
    int64_t shape[3];
    decode("gray", 0, out, shape);
    for (int p = 0; p < 4; p++)
        cr_assert_eq(out[p], (float)g[p]);
}

Test(image_formats, a_jpeg_cut_short_is_skipped_at_open_naming_it)
{
    one_folder();
    static uint8_t px[32 * 32 * 3];
    for (size_t i = 0; i < sizeof px; i++) /* noise: a long scan to cut into */
        px[i] = (uint8_t)((i * 2654435761u) >> 13);
    ifx_jpeg("img/a/w.jpg", 32, 32, 3, px, 90);
    ifx_jpeg("img/a/x.jpg", 32, 32, 3, px, 90);
    FILE *f = fopen(fx_path("img/a/x.jpg"), "rb");
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert_gt(n, 2000);
    fx_write("img/a/x.jpg", buf, n - 1000); /* the header is whole, the scan is not */
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 1, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 1, "only w.jpg is a sample");
    cr_assert_not_null(d.info.notice);
    cr_assert(strstr(d.info.notice, "img/a/x.jpg: unreadable JPEG: the file ends before the "
                                    "image"), "%s", d.info.notice);
    static float out[3 * 32 * 32];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    /* garbage after the JPEG start marker is skipped at open like a corrupt PNG */
    fx_write("img/a/y.jpg", "\xff\xd8\xff\xe0garbage", 11);
    nn_kv strict[] = {FX_KV("dir", "img"), FX_KV("max_skipped", "0")};
    fx_expect_fail("image_folder", strict, 2, NN_SPLIT_TRAIN, "img/a/y.jpg: unreadable JPEG",
                   NULL);
}

Test(image_formats, a_jpeg_of_more_than_1000_scans_is_refused)
{
    one_folder();
    uint8_t px[8 * 8 * 3];
    ramp(px, 8, 8);
    /* a progressive JPEG whose last scan is repeated 1001 times (each a pass over the image) */
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &mem, &len);
    c.image_width = c.image_height = 8;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < 8) {
        JSAMPROW row = px + c.next_scanline * 24;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    size_t last = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (mem[i] == 0xFF && mem[i + 1] == 0xDA)
            last = i;
    size_t scan = len - 2 - last, total = len + 1001 * scan;
    uint8_t *b = malloc(total);
    memcpy(b, mem, len - 2);
    for (int k = 0; k < 1001; k++)
        memcpy(b + len - 2 + k * scan, mem + last, scan);
    memcpy(b + total - 2, "\xff\xd9", 2);
    fx_write("img/a/scans.jpg", b, total);
    free(b);
    free(mem);
    nn_kv kv[] = {FX_KV("dir", "img")}; /* skipped at open: no file is left */
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN,
                   "img/a/scans.jpg: unreadable JPEG: more than 1000 scans", NULL);
}
