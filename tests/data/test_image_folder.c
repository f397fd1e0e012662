/* test_image_folder.c: the image_folder dataset on PNG files the test writes with libpng:
 * classes from folder names, gray and RGB decoding in CHW order, bilinear resizing checked
 * against hand-computed values, and unreadable or empty inputs rejected by name. */
#include <png.h>

#include "fixtures.h"

static void write_png(const char *rel, int w, int h, int rgb, const uint8_t *px)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    cr_assert(png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL), "%s", im.message);
}

/* 4x4 gray image whose pixel (y, x) is base + 10 * (4 * y + x) */
static void gray4(const char *rel, int base)
{
    uint8_t px[16];
    for (int i = 0; i < 16; i++)
        px[i] = (uint8_t)(base + 10 * i);
    write_png(rel, 4, 4, 0, px);
}

static void two_classes(void)
{
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/dog");
    fx_mkdir("img/cat");
    gray4("img/cat/b.png", 0);
    gray4("img/cat/a.png", 1);
    gray4("img/dog/c.PNG", 2);
    fx_write_text("img/dog/notes.txt", "ignored");
}

Test(image_folder, gray_images_with_classes_from_sorted_folder_names)
{
    two_classes();
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("resize", "check")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 3, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3);
    cr_assert_eq(d.info.n_classes, 2);
    cr_assert_str_eq(d.info.class_names[0], "cat");
    cr_assert_eq(d.info.sample.shape[0], 1);
    cr_assert_eq(d.info.sample.shape[1], 4);
    cr_assert_eq(d.info.labels[2], 1);
    float px[16];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, px, &y, &err), 0, "%s", err.msg); /* cat/a.png, base 1 */
    cr_assert_eq(y, 0);
    for (int i = 0; i < 16; i++)
        cr_assert_float_eq(px[i], (float)(1 + 10 * i) / 255.0f, 1e-6);
    fx_ds_free(&d);
}

Test(image_folder, bilinear_resize_uses_half_pixel_centres)
{
    two_classes();
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("height", "2"),
                  FX_KV("width", "2"), FX_KV("scale", "1")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 5, NN_SPLIT_TRAIN);
    float px[4];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 1, px, &y, &err), 0, "%s", err.msg); /* cat/b.png, base 0 */
    /* output (0,0) samples source (0.5, 0.5): mean of pixels 0, 1, 4, 5 = 10 * 2.5 */
    cr_assert_float_eq(px[0], 25.0f, 1e-4);
    cr_assert_float_eq(px[1], 45.0f, 1e-4);
    cr_assert_float_eq(px[2], 105.0f, 1e-4);
    cr_assert_float_eq(px[3], 125.0f, 1e-4);
    fx_ds_free(&d);
}

Test(image_folder, rgb_images_are_channel_major)
{
    fx_tmpdir();
    fx_mkdir("rgb");
    fx_mkdir("rgb/only");
    uint8_t px[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        px[i] = (uint8_t)(i * 7);
    write_png("rgb/only/x.png", 3, 2, 1, px);
    nn_kv kv[] = {FX_KV("dir", "rgb"), FX_KV("scale", "1")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.sample.shape[0], 3);
    cr_assert_eq(d.info.sample.shape[1], 2);
    cr_assert_eq(d.info.sample.shape[2], 3);
    float out[18];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, out, &y, &err), 0, "%s", err.msg);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 6; p++)
            cr_assert_float_eq(out[c * 6 + p], (float)((p * 3 + c) * 7), 0);
    fx_ds_free(&d);
}

Test(image_folder, unreadable_png_is_named)
{
    two_classes();
    fx_write_text("img/dog/broken.png", "this is not a png");
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN, "img/dog/broken.png: unreadable PNG",
                   NULL);
}

Test(image_folder, class_folder_without_files_is_named)
{
    two_classes();
    fx_mkdir("img/emu");
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN, "img/emu: class folder has no .png",
                   NULL);
}

Test(image_folder, check_mode_rejects_another_size)
{
    two_classes();
    uint8_t px[6] = {0};
    write_png("img/dog/small.png", 3, 2, 0, px);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("resize", "check"), FX_KV("height", "4"),
                  FX_KV("width", "4")};
    fx_expect_fail("image_folder", kv, 4, NN_SPLIT_TRAIN, "img/dog/small.png: image is 2x3",
                   "expected 4x4");
}

Test(image_folder, test_folder_maps_to_training_classes)
{
    two_classes();
    fx_mkdir("test");
    fx_mkdir("test/dog");
    gray4("test/dog/z.png", 5);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("test_dir", "test")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TEST);
    cr_assert_eq(d.info.length, 1);
    cr_assert_eq(d.info.n_classes, 2);
    cr_assert_eq(d.info.labels[0], 1);
    fx_ds_free(&d);
}

Test(image_folder, rejects_bad_parameters_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv k1[] = {FX_KV("dir", "x"), FX_KV("mode", "cmyk")};
    cr_assert_lt(fx_ds_create(&d, "image_folder", k1, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'mode'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k2[] = {FX_KV("dir", "x"), FX_KV("height", "-1")};
    cr_assert_lt(fx_ds_create(&d, "image_folder", k2, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'height'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k3[] = {FX_KV("dir", "x"), FX_KV("height", "8")};
    cr_assert_lt(fx_ds_create(&d, "image_folder", k3, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'width'"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(image_folder, plugins_show_documents_every_key)
{
    fx_show_documents("image_folder");
}
