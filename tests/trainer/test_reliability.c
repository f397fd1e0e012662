/* test_reliability.c: the silent wrong behaviours a hostile trial found (issue 10, section 4),
 * each through the real binary: a failing test split, inputs of another size, model-file
 * changes on resume, damaged checkpoints, val_* monitors without validation data, --split val,
 * the logged learning rate, logs kept across a resume, the printed resume command and the
 * TensorBoard validation scalars. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("reliability");
    write_csv("train.csv", 240, 1);
    write_csv("test.csv", 60, 2);
}

TestSuite(reliability, .init = setup, .fini = cli_teardown, .timeout = 240);

static const char *base_fmt =
    "[train]\nepochs = %d\nbatch_size = 32\nseed = 5\n%s\n"
    "[data]\ntype = csv\npath = train.csv\ntest_path = %s\n%s\n"
    "[loss]\ntype = cross_entropy\n"
    "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n%s\n"
    "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n"
    "[logger.jsonl]\ntype = jsonl\n[logger.csv]\ntype = csv\n";

/* a model file: epochs, extra [train] keys, the test file, extra [data] keys, then sections */
static void model(const char *name, int epochs, const char *train, const char *test,
                  const char *data, const char *more)
{
    char text[4096];
    snprintf(text, sizeof text, base_fmt, epochs, train, test, data, more);
    write_file(name, text);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* the lr of every step record of a jsonl log */
static int step_lrs(const char *name, double *out, int cap)
{
    char *t = slurp(name);
    cr_assert_not_null(t, "no %s", name);
    int n = 0;
    for (char *line = strtok(t, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        if (strstr(line, "\"kind\":\"step\"")) {
            char *l = strstr(line, "\"lr\":");
            cr_assert_not_null(l, "%s", line);
            out[n++] = strtod(l + 5, NULL);
        }
    free(t);
    return n;
}

Test(reliability, a_test_split_that_fails_to_load_is_refused_before_training)
{
    model("m.ini", 1, "", "missing.csv", "", "");
    cr_assert_eq(nntrain("train m.ini"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "the test split, evaluated after training") &&
              strstr(out, "missing.csv") && strstr(out, "--no-test"), "%s", out);
    cr_assert_null(strstr(out, "epoch 1/"), "it trained first: %s", out);
    free(out);
    struct stat st;
    cr_assert_neq(stat(path_in("runs/m/last.safetensors"), &st), 0, "a checkpoint was written");
    cr_assert_eq(nntrain("train m.ini --no-test"), 0, "%s", slurp("out.txt"));
}

/* --overwrite replaces the old run once the new one starts writing: a run that fails before
 * (a bad key) leaves the old run whole; one that fails after leaves no old checkpoint that a
 * --resume auto would continue under the new run's model.ini and logs */
Test(reliability, overwrite_replaces_the_old_run_when_the_new_one_starts)
{
    model("o.ini", 2, "", "test.csv", "val_split = 0.2", "");
    cr_assert_eq(nntrain("train o.ini --no-test"), 0, "%s", slurp("out.txt"));
    char *old = slurp("runs/o/last.safetensors");
    cr_assert_eq(nntrain("train o.ini --no-test --overwrite --set data.path=gone.csv"), 1);
    char *kept = slurp("runs/o/last.safetensors");
    cr_assert(kept && memcmp(old, kept, 256) == 0, "a failed start removed the old run");
    free(kept);
    free(old);
    cr_assert(exists("runs/o/best.safetensors"));
    cr_assert_eq(nntrain("train o.ini --no-test --overwrite --set optimizer.lr=1e30 "
                         "--set train.checkpoint_every=0"), 4, "%s", slurp("out.txt"));
    cr_assert(!exists("runs/o/last.safetensors") && !exists("runs/o/best.safetensors"),
              "the old run's checkpoints outlived its replacement");
    cr_assert_eq(nntrain("train o.ini --no-test --resume auto"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "no runs/o/last.safetensors yet; starting from scratch"), "%s", out);
    free(out);
}

/* a run that fails in set-up leaves no run directory it created (it held only its lock) */
Test(reliability, a_run_that_fails_in_set_up_leaves_no_directory)
{
    model("f.ini", 1, "", "test.csv", "", "");
    cr_assert_eq(nntrain("train f.ini --no-test --run-dir nd --resume nothere.safetensors"), 1);
    cr_assert(!exists("nd"), "a failed resume left nd/: %s", slurp("out.txt"));
    cr_assert_eq(nntrain("train f.ini --no-test --run-dir nd2 --set data.path=gone.csv"), 1);
    cr_assert(!exists("nd2"), "a failed start left nd2/");
    cr_assert_eq(nntrain("cv f.ini --folds 2 --run-dir nd3 --set data.path=gone.csv"), 1);
    cr_assert(!exists("nd3"), "a failed cv left nd3/");
    /* a directory that was there stays, and so does a run that wrote something */
    cr_assert_eq(mkdir(path_in("kept"), 0755), 0);
    cr_assert_eq(nntrain("train f.ini --no-test --run-dir kept --set data.path=gone.csv"), 1);
    cr_assert(exists("kept"));
    cr_assert_eq(nntrain("train f.ini --no-test --run-dir nd4"), 0, "%s", slurp("out.txt"));
    cr_assert(exists("nd4/last.safetensors"));
}

/* a label column with one value per row: the stratified split's message says what happened */
Test(reliability, a_stratified_split_of_one_sample_classes_names_the_label_column)
{
    char text[8192];
    size_t k = (size_t)snprintf(text, sizeof text, "a,b,label\n");
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%d,%d,L%d\n", i % 7, i % 5, i);
    write_file("many.csv", text);
    write_file("many.ini", "[train]\nepochs = 1\n[data]\ntype = csv\npath = many.csv\n"
               "val_split = 0.1\n[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\n"
               "lr = 0.1\n[layer.fc]\ntype = dense\nunits = 200\n");
    cr_assert_eq(nntrain("train many.ini --no-test"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "many.ini [data]: val_split = 0.1 of 200 samples leaves an empty "
                          "validation part") && strstr(out, "each of the 200 classes") &&
              strstr(out, "wrong label column") && strstr(out, "stratify = false"), "%s", out);
    free(out);
}

/* the samples trained and validated on cannot change under a checkpoint; the test split may */
Test(reliability, resume_refuses_data_changes_but_the_test_split)
{
    model("d.ini", 1, "", "test.csv", "val_split = 0.2", "");
    cr_assert_eq(nntrain("train d.ini --no-test"), 0, "%s", slurp("out.txt"));
    const char *refused[] = {"data.val_split=0.1", "data.limit=100", "data.stratify=false",
                             "data.path=train2.csv"};
    write_csv("train2.csv", 240, 9);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(nntrain("train d.ini --resume auto --set train.epochs=2 --set %s",
                             refused[i]), 1, "%s was accepted", refused[i]);
        char *out = slurp("out.txt"), key[64];
        snprintf(key, sizeof key, "%.*s ", (int)strcspn(refused[i], "="), refused[i]);
        cr_assert(strstr(out, "cannot resume from") && strstr(out, key) &&
                  strstr(out, "the data it trains on"), "%s: %s", refused[i], out);
        free(out);
    }
    cr_assert_eq(nntrain("train d.ini --resume auto --set train.epochs=2 "
                         "--set data.test_limit=10"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "changed on resume: data.test_limit") &&
              strstr(out, "(10 samples)"), "%s", out);
    free(out);
}

/* files a run writes replace what is at their name: a symlink planted there (model.ini, a
 * checkpoint, the temp name) is never written through; a file-size limit is a named error */
Test(reliability, run_files_never_write_through_links_and_size_limits_are_errors)
{
    model("l.ini", 1, "", "test.csv", "", "");
    write_file("victim.txt", "VICTIM\n");
    cr_assert_eq(mkdir(path_in("runs"), 0755), 0);
    cr_assert_eq(mkdir(path_in("runs/l"), 0755), 0);
    cr_assert_eq(symlink(path_in("victim.txt"), path_in("runs/l/model.ini")), 0);
    cr_assert_eq(symlink(path_in("victim.txt"), path_in("runs/l/best.safetensors")), 0);
    cr_assert_eq(nntrain("train l.ini --no-test"), 0, "%s", slurp("out.txt"));
    char *v = slurp("victim.txt");
    cr_assert_str_eq(v, "VICTIM\n", "a run wrote through a link");
    free(v);
    struct stat st;
    cr_assert(lstat(path_in("runs/l/model.ini"), &st) == 0 && S_ISREG(st.st_mode));
    /* a logger's file stays in the run directory: a path leading out is the model file's
     * mistake, refused before the run starts (it was a warning, the run going on unlogged) */
    model("esc.ini", 1, "", "test.csv", "", "[logger.esc]\ntype = jsonl\npath = ../../esc.jsonl\n");
    cr_assert_eq(nntrain("train esc.ini --no-test"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "esc.ini:19: [logger.esc]: logger 'jsonl': key 'path' = "
                          "'../../esc.jsonl': the file must stay inside the run directory") &&
              !strstr(out, "warning"), "%s", out);
    free(out);
    cr_assert(!exists("esc.jsonl"), "a logger wrote outside the run directory");
    /* ulimit -f: EFBIG named, the previous checkpoint kept, no signal death */
    char *before = slurp("runs/l/last.safetensors");
    char cmd[3072];
    snprintf(cmd, sizeof cmd, "cd %s && (ulimit -f 2; exec %s train l.ini --no-test --quiet "
             "--resume auto --set train.epochs=2) > out.txt 2>&1", dir, exe);
    int ws = system(cmd);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "status %d: %s", ws, slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "File too large"), "%s", out);
    free(out);
    char *after = slurp("runs/l/last.safetensors");
    cr_assert(after && memcmp(before, after, 512) == 0, "the previous checkpoint changed");
    free(after);
    free(before);
}

