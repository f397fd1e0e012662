/* test_split.c: validation splits and K-fold assignment (sizes, disjointness, coverage,
 * stratified proportions, determinism), the [data] section's keys and their errors, a
 * separate validation dataset, and the transform chain's shapes, fitting and state. */
#include "data_fixtures.h"

static int32_t labels_of(int i)
{
    return dfx_class(i);
}

Test(kfold, every_sample_is_in_exactly_one_fold_of_balanced_size)
{
    int32_t f[103], g[103];
    cr_assert_eq(nn_kfold_assign(103, NULL, 5, 7, f), 0);
    int size[5] = {0};
    for (int i = 0; i < 103; i++) {
        cr_assert(f[i] >= 0 && f[i] < 5);
        size[f[i]]++;
    }
    for (int k = 0; k < 5; k++)
        cr_assert(size[k] == 20 || size[k] == 21, "fold %d has %d", k, size[k]);
    cr_assert_eq(nn_kfold_assign(103, NULL, 5, 7, g), 0);
    cr_assert_arr_eq(f, g, sizeof f);
    cr_assert_eq(nn_kfold_assign(103, NULL, 5, 8, g), 0);
    cr_assert_neq(memcmp(f, g, sizeof f), 0, "another seed gave the same folds");
}

Test(kfold, stratified_folds_keep_class_proportions)
{
    int32_t lab[100], f[100];
    for (int i = 0; i < 100; i++)
        lab[i] = labels_of(i);
    cr_assert_eq(nn_kfold_assign(100, lab, 5, 1, f), 0);
    int cnt[5][3] = {{0}};
    for (int i = 0; i < 100; i++)
        cnt[f[i]][lab[i]]++;
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(cnt[k][0], 12);
        cr_assert_eq(cnt[k][1], 6);
        cr_assert_eq(cnt[k][2], 2);
    }
    /* 7 folds: each class within one sample of its share, each fold within one of 100/7 */
    cr_assert_eq(nn_kfold_assign(100, lab, 7, 1, f), 0);
    int c7[7][3] = {{0}}, s7[7] = {0};
    for (int i = 0; i < 100; i++) {
        c7[f[i]][lab[i]]++;
        s7[f[i]]++;
    }
    for (int k = 0; k < 7; k++) {
        cr_assert(s7[k] == 14 || s7[k] == 15);
        cr_assert(c7[k][0] >= 8 && c7[k][0] <= 9, "fold %d class 0: %d", k, c7[k][0]);
        cr_assert(c7[k][1] >= 4 && c7[k][1] <= 5);
        cr_assert(c7[k][2] >= 1 && c7[k][2] <= 2);
    }
}

Test(kfold, rejects_bad_fold_counts_and_negative_labels)
{
    int32_t f[4], lab[4] = {0, 1, -1, 0};
    cr_assert_eq(nn_kfold_assign(4, NULL, 1, 0, f), NN_EINVAL);
    cr_assert_eq(nn_kfold_assign(4, NULL, 5, 0, f), NN_EINVAL);
    cr_assert_eq(nn_kfold_assign(4, lab, 2, 0, f), NN_EINVAL);
}

Test(split, stratified_fraction_per_class)
{
    int32_t lab[100];
    uint8_t v[100];
    for (int i = 0; i < 100; i++)
        lab[i] = labels_of(i);
    cr_assert_eq(nn_split_assign(100, lab, 0.2, 3, v), 20);
    int cnt[3] = {0};
    for (int i = 0; i < 100; i++)
        cnt[lab[i]] += v[i];
    cr_assert_eq(cnt[0], 12);
    cr_assert_eq(cnt[1], 6);
    cr_assert_eq(cnt[2], 2);
    cr_assert_eq(nn_split_assign(100, NULL, 0.25, 3, v), 25);
}

static const char *ini_split = "[data]\ntype = csv\npath = d.csv\nlabel = label\n"
                               "val_split = 0.2\n";

