/* bench_train.c: one training run of a model file through the real trainer (nn_train_run, as
 * `nntrain train` runs it), measured the way bench/compare.py reports nntrain against PyTorch:
 * samples/s of every epoch's training loop, test accuracy, time from process start to the end
 * of the first step, the first epoch against the best later one, and in the last epoch's steady
 * state the heap allocations (nntrain's own apart from oneDNN's) and page faults per step, over
 * a window of --count-steps steps (20): the counter unwinds the stack of each allocation to
 * tell oneDNN's from ours, and over a whole epoch (oneDNN allocates 60-120 times a step) that
 * slowed the MLP's last epoch by a fifth, which then never was its best.
 * It prints one RESULT line. A benchmark: it never judges the figures.
 * Usage: bench_train MODEL.ini [--threads N] [--set S.K=V]... [--plugin-dir D]... [--skip-steps K]
 *        [--count-steps K] [--run-dir D] [--tag T] */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "config.h"
#include "nntrain/logger.h"
#include "registry.h"
#include "trainer.h"

#define MAX_EPOCHS 64

/* written by nnbench_event() on the trainer's loop thread and by on_step() on the training
 * thread (which keeps to first_step_s, the window's fields and cpu_s), read after
 * nn_train_run returns */
static struct {
    int64_t epochs, planned, skip, count, steps;
    double first_step_s;
    double begin_elapsed[MAX_EPOCHS], epoch_s[MAX_EPOCHS], epoch_sps[MAX_EPOCHS];
    _Atomic double cpu0[MAX_EPOCHS];
    double cpu_s[MAX_EPOCHS];
    int counting;
    int64_t win_steps;
    long faults0, faults, total, exempt;
    char site[200];
} g;

static const nn_alloc_counter *counter;

/* seconds since this process was started, by the same /proc clock the PyTorch script reads */
static double process_age(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    for (int field = 2; p && *p; p++) /* field 22 (starttime) counts from field 3 after ')' */
        if (*p == ' ' && ++field == 22) {
            start = strtoull(p + 1, NULL, 10);
            break;
        }
    double up = 0;
    if ((f = fopen("/proc/uptime", "r"))) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    return up - (double)start / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long faults_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt + u.ru_majflt;
}

/* called by the nnbench_probe logger for every event. Steps' events come in bunches (the
 * event loop is woken for them only now and then), so what needs the moment a step ends is
 * done in on_step() instead. */
__attribute__((visibility("default"))) void nnbench_event(const nn_event *ev)
{
    int64_t e = ev->epoch;
    if (e < 0 || e >= MAX_EPOCHS)
        return;
    if (ev->kind == NN_EV_EPOCH_BEGIN) {
        g.begin_elapsed[e] = ev->elapsed_s;
        g.cpu0[e] = cpu_now();
        return;
    }
    if (ev->kind == NN_EV_BATCH_END && ev->step == ev->steps_per_epoch - 1) {
        g.epoch_s[e] = ev->elapsed_s - g.begin_elapsed[e];
        g.epoch_sps[e] = ev->samples_per_s;
        if (e + 1 > g.epochs)
            g.epochs = e + 1;
    }
}

