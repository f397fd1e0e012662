/* test_resume_checks.c: what `train --resume` accepts from a checkpoint's __metadata__, through
 * the real binary: entries that are malformed, contradict each other or contradict the model
 * file are refused with a message naming the file, the entry, its value and what was expected
 * (quoted from the checkpoint's text while it is still held). */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("resume_checks");
    write_csv("train.csv", 240, 1);
    write_file("m.ini", "[train]\nepochs = 2\nbatch_size = 32\nseed = 5\n"
                        "[data]\ntype = csv\npath = train.csv\nval_split = 0.25\n"
                        "[loss]\ntype = cross_entropy\n"
                        "[optimizer]\ntype = sgd\nlr = 0.1\n"
                        "[layer.fc1]\ntype = dense\nunits = 8\nactivation = relu\n"
                        "[layer.fc2]\ntype = dense\nunits = 3\n"
                        "[logger.csv]\ntype = csv\n");
    cr_assert_eq(nntrain("train m.ini --no-test --quiet"), 0, "%s", slurp("out.txt"));
}

TestSuite(resume_checks, .init = setup, .fini = cli_teardown, .timeout = 240);

/* dst = runs/m/last.safetensors with __metadata__ key set to value (or added; removed when
 * value is NULL) */
static void with_meta(const char *dst, const char *key, const char *value)
{
    static const char *keys[] = {
        "format", "nntrain_version", "epoch", "step_in_epoch", "global_step", "seed", "monitor",
        "best_metric", "best_epoch", "bad_epochs", "best_figures", "epoch_loss_sum",
        "epoch_samples", "epoch_correct", "epoch_topk_correct", "elapsed_s", "last_lr", "hints",
        "input_shape", "optimizer_state", "data_state", "model_config"};
    enum { NK = sizeof keys / sizeof *keys };
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("runs/m/last.safetensors"), &c, &err), NN_OK, "%s",
                 err.msg);
    int n = nn_checkpoint_count(c);
    nn_ckpt_entry *e = calloc((size_t)n + 1, sizeof *e);
    nn_tensor **copies = calloc((size_t)n + 1, sizeof *copies);
    for (int i = 0; i < n; i++) {
        const nn_tensor *v = nn_checkpoint_tensor(c, nn_checkpoint_name(c, i));
        copies[i] = nn_tensor_new((nn_dtype)nn_tensor_dtype(v), v->dl.ndim, v->shape);
        memcpy(copies[i]->dl.data, v->dl.data, nn_tensor_nbytes(v));
        e[i].name = nn_checkpoint_name(c, i);
        e[i].t = copies[i];
    }
    nn_ckpt_meta meta[NK];
    int nm = 0;
    for (int i = 0; i < NK; i++) {
        if (!value && strcmp(key, keys[i]) == 0)
            continue;
        meta[nm].key = keys[i];
        meta[nm].value = strcmp(key, keys[i]) == 0 ? value : nn_checkpoint_meta(c, keys[i]);
        cr_assert_not_null(meta[nm].value, "the checkpoint has no '%s'", keys[i]);
        nm++;
    }
    cr_assert_eq(nn_checkpoint_write(path_in(dst), e, n, meta, nm, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < n; i++)
        nn_tensor_free(copies[i]);
    free(copies);
    free(e);
    nn_checkpoint_free(c);
}

/* resumes from a checkpoint with key = value into a fresh run directory; returns the output
 * after asserting exit status 1 and that it names the file */
static char *refused(const char *key, const char *value)
{
    with_meta("bad.safetensors", key, value);
    int rc = nntrain("train m.ini --no-test --quiet --resume bad.safetensors --run-dir r "
                     "--set train.epochs=3");
    char *out = slurp("out.txt");
    cr_assert_eq(rc, 1, "%s = '%s' was accepted (exit %d): %s", key, value ? value : "(none)",
                 rc, out);
    cr_assert(strstr(out, "bad.safetensors"), "the file is not named: %s", out);
    return out;
}

