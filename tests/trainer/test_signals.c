/* test_signals.c: the signal storm (issue 10): dozens of training runs interrupted at random
 * moments — during start-up, mid-epoch, during validation, with a second Ctrl-C while a
 * checkpoint is being written, and during a resume's start-up — each must exit 130/143 and
 * leave a checkpoint that loads and resumes to completion. Plus the run-directory lock. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_fixture.h"

extern char **environ;

static void setup(void)
{
    cli_setup("signals");
    write_csv("train.csv", 1200, 1);
    write_csv("small.csv", 120, 3);
    write_csv("test.csv", 60, 2);
    /* steps dominate: an epoch of 26 steps, then a short validation */
    write_file("run.ini", "[train]\nepochs = 100000\nbatch_size = 32\nseed = 7\n"
               "checkpoint_every = 1\nprefetch = 2\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nval_split = 0.3\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = adam\nlr = 0.01\n"
               "[layer.fc1]\ntype = dense\nunits = 32\nactivation = relu\n"
               "[layer.drop]\ntype = dropout\np = 0.1\n"
               "[layer.fc2]\ntype = dense\nunits = 3\n[logger.csv]\ntype = csv\n");
    /* validation dominates: 2 training steps, then 1140 samples forward; no checkpoint
     * between epochs (their fsync would take the time) */
    write_file("val.ini", "[train]\nepochs = 100000\nbatch_size = 32\nseed = 7\n"
               "checkpoint_every = 0\n"
               "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\nval_split = 0.95\n"
               "stratify = false\n"
               "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.05\n"
               "[layer.fc1]\ntype = dense\nunits = 512\nactivation = relu\n"
               "[layer.fc2]\ntype = dense\nunits = 512\nactivation = relu\n"
               "[layer.fc3]\ntype = dense\nunits = 3\n");
}

