/* test_dist.c: data-parallel training end to end: the binary under mpirun (oversubscribed:
 * 2 cores run 4 processes) against one process. N processes with the global batch train as
 * one process does (per-step losses, validation and test figures), with dropout and
 * synchronised batchnorm too; a run resumes on another number of processes; a killed, a
 * failing or a hung process ends every process with a message naming it; Ctrl-C on mpirun
 * stops all at one step with rank 0's checkpoint; diverged replicas are caught. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <time.h>

#include "trainer/cli_fixture.h"

static const char *mpirun_exe;

static void setup(void)
{
    cli_setup("dist");
    mpirun_exe = getenv("NNTEST_MPIRUN");
    cr_assert_not_null(mpirun_exe, "NNTEST_MPIRUN is not set (run through meson test)");
    /* CI runs as root, on 2 cores, maybe in a container without ptrace between processes */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("OMPI_MCA_pml", "ob1", 1);
    setenv("OMPI_MCA_btl", "self,vader", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
}

TestSuite(dist, .init = setup, .fini = cli_teardown, .timeout = 300);

/* the command line that starts `np` processes of `prog` in dir, with the environment the test
 * runs in passed on (mpirun forwards only its own variables unless told) */
static void launcher(char *buf, size_t cap, int np, const char *prog)
{
    static const char *const vars[] = {"NNTRAIN_PLUGIN_PATH", "OMP_NUM_THREADS",
                                       "OMP_WAIT_POLICY", "LSAN_OPTIONS", "UBSAN_OPTIONS"};
    size_t n = (size_t)snprintf(buf, cap, "cd %s && %s -np %d", dir, mpirun_exe, np);
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            n += (size_t)snprintf(buf + n, cap - n, " -x %s", vars[i]);
    /* the sanitizer build: Open MPI keeps ~120 kB per process until exit, much of it from
     * components it has unloaded by then, which no suppression can name without the slow
     * unwinder (that made this suite take 6 minutes). Leaks are left to test_self, which runs
     * the same data-parallel code in one process without MPI; memory errors are still caught
     * here. */
    if (getenv("ASAN_OPTIONS"))
        n += (size_t)snprintf(buf + n, cap - n, " -x 'ASAN_OPTIONS=%s:detect_leaks=0'",
                              getenv("ASAN_OPTIONS"));
    snprintf(buf + n, cap - n, " %s", prog);
}

/* `mpirun -np np nntrain ARGS` in dir, output in dir/out.txt; returns mpirun's exit status */
static int mpi(int np, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    size_t n;
    launcher(cmd, sizeof cmd, np, exe);
    n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " %s > out.txt 2>&1", args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *examples(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/examples", getenv("NNTRAIN_SOURCE_ROOT"));
    return p;
}

/* "test: loss L  accuracy A%" of the last run */
static void test_figures(double *loss, double *acc)
{
    char *out = slurp("out.txt");
    char *t = strstr(out, "test: loss");
    cr_assert_not_null(t, "%s", out);
    cr_assert_eq(sscanf(t, "test: loss %lf accuracy %lf%%", loss, acc), 2, "%s", t);
    free(out);
}

static void expect_output(const char *what)
{
    char *out = slurp("out.txt");
    cr_assert(out && strstr(out, what), "expected '%s' in:\n%s", what, out ? out : "");
    free(out);
}

/* the worst relative difference of two runs' per-step losses over the first n steps */
static double worst_step(const char *a_file, const char *b_file, int n)
{
    double a[256], b[256];
    int na = jsonl_records(a_file, "step", "loss", a, 256);
    int nb = jsonl_records(b_file, "step", "loss", b, 256);
    cr_assert_eq(na, nb, "%s has %d steps, %s %d", a_file, na, b_file, nb);
    cr_assert_geq(na, n);
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(a[i] - b[i]) / fabs(a[i]));
    return worst;
}

/* Fashion-MNIST's MLP on a prefix of the data: global batch 50, 1081 training samples (the
 * last batch has 31 rows; 1202 with val_split 0.1), 2 epochs, validation and test figures */
#define MLP_SET "--set train.epochs=2 --set train.batch_size=50 --set data.limit=1202 " \
    "--set data.val_split=0.1 --set data.test_limit=1000 --set logger.j.type=jsonl --threads 1"