/* the optimizer's and the data's state are part of every training checkpoint: without one
 * the resume would restart the schedule or the data order without a word */
Test(resume_checks, a_checkpoint_without_optimizer_or_data_state_is_refused)
{
    static const char *const keys[] = {"optimizer_state", "data_state"};
    for (int i = 0; i < 2; i++) {
        char *out = refused(keys[i], NULL);
        char want[128];
        snprintf(want, sizeof want, "__metadata__ entry '%s' is missing", keys[i]);
        cr_assert(strstr(out, want) && strstr(out, "--init-from bad.safetensors"), "%s", out);
        free(out);
    }
}

Test(resume_checks, messages_quote_the_checkpoints_text_intact)
{
    char *out = refused("format", "nntrain.checkpoint.999");
    cr_assert(strstr(out, "(format 'nntrain.checkpoint.999', expected 'nntrain.checkpoint.1')"),
              "%s", out);
    free(out);
    out = refused("best_figures", "1 2");
    cr_assert(strstr(out, "'best_figures' = '1 2' is malformed: expected four numbers"), "%s",
              out);
    free(out);
}

/* a checkpoint of another run resumed into the model file's run directory, which holds a run
 * of its own, would replace that run's checkpoints and model.ini and splice its metrics.csv */
Test(resume_checks, a_checkpoint_from_elsewhere_does_not_take_over_an_occupied_run_directory)
{
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --run-dir other --set train.seed=5 "
                         "--set train.epochs=1"), 0, "%s", slurp("out.txt"));
    char *last = slurp("runs/m/last.safetensors"), *csv = slurp("runs/m/metrics.csv"),
         *ini = slurp("runs/m/model.ini");
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume other/last.safetensors "
                         "--set train.epochs=3"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "cannot resume from other/last.safetensors into run directory runs/m: "
                          "it already holds another run (runs/m/last.safetensors)") &&
              strstr(out, "--run-dir other"), "%s", out);
    free(out);
    char *last2 = slurp("runs/m/last.safetensors"), *csv2 = slurp("runs/m/metrics.csv"),
         *ini2 = slurp("runs/m/model.ini");
    cr_assert(strcmp(csv, csv2) == 0 && strcmp(ini, ini2) == 0, "the run's files changed");
    struct stat st;
    cr_assert_eq(stat(path_in("runs/m/last.safetensors"), &st), 0);
    cr_assert_eq(memcmp(last, last2, (size_t)st.st_size), 0, "last.safetensors changed");
    /* the ways the message offers work: the checkpoint's own directory, or a new one */
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume other/last.safetensors "
                         "--run-dir other --set train.epochs=2"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume other/last.safetensors "
                         "--run-dir fresh --set train.epochs=3"), 0, "%s", slurp("out.txt"));
    /* and a run's own checkpoints still resume into it, whichever way they are named */
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume ./runs/m//last.safetensors "
                         "--set train.epochs=3"), 0, "%s", slurp("out.txt"));
    free(last);
    free(csv);
    free(ini);
    free(last2);
    free(csv2);
    free(ini2);
}

/* the fixture's last.safetensors: epoch 2 of 2, step 0, global_step 12 (180 training rows in
 * 6 batches of 32), best val_loss at epoch 1 or 2; each entry below contradicts the others,
 * the model file, or what a number of its kind can be */
static void refused_with(const char *key, const char *value, const char *expected)
{
    char *out = refused(key, value);
    char head[200];
    snprintf(head, sizeof head, "__metadata__ entry '%s' = '%s' ", key, value);
    cr_assert(strstr(out, head), "the entry and its value are not named: %s", out);
    cr_assert(strstr(out, expected), "'%s' is not said: %s", expected, out);
    free(out);
}

