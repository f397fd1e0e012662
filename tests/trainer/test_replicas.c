/* test_replicas.c: [train] replicas = N through the real nntrain binary. N replicas of one
 * process train what one replica trains (dropout masks and synchronised batchnorm statistics
 * are the batch's, gradients summed), up to the order of float sums; resume stays exact; a
 * divergence is still diagnosed; evaluation splits too; what cannot work is refused. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("replicas");
    write_csv("train.csv", 250, 1);
    write_csv("test.csv", 61, 2);
}

TestSuite(replicas, .init = setup, .fini = cli_teardown, .timeout = 240);

/* dropout and synchronised batchnorm: both depend on which rows a replica holds */
static const char *model =
    "[train]\nepochs = 3\nbatch_size = 32\nseed = 7\n"
    "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\n"
    "[loss]\ntype = cross_entropy\n"
    "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
    "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[layer.bn]\ntype = batchnorm\nsync = true\n"
    "[layer.drop]\ntype = dropout\np = 0.25\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n"
    "[logger.jsonl]\ntype = jsonl\n";

static double weights_diff(const char *a, const char *b)
{
    return max_rel_diff(a, b, NULL);
}

Test(replicas, n_replicas_train_what_one_trains)
{
    /* without batchnorm, one update: the summed gradient itself */
    write_file("plain.ini", model);
    char *text = slurp("plain.ini"), *bn = strstr(text, "[layer.bn]"), *drop = strstr(text,
                                                                                   "[layer.drop]");
    memmove(bn, drop, strlen(drop) + 1);
    write_file("plain.ini", text);
    free(text);
    cr_assert_eq(nntrain("train plain.ini --no-test --run-dir p1 --set train.epochs=1 "
                         "--set data.limit=32"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train plain.ini --no-test --run-dir p2 --set train.epochs=1 "
                         "--set data.limit=32 --set train.replicas=2"), 0, "%s",
                 slurp("out.txt"));
    double d = weights_diff("p1/last.safetensors", "p2/last.safetensors");
    cr_assert_lt(d, 1e-6, "one update: weights differ by %g relative", d);
    /* the gradient norm, which the replicas measure while they sum their parts */
    double g1, g2;
    cr_assert_eq(jsonl_records("p1/metrics.jsonl", "step", "grad_norm", &g1, 1), 1);
    cr_assert_eq(jsonl_records("p2/metrics.jsonl", "step", "grad_norm", &g2, 1), 1);
    cr_assert_lt(fabs(g1 - g2) / g1, 1e-6, "grad_norm %.9g against %.9g", g1, g2);
    /* a loss that sums its rows: the slices' sums add up (weighing them by rows gave half the
     * batch's gradient), and the step's loss is their sum */
    cr_assert_eq(nntrain("train plain.ini --no-test --run-dir s1 --set train.epochs=1 "
                         "--set data.limit=32 --set loss.reduction=sum --set optimizer.lr=0.01 "
                         "--set optimizer.momentum=0"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train plain.ini --no-test --run-dir s3 --set train.epochs=1 "
                         "--set data.limit=32 --set loss.reduction=sum --set optimizer.lr=0.01 "
                         "--set optimizer.momentum=0 --set train.replicas=3"), 0, "%s",
                 slurp("out.txt"));
    d = weights_diff("s1/last.safetensors", "s3/last.safetensors");
    cr_assert_lt(d, 1e-6, "one update, reduction = sum: weights differ by %g relative", d);
    double l1, l3;
    cr_assert_eq(jsonl_records("s1/metrics.jsonl", "step", "loss", &l1, 1), 1);
    cr_assert_eq(jsonl_records("s3/metrics.jsonl", "step", "loss", &l3, 1), 1);
    cr_assert_lt(fabs(l1 - l3) / l1, 1e-6, "the step's loss: %g against %g", l1, l3);

    /* synchronised batchnorm sums its statistics in F64 over the replicas, where one process
     * lets oneDNN compute them: the same statistics by another formula */
    write_file("m.ini", model);
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir one"), 0, "%s", slurp("out.txt"));
    /* 250 rows: slices of 11, 11 and 10 rows, and a last batch of 26 (9, 9, 8) */
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir three --set train.replicas=3"), 0,
                 "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir two --set train.replicas=2"), 0,
                 "%s", slurp("out.txt"));
    d = weights_diff("one/last.safetensors", "three/last.safetensors");
    cr_assert_lt(d, 1e-3, "after 3 epochs, 1 and 3 replicas differ by %g relative", d);
    d = weights_diff("two/last.safetensors", "three/last.safetensors");
    cr_assert_lt(d, 1e-4, "after 3 epochs, 2 and 3 replicas differ by %g relative", d);
    /* the optimizer state is carried over as in one process */
    d = max_rel_diff("two/last.safetensors", "three/last.safetensors", "optim.");
    cr_assert_lt(d, 1e-3, "after 3 epochs, momentum differs by %g relative", d);

    /* without sync each replica normalises by its own slice, as N processes would: other
     * weights, and still a run that learns */
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir nosync --set train.replicas=2 "
                         "--set layer.bn.sync=false"), 0, "%s", slurp("out.txt"));
    double dn = weights_diff("one/last.safetensors", "nosync/last.safetensors");
    cr_assert_gt(dn, 1e-3, "per-slice statistics should change the weights (%g)", dn);
    /* the replicas' running statistics are averaged: after one update of two equal slices
     * the running mean is the batch's, as in one process */
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir ns1 --set layer.bn.sync=false "
                         "--set train.epochs=1 --set data.limit=32"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir ns2 --set layer.bn.sync=false "
                         "--set train.epochs=1 --set data.limit=32 --set train.replicas=2"), 0,
                 "%s", slurp("out.txt"));
    d = max_rel_diff("ns1/last.safetensors", "ns2/last.safetensors", "bn.running_mean");
    cr_assert_lt(d, 1e-5, "running means differ by %g relative", d);
}