TestSuite(signals, .init = setup, .fini = cli_teardown, .timeout = 900);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* starts `nntrain ARGS...` in dir, output to dir/log; returns the pid */
static pid_t spawn(const char *log, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, path_in(log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* exit status as a shell reports it; fails the test after `limit` seconds */
static int reap(pid_t pid, double limit, const char *log)
{
    double t0 = now();
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (now() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            cr_assert_fail("nntrain did not exit within %.0f s of the signal; log:\n%s", limit,
                           slurp(log));
        }
        sleep_s(0.002);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* waits until dir/name exists (the run has written a checkpoint) */
static void wait_for(const char *name, pid_t pid, const char *log)
{
    double t0 = now();
    while (!exists(name)) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            cr_assert_fail("nntrain ended before writing %s:\n%s", name, slurp(log));
        cr_assert_lt(now() - t0, 60.0, "no %s after 60 s:\n%s", name, slurp(log));
        sleep_s(0.003);
    }
}

typedef struct tally {
    int tried, clean, checkpoints, resumed, in_validation;
} tally;

static uint64_t rng_state;

static double uniform(void)
{
    return (double)(nn_splitmix64(&rng_state) >> 11) * 0x1p-53;
}

/* the checkpoint left behind must load and finish its epoch on resume */
static void check_resumes(const char *ini, const char *rd, tally *t)
{
    char ck[300], epochs[64], log[64];
    snprintf(ck, sizeof ck, "%s/last.safetensors", rd);
    if (!exists(ck))
        return;
    t->checkpoints++;
    nn_checkpoint *c;
    nn_error err = {0};
    cr_assert_eq(nn_checkpoint_read(path_in(ck), &c, &err), NN_OK, "%s", err.msg);
    long long ep = atoll(nn_checkpoint_meta(c, "epoch"));
    long long step = atoll(nn_checkpoint_meta(c, "step_in_epoch"));
    if (step > 0 && strcmp(ini, "val.ini") == 0 && step == 2)
        t->in_validation++; /* every step of the epoch done: stopped inside validation */
    nn_checkpoint_free(c);
    snprintf(epochs, sizeof epochs, "train.epochs=%lld", ep + 1);
    snprintf(log, sizeof log, "%s.resume.log", rd);
    const char *args[] = {"train", ini, "--run-dir", rd, "--resume", "auto", "--no-test",
                          "--quiet", "--set", epochs, NULL};
    pid_t pid = spawn(log, args);
    int rc = reap(pid, 120, log);
    cr_assert_eq(rc, 0, "resuming %s (epoch %lld, step %lld) failed (%d):\n%s", ck, ep, step, rc,
                 slurp(log));
    t->resumed++;
}

enum { STARTUP, MID_RUN, SECOND_DURING_WRITE, VALIDATION, RESUME_STARTUP, N_KINDS };

static void one_run(int k, int kind, tally *t)
{
    static const char *const kinds[] = {"start-up", "mid-run", "second signal in a write",
                                        "validation", "resume start-up"};
    char rd[32], log[48];
    snprintf(rd, sizeof rd, "r%d", k);
    snprintf(log, sizeof log, "r%d.log", k);
    const char *ini = kind == VALIDATION ? "val.ini" : "run.ini";
    int sig = uniform() < 0.5 ? SIGINT : SIGTERM;
    if (kind == RESUME_STARTUP) {
        /* a finished first epoch to resume from */
        const char *first[] = {"train", ini, "--run-dir", rd, "--no-test", "--quiet",
                               "--set", "train.epochs=1", NULL};
        pid_t p = spawn(log, first);
        cr_assert_eq(reap(p, 120, log), 0, "%s", slurp(log));
    }
    const char *resume[] = {"train", ini, "--run-dir", rd, "--resume", "auto", "--no-test",
                            "--quiet", "--set", "train.epochs=100000", NULL};
    const char *fresh[] = {"train", ini, "--run-dir", rd, "--no-test", "--quiet", NULL};
    pid_t pid = spawn(log, kind == RESUME_STARTUP ? resume : fresh);
    t->tried++;
    char ck[64];
    snprintf(ck, sizeof ck, "%s/last.safetensors", rd);
    switch (kind) {
    case STARTUP:
    case RESUME_STARTUP:
        sleep_s(0.06 * uniform());
        break;
    case MID_RUN:
    case SECOND_DURING_WRITE:
        wait_for(ck, pid, log);
        sleep_s(0.2 * uniform());
        break;
    case VALIDATION: {
        char lock[64];
        snprintf(lock, sizeof lock, "%s/.lock", rd);
        wait_for(lock, pid, log);
        sleep_s(0.3 + 0.5 * uniform());
        break;
    }
    }
    kill(pid, sig);
    if (kind == SECOND_DURING_WRITE) {
        sleep_s(0.004 * uniform()); /* checkpoints are written every epoch of ~26 steps */
        kill(pid, SIGINT);
    }
    int rc = reap(pid, 60, log);
    int second = kind == SECOND_DURING_WRITE;
    cr_assert(rc == 128 + sig || (second && rc == 128 + SIGINT),
              "run %d (%s, %s): exit %d, expected %d:\n%s", k, kinds[kind],
              sig == SIGINT ? "SIGINT" : "SIGTERM", rc, 128 + sig, slurp(log));
    char *text = slurp(log);
    cr_assert(!strstr(text, "Sanitizer") && !strstr(text, "corrupted") &&
              !strstr(text, "free()"), "run %d (%s): %s", k, kinds[kind], text);
    free(text);
    t->clean++;
    if (kind != STARTUP || exists(ck))
        check_resumes(ini, rd, t);
}

Test(signals, a_storm_of_interruptions_always_ends_cleanly_with_a_checkpoint_that_resumes)
{
    rng_state = (uint64_t)time(NULL);
    cr_log_info("storm seed %llu", (unsigned long long)rng_state);
    tally t = {0};
    int per_kind[N_KINDS] = {10, 14, 14, 10, 8}; /* 56 interrupted runs */
    int k = 0;
    for (int kind = 0; kind < N_KINDS; kind++)
        for (int i = 0; i < per_kind[kind]; i++)
            one_run(k++, kind, &t);
    FILE *f = fopen(path_in("../nntrain-signal-storm.txt"), "w");
    if (f) {
        fprintf(f, "interrupted runs %d, clean exits %d, checkpoints %d, resumed %d, "
                "stopped inside validation %d\n", t.tried, t.clean, t.checkpoints, t.resumed,
                t.in_validation);
        fclose(f);
    }
    cr_log_info("interrupted runs %d, clean exits %d, checkpoints %d, resumed %d, inside "
                "validation %d", t.tried, t.clean, t.checkpoints, t.resumed, t.in_validation);
    cr_assert_eq(t.clean, t.tried);
    cr_assert_eq(t.resumed, t.checkpoints);
    cr_assert_geq(t.tried, 50);
    cr_assert_gt(t.in_validation, 0, "no run was stopped inside validation");
}

/* an interrupted cv says how far it got and how to go on, and exits as train does */
Test(signals, an_interrupted_cv_says_how_far_it_got)
{
    const char *args[] = {"cv", "run.ini", "--run-dir", "cvr", "--folds", "2", "--quiet", NULL};
    pid_t p = spawn("cv.log", args);
    wait_for("cvr/fold-1/last.safetensors", p, "cv.log");
    cr_assert_eq(kill(p, SIGINT), 0);
    cr_assert_eq(reap(p, 60, "cv.log"), 130);
    char *out = slurp("cv.log");
    cr_assert(strstr(out, "nntrain: cv interrupted in fold 1 of 2; 0 folds completed; continue "
                          "with the same command and --resume"), "%s", out);
    cr_assert_null(strstr(out, "folds: val_accuracy"), "%s", out);
    free(out);
}

/* runs do not nest: a train into a cv's fold while the cv trains it, or into a directory
 * holding a live run, is refused; eval of a live run's checkpoint leaves its logs alone */
Test(signals, run_directories_do_not_nest_and_eval_leaves_a_live_runs_logs_alone)
{
    const char *args[] = {"cv", "run.ini", "--run-dir", "cvn", "--folds", "2", "--quiet", NULL};
    pid_t p = spawn("cv.log", args);
    wait_for("cvn/fold-1/last.safetensors", p, "cv.log");
    char want[64];
    snprintf(want, sizeof want, "which pid %d writes", (int)p);
    cr_assert_eq(nntrain("train run.ini --run-dir cvn/fold-1 --overwrite --no-test "
                         "--set train.epochs=1"), 1);
    char *out = slurp("out.txt");
    cr_assert(strstr(out, "run directory cvn/fold-1 is inside") && strstr(out, "/cvn, ") &&
              strstr(out, want), "%s", out);
    free(out);
    /* a directory the refused run made for itself goes with it */
    cr_assert_eq(nntrain("train run.ini --run-dir cvn/mine --no-test"), 1);
    struct stat st;
    cr_assert(stat("cvn/mine", &st) != 0 && errno == ENOENT, "%s", slurp("out.txt"));
    cr_assert_eq(nntrain("train run.ini --run-dir . --no-test --set train.epochs=1"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "run directory . holds") && strstr(out, "/cvn") && strstr(out, want),
              "%s", out);
    free(out);
    cr_assert_eq(nntrain("eval run.ini --checkpoint cvn/fold-1/last.safetensors"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("out.txt");
    cr_assert(strstr(out, "this evaluation is not added to its logs"), "%s", out);
    free(out);
    char *after = slurp("cvn/fold-1/metrics.csv");
    cr_assert_null(strstr(after, "\neval,"), "eval wrote into a live run's log");
    free(after);
    cr_assert_eq(kill(p, SIGINT), 0);
    cr_assert_eq(reap(p, 60, "cv.log"), 130);
    /* once it ended, both are allowed */
    cr_assert_eq(nntrain("eval run.ini --checkpoint cvn/fold-1/last.safetensors"), 0, "%s",
                 slurp("out.txt"));
    out = slurp("cvn/fold-1/metrics.csv");
    cr_assert(strstr(out, "\neval,"), "%s", out);
    free(out);
}

Test(signals, a_run_directory_has_one_writer_and_is_not_overwritten)
{
    const char *first[] = {"train", "run.ini", "--run-dir", "rd", "--no-test", "--quiet", NULL};
    pid_t a = spawn("a.log", first);
    wait_for("rd/last.safetensors", a, "a.log");
    /* a second process into the same directory: refused, naming the holder */
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --resume auto"), 1);
    char *out = slurp("out.txt");
    char want[64];
    snprintf(want, sizeof want, "in use by pid %d", (int)a);
    cr_assert(strstr(out, "run directory rd is in use") && strstr(out, want), "%s", out);
    free(out);
    cr_assert_eq(nntrain("cv run.ini --run-dir rd --folds 2"), 1);
    /* the kernel releases the lock of a killed holder */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    /* a fresh run over a run's checkpoints is refused unless asked */
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --set train.epochs=1"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "already holds a run") && strstr(out, "--resume auto") &&
              strstr(out, "--overwrite"), "%s", out);
    free(out);
    /* a temp file of a dead writer goes at the next start; a live pid's stays */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char stale[64], live[64];
    snprintf(stale, sizeof stale, "rd/last.safetensors.tmp.%d", (int)dead);
    snprintf(live, sizeof live, "rd/best.safetensors.tmp.%d", (int)getppid());
    write_file(stale, "half");
    write_file(live, "writing");
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --overwrite --set "
                         "train.epochs=1"), 0, "%s", slurp("out.txt"));
    cr_assert(!exists(stale), "the stale temp file %s is still there", stale);
    cr_assert(exists(live));
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --resume auto --set "
                         "train.epochs=2"), 0, "%s", slurp("out.txt"));
    /* a run whose last.safetensors is gone still holds its best weights: neither a fresh run
     * nor --resume auto (which would start from scratch) writes over them */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s %s", path_in("rd/best.safetensors"), path_in("best.copy"));
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(unlink(path_in("rd/last.safetensors")), 0);
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --set train.epochs=1"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "already holds a run (rd/best.safetensors)"), "%s", out);
    free(out);
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --resume auto"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "holds rd/best.safetensors but no last.safetensors") &&
              strstr(out, "--resume rd/best.safetensors") && strstr(out, "--overwrite"), "%s",
              out);
    free(out);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", path_in("rd/best.safetensors"),
             path_in("best.copy"));
    cr_assert_eq(system(cmd), 0, "best.safetensors changed");
    cr_assert_eq(nntrain("train run.ini --run-dir rd --no-test --resume rd/best.safetensors "
                         "--set train.epochs=3"), 0, "%s", slurp("out.txt"));
    /* a run name is one directory name */
    cr_assert_eq(nntrain("train run.ini --no-test --set train.name=../../escape"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--set: [train] name = '../../escape'") &&
              strstr(out, "one directory name"), "%s", out);
    free(out);
    /* a --set key is placed as one, not at a line 0 of the model file */
    cr_assert_eq(nntrain("train run.ini --no-test --set train.monitor=bogus"), 1);
    out = slurp("out.txt");
    cr_assert(strstr(out, "--set: [train] monitor = 'bogus': expected one of") &&
              !strstr(out, ":0:"), "%s", out);
    free(out);
    cr_assert(!exists("../escape"));
}

/* another process checking whether a run writes a directory (predict --output into it, eval
 * of its checkpoint) holds the lock for an instant: a run starting then is not refused */
Test(signals, a_run_starting_while_another_process_checks_its_directory_is_not_refused)
{
    cr_assert_eq(mkdir(path_in("rp"), 0755), 0);
    write_file("rp/.lock", "");
    pid_t checker = fork();
    cr_assert_neq(checker, -1);
    if (checker == 0) {
        const struct timespec held = {0, 1000000}, free_for = {0, 300000};
        for (;;) { /* a check every 1.3 ms, as many commands at once would make */
            int fd = open(path_in("rp/.lock"), O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) == 0)
                nanosleep(&held, NULL);
            if (fd >= 0)
                close(fd);
            nanosleep(&free_for, NULL);
        }
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(nntrain("train run.ini --run-dir rp --no-test --overwrite --set "
                             "train.epochs=1 --set train.checkpoint_every=0"), 0,
                     "start %d: %s", i, slurp("out.txt"));
    kill(checker, SIGKILL);
    waitpid(checker, NULL, 0);
}