Test(dist, two_and_four_processes_train_as_one_process_with_the_global_batch)
{
    const char *ex = examples();
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir one " MLP_SET, ex), 0,
                 "%s", slurp("out.txt"));
    double l1, a1, vl1[2], vlx[2];
    test_figures(&l1, &a1);
    cr_assert_eq(jsonl_records("one/metrics.jsonl", "epoch", "val_loss", vl1, 2), 2);
    for (int np = 2; np <= 4; np += 2) {
        char run[16], jl[32];
        snprintf(run, sizeof run, "np%d", np);
        snprintf(jl, sizeof jl, "np%d/metrics.jsonl", np);
        cr_assert_eq(mpi(np, "train %s/fashion_mnist_mlp.ini --run-dir %s " MLP_SET, ex, run),
                     0, "%s", slurp("out.txt"));
        char placed[64];
        snprintf(placed, sizeof placed, "data-parallel on %d processes (mpi", np);
        expect_output(placed);
        double w = worst_step("one/metrics.jsonl", jl, 44);
        cr_assert_lt(w, 1e-5, "%d processes: per-step losses differ from one process's by %g "
                     "relative", np, w);
        double l, a;
        test_figures(&l, &a);
        cr_assert_leq(fabs(a - a1), 0.2, "%d processes: test accuracy %.2f%%, one process "
                      "%.2f%%", np, a, a1);
        cr_assert_lt(fabs(l - l1) / l1, 1e-4, "test loss %g vs %g", l, l1);
        cr_assert_eq(jsonl_records(jl, "epoch", "val_loss", vlx, 2), 2);
        for (int e = 0; e < 2; e++)
            cr_assert_lt(fabs(vlx[e] - vl1[e]) / vl1[e], 1e-5, "epoch %d val_loss %g vs %g", e,
                         vlx[e], vl1[e]);
        /* only rank 0 writes the run directory: one set of logs, not np */
        char *j = slurp(jl);
        cr_assert_eq(strstr(j, "\"kind\":\"step\"") ? 1 : 0, 1);
        free(j);
    }
}

/* a loss that sums its rows: the processes' sums add up, in the gradient (weighing them by
 * rows gave 1/N of the batch's), in the step's loss and in validation and test losses */
Test(dist, a_summing_loss_trains_as_one_process)
{
    const char *ex = examples();
#define SUM_SET "--set train.epochs=1 --set train.batch_size=50 --set data.limit=300 " \
    "--set data.val_split=0.2 --set data.test_limit=200 --set loss.reduction=sum " \
    "--set optimizer.lr=0.002 --set logger.j.type=jsonl --threads 1"
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir one " SUM_SET, ex), 0, "%s",
                 slurp("out.txt"));
    double l1, a1, l2, a2, v1, v2;
    test_figures(&l1, &a1);
    cr_assert_eq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir two " SUM_SET, ex), 0, "%s",
                 slurp("out.txt"));
#undef SUM_SET
    test_figures(&l2, &a2);
    double w = worst_step("one/metrics.jsonl", "two/metrics.jsonl", 4);
    cr_assert_lt(w, 1e-5, "per-step losses differ from one process's by %g relative", w);
    double d = max_rel_diff("one/last.safetensors", "two/last.safetensors", NULL);
    cr_assert_lt(d, 1e-4, "weights differ by %g relative", d);
    cr_assert_eq(jsonl_records("one/metrics.jsonl", "epoch", "val_loss", &v1, 1), 1);
    cr_assert_eq(jsonl_records("two/metrics.jsonl", "epoch", "val_loss", &v2, 1), 1);
    cr_assert_lt(fabs(v1 - v2) / v1, 1e-5, "val_loss %g against %g", v2, v1);
    cr_assert_lt(fabs(l1 - l2) / l1, 1e-4, "test loss %g against %g", l2, l1);
    cr_assert_eq(a1, a2);
}

