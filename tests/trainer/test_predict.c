/* test_predict.c: `nntrain predict --input FILE...` end to end through the real binary: a small
 * CSV model (with a fitted normalize transform) and a tiny IDX model are trained, then the
 * user's files are predicted; rows, names and probabilities must match `predict --split test`
 * for the same samples. Test-only; works in a scratch directory it removes. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("predict");
}

TestSuite(predict_cli, .init = setup, .fini = cli_teardown, .timeout = 120);

/* a file's text for a message, "(missing)" when there is none */
static char *text_of(const char *name)
{
    char *t = slurp(name);
    return t ? t : strdup("(missing)");
}

/* splits text into lines in place; returns the count */
static int lines_of(char *text, char **out, int cap)
{
    int n = 0;
    for (char *s = text, *nl; s && *s && n < cap; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = 0;
        out[n++] = s;
    }
    return n;
}

/* the fields of a CSV line after its first `skip` fields (no quoting in these files) */
static const char *after_fields(const char *l, int skip)
{
    for (int i = 0; i < skip && l; i++) {
        l = strchr(l, ',');
        l = l ? l + 1 : NULL;
    }
    cr_assert_not_null(l);
    return l;
}

/* ---- CSV ---- */

/* three classes decided by a linear rule over four features, values far from unit scale so
 * that the fitted normalize transform matters */
static void write_scaled_csv(const char *name, int rows, unsigned seed, int with_label)
{
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f);
    fprintf(f, with_label ? "f0,f1,f2,f3,label\n" : "f0,f1,f2,f3\n");
    srand(seed);
    for (int i = 0; i < rows; i++) {
        double x[4], s[3] = {0, 0, 0};
        for (int k = 0; k < 4; k++) {
            x[k] = 100 + 50 * (2.0 * rand() / RAND_MAX - 1);
            fprintf(f, "%.4f%s", x[k], k < 3 || with_label ? "," : "");
            s[k % 3] += x[k] - 100;
        }
        int best = s[1] > s[0] ? 1 : 0;
        best = s[2] > s[best] ? 2 : best;
        if (with_label)
            fprintf(f, "c%d", best);
        fputc('\n', f);
    }
    fclose(f);
}

static void train_csv_model(void)
{
    char m[1024];
    snprintf(m, sizeof m,
             "[train]\nepochs = 4\nbatch_size = 16\nseed = 3\n"
             "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\n"
             "[transform.norm]\ntype = normalize\nfrom_data = true\n"
             "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.02\n"
             "[layer.fc1]\ntype = dense\nunits = 8\nactivation = relu\n"
             "[layer.fc2]\ntype = dense\nunits = 3\n");
    write_file("m.ini", m);
    write_scaled_csv("train.csv", 160, 1, 1);
    write_scaled_csv("test.csv", 12, 2, 1);
    cr_assert_eq(nntrain("train m.ini --no-test"), 0, "%s", text_of("out.txt"));
}

