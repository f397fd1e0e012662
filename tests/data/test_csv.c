/* test_csv.c: the csv dataset: features and labels by name or index, class ids shared by the
 * train and test files, regression targets, and ragged or non-numeric rows rejected with the
 * file and line. */
#include "fixtures.h"

static const char *iris = "a,b,species,c\n"
                          "1.5,2,setosa,3\n"
                          "\n"
                          "4,5.25,virginica,6\n"
                          "7,8,setosa,-9e1\n";

Test(csv, features_and_labels_by_column_name)
{
    fx_tmpdir();
    fx_write_text("t.csv", iris);
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("label", "species")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3);
    cr_assert_eq(d.info.sample.shape[0], 3);
    cr_assert_eq(d.info.n_classes, 2);
    cr_assert_str_eq(d.info.class_names[0], "setosa");
    cr_assert_str_eq(d.info.class_names[1], "virginica");
    float x[3];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 1, x, &y, &err), 0);
    cr_assert_eq(y, 1);
    cr_assert_float_eq(x[0], 4.0f, 0);
    cr_assert_float_eq(x[1], 5.25f, 0);
    cr_assert_float_eq(x[2], 6.0f, 0);
    cr_assert_eq(fx_ds_get(&d, 2, x, &y, &err), 0);
    cr_assert_float_eq(x[2], -90.0f, 0);
    cr_assert_eq(d.info.labels[2], 0);
    fx_ds_free(&d);
}

Test(csv, headerless_tab_file_with_chosen_features_and_integer_labels)
{
    fx_tmpdir();
    fx_write_text("t.tsv", "10\t1\t2\t3\n2\t4\t5\t6\n1\t7\t8\t9\n");
    nn_kv kv[] = {FX_KV("path", "t.tsv"), FX_KV("header", "false"), FX_KV("delimiter", "tab"),
                  FX_KV("label", "0"), FX_KV("features", "3,1")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 5, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.sample.shape[0], 2);
    cr_assert_eq(d.info.n_classes, 3);
    /* integers sort numerically: 1, 2, 10 */
    cr_assert_str_eq(d.info.class_names[2], "10");
    float x[2];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0);
    cr_assert_eq(y, 2);
    cr_assert_float_eq(x[0], 3.0f, 0);
    cr_assert_float_eq(x[1], 1.0f, 0);
    fx_ds_free(&d);
}

/* the test file's columns are found by header name, in any order; it needs its label */
Test(csv, test_split_uses_the_training_files_class_ids_and_column_names)
{
    fx_tmpdir();
    fx_write_text("t.csv", iris);
    fx_write_text("v.csv", "c,species,a,b\n6,virginica,4,5.25\n");
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("test_path", "v.csv"),
                  FX_KV("label", "species")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 3, NN_SPLIT_TEST);
    cr_assert_eq(d.info.length, 1);
    cr_assert_eq(d.info.n_classes, 2);
    cr_assert_eq(d.info.labels[0], 1);
    float x[3];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    cr_assert(x[0] == 4.0f && x[1] == 5.25f && x[2] == 6.0f, "a, b, c as in training: %g %g %g",
              x[0], x[1], x[2]);
    fx_ds_free(&d);
    fx_write_text("v.csv", "a,b,species,c\n0,0,versicolor,0\n");
    fx_expect_fail("csv", kv, 3, NN_SPLIT_TEST, "v.csv:2: label 'versicolor'", NULL);
    fx_write_text("v.csv", "c,a,b\n6,4,5\n");
    fx_expect_fail("csv", kv, 3, NN_SPLIT_TEST, "v.csv: the header does not match",
                   "missing 'species'; expected the feature columns 'a', 'b', 'c' and the label "
                   "column 'species'");
}

/* Excel writes a UTF-8 byte order mark before the header: it is not part of the first name */
Test(csv, a_byte_order_mark_before_the_header_is_not_part_of_the_first_name)
{
    fx_tmpdir();
    fx_write_text("t.csv", "\xEF\xBB\xBF" "f1,f2,label\n1,2,a\n3,4,b\n");
    fx_write_text("v.csv", "\xEF\xBB\xBF" "f2,label,f1\n4,b,3\n");
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("test_path", "v.csv"),
                  FX_KV("features", "f1,f2")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 3, NN_SPLIT_TEST);
    float x[2];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    cr_assert(x[0] == 3.0f && x[1] == 4.0f && y == 1, "f1 %g f2 %g label %d", x[0], x[1], y);
    fx_ds_free(&d);
}