static const char *bn_model =
    "[train]\nepochs = 1\nbatch_size = 50\nseed = 3\n"
    "[data]\ntype = idx\ndir = /usr/share/datasets/fashion-mnist\nlimit = 1202\n"
    "test_limit = 500\n"
    "[optimizer]\ntype = sgd\nlr = 0.05\nmomentum = 0.9\n"
    "[layer.flatten]\ntype = flatten\n[layer.fc1]\ntype = dense\nunits = 64\n"
    "[layer.bn]\ntype = batchnorm\nsync = true\n[layer.act]\ntype = relu\n"
    "[layer.drop]\ntype = dropout\np = 0.3\n[layer.fc2]\ntype = dense\nunits = 10\n"
    "[logger.j]\ntype = jsonl\n";

/* 1202 samples in batches of 50 end with 2: four processes get 1, 1, 0 and 0 of them */
Test(dist, dropout_and_synchronised_batchnorm_train_as_one_process)
{
    write_file("bn.ini", bn_model);
    cr_assert_eq(nntrain("train bn.ini --run-dir one --threads 1"), 0, "%s", slurp("out.txt"));
    double l1, a1, l, a;
    test_figures(&l1, &a1);
    cr_assert_eq(mpi(4, "train bn.ini --run-dir sync --threads 1"), 0, "%s", slurp("out.txt"));
    double w = worst_step("one/metrics.jsonl", "sync/metrics.jsonl", 25);
    cr_assert_lt(w, 1e-5, "synchronised batchnorm: per-step losses differ by %g", w);
    test_figures(&l, &a);
    cr_assert_lt(fabs(l - l1) / l1, 1e-4, "test loss after the last (partly empty) step: %g "
                 "vs %g", l, l1);
    /* per-process statistics (the default) are another function of the data; they need 2
     * rows per process, which 1202 samples in batches of 50 end without */
    cr_assert_eq(mpi(2, "train bn.ini --run-dir local --threads 1 --set layer.bn.sync=false "
                     "--set data.limit=1220"), 0, "%s", slurp("out.txt"));
    w = worst_step("one/metrics.jsonl", "local/metrics.jsonl", 25);
    cr_assert_gt(w, 1e-3, "per-process statistics should differ from the global batch's");
    test_figures(&l, &a);
    cr_assert_lt(l, 1.5, "per-process batchnorm trains too (test loss %g)", l);
}

Test(dist, a_run_of_four_processes_resumes_on_two_and_one_of_two_on_one)
{
    const char *ex = examples();
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir one " MLP_SET, ex), 0,
                 "%s", slurp("out.txt"));
    double l1, a1, l, a;
    test_figures(&l1, &a1);
    /* 4 processes train the first epoch, 2 the second */
    cr_assert_eq(mpi(4, "train %s/fashion_mnist_mlp.ini --run-dir x " MLP_SET
                     " --set train.epochs=1 --no-test", ex), 0, "%s", slurp("out.txt"));
    cr_assert_eq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir x " MLP_SET " --resume auto",
                     ex), 0, "%s", slurp("out.txt"));
    double w = worst_step("one/metrics.jsonl", "x/metrics.jsonl", 44);
    cr_assert_lt(w, 1e-5, "4 then 2 processes vs one: %g", w);
    test_figures(&l, &a);
    cr_assert_leq(fabs(a - a1), 0.2, "test accuracy %.2f%% vs %.2f%%", a, a1);
    /* 2 processes, then one without a launcher */
    cr_assert_eq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir y " MLP_SET
                     " --set train.epochs=1 --no-test", ex), 0, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir y " MLP_SET " --resume auto",
                         ex), 0, "%s", slurp("out.txt"));
    w = worst_step("one/metrics.jsonl", "y/metrics.jsonl", 44);
    cr_assert_lt(w, 1e-5, "2 processes then one vs one: %g", w);
    test_figures(&l, &a);
    cr_assert_leq(fabs(a - a1), 0.2, "test accuracy %.2f%% vs %.2f%%", a, a1);
}

/* a run started with --seed resumes under the launcher without it: rank 0 reads the seed from
 * the checkpoint and sends it, so every process continues the same run */
