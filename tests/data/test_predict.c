/* test_predict.c: every dataset plugin's NN_SPLIT_PREDICT on files the test writes: the user's
 * files decode to exactly the samples training gives for the same data, targets are unknown
 * (-1), class names are training's, describe() names file and record, and bad inputs are
 * errors naming the file. Test-only. */
#include <math.h>
#include <stddef.h>
#include <png.h>
#include <sndfile.h>

#include "core/data/data_internal.h"
#include "data_fixtures.h"

static int open_predict(fx_ds *d, const char *const *inputs, int n, const char *state_dir,
                        nn_error *err)
{
    nn_dataset_open o = {.struct_size = sizeof o, .split = NN_SPLIT_PREDICT, .base_dir = fx_dir,
                         .state_dir = state_dir, .fit = 0, .inputs = inputs, .n_inputs = n};
    return d->vt->open(d->inst.self, &o, &d->info, err);
}

static void predict_ok(fx_ds *d, const char *name, const nn_kv *kv, int nkv,
                       const char *const *inputs, int n, const char *state_dir)
{
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(d, name, kv, nkv, &err), 0, "%s", err.msg);
    cr_assert_eq(open_predict(d, inputs, n, state_dir, &err), 0, "%s", err.msg);
    cr_assert_null(d->info.labels, "%s: labels of prediction inputs are unknown", name);
}

static void predict_fails(const char *name, const nn_kv *kv, int nkv, const char *const *inputs,
                          int n, const char *n1, const char *n2)
{
    fx_ds d;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&d, name, kv, nkv, &err), 0, "%s", err.msg);
    cr_assert_lt(open_predict(&d, inputs, n, NULL, &err), 0, "expected a failure naming %s", n1);
    cr_assert_not_null(strstr(err.msg, n1), "message '%s' lacks '%s'", err.msg, n1);
    if (n2)
        cr_assert_not_null(strstr(err.msg, n2), "message '%s' lacks '%s'", err.msg, n2);
    fx_ds_free(&d);
}

