/* test_regression.c: the csv plugin's task = regression end to end through the real nntrain
 * binary: a linear target learnt by one 1-unit dense layer with the stock losses, and eval,
 * predict and cv reporting the loss and targets, never a classification accuracy. Test-only. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_fixture.h"

/* rows a,b,y with y = 3a - 2b + 0.5, a and b uniform in [-1, 1] */
static void write_linear(const char *name, int rows, uint64_t seed)
{
    FILE *f = fopen(path_in(name), "w");
    cr_assert_not_null(f);
    fputs("a,b,y\n", f);
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    for (int i = 0; i < rows; i++) {
        double a = 2 * nn_rng_uniform(&r) - 1, b = 2 * nn_rng_uniform(&r) - 1;
        fprintf(f, "%.4f,%.4f,%.4f\n", a, b, 3 * a - 2 * b + 0.5);
    }
    fclose(f);
}

static void setup(void)
{
    cli_setup("regression");
    write_linear("rtrain.csv", 500, 2);
    write_linear("rtest.csv", 100, 3);
}

TestSuite(regression, .init = setup, .fini = cli_teardown, .timeout = 120);

static void write_model(const char *name, const char *loss, int units)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[train]\nepochs = 10\nbatch_size = 16\nseed = 4\n"
             "[data]\ntype = csv\npath = rtrain.csv\ntest_path = rtest.csv\nlabel = y\n"
             "task = regression\nval_split = 0.2\n"
             "[loss]\ntype = %s\n[optimizer]\ntype = sgd\nlr = 0.1\n"
             "[layer.fc1]\ntype = dense\nunits = %d\n"
             "[logger.jsonl]\ntype = jsonl\n[logger.console]\ntype = console\n",
             loss, units);
    write_file(name, text);
}

/* the number after `key` in text, which must hold it */
static double figure_after(const char *text, const char *key)
{
    const char *at = strstr(text, key);
    cr_assert_not_null(at, "no '%s' in: %s", key, text);
    return strtod(at + strlen(key), NULL);
}

Test(regression, a_one_unit_dense_layer_learns_a_linear_target_with_mse)
{
    write_model("m.ini", "mse", 1);
    cr_assert_eq(nntrain("train m.ini --threads 1"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    double test_loss = figure_after(out, "test: loss ");
    cr_assert_null(strstr(out, "accuracy"), "regression has no accuracy: %s", out);
    double loss[400];
    int n = jsonl_records("runs/m/metrics.jsonl", "step", "loss", loss, 400);
    cr_assert_eq(n, 250, "10 epochs x 25 steps, got %d", n);
    /* the target is linear: one dense unit fits it, the MSE falls from about 4.6 to ~0 */
    cr_assert_gt(loss[0], 1.0, "initial loss %g", loss[0]);
    cr_assert_lt(loss[n - 1], 1e-3 * loss[0], "loss %g -> %g", loss[0], loss[n - 1]);
    cr_assert_lt(test_loss, 1e-3, "%s", out);
    free(out);
}

Test(regression, l1_and_huber_train_too_and_a_wrong_output_width_is_named)
{
    const char *losses[] = {"l1", "huber"};
    for (int i = 0; i < 2; i++) {
        write_model("m.ini", losses[i], 1);
        cr_assert_eq(nntrain("train m.ini --threads 1 --overwrite"), 0, "%s: %s", losses[i],
                     slurp("out.txt"));
        double loss[400];
        int n = jsonl_records("runs/m/metrics.jsonl", "step", "loss", loss, 400);
        cr_assert_lt(loss[n - 1], 0.1 * loss[0], "%s: loss %g -> %g", losses[i], loss[0],
                     loss[n - 1]);
    }
    /* two outputs for one target stay a precise shape error */
    write_model("w.ini", "mse", 2);
    cr_assert_eq(nntrain("train w.ini --threads 1"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "[loss]") && strstr(out, "[16, 2]") && strstr(out, "[16, 1]"), "%s",
              out);
    free(out);
}

Test(regression, eval_predict_and_cv_report_losses_and_targets_without_accuracy)
{
    write_model("m.ini", "mse", 1);
    cr_assert_eq(nntrain("train m.ini --threads 1 --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("eval m.ini --checkpoint runs/m/last.safetensors"), 0, "%s",
                 slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "test split: 100 samples"), "%s", out);
    cr_assert_lt(figure_after(out, "loss"), 1e-3, "%s", out);
    cr_assert_null(strstr(out, "accuracy"), "%s", out);
    cr_assert_null(strstr(out, "confusion"), "%s", out);
    free(out);

    cr_assert_eq(nntrain("predict m.ini --checkpoint runs/m/last.safetensors --output p.csv"), 0,
                 "%s", slurp("out.txt"));
    char *csv = slurp("p.csv"), *save = NULL, *l = strtok_r(csv, "\n", &save);
    cr_assert_str_eq(l, "index,target_0,output_0", "a target column beside the output");
    int rows = 0;
    while ((l = strtok_r(NULL, "\n", &save))) {
        int idx;
        double t, o;
        cr_assert_eq(sscanf(l, "%d,%lf,%lf", &idx, &t, &o), 3, "%s", l);
        cr_assert_eq(idx, rows++, "%s", l);
        cr_assert_float_eq(o, t, 0.1, "the prediction is near its target: %s", l);
    }
    cr_assert_eq(rows, 100);
    free(csv);

    cr_assert_eq(nntrain("cv m.ini --folds 3 --threads 1 --set train.epochs=2"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "fold     val_loss\n") && strstr(out, "3 folds: val_loss "), "%s",
              out);
    cr_assert_null(strstr(out, "accuracy"), "%s", out);
    cr_assert_null(strstr(out, "nan"), "%s", out);
    free(out);
}