Test(dist, a_resume_without_seed_continues_with_the_checkpoints_seed_on_every_process)
{
    const char *ex = examples();
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir one --seed 5 " MLP_SET, ex),
                 0, "%s", slurp("out.txt"));
    cr_assert_eq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir x --seed 5 " MLP_SET
                     " --set train.epochs=1 --no-test", ex), 0, "%s", slurp("out.txt"));
    cr_assert_eq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir x " MLP_SET " --resume auto",
                     ex), 0, "%s", slurp("out.txt"));
    expect_output("nntrain: resuming with the checkpoint's seed 5");
    double w = worst_step("one/metrics.jsonl", "x/metrics.jsonl", 44);
    cr_assert_lt(w, 1e-5, "resumed without --seed vs one process with it: %g", w);
    /* rank 0 refuses a fresh run into it, and says so to the others in the same message */
    cr_assert_neq(mpi(2, "train %s/fashion_mnist_mlp.ini --run-dir x " MLP_SET, ex), 0);
    expect_output("or replace it with --overwrite");
    char *out = slurp("out.txt");
    cr_assert(!strstr(out, "nntrain: rank 1"), "rank 1 spoke too:\n%s", out);
    free(out);
}

/* A wrapper that each process runs: nntrain with the arguments, and `extra` appended on rank
 * 1; nntrain's pid goes to pid.RANK. keep = 0: the wrapper becomes nntrain (exec), so the
 * launcher sees nntrain's own end. keep = 1: the wrapper waits and writes nntrain's exit
 * status to rc.RANK; the launcher's TERM reaches nntrain through the process group. */
static void write_wrapper(const char *extra, int keep)
{
    char text[1024];
    if (keep)
        snprintf(text, sizeof text,
                 "#!/bin/sh\nr=$OMPI_COMM_WORLD_RANK\ntrap 'true' TERM\n"
                 "if [ \"$r\" = 1 ]; then \"$@\" %s & else \"$@\" & fi\nc=$!\n"
                 "echo $c > pid.$r\nwait $c; s=$?\n"
                 "while kill -0 $c 2>/dev/null; do wait $c; s=$?; done\n"
                 "echo $s > rc.$r\nexit $s\n", extra);
    else
        snprintf(text, sizeof text,
                 "#!/bin/sh\necho $$ > pid.$OMPI_COMM_WORLD_RANK\n"
                 "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \"$@\" %s; fi\n"
                 "exec \"$@\"\n", extra);
    write_file("wrap.sh", text);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "chmod +x %s", path_in("wrap.sh"));
    cr_assert_eq(system(cmd), 0);
}