/* `train INI SETS --run-dir half --set train.epochs=HALF`, then resumed to epoch TOTAL: its
 * step losses, joined, are FULL's (a run of the same SETS for TOTAL epochs), bit for bit, as
 * are the weights; steps: how many FULL made */
static void resumes_as(const char *ini, const char *sets, int half, int total, const char *full,
                       int steps)
{
    cr_assert_eq(nntrain("train %s --no-test --run-dir half %s --set train.epochs=%d", ini, sets,
                         half), 0, "%s", slurp("out.txt"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mv %s/half/metrics.jsonl %s/first.jsonl", dir, dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(nntrain("train %s --no-test --run-dir half %s --set train.epochs=%d --resume "
                         "half/last.safetensors", ini, sets, total), 0, "%s", slurp("out.txt"));
    char name[80], a[64][40], b[64][40], f[64][40];
    snprintf(name, sizeof name, "%s/metrics.jsonl", full);
    int nf = step_loss_texts(name, f, 64);
    int na = step_loss_texts("first.jsonl", a, 64);
    int nb = step_loss_texts("half/metrics.jsonl", b, 64);
    cr_assert_eq(nf, steps, "%d steps, got %d", steps, nf);
    cr_assert_eq(na + nb, nf, "%d + %d steps", na, nb);
    for (int i = 0; i < nf; i++)
        cr_assert_str_eq(f[i], i < na ? a[i] : b[i - na], "step %d", i);
    snprintf(name, sizeof name, "%s/last.safetensors", full);
    cr_assert_eq(max_rel_diff(name, "half/last.safetensors", ""), 0.0);
}

Test(replicas, stop_and_resume_reproduces_the_losses_bit_for_bit)
{
    write_file("m.ini", model);
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir full --set train.replicas=2 "
                         "--set train.epochs=4"), 0, "%s", slurp("out.txt"));
    resumes_as("m.ini", "--set train.replicas=2", 2, 4, "full", 32);
}