Test(data, val_split_parts_are_disjoint_cover_the_split_and_keep_proportions)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx f;
    dfx_ok(&f, ini_split, &(nn_data_opts){.seed = 11, .fit = 1});
    cr_assert_eq(nn_data_size(f.d, NN_PART_TRAIN), 80);
    cr_assert_eq(nn_data_size(f.d, NN_PART_VAL), 20);
    cr_assert_eq(nn_data_size(f.d, NN_PART_TEST), NN_ENOTFOUND);
    int64_t nt, nv;
    const int64_t *t = nn_data_indices(f.d, NN_PART_TRAIN, &nt);
    const int64_t *v = nn_data_indices(f.d, NN_PART_VAL, &nv);
    int seen[100] = {0}, cls[3] = {0};
    for (int64_t i = 0; i < nt; i++)
        seen[t[i]]++;
    for (int64_t i = 0; i < nv; i++) {
        seen[v[i]]++;
        cls[labels_of((int)v[i])]++;
    }
    for (int i = 0; i < 100; i++)
        cr_assert_eq(seen[i], 1, "sample %d is in %d parts", i, seen[i]);
    cr_assert_eq(cls[0], 12);
    cr_assert_eq(cls[1], 6);
    cr_assert_eq(cls[2], 2);
    const nn_dataset_info *info = nn_data_info(f.d);
    cr_assert_eq(info->n_classes, 3);
    cr_assert_eq(info->sample.shape[0], 2);
    cr_assert_eq(info->labels[9], 2);
    /* the same seed gives the same split; another seed another */
    dfx g;
    dfx_ok(&g, ini_split, &(nn_data_opts){.seed = 11, .fit = 1});
    const int64_t *v2 = nn_data_indices(g.d, NN_PART_VAL, &nv);
    cr_assert_arr_eq(v, v2, 20 * sizeof *v);
    dfx_free(&g);
    dfx_ok(&g, ini_split, &(nn_data_opts){.seed = 12, .fit = 1});
    v2 = nn_data_indices(g.d, NN_PART_VAL, &nv);
    cr_assert_neq(memcmp(v, v2, 20 * sizeof *v), 0);
    dfx_free(&g);
    dfx_free(&f);
}

Test(data, k_fold_validation_parts_partition_the_split)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    int seen[100] = {0};
    for (int k = 0; k < 4; k++) {
        dfx f;
        dfx_ok(&f, ini_split, &(nn_data_opts){.seed = 5, .fit = 1, .folds = 4, .fold = k});
        cr_assert_eq(nn_data_size(f.d, NN_PART_VAL), 25);
        cr_assert_eq(nn_data_size(f.d, NN_PART_TRAIN), 75);
        int64_t nv;
        const int64_t *v = nn_data_indices(f.d, NN_PART_VAL, &nv);
        int cls[3] = {0};
        for (int64_t i = 0; i < nv; i++) {
            seen[v[i]]++;
            cls[labels_of((int)v[i])]++;
        }
        cr_assert(cls[0] == 15 && cls[1] >= 7 && cls[1] <= 8 && cls[2] >= 2 && cls[2] <= 3,
                  "fold %d: %d/%d/%d", k, cls[0], cls[1], cls[2]);
        dfx_free(&f);
    }
    for (int i = 0; i < 100; i++)
        cr_assert_eq(seen[i], 1, "sample %d validated %d times", i, seen[i]);
    nn_error err = {0};
    dfx f;
    cr_assert_lt(dfx_open(&f, ini_split, &(nn_data_opts){.folds = 4, .fold = 4}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "fold 4"), "%s", err.msg);
    dfx_free(&f);
}

Test(data, separate_validation_dataset_from_val_keys)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 50);
    dfx_write_csv("v.csv", 20);
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\nval_type = csv\nval_path = v.csv\n",
           &(nn_data_opts){.fit = 1});
    cr_assert_eq(nn_data_size(f.d, NN_PART_TRAIN), 50);
    cr_assert_eq(nn_data_size(f.d, NN_PART_VAL), 20);
    dfx_free(&f);
}