/* starts mpirun -np 2 wrap.sh nntrain ARGS in the background */
static pid_t start_wrapped(const char *args)
{
    char cmd[8192], prog[4096];
    snprintf(prog, sizeof prog, "./wrap.sh %s %s > out.txt 2>&1", exe, args);
    launcher(cmd, sizeof cmd, 2, prog);
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return p;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* waits until training has written its first checkpoint (so every process is past set-up) */
static void wait_training(const char *ckpt)
{
    double t0 = now_s();
    while (access(path_in(ckpt), F_OK) != 0) {
        cr_assert_lt(now_s() - t0, 120, "training never wrote %s:\n%s", ckpt,
                     slurp("out.txt"));
        usleep(50000);
    }
}

/* mpirun's pid: the child of the shell started by start_wrapped, or that shell itself when
 * it exec'ed mpirun */
static pid_t launcher_pid(pid_t sh)
{
    char path[300], buf[512];
    for (int tries = 0; tries < 100; tries++) {
        DIR *d = opendir("/proc");
        cr_assert_not_null(d);
        struct dirent *e;
        pid_t found = -1;
        while (found < 0 && (e = readdir(d))) {
            pid_t q = (pid_t)atoi(e->d_name);
            if (q <= 0)
                continue;
            snprintf(path, sizeof path, "/proc/%d/stat", (int)q);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *close = strrchr(buf, ')');
            int ppid = 0;
            if (strstr(buf, "(mpirun)") && close && sscanf(close + 2, "%*c %d", &ppid) == 1 &&
                (ppid == sh || q == sh))
                found = q;
        }
        closedir(d);
        if (found > 0)
            return found;
        usleep(20000);
    }
    cr_assert_fail("no mpirun below pid %d", (int)sh);
    return -1;
}

static int wait_exit(pid_t p, double *seconds)
{
    double t0 = now_s();
    int st;
    cr_assert_eq(waitpid(p, &st, 0), p);
    *seconds = now_s() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int read_int(const char *name)
{
    char *t = slurp(name);
    if (!t) { /* the message from a copy: a failed assertion never frees what it was given */
        static char out[16384];
        char *o = slurp("out.txt");
        snprintf(out, sizeof out, "%s", o ? o : "(no out.txt)");
        free(o);
        cr_assert_fail("no %s:\n%s", name, out);
    }
    int v = atoi(t);
    free(t);
    return v;
}

#define LONG_RUN "train %s/fashion_mnist_mlp.ini --run-dir long --set train.epochs=1000 " \
    "--set data.limit=1202 --threads 1 --no-test"

/* starts LONG_RUN with the extra options under the wrapper (keep: see write_wrapper) and
 * returns the launcher's shell once every process is training */
static pid_t start_long(const char *extra, int keep)
{
    write_wrapper("", keep);
    char args[2048];
    snprintf(args, sizeof args, LONG_RUN " %s", examples(), extra);
    pid_t p = start_wrapped(args);
    wait_training("long/last.safetensors");
    return p;
}

Test(dist, a_killed_process_ends_every_process_with_a_message)
{
    pid_t p = start_long("", 0);
    cr_assert_eq(kill(read_int("pid.1"), SIGKILL), 0);
    double s;
    int rc = wait_exit(p, &s);
    cr_assert_neq(rc, 0);
    cr_assert_lt(s, 20, "the job took %.1f s to end after a process was killed", s);
    expect_output("rank 1");
    expect_output("signal 9");
}

Test(dist, a_hung_process_ends_every_process_after_the_timeout)
{
    pid_t p = start_long("--dist-timeout 2", 0);
    int victim = read_int("pid.1");
    cr_assert_eq(kill(victim, SIGSTOP), 0);
    double s;
    int rc = wait_exit(p, &s);
    kill(victim, SIGKILL); /* in case the launcher left it stopped */
    cr_assert_eq(rc, 1, "%s", slurp("out.txt"));
    cr_assert_lt(s, 30, "the job took %.1f s to end after a process hung", s);
    expect_output("nntrain: rank 0 of 2: summing gradients: no answer from the other "
                  "processes after 2 s");
}

Test(dist, a_failing_process_ends_every_process_naming_itself_and_why)
{
    /* 64 rows in order (no shuffle), batches of 8: row 13 is in the second batch's second
     * half, rank 1's slice, and overflows float */
    FILE *f = fopen(path_in("d.csv"), "w");
    cr_assert_not_null(f);
    fputs("a,b,label\n", f);
    for (int i = 0; i < 64; i++)
        fprintf(f, "%s,%.3f,c%d\n", i == 13 ? "1e39" : "0.5", 0.01 * i, i % 3);
    fclose(f);
    write_file("nf.ini", "[train]\nepochs = 2\nbatch_size = 8\nshuffle = false\n"
                         "[data]\ntype = csv\npath = d.csv\nlabel = label\n"
                         "[optimizer]\ntype = sgd\nlr = 0.1\n"
                         "[layer.fc1]\ntype = dense\nunits = 8\n");
    cr_assert_eq(mpi(2, "train nf.ini --run-dir nf --threads 1 --no-test"), 4 /* non-finite */,
                 "%s", slurp("out.txt"));
    expect_output("nntrain: rank 1 of 2: the loss became non-finite at epoch 1, step 2: the "
                  "input batch holds a non-finite value");
    expect_output("(ending every process of the run)");
}

Test(dist, ctrl_c_on_mpirun_stops_every_process_at_one_step_with_a_checkpoint)
{
    /* mpirun answers Ctrl-C with SIGCONT, then SIGTERM to every process a timeout later and
     * SIGKILL another timeout later (1 s by default): a loaded CI machine gets more
     * (docs/distributed.md). In the full suite, 4 s were twice too few for rank 0 to finish its
     * step and write the checkpoint (which ends with fsync) on a loaded 2-core host. */
    setenv("OMPI_MCA_odls_base_sigkill_timeout", "10", 1);
    pid_t p = start_long("--set logger.j.type=jsonl", 1);
    cr_assert_eq(kill(launcher_pid(p), SIGINT), 0);
    double s;
    wait_exit(p, &s);
    cr_assert_lt(s, 60, "%.1f s to stop", s);
    cr_assert_eq(read_int("rc.0"), 143, "rank 0:\n%s", slurp("out.txt"));
    cr_assert_eq(read_int("rc.1"), 143, "rank 1:\n%s", slurp("out.txt"));
    expect_output("nntrain: interrupted after");
    expect_output("nntrain: resume with");
    /* the checkpoint holds the step every process stopped at: resuming on one process goes on
     * from there, through the end of its epoch */
    char *out = slurp("out.txt");
    char *at = strstr(out, "interrupted after ");
    int epochs = atoi(at + strlen("interrupted after "));
    free(out);
    /* the run trains on while mpirun waits out its timeout: thousands of short steps */
    enum { CAP = 1 << 18 };
    double *steps = malloc(CAP * sizeof *steps);
    cr_assert_not_null(steps);
    int before = jsonl_records("long/metrics.jsonl", "step", "loss", steps, CAP);
    cr_assert_gt(before, 0);
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --run-dir long --set train.epochs=%d "
                         "--set data.limit=1202 --threads 1 --no-test --resume auto "
                         "--set logger.j.type=jsonl", examples(), epochs + 1), 0, "%s",
                 slurp("out.txt"));
    int after = jsonl_records("long/metrics.jsonl", "step", "loss", steps, CAP);
    free(steps);
    cr_assert_eq(after, (epochs + 1) * 10, "the resumed run ends its epoch: %d steps in all "
                 "(%d before)", after, before);
}