/* copies the test plugin `so` into dir/plug, for --plugin-dir plug */
static void plugin_in_plug(const char *so)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/plug && cp %s/%s %s/plug/", dir, NNTEST_PLUGIN_DIR,
             so, dir);
    cr_assert_eq(system(cmd), 0);
}

/* [train] replica_split = units: each replica computes its own units of the first dense layer
 * over the whole batch (replica_head.c) and writes that layer's gradient itself. What it
 * trains agrees with rows and with one replica to rounding, also over partial batches and a
 * batch with fewer rows than replicas; resume stays exact; a layer that cannot be split is
 * refused naming the key and the reason */
static const char *wide =
    "[train]\nepochs = 2\nbatch_size = 32\nseed = 7\n"
    "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\n"
    "[loss]\ntype = cross_entropy\n"
    "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
    "[layer.fc1]\ntype = dense\nunits = 48\nactivation = relu\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n"
    "[logger.jsonl]\ntype = jsonl\n[logger.console]\ntype = console\n";

Test(replicas, the_first_layer_split_by_units_trains_what_rows_train)
{
    write_file("w.ini", wide);
    /* 226 rows: 7 batches of 32, then one of 2 rows, fewer than 3 replicas */
    static const char *const runs[][2] = {
        {"one", ""},
        {"rows", "--set train.replicas=2 --set train.replica_split=rows"},
        {"units2", "--set train.replicas=2 --set train.replica_split=units"},
        {"units3", "--set train.replicas=3"}, /* auto: fc1 holds most parameters */
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        cr_assert_eq(nntrain("train w.ini --no-test --run-dir %s --set data.limit=226 %s",
                             runs[i][0], runs[i][1]), 0, "%s", slurp("out.txt"));
        char *o = slurp("out.txt");
        if (i >= 2)
            cr_assert_not_null(strstr(o, "replicas: layer 'fc1' (dense) split by units, the "
                                         "others by rows"), "%s", o);
        free(o);
    }
    double g[4], l[4];
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s/metrics.jsonl", runs[i][0]);
        cr_assert_eq(jsonl_records(name, "step", "grad_norm", &g[i], 1), 1);
        cr_assert_eq(jsonl_records(name, "step", "loss", &l[i], 1), 1);
    }
    for (int i = 1; i < 4; i++) {
        cr_assert_lt(fabs(g[i] - g[0]) / g[0], 1e-6, "%s: first grad_norm %.9g, one %.9g",
                     runs[i][0], g[i], g[0]);
        cr_assert_lt(fabs(l[i] - l[0]) / l[0], 1e-6, "%s: first loss %.9g, one %.9g",
                     runs[i][0], l[i], l[0]);
        char path[2][64];
        snprintf(path[0], sizeof path[0], "%s/last.safetensors", runs[i][0]);
        snprintf(path[1], sizeof path[1], "one/last.safetensors");
        double d = weights_diff(path[0], path[1]);
        cr_assert_lt(d, 1e-4, "%s: after 16 updates, weights differ by %g relative",
                     runs[i][0], d);
        d = max_rel_diff(path[0], path[1], "optim.");
        cr_assert_lt(d, 1e-3, "%s: momentum differs by %g relative", runs[i][0], d);
    }

    /* micro-batches and a clipped norm: the owned rows accumulate and are measured too */
    static const char *const acc[] = {"", "--set train.replicas=2 --set train.replica_split=units"};
    double ga[2], la[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nntrain("train w.ini --no-test --run-dir acc%d --set data.limit=226 "
                             "--set train.accumulate=2 --set train.clip_norm=0.05 %s", i, acc[i]),
                     0, "%s", slurp("out.txt"));
        char name[64];
        snprintf(name, sizeof name, "acc%d/metrics.jsonl", i);
        cr_assert_eq(jsonl_records(name, "step", "grad_norm", &ga[i], 1), 1);
        cr_assert_eq(jsonl_records(name, "step", "loss", &la[i], 1), 1);
    }
    cr_assert_lt(fabs(ga[1] - ga[0]) / ga[0], 1e-6, "grad_norm %.9g against %.9g", ga[1], ga[0]);
    cr_assert_lt(fabs(la[1] - la[0]) / la[0], 1e-6, "loss %.9g against %.9g", la[1], la[0]);
    double da = weights_diff("acc0/last.safetensors", "acc1/last.safetensors");
    cr_assert_lt(da, 1e-4, "accumulate = 2, clip_norm: weights differ by %g relative", da);

    /* resume: the same losses, bit for bit (2 epochs of 8 steps) */
    resumes_as("w.ini", "--set data.limit=226 --set train.replicas=2", 1, 2, "units2", 16);

    /* what cannot be split */
    cr_assert_neq(nntrain("train w.ini --no-test --run-dir no --set train.replicas=4 "
                          "--set train.replica_split=units"), 0);
    char *o = slurp("out.txt");
    cr_assert_not_null(strstr(o, "--set train.replica_split=units: the first layer with "
                                 "parameters, 'fc1' (dense), cannot be split by units: it has "
                                 "48 units, and a split needs 16 per replica; use "
                                 "replica_split = rows"), "%s", o);
    free(o);
}

