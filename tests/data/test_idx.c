/* test_idx.c: the idx dataset on IDX files the test writes (raw and gzipped): values, shapes,
 * class names, and each malformed input rejected with the file and the record or offset. */
#include "fixtures.h"

/* 3 images of 2x3 pixels, labels 7, 0, 9 */
static void write_fixture(int gz, int nimg, int nlab, int magic_ok)
{
    uint8_t img[16 + 18], lab[8 + 3];
    memcpy(img, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, (uint8_t)nimg, 0, 0, 0, 2, 0, 0, 0, 3}, 16);
    for (int i = 0; i < 18; i++)
        img[16 + i] = (uint8_t)(i * 15);
    memcpy(lab, (uint8_t[]){0, 0, 8, 1, 0, 0, 0, (uint8_t)nlab, 7, 0, 9}, 11);
    if (!magic_ok)
        img[1] = 0x42;
    size_t il = 16 + 6 * (size_t)(nimg < 3 ? nimg : 3), ll = 8 + (size_t)(nlab < 3 ? nlab : 3);
    if (gz) {
        fx_write_gz("img.gz", img, il);
        fx_write_gz("lab.gz", lab, ll);
    } else {
        fx_write("img.gz", img, il);
        fx_write("lab.gz", lab, ll);
    }
}

static const nn_kv kv_files[] = {FX_KV("dir", "."), FX_KV("train_images", "img.gz"),
                                 FX_KV("train_labels", "lab.gz"), FX_KV("preset", "mnist")};

static void check_values(void)
{
    fx_ds d;
    fx_ds_ok(&d, "idx", kv_files, 4, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3);
    cr_assert_eq(d.info.sample.dl.ndim, 3);
    cr_assert_eq(d.info.sample.shape[0], 1);
    cr_assert_eq(d.info.sample.shape[1], 2);
    cr_assert_eq(d.info.sample.shape[2], 3);
    cr_assert_eq(d.info.target.dl.ndim, 0);
    cr_assert_eq(nn_tensor_dtype(&d.info.target), NN_I32);
    cr_assert_eq(d.info.n_classes, 10);
    cr_assert_str_eq(d.info.class_names[7], "7");
    cr_assert_eq(d.info.labels[2], 9);
    float px[6];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 1, px, &y, &err), 0, "%s", err.msg);
    cr_assert_eq(y, 0);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(px[i], (float)((6 + i) * 15) / 255.0f, 1e-6);
    cr_assert_lt(fx_ds_get(&d, 3, px, &y, &err), 0);
    fx_ds_free(&d);
}

Test(idx, reads_raw_files_scaled_to_unit_range)
{
    fx_tmpdir();
    write_fixture(0, 3, 3, 1);
    check_values();
}

Test(idx, reads_gzipped_files_with_the_same_values)
{
    fx_tmpdir();
    write_fixture(1, 3, 3, 1);
    check_values();
}

Test(idx, fashion_preset_and_explicit_class_names)
{
    fx_tmpdir();
    write_fixture(1, 3, 3, 1);
    fx_ds d;
    nn_kv kv[] = {kv_files[0], kv_files[1], kv_files[2]};
    fx_ds_ok(&d, "idx", kv, 3, NN_SPLIT_TRAIN);
    cr_assert_str_eq(d.info.class_names[9], "Ankle boot");
    fx_ds_free(&d);
    nn_kv kv2[] = {kv_files[0], kv_files[1], kv_files[2],
                   FX_KV("class_names", "a,b,c,d,e,f,g,h,i,j")};
    fx_ds_ok(&d, "idx", kv2, 4, NN_SPLIT_TRAIN);
    cr_assert_str_eq(d.info.class_names[7], "h");
    fx_ds_free(&d);
    /* label 9 is not below 3 names */
    nn_kv kv3[] = {kv_files[0], kv_files[1], kv_files[2], FX_KV("class_names", "a,b,c")};
    fx_expect_fail("idx", kv3, 4, NN_SPLIT_TRAIN, "lab.gz: record 0 (offset 8)", "label 7");
}

Test(idx, truncated_gzip_names_the_file)
{
    fx_tmpdir();
    write_fixture(1, 3, 3, 1);
    FILE *f = fopen(fx_path("img.gz"), "rb");
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fx_write("img.gz", buf, n - 12); /* drop the CRC/size trailer and some data */
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz", "gzip");
}

/* a small gzip stream that inflates far past what its header declares is refused without
 * reading it all (a 64 MiB zero tail here; a bomb of gigabytes takes no longer) */
Test(idx, a_gzip_stream_longer_than_its_header_declares_is_refused_early)
{
    fx_tmpdir();
    write_fixture(1, 3, 3, 1);
    size_t n = 16 + 3 * 28 * 28, big = (size_t)64 << 20;
    uint8_t *img = calloc(1, n + big);
    cr_assert_not_null(img);
    memcpy(img, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28}, 16);
    fx_write_gz("img.gz", img, n + big);
    free(img);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz: more than 1048576 bytes of "
                   "trailing data after the last record at offset 2368", "(not read further)");
}

/* 5 bytes past the records are refused alike whether the file is raw, gzipped (inside the
 * stream), or gzipped with them after the stream (which zlib's own reader ignores); a file
 * of two concatenated gzip members is still one file, as gunzip reads it */