/* outputs the user names: a link is followed, a FIFO or device written in place (never
 * replaced by a regular file), a directory or a link to nothing refused, a failed write to
 * standard output an error, and temp files of writers that died cleared */
Test(reliability, user_outputs_follow_links_keep_fifos_and_report_failed_writes)
{
    model("u.ini", 1, "", "test.csv", "", "");
    cr_assert_eq(nntrain("train u.ini --no-test --quiet"), 0, "%s", slurp("out.txt"));
    const char *ck = "--checkpoint runs/u/last.safetensors";
    write_file("real.csv", "old\n");
    cr_assert_eq(symlink("real.csv", path_in("link.csv")), 0);
    write_file("real.csv.tmp.999999999", "a dead writer's leftover");
    cr_assert_eq(nntrain("predict u.ini %s --limit 2 --output link.csv", ck), 0, "%s",
                 slurp("out.txt"));
    struct stat st;
    cr_assert(lstat(path_in("link.csv"), &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
    char *got = slurp("real.csv");
    cr_assert(strstr(got, "index,label,predicted") && strstr(got, "\n1,"), "%s", got);
    free(got);
    got = slurp("real.csv.tmp.999999999"); /* a user's file of that name is not ours */
    cr_assert(got && strcmp(got, "a dead writer's leftover") == 0, "a user's file was removed");
    free(got);
    /* the replaced file keeps its permissions */
    cr_assert_eq(chmod(path_in("real.csv"), 0600), 0);
    cr_assert_eq(nntrain("predict u.ini %s --limit 2 --output link.csv", ck), 0, "%s",
                 slurp("out.txt"));
    cr_assert(stat(path_in("real.csv"), &st) == 0 && (st.st_mode & 0777) == 0600,
              "mode %o", st.st_mode & 0777);
    /* /dev/stdout is the descriptor the shell gave: >> appends, nothing is replaced */
    write_file("app.txt", "PREVIOUS\n");
    char shell[3072];
    snprintf(shell, sizeof shell, "cd %s && %s predict u.ini %s --limit 2 --output /dev/stdout "
             ">> app.txt 2> out.txt", dir, exe, ck);
    cr_assert_eq(system(shell), 0, "%s", slurp("out.txt"));
    got = slurp("app.txt");
    cr_assert(strncmp(got, "PREVIOUS\nindex,label", 20) == 0, "%s", got);
    free(got);
    /* a closed standard output would lose the predictions: a failure naming it */
    snprintf(shell, sizeof shell, "cd %s && %s predict u.ini %s --limit 2 >&- 2> out.txt", dir,
             exe, ck);
    int sys = system(shell);
    cr_assert(WIFEXITED(sys) && WEXITSTATUS(sys) == 1, "%d: %s", sys, slurp("out.txt"));
    got = slurp("out.txt");
    cr_assert(strstr(got, "the standard output is closed"), "%s", got);
    free(got);
    /* an output that is an input, or a run's lock file, is refused */
    cr_assert_eq(nntrain("predict u.ini %s --output runs/u/last.safetensors", ck), 2);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "is a file this command reads (runs/u/last.safetensors)"), "%s", out);
    free(out);
    /* a model file that is the run directory's model.ini keeps its comments */
    cr_assert_eq(mkdir(path_in("own"), 0755), 0);
    char *text = slurp("u.ini");
    char commented[8192];
    snprintf(commented, sizeof commented, "; my notes\n%s", text);
    free(text);
    write_file("own/model.ini", commented);
    snprintf(shell, sizeof shell, "cp %s/train.csv %s/test.csv %s/own/", dir, dir, dir);
    cr_assert_eq(system(shell), 0);
    cr_assert_eq(nntrain("train own/model.ini --run-dir own --no-test --quiet"), 0, "%s",
                 slurp("out.txt"));
    got = slurp("own/model.ini");
    cr_assert(strncmp(got, "; my notes\n", 11) == 0, "%s", got);
    free(got);
    cr_assert_eq(nntrain("export u.ini %s -o runs/u/.lock", ck), 2, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "runs/u/.lock") && strstr(out, "lock"), "%s", out);
    free(out);
    /* a FIFO gets the rows and stays a FIFO */
    cr_assert_eq(mkfifo(path_in("pipe"), 0644), 0);
    char cmd[3072];
    snprintf(cmd, sizeof cmd, "cd %s && (cat pipe > from_pipe.txt &) && %s predict u.ini %s "
             "--limit 2 --output pipe > out.txt 2>&1 && sleep 0.5", dir, exe, ck);
    cr_assert_eq(system(cmd), 0, "%s", slurp("out.txt"));
    cr_assert(lstat(path_in("pipe"), &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    got = slurp("from_pipe.txt");
    cr_assert(got && strstr(got, "index,label,predicted"), "%s", got ? got : "(nothing)");
    free(got);
    /* refused: a directory, a link to nothing; a full disk behind standard output */
    cr_assert_eq(mkdir(path_in("adir"), 0755), 0);
    cr_assert_eq(nntrain("export u.ini %s -o adir", ck), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "cannot write ONNX model adir: it is a directory"), "%s", out);
    free(out);
    cr_assert_eq(symlink("missing.csv", path_in("dangling.csv")), 0);
    cr_assert_eq(nntrain("predict u.ini %s --output dangling.csv", ck), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "dangling.csv: it is a symbolic link to nothing"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "cd %s && %s predict u.ini %s > /dev/full 2> out.txt", dir, exe,
             ck);
    int ws = system(cmd);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "status %d: %s", ws, slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "cannot write the output: "), "%s", out);
    free(out);
}

