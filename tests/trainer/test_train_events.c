/* test_train_events.c: how a training run's step events reach the loggers, in process
 * (nn_train_run): every step's event arrives once and in order, within a progress period
 * even when nothing else wakes the event loop, while the steps wake the loader's and the
 * loop's threads about once per step (each wake-up costs a step tens of microseconds);
 * nn_train_opts.on_step sees every step on the training thread. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include "cli_fixture.h"
#include "config.h"
#include "nntrain/logger.h"
#include "registry.h"
#include "session.h"
#include "trainer.h"

#define MAX_STEPS 512

/* written by nntest_event_seen() on the event loop's thread */
static struct {
    int64_t steps[MAX_STEPS]; /* global steps of the BATCH_END events, as they came */
    atomic_int n;
    int stall_ms;             /* > 0: the first BATCH_END keeps the loop this long */
    int64_t all;              /* BATCH_END events in all */
} seen;

/* written by on_step() on the training thread */
static struct {
    int64_t epoch[MAX_STEPS], step[MAX_STEPS];
    int n;
    int64_t sleep_at;      /* the step after which on_step waits (-1: none) */
    int seen_after_sleep;  /* BATCH_ENDs delivered when that wait ended */
} hook;

__attribute__((visibility("default"))) void nntest_event_seen(const nn_event *ev)
{
    if (ev->kind != NN_EV_BATCH_END)
        return;
    if (seen.all++ == 0 && seen.stall_ms > 0) /* a logger stuck on a slow disk */
        nanosleep(&(struct timespec){.tv_sec = seen.stall_ms / 1000,
                                     .tv_nsec = seen.stall_ms % 1000 * 1000000L}, NULL);
    int k = atomic_load(&seen.n);
    if (k < MAX_STEPS) {
        seen.steps[k] = ev->global_step;
        atomic_store(&seen.n, k + 1);
    }
}

static void on_step(void *ctx, int64_t epoch, int64_t step, int64_t steps_per_epoch)
{
    (void)ctx;
    cr_assert_gt(steps_per_epoch, step);
    if (hook.n < MAX_STEPS) {
        hook.epoch[hook.n] = epoch;
        hook.step[hook.n] = step;
    }
    if (hook.n++ == hook.sleep_at) {
        /* nothing but the progress tick wakes the loop now: 6 periods of 50 ms */
        nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
        hook.seen_after_sleep = atomic_load(&seen.n);
    }
}

static void setup(void)
{
    cli_setup("train_events");
    write_csv("train.csv", 480, 1);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/plug && cp %s/nntest_events.so %s/plug/", dir,
             NNTEST_PLUGIN_DIR, dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(train_events, .init = setup, .fini = cli_teardown, .timeout = 120);

static const char *model = "[train]\nepochs = 3\nbatch_size = 8\nseed = 3\n"
                        "[data]\ntype = csv\npath = train.csv\nval_split = 0.1\n"
                        "[loss]\ntype = cross_entropy\n"
                        "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
                        "[layer.fc1]\ntype = dense\nunits = 16\nactivation = relu\n"
                        "[layer.fc2]\ntype = dense\nunits = 3\n"
                        "[logger.seen]\ntype = nntest_events\n";

/* trains m.ini in process with on_step, progress_hz 20 and the given --set's */
static void train(nn_train_result *r, const char *const *sets, int n_sets)
{
    write_file("m.ini", model);
    nn_error err = {0};
    nn_config *cfg = NULL;
    nn_registry *reg = nn_registry_new(NULL);
    cr_assert_not_null(reg);
    const char *dirs[] = {path_in("plug")};
    cr_assert_eq(nn_registry_scan(reg, dirs, 1, NULL, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_load(path_in("m.ini"), &cfg, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < n_sets; i++)
        cr_assert_eq(nn_config_set(cfg, sets[i], &err), NN_OK, "%s", err.msg);
    nn_session s = {0};
    nn_session_opts so = {.mode = NN_SESSION_TRAIN, .seed = -1, .run_dir = path_in("run"),
                          .threads = 1, .overwrite = 1};
    cr_assert_eq(nn_session_open(&s, reg, cfg, &so, &err), NN_OK, "%s", err.msg);
    nn_train_opts to = {.verbosity = -1, .progress_hz = 20, .on_step = on_step};
    cr_assert_eq(nn_train_run(&s, &to, r, &err), NN_OK, "%s", err.msg);
    nn_metrics_free(&r->test);
    nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
}

Test(train_events, every_step_reaches_the_loggers_in_time_with_one_wakeup_per_step)
{
    hook.sleep_at = 10;
    nn_train_result r = {0};
    train(&r, NULL, 0);

    /* 432 training rows, batches of 8: 54 steps an epoch */
    int steps = 3 * 54;
    cr_assert_eq(hook.n, steps);
    for (int k = 0; k < steps; k++) {
        cr_assert_eq(hook.epoch[k], k / 54);
        cr_assert_eq(hook.step[k], k % 54);
    }
    cr_assert_eq(atomic_load(&seen.n), steps);
    for (int k = 0; k < steps; k++)
        cr_assert_eq(seen.steps[k], k + 1, "event %d is of step %lld", k,
                     (long long)seen.steps[k]);
    /* the step the hook waited after had reached the loggers by the progress tick alone */
    cr_assert_eq(hook.seen_after_sleep, 11, "%d step events delivered after 300 ms, not 11",
                 hook.seen_after_sleep);
    /* the loader thread once per step (a batch buffer freed), the loop a few times an epoch;
     * waking both for every step (and the loader twice) made about 3 a step */
    cr_assert_leq(r.wakeups, steps + 10 * 3, "%lld wake-ups for %d steps",
                  (long long)r.wakeups, steps);
    cr_assert_geq(r.wakeups, 1);
    cr_assert_eq(r.dropped, 0);
}

/* a logger that holds the loop up for two seconds while an epoch posts thousands of steps: the
 * ring fills, the steps' own records that found no room are counted as dropped (never a
 * stalled step), and every record is either delivered or counted */
Test(train_events, steps_records_a_stuck_logger_misses_are_counted)
{
    hook.sleep_at = -1;
    seen.stall_ms = 2000;
    write_csv("big.csv", 2400, 4); /* one epoch of ~2160 steps: no epoch end frees the loop */
    const char *sets[] = {"train.epochs=1", "train.batch_size=1", "data.path=big.csv"};
    nn_train_result r = {0};
    train(&r, sets, 3);
    int64_t steps = hook.n; /* 2160 rows but the validation part's */
    cr_assert_gt(steps, 2000, "%lld steps", (long long)steps);
    cr_assert_eq(seen.all + r.dropped, steps, "%lld delivered + %lld dropped, not %lld",
                 (long long)seen.all, (long long)r.dropped, (long long)steps);
    cr_assert_gt(r.dropped, 0, "the ring never filled: %lld delivered", (long long)seen.all);
}
