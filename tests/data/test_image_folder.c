/* test_image_folder.c: the image_folder dataset on PNG files the test writes with libpng:
 * classes from folder names, gray and RGB decoding in CHW order, bilinear resizing checked
 * against hand-computed values, files it cannot read (corrupt image data too) skipped and
 * reported at open (an error when they are most of a folder), headers bounded by max_pixels,
 * empty inputs rejected by name. */
#include <png.h>

#include "data_fixtures.h"

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

/* A PNG of w x h whose header is all there is: IHDR (8-bit gray), an empty IDAT and IEND. */
static void write_png_header(const char *rel, uint32_t w, uint32_t h)
{
    uint8_t b[8 + 25 + 12 + 12];
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[4 + 4 + 13] = {0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                (uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8),
                                (uint8_t)w, (uint8_t)(h >> 24), (uint8_t)(h >> 16),
                                (uint8_t)(h >> 8), (uint8_t)h, 8, 0, 0, 0, 0};
    memcpy(b + 8, ihdr, sizeof ihdr);
    const uint8_t *types[2] = {(const uint8_t *)"IDAT", (const uint8_t *)"IEND"};
    uint8_t *at = b + 8 + 21;
    for (int c = -1; c < 2; c++) {
        if (c >= 0) { /* an empty chunk: length 0, its type, the CRC */
            memset(at, 0, 4);
            memcpy(at + 4, types[c], 4);
            at += 8;
        }
        const uint8_t *crc_of = c < 0 ? ihdr + 4 : types[c];
        uint32_t crc = (uint32_t)crc32(0, crc_of, c < 0 ? 17 : 4);
        for (int i = 0; i < 4; i++)
            *at++ = (uint8_t)(crc >> (24 - 8 * i));
    }
    fx_write(rel, b, sizeof b);
}

static const char *notice_of(const fx_ds *d)
{
    cr_assert_not_null(d->info.notice, "no notice of the skipped files");
    return d->info.notice;
}

Test(image_folder, unreadable_files_are_skipped_and_reported_with_count_and_names)
{
    two_classes(); /* 3 PNGs and dog/notes.txt */
    fx_write_text("img/dog/broken.png", "this is not a png");
    fx_write_text("img/dog/x.gif", "GIF89a");
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3, "the three PNGs are used");
    const char *n = notice_of(&d);
    cr_assert(strstr(n, "skipped 3 of the 6 files"), "%s", n);
    cr_assert(strstr(n, "img/dog/broken.png: unreadable image"), "%s", n);
    cr_assert(strstr(n, "img/dog/notes.txt: not a .png or .jpg"), "%s", n);
    cr_assert(strstr(n, "img/dog/x.gif: not a .png or .jpg"), "%s", n);
    float px[16];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 2, px, &y, &err), 0, "%s", err.msg);
    cr_assert_eq(y, 1);
    fx_ds_free(&d);
    /* with nothing skipped there is nothing to say */
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/a");
    gray4("img/a/1.png", 0);
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_null(d.info.notice);
    fx_ds_free(&d);
}

Test(image_folder, a_folder_where_most_files_are_skipped_is_an_error)
{
    /* three files it cannot read and two PNGs: 3 of 5 is more than max_skipped = 0.5 */
    fx_tmpdir();
    fx_mkdir("img");
    fx_mkdir("img/x");
    gray4("img/x/a.png", 0);
    gray4("img/x/b.png", 0);
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "img/x/p%d.webp", i);
        fx_write_text(rel, "RIFF....WEBP");
    }
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN, "3 of the 5 files",
                   "more than max_skipped = 0.5");
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN, "img/x/p0.webp: not a .png or .jpg file",
                   "img/x/p2.webp");
    nn_kv lenient[] = {FX_KV("dir", "img"), FX_KV("max_skipped", "0.6")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", lenient, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 2);
    fx_ds_free(&d);
    /* max_skipped = 0: any file it cannot read is an error */
    two_classes();
    nn_kv strict[] = {FX_KV("dir", "img"), FX_KV("max_skipped", "0")};
    fx_expect_fail("image_folder", strict, 2, NN_SPLIT_TRAIN, "1 of the 4 files",
                   "img/dog/notes.txt: not a .png or .jpg file");
}