/* on the training thread, right after each step */
static void on_step(void *ctx, int64_t e, int64_t step, int64_t steps)
{
    (void)ctx;
    g.steps++;
    if (g.first_step_s == 0)
        g.first_step_s = process_age();
    if (e < 0 || e >= MAX_EPOCHS)
        return;
    int64_t last = steps - 1;
    int64_t end = g.skip + g.count < last ? g.skip + g.count : last; /* window end */
    /* the steady state: the last epoch past its first steps, up to its last (validation
     * follows it) */
    if (e == g.planned - 1 && last > g.skip) {
        /* a warm-up window first: the counter attributes an allocation by unwinding its
         * stack, and the unwinder's first reads of .eh_frame fault pages in (measured: all
         * 24 faults of a 10-step CNN window were there, none in training) */
        if (counter && step == g.skip / 2 && g.skip / 2 < g.skip)
            counter->start();
        if (step == g.skip) {
            if (counter && g.skip / 2 < g.skip) {
                long total, exempt;
                char site[8];
                counter->stop(&total, &exempt, site, sizeof site);
            }
            g.faults0 = faults_now();
            if (counter)
                counter->start();
            g.counting = 1;
        } else if (step == end && g.counting) {
            if (counter)
                counter->stop(&g.total, &g.exempt, g.site, sizeof g.site);
            g.faults = faults_now() - g.faults0;
            g.win_steps = end - g.skip;
            g.counting = 0;
        }
    }
    if (step == last)
        g.cpu_s[e] = cpu_now() - g.cpu0[e];
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_train MODEL.ini [--threads N] [--set SECTION.KEY=VALUE]... "
            "[--plugin-dir DIR]... [--skip-steps K] [--count-steps K] [--run-dir DIR] [--tag T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *run_dir = NULL, *tag = "-", *sets[64], *dirs[16];
    int n_sets = 0, n_dirs = 0, threads = 0;
    g.skip = 10;
    g.count = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--threads") == 0 && v)
            threads = atoi(argv[++i]);
        else if (strcmp(a, "--set") == 0 && v && n_sets < 64)
            sets[n_sets++] = argv[++i];
        else if (strcmp(a, "--plugin-dir") == 0 && v && n_dirs < 16)
            dirs[n_dirs++] = argv[++i];
        else if (strcmp(a, "--skip-steps") == 0 && v)
            g.skip = atoll(argv[++i]);
        else if (strcmp(a, "--count-steps") == 0 && v && atoll(v) > 0)
            g.count = atoll(argv[++i]);
        else if (strcmp(a, "--run-dir") == 0 && v)
            run_dir = argv[++i];
        else if (strcmp(a, "--tag") == 0 && v)
            tag = argv[++i];
        else if (a[0] != '-' && !model)
            model = a;
        else
            return usage();
    }
    if (!model || threads < 0 || g.skip < 0)
        return usage();
    /* the environment `nntrain train --threads N` gives OpenMP (core/cli/common.c) */
    char n[32];
    if (threads > 0) {
        snprintf(n, sizeof n, "%d", threads);
        setenv("OMP_NUM_THREADS", n, 1);
    }
    setenv("OMP_WAIT_POLICY", "passive", 0);
    counter = nn_alloc_counter_get();

    nn_error err = {0};
    nn_config *cfg = NULL;
    nn_registry *reg = nn_registry_new(NULL);
    nn_session s = {0};
    int rc = reg ? nn_registry_scan(reg, dirs, n_dirs, NULL, &err) : NN_ENOMEM;
    if (!rc)
        rc = nn_config_load(model, &cfg, &err);
    for (int i = 0; !rc && i < n_sets; i++)
        rc = nn_config_set(cfg, sets[i], &err);
    if (!rc)
        rc = nn_config_put(cfg, "logger.nnbench", "type", "nnbench_probe", &err);
    nn_session_opts so = {.mode = NN_SESSION_TRAIN, .seed = -1, .run_dir = run_dir,
                          .threads = threads, .overwrite = 1};
    if (!rc)
        rc = nn_session_open(&s, reg, cfg, &so, &err);
    nn_train_result r = {0};
    if (!rc) {
        nn_train_opts to = {.verbosity = -1, .test = 1, .on_step = on_step};
        g.planned = s.tc.epochs;
        rc = nn_train_run(&s, &to, &r, &err);
    }
    if (rc) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
    } else {
        double total_s = 0, samples = 0, best = 0, later = INFINITY, cpu = 0;
        for (int64_t e = 0; e < g.epochs; e++) {
            total_s += g.epoch_s[e];
            samples += g.epoch_sps[e] * g.epoch_s[e];
            cpu += g.cpu_s[e];
            if (g.epoch_sps[e] > best)
                best = g.epoch_sps[e];
            if (e > 0 && g.epoch_s[e] < later)
                later = g.epoch_s[e];
            printf("epoch %lld train_s=%.2f samples_per_s=%.1f cpu_s=%.2f\n", (long long)e + 1,
                   g.epoch_s[e], g.epoch_sps[e], g.cpu_s[e]);
        }
        double w = g.win_steps > 0 ? (double)g.win_steps : NAN;
        char own[32] = "nan", dnnl[32] = "nan";
        if (counter && g.win_steps > 0) {
            snprintf(own, sizeof own, "%.2f", (double)(g.total - g.exempt) / w);
            snprintf(dnnl, sizeof dnnl, "%.2f", (double)g.exempt / w);
        }
        struct rusage u;
        getrusage(RUSAGE_SELF, &u);
        printf("RESULT framework=nntrain epochs=%lld threads=%d samples_per_s=%.1f "
               "best_epoch_samples_per_s=%.1f test_acc=%.4f cpu_s=%.2f first_step_s=%.3f "
               "first_epoch_ratio=%.3f faults_per_step=%.2f mallocs_per_step=%s "
               "dnnl_mallocs_per_step=%s wakeups_per_step=%.2f peak_rss_mb=%.1f tag=%s\n",
               (long long)g.epochs, s.threads, total_s > 0 ? samples / total_s : 0, best,
               r.tested ? nn_metrics_accuracy(&r.test) : NAN, cpu, g.first_step_s,
               g.epochs > 1 ? g.epoch_s[0] / later : NAN, (double)g.faults / w,
               own, dnnl, g.steps > 0 ? (double)r.wakeups / (double)g.steps : NAN,
               (double)u.ru_maxrss / 1024, tag);
        if (counter && g.total - g.exempt > 0)
            printf("# first allocation of nntrain's own in the steady state: %s\n", g.site);
    }
    nn_metrics_free(&r.test);
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return rc ? 1 : 0;
}
