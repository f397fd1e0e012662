/* test_text.c: the text dataset: lower-cased whitespace tokens, a vocabulary ranked by
 * frequency with min_freq/max_size, ids 0 = <pad> and 1 = <unk>, padding and truncation, the
 * vocabulary saved when fitting and reused by the test split, and bad lines named. */
#include "fixtures.h"

static const char *train = "pos\tThe cat sat\n"
                           "neg\tthe dog  ran the\n"
                           "\n"
                           "pos\tA cat\r\n";

static void read_vocab(char *out, size_t cap)
{
    FILE *f = fopen(fx_path("state/vocab.txt"), "r");
    cr_assert_not_null(f, "vocab.txt was not written");
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
}

Test(text, vocabulary_ranks_tokens_by_frequency_then_text)
{
    fx_tmpdir();
    fx_mkdir("state");
    fx_write_text("t.txt", train);
    nn_kv kv[] = {FX_KV("path", "t.txt"), FX_KV("max_len", "5")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, "text", kv, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(&d, NN_SPLIT_TRAIN, fx_path("state"), 1, &err), 0, "%s", err.msg);
    char v[512];
    read_vocab(v, sizeof v);
    /* the: 3, cat: 2, then a, dog, ran, sat once each (alphabetical) */
    cr_assert_str_eq(v, "<pad>\n<unk>\nthe\ncat\na\ndog\nran\nsat\n");
    cr_assert_eq(d.info.length, 3);
    cr_assert_eq(d.info.sample.shape[0], 5);
    cr_assert_eq(nn_tensor_dtype(&d.info.sample), NN_I32);
    cr_assert_str_eq(d.info.class_names[0], "neg");
    int32_t ids[5], y;
    cr_assert_eq(fx_ds_get(&d, 1, ids, &y, &err), 0);
    cr_assert_eq(y, 0);
    int32_t want[5] = {2, 5, 6, 2, 0};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ids[i], want[i], "token %d: %d", i, ids[i]);
    fx_ds_free(&d);
}

Test(text, min_freq_max_size_and_truncation)
{
    fx_tmpdir();
    fx_mkdir("state");
    fx_write_text("t.txt", train);
    nn_kv kv[] = {FX_KV("path", "t.txt"), FX_KV("max_len", "2"), FX_KV("min_freq", "2"),
                  FX_KV("max_size", "3")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, "text", kv, 4, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(&d, NN_SPLIT_TRAIN, fx_path("state"), 1, &err), 0, "%s", err.msg);
    char v[512];
    read_vocab(v, sizeof v);
    cr_assert_str_eq(v, "<pad>\n<unk>\nthe\n");
    int32_t ids[2], y;
    cr_assert_eq(fx_ds_get(&d, 0, ids, &y, &err), 0);
    cr_assert_eq(ids[0], 2); /* the */
    cr_assert_eq(ids[1], 1); /* cat: below max_size -> <unk>; "sat" truncated */
    fx_ds_free(&d);
}

Test(text, test_split_reuses_the_saved_vocabulary)
{
    fx_tmpdir();
    fx_mkdir("state");
    fx_write_text("t.txt", train);
    fx_write_text("e.txt", "neg\tTHE zebra cat\n");
    nn_kv kv[] = {FX_KV("path", "t.txt"), FX_KV("test_path", "e.txt"), FX_KV("max_len", "4")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, "text", kv, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(&d, NN_SPLIT_TRAIN, fx_path("state"), 1, &err), 0, "%s", err.msg);
    fx_ds_free(&d);
    /* a vocabulary edited on disk proves the test split loads it rather than rebuilding */
    fx_write_text("state/vocab.txt", "<pad>\n<unk>\nzebra\nthe\n");
    cr_assert_eq(fx_ds_create(&d, "text", kv, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(&d, NN_SPLIT_TEST, fx_path("state"), 0, &err), 0, "%s", err.msg);
    int32_t ids[4], y;
    cr_assert_eq(fx_ds_get(&d, 0, ids, &y, &err), 0);
    cr_assert_eq(y, 0);
    cr_assert_eq(ids[0], 3);
    cr_assert_eq(ids[1], 2);
    cr_assert_eq(ids[2], 1);
    cr_assert_eq(ids[3], 0);
    fx_ds_free(&d);
}

Test(text, missing_saved_vocabulary_is_named)
{
    fx_tmpdir();
    fx_mkdir("state");
    fx_write_text("t.txt", train);
    nn_kv kv[] = {FX_KV("path", "t.txt")};
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, "text", kv, 1, &err), 0, "%s", err.msg);
    cr_assert_lt(fx_ds_open(&d, NN_SPLIT_TRAIN, fx_path("state"), 0, &err), 0);
    cr_assert_not_null(strstr(err.msg, "state/vocab.txt"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(text, line_without_tab_names_file_and_line)
{
    fx_tmpdir();
    fx_write_text("t.txt", "pos\tok\n\nno tab here\n");
    nn_kv kv[] = {FX_KV("path", "t.txt")};
    fx_expect_fail("text", kv, 1, NN_SPLIT_TRAIN, "t.txt:3: expected 'label<TAB>text'", NULL);
}

Test(text, classes_list_is_trimmed_and_cr_only_lines_are_lines)
{
    fx_tmpdir();
    fx_write_text("t.txt", "pos\tgood film\rneg\tbad film\r");
    nn_kv kv[] = {FX_KV("path", "t.txt"), FX_KV("classes", "neg, pos")};
    fx_ds d;
    fx_ds_ok(&d, "text", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 2);
    cr_assert_str_eq(d.info.class_names[1], "pos");
    cr_assert_eq(d.info.labels[0], 1);
    cr_assert_eq(d.info.labels[1], 0);
    fx_ds_free(&d);
}

Test(text, a_nul_byte_is_named_with_file_and_line)
{
    fx_tmpdir();
    fx_write("t.txt", "pos\tok\nneg\tbad\0film\n", 20);
    nn_kv kv[] = {FX_KV("path", "t.txt")};
    fx_expect_fail("text", kv, 1, NN_SPLIT_TRAIN, "t.txt:2: a NUL byte at byte 8", NULL);
}

Test(text, rejects_bad_parameters_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv k1[] = {FX_KV("path", "x"), FX_KV("max_len", "0")};
    cr_assert_lt(fx_ds_create(&d, "text", k1, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'max_len'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k2[] = {FX_KV("path", "x"), FX_KV("max_size", "1")};
    cr_assert_lt(fx_ds_create(&d, "text", k2, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'max_size'"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(text, plugins_show_documents_every_key)
{
    fx_show_documents("text");
}
