/* test_cifar.c: the cifar dataset on batch files the test writes: CIFAR-10 and CIFAR-100
 * (fine and coarse) records decoded to the right pixels and labels, bad files rejected with the
 * file and the record. */
#include "fixtures.h"

/* record i: label(s) then 3072 bytes with pixel p = (i * 31 + p) & 255 */
static size_t make_records(uint8_t *buf, int n, int hundred)
{
    size_t rec = (hundred ? 2 : 1) + 3072, o = 0;
    for (int i = 0; i < n; i++, o += rec) {
        if (hundred) {
            buf[o] = (uint8_t)(i % 20);     /* coarse */
            buf[o + 1] = (uint8_t)(i * 11); /* fine */
        } else {
            buf[o] = (uint8_t)(i % 10);
        }
        for (int p = 0; p < 3072; p++)
            buf[o + rec - 3072 + p] = (uint8_t)((i * 31 + p) & 255);
    }
    return o;
}

Test(cifar, cifar10_records_decode_to_chw_floats_and_labels)
{
    fx_tmpdir();
    static uint8_t buf[5 * 3073];
    size_t n = make_records(buf, 3, 0);
    fx_write("a.bin", buf, n);
    n = make_records(buf, 2, 0);
    fx_write("b.bin", buf, n);
    nn_kv kv[] = {FX_KV("dir", "."), FX_KV("train_files", "a.bin, b.bin")};
    fx_ds d;
    fx_ds_ok(&d, "cifar", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 5);
    cr_assert_eq(d.info.sample.shape[0], 3);
    cr_assert_eq(d.info.sample.shape[2], 32);
    cr_assert_eq(d.info.n_classes, 10);
    cr_assert_str_eq(d.info.class_names[3], "cat");
    static float px[3072];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 4, px, &y, &err), 0, "%s", err.msg); /* b.bin record 1 */
    cr_assert_eq(y, 1);
    cr_assert_float_eq(px[0], 31.0f / 255.0f, 1e-6);
    cr_assert_float_eq(px[1024 + 5], (float)((31 + 1029) & 255) / 255.0f, 1e-6);
    cr_assert_eq(d.info.labels[2], 2);
    fx_ds_free(&d);
}

Test(cifar, cifar100_fine_and_coarse_labels)
{
    fx_tmpdir();
    static uint8_t buf[4 * 3074];
    fx_write("train.bin", buf, make_records(buf, 4, 1));
    nn_kv kv[] = {FX_KV("dir", "."), FX_KV("variant", "cifar100")};
    fx_ds d;
    fx_ds_ok(&d, "cifar", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.n_classes, 100);
    cr_assert_eq(d.info.labels[3], 33);
    fx_ds_free(&d);
    nn_kv kv2[] = {FX_KV("dir", "."), FX_KV("variant", "cifar100"), FX_KV("label", "coarse")};
    fx_ds_ok(&d, "cifar", kv2, 3, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.n_classes, 20);
    cr_assert_eq(d.info.labels[3], 3);
    static float px[3072];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 2, px, &y, &err), 0);
    cr_assert_eq(y, 2);
    cr_assert_float_eq(px[3071], (float)((62 + 3071) & 255) / 255.0f, 1e-6);
    fx_ds_free(&d);
}

Test(cifar, class_names_come_from_the_meta_file)
{
    fx_tmpdir();
    static uint8_t buf[3073];
    fx_write("test_batch.bin", buf, make_records(buf, 1, 0));
    fx_write_text("batches.meta.txt", "a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n");
    nn_kv kv[] = {FX_KV("dir", ".")};
    fx_ds d;
    fx_ds_ok(&d, "cifar", kv, 1, NN_SPLIT_TEST);
    cr_assert_str_eq(d.info.class_names[9], "a9");
    fx_ds_free(&d);
}

Test(cifar, partial_record_names_file_record_and_offset)
{
    fx_tmpdir();
    static uint8_t buf[3 * 3073];
    fx_write("a.bin", buf, make_records(buf, 3, 0) - 100);
    nn_kv kv[] = {FX_KV("dir", "."), FX_KV("train_files", "a.bin")};
    fx_expect_fail("cifar", kv, 2, NN_SPLIT_TRAIN, "a.bin:", "record 2 at offset 6146");
}

Test(cifar, label_out_of_range_names_the_record)
{
    fx_tmpdir();
    static uint8_t buf[2 * 3073];
    make_records(buf, 2, 0);
    buf[3073] = 10;
    fx_write("a.bin", buf, sizeof buf);
    nn_kv kv[] = {FX_KV("dir", "."), FX_KV("train_files", "a.bin")};
    fx_expect_fail("cifar", kv, 2, NN_SPLIT_TRAIN, "a.bin: record 1 (offset 3073)", "label 10");
}

Test(cifar, rejects_bad_parameters_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv k1[] = {FX_KV("dir", "."), FX_KV("variant", "cifar1000")};
    cr_assert_lt(fx_ds_create(&d, "cifar", k1, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'variant'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k2[] = {FX_KV("dir", "."), FX_KV("label", "coarse")};
    cr_assert_lt(fx_ds_create(&d, "cifar", k2, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'label'"), "%s", err.msg);
    fx_ds_free(&d);
    cr_assert_lt(fx_ds_create(&d, "cifar", NULL, 0, &err), 0);
    cr_assert_not_null(strstr(err.msg, "dir"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(cifar, plugins_show_documents_every_key)
{
    fx_show_documents("cifar");
}
