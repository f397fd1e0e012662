/* test_trainer.c: the user's verbs end to end through the real nntrain binary on a small CSV
 * problem the test writes: exact resume (after a clean stop and after SIGINT mid-epoch),
 * SIGKILL at random moments, early stopping, non-finite diagnosis, eval, predict and cv. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("trainer");
    write_csv("train.csv", 240, 1);
    write_csv("test.csv", 60, 2);
}

TestSuite(trainer, .init = setup, .fini = cli_teardown, .timeout = 240);

static const char *model_fmt =
    "[train]\nepochs = %d\nbatch_size = 32\nseed = 5\n%s\n"
    "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nval_split = 0.2\n"
    "[loss]\ntype = cross_entropy\n"
    "[optimizer]\ntype = adam\nlr = 0.01\n"
    "[scheduler]\ntype = step\nstep_size = 1\ngamma = 0.9\n"
    "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[layer.drop]\ntype = dropout\np = 0.2\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n"
    "[logger.jsonl]\ntype = jsonl\n"
    "[logger.console]\ntype = console\n";

static void write_model(const char *name, int epochs, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, model_fmt, epochs, extra);
    write_file(name, text);
}


/* every tensor of two checkpoints is byte-identical */
static void same_tensors(const char *a, const char *b)
{
    char pa[512], pb[512];
    nn_error err = {0};
    nn_checkpoint *ca, *cb;
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    cr_assert_eq(nn_checkpoint_read(pa, &ca, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_checkpoint_read(pb, &cb, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_checkpoint_count(ca), nn_checkpoint_count(cb));
    for (int i = 0; i < nn_checkpoint_count(ca); i++) {
        const char *name = nn_checkpoint_name(ca, i);
        const nn_tensor *x = nn_checkpoint_tensor(ca, name), *y = nn_checkpoint_tensor(cb, name);
        cr_assert_not_null(y, "%s lacks %s", b, name);
        cr_assert_eq(nn_tensor_nbytes(x), nn_tensor_nbytes(y));
        cr_assert_eq(memcmp(x->dl.data, y->dl.data, nn_tensor_nbytes(x)), 0,
                     "tensor %s differs between %s and %s", name, a, b);
    }
    cr_assert_str_eq(nn_checkpoint_meta(ca, "global_step"), nn_checkpoint_meta(cb, "global_step"));
    nn_checkpoint_free(ca);
    nn_checkpoint_free(cb);
}

Test(trainer, learns_and_reports_test_accuracy)
{
    write_model("m.ini", 8, "");
    cr_assert_eq(nntrain("train m.ini"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "test: loss"), "%s", out);
    char *acc = strstr(out, "test: loss");
    double loss = 0, accuracy = 0;
    cr_assert_eq(sscanf(acc, "test: loss %lf accuracy %lf%%", &loss, &accuracy), 2, "%s", acc);
    cr_assert_gt(accuracy, 60.0, "test accuracy %.1f%% on a linear 3-class rule", accuracy);
    char losses[64][40];
    int n = step_loss_texts("runs/m/metrics.jsonl", losses, 64);
    cr_assert_eq(n, 48, "8 epochs x 6 steps, got %d", n);
    cr_assert_lt(atof(losses[n - 1]), 0.6 * atof(losses[0]), "loss %s -> %s", losses[0],
                 losses[n - 1]);
    struct stat st;
    char p[512];
    snprintf(p, sizeof p, "%s/runs/m/model.ini", dir);
    cr_assert_eq(stat(p, &st), 0, "the run directory keeps a copy of the model file");
    free(out);
}

Test(trainer, stop_and_resume_reproduces_the_uninterrupted_losses_bit_for_bit)
{
    write_model("full.ini", 4, "");
    cr_assert_eq(nntrain("train full.ini --no-test"), 0, "%s", slurp("out.txt"));
    write_model("half.ini", 2, "");
    cr_assert_eq(nntrain("train half.ini --no-test"), 0, "%s", slurp("out.txt"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mv %s/runs/half/metrics.jsonl %s/first.jsonl", dir, dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(nntrain("train half.ini --no-test --set train.epochs=4 --resume "
                         "runs/half/last.safetensors"), 0, "%s", slurp("out.txt"));
    char full[64][40], a[64][40], b[64][40];
    int nf = step_loss_texts("runs/full/metrics.jsonl", full, 64);
    int na = step_loss_texts("first.jsonl", a, 64);
    int nb = step_loss_texts("runs/half/metrics.jsonl", b, 64);
    cr_assert_eq(nf, 24);
    cr_assert_eq(na + nb, nf, "%d + %d steps", na, nb);
    for (int i = 0; i < nf; i++)
        cr_assert_str_eq(full[i], i < na ? a[i] : b[i - na], "step %d", i);
    same_tensors("runs/full/last.safetensors", "runs/half/last.safetensors");
}

/* [train] lines `extra`: SIGINT mid-epoch, resume, and the same steps and weights as a run
 * that never stopped */
static void sigint_resume_matches(const char *extra)
{
    /* a run far too long to finish: SIGINT once it is under way (its first epoch-end
     * checkpoint exists), plus a random delay so that the stop lands mid-epoch */
    write_model("long.ini", 100000, extra);
    char cmd[1024];
    srand((unsigned)time(NULL));
    int ms = 20 + rand() % 200;
    snprintf(cmd, sizeof cmd, "cd %s && (%s train long.ini --no-test > sig.txt 2>&1 & pid=$!; "
             "while [ ! -f runs/long/last.safetensors ]; do sleep 0.05; done; sleep 0.%03d; "
             "kill -INT $pid; wait $pid; echo $? > rc.txt)", dir, exe, ms);
    cr_assert_eq(system(cmd), 0);
    char *rc = slurp("rc.txt"), *out = slurp("sig.txt");
    cr_assert_eq(atoi(rc), 130, "exit %s: %s", rc, out);
    cr_assert(strstr(out, "SIGINT received"), "%s", out);
    cr_assert(strstr(out, "--resume ") && strstr(out, "runs/long/last.safetensors"), "%s", out);
    free(rc);
    free(out);
    /* finish two epochs after the one it stopped in, then train a reference that never stopped */
    char p[512];
    nn_checkpoint *c;
    nn_error err = {0};
    snprintf(p, sizeof p, "%s/runs/long/last.safetensors", dir);
    cr_assert_eq(nn_checkpoint_read(p, &c, &err), NN_OK, "%s", err.msg);
    long long epochs = atoll(nn_checkpoint_meta(c, "epoch")) + 2;
    nn_checkpoint_free(c);
    snprintf(cmd, sizeof cmd, "mv %s/runs/long/metrics.jsonl %s/first.jsonl", dir, dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(nntrain("train long.ini --no-test --resume auto --set train.epochs=%lld", epochs),
                 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train long.ini --no-test --run-dir runs/ref --set train.epochs=%lld",
                         epochs), 0, "%s", slurp("out.txt"));
    same_tensors("runs/ref/last.safetensors", "runs/long/last.safetensors");
    static char ref[4000][40], a[4000][40], b[4000][40];
    int nr = step_loss_texts("runs/ref/metrics.jsonl", ref, 4000);
    int na = step_loss_texts("first.jsonl", a, 4000);
    int nb = step_loss_texts("runs/long/metrics.jsonl", b, 4000);
    cr_assert_eq(na + nb, nr, "%d + %d steps vs %d", na, nb, nr);
    for (int i = 0; i < nr; i++)
        cr_assert_str_eq(ref[i], i < na ? a[i] : b[i - na], "step %d", i);
}

Test(trainer, sigint_mid_epoch_checkpoints_and_resume_matches)
{
    sigint_resume_matches("");
}

/* with accumulated micro-batches, a stop between two of them resumes inside the step */
Test(trainer, sigint_with_accumulated_micro_batches_resumes_exactly)
{
    sigint_resume_matches("accumulate = 3");
}

Test(trainer, sigkill_at_random_moments_leaves_a_checkpoint_that_resumes)
{
    write_model("k.ini", 100000, "checkpoint_minutes = 0.0005\n");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int resumed = 0;
    for (int round = 0; round < 20; round++) {
        char cmd[1024];
        int ms = 60 + rand() % 400;
        snprintf(cmd, sizeof cmd, "cd %s && (%s train k.ini --no-test --resume auto > kill.txt "
                 "2>&1 & pid=$!; sleep %d.%03d; kill -KILL $pid; wait $pid; true)", dir, exe,
                 ms / 1000, ms % 1000);
        cr_assert_eq(system(cmd), 0);
        char p[512];
        snprintf(p, sizeof p, "%s/runs/k/last.safetensors", dir);
        struct stat st;
        if (stat(p, &st) != 0)
            continue; /* killed before the first checkpoint: nothing to check yet */
        nn_checkpoint *c;
        nn_error err = {0};
        cr_assert_eq(nn_checkpoint_read(p, &c, &err), NN_OK, "round %d: %s", round, err.msg);
        int64_t epoch = atoll(nn_checkpoint_meta(c, "epoch"));
        nn_checkpoint_free(c);
        if (round % 5 == 4) { /* a resume to a near end must complete */
            cr_assert_eq(nntrain("train k.ini --no-test --resume auto --set train.epochs=%lld",
                                 (long long)epoch + 1), 0, "round %d: %s", round,
                         slurp("out.txt"));
            resumed++;
        }
    }
    cr_assert_gt(resumed, 0, "no checkpoint was ever written");
}

Test(trainer, early_stopping_stops_after_patience)
{
    write_model("es.ini", 50, "early_stopping = true\npatience = 2\nmin_delta = 0.5\n");
    cr_assert_eq(nntrain("train es.ini --no-test"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "early stopping"), "%s", out);
    cr_assert(strstr(out, "trained 3 epochs"), "min_delta 0.5 never improves after epoch 1: %s",
              out);
    free(out);
}

/* the "test:" line of out.txt, a fresh copy */
static char *test_line(void)
{
    char *out = slurp("out.txt"), *t = strstr(out, "test: loss");
    cr_assert_not_null(t, "no test line: %s", out);
    char *line = strndup(t, strcspn(t, "\n"));
    free(out);
    return line;
}

/* restore_best after a resume puts back the best epoch's weights (best.safetensors), never an
 * empty buffer; a run that had stopped early stays stopped when resumed again; so the test
 * figures equal the uninterrupted run's either way */
Test(trainer, resumed_runs_restore_the_best_weights_and_stay_stopped_early)
{
    const char *es = "early_stopping = true\npatience = 2\nmin_delta = 0.5\nrestore_best = true\n";
    write_model("whole.ini", 50, es);
    cr_assert_eq(nntrain("train whole.ini"), 0, "%s", slurp("out.txt"));
    char *want = test_line(), *out = slurp("out.txt");
    cr_assert(strstr(out, "trained 3 epochs") && strstr(out, "best weights are restored"), "%s",
              out);
    free(out);
    /* the test record is of the restored weights: epoch 1's, 6 steps of 32 (not epoch 3's) */
    double ep[8], gs[8];
    cr_assert_eq(jsonl_records("runs/whole/metrics.jsonl", "eval", "epoch", ep, 8), 1);
    jsonl_records("runs/whole/metrics.jsonl", "eval", "global_step", gs, 8);
    cr_assert(ep[0] == 1 && gs[0] == 6, "eval record at epoch %g, step %g", ep[0], gs[0]);

    write_model("rb.ini", 1, es); /* the same model, stopped after epoch 1 and resumed */
    cr_assert_eq(nntrain("train rb.ini"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train rb.ini --resume auto --set train.epochs=50"), 0, "%s",
                 slurp("out.txt"));
    char *got = test_line();
    cr_assert_str_eq(got, want, "restored weights other than the best epoch's");
    free(got);

    /* resumed once more: the stopping rule was met at epoch 3, nothing trains */
    cr_assert_eq(nntrain("train rb.ini --resume auto --set train.epochs=50"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "early stopping at epoch 3, before this resume") &&
              strstr(out, "nothing to train") && strstr(out, "trained 3 epochs"), "%s", out);
    cr_assert(strstr(out, "best val_loss") && strstr(out, "at epoch 1 (runs/rb/best"), "%s", out);
    free(out);
    got = test_line();
    cr_assert_str_eq(got, want, "a resumed early-stopped run trained on or lost its best weights");
    free(got);
    int n = jsonl_records("runs/rb/metrics.jsonl", "eval", "epoch", ep, 8);
    jsonl_records("runs/rb/metrics.jsonl", "eval", "global_step", gs, 8);
    cr_assert(n > 0 && ep[n - 1] == 1 && gs[n - 1] == 6, "eval record at epoch %g, step %g",
              ep[n - 1], gs[n - 1]);

    /* without best.safetensors there is nothing to restore: refused by name, nothing lost */
    char *last = slurp("runs/rb/last.safetensors");
    cr_assert_eq(rename(path_in("runs/rb/best.safetensors"), path_in("best.keep")), 0);
    cr_assert_neq(nntrain("train rb.ini --resume auto --set train.epochs=50"), 0);
    out = slurp("out.txt");
    cr_assert(strstr(out, "restore_best = true needs the weights of the best epoch (1)") &&
              strstr(out, "runs/rb/best.safetensors") &&
              strstr(out, "--set train.restore_best=false"), "%s", out);
    free(out);
    char *after = slurp("runs/rb/last.safetensors");
    cr_assert_eq(memcmp(last, after, 64), 0, "the refusal rewrote last.safetensors");
    free(last);
    free(after);
    cr_assert_eq(nntrain("train rb.ini --resume auto --set train.epochs=50 "
                         "--set train.restore_best=false"), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "(no best.safetensors in runs/rb)"), "%s", out);
    free(out);
    free(want);
}

/* a best.safetensors newer than the checkpoint resumed from (checkpoint_every > 1, or a stop
 * between the two writes) is not taken for the older best: the replayed epochs write it again */
Test(trainer, a_best_checkpoint_newer_than_the_resumed_one_is_replayed)
{
    const char *es = "early_stopping = true\npatience = 2\nmin_delta = 0.02\nrestore_best = true\n";
    write_model("whole.ini", 60, es);
    cr_assert_eq(nntrain("train whole.ini"), 0, "%s", slurp("out.txt"));
    char *want = test_line(), *out = slurp("out.txt");
    cr_assert(strstr(out, "early stopping"), "the run must stop early for this test: %s", out);
    free(out);

    write_model("nb.ini", 1, es);
    cr_assert_eq(nntrain("train nb.ini"), 0, "%s", slurp("out.txt"));
    char *epoch1 = slurp("runs/nb/last.safetensors");
    struct stat st;
    cr_assert_eq(stat(path_in("runs/nb/last.safetensors"), &st), 0);
    cr_assert_eq(nntrain("train nb.ini --resume auto --set train.epochs=4 "
                         "--set train.patience=100"), 0, "%s", slurp("out.txt"));
    /* back to epoch 1, as after a kill with checkpoint_every = 4 */
    FILE *f = fopen(path_in("runs/nb/last.safetensors"), "wb");
    cr_assert(f && fwrite(epoch1, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    fclose(f);
    free(epoch1);
    cr_assert_eq(nntrain("train nb.ini --resume auto --set train.epochs=60"), 0, "%s",
                 slurp("out.txt"));
    char *got = test_line();
    cr_assert_str_eq(got, want);
    free(got);
    free(want);
}

/* with restore_best a fold ends with its best epoch's model: the table has that epoch's
 * validation figures, not the last epoch's */
Test(trainer, cv_reports_the_restored_best_epochs_figures)
{
    write_model("cvb.ini", 40, "early_stopping = true\npatience = 2\nrestore_best = true\n");
    cr_assert_eq(nntrain("cv cvb.ini --folds 2 --set scheduler.gamma=1 --set optimizer.lr=0.1"),
                 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    char *fold2 = strstr(out, "fold 2/2"), *table = strstr(out, "\nfold ");
    cr_assert(fold2 && table && strstr(out, "the best weights are restored"), "%s", out);
    double best = INFINITY, last = NAN, v;
    for (char *p = out; (p = strstr(p, "| val_loss ")) && p < fold2; p++)
        if (sscanf(p, "| val_loss %lf", &v) == 1) {
            best = fmin(best, v);
            last = v;
        }
    cr_assert(isfinite(best) && last > best, "fold 1 must end past its best epoch: %s", out);
    double row = NAN;
    cr_assert_eq(sscanf(strstr(table + 1, "\n1 "), "\n1 %lf", &row), 1, "%s", table);
    cr_assert_float_eq(row, best, 1e-9, "fold 1 reports val_loss %.4f; its best epoch had "
                       "%.4f, its last %.4f", row, best, last);
    free(out);
}

Test(trainer, divergence_is_diagnosed_and_the_last_checkpoint_is_kept)
{
    write_model("nan.ini", 1, "");
    cr_assert_eq(nntrain("train nan.ini --no-test"), 0, "%s", slurp("out.txt"));
    char *before = slurp("runs/nan/last.safetensors");
    struct stat st;
    char p[512];
    snprintf(p, sizeof p, "%s/runs/nan/last.safetensors", dir);
    stat(p, &st);
    /* checkpoint_every = 0: no epoch-end checkpoint of the exploding (still finite) weights
     * can come before the failure; what is checked is that the failure itself writes none */
    int rc = nntrain("train nan.ini --no-test --resume auto --set train.epochs=20 "
                     "--set optimizer.lr=1e30 --set scheduler.gamma=1 "
                     "--set train.checkpoint_every=0");
    char *out = slurp("out.txt");
    cr_assert_eq(rc, 4, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "non-finite"), "%s", out);
    cr_assert(strstr(out, "learning rate") && strstr(out, "clip_norm"), "%s", out);
    cr_assert(strstr(out, "layer '") || strstr(out, "loss '"), "names the culprit: %s", out);
    cr_assert(strstr(out, "the last checkpoint, runs/nan/last.safetensors, was left "
                          "untouched"), "%s", out);
    char *after = slurp("runs/nan/last.safetensors");
    cr_assert_eq(memcmp(before, after, (size_t)st.st_size), 0, "the checkpoint was rewritten");
    free(before);
    free(after);
    free(out);
    /* diverging in the first epoch of a fresh run: there is no checkpoint to speak of */
    rc = nntrain("train nan.ini --no-test --run-dir fresh --set optimizer.lr=1e30");
    out = slurp("out.txt");
    cr_assert_eq(rc, 4, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "no checkpoint was written yet") && !strstr(out, "left untouched") &&
                  !exists("fresh/last.safetensors"), "%s", out);
    free(out);
}

Test(trainer, eval_predict_and_cv_work_from_a_run)
{
    write_model("e.ini", 6, "");
    cr_assert_eq(nntrain("train e.ini --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("eval e.ini --checkpoint runs/e/last.safetensors"), 0, "%s",
                 slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "test split: 60 samples"), "%s", out);
    cr_assert(strstr(out, "accuracy") && strstr(out, "confusion matrix"), "%s", out);
    cr_assert(strstr(out, "c0") && strstr(out, "c2"), "class names shown: %s", out);
    free(out);
    /* one test sample: the classes without one have no accuracy (it printed 0.00%) */
    cr_assert_eq(nntrain("eval e.ini --checkpoint runs/e/last.safetensors "
                         "--set data.test_limit=1"), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "-   (no sample)") && strstr(out, "(1 sample)") &&
              !strstr(out, "(0 samples)"), "%s", out);
    free(out);

    cr_assert_eq(nntrain("predict e.ini --checkpoint runs/e/last.safetensors --output p.csv"), 0,
                 "%s", slurp("out.txt"));
    char *csv = slurp("p.csv");
    int lines = 0;
    for (char *l = strtok(csv, "\n"); l; l = strtok(NULL, "\n"), lines++) {
        if (lines == 0) {
            cr_assert_str_eq(l, "index,label,predicted,probability,p_c0,p_c1,p_c2");
            continue;
        }
        int idx;
        char label[8], pred[8];
        double pp, p0, p1, p2;
        cr_assert_eq(sscanf(l, "%d,%7[^,],%7[^,],%lf,%lf,%lf,%lf", &idx, label, pred, &pp, &p0,
                            &p1, &p2), 7, "%s", l);
        cr_assert_float_eq(p0 + p1 + p2, 1.0, 1e-4, "%s", l);
        cr_assert_geq(pp, fmax(p0, fmax(p1, p2)) - 1e-6, "%s", l);
    }
    cr_assert_eq(lines, 61);
    free(csv);

    cr_assert_eq(nntrain("cv e.ini --folds 3 --set train.epochs=2"), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "fold 3/3: training on 160 samples, validating on 80"), "%s", out);
    cr_assert(strstr(out, "3 folds: val_accuracy"), "%s", out);
    cr_assert(strstr(out, "mean") && strstr(out, "std"), "%s", out);
    free(out);
    /* a second cv into the same folds is refused with what cv takes */
    cr_assert_eq(nntrain("cv e.ini --folds 3 --set train.epochs=2"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "fold-1/last.safetensors); continue the cross-validation with cv "
                          "--resume") && strstr(out, "--overwrite"), "%s", out);
    cr_assert_null(strstr(out, "training on"), "%s", out);
    free(out);
}

/* cv's table, from its header to the summary line */
static char *cv_table(void)
{
    char *out = slurp("out.txt"), *a = strstr(out, "fold     val_loss"), *b;
    cr_assert(a && (b = strstr(a, "(sample std)")), "%s", out);
    b[0] = 0;
    char *t = strdup(a);
    free(out);
    return t;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

Test(trainer, cv_resume_keeps_completed_folds_and_continues_the_others_exactly)
{
    write_model("c.ini", 6, "");
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir a"), 0, "%s",
                 slurp("out.txt"));
    char *whole = cv_table();
    /* folds that ended after one epoch: their records are of another model file, so --resume
     * continues both from their checkpoints, as train --resume would */
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=1 --run-dir b"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir b --resume"), 0,
                 "%s", slurp("out.txt"));
    char *out = slurp("out.txt"), *t = cv_table();
    cr_assert_eq(count(out, "training on"), 2, "%s", out);
    cr_assert_str_eq(t, whole, "resumed:\n%s\nuninterrupted:\n%s", t, whole);
    free(out);
    free(t);
    /* now every fold has its record: nothing trains, the same table */
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir b --resume"), 0,
                 "%s", slurp("out.txt"));
    out = slurp("out.txt");
    t = cv_table();
    cr_assert_eq(count(out, "completed before (b/fold-"), 2, "%s", out);
    cr_assert_eq(count(out, "training on"), 0, "%s", out);
    cr_assert_str_eq(t, whole);
    free(out);
    free(t);
    free(whole);
    /* another --folds or --seed than the records': refused, naming the record */
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir b --resume "
                         "--seed 12345"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "b/fold-1/cv_fold.txt: fold 1 of 2 with seed") &&
              strstr(out, "with seed 12345: resume with the --folds and --seed"), "%s", out);
    free(out);
    /* a record that is not one */
    write_file("b/fold-1/cv_fold.txt", "val_loss 0.1\n");
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir b --resume"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "b/fold-1/cv_fold.txt: not a cv fold record"), "%s", out);
    free(out);
    /* a fold that ended with no record of its figures: never a table with made-up figures */
    cr_assert_eq(remove(path_in("b/fold-1/cv_fold.txt")), 0);
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=2 --run-dir b --resume"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "b/fold-1 holds a fold that had ended, with no record of its figures"),
              "%s", out);
    cr_assert_null(strstr(out, "val_loss   val_accuracy"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("cv c.ini --folds 2 --run-dir b --resume --overwrite"), 2);
    /* --overwrite drops every record of the earlier cv, those of folds it never reaches too */
    cr_assert_eq(mkdir(path_in("b/fold-3"), 0755), 0);
    write_file("b/fold-3/cv_fold.txt", "stale\n");
    cr_assert_eq(nntrain("cv c.ini --folds 2 --set train.epochs=1 --run-dir b --overwrite"), 0,
                 "%s", slurp("out.txt"));
    cr_assert_eq(access(path_in("b/fold-3/cv_fold.txt"), F_OK), -1);
    cr_assert_eq(access(path_in("b/fold-2/cv_fold.txt"), F_OK), 0);
}