Test(data, bad_data_keys_are_named_with_file_and_line)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 10);
    nn_error err = {0};
    dfx f;
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nval_split = 1.5\n",
                          &(nn_data_opts){0}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "model.ini:4"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "'val_split'"), "%s", err.msg);
    dfx_free(&f);
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csvv\npath = d.csv\n", &(nn_data_opts){0}, &err),
                 0);
    cr_assert_not_null(strstr(err.msg, "csvv"), "%s", err.msg);
    dfx_free(&f);
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nval_path = x.csv\n",
                          &(nn_data_opts){0}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "val_type"), "%s", err.msg);
    dfx_free(&f);
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\ncolumns = 3\n",
                          &(nn_data_opts){0}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "'columns'"), "%s", err.msg);
    dfx_free(&f);
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nval_split = 0.01\n",
                          &(nn_data_opts){0}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "empty validation part"), "%s", err.msg);
    dfx_free(&f);
}

/* a misspelt [data] key gets the closest of nntrain's keys, the plugin's and their val_
 * forms (val_splitt was "needs val_type", stratfy and limt had no suggestion), and a val_
 * key without val_type has the rule explained where it is reported */
static void expect_msg(const char *ini, const char *a, const char *b)
{
    nn_error err = {0};
    dfx f;
    cr_assert_lt(dfx_open(&f, ini, &(nn_data_opts){.fit = 1}, &err), 0, "%s", ini);
    cr_assert_not_null(strstr(err.msg, a), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, b), "%s", err.msg);
    dfx_free(&f);
}

Test(data, misspelt_data_keys_get_a_did_you_mean_over_core_plugin_and_val_keys)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 10);
    expect_msg("[data]\ntype = csv\npath = d.csv\nval_splitt = 0.2\n",
               "model.ini:4: [data] unknown key 'val_splitt'", "(did you mean 'val_split'?)");
    expect_msg("[data]\ntype = csv\npath = d.csv\nstratfy = false\n",
               "model.ini:4: [data] unknown key 'stratfy'", "(did you mean 'stratify'?)");
    expect_msg("[data]\ntype = csv\nlimt = 5\npath = d.csv\n",
               "model.ini:3: [data] unknown key 'limt'", "(did you mean 'limit'?)");
    expect_msg("[data]\ntype = csv\npath = d.csv\ntest_limt = 5\n", "'test_limt'",
               "(did you mean 'test_limit'?)");
    expect_msg("[data]\ntype = csv\npth = d.csv\n", "'pth'", "(did you mean 'path'?)");
    expect_msg("[data]\ntype = csv\npath = d.csv\nval_type = csv\nval_pth = v.csv\n",
               "'val_pth'", "(did you mean 'val_path'?)");
    expect_msg("[data]\ntype = csv\npath = d.csv\nval_path = v.csv\n",
               "model.ini:4: [data] key 'val_path': a key val_KEY sets KEY of a separate "
               "validation dataset, whose plugin val_type names",
               "and there is no val_type; to hold out part of the training data instead, set "
               "val_split");
    expect_msg("[data]\ntype = csv\npath = d.csv\nzzzzzz = 1\n",
               "unknown key 'zzzzzz'; [data] takes the keys nntrain reads itself",
               "`nntrain plugins show csv`");
}