static void name_is(fx_ds *d, int64_t i, const char *want)
{
    char buf[600];
    cr_assert_not_null(d->vt->describe, "describe slot");
    cr_assert_eq(d->vt->describe(d->inst.self, i, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, want);
}

/* sample i of a (train) equals sample j of b (predict) bit for bit; b's target is -1 */
static void same_sample(fx_ds *a, int64_t i, fx_ds *b, int64_t j)
{
    size_t bytes = nn_tensor_nbytes(&a->info.sample);
    cr_assert_eq(bytes, nn_tensor_nbytes(&b->info.sample));
    cr_assert(nn_shape_equal(&a->info.sample, &b->info.sample));
    char *x = malloc(bytes), *y = malloc(bytes);
    int32_t ta, tb = 5;
    nn_error err = {0};
    cr_assert_eq(fx_ds_get(a, i, x, &ta, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_get(b, j, y, &tb, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(x, y, bytes), 0, "sample %lld of training differs from input %lld",
                 (long long)i, (long long)j);
    cr_assert_eq(tb, -1, "prediction targets are unknown");
    free(x);
    free(y);
}

static void same_classes(fx_ds *a, fx_ds *b)
{
    cr_assert_eq(a->info.n_classes, b->info.n_classes);
    for (int c = 0; a->info.class_names && c < a->info.n_classes; c++)
        cr_assert_str_eq(a->info.class_names[c], b->info.class_names[c]);
    cr_assert_eq(!a->info.class_names, !b->info.class_names);
}

/* ---- idx ---- */

static void write_idx_images(const char *rel, int n, int h, int w, int first)
{
    size_t len = 16 + (size_t)(n * h * w);
    uint8_t *b = calloc(1, len);
    memcpy(b, (uint8_t[]){0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, (uint8_t)h, 0, 0, 0,
                          (uint8_t)w}, 16);
    for (int i = 0; i < n * h * w; i++)
        b[16 + i] = (uint8_t)((first * h * w + i) * 7);
    fx_write_gz(rel, b, len);
    free(b);
}

static const nn_kv idx_kv[] = {FX_KV("dir", "."), FX_KV("train_images", "img.gz"),
                               FX_KV("train_labels", "lab.gz"), FX_KV("preset", "none")};

static void idx_fixture(void)
{
    fx_tmpdir();
    write_idx_images("img.gz", 4, 2, 3, 0);
    fx_write("lab.gz", (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 4, 2, 0, 1, 2}, 12);
}

Test(predict, idx_inputs_decode_like_training_records_and_are_named_by_file_and_record)
{
    idx_fixture();
    write_idx_images("a.idx", 1, 2, 3, 3); /* = training record 3 */
    write_idx_images("b.idx", 3, 2, 3, 0); /* = training records 0..2 */
    const char *in[] = {fx_path("a.idx"), fx_path("b.idx")};
    fx_ds t, p;
    fx_ds_ok(&t, "idx", idx_kv, 4, NN_SPLIT_TRAIN);
    predict_ok(&p, "idx", idx_kv, 4, in, 2, NULL);
    cr_assert_eq(p.info.length, 4);
    same_classes(&t, &p);
    cr_assert_eq(p.info.n_classes, 3, "class count from the training labels (max 2)");
    same_sample(&t, 3, &p, 0);
    same_sample(&t, 0, &p, 1);
    same_sample(&t, 2, &p, 3);
    char want[600];
    snprintf(want, sizeof want, "%s:0", in[0]);
    name_is(&p, 0, want);
    snprintf(want, sizeof want, "%s:2", in[1]);
    name_is(&p, 3, want);
    cr_assert_lt(p.vt->describe(p.inst.self, 4, want, sizeof want), 0);
    fx_ds_free(&t);
    fx_ds_free(&p);
}

Test(predict, idx_inputs_of_another_image_size_are_rejected_naming_the_file)
{
    idx_fixture();
    write_idx_images("a.idx", 1, 2, 3, 0);
    write_idx_images("c.idx", 2, 3, 3, 0);
    const char *in[] = {fx_path("a.idx"), fx_path("c.idx")};
    predict_fails("idx", idx_kv, 4, in, 2, "c.idx", "differ");
    const char *other[] = {fx_path("c.idx")};
    predict_fails("idx", idx_kv, 4, other, 1, "c.idx", "training images");
    const char *missing[] = {fx_path("nope.idx")};
    predict_fails("idx", idx_kv, 4, missing, 1, "nope.idx", "cannot open");
}

/* ---- csv ---- */

static const nn_kv csv_kv[] = {FX_KV("path", "train.csv"), FX_KV("label", "label")};

/* with a header, an input's columns are the training features by name, in any order; the
 * label column, wherever it stands, is not a feature */
Test(predict, csv_inputs_with_or_without_the_label_column_match_training_rows_by_name)
{
    fx_tmpdir();
    fx_write_text("train.csv", "f0,label,f1\n1,b,2\n3,a,4\n5,c,6\n");
    fx_write_text("x.csv", "f1,f0\n4,3\n\n6,5\n");
    fx_write_text("y.csv", "label,f1,f0\nzzz,2,1\n");
    const char *in[] = {fx_path("x.csv"), fx_path("y.csv")};
    fx_ds t, p;
    fx_ds_ok(&t, "csv", csv_kv, 2, NN_SPLIT_TRAIN);
    predict_ok(&p, "csv", csv_kv, 2, in, 2, NULL);
    cr_assert_eq(p.info.length, 3);
    same_classes(&t, &p);
    cr_assert_str_eq(p.info.class_names[0], "a");
    same_sample(&t, 1, &p, 0);
    same_sample(&t, 2, &p, 1);
    same_sample(&t, 0, &p, 2); /* an unknown label in an input is ignored, not an error */
    char want[600];
    snprintf(want, sizeof want, "%s:4", in[0]); /* file line, blank line counted */
    name_is(&p, 1, want);
    snprintf(want, sizeof want, "%s:2", in[1]);
    name_is(&p, 2, want);
    fx_ds_free(&t);
    fx_ds_free(&p);
}

Test(predict, csv_inputs_with_other_columns_or_bad_numbers_are_named)
{
    fx_tmpdir();
    fx_write_text("train.csv", "f0,label,f1\n1,b,2\n3,a,4\n");
    fx_write_text("three.csv", "f0,f1,f2,f3\n1,2,3,4\n");
    fx_write_text("bad.csv", "f0,f1\n1,2\n1,x\n");
    const char *a[] = {fx_path("three.csv")};
    predict_fails("csv", csv_kv, 2, a, 1, "three.csv", "unknown 'f2', 'f3'");
    const char *b[] = {fx_path("bad.csv")};
    predict_fails("csv", csv_kv, 2, b, 1, "bad.csv:3", "column 2 ('f1'): 'x' is not a number");
    /* without a header, columns go by position and their count is what is checked */
    fx_write_text("train.csv", "1,b,2\n3,a,4\n");
    fx_write_text("three.csv", "1,2,3,4\n");
    const nn_kv plain[] = {FX_KV("path", "train.csv"), FX_KV("label", "1"),
                           FX_KV("header", "false")};
    predict_fails("csv", plain, 3, a, 1, "three.csv", "4 columns");
}

Test(predict, csv_inputs_with_missing_unknown_or_repeated_names_are_refused_by_name)
{
    fx_tmpdir();
    fx_write_text("train.csv", "x1,x2,x3,label\n1,2,3,a\n");
    fx_write_text("foo.csv", "foo,x1,bar\n1,2,3\n");
    const char *a[] = {fx_path("foo.csv")};
    const char *want = "foo.csv: the header does not match the training file's columns: missing "
                       "'x2', 'x3'; unknown 'foo', 'bar'; expected the feature columns 'x1', "
                       "'x2', 'x3' (the label column 'label' is optional and ignored)";
    predict_fails("csv", csv_kv, 2, a, 1, want, NULL);
    fx_write_text("twice.csv", "x1,x2,x3,x1\n1,2,3,4\n");
    const char *b[] = {fx_path("twice.csv")};
    predict_fails("csv", csv_kv, 2, b, 1, "twice.csv: the header names column 'x1' twice",
                  "columns 1 and 4");
    /* names too long for the message are cut short, never overrun it */
    char head[1200];
    snprintf(head, sizeof head, "%0300d,x1,%0600d,x2,x3\n1,2,3,4,5\n", 7, 8);
    fx_write_text("long.csv", head);
    const char *l[] = {fx_path("long.csv")};
    predict_fails("csv", csv_kv, 2, l, 1, "long.csv: the header does not match",
                  "unknown ...; expected the feature columns 'x1', 'x2', 'x3'");
    /* a file without its header line: its first row is taken for names, and said so */
    fx_write_text("bare.csv", "1,2,3\n4,5,6\n");
    const char *c[] = {fx_path("bare.csv")};
    predict_fails("csv", csv_kv, 2, c, 1, "unknown '1', '2', '3'", "lacks the header line");
}

/* a `features` list picks columns by name: an input's other columns are ignored */
Test(predict, csv_inputs_with_a_features_list_ignore_other_columns)
{
    fx_tmpdir();
    fx_write_text("train.csv", "a,b,label,c\n1,2,x,3\n4,5,y,6\n");
    fx_write_text("in.csv", "id,c,a\n7,6,4\n");
    const nn_kv kv[] = {FX_KV("path", "train.csv"), FX_KV("label", "label"),
                        FX_KV("features", "c,a")};
    const char *in[] = {fx_path("in.csv")};
    fx_ds t, p;
    fx_ds_ok(&t, "csv", kv, 3, NN_SPLIT_TRAIN);
    predict_ok(&p, "csv", kv, 3, in, 1, NULL);
    same_sample(&t, 1, &p, 0);
    fx_ds_free(&t);
    fx_ds_free(&p);
    fx_write_text("in.csv", "id,a\n7,4\n");
    predict_fails("csv", kv, 3, in, 1, "in.csv", "missing 'c'");
}

/* ---- image_folder ---- */

static void write_png(const char *rel, int w, int h, int base)
{
    uint8_t px[64];
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)(base + 9 * i);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_GRAY;
    cr_assert(png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL), "%s", im.message);
}

static const nn_kv if_kv[] = {FX_KV("dir", "train"), FX_KV("mode", "gray")};

Test(predict, image_folder_inputs_are_files_or_directories_resized_like_training)
{
    fx_tmpdir();
    fx_mkdir("train");
    fx_mkdir("train/cat");
    fx_mkdir("train/dog");
    write_png("train/cat/a.png", 4, 2, 0);
    write_png("train/dog/b.png", 4, 2, 50);
    write_png("train/dog/c.png", 8, 4, 20); /* resized to the first image's 2x4 */
    fx_mkdir("in");
    write_png("in/2.png", 8, 4, 20);
    write_png("in/1.png", 4, 2, 50);
    write_png("one.png", 4, 2, 0);
    const char *in[] = {fx_path("one.png"), fx_path("in/")};
    fx_ds t, p;
    fx_ds_ok(&t, "image_folder", if_kv, 2, NN_SPLIT_TRAIN);
    predict_ok(&p, "image_folder", if_kv, 2, in, 2, NULL);
    cr_assert_eq(p.info.length, 3);
    same_classes(&t, &p);
    cr_assert_str_eq(p.info.class_names[1], "dog");
    same_sample(&t, 0, &p, 0);
    same_sample(&t, 1, &p, 1); /* in/1.png: the directory is listed in sorted order */
    same_sample(&t, 2, &p, 2);
    name_is(&p, 0, fx_path("one.png"));
    name_is(&p, 2, fx_path("in/2.png"));
    fx_ds_free(&t);
    fx_ds_free(&p);
}

Test(predict, image_folder_bad_inputs_are_named)
{
    fx_tmpdir();
    fx_mkdir("train");
    fx_mkdir("train/cat");
    write_png("train/cat/a.png", 4, 2, 0);
    fx_mkdir("empty");
    fx_write_text("not.png", "hello");
    write_png("big.png", 8, 4, 0);
    const char *a[] = {fx_path("empty")};
    predict_fails("image_folder", if_kv, 2, a, 1, "empty", "no .png or .jpg files");
    const char *b[] = {fx_path("not.png")};
    predict_fails("image_folder", if_kv, 2, b, 1, "not.png", "unreadable image");
    const nn_kv check[] = {FX_KV("dir", "train"), FX_KV("mode", "gray"),
                           FX_KV("resize", "check")};
    const char *c[] = {fx_path("big.png")};
    predict_fails("image_folder", check, 3, c, 1, "big.png", "expected 2x4");
}

/* ---- audio_folder ---- */

static void write_wav(const char *rel, int frames, float base)
{
    float x[64];
    for (int i = 0; i < frames; i++)
        x[i] = base + 0.01f * (float)i;
    SF_INFO si = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(fx_path(rel), SFM_WRITE, &si);
    cr_assert_not_null(f, "%s", sf_strerror(NULL));
    cr_assert_eq(sf_writef_float(f, x, frames), frames);
    sf_close(f);
}

Test(predict, audio_folder_inputs_are_files_or_directories_read_like_training)
{
    fx_tmpdir();
    fx_mkdir("train");
    fx_mkdir("train/no");
    fx_mkdir("train/yes");
    write_wav("train/no/a.wav", 10, 0.1f);
    write_wav("train/yes/b.wav", 20, -0.2f);
    fx_mkdir("in");
    write_wav("in/b.wav", 20, -0.2f);
    write_wav("a.wav", 10, 0.1f);
    const nn_kv kv[] = {FX_KV("dir", "train"), FX_KV("rate", "8000"), FX_KV("length", "16")};
    const char *in[] = {fx_path("a.wav"), fx_path("in")};
    fx_ds t, p;
    fx_ds_ok(&t, "audio_folder", kv, 3, NN_SPLIT_TRAIN);
    predict_ok(&p, "audio_folder", kv, 3, in, 2, NULL);
    cr_assert_eq(p.info.length, 2);
    same_classes(&t, &p);
    same_sample(&t, 0, &p, 0);
    same_sample(&t, 1, &p, 1);
    name_is(&p, 1, fx_path("in/b.wav"));
    fx_ds_free(&t);
    fx_ds_free(&p);
    fx_write_text("x.wav", "not audio");
    const char *bad[] = {fx_path("x.wav")};
    predict_fails("audio_folder", kv, 3, bad, 1, "x.wav", NULL);
}

/* ---- text ---- */

Test(predict, text_inputs_use_the_saved_vocabulary_and_training_classes)
{
    fx_tmpdir();
    fx_write_text("train.txt", "pos\tthe cat sat\nneg\tthe dog ran\npos\tA cat\n");
    fx_write_text("in.txt", "the dog ran\n\nA cat\nzebra the\n");
    const nn_kv kv[] = {FX_KV("path", "train.txt"), FX_KV("max_len", "4")};
    fx_ds t, p;
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(&t, "text", kv, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(&t, NN_SPLIT_TRAIN, fx_dir, 1, &err), 0, "%s", err.msg);
    const char *in[] = {fx_path("in.txt")};
    predict_ok(&p, "text", kv, 2, in, 1, fx_dir);
    cr_assert_eq(p.info.length, 3);
    same_classes(&t, &p);
    same_sample(&t, 1, &p, 0);
    same_sample(&t, 2, &p, 1);
    int32_t ids[4], y, the[4];
    cr_assert_eq(fx_ds_get(&p, 2, ids, &y, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_get(&t, 0, the, &y, &err), 0, "%s", err.msg);
    cr_assert_eq(ids[0], 1, "zebra is unknown (<unk> = 1)");
    cr_assert_eq(ids[1], the[0], "'the' keeps its training id");
    cr_assert_eq(ids[2], 0);
    char want[600];
    snprintf(want, sizeof want, "%s:4", in[0]);
    name_is(&p, 2, want);
    fx_ds_free(&t);
    fx_ds_free(&p);
    /* the vocabulary comes from state_dir: without it, prediction names the missing file */
    fx_ds q;
    cr_assert_eq(fx_ds_create(&q, "text", kv, 2, &err), 0, "%s", err.msg);
    char other[600];
    snprintf(other, sizeof other, "%s/none", fx_dir);
    cr_assert_lt(open_predict(&q, in, 1, other, &err), 0);
    cr_assert_not_null(strstr(err.msg, "vocab.txt"), "%s", err.msg);
    fx_ds_free(&q);
}

/* ---- cifar ---- */

static void write_cifar(const char *rel, int n, int first)
{
    size_t rec = 1 + 3072;
    uint8_t *b = malloc(rec * (size_t)n);
    for (int i = 0; i < n; i++) {
        b[i * rec] = (uint8_t)((first + i) % 10);
        for (int k = 0; k < 3072; k++)
            b[i * rec + 1 + k] = (uint8_t)((first + i) * 31 + k);
    }
    fx_write(rel, b, rec * (size_t)n);
    free(b);
}

Test(predict, cifar_batch_files_decode_like_training_with_labels_ignored)
{
    fx_tmpdir();
    write_cifar("train.bin", 3, 0);
    write_cifar("in.bin", 2, 1);
    uint8_t junk[3073] = {250}; /* a label byte out of range: ignored for prediction */
    fx_write("junk.bin", junk, sizeof junk);
    const nn_kv kv[] = {FX_KV("dir", "."), FX_KV("train_files", "train.bin")};
    const char *in[] = {fx_path("in.bin"), fx_path("junk.bin")};
    fx_ds t, p;
    fx_ds_ok(&t, "cifar", kv, 2, NN_SPLIT_TRAIN);
    predict_ok(&p, "cifar", kv, 2, in, 2, NULL);
    cr_assert_eq(p.info.length, 3);
    same_classes(&t, &p);
    same_sample(&t, 1, &p, 0);
    same_sample(&t, 2, &p, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:0", in[1]);
    name_is(&p, 2, want);
    fx_ds_free(&t);
    fx_ds_free(&p);
    fx_write("short.bin", junk, 100);
    const char *bad[] = {fx_path("short.bin")};
    predict_fails("cifar", kv, 2, bad, 1, "short.bin", "truncated");
}

/* ---- the core's prediction part ---- */

static const char *norm_ini = "[data]\ntype = csv\npath = d.csv\n"
                              "[transform.n]\ntype = normalize\nfrom_data = true\n";

Test(predict, core_part_runs_the_fitted_transforms_like_training_samples)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 100);
    fx_write_text("in.csv", "f0,f1\n5,10.5\n7,14.5\n");
    dfx f;
    dfx_ok(&f, norm_ini, &(nn_data_opts){.seed = 1, .fit = 1});
    nn_error err = {0};
    const char *in[] = {fx_path("in.csv")};
    cr_assert_eq(nn_data_size(f.d, NN_PART_PREDICT), NN_ENOTFOUND);
    cr_assert_eq(nn_data_open_predict(f.d, in, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_data_size(f.d, NN_PART_PREDICT), 2);
    cr_assert_lt(nn_data_open_predict(f.d, in, 1, &err), 0, "opens once");
    char name[600], want[600];
    nn_data_describe(f.d, NN_PART_PREDICT, 1, name, sizeof name);
    snprintf(want, sizeof want, "%s:3", in[0]);
    cr_assert_str_eq(name, want);
    nn_data_describe(f.d, NN_PART_TRAIN, 4, name, sizeof name);
    cr_assert_str_eq(name, "4", "training samples are named by index");

    nn_loader *l;
    nn_loader_opts o = {.batch_size = 8, .prefetch = 1, .workers = 1};
    cr_assert_eq(nn_loader_new(f.d, NN_PART_PREDICT, &o, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(nn_loader_start_epoch(l, 0, 0, &err), 0, "%s", err.msg);
    nn_batch *b;
    cr_assert_eq(nn_loader_next(l, &b, &err), 1, "%s", err.msg);
    cr_assert_eq(b->n, 2);
    size_t sb = nn_data_scratch_bytes(f.d) + 64;
    void *sa = aligned_alloc(64, (sb + 63) / 64 * 64), *sc = aligned_alloc(64, (sb + 63) / 64 * 64);
    for (int r = 0; r < 2; r++) {
        float want_x[2];
        int32_t y;
        nn_tensor s = nn_data_info(f.d)->sample, t = nn_data_info(f.d)->target;
        s.dl.shape = s.shape;
        s.dl.strides = s.strides;
        s.dl.data = want_x;
        t.dl.shape = t.shape;
        t.dl.strides = t.strides;
        t.dl.data = &y;
        cr_assert_eq(nn_data_decode(f.d, NN_PART_TRAIN, r ? 7 : 5, 0, 0, sa, sc, &s, &t, &err),
                     0, "%s", err.msg);
        const float *got = (const float *)b->x->dl.data + 2 * r;
        cr_assert_eq(got[0], want_x[0], "input row %d normalized like training row", r);
        cr_assert_eq(got[1], want_x[1]);
        cr_assert_lt(fabsf(got[0]), 2.0f, "normalized, not the raw %d", r ? 7 : 5);
        cr_assert_eq(((const int32_t *)b->y->dl.data)[r], -1, "targets are unknown");
    }
    free(sa);
    free(sc);
    nn_loader_release(l, b);
    cr_assert_eq(nn_loader_next(l, &b, &err), 0);
    nn_loader_free(l);
    dfx_free(&f);
}

Test(predict, eval_data_with_inputs_opens_them_instead_of_the_test_split)
{
    fx_tmpdir();
    dfx_write_csv("d.csv", 20); /* no test_path: opening the test split would fail */
    fx_write_text("in.csv", "f0,f1\n1,2\n3,4\n5,6\n");
    const char *in[] = {fx_path("in.csv")};
    dfx f;
    dfx_ok(&f, "[data]\ntype = csv\npath = d.csv\n",
           &(nn_data_opts){.for_eval = 1, .inputs = in, .n_inputs = 1});
    cr_assert_eq(nn_data_size(f.d, NN_PART_PREDICT), 3);
    cr_assert_eq(nn_data_size(f.d, NN_PART_TEST), NN_ENOTFOUND);
    cr_assert_eq(nn_data_info(f.d)->n_classes, 3);
    cr_assert_str_eq(nn_data_info(f.d)->class_names[2], "c2");
    cr_assert_null(nn_data_info(f.d)->labels);
    dfx_free(&f);
}

/* ---- ABI ---- */

/* the ABI 0.1 layouts, as plugins built before prediction existed see them */
typedef struct open_v01 {
    uint32_t struct_size;
    nn_split split;
    const char *base_dir, *state_dir;
    int fit;
    const void *reserved[8];
} open_v01;

typedef struct vtable_v01 {
    NN_VTABLE_COMMON;
    int (*open)(void *, const nn_dataset_open *, nn_dataset_info *, nn_error *);
    int (*get)(void *, int64_t, nn_tensor *, nn_tensor *, nn_error *);
    const void *reserved[8];
} vtable_v01;

Test(predict, abi_0_2_keeps_the_sizes_of_the_dataset_structs)
{
    cr_assert_eq(sizeof(nn_dataset_open), sizeof(open_v01));
    cr_assert_eq(sizeof(nn_dataset_vtable), sizeof(vtable_v01));
    cr_assert_eq(offsetof(nn_dataset_vtable, describe), offsetof(vtable_v01, reserved),
                 "describe takes the first reserved slot");
    cr_assert_eq(offsetof(nn_dataset_open, inputs), offsetof(open_v01, reserved));
    cr_assert_geq(NN_ABI_MINOR, 2);
}