/* two columns of one name cannot be told apart: refused when the file is opened, naming both */
Test(csv, a_header_naming_a_column_twice_is_refused_naming_both_columns)
{
    fx_tmpdir();
    fx_write_text("t.csv", "f1,f1,f3,label\n1,2,3,a\n");
    nn_kv kv[] = {FX_KV("path", "t.csv")};
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN,
                   "t.csv: the header names column 'f1' twice (columns 1 and 2)", NULL);
    fx_write_text("t.csv", "f1,f2,f3,label\n1,2,3,a\n");
    fx_write_text("v.csv", "f3,f2,label,f1,f2\n1,2,a,3,4\n");
    nn_kv kv2[] = {FX_KV("path", "t.csv"), FX_KV("test_path", "v.csv")};
    fx_expect_fail("csv", kv2, 2, NN_SPLIT_TEST,
                   "v.csv: the header names column 'f2' twice (columns 2 and 5)", NULL);
}

/* a header of 200k columns is matched by sorting, not pairwise: this ran for minutes when
 * each name was looked for by scanning the other header */
Test(csv, a_wide_header_is_matched_by_name_quickly, .timeout = 60)
{
    enum { NCOL = 200000 };
    fx_tmpdir();
    size_t cap = (size_t)NCOL * 24 + 64;
    char *tr = malloc(cap), *te = malloc(cap);
    cr_assert(tr && te);
    size_t a = 0, b = 0;
    for (int c = 0; c < NCOL; c++)
        a += (size_t)sprintf(tr + a, "feature_%d,", c);
    a += (size_t)sprintf(tr + a, "label\n");
    b += (size_t)sprintf(te + b, "label");
    for (int c = NCOL - 1; c >= 0; c--) /* the test file's columns in reverse order */
        b += (size_t)sprintf(te + b, ",feature_%d", c);
    te[b++] = '\n';
    for (int r = 0; r < 2; r++) {
        for (int c = 0; c < NCOL; c++)
            a += (size_t)sprintf(tr + a, "%d,", c % 7);
        a += (size_t)sprintf(tr + a, "k%d\n", r);
    }
    b += (size_t)sprintf(te + b, "k1");
    for (int c = NCOL - 1; c >= 0; c--)
        b += (size_t)sprintf(te + b, ",%d", c % 5);
    te[b++] = '\n';
    fx_write("t.csv", tr, a);
    fx_write("v.csv", te, b);
    free(tr);
    free(te);
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("test_path", "v.csv")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 2, NN_SPLIT_TEST);
    cr_assert_eq(d.info.sample.shape[0], NCOL);
    float *x = malloc(NCOL * sizeof *x);
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 0, x, &y, &err), 0, "%s", err.msg);
    for (int c = 0; c < NCOL; c += 9973)
        cr_assert_eq(x[c], (float)(c % 5), "feature_%d", c);
    cr_assert_eq(y, 1);
    free(x);
    fx_ds_free(&d);
}

Test(csv, regression_targets_are_floats)
{
    fx_tmpdir();
    fx_write_text("r.csv", "x,y\n1,0.5\n2,-1.25\n");
    nn_kv kv[] = {FX_KV("path", "r.csv"), FX_KV("task", "regression")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 2, NN_SPLIT_TRAIN);
    cr_assert_eq(nn_tensor_dtype(&d.info.target), NN_F32);
    /* [1] per sample, so batches are [N, 1] like a 1-unit dense layer's output */
    cr_assert_eq(d.info.target.dl.ndim, 1);
    cr_assert_eq(d.info.target.shape[0], 1);
    cr_assert_eq(d.info.n_classes, 0);
    cr_assert_null(d.info.labels);
    float x, y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 1, &x, &y, &err), 0);
    cr_assert_float_eq(x, 2.0f, 0);
    cr_assert_float_eq(y, -1.25f, 0);
    fx_ds_free(&d);
}

Test(csv, ragged_row_names_file_and_line)
{
    fx_tmpdir();
    fx_write_text("t.csv", "a,b,c\n1,2,x\n3,4\n");
    nn_kv kv[] = {FX_KV("path", "t.csv")};
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN, "t.csv:3: 2 fields, expected 3", NULL);
}

