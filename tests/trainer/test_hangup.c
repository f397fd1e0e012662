/* test_hangup.c: a run outlives what happens to its terminal: SIGHUP (the terminal closed)
 * checkpoints and exits 129 as SIGTERM does, and a closed stdout pipe (`| head -1`) stops the
 * console, not the run. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("hangup");
    write_csv("train.csv", 2000, 1);
    write_file("m.ini", "[train]\nepochs = 1000\nbatch_size = 8\nseed = 5\n"
                        "[data]\ntype = csv\npath = train.csv\n"
                        "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.01\n"
                        "[layer.fc1]\ntype = dense\nunits = 8\nactivation = relu\n"
                        "[layer.fc2]\ntype = dense\nunits = 3\n");
}

TestSuite(hangup, .init = setup, .fini = cli_teardown, .timeout = 240);

Test(hangup, sighup_writes_a_checkpoint_and_exits_129)
{
    char sh[1200];
    snprintf(sh, sizeof sh, "cd %s && (%s train m.ini --no-test --threads 1 > out.txt 2>&1 & "
             "pid=$!; while ! grep -q 'epoch 2/' out.txt; do sleep 0.02; done; kill -HUP $pid; "
             "wait $pid; echo $? > rc.txt)", dir, exe);
    cr_assert_eq(system(sh), 0);
    char *rc = slurp("rc.txt"), *out = slurp("out.txt");
    cr_assert_eq(atoi(rc), 129, "exit %s: %s", rc, out);
    cr_assert(strstr(out, "SIGHUP received: finishing this step and writing a checkpoint"), "%s",
              out);
    cr_assert(exists("runs/m/last.safetensors"), "no checkpoint: %s", out);
    free(rc);
    free(out);
}

Test(hangup, a_closed_stdout_pipe_stops_the_console_not_the_run)
{
    char sh[1200];
    snprintf(sh, sizeof sh, "cd %s && (%s train m.ini --no-test --threads 1 --set "
             "train.epochs=30 2> err.txt; echo $? > rc.txt) | head -1 > first.txt", dir, exe);
    cr_assert_eq(system(sh), 0);
    char *rc = slurp("rc.txt"), *err = slurp("err.txt");
    /* the run ends as planned; its printed result was lost, which is a failure to report */
    cr_assert_eq(atoi(rc), 1, "exit %s: %s", rc, err);
    cr_assert(strstr(err, "logger 'console' failed in event: cannot write to stdout: the "
                          "reader closed the pipe; progress output stops") &&
              strstr(err, "cannot write the output: Broken pipe"), "%s", err);
    nn_checkpoint *c;
    nn_error e = {0};
    cr_assert_eq(nn_checkpoint_read(path_in("runs/m/last.safetensors"), &c, &e), NN_OK, "%s",
                 e.msg);
    cr_assert_str_eq(nn_checkpoint_meta(c, "epoch"), "30", "the run did not finish");
    nn_checkpoint_free(c);
    free(rc);
    free(err);
}