Test(image_folder, a_header_claiming_1e6_by_1e6_pixels_is_skipped_and_the_others_decode)
{
    two_classes();
    write_png_header("img/dog/bomb.png", 1000000, 1000000);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3);
    const char *n = notice_of(&d);
    cr_assert(strstr(n, "img/dog/bomb.png: 1000000x1000000 (HxW) is more than max_pixels = "
                        "89478485"), "%s", n);
    float px[16];
    int32_t y;
    nn_error err = {0};
    for (int64_t i = 0; i < 3; i++) /* every other image decodes in a buffer of its own size */
        cr_assert_eq(fx_ds_get(&d, i, px, &y, &err), 0, "%s", err.msg);
    cr_assert_float_eq(px[15], (2 + 150) / 255.0f, 1e-6); /* dog/c.PNG, base 2 */
    fx_ds_free(&d);
    /* the key bounds it: 4x4 = 16 pixels is more than 15; as a predict input it is an error */
    nn_kv small[] = {FX_KV("dir", "img"), FX_KV("max_pixels", "15"), FX_KV("max_skipped", "1"),
                     FX_KV("height", "4"), FX_KV("width", "4")};
    fx_expect_fail("image_folder", small, 5, NN_SPLIT_TRAIN, "img/cat: class folder has no .png or "
                   ".jpg files it can read (2 skipped", "more than max_pixels = 15");
}

/* Copies the PNG at rel to bad_rel with its zlib stream's last byte (the Adler-32) changed:
 * the header reads, the data does not. fix_crc: also recompute the IDAT chunk's CRC, so that
 * libpng meets the bad zlib check rather than the bad chunk CRC. */