/* cv's folds are its validation: the model file's val_split was silently left out, and a fold
 * with nothing to resume was reported under "--resume auto", an option cv does not have */
Test(trainer, cv_warns_of_the_unused_val_split_and_names_its_own_resume_option)
{
    write_model("c.ini", 1, "");
    cr_assert_eq(nntrain("cv c.ini --folds 2 --run-dir v --resume"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert_eq(count(out, "c.ini:10: [data] key 'val_split' = '0.2' is not used by cv: each "
                            "fold is validated on the part of the training data it holds out"),
                 1, "%s", out);
    cr_assert(strstr(out, "nntrain: --resume: no v/fold-2/last.safetensors yet; starting from "
                          "scratch"), "%s", out);
    cr_assert_null(strstr(out, "--resume auto"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("cv c.ini --folds 2 --run-dir w --unset data.val_split"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert_null(strstr(out, "not used by cv"), "%s", out);
    free(out);
}

/* a file given where a safetensors file is expected, which is not one, is said to be so (the
 * bytes of "[train]\nep" were read as a header length of 10^18), by every path that reads
 * one; --init-from's messages name --init-from, never "model.ini:0:" */
Test(trainer, a_file_that_is_not_safetensors_is_named_so_and_init_from_names_its_option)
{
    write_model("c.ini", 1, "");
    const char *not_st = "c.ini is not a safetensors file (it begins with \"[train]\\x0aepochs =";
    cr_assert_eq(nntrain("train c.ini --run-dir a --init-from c.ini"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "nntrain: --init-from c.ini: ") && strstr(out, not_st), "%s", out);
    cr_assert_null(strstr(out, "exceeds the"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train c.ini --run-dir b --resume c.ini"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, not_st), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train c.ini --run-dir r -q --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("eval c.ini --checkpoint c.ini"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, not_st), "%s", out);
    free(out);
    /* a model the checkpoint does not fit: the location is the option, the --set, or the line */
    char *text = slurp("c.ini"), *at = strstr(text, "[layer.fc2]");
    cr_assert_not_null(at);
    memcpy(at, "[layer.out]", 11);
    write_file("d.ini", text);
    cr_assert_eq(nntrain("train d.ini --run-dir d1 --init-from r/last.safetensors"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "nntrain: --init-from r/last.safetensors: the file has no tensor for "
                          "out.weight, out.bias"), "%s", out);
    cr_assert_null(strstr(out, ":0:"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train d.ini --run-dir d2 --set train.init_from=r/last.safetensors"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "nntrain: --set train.init_from=r/last.safetensors: the file has no "
                          "tensor for"), "%s", out);
    free(out);
    char e[4200];
    snprintf(e, sizeof e, "[train]\ninit_from = r/last.safetensors\n%s", text + 8);
    write_file("e.ini", e);
    cr_assert_eq(nntrain("train e.ini --run-dir d3"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "nntrain: e.ini:2: [train] init_from = r/last.safetensors: the file "
                          "has no tensor for"), "%s", out);
    free(out);
    free(text);
}

/* the figure after "test: loss " in out.txt */
static double test_loss(void)
{
    char *out = slurp("out.txt"), *at = strstr(out, "test: loss ");
    cr_assert_not_null(at, "%s", out);
    double v = strtod(at + 11, NULL);
    free(out);
    return v;
}

/* dense -> softmax -> nll trained on -p (a loss of -0.11) without a word: refused, naming the
 * layer and log_softmax; dense -> log_softmax -> nll is cross_entropy on the logits */
Test(trainer, nll_after_softmax_is_refused_and_log_softmax_nll_is_cross_entropy)
{
    const char *fmt = "[train]\nepochs = 2\nbatch_size = 32\nseed = 5\n[data]\ntype = csv\n"
                      "path = train.csv\ntest_path = test.csv\n[loss]\ntype = %s\n"
                      "[optimizer]\ntype = sgd\nlr = 0.1\n[layer.fc]\ntype = dense\n"
                      "units = 3\n%s";
    char text[1024];
    snprintf(text, sizeof text, fmt, "nll", "[layer.probs]\ntype = softmax\n");
    write_file("sm.ini", text);
    snprintf(text, sizeof text, fmt, "nll", "[layer.probs]\ntype = log_softmax\n");
    write_file("ls.ini", text);
    snprintf(text, sizeof text, fmt, "cross_entropy", "");
    write_file("ce.ini", text);
    cr_assert_eq(nntrain("train sm.ini --run-dir sm"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "sm.ini:9: [loss]") &&
              strstr(out, "its input is layer 'probs' (softmax), whose outputs are "
                          "probabilities, but nll takes log-probabilities") &&
              strstr(out, "make that layer type = log_softmax"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train ls.ini --run-dir ls"), 0, "%s", slurp("out.txt"));
    double ls = test_loss();
    cr_assert_eq(nntrain("train ce.ini --run-dir ce"), 0, "%s", slurp("out.txt"));
    double ce = test_loss();
    cr_assert_gt(ls, 0.0);
    cr_assert_float_eq(ls, ce, 2e-4, "log_softmax + nll %g, cross_entropy %g", ls, ce);
}

Test(trainer, bad_model_files_name_the_line)
{
    write_file("bad.ini", "[train]\nepochs = 2\nbatch_sise = 3\n[layer.a]\ntype = dense\nunits = 2\n");
    cr_assert_eq(nntrain("train bad.ini"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "bad.ini:3") && strstr(out, "did you mean 'batch_size'"), "%s", out);
    free(out);
    write_model("ok.ini", 1, "");
    cr_assert_eq(nntrain("train ok.ini --set train.epochs=zero"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--set") && strstr(out, "epochs") && strstr(out, "zero"), "%s", out);
    free(out);
    /* fewer outputs than the data's classes: said at set-up, naming both */
    cr_assert_eq(nntrain("train ok.ini --set layer.fc2.units=2"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "the data has 3 classes, but the model's output 'fc2' [32, 2] gives 2 "
                          "values per sample") && strstr(out, "3 outputs"), "%s", out);
    cr_assert_null(strstr(out, "epoch 1/"), "%s", out);
    free(out);
}

Test(trainer, data_limit_and_test_limit_take_a_prefix_of_the_splits)
{
    write_model("lim.ini", 1, "");
    cr_assert_eq(nntrain("train lim.ini --set data.limit=100 --set data.test_limit=10 "
                         "--set data.val_split=0.2"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "(10 samples)"), "%s", out);
    free(out);
    char losses[16][40];
    /* 100 samples, 20 for validation: 80 train in batches of 32 = 3 steps */
    cr_assert_eq(step_loss_texts("runs/lim/metrics.jsonl", losses, 16), 3);
    cr_assert_eq(nntrain("train lim.ini --set data.limit=-1"), 1);
}

Test(trainer, accumulating_micro_batches_equals_one_larger_batch)
{
    write_file("acc.ini", "[train]\nepochs = 2\nbatch_size = 32\nseed = 3\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.1\n"
               "momentum = 0.9\n[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
               "[layer.fc2]\ntype = dense\nunits = 3\n");
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir big"), 0, "%s", slurp("out.txt"));
    /* 240 rows: 7 full groups of 4 x 8 and a short one of 2 x 8, like 7.5 batches of 32 */
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir micro --set train.batch_size=8 "
                         "--set train.accumulate=4"), 0, "%s", slurp("out.txt"));
    /* float sums in another order: 6.5e-6 measured after 16 momentum steps */
    double d = max_rel_diff("big/last.safetensors", "micro/last.safetensors", NULL);
    cr_assert_lt(d, 2e-5, "weights differ by %g relative", d);
    /* one update: the summed gradient itself agrees to 1e-6 */
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir big1 --set data.limit=32 "
                         "--set train.epochs=1"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir micro1 --set data.limit=32 "
                         "--set train.epochs=1 --set train.batch_size=8 --set "
                         "train.accumulate=4"), 0, "%s", slurp("out.txt"));
    d = max_rel_diff("big1/last.safetensors", "micro1/last.safetensors", NULL);
    cr_assert_lt(d, 1e-6, "one update: weights differ by %g relative", d);
    /* a loss that sums its rows: the micro-batches' sums add up (weighing them by rows gave a
     * quarter of the batch's gradient) */
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir bigs --set data.limit=32 "
                         "--set train.epochs=1 --set loss.reduction=sum --set optimizer.lr=0.01"),
                 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train acc.ini --no-test --run-dir micros --set data.limit=32 "
                         "--set train.epochs=1 --set train.batch_size=8 --set "
                         "train.accumulate=4 --set loss.reduction=sum --set optimizer.lr=0.01"),
                 0, "%s", slurp("out.txt"));
    d = max_rel_diff("bigs/last.safetensors", "micros/last.safetensors", NULL);
    cr_assert_lt(d, 1e-6, "one update, reduction = sum: weights differ by %g relative", d);
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("micro/last.safetensors"), &c, &err), NN_OK);
    cr_assert_str_eq(nn_checkpoint_meta(c, "global_step"), "16", "optimizer steps");
    nn_checkpoint_free(c);
}

/* the values at key of the records of kind in RUN/metrics.jsonl of two runs agree */
static void same_records(const char *a, const char *b, const char *kind, const char *key,
                         int want)
{
    double x[64], y[64];
    char pa[300], pb[300];
    snprintf(pa, sizeof pa, "%s/metrics.jsonl", a);
    snprintf(pb, sizeof pb, "%s/metrics.jsonl", b);
    int n = jsonl_records(pa, kind, key, x, 64);
    cr_assert_eq(n, want, "%s: %d %s records", pa, n, kind);
    cr_assert_eq(jsonl_records(pb, kind, key, y, 64), n, "%s: %s records", pb, kind);
    for (int i = 0; i < n; i++)
        cr_assert_leq(fabs(x[i] - y[i]), 1e-5 * fmax(1, fabs(x[i])),
                      "%s record %d: %s %.9g in %s, %.9g in %s", kind, i, key, x[i], a, y[i], b);
}

Test(trainer, an_accumulated_step_is_logged_once_with_the_figures_of_its_whole_batch)
{
    write_file("acl.ini", "[train]\nepochs = 2\nbatch_size = 32\nseed = 3\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nval_split = 0.2\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.01\n"
               "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
               "[layer.fc2]\ntype = dense\nunits = 3\n[logger.jsonl]\ntype = jsonl\n"
               "[logger.console]\ntype = console\n");
    /* a mean and a sum over rows: either way the figures of one batch of 32 rows */
    for (int sum = 0; sum < 2; sum++) {
        const char *red = sum ? "--set loss.reduction=sum" : "";
        cr_assert_eq(nntrain("train acl.ini %s --run-dir big", red), 0, "%s", slurp("out.txt"));
        /* 192 training rows: 6 steps of 32 an epoch, each of 4 micro-batches of 8 */
        cr_assert_eq(nntrain("train acl.ini %s --run-dir micro --set train.batch_size=8 "
                             "--set train.accumulate=4", red), 0, "%s", slurp("out.txt"));
        char *out = slurp("out.txt");
        cr_assert(strstr(out, "2 epochs of 6 steps") && strstr(out, "step 6/6") &&
                      !strstr(out, "step 7/"), "%s", out);
        free(out);
        same_records("big", "micro", "step", "step", 12);
        same_records("big", "micro", "step", "global_step", 12);
        same_records("big", "micro", "step", "loss", 12);
        same_records("big", "micro", "step", "accuracy", 12);
        /* each step's own accuracy (not the epoch's running one): six full steps of 32 rows
         * average to the epoch's */
        double acc[12], ep[2];
        jsonl_records("micro/metrics.jsonl", "step", "accuracy", acc, 12);
        jsonl_records("micro/metrics.jsonl", "epoch", "accuracy", ep, 2);
        for (int e = 0; e < 2; e++) {
            double mean = 0;
            for (int i = 0; i < 6; i++)
                mean += acc[6 * e + i] / 6;
            cr_assert_leq(fabs(mean - ep[e]), 1e-9, "epoch %d: steps average %.9g, epoch %.9g",
                          e, mean, ep[e]);
        }
        same_records("big", "micro", "epoch", "loss", 2);
        same_records("big", "micro", "epoch", "val_loss", 2);
        same_records("big", "micro", "eval", "loss", 1);
        double st[12];
        jsonl_records("micro/metrics.jsonl", "step", "step", st, 12);
        cr_assert(st[0] == 0 && st[5] == 5 && st[6] == 0, "steps %g %g %g", st[0], st[5], st[6]);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s/big %s/micro", dir, dir);
        cr_assert_eq(system(cmd), 0);
    }
}

Test(trainer, a_resumed_run_reports_one_training_time)
{
    /* a test split that takes a while to evaluate: it comes after the training time */
    write_csv("bigtest.csv", 20000, 7);
    write_file("time.ini", "[train]\nepochs = 1\nbatch_size = 32\nseed = 3\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = bigtest.csv\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.01\n"
               "[layer.fc1]\ntype = dense\nunits = 512\nactivation = relu\n"
               "[layer.fc2]\ntype = dense\nunits = 512\nactivation = relu\n"
               "[layer.fc3]\ntype = dense\nunits = 3\n[logger.console]\ntype = console\n");
    cr_assert_eq(nntrain("train time.ini --run-dir t"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train time.ini --run-dir t --set train.epochs=2 --resume auto"), 0,
                 "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    const char *a = strstr(out, "training ended (completed) after "),
               *b = strstr(out, "trained 2 epochs in ");
    cr_assert(a && b && strstr(b, "s of it in this session)"), "%s", out);
    double ended = strtod(a + strlen("training ended (completed) after "), NULL);
    double trained = strtod(b + strlen("trained 2 epochs in "), NULL);
    cr_assert_eq(ended, trained, "two durations: %.1f and %.1f s\n%s", ended, trained, out);
    free(out);
}

Test(trainer, a_resume_without_seed_continues_with_the_checkpoints_seed)
{
    write_model("sd.ini", 2, ""); /* seed = 5 in the file; val_split and dropout use it */
    cr_assert_eq(nntrain("train sd.ini --no-test --seed 9 --run-dir A"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("train sd.ini --no-test --seed 9 --run-dir B --set train.epochs=1"), 0,
                 "%s", slurp("out.txt"));
    char *ini = slurp("B/model.ini");
    cr_assert(strstr(ini, "seed = 9"), "RUN/model.ini records the seed in effect: %s", ini);
    free(ini);
    cr_assert_eq(nntrain("train sd.ini --no-test --run-dir B --resume auto"), 0, "%s",
                 slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "resuming with the checkpoint's seed 9 (the model file says 5"), "%s",
              out);
    free(out);
    same_tensors("A/last.safetensors", "B/last.safetensors");
    ini = slurp("B/model.ini");
    cr_assert(strstr(ini, "seed = 9"), "%s", ini);
    free(ini);
    /* another seed, asked for: refused, the checkpoint untouched */
    cr_assert_eq(nntrain("train sd.ini --no-test --run-dir B --resume auto --seed 4 "
                         "--set train.epochs=3"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "was trained with seed 9 but this run uses 4"), "%s", out);
    free(out);
}

Test(trainer, a_loss_that_cannot_take_the_validation_targets_is_refused_before_training)
{
    /* mixup makes the training targets F32 probabilities, which mse takes; validation's stay
     * class ids, which it does not: said before the first step, not after an epoch */
    write_file("mix.ini", "[train]\nepochs = 1\nbatch_size = 32\nseed = 3\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nval_split = 0.2\n"
               "[transform.mix]\ntype = mixup\np = 1\n"
               "[loss]\ntype = mse\n[optimizer]\ntype = sgd\nlr = 0.01\n"
               "[layer.fc1]\ntype = dense\nunits = 3\n[logger.console]\ntype = console\n"
               "log_every = 1\n");
    cr_assert_eq(nntrain("train mix.ini --run-dir m"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "mix.ini: the validation and test targets") && strstr(out, "'mse'") &&
                  strstr(out, "before training"), "%s", out);
    cr_assert_null(strstr(out, "step 1/"), "a step was taken: %s", out);
    free(out);
    /* without validation, the test split is checked the same way */
    cr_assert_eq(nntrain("train mix.ini --run-dir m2 --set data.val_split=0"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "the test targets") && !strstr(out, "step 1/"), "%s", out);
    free(out);
}

Test(trainer, precision_bf16_trains_or_is_refused_naming_the_layer_and_the_cpu)
{
    write_model("prec.ini", 1, "");
    cr_assert_eq(nntrain("train prec.ini --set train.precision=fp16"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "precision") && strstr(out, "bf16"), "%s", out);
    free(out);
    int rc = nntrain("train prec.ini --set train.precision=bf16");
    out = slurp("out.txt");
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bw")) {
        /* oneDNN 2.6 has no bf16 kernels below AVX-512: refused before any step */
        cr_assert_eq(rc, 1, "%s", out);
        cr_assert(strstr(out, "layer 'fc1'") && strstr(out, "precision = bf16") &&
                      strstr(out, "use precision = f32"),
                  "%s", out);
    } else {
        cr_assert_eq(rc, 0, "%s", out);
        char losses[16][40];
        cr_assert_gt(step_loss_texts("runs/prec/metrics.jsonl", losses, 16), 0);
    }
    free(out);
}