/* a signal to one process (a user's kill, a scheduler's) stops every process at the same
 * step: the next step's sums carry it to the others, and rank 0 writes the checkpoint */
Test(dist, sigterm_to_one_process_stops_every_process_with_a_checkpoint)
{
    /* a process left waiting for one that stopped alone fails after 20 s, not 300 */
    pid_t p = start_long("--dist-timeout 20", 1);
    cr_assert_eq(kill(read_int("pid.1"), SIGTERM), 0);
    double s;
    int rc = wait_exit(p, &s);
    cr_assert_lt(s, 60, "%.1f s to stop", s);
    cr_assert_eq(read_int("rc.0"), 143, "rank 0:\n%s", slurp("out.txt"));
    cr_assert_eq(read_int("rc.1"), 143, "rank 1:\n%s", slurp("out.txt"));
    cr_assert_eq(rc, 143, "mpirun:\n%s", slurp("out.txt"));
    expect_output("nntrain: interrupted after");
    expect_output("nntrain: resume with");
}

/* mpirun -np 2 wrap.sh nntrain train (the MLP + an nntest_drift layer) SETS, rank 1 with the
 * extra options (write_wrapper) and env (assignments) of its own: exit 1 with `want` */
static void diverge(const char *env, const char *extra, const char *sets, const char *want)
{
    char text[1024];
    snprintf(text, sizeof text, "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then "
             "exec env %s \"$@\" %s; fi\nexec \"$@\"\n", env, extra);
    write_file("wrap.sh", text);
    char prog[2048], cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && chmod +x wrap.sh && mkdir -p drift && cp %s/nntest_drift.so "
             "drift/ && cp %s/fashion_mnist_mlp.ini m.ini && printf '[layer.drift]\\ntype = "
             "nntest_drift\\n' >> m.ini", dir, getenv("NNTEST_COMM_DIR"), examples());
    cr_assert_eq(system(cmd), 0);
    snprintf(prog, sizeof prog, "./wrap.sh %s train m.ini --run-dir d --set data.limit=500 "
             "--set train.epochs=1 --threads 1 --plugin-dir drift %s > out.txt 2>&1", exe, sets);
    launcher(cmd, sizeof cmd, 2, prog);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", slurp("out.txt"));
    expect_output(want);
    /* one process says why; the one mpirun ends after it says nothing of its own (it said
     * "SIGTERM received: quitting", as if the run had been interrupted) */
    char *out = slurp("out.txt");
    cr_assert(!strstr(out, "received: quitting"), "%s", out);
    free(out);
}