Test(reliability, eval_refuses_inputs_of_another_size_than_training)
{
    write_idx("tr-img", "tr-lab", 120, 8, 1);
    write_idx("te-img", "te-lab", 12, 10, 2); /* 10x10, not 8x8 */
    write_file("c.ini", "[train]\nepochs = 1\nbatch_size = 16\n"
               "[data]\ntype = idx\ndir = .\ntrain_images = tr-img\ntrain_labels = tr-lab\n"
               "test_images = te-img\ntest_labels = te-lab\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.01\n"
               "[layer.conv]\ntype = conv2d\nfilters = 4\nkernel = 3\nactivation = relu\n"
               "[layer.pool]\ntype = global_avgpool\n[layer.flat]\ntype = flatten\n"
               "[layer.fc]\ntype = dense\nunits = 10\n"); /* the preset's 10 classes */
    cr_assert_eq(nntrain("train c.ini --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("eval c.ini --checkpoint runs/c/last.safetensors"), 1, "%s",
                 slurp("out.txt"));
    char *out = slurp("out.txt");
    /* the idx plugin names both files when it opens the test split */
    cr_assert(strstr(out, "te-img: records are 10x10, but the training images of") &&
              strstr(out, "tr-img are 8x8 (the test split needs the same H x W)"), "%s", out);
    free(out);
}

Test(reliability, resume_applies_and_prints_a_new_lr_and_refuses_a_new_activation)
{
    model("m.ini", 1, "", "test.csv", "", "");
    cr_assert_eq(nntrain("train m.ini --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --no-test --resume auto --set train.epochs=2 "
                         "--set layer.fc1.activation=tanh"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "layer.fc1.activation relu -> tanh") &&
              strstr(out, "Undo this change"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train m.ini --no-test --resume auto --set train.epochs=2 "
                         "--set optimizer.lr=0.001"), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "changed on resume: optimizer.lr 0.1 -> 0.001") &&
              strstr(out, "changed on resume: train.epochs 1 -> 2"), "%s", out);
    free(out);
    double lr[64];
    int n = step_lrs("runs/m/metrics.jsonl", lr, 64);
    cr_assert_eq(n, 16, "8 steps per epoch, 2 epochs: %d step records", n);
    cr_assert_float_eq(lr[7], 0.1, 1e-12);
    cr_assert_float_eq(lr[8], 0.001, 1e-12, "the new rate was not applied: %g", lr[8]);
    /* a key written out with its default value is no change */
    cr_assert_eq(nntrain("train m.ini --no-test --resume auto --set train.epochs=3 "
                         "--set optimizer.lr=0.001 --set layer.fc2.bias=true"), 0, "%s",
                 slurp("out.txt"));
}

