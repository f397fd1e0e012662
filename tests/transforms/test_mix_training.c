/* test_mix_training.c: mixup and cutmix end to end through the nntrain binary: a small MLP on
 * a CSV problem and a small CNN on IDX images learn with them (test accuracy), p = 0 trains as
 * without the transform, the training accuracy of soft targets is reported, and a mixup run on
 * the sim device gives the CPU's per-step losses and accuracies. Fixtures are written here. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>

#include "trainer/cli_fixture.h"

static void setup(void)
{
    cli_setup("mix-training");
}

TestSuite(mix_training, .init = setup, .fini = cli_teardown, .timeout = 300);

/* the losses (and accuracies, when acc is not NULL) of every step record of metrics.jsonl */
static int steps(const char *name, double *loss, double *acc, int cap)
{
    char *t = slurp(name);
    cr_assert_not_null(t, "no %s", name);
    int n = 0;
    for (char *line = strtok(t, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        if (strstr(line, "\"kind\":\"step\"")) {
            char *l = strstr(line, "\"loss\":"), *a = strstr(line, "\"accuracy\":");
            cr_assert(l && a, "%s", line);
            loss[n] = strtod(l + 7, NULL);
            if (acc)
                acc[n] = strtod(a + 11, NULL);
            n++;
        }
    free(t);
    return n;
}

/* "test: loss L  accuracy A%" of the last run */
static double test_accuracy(void)
{
    char *out = slurp("out.txt");
    char *t = strstr(out, "test: loss");
    cr_assert_not_null(t, "%s", out);
    double loss, acc;
    cr_assert_eq(sscanf(t, "test: loss %lf accuracy %lf%%", &loss, &acc), 2, "%s", t);
    free(out);
    return acc;
}

static void write_mlp(const char *name, const char *transform)
{
    char m[2048];
    snprintf(m, sizeof m,
             "[train]\nepochs = 6\nbatch_size = 32\nseed = 5\n"
             "[data]\ntype = csv\npath = tr.csv\ntest_path = te.csv\nval_split = 0.2\n%s"
             "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.02\n"
             "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
             "[layer.fc2]\ntype = dense\nunits = 3\n[logger.j]\ntype = jsonl\n", transform);
    write_file(name, m);
    write_csv("tr.csv", 600, 11);
    write_csv("te.csv", 300, 12);
}

Test(mix_training, an_mlp_learns_with_mixup)
{
    write_mlp("m.ini", "[transform.mix]\ntype = mixup\nalpha = 0.4\np = 1\n");
    cr_assert_eq(nntrain("train m.ini --threads 1"), 0, "%s", slurp("out.txt"));
    double acc = test_accuracy();
    cr_assert_gt(acc, 85.0, "test accuracy %.2f%% after 6 epochs with mixup", acc);
    double loss[256], tacc[256];
    int n = steps("runs/m/metrics.jsonl", loss, tacc, 256);
    cr_assert_eq(n, 6 * 15);
    /* accuracy against the class each mixed target weighs most: a number, and it rises */
    cr_assert(tacc[n - 1] > 0.6 && tacc[n - 1] <= 1, "training accuracy %g", tacc[n - 1]);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "val_loss"), "validation runs on plain batches: %s", out);
    free(out);
}

/* with p = 0 every target is one-hot: the run is the one without mixup, up to the float
 * rounding of the other loss path (probabilities instead of class ids) */
Test(mix_training, mixup_with_p_zero_trains_as_without_it)
{
    write_mlp("off.ini", "[transform.mix]\ntype = mixup\np = 0\n");
    cr_assert_eq(nntrain("train off.ini --threads 1"), 0, "%s", slurp("out.txt"));
    write_mlp("none.ini", "");
    cr_assert_eq(nntrain("train none.ini --threads 1"), 0, "%s", slurp("out.txt"));
    write_mlp("on.ini", "[transform.mix]\ntype = mixup\np = 1\n");
    cr_assert_eq(nntrain("train on.ini --threads 1"), 0, "%s", slurp("out.txt"));
    double a[128], b[128], c[128];
    int na = steps("runs/off/metrics.jsonl", a, NULL, 128);
    int nb = steps("runs/none/metrics.jsonl", b, NULL, 128);
    int nc = steps("runs/on/metrics.jsonl", c, NULL, 128);
    cr_assert(na == nb && nb == nc && na >= 20);
    double worst = 0, apart = 0;
    for (int i = 0; i < 20; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]) / b[i]);
        apart = fmax(apart, fabs(c[i] - b[i]) / b[i]);
    }
    cr_assert_lt(worst, 1e-5, "p = 0 differs from no mixup by %g", worst);
    cr_assert_gt(apart, 1e-2, "p = 1 must change the losses (%g)", apart);
}

Test(mix_training, a_cnn_learns_with_cutmix)
{
    write_idx("tr-img.gz", "tr-lab", 600, 8, 1);
    write_idx("te-img.gz", "te-lab", 150, 8, 2);
    write_file("c.ini",
               "[train]\nepochs = 5\nbatch_size = 32\nseed = 2\n"
               "[data]\ntype = idx\ndir = .\ntrain_images = tr-img.gz\ntrain_labels = tr-lab\n"
               "test_images = te-img.gz\ntest_labels = te-lab\nclass_names = top,middle,bottom\n"
               "[transform.cut]\ntype = cutmix\nalpha = 1\np = 1\nlabel_smoothing = 0.05\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.01\n"
               "[layer.conv]\ntype = conv2d\nfilters = 4\nkernel = 3\npadding = 1\n"
               "activation = relu\n[layer.pool]\ntype = maxpool2d\nkernel = 2\n"
               "[layer.flat]\ntype = flatten\n[layer.fc]\ntype = dense\nunits = 3\n"
               "[logger.j]\ntype = jsonl\n");
    cr_assert_eq(nntrain("train c.ini --threads 1"), 0, "%s", slurp("out.txt"));
    double acc = test_accuracy();
    cr_assert_gt(acc, 90.0, "test accuracy %.2f%% after 5 epochs with cutmix", acc);
}

Test(mix_training, mixup_on_sim_matches_the_cpu_step_by_step)
{
    write_mlp("m.ini", "[transform.mix]\ntype = mixup\nalpha = 0.4\np = 0.7\n"
                       "label_smoothing = 0.1\n");
    cr_assert_eq(nntrain("train m.ini --run-dir cpu --threads 1 --set train.epochs=1"), 0, "%s",
                 slurp("out.txt"));
    cr_assert_eq(nntrain("train m.ini --run-dir sim --threads 1 --set train.epochs=1 "
                         "--device sim"), 0, "%s", slurp("out.txt"));
    double a[64], b[64], aa[64], ab[64];
    int na = steps("cpu/metrics.jsonl", a, aa, 64), nb = steps("sim/metrics.jsonl", b, ab, 64);
    cr_assert_eq(na, 15);
    cr_assert_eq(nb, na);
    for (int i = 0; i < na; i++) {
        cr_assert_lt(fabs(a[i] - b[i]), 1e-4 * fabs(a[i]), "step %d: cpu %.9g, sim %.9g", i, a[i],
                     b[i]);
        cr_assert_eq(aa[i], ab[i], "step %d: accuracy cpu %g, sim %g", i, aa[i], ab[i]);
    }
}