Test(predict_cli, csv_inputs_get_named_rows_with_the_same_probabilities_as_the_test_split)
{
    train_csv_model();
    /* the test rows without their label, split over two files (the second in a subfolder) */
    char *test = text_of("test.csv"), *tl[32];
    int nt = lines_of(test, tl, 32);
    cr_assert_eq(nt, 13);
    FILE *a = fopen(path_in("a.csv"), "w"), *b = fopen(path_in("b.csv"), "w");
    fputs("f0,f1,f2,f3\n", a);
    fputs("f0,f1,f2,f3\n", b);
    for (int i = 1; i < nt; i++) {
        *strrchr(tl[i], ',') = 0;
        fprintf(i <= 5 ? a : b, "%s\n", tl[i]);
    }
    fclose(a);
    fclose(b);
    free(test);

    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --split test "
                         "--output ref.csv"), 0, "%s", text_of("out.txt"));
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input a.csv "
                         "--output p.csv --input b.csv"), 0, "%s", text_of("out.txt"));
    char *ref = text_of("ref.csv"), *got = text_of("p.csv"), *rl[32], *gl[32];
    int nr = lines_of(ref, rl, 32), ng = lines_of(got, gl, 32);
    cr_assert_eq(nr, 13, "%d reference rows", nr);
    cr_assert_eq(ng, 13, "one header and 12 rows, got %d lines", ng);
    cr_assert_str_eq(gl[0], "input,predicted,probability,p_c0,p_c1,p_c2");
    for (int i = 1; i < ng; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s:%d,", i <= 5 ? "a.csv" : "b.csv", i <= 5 ? i + 1 : i - 4);
        cr_assert_eq(strncmp(gl[i], want, strlen(want)), 0, "row %d is '%s', expected %s...", i,
                     gl[i], want);
        /* same predicted class and probabilities as the reference row (index,label,...) */
        cr_assert_str_eq(after_fields(gl[i], 1), after_fields(rl[i], 2), "row %d", i);
        char pred[8];
        double pp, p0, p1, p2;
        cr_assert_eq(sscanf(after_fields(gl[i], 1), "%7[^,],%lf,%lf,%lf,%lf", pred, &pp, &p0,
                            &p1, &p2), 5, "%s", gl[i]);
        cr_assert_float_eq(p0 + p1 + p2, 1.0, 1e-4, "%s", gl[i]);
        cr_assert_float_eq(pp, fmax(p0, fmax(p1, p2)), 1e-6, "%s", gl[i]);
    }
    free(ref);
    free(got);

    /* --limit applies to inputs too, and several files may follow one --input */
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --limit 2 "
                         "--input b.csv a.csv --output lim.csv"), 0, "%s", text_of("out.txt"));
    char *out = text_of("lim.csv"), *ol[8];
    int no = lines_of(out, ol, 8);
    cr_assert_eq(no, 3, "header and 2 rows: %d", no);
    cr_assert_eq(strncmp(ol[1], "b.csv:2,", 8), 0, "%s", ol[1]);
    free(out);
}

Test(predict_cli, bad_inputs_and_usage_errors_name_the_file_and_record)
{
    train_csv_model();
    write_file("bad.csv", "f0,f1,f2,f3\n1,2,3,4\n5,6,x,8\n");
    cr_assert_neq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input bad.csv"),
                  0);
    char *out = text_of("out.txt");
    cr_assert(strstr(out, "bad.csv:3") && strstr(out, "not a number"), "%s", out);
    free(out);
    write_file("narrow.csv", "f0,f1\n1,2\n");
    cr_assert_neq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input "
                          "narrow.csv"), 0);
    out = text_of("out.txt");
    cr_assert(strstr(out, "narrow.csv") && strstr(out, "missing 'f2', 'f3'") &&
              strstr(out, "expected the feature columns 'f0', 'f1', 'f2', 'f3'"), "%s", out);
    free(out);
    cr_assert_neq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input "
                          "missing.csv"), 0);
    out = text_of("out.txt");
    cr_assert(strstr(out, "missing.csv") && strstr(out, "cannot open"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input"), 2);
    out = text_of("out.txt");
    cr_assert(strstr(out, "--input needs at least one FILE"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --split val "
                         "--input test.csv"), 2);
    out = text_of("out.txt");
    cr_assert(strstr(out, "--split or --input"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("help predict"), 0);
    out = text_of("out.txt");
    cr_assert(strstr(out, "--input FILE..."), "%s", out);
    free(out);
}

/* the rows of test.csv (f0,f1,f2,f3,label) with the n columns cols, in that order */
static void write_test_columns(const char *name, const int *cols, int n)
{
    static const char *names[] = {"f0", "f1", "f2", "f3", "label"};
    char *test = text_of("test.csv"), *tl[32];
    int nt = lines_of(test, tl, 32);
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f);
    for (int i = 0; i < nt; i++) {
        char field[5][32];
        if (i > 0)
            cr_assert_eq(sscanf(tl[i], "%31[^,],%31[^,],%31[^,],%31[^,],%31s", field[0],
                                field[1], field[2], field[3], field[4]), 5, "%s", tl[i]);
        for (int k = 0; k < n; k++)
            fprintf(f, "%s%s", k ? "," : "", i ? field[cols[k]] : names[cols[k]]);
        fputc('\n', f);
    }
    fclose(f);
    free(test);
}

/* `predict m.ini` of the trained model with args; returns the text its lines point into */
static char *predict_lines(const char *args, char **lines, int *n)
{
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors %s --output "
                         "pl.csv", args), 0, "%s: %s", args, text_of("out.txt"));
    char *text = text_of("pl.csv");
    *n = lines_of(text, lines, 32);
    return text;
}