/* a plugin that declares NN_CAP_SPLIT_UNITS but whose copy with fewer units does not declare
 * rows of its weight: auto trains split by rows (as 1 replica does), units refuses naming it */
Test(replicas, a_layer_that_breaks_the_split_promise_is_split_by_rows)
{
    plugin_in_plug("nntest_badsplit.so");
    write_file("bad.ini", "[train]\nepochs = 2\nbatch_size = 32\nseed = 7\n"
                          "[data]\ntype = csv\npath = train.csv\n"
                          "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
                          "[layer.fc1]\ntype = nntest_badsplit\nunits = 32\n"
                          "[layer.fc2]\ntype = dense\nunits = 3\n"
                          "[logger.console]\ntype = console\n");
    cr_assert_eq(nntrain("train bad.ini --plugin-dir plug --no-test --run-dir b1 "
                         "--set data.limit=64 --set train.epochs=1"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train bad.ini --plugin-dir plug --no-test --run-dir b2 "
                         "--set data.limit=64 --set train.epochs=1 --set train.replicas=2"), 0,
                 "%s", slurp("out.txt"));
    char *o = slurp("out.txt");
    cr_assert_not_null(strstr(o, "2 replicas, every layer split by rows"), "%s", o);
    free(o);
    double d = weights_diff("b1/last.safetensors", "b2/last.safetensors");
    cr_assert_lt(d, 1e-5, "weights differ by %g relative", d);
    cr_assert_eq(nntrain("train bad.ini --plugin-dir plug --no-test --run-dir b3 "
                         "--set data.limit=64 --set train.replicas=2 "
                         "--set train.replica_split=units"), 1, "%s", slurp("out.txt"));
    o = slurp("out.txt");
    cr_assert_not_null(strstr(o, "--set train.replica_split=units: layer 'fc1' split by units "
                                 "over 2 replicas (replica 0): "), "%s", o);
    cr_assert_not_null(strstr(o, "declares parameter 0 unlike rows 0 to 15 of the layer's "
                                 "(NN_CAP_SPLIT_UNITS)"), "%s", o);
    free(o);
}

/* `nntrain eval m.ini --checkpoint run/last.safetensors EXTRA`: its line from "loss" on */
static void eval_line(const char *extra, char *line, size_t cap)
{
    cr_assert_eq(nntrain("eval m.ini --checkpoint run/last.safetensors %s", extra), 0, "%s",
                 slurp("out.txt"));
    char *o = slurp("out.txt"), *l = strstr(o, "loss");
    cr_assert_not_null(l, "%s", o);
    snprintf(line, cap, "%.60s", l);
    free(o);
}