Test(csv, non_numeric_feature_names_file_line_and_column)
{
    fx_tmpdir();
    fx_write_text("t.csv", "a,b,c\n1,2,x\n3,oops,y\n");
    nn_kv kv[] = {FX_KV("path", "t.csv")};
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN, "t.csv:3: column 2 ('b'): 'oops' is not a number",
                   NULL);
    fx_write_text("t.csv", "x,y\n1,2\n3,nan\n");
    nn_kv kv2[] = {FX_KV("path", "t.csv"), FX_KV("task", "regression")};
    fx_expect_fail("csv", kv2, 2, NN_SPLIT_TRAIN, "t.csv:3: label column 2: 'nan'", NULL);
}

Test(csv, cr_lf_and_crlf_line_endings_all_end_a_row)
{
    fx_tmpdir();
    /* old Mac (CR only), Windows (CRLF) and Unix endings mixed; a ragged row is still found by
     * its line number counted the same way */
    fx_write_text("t.csv", "a,b,label\r1,2,x\r\n3,4,y\n5,6,x\r");
    nn_kv kv[] = {FX_KV("path", "t.csv")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 1, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.length, 3);
    cr_assert_eq(d.info.n_classes, 2);
    float x[2];
    int32_t y;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(&d, 2, x, &y, &err), 0, "%s", err.msg);
    cr_assert_float_eq(x[0], 5.0f, 0);
    cr_assert_float_eq(x[1], 6.0f, 0);
    cr_assert_eq(y, 0);
    fx_ds_free(&d);
    fx_write_text("t.csv", "a,b,label\r1,2,x\r3,4\r");
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN, "t.csv:3: 2 fields, expected 3", NULL);
}

Test(csv, classes_list_fixes_the_ids_and_refuses_a_repeat)
{
    fx_tmpdir();
    fx_write_text("t.csv", iris);
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("label", "species"),
                  FX_KV("classes", " virginica , setosa,,other")};
    fx_ds d;
    fx_ds_ok(&d, "csv", kv, 3, NN_SPLIT_TRAIN);
    cr_assert_eq(d.info.n_classes, 3);
    cr_assert_str_eq(d.info.class_names[0], "virginica");
    cr_assert_str_eq(d.info.class_names[1], "setosa");
    cr_assert_str_eq(d.info.class_names[2], "other");
    cr_assert_eq(d.info.labels[0], 1);
    cr_assert_eq(d.info.labels[1], 0);
    fx_ds_free(&d);
    nn_kv twice[] = {FX_KV("path", "t.csv"), FX_KV("label", "species"),
                     FX_KV("classes", "setosa,virginica,setosa")};
    fx_expect_fail("csv", twice, 3, NN_SPLIT_TRAIN, "key 'classes'", "'setosa' is listed twice");
}

Test(csv, a_nul_byte_is_named_with_file_line_and_column)
{
    fx_tmpdir();
    fx_write("t.csv", "a,b,label\n1,2,x\n3,4\0\0,y\n", 24);
    nn_kv kv[] = {FX_KV("path", "t.csv")};
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN, "t.csv:3: column 2 holds a NUL byte",
                   "not CSV text");
    fx_write("t.csv", "a,b,label\n\0\n", 12); /* a line of NULs is no blank line */
    fx_expect_fail("csv", kv, 1, NN_SPLIT_TRAIN, "t.csv:2: column 1 holds a NUL byte", NULL);
}

Test(csv, unknown_label_column_is_named)
{
    fx_tmpdir();
    fx_write_text("t.csv", iris);
    nn_kv kv[] = {FX_KV("path", "t.csv"), FX_KV("label", "class")};
    fx_expect_fail("csv", kv, 2, NN_SPLIT_TRAIN, "no column named 'class'", NULL);
}

Test(csv, rejects_bad_parameters_naming_the_key)
{
    nn_error err = {0};
    fx_ds d;
    nn_kv k1[] = {FX_KV("path", "x"), FX_KV("delimiter", ";;")};
    cr_assert_lt(fx_ds_create(&d, "csv", k1, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'delimiter'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k2[] = {FX_KV("path", "x"), FX_KV("task", "ranking")};
    cr_assert_lt(fx_ds_create(&d, "csv", k2, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'task'"), "%s", err.msg);
    fx_ds_free(&d);
    nn_kv k3[] = {FX_KV("path", "x"), FX_KV("header", "maybe")};
    cr_assert_lt(fx_ds_create(&d, "csv", k3, 2, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'header'"), "%s", err.msg);
    fx_ds_free(&d);
}

Test(csv, plugins_show_documents_every_key)
{
    fx_show_documents("csv");
}