/* an input's header names its columns: reordered ones, with the label first, give the
 * predictions of the test split; names the model does not know are refused */
Test(predict_cli, csv_inputs_are_matched_to_the_features_by_header_name)
{
    train_csv_model();
    write_test_columns("moved.csv", (const int[]){4, 3, 0, 2, 1}, 5);
    char *rl[32], *ml[32];
    int nr, nm;
    char *ref = predict_lines("--split test", rl, &nr), *moved = predict_lines("--input moved.csv",
                                                                               ml, &nm);
    cr_assert_eq(nr, 13);
    cr_assert_eq(nm, nr);
    /* the input's rows (input,predicted,...) against the test split's (index,label,...) */
    for (int i = 1; i < nm; i++)
        cr_assert_str_eq(after_fields(ml[i], 1), after_fields(rl[i], 2), "row %d", i);
    free(ref);
    free(moved);

    write_file("foo.csv", "foo,bar,baz\n1,2,3\n");
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --input foo.csv"), 1);
    char *out = text_of("out.txt");
    cr_assert(strstr(out, "foo.csv") && strstr(out, "unknown 'foo', 'bar', 'baz'") &&
              strstr(out, "missing 'f0', 'f1', 'f2', 'f3'"), "%s", out);
    free(out);
}

/* ---- IDX ---- */

/* n images of 6x6: class c has a bright 2x6 band at rows 2c, 2c+1, plus noise */
Test(predict_cli, idx_model_predicts_an_images_file_like_its_test_split)
{
    write_idx("tr-img.gz", "tr-lab", 300, 6, 1);
    write_idx("te-img.gz", "te-lab", 9, 6, 2);
    char m[1024];
    snprintf(m, sizeof m,
             "[train]\nepochs = 3\nbatch_size = 32\nseed = 1\n"
             "[data]\ntype = idx\ndir = .\ntrain_images = tr-img.gz\ntrain_labels = tr-lab\n"
             "test_images = te-img.gz\ntest_labels = te-lab\nclass_names = top,middle,bottom\n"
             "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.05\n"
             "[layer.flat]\ntype = flatten\n[layer.fc]\ntype = dense\nunits = 3\n");
    write_file("i.ini", m);
    cr_assert_eq(nntrain("train i.ini --no-test --set train.epochs=1"), 0, "%s",
                 text_of("out.txt"));
    cr_assert_eq(nntrain("predict i.ini --checkpoint runs/i/last.safetensors --output ref.csv"),
                 0, "%s", text_of("out.txt"));
    cr_assert_eq(nntrain("predict i.ini --checkpoint runs/i/last.safetensors --input te-img.gz "
                         "--output p.csv"), 0, "%s", text_of("out.txt"));
    char *ref = text_of("ref.csv"), *got = text_of("p.csv"), *rl[16], *gl[16];
    int nr = lines_of(ref, rl, 16), ng = lines_of(got, gl, 16);
    cr_assert_eq(nr, 10);
    cr_assert_eq(ng, 10, "%s", got);
    cr_assert_str_eq(gl[0], "input,predicted,probability,p_top,p_middle,p_bottom");
    for (int i = 1; i < ng; i++) {
        char want[32];
        snprintf(want, sizeof want, "te-img.gz:%d,", i - 1);
        cr_assert_eq(strncmp(gl[i], want, strlen(want)), 0, "%s", gl[i]);
        cr_assert_str_eq(after_fields(gl[i], 1), after_fields(rl[i], 2), "row %d", i);
    }
    free(ref);
    free(got);
}

/* an output that fails once the rows outgrow the stream's buffer: the message says why (it was
 * "predict: " and nothing after it) */
Test(predict_cli, a_failing_output_is_named_with_the_reason)
{
    train_csv_model();
    write_scaled_csv("test.csv", 300, 2, 1); /* 300 rows: well past 4 KiB of CSV */
    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --output /dev/full"),
                 1, "%s", text_of("out.txt"));
    char *out = text_of("out.txt");
    cr_assert(strstr(out, "predict: cannot write predictions /dev/full: No space left on device"),
              "%s", out);
    free(out);
}