Test(resume_checks, counters_that_contradict_each_other_are_refused)
{
    refused_with("epoch", "50", "is beyond this run's [train] epochs = 3");
    refused_with("best_epoch", "99", "is after 'epoch' = 2: expected a best epoch in [0, 2]");
    refused_with("global_step", "99999", "does not follow from 'epoch' = 2 and "
                 "'step_in_epoch' = 0");
    refused_with("global_step", "1", "make between 2 and 360 optimizer steps");
    refused_with("step_in_epoch", "100000", "which has 6 batches (batch_size 32): expected at "
                 "most 6");
    char *out = refused("step_in_epoch", "5"); /* 5 batches with no rows */
    cr_assert(strstr(out, "'epoch_samples' = '0' does not follow from 'step_in_epoch' = 5 "
                          "batches of batch_size 32: expected between 5 and 160"), "%s", out);
    free(out);
    refused_with("epoch_samples", "5", "expected between 0 and 0");
    refused_with("epoch_correct", "5", "is more than 'epoch_samples' = 0");
    refused_with("epoch_topk_correct", "5", "is more than 'epoch_samples' = 0");
    refused_with("bad_epochs", "3", "expected at most");
    refused_with("hints", "0 7 0x1p+0 0 0x1p+0 0x1p+0 0", "expected two flags (0 or 1)");
}

Test(resume_checks, numbers_that_no_run_writes_are_refused)
{
    refused_with("last_lr", "nan", "expected a finite number, 0 or more");
    refused_with("last_lr", "-0x1p-3", "expected a finite number, 0 or more");
    refused_with("elapsed_s", "inf", "expected a finite number of seconds, 0 or more");
    refused_with("elapsed_s", "-1", "expected a finite number of seconds, 0 or more");
    refused_with("epoch_loss_sum", "inf", "expected a finite number, 0 for none");
    refused_with("best_metric", "nan", "says it was measured: expected a finite value");
    char *out = refused("best_figures", "1 inf 2 3");
    cr_assert(strstr(out, "'best_figures' = '1 inf 2 3' is malformed"), "%s", out);
    free(out);
}

/* best_metric, best_epoch and best.safetensors are of the checkpoint's monitor: another one
 * would compare other numbers with them and replace best.safetensors */
Test(resume_checks, a_changed_monitor_is_refused_while_a_best_epoch_is_recorded)
{
    refused_with("monitor", "accuracy", "but this run's [train] monitor = 'val_loss'");
    char *best = slurp("runs/m/best.safetensors");
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume auto --set train.epochs=3 "
                         "--set train.monitor=val_accuracy"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "runs/m/last.safetensors: __metadata__ entry 'monitor' = 'val_loss' "
                          "but this run's [train] monitor = 'val_accuracy'") &&
              strstr(out, "--set train.monitor=val_loss"), "%s", out);
    struct stat st;
    cr_assert_eq(stat(path_in("runs/m/best.safetensors"), &st), 0);
    char *best2 = slurp("runs/m/best.safetensors");
    cr_assert_eq(memcmp(best, best2, (size_t)st.st_size), 0, "best.safetensors changed");
    free(out);
    free(best);
    free(best2);
}

/* a finished run resumed with the same epochs trains nothing and says so; with fewer it is
 * refused (the file is past the end); with more it trains on */
Test(resume_checks, a_finished_run_says_it_is_complete_and_trains_longer_only_when_asked)
{
    char *csv = slurp("runs/m/metrics.csv");
    cr_assert_eq(nntrain("train m.ini --no-test --resume auto"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "runs/m/last.safetensors: the run is already complete (epoch 2 of "
                          "[train] epochs = 2): nothing to train"), "%s", out);
    char *csv2 = slurp("runs/m/metrics.csv");
    cr_assert_str_eq(csv, csv2, "the completed run's metrics changed");
    free(out);
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume auto --set train.epochs=1"), 1,
                 "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "runs/m/last.safetensors: __metadata__ entry 'epoch' = '2' is beyond "
                          "this run's [train] epochs = 1") &&
              strstr(out, "--set train.epochs=N"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --resume auto --set train.epochs=3"), 0,
                 "%s", slurp("out.txt"));
    free(csv);
    free(csv2);
}