/* rewrites a checkpoint with one tensor or metadata entry changed */
static void tamper(const char *src, const char *dst, const char *tensor, float value,
                   const char *extra, const char *meta_key, const char *meta_value)
{
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in(src), &c, &err), NN_OK, "%s", err.msg);
    int n = nn_checkpoint_count(c);
    nn_ckpt_entry *e = calloc((size_t)n + 1, sizeof *e);
    nn_tensor **copies = calloc((size_t)n + 1, sizeof *copies);
    for (int i = 0; i < n; i++) {
        const nn_tensor *v = nn_checkpoint_tensor(c, nn_checkpoint_name(c, i));
        copies[i] = nn_tensor_new((nn_dtype)nn_tensor_dtype(v), v->dl.ndim, v->shape);
        memcpy(copies[i]->dl.data, v->dl.data, nn_tensor_nbytes(v));
        if (tensor && strcmp(nn_checkpoint_name(c, i), tensor) == 0)
            NN_F32P(copies[i])[3] = value;
        e[i].name = nn_checkpoint_name(c, i);
        e[i].t = copies[i];
    }
    int m = n;
    if (extra)
        e[m++] = (nn_ckpt_entry){extra, copies[0]};
    static const char *keys[] = {"format", "epoch", "step_in_epoch", "global_step", "seed",
                                 "monitor", "best_metric", "best_epoch", "bad_epochs",
                                 "epoch_loss_sum", "epoch_samples", "epoch_correct",
                                 "epoch_topk_correct", "elapsed_s", "hints", "input_shape",
                                 "optimizer_state", "data_state", "model_config"};
    nn_ckpt_meta meta[19];
    for (int i = 0; i < 19; i++) {
        meta[i].key = keys[i];
        meta[i].value = meta_key && strcmp(meta_key, keys[i]) == 0
                            ? meta_value
                            : nn_checkpoint_meta(c, keys[i]);
        if (!meta[i].value)
            meta[i].value = "";
    }
    cr_assert_eq(nn_checkpoint_write(path_in(dst), e, m, meta, 19, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < n; i++)
        nn_tensor_free(copies[i]);
    free(copies);
    free(e);
    nn_checkpoint_free(c);
}