Test(replicas, evaluation_is_split_too_and_agrees)
{
    write_file("m.ini", model);
    cr_assert_eq(nntrain("train m.ini --no-test --run-dir run"), 0, "%s", slurp("out.txt"));
    char one[256] = "", two[256] = "";
    eval_line("", one, sizeof one);
    eval_line("--set train.replicas=2", two, sizeof two);
    /* 61 test rows: the accuracy is exact, the loss to the printed digits */
    cr_assert_str_eq(one, two);
    /* a loss that sums its rows: a batch's loss is its slices' sum */
    eval_line("--set loss.reduction=sum", one, sizeof one);
    eval_line("--set loss.reduction=sum --set train.replicas=3", two, sizeof two);
    cr_assert_str_eq(one, two);
    /* predictions of a split batch come back whole and in order: the same classes, and
     * probabilities up to the rounding of another batch size */
    cr_assert_eq(nntrain("predict m.ini --checkpoint run/last.safetensors --output p1.csv"), 0,
                 "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("predict m.ini --checkpoint run/last.safetensors --output p2.csv "
                         "--set train.replicas=2"), 0, "%s", slurp("out.txt"));
    char *a = slurp("p1.csv"), *b = slurp("p2.csv");
    cr_assert(a && b);
    int lines = 0;
    for (char *p = a, *q = b; *p && *q; lines++) {
        char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
        cr_assert(pe && qe, "unterminated line %d", lines);
        *pe = *qe = 0;
        /* index, target and predicted class, then numbers */
        char *pf = p, *qf = q;
        for (int field = 0; pf && qf; field++) {
            char *pc = strchr(pf, ','), *qc = strchr(qf, ',');
            if (pc)
                *pc = 0;
            if (qc)
                *qc = 0;
            if (field < 3 || lines == 0)
                cr_assert_str_eq(pf, qf, "line %d field %d", lines, field);
            else
                cr_assert_lt(fabs(atof(pf) - atof(qf)), 2e-6, "line %d: %s against %s", lines,
                             pf, qf);
            pf = pc ? pc + 1 : NULL;
            qf = qc ? qc + 1 : NULL;
        }
        cr_assert(!pf && !qf, "line %d: fields differ in number", lines);
        p = pe + 1;
        q = qe + 1;
    }
    cr_assert_eq(lines, 62, "a header and 61 rows, got %d lines", lines);
    free(a);
    free(b);
}

/* a third-party loss says in setup how it reduces its rows (ABI 0.9): declared a sum, the
 * replicas' sums add up as the stock losses' do; a value that is neither is refused */
Test(replicas, a_plugin_loss_that_declares_a_sum_is_combined_as_one)
{
    plugin_in_plug("nntest_loss.so");
    const char *loss = strstr(model, "[loss]"), *opt = strstr(model, "[optimizer]");
    char text[2048];
    snprintf(text, sizeof text, "%.*s[loss]\ntype = nntest_loss\ndeclare_reduction = 1\n%s",
             (int)(loss - model), model, opt);
    write_file("own.ini", text);
#define OWN "train own.ini --plugin-dir plug --no-test --set train.epochs=1 --set data.limit=32 " \
    "--set layer.drop.p=0 --set layer.bn.sync=true --set optimizer.lr=0.01"
    cr_assert_eq(nntrain(OWN " --run-dir o1"), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain(OWN " --run-dir o2 --set train.replicas=2"), 0, "%s", slurp("out.txt"));
    double d = weights_diff("o1/last.safetensors", "o2/last.safetensors");
    cr_assert_lt(d, 1e-5, "one update: weights differ by %g relative", d);
    /* declared a mean (what an older plugin leaves), the slices are weighed by rows: here
     * half the gradient, the plugin's own choice */
    cr_assert_eq(nntrain(OWN " --run-dir m2 --set train.replicas=2 "
                         "--set loss.declare_reduction=0"), 0, "%s", slurp("out.txt"));
    d = weights_diff("o1/last.safetensors", "m2/last.safetensors");
    cr_assert_gt(d, 1e-3, "weighed by rows, the update should differ (%g)", d);
    cr_assert_eq(nntrain(OWN " --run-dir bad --set loss.declare_reduction=7"), 1, "%s",
                 slurp("out.txt"));
#undef OWN
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "own.ini") && strstr(out, "nntest_loss") &&
                  strstr(out, "declared reduction 7") && strstr(out, "NN_LOSS_SUM"),
              "%s", out);
    free(out);
}