Test(transform_chain, shapes_follow_the_chain_and_fit_uses_the_training_part)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    const char *ini = "[data]\ntype = csv\npath = d.csv\nval_split = 0.2\n"
                      "[transform.c]\ntype = test_center\n"
                      "[transform.j]\ntype = test_jitter\n"
                      "[transform.h]\ntype = test_halve\n";
    dfx f;
    dfx_ok(&f, ini, &(nn_data_opts){.seed = 2, .fit = 1});
    cr_assert_eq(nn_data_info(f.d)->sample.shape[0], 1);
    /* the fitted mean of feature 0 over the 80 training rows */
    int64_t nt;
    const int64_t *t = nn_data_indices(f.d, NN_PART_TRAIN, &nt);
    double mean = 0;
    for (int64_t i = 0; i < nt; i++)
        mean += (double)t[i];
    mean /= (double)nt;
    char state[256];
    int need = nn_data_state_save(f.d, state, sizeof state);
    cr_assert_gt(need, 0);
    cr_assert_lt(need, (int)sizeof state);
    double got;
    char *m = strstr(state, "mean=");
    cr_assert_not_null(m, "%s", state);
    cr_assert_eq(strncmp(state, "transform c ", 12), 0, "%s", state);
    cr_assert_eq(sscanf(m, "mean=%lf", &got), 1);
    cr_assert_float_eq(got, mean, 1e-9);
    cr_assert_eq(nn_data_state_save(f.d, state, 4), need, "a short buffer still reports the size");
    dfx_free(&f);
}

Test(transform_chain, state_reloads_into_an_eval_run)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    dfx_write_csv("t.csv", 10);
    const char *ini = "[data]\ntype = csv\npath = d.csv\ntest_path = t.csv\n"
                      "[transform.c]\ntype = test_center\n";
    dfx f;
    dfx_ok(&f, ini, &(nn_data_opts){.seed = 2, .for_eval = 1});
    cr_assert_eq(nn_data_size(f.d, NN_PART_TEST), 10);
    cr_assert_eq(nn_data_size(f.d, NN_PART_TRAIN), 0);
    nn_error err = {0};
    cr_assert_eq(nn_data_state_load(f.d, "transform c 9\nmean=2.5\n", &err), 0, "%s", err.msg);
    char state[64];
    nn_data_state_save(f.d, state, sizeof state);
    cr_assert_str_eq(state, "transform c 8\nmean=2.5\n");
    cr_assert_lt(nn_data_state_load(f.d, "transform zz 3\nabc\n", &err), 0);
    cr_assert_not_null(strstr(err.msg, "[transform.zz]"), "%s", err.msg);
    cr_assert_lt(nn_data_state_load(f.d, "transform c 99\nmean=1\n", &err), 0);
    cr_assert_not_null(strstr(err.msg, "malformed"), "%s", err.msg);
    dfx_free(&f);
}

Test(transform_chain, train_only_transform_may_not_change_the_shape)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 10);
    nn_error err = {0};
    dfx f;
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\n"
                              "[transform.j]\ntype = test_jitter\nshrink = true\n",
                          &(nn_data_opts){.fit = 1}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "[transform.j]"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "train-only"), "%s", err.msg);
    dfx_free(&f);
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\n[transform.q]\nshrink = 1\n",
                          &(nn_data_opts){.fit = 1}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "[transform.q]: missing key 'type'"), "%s", err.msg);
    dfx_free(&f);
}

Test(data, validation_dataset_with_other_classes_is_rejected)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 50);
    fx_write_text("v.csv", "f0,f1,label\n1,2,c0\n3,4,c7\n5,6,c1\n");
    nn_error err = {0};
    dfx f;
    cr_assert_lt(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nval_type = csv\n"
                              "val_path = v.csv\n", &(nn_data_opts){.fit = 1}, &err), 0);
    cr_assert_not_null(strstr(err.msg, "validation class 2 is 'c7'"), "%s", err.msg);
    dfx_free(&f);
    /* fixing the class list on both sides makes the ids agree */
    cr_assert_eq(dfx_open(&f, "[data]\ntype = csv\npath = d.csv\nclasses = c0,c1,c2,c7\n"
                              "val_type = csv\nval_path = v.csv\nval_classes = c0,c1,c2,c7\n",
                          &(nn_data_opts){.fit = 1}, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_data_info(f.d)->n_classes, 4);
    dfx_free(&f);
}
