/* test_self.c: the data-parallel machinery in one process, without MPI: `--dist self` (the
 * fixture nntest_comm_self, a world of one) runs buckets, step agreements, metric sums, the
 * checkpoint rank 0 sends, and replica checks, and must train exactly as a run without a
 * communicator (the same weights, so the same test figures to the last digit). Here the
 * sanitizers see all of that code, leaks included (under mpirun they cannot tell Open MPI's
 * memory from nntrain's). */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>

#include "trainer/cli_fixture.h"

static void setup(void)
{
    cli_setup("dist-self");
}

TestSuite(self, .init = setup, .fini = cli_teardown, .timeout = 300);

#define SETS "--set data.limit=700 --set data.val_split=0.1 --set data.test_limit=300 " \
    "--set train.batch_size=50 --set logger.j.type=jsonl --threads 1"

static void same_steps(const char *a, const char *b, int n)
{
    double x[64], y[64];
    cr_assert_eq(jsonl_records(a, "step", "loss", x, 64), n);
    cr_assert_eq(jsonl_records(b, "step", "loss", y, 64), n);
    /* the logged loss of a data-parallel step is (loss x rows) / rows: the last bit may differ */
    for (int i = 0; i < n; i++)
        cr_assert_leq(fabs(x[i] - y[i]), 1e-15 * fabs(x[i]), "step %d: %.17g without a "
                      "communicator, %.17g with", i, x[i], y[i]);
}

Test(self, a_world_of_one_trains_exactly_as_a_run_without_a_communicator)
{
    const char *src = getenv("NNTRAIN_SOURCE_ROOT"), *fix = getenv("NNTEST_COMM_DIR");
    cr_assert(src && fix);
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir plain "
                         "--set train.epochs=2 " SETS, src), 0, "%s", slurp("out.txt"));
    char *plain = slurp("out.txt");
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir self "
                         "--set train.epochs=2 --set train.check_replicas=2 " SETS
                         " --dist self --plugin-dir %s", src, fix), 0, "%s", slurp("out.txt"));
    char *self = slurp("out.txt");
    cr_assert(strstr(self, "data-parallel on 1 process (self)"), "%s", self);
    same_steps("plain/metrics.jsonl", "self/metrics.jsonl", 26);
    /* the same test figures, to the last digit printed */
    char *tp = strstr(plain, "test: "), *ts = strstr(self, "test: ");
    cr_assert(tp && ts);
    cr_assert_eq(strncmp(tp, ts, strcspn(tp, "\n")), 0, "%s\n%s", tp, ts);
    free(plain);
    free(self);
    /* a resume reads the checkpoint through rank 0's broadcast */
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir r "
                         "--set train.epochs=1 " SETS " --dist self --plugin-dir %s --no-test",
                         src, fix), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir r "
                         "--set train.epochs=2 " SETS " --dist self --plugin-dir %s "
                         "--resume auto", src, fix), 0, "%s", slurp("out.txt"));
    same_steps("plain/metrics.jsonl", "r/metrics.jsonl", 26);
}

Test(self, a_checkpoint_that_cannot_be_read_is_reported_once)
{
    const char *src = getenv("NNTRAIN_SOURCE_ROOT"), *fix = getenv("NNTEST_COMM_DIR");
    write_file("bad.safetensors", "not a checkpoint");
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir b " SETS
                         " --dist self --plugin-dir %s --resume %s", src, fix,
                         path_in("bad.safetensors")), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "bad.safetensors"), "%s", out);
    cr_assert_null(strstr(strstr(out, "bad.safetensors") + 1, "nntrain:"), "one message:\n%s",
                   out);
    free(out);
}

/* train's set-up now agrees across processes before it reports: the exit codes stay those of
 * one process */
Test(self, a_model_file_that_does_not_load_is_still_a_usage_error)
{
    cr_assert_eq(nntrain("train %s", path_in("missing.ini")), 2);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "missing.ini"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train %s --dist self --plugin-dir %s", path_in("missing.ini"),
                         getenv("NNTEST_COMM_DIR")), 2);
}

/* buckets are summed as backward ends, once per step: accumulating micro-batches would sum
 * partial gradients, so the combination is refused before any data is read */
Test(self, gradient_accumulation_is_refused_in_data_parallel_runs)
{
    const char *src = getenv("NNTRAIN_SOURCE_ROOT"), *fix = getenv("NNTEST_COMM_DIR");
    cr_assert_eq(nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir acc " SETS
                         " --set train.accumulate=4 --dist self --plugin-dir %s", src, fix),
                 1, "%s", slurp("out.txt"));
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "[train] accumulate = 4: gradient accumulation is not available in "
                          "data-parallel runs"), "%s", out);
    cr_assert_null(strstr(out, "epoch 1"), "%s", out);
    free(out);
}

/* A signal that lands right after a step's agreement (the fixture sends SIGTERM as its Nth
 * collective completes) must wait for the next agreement: a process of a real world that
 * stopped at once would stop a step before the others, which would wait in that step's sums
 * until mpirun killed them. Four consecutive collectives cover each place in a step. */
Test(self, a_signal_after_a_steps_agreement_stops_at_the_next_agreement)
{
    const char *src = getenv("NNTRAIN_SOURCE_ROOT"), *fix = getenv("NNTEST_COMM_DIR");
    for (int n = 21; n <= 24; n++) {
        char after[16];
        snprintf(after, sizeof after, "%d", n);
        setenv("NNTEST_SELF_SIGNAL_AFTER", after, 1);
        int rc = nntrain("train %s/examples/fashion_mnist_mlp.ini --run-dir s%d " SETS
                         " --no-test --dist self --plugin-dir %s", src, n, fix);
        unsetenv("NNTEST_SELF_SIGNAL_AFTER");
        char *out = slurp("out.txt");
        cr_assert_eq(rc, 128 + SIGTERM, "signal after collective %d:\n%s", n, out);
        cr_assert(strstr(out, "nntrain: interrupted after 0 completed epochs"), "%s", out);
        const char *said = strstr(out, "self: ");
        cr_assert(said, "%s", out);
        cr_assert_gt(atol(said + strlen("self: ")), 0, "signal after collective %d: the run "
                     "stopped without an agreement that carried it:\n%s", n, out);
        free(out);
    }
}
