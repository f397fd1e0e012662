/* test_checkpoint_logs.c: the logs reach at least as far as every checkpoint, mid-epoch ones
 * ([train] checkpoint_minutes) included: a run killed right after a checkpoint and resumed
 * from it has each step's row once, as an uninterrupted run does. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("checkpoint_logs");
    write_csv("train.csv", 2000, 1);
    write_file("m.ini", "[train]\nepochs = 2\nbatch_size = 1\nseed = 5\ncheckpoint_minutes = "
                        "0.0005\n[data]\ntype = csv\npath = train.csv\n"
                        "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.01\n"
                        "[layer.fc1]\ntype = dense\nunits = 8\nactivation = relu\n"
                        "[layer.fc2]\ntype = dense\nunits = 3\n[logger.csv]\ntype = csv\n");
}

TestSuite(checkpoint_logs, .init = setup, .fini = cli_teardown, .timeout = 240);

/* how many step rows of metrics.csv record global step g, for g in 1..n (counts[g]) */
static void step_rows(const char *csv_name, int *counts, int n)
{
    char *t = slurp(csv_name);
    cr_assert_not_null(t, "no %s", csv_name);
    memset(counts, 0, sizeof *counts * (size_t)(n + 1));
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "step,", 5) != 0)
            continue;
        /* kind,epoch,step,global_step,... */
        char *p = line;
        for (int c = 0; c < 3 && p; c++)
            p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        cr_assert_not_null(p, "%s", line);
        long g = strtol(p, NULL, 10);
        if (g >= 1 && g <= n)
            counts[g]++;
    }
    free(t);
}

Test(checkpoint_logs, a_kill_after_a_mid_epoch_checkpoint_loses_no_row)
{
    char sh[1200];
    snprintf(sh, sizeof sh, "cd %s && (%s train m.ini --no-test --quiet --threads 1 > out.txt "
             "2>&1 & pid=$!; while [ ! -f runs/m/last.safetensors ]; do sleep 0.005; done; "
             "kill -KILL $pid; wait $pid; true)", dir, exe);
    cr_assert_eq(system(sh), 0);
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("runs/m/last.safetensors"), &c, &err), NN_OK, "%s",
                 err.msg);
    int g = atoi(nn_checkpoint_meta(c, "global_step"));
    int in_epoch = atoi(nn_checkpoint_meta(c, "step_in_epoch"));
    nn_checkpoint_free(c);
    cr_assert(g > 0 && in_epoch > 0, "not a mid-epoch checkpoint: step %d, %d in its epoch", g,
              in_epoch);
    enum { N = 4000 };
    static int counts[N + 1];
    step_rows("runs/m/metrics.csv", counts, N);
    for (int s = 1; s <= g; s++)
        cr_assert_eq(counts[s], 1, "after the kill: step %d of the checkpoint's %d has %d rows",
                     s, g, counts[s]);
    cr_assert_eq(nntrain("train m.ini --no-test --quiet --threads 1 --resume auto"), 0, "%s",
                 slurp("out.txt"));
    step_rows("runs/m/metrics.csv", counts, N);
    for (int s = 1; s <= N; s++)
        cr_assert_eq(counts[s], 1, "after the resume: step %d has %d rows", s, counts[s]);
}