Test(idx, trailing_data_is_refused_alike_in_raw_and_gzipped_files_with_its_size)
{
    fx_tmpdir();
    write_fixture(0, 3, 3, 1);
    uint8_t img[16 + 18 + 5];
    FILE *f = fopen(fx_path("img.gz"), "rb");
    cr_assert_eq(fread(img, 1, 34, f), 34);
    fclose(f);
    memcpy(img + 34, "extra", 5);
    const char *want = "img.gz: 5 bytes of trailing data after the last record at offset 34";
    fx_write("img.gz", img, sizeof img); /* raw */
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, want, NULL);
    fx_write_gz("img.gz", img, sizeof img); /* gzipped, inside the stream */
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, want, NULL);
    fx_write_gz("img.gz", img, 34); /* gzipped, then 5 raw bytes after the stream */
    uint8_t gz[512];
    f = fopen(fx_path("img.gz"), "rb");
    size_t n = fread(gz, 1, sizeof gz - 5, f);
    fclose(f);
    memcpy(gz + n, "extra", 5);
    fx_write("img.gz", gz, n + 5);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, want, "(after the end of its gzip stream)");
    /* two members: the header and 2 images, then the third image */
    fx_write_gz("img.gz", img, 28);
    f = fopen(fx_path("img.gz"), "rb");
    n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    fx_write_gz("img.gz", img + 28, 6);
    f = fopen(fx_path("img.gz"), "rb");
    n += fread(gz + n, 1, sizeof gz - n, f);
    fclose(f);
    fx_write("img.gz", gz, n);
    check_values();
}

/* opened before training (the trainer does so when it will test): the message names the test
 * file, the training file and both shapes */
Test(idx, a_test_split_of_another_image_shape_is_refused_naming_both_files)
{
    fx_tmpdir();
    write_fixture(0, 3, 3, 1); /* training: 3 images of 2x3 */
    uint8_t img[16 + 3 * 6];
    memcpy(img, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 2}, 16);
    memset(img + 16, 9, 3 * 6);
    fx_write("t_img", img, sizeof img); /* test: 3 images of 3x2, as many bytes */
    fx_write("t_lab", (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3}, 11);
    nn_kv kv[] = {FX_KV("dir", "."), FX_KV("train_images", "img.gz"),
                  FX_KV("train_labels", "lab.gz"), FX_KV("test_images", "t_img"),
                  FX_KV("test_labels", "t_lab")};
    fx_expect_fail("idx", kv, 5, NN_SPLIT_TEST, "t_img: records are 3x2, but the training "
                   "images of ", "img.gz are 2x3 (the test split needs the same H x W)");
    fx_ds d;
    fx_ds_ok(&d, "idx", kv, 5, NN_SPLIT_TRAIN); /* training alone is fine */
    fx_ds_free(&d);
    img[11] = 2;
    img[15] = 3;
    fx_write("t_img", img, sizeof img);
    fx_ds_ok(&d, "idx", kv, 5, NN_SPLIT_TEST);
    cr_assert_eq(d.info.length, 3);
    fx_ds_free(&d);
}

Test(idx, wrong_magic_names_file_and_offset)
{
    fx_tmpdir();
    write_fixture(0, 3, 3, 0);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz: bad IDX magic at offset 0",
                   NULL);
}

Test(idx, image_and_label_counts_must_agree)
{
    fx_tmpdir();
    write_fixture(0, 3, 2, 1);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz has 3 images", "lab.gz has 2");
}

Test(idx, truncated_payload_names_the_record)
{
    fx_tmpdir();
    uint8_t img[16 + 10];
    memcpy(img, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3}, 16);
    memset(img + 16, 1, 10);
    fx_write("img.gz", img, sizeof img);
    fx_write("lab.gz", (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9}, 11);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz: truncated: record 1 at offset 22",
                   NULL);
}

Test(idx, images_and_labels_in_each_others_place_are_named_as_such)
{
    fx_tmpdir();
    /* an images payload (3 images of 2x3) under the labels magic 00 00 08 01: without the
     * role check this read as 3 labels followed by 15 bytes of trailing data */
    uint8_t img[8 + 18];
    memcpy(img, (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 3}, 8);
    memset(img + 8, 5, 18);
    fx_write("img.gz", img, sizeof img);
    fx_write("lab.gz", (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9}, 11);
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "img.gz: this is a labels file",
                   "swapped");
    /* and the two files swapped: the labels key names an images file */
    write_fixture(0, 3, 3, 1);
    const nn_kv swapped[] = {FX_KV("dir", "."), FX_KV("train_images", "img.gz"),
                             FX_KV("train_labels", "img.gz"), FX_KV("preset", "mnist")};
    fx_expect_fail("idx", swapped, 4, NN_SPLIT_TRAIN, "img.gz: this is an images file",
                   "00 00 08 03 announces 3 dimensions");
    const nn_kv labels_as_images[] = {FX_KV("dir", "."), FX_KV("train_images", "lab.gz"),
                                      FX_KV("train_labels", "lab.gz"), FX_KV("preset", "mnist")};
    fx_expect_fail("idx", labels_as_images, 4, NN_SPLIT_TRAIN, "lab.gz: this is a labels file",
                   NULL);
}

Test(idx, missing_file_names_the_path)
{
    fx_tmpdir();
    fx_expect_fail("idx", kv_files, 4, NN_SPLIT_TRAIN, "cannot open images file",
                   "img.gz: No such file");
}

Test(idx, rejects_bad_parameter_values_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv bad1[] = {FX_KV("scale", "0")};
    cr_assert_lt(fx_ds_create(&d, "idx", bad1, 1, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'scale'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv bad2[] = {FX_KV("preset", "kmnist")};
    cr_assert_lt(fx_ds_create(&d, "idx", bad2, 1, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'preset'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv bad3[] = {FX_KV("train_imgs", "x")};
    cr_assert_lt(fx_ds_create(&d, "idx", bad3, 1, &err), 0);
    cr_assert_not_null(strstr(err.msg, "train_imgs"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(idx, plugins_show_documents_every_key)
{
    fx_show_documents("idx");
}