static void corrupt_idat(const char *rel, const char *bad_rel, int fix_crc)
{
    uint8_t b[4096];
    FILE *f = fopen(fx_path(rel), "rb");
    cr_assert_not_null(f);
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    size_t at = 8; /* the chunks after the signature: length, type, data, CRC */
    while (at + 12 <= n && memcmp(b + at + 4, "IDAT", 4))
        at += 12 + ((size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 |
                    b[at + 3]);
    cr_assert_leq(at + 12, n, "no IDAT chunk in %s", rel);
    size_t len = (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 | b[at + 3];
    b[at + 8 + len - 1] ^= 0x5a;
    if (fix_crc) {
        uint32_t crc = (uint32_t)crc32(0, b + at + 4, (uInt)(4 + len));
        for (int i = 0; i < 4; i++)
            b[at + 8 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
    }
    fx_write(bad_rel, b, n);
}

Test(image_folder, a_png_with_corrupt_image_data_is_skipped_at_open_and_counted)
{
    two_classes(); /* cat/a.png, cat/b.png, dog/c.PNG and dog/notes.txt */
    corrupt_idat("img/cat/a.png", "img/cat/zz_bad.png", 1);
    corrupt_idat("img/cat/a.png", "img/dog/zz_crc.png", 0);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3, "only the three good PNGs are samples");
    const char *n = notice_of(&d);
    cr_assert(strstr(n, "skipped 3 of the 6 files"), "%s", n);
    cr_assert(strstr(n, "img/cat/zz_bad.png: unreadable PNG: IDAT: incorrect data check"), "%s",
              n);
    cr_assert(strstr(n, "img/dog/zz_crc.png: unreadable PNG: IDAT"), "%s", n);
    float px[16];
    int32_t y;
    nn_error err = {0};
    for (int64_t i = 0; i < d.info.length; i++) /* a run meets no bad file */
        cr_assert_eq(fx_ds_get(&d, i, px, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    /* they count against max_skipped like any unreadable file */
    nn_kv strict[] = {FX_KV("dir", "img"), FX_KV("max_skipped", "0.4")};
    fx_expect_fail("image_folder", strict, 2, NN_SPLIT_TRAIN, "3 of the 6 files",
                   "img/cat/zz_bad.png: unreadable PNG: IDAT: incorrect data check");
    /* a directory given to predict skips it too; the file named by itself is an error */
    cr_assert_eq(fx_ds_create(&d, "image_folder", kv, 2, &err), 0, "%s", err.msg);
    const char *in[] = {fx_path("img/cat")};
    nn_dataset_open o = {.struct_size = sizeof o, .split = NN_SPLIT_PREDICT, .base_dir = fx_dir,
                         .inputs = in, .n_inputs = 1};
    cr_assert_eq(d.vt->open(d.inst.self, &o, &d.info, &err), 0, "%s", err.msg);
    cr_assert_eq(d.info.length, 2);
    cr_assert(strstr(notice_of(&d), "zz_bad.png: unreadable PNG"), "%s", notice_of(&d));
    fx_ds_free(&d);
    cr_assert_eq(fx_ds_create(&d, "image_folder", kv, 2, &err), 0, "%s", err.msg);
    in[0] = fx_path("img/cat/zz_bad.png");
    cr_assert_lt(d.vt->open(d.inst.self, &o, &d.info, &err), 0);
    cr_assert(strstr(err.msg, "zz_bad.png: unreadable PNG: IDAT: incorrect data check"), "%s",
              err.msg);
    fx_ds_free(&d);
}

Test(image_folder, an_unreadable_predict_input_is_an_error_naming_it)
{
    two_classes();
    fx_write_text("broken.png", "not a png");
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, "image_folder", kv, 1, &err), 0, "%s", err.msg);
    const char *in[] = {fx_path("broken.png")};
    nn_dataset_open o = {.struct_size = sizeof o, .split = NN_SPLIT_PREDICT, .base_dir = fx_dir,
                         .inputs = in, .n_inputs = 1};
    cr_assert_lt(d.vt->open(d.inst.self, &o, &d.info, &err), 0);
    cr_assert(strstr(err.msg, "broken.png: unreadable image"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(image_folder, the_core_shows_the_notice_as_a_warning)
{
    two_classes();
    fx_write_text("img/dog/broken.png", "this is not a png");
    char log[600];
    snprintf(log, sizeof log, "%s/stderr.txt", fx_dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(log, "w");
    cr_assert_not_null(f);
    dup2(fileno(f), 2);
    dfx g;
    dfx_ok(&g, "[data]\ntype = image_folder\ndir = img\n", &(nn_data_opts){.seed = 1});
    fflush(stderr);
    dup2(saved, 2);
    fclose(f);
    dfx_free(&g);
    char out[2048] = "";
    f = fopen(log, "r");
    out[fread(out, 1, sizeof out - 1, f)] = 0;
    fclose(f);
    cr_assert(strstr(out, "nntrain: warning: ") && strstr(out, "skipped 2 of the 5 files") &&
              strstr(out, "img/dog/broken.png: unreadable image"), "%s", out);
}

Test(image_folder, class_folder_without_files_is_named)
{
    two_classes();
    fx_mkdir("img/emu");
    nn_kv kv[] = {FX_KV("dir", "img")};
    fx_expect_fail("image_folder", kv, 1, NN_SPLIT_TRAIN,
                   "img/emu: class folder has no .png or .jpg", NULL);
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

/* Open probes a folder's files on several threads at once; what it makes of them is what
 * probing them one by one in order makes: the table, the skipped files named in order, and
 * of two images of the wrong size (resize = check) the first in order. Opened 4 times. */
Test(image_folder, files_probed_at_once_give_the_table_and_messages_of_their_order)
{
    fx_tmpdir();
    fx_mkdir("img");
    static const char *const cls[] = {"a", "b", "c"};
    char rel[64];
    for (int c = 0; c < 3; c++) {
        snprintf(rel, sizeof rel, "img/%s", cls[c]);
        fx_mkdir(rel);
        for (int i = 0; i < 120; i++) {
            snprintf(rel, sizeof rel, "img/%s/%03d.png", cls[c], i);
            if (i % 7 == 3)
                fx_write_text(rel, "not a png at all");
            else
                gray4(rel, c * 3 + i % 3);
        }
    }
    for (int round = 0; round < 4; round++) {
        nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("max_skipped", "0.2"), FX_KV("mode", "gray")};
        fx_ds d;
        fx_ds_ok(&d, "image_folder", kv, 3, NN_SPLIT_TRAIN);
        cr_assert_eq(d.info.length, 3 * (120 - 17), "round %d: %lld samples", round,
                     (long long)d.info.length);
        const char *n = notice_of(&d);
        cr_assert(strstr(n, "skipped 51 of the 360 files"), "%s", n);
        const char *first = strstr(n, "img/a/003.png"), *second = strstr(n, "img/a/010.png"),
                   *third = strstr(n, "img/a/017.png");
        cr_assert(first && second && third && first < second && second < third, "%s", n);
        /* sample k: file k of the kept ones, in class then name order */
        float px[16];
        int32_t y;
        nn_error err = {0};
        for (int64_t k = 0; k < d.info.length; k += 37) {
            cr_assert_eq(fx_ds_get(&d, k, px, &y, &err), 0, "%s", err.msg);
            int c = (int)(k / 103), j = (int)(k % 103), i = j / 6 * 7 + j % 6 + (j % 6 >= 3);
            cr_assert_eq(y, c, "sample %lld: class %d", (long long)k, y);
            cr_assert_float_eq(px[0], (float)(c * 3 + i % 3) / 255.0f, 1e-6,
                               "sample %lld is file %d of class %d", (long long)k, i, c);
        }
        fx_ds_free(&d);
    }
    uint8_t small[6] = {0};
    write_png("img/c/100.png", 3, 2, 0, small);
    write_png("img/b/050.png", 3, 2, 0, small);
    nn_kv check[] = {FX_KV("dir", "img"), FX_KV("resize", "check"), FX_KV("max_skipped", "0.2")};
    for (int round = 0; round < 4; round++)
        fx_expect_fail("image_folder", check, 3, NN_SPLIT_TRAIN,
                       "img/b/050.png: image is 2x3 (HxW), expected 4x4", "resize = check");
}

/* a sample is kept after its first read when the split fits in cache_mb: a second read gives
 * the same bytes without the file (deleted here); cache_mb = 0, or a split larger than it,
 * reads the file each time */
Test(image_folder, samples_are_kept_after_their_first_read_when_the_split_fits_cache_mb)
{
    /* k = 0: 4x4 samples, the default cache_mb; k = 1: cache_mb = 0; k = 2: three samples
     * of 512x512 floats (1 MiB each) over cache_mb = 1 */
    static const char *const mb[] = {"1024", "0", "1"}, *const side[] = {"0", "0", "512"};
    for (int k = 0; k < 3; k++) {
        two_classes(); /* cat/a.png, cat/b.png, dog/c.PNG: 4x4 gray */
        nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("mode", "gray"), FX_KV("cache_mb", mb[k]),
                      FX_KV("height", side[k]), FX_KV("width", side[k])};
        fx_ds d;
        fx_ds_ok(&d, "image_folder", kv, 5, NN_SPLIT_TRAIN);
        size_t bytes = nn_tensor_nbytes(&d.info.sample);
        float *first = malloc(bytes), *again = malloc(bytes);
        cr_assert(first && again);
        int32_t y;
        nn_error err = {0};
        cr_assert_eq(fx_ds_get(&d, 0, first, &y, &err), 0, "%s", err.msg);
        cr_assert_eq(remove(fx_path("img/cat/a.png")), 0);
        memset(again, 0xFF, bytes);
        int rc = fx_ds_get(&d, 0, again, &y, &err);
        if (k == 0) {
            cr_assert_eq(rc, 0, "kept sample: %s", err.msg);
            cr_assert_eq(memcmp(first, again, bytes), 0, "the kept sample differs");
            cr_assert_eq(y, 0);
        } else {
            cr_assert_neq(rc, 0, "cache_mb = %s: read without its file", mb[k]);
            cr_assert(strstr(err.msg, "img/cat/a.png"), "%s", err.msg);
        }
        free(first);
        free(again);
        fx_ds_free(&d);
    }
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

Test(image_folder, test_images_of_another_size_take_the_first_training_images_size)
{
    two_classes(); /* 4x4 training images */
    fx_mkdir("test");
    fx_mkdir("test/cat");
    uint8_t px[2 * 6];
    for (int i = 0; i < 12; i++)
        px[i] = (uint8_t)(20 * i);
    write_png("test/cat/wide.png", 6, 2, 0, px);
    nn_kv kv[] = {FX_KV("dir", "img"), FX_KV("test_dir", "test"), FX_KV("mode", "gray")};
    fx_ds d;
    fx_ds_ok(&d, "image_folder", kv, 3, NN_SPLIT_TEST);
    cr_assert(d.info.sample.shape[1] == 4 && d.info.sample.shape[2] == 4, "%lld x %lld",
              (long long)d.info.sample.shape[1], (long long)d.info.sample.shape[2]);
    float out[16];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, out, &y, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    /* resize = check: the test image must have the training size */
    nn_kv check[] = {FX_KV("dir", "img"), FX_KV("test_dir", "test"), FX_KV("resize", "check")};
    fx_expect_fail("image_folder", check, 3, NN_SPLIT_TEST, "test/cat/wide.png: image is 2x6",
                   "expected 4x4");
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