/* layers whose oneDNN primitives need a scratchpad (LSTM, layer norm, attention's and GRU's):
 * plans are bound on the main thread and run on the replicas' threads, which must each have
 * a scratchpad of their own (oneDNN's own is kept per creating thread: a crash at address 0) */
Test(replicas, sequence_layers_run_on_the_replicas_threads)
{
    write_file("seq.ini",
               "[train]\nepochs = 1\nbatch_size = 32\nseed = 3\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nlimit = 32\n"
               "[loss]\ntype = cross_entropy\n"
               "[optimizer]\ntype = sgd\nlr = 0.1\n"
               "[layer.steps]\ntype = reshape\nshape = 4, 2\n"
               "[layer.lstm]\ntype = lstm\nhidden_size = 6\n"
               "[layer.norm]\ntype = layernorm\n"
               "[layer.attn]\ntype = multihead_attention\nnum_heads = 2\n"
               "[layer.gru]\ntype = gru\nhidden_size = 5\nreturn_sequences = false\n"
               "[layer.out]\ntype = dense\nunits = 3\n");
    cr_assert_eq(nntrain("train seq.ini --run-dir s1"), 0, "%s", slurp("out.txt"));
    char *one = slurp("out.txt");
    cr_assert_eq(nntrain("train seq.ini --run-dir s2 --set train.replicas=2"), 0, "%s",
                 slurp("out.txt"));
    char *two = slurp("out.txt");
    double d = weights_diff("s1/last.safetensors", "s2/last.safetensors");
    cr_assert_lt(d, 1e-5, "one update: weights differ by %g relative", d);
    /* the test set, evaluated on the replicas' threads too: the same accuracy */
    char *a = strstr(one, "accuracy"), *b = strstr(two, "accuracy");
    cr_assert(a && b, "%s\n%s", one, two);
    cr_assert_eq(strncmp(a, b, 16), 0, "%.40s against %.40s", a, b);
    free(one);
    free(two);
}

Test(replicas, a_divergence_is_still_diagnosed)
{
    write_file("m.ini", model);
    int rc = nntrain("train m.ini --no-test --run-dir nan --set train.replicas=2 "
                     "--set optimizer.lr=1e30 --set train.epochs=20");
    char *out = slurp("out.txt");
    cr_assert_eq(rc, 4, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "non-finite"), "%s", out);
    cr_assert(strstr(out, "layer '") || strstr(out, "loss '") || strstr(out, "norm"),
              "names the culprit: %s", out);
    free(out);
}

Test(replicas, what_cannot_work_is_refused_naming_the_key)
{
    write_file("m.ini", model);
    /* the replicas are the threads: --threads does not change them */
    int rc = nntrain("train m.ini --run-dir t --threads 3 --set train.replicas=2 "
                     "--set train.epochs=1 --no-test");
    char *out = slurp("out.txt");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = nntrain("train m.ini --run-dir d --device sim --set train.replicas=2");
    out = slurp("out.txt");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "[train] replicas = 2") && strstr(out, "CPU only"), "%s", out);
    free(out);
    rc = nntrain("train m.ini --run-dir z --set train.replicas=17");
    out = slurp("out.txt");
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "replicas"), "%s", out);
    free(out);
}

Test(replicas, plugins_show_says_which_optimizers_step_in_slices)
{
    cr_assert_eq(nntrain("plugins show sgd"), 0, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "capabilities: elementwise"), "%s", out);
    free(out);
}