Test(reliability, damaged_checkpoints_are_refused_naming_the_entry)
{
    model("m.ini", 1, "", "test.csv", "", "");
    cr_assert_eq(nntrain("train m.ini --no-test"), 0, "%s", slurp("out.txt"));
    tamper("runs/m/last.safetensors", "nan.safetensors", "fc1.weight", NAN, NULL, NULL, NULL);
    cr_assert_eq(nntrain("eval m.ini --checkpoint nan.safetensors"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "tensor 'fc1.weight' holds nan at element 3") &&
              strstr(out, "--allow-nonfinite"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("eval m.ini --checkpoint nan.safetensors --allow-nonfinite"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --no-test --resume nan.safetensors --run-dir r2 --set "
                         "train.epochs=2"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "holds nan"), "%s", out);
    free(out);

    tamper("runs/m/last.safetensors", "extra.safetensors", NULL, 0, "fc9.weight", NULL, NULL);
    cr_assert_eq(nntrain("eval m.ini --checkpoint extra.safetensors"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "tensor 'fc9.weight' is not part of this model"), "%s", out);
    free(out);
    /* state of another optimizer (or another device's plugin naming it otherwise) */
    tamper("runs/m/last.safetensors", "adam.safetensors", NULL, 0, "optim.fc1.weight.exp_avg",
           NULL, NULL);
    cr_assert_eq(nntrain("train m.ini --no-test --resume adam.safetensors --run-dir r2 --set "
                         "train.epochs=2"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "tensor 'optim.fc1.weight.exp_avg' is not part of this run's "
                          "optimizer state (it has 'optim.") &&
              strstr(out, "`nntrain devices test` compares the names"), "%s", out);
    free(out);

    tamper("runs/m/last.safetensors", "big.safetensors", NULL, 0, NULL, "global_step",
           "99999999999999999999999");
    cr_assert_eq(nntrain("train m.ini --no-test --resume big.safetensors --run-dir r2 --set "
                         "train.epochs=2"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "'global_step' = '99999999999999999999999'") &&
              strstr(out, "out of range"), "%s", out);
    free(out);
}

Test(reliability, val_monitors_without_validation_data_are_refused_at_start)
{
    model("e.ini", 3, "early_stopping = true", "test.csv", "", "");
    cr_assert_eq(nntrain("train e.ini --no-test"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "no validation data") && strstr(out, "val_split") &&
              strstr(out, "monitor = loss"), "%s", out);
    free(out);
    model("p.ini", 3, "", "test.csv", "", "[scheduler]\ntype = reduce_on_plateau\n");
    cr_assert_eq(nntrain("train p.ini --no-test"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "[scheduler] reduce_on_plateau monitors 'val_loss'"), "%s", out);
    free(out);
    /* without early stopping the default monitor follows the data: best.safetensors exists */
    model("d.ini", 2, "", "test.csv", "", "");
    cr_assert_eq(nntrain("train d.ini --no-test"), 0, "%s", slurp("out.txt"));
    struct stat st;
    cr_assert_eq(stat(path_in("runs/d/best.safetensors"), &st), 0);
}

Test(reliability, eval_and_predict_use_the_validation_split_training_used)
{
    model("v.ini", 1, "", "test.csv", "val_split = 0.2", "");
    cr_assert_eq(nntrain("train v.ini --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("eval v.ini --checkpoint runs/v/last.safetensors --split val"), 0,
                 "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "val split: 48 samples"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict v.ini --checkpoint runs/v/last.safetensors --split val "
                         "--output p.csv"), 0, "%s", slurp("out.txt"));
    out = slurp("p.csv");
    cr_assert_eq(count(out, "\n"), 49, "header + 48 rows:\n%s", out);
    free(out);
    /* the run's csv logger got an eval row: the split in its kind, the checkpoint's epoch
     * and step, nothing for time, rate, gradient norm and speed, which were not measured */
    out = slurp("runs/v/metrics.csv");
    char *row = strstr(out, "\neval_val,");
    cr_assert_not_null(row, "%s", out);
    int epoch = -1, step = -1, n = 0;
    cr_assert_eq(sscanf(row + 1, "eval_val,%d,,%d%n", &epoch, &step, &n), 2, "%s", row);
    cr_assert(epoch == 1 && step == 6 && strncmp(row + 1 + n, ",,,,,", 5) == 0, "%s", row);
    free(out);
    /* another seed or other [data] keys would hold out another part, overlapping what the
     * run trained on: refused, the figures would be inflated. The run's seed applies when no
     * --seed is given, whatever the model file says; the test split's keys may change */
    cr_assert_eq(nntrain("eval v.ini --checkpoint runs/v/last.safetensors --split val "
                         "--seed 8"), 2);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--split val: runs/v/last.safetensors was trained with seed ") &&
              strstr(out, "with --seed 8 the part would be another one"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("predict v.ini --checkpoint runs/v/last.safetensors --split val "
                         "--set data.val_split=0.3 --output q.csv"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--split val: this model file holds out another validation part") &&
              strstr(out, "data.val_split 0.2 -> 0.3"), "%s", out);
    free(out);
    char want[64] = "", got[64] = "";
    cr_assert_eq(nntrain("eval v.ini --checkpoint runs/v/last.safetensors --split val"), 0);
    out = slurp("out.txt");
    snprintf(want, sizeof want, "%.40s", strstr(out, "loss") ? strstr(out, "loss") : "none");
    free(out);
    cr_assert_eq(nntrain("eval v.ini --checkpoint runs/v/last.safetensors --split val "
                         "--set train.seed=9 --set data.test_limit=5"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("out.txt");
    snprintf(got, sizeof got, "%.40s", strstr(out, "loss") ? strstr(out, "loss") : "none");
    cr_assert(strstr(out, "val split: 48 samples") && strcmp(want, got) == 0,
              "the run's seed should split: '%s' against '%s'\n%s", got, want, out);
    free(out);
}

Test(reliability, the_logged_learning_rate_is_the_one_each_step_applied)
{
    model("w.ini", 2, "", "test.csv", "", "[scheduler]\nwarmup_steps = 3\n");
    cr_assert_eq(nntrain("train w.ini --no-test"), 0, "%s", slurp("out.txt"));
    double lr[32];
    int n = step_lrs("runs/w/metrics.jsonl", lr, 32);
    cr_assert_eq(n, 16);
    /* warm-up from 1/3 of 0.1 to 0.1 over three steps, as PyTorch's LinearLR */
    cr_assert_float_eq(lr[0], 0.1 / 3, 1e-12, "step 1 applied %g", lr[0]);
    cr_assert_float_eq(lr[1], 0.1 * (1.0 / 3 + 2.0 / 9), 1e-12);
    cr_assert_float_eq(lr[3], 0.1, 1e-12);
    char *csv = slurp("runs/w/metrics.csv");
    cr_assert(strstr(csv, "\nepoch,0,,8,"), "%s", csv);
    free(csv);
    /* a run resumed with nothing left to train (killed during its final test) records the
     * rate its last step applied, not the one a next step would (cosine ends at 0) */
    model("c.ini", 2, "", "test.csv", "", "[scheduler]\ntype = cosine\n");
    cr_assert_eq(nntrain("train c.ini"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train c.ini --run-dir c2 --no-test"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train c.ini --run-dir c2 --resume auto"), 0, "%s", slurp("out.txt"));
    char *a = slurp("runs/c/metrics.csv"), *b = slurp("c2/metrics.csv");
    char *ea = strstr(a, "\neval,"), *eb = strstr(b, "\neval,");
    cr_assert(ea && eb, "%s\n%s", a, b);
    /* kind,epoch,step,global_step,elapsed_s,lr: the fields up to lr, without elapsed_s */
    char fa[6][40] = {{0}}, fb[6][40] = {{0}};
    cr_assert_eq(sscanf(ea + 1, "%39[^,],%39[^,],,%39[^,],%39[^,],%39[^,]", fa[0], fa[1], fa[2],
                        fa[3], fa[4]), 5, "%s", ea);
    cr_assert_eq(sscanf(eb + 1, "%39[^,],%39[^,],,%39[^,],%39[^,],%39[^,]", fb[0], fb[1], fb[2],
                        fb[3], fb[4]), 5, "%s", eb);
    cr_assert(strtod(fa[4], NULL) > 0, "%s", ea);
    cr_assert_str_eq(fb[4], fa[4], "resumed: %s\nuninterrupted: %s", eb, ea);
    cr_assert_str_eq(fb[2], fa[2]);
    free(a);
    free(b);
}

Test(reliability, a_resumed_run_keeps_its_history_and_reports_its_best_checkpoint)
{
    model("h.ini", 4, "", "test.csv", "val_split = 0.2", "");
    cr_assert_eq(nntrain("train h.ini --no-test --set train.epochs=2"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("train h.ini --no-test --resume auto"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "(runs/h/best.safetensors)"), "%s", out);
    free(out);
    char *csv = slurp("runs/h/metrics.csv");
    for (int e = 0; e < 4; e++) {
        char row[32];
        snprintf(row, sizeof row, "\nepoch,%d,", e);
        cr_assert_eq(count(csv, row), 1, "epoch %d row:\n%s", e, csv);
    }
    free(csv);
    char *jl = slurp("runs/h/metrics.jsonl");
    cr_assert_eq(count(jl, "\"kind\":\"epoch\""), 4, "%s", jl);
    free(jl);
}

Test(reliability, the_printed_resume_command_continues_the_interrupted_run)
{
    model("r.ini", 100000, "", "test.csv", "", "");
    char sh[1500];
    snprintf(sh, sizeof sh, "cd %s && (%s train r.ini --no-test --run-dir there --set "
             "optimizer.lr=0.05 > out.txt 2>&1 & pid=$!; while [ ! -f there/last.safetensors ]; "
             "do sleep 0.02; done; kill -INT $pid; wait $pid; echo $? > rc.txt)", dir, exe);
    cr_assert_eq(system(sh), 0);
    char *out = slurp("rc.txt");
    cr_assert_eq(atoi(out), 130, "%s", out);
    free(out);
    out = slurp("out.txt");
    char *cmd = strstr(out, "resume with: nntrain ");
    cr_assert_not_null(cmd, "%s", out);
    cmd += strlen("resume with: nntrain ");
    *strchr(cmd, '\n') = 0;
    cr_assert(strstr(cmd, "--set optimizer.lr=0.05") && strstr(cmd, "--run-dir there") &&
              strstr(cmd, "--resume there/last.safetensors"), "%s", cmd);
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("there/last.safetensors"), &c, &err), NN_OK);
    long long epochs = atoll(nn_checkpoint_meta(c, "epoch")) + 2;
    nn_checkpoint_free(c);
    char again[1024], want[64];
    snprintf(again, sizeof again, "%s --set train.epochs=%lld", cmd, epochs);
    snprintf(want, sizeof want, "trained %lld epochs", epochs);
    free(out);
    cr_assert_eq(nntrain("%s", again), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, want) && !strstr(out, "optimizer.lr"), "%s", out);
    /* the whole run's epochs and seconds, and this session's share */
    cr_assert(strstr(out, " s of it in this session); checkpoints in there"), "%s", out);
    free(out);
    /* a resume with no epoch left trains none and still counts the run's */
    cr_assert_eq(nntrain("%s", again), 0, "%s", slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, want), "%s", out);
    free(out);
}

Test(reliability, tensorboard_gets_each_validation_scalar_once_per_epoch)
{
    model("t.ini", 3, "", "test.csv", "val_split = 0.2", "[logger.tb]\ntype = tensorboard\n");
    cr_assert_eq(nntrain("train t.ini --no-test"), 0, "%s", slurp("out.txt"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat %s/runs/t/tb/events.out.tfevents.* > %s/tb.bin", dir, dir);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(path_in("tb.bin"), "rb");
    cr_assert_not_null(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int hits = 0;
    for (size_t i = 0; i + 14 <= n; i++)
        hits += memcmp(buf + i, "epoch/val_loss", 14) == 0;
    cr_assert_eq(hits, 3, "epoch/val_loss written %d times for 3 epochs", hits);
}

/* a layer that cannot train on the short last batch (batchnorm on one row) says so, and the
 * message points at that batch, not at batch_size, which was fine */
Test(reliability, a_last_batch_a_layer_refuses_is_named_as_such)
{
    model("bn.ini", 1, "", "test.csv", "limit = 33", "[layer.bn]\ntype = batchnorm\n");
    cr_assert_eq(nntrain("train bn.ini --no-test"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "batchnorm needs more than 1 value per channel") &&
              strstr(out, "(in the epoch's last batch, of the 1 sample left after the full "
                          "batches of 32; [train] drop_last = true skips it)"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train bn.ini --no-test --overwrite --set train.drop_last=true"), 0,
                 "%s", slurp("out.txt"));
}

/* batch_size is a bound, not an amount: buffers and plans are sized by the largest batch the
 * data can make (batch_size 1048576 on 240 samples took 14 GB and half a minute before
 * failing). The run equals one with batch_size = 240, a batch an epoch */
Test(reliability, a_batch_size_beyond_the_data_allocates_for_the_data)
{
    model("big.ini", 2, "", "test.csv", "", "");
    /* this child is the test process's first: the largest resident size of its children is its
     * own (measured: 24 MB; 407 MB with buffers and plans of a million rows) */
    cr_assert_eq(nntrain("train big.ini --no-test --run-dir big --set train.batch_size=1048576"),
                 0, "%s", slurp("out.txt"));
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    cr_assert_lt(ru.ru_maxrss, 250 * 1024, "peak resident size %ld KB", ru.ru_maxrss);
    cr_assert_eq(nntrain("train big.ini --no-test --run-dir one --set train.batch_size=240"), 0,
                 "%s", slurp("out.txt"));
    char a[2][64][40];
    int na = step_loss_texts("big/metrics.jsonl", a[0], 64);
    int nb = step_loss_texts("one/metrics.jsonl", a[1], 64);
    cr_assert(na == 2 && nb == 2, "%d and %d steps", na, nb);
    for (int i = 0; i < na; i++)
        cr_assert_str_eq(a[0][i], a[1][i], "step %d", i);
}

/* a run directory that is a dangling link says so (it said "exists but is not a directory") */
Test(reliability, a_dangling_link_as_run_directory_is_named)
{
    model("d.ini", 1, "", "test.csv", "", "");
    cr_assert_eq(symlink("/nonexistent/nntrain-run", path_in("dangling")), 0);
    cr_assert_eq(nntrain("train d.ini --no-test --run-dir dangling"), 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "run directory dangling is a symbolic link to "
                          "/nonexistent/nntrain-run, which does not exist"), "%s", out);
    free(out);
}