Test(dist, replicas_that_differ_are_caught_naming_the_first_rank)
{
    /* a plugin that starts elsewhere on rank 1: other initial weights */
    diverge("NNTEST_DRIFT=start", "", "",
            "nntrain: at the start, rank 1 holds other parameters than rank 0");
    /* the same start, apart after the first update */
    diverge("NNTEST_DRIFT=step", "", "--set train.check_replicas=3",
            "before the update of step 3, the parameters of rank 1 differ from rank 0's");
}

/* another run on one process is refused before anything else is exchanged, naming the
 * first line that differs: a key, a --set, --seed, --resume, --no-test */
Test(dist, processes_given_another_run_are_refused_naming_the_difference)
{
    diverge("", "--set optimizer.lr=0.2", "",
            "rank 1: this process was given another run than rank 0: [optimizer]: 'lr = 0.2' "
            "here, 'lr = 0.1' on rank 0");
    diverge("", "--seed 7", "", "[command line]: 'seed = 7' here, 'seed = 0' on rank 0");
    diverge("", "--no-test", "",
            "[command line]: 'no_test = yes (--no-test)' here, 'no_test = no' on rank 0");
    diverge("", "--set train.batch_size=64", "", "[train]: 'batch_size = 64' here");
    cr_assert(!exists("d/last.safetensors"), "a refused run wrote a checkpoint");
}

/* a host whose copy at the same path holds other labels, as many samples as rank 0's: caught
 * by the data's fingerprint before any step (it trained on them and exited 0) */
Test(dist, a_process_reading_other_data_at_the_same_path_is_refused)
{
    const char *fm = "/usr/share/datasets/fashion-mnist";
    char cmd[4096];
    /* h0/data: the files; h1/data: the same, but the 3rd training label is another class */
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir -p h0/data h1/data && for f in %s/*; do ln -s $f h0/data/; "
             "ln -s $f h1/data/; done && rm h1/data/train-labels-idx1-ubyte.gz && "
             "gzip -dc %s/train-labels-idx1-ubyte.gz > l && b=$(od -An -tu1 -j10 -N1 l) && "
             "printf \"\\\\$(printf %%03o $(( (b + 1) %% 10 )))\" | "
             "dd of=l bs=1 seek=10 conv=notrunc 2>/dev/null && gzip -c l > "
             "h1/data/train-labels-idx1-ubyte.gz && "
             "sed 's|^dir = .*|dir = data|' %s/fashion_mnist_mlp.ini > h0/m.ini && "
             "cp h0/m.ini h1/m.ini && cmp -s h0/data/train-labels-idx1-ubyte.gz "
             "h1/data/train-labels-idx1-ubyte.gz; test $? = 1",
             dir, fm, fm, examples());
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    write_file("wrap.sh", "#!/bin/sh\ncd h$OMPI_COMM_WORLD_RANK && exec \"$@\"\n");
    char prog[2048];
    snprintf(prog, sizeof prog, "./wrap.sh %s train m.ini --run-dir ../d --set data.limit=500 "
             "--set train.epochs=1 --threads 1 > out.txt 2>&1", exe);
    snprintf(cmd, sizeof cmd, "chmod +x %s", path_in("wrap.sh"));
    cr_assert_eq(system(cmd), 0);
    launcher(cmd, sizeof cmd, 2, prog);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", slurp("out.txt"));
    expect_output("rank 1 sees other data than rank 0 (the number of samples, their targets or "
                  "values, or the statistics fitted on them differ)");
    cr_assert(!exists("d/last.safetensors"), "a refused run wrote a checkpoint");
}

Test(dist, communicators_are_listed_and_a_broken_one_is_refused)
{
    cr_assert_eq(nntrain("plugins --kind communicator"), 0, "%s", slurp("out.txt"));
    expect_output("communicator mpi");
    cr_assert_eq(nntrain("plugins check %s", getenv("NNTEST_COMM_DIR")), 3, "%s",
                 slurp("out.txt"));
    expect_output("communicator 'broken_comm': vtable slot 'allreduce' is missing");
    cr_assert_eq(nntrain("help train"), 0);
    expect_output("mpirun -np 4 nntrain train");
    cr_assert_eq(nntrain("train %s/fashion_mnist_mlp.ini --dist nccl", examples()), 1);
    expect_output("--dist nccl: ");
}
