/* test_crash.c: a plugin that crashes is named. The real nntrain trains a tiny model made of
 * nntest_fault plugins (tests/plugins/nntest_fault.c) with one of them told to crash in one
 * call; stderr must name the kind, plugin, file, call and section, and the process must
 * still die of the signal. The handler's own paths (nesting, helper threads, a crash outside
 * any plugin) are checked in forked children of this test. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "core/crash.h"
#include "nntrain/nntrain.h"

static char *dir;
static char model[4200], plugins[4200], run_dir[4200];

static void no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
}

static void setup(void)
{
    no_core_dumps();
    dir = tmpdir_new();
    fault_plugins(dir, plugins, sizeof plugins);
    snprintf(model, sizeof model, "%s/fault.ini", dir);
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    /* every kind the trainer runs is a fault plugin; fc comes first so that boom's backward
     * runs (its input needs a gradient) */
    write_text(model, "[train]\nepochs = 1\nbatch_size = 8\n"
                      "[data]\ntype = nntest_fault\n"
                      "[transform.t]\ntype = nntest_fault\n"
                      "[loss]\ntype = nntest_fault\n"
                      "[optimizer]\ntype = nntest_fault\n"
                      "[layer.fc]\ntype = dense\nunits = 2\n"
                      "[layer.boom]\ntype = nntest_fault\n"
                      "[logger.quiet]\ntype = nntest_fault\n");
}

static void teardown(void)
{
    tmpdir_free(dir);
}

TestSuite(crash, .init = setup, .fini = teardown, .timeout = 60);

static run_result res;

/* trains with `set` (and `set2`, may be NULL) applied */
static void train(const char *set, const char *set2)
{
    run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--run-dir", run_dir, "--no-test",
                "--threads", "1", "--set", set, set2 ? "--set" : NULL, set2, NULL);
}

/* nntrain died of sig, and its last words name kind, call and section */
static void assert_named(int sig, const char *kind, const char *call, const char *section)
{
    cr_assert(!res.exited, "nntrain exited %d instead of dying of signal %d; output:\n%s",
              res.code, sig, res.out);
    cr_assert_eq(-res.code, sig, "nntrain died of signal %d, expected %d; output:\n%s",
                 -res.code, sig, res.out);
    char want[4600];
    snprintf(want, sizeof want, "fatal signal SIG%s", sigabbrev_np(sig));
    assert_has(res.out, want);
    snprintf(want, sizeof want, "it happened in %s plugin 'nntest_fault' (%s/nntest_fault.so), "
             "in its %s() call for ", kind, plugins, call);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "[%s]", section);
    assert_has(strstr(res.out, "it happened in"), want);
}

#define CRASH_CASE(test, key, kind, call, section)                                       \
    Test(crash, test)                                                                    \
    {                                                                                    \
        train(key "=" call, NULL);                                                       \
        assert_named(SIGSEGV, kind, call, section);                                      \
    }

CRASH_CASE(in_layer_create_names_the_layer, "layer.boom.crash_in", "layer", "create", "layer.boom")
CRASH_CASE(in_layer_setup_names_the_layer, "layer.boom.crash_in", "layer", "setup", "layer.boom")
CRASH_CASE(in_layer_bind_names_the_layer, "layer.boom.crash_in", "layer", "bind", "layer.boom")
CRASH_CASE(in_layer_forward_names_the_layer, "layer.boom.crash_in", "layer", "forward",
           "layer.boom")
CRASH_CASE(in_layer_backward_names_the_layer, "layer.boom.crash_in", "layer", "backward",
           "layer.boom")
CRASH_CASE(in_layer_destroy_names_the_layer, "layer.boom.crash_in", "layer", "destroy",
           "layer.boom")
CRASH_CASE(in_loss_setup_names_the_loss, "loss.crash_in", "loss", "setup", "loss")
CRASH_CASE(in_loss_forward_names_the_loss, "loss.crash_in", "loss", "forward", "loss")
CRASH_CASE(in_optimizer_setup_names_the_optimizer, "optimizer.crash_in", "optimizer", "setup",
           "optimizer")
CRASH_CASE(in_optimizer_step_names_the_optimizer, "optimizer.crash_in", "optimizer", "step",
           "optimizer")
CRASH_CASE(in_logger_open_names_the_logger, "logger.quiet.crash_in", "logger", "open",
           "logger.quiet")
CRASH_CASE(in_logger_event_names_the_logger, "logger.quiet.crash_in", "logger", "event",
           "logger.quiet")
CRASH_CASE(in_dataset_open_names_the_dataset, "data.crash_in", "dataset", "open", "data")
/* get and apply run on the loader's pool threads */
CRASH_CASE(in_dataset_get_on_a_loader_thread_names_the_dataset, "data.crash_in", "dataset",
           "get", "data")
CRASH_CASE(in_transform_setup_names_the_transform, "transform.t.crash_in", "transform", "setup",
           "transform.t")
CRASH_CASE(in_transform_apply_on_a_loader_thread_names_the_transform, "transform.t.crash_in",
           "transform", "apply", "transform.t")

Test(crash, the_same_run_without_a_crash_trains_and_exits_0)
{
    train("layer.boom.crash_in=none", NULL);
    assert_exit(&res, 0);
    assert_lacks(res.out, "fatal signal");
}

Test(crash, an_abort_in_a_plugin_is_named_and_the_exit_shows_sigabrt)
{
    train("layer.boom.crash_in=setup", "layer.boom.how=abort");
    assert_named(SIGABRT, "layer", "setup", "layer.boom");
}

Test(crash, a_stack_overflow_on_the_main_thread_is_reported)
{
    train("layer.boom.crash_in=forward", "layer.boom.how=stack");
    assert_named(SIGSEGV, "layer", "forward", "layer.boom");
    assert_has(res.out, "stack overflowed");
}

Test(crash, a_stack_overflow_on_a_loader_thread_is_reported)
{
    train("data.crash_in=get", "data.how=stack");
    assert_named(SIGSEGV, "dataset", "get", "data");
    assert_has(res.out, "stack overflowed");
}

/* ---- a plugin that calls exit(): never a success, and named like a crash ---- */

/* nntrain ended with status 70 and names kind, call and section */
static void assert_exit_named(const char *kind, const char *call, const char *section)
{
    assert_exit(&res, 70);
    assert_has(res.out, "exit() was called while nntrain was still running");
    char want[4600];
    snprintf(want, sizeof want, "it happened in %s plugin 'nntest_fault' (%s/nntest_fault.so), "
             "in its %s() call for ", kind, plugins, call);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "[%s]", section);
    assert_has(strstr(res.out, "it happened in"), want);
}

Test(crash, an_exit_in_a_layer_forward_is_named_and_the_status_is_70_not_0)
{
    train("layer.boom.crash_in=forward", "layer.boom.how=exit");
    assert_exit_named("layer", "forward", "layer.boom");
}

Test(crash, an_exit_in_a_layer_create_is_named_and_the_status_is_70_not_0)
{
    train("layer.boom.crash_in=create", "layer.boom.how=exit");
    assert_exit_named("layer", "create", "layer.boom");
}

Test(crash, an_exit_on_a_loader_thread_is_named_and_the_status_is_70_not_0)
{
    train("data.crash_in=get", "data.how=exit");
    assert_exit_named("dataset", "get", "data");
}

Test(crash, an__exit_in_a_layer_forward_is_named_and_the_status_is_70_not_0)
{
    train("layer.boom.crash_in=forward", "layer.boom.how=_exit");
    assert_exit_named("layer", "forward", "layer.boom");
    assert_has(res.out, "_exit() was called while nntrain was still running");
}

/* plugins/nntest_second.so, whose constructor does `how` on its second load: the probe child
 * loads it first, so the fault happens in nntrain's own process */
static void second_load(const char *how, const char *verb)
{
    free(plugin_copy("nntest_second", plugins, 0755));
    char marker[4300];
    snprintf(marker, sizeof marker, "%s/second.marker", dir);
    setenv("NNTEST_SECOND", marker, 1);
    setenv("NNTEST_SECOND_HOW", how, 1);
    run_nntrain(&res, verb, model, "--plugin-dir", plugins, NULL);
}

Test(crash, a_constructor_crash_in_process_names_the_plugin_file_being_loaded)
{
    second_load("segv", "summary");
    cr_assert(!res.exited && res.code == -SIGSEGV, "nntrain ended with %d; output:\n%s",
              res.code, res.out);
    char want[4600];
    snprintf(want, sizeof want, "it happened in plugin file %s/nntest_second.so, while loading "
             "it (dlopen runs its ELF constructors)", plugins);
    assert_has(res.out, want);
    assert_lacks(res.out, "bug in nntrain itself");
}

Test(crash, a_constructor_exit_in_process_names_the_plugin_file_and_the_status_is_70)
{
    second_load("exit", "train");
    assert_exit(&res, 70);
    char want[4600];
    snprintf(want, sizeof want, "it happened in plugin file %s/nntest_second.so, while loading "
             "it", plugins);
    assert_has(res.out, want);
}

Test(crash, a_constructor__exit_in_process_names_the_plugin_file_and_the_status_is_70)
{
    second_load("_exit", "summary");
    assert_exit(&res, 70);
    char want[4600];
    snprintf(want, sizeof want, "it happened in plugin file %s/nntest_second.so, while loading "
             "it", plugins);
    assert_has(res.out, want);
    assert_has(res.out, "_exit() was called");
}

Test(crash, an_exit_in_the_probe_child_stays_the_probe_s_finding)
{
    char marker[4300];
    snprintf(marker, sizeof marker, "%s/second.marker", dir);
    write_text(marker, ""); /* the probe's load is the "second": it exits there */
    free(plugin_copy("nntest_second", plugins, 0755));
    setenv("NNTEST_SECOND", marker, 1);
    setenv("NNTEST_SECOND_HOW", "exit", 1);
    run_nntrain(&res, "plugins", "check", plugins, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "called exit(0) while loading");
    assert_lacks(res.out, "exit() was called while nntrain");
}

/* ---- the handler's paths, in forked children of this test ---- */

static const nn_layer_vtable fake_vt = {.struct_size = sizeof fake_vt};
static const nn_plugin_desc fake_outer = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "outer_opt", .version = "1", .license = "MIT",
    .summary = "-", .vtable = &fake_vt);
static const nn_plugin_desc fake_inner = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "inner_layer", .version = "1", .license = "MIT",
    .summary = "-", .vtable = &fake_vt);

/* runs body in a child with the handler installed and its stderr in out; returns the
 * child's signal (0 if it exited) */
static int in_child(void (*body)(void), char *out, size_t cap)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (nn_crash_install() != 0)
            _exit(90);
        body();
        _exit(0);
    }
    close(fds[1]);
    size_t have = 0;
    ssize_t got;
    while ((got = read(fds[0], out + have, cap - 1 - have)) > 0)
        have += (size_t)got;
    out[have] = 0;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void nested_then_crash(void)
{
    nn_instance outer = {.desc = &fake_outer, .path = "/x/outer.so",
                         .origin = "m.ini [optimizer]"};
    nn_instance inner = {.desc = &fake_inner, .path = "/x/inner.so",
                         .origin = "m.ini:3: [layer.a]"};
    nn_crash_enter(&outer, "step");
    nn_crash_enter(&inner, "forward");
    raise(SIGBUS);
}

Test(crash, nested_calls_name_the_innermost_first_then_its_caller)
{
    char out[4096];
    cr_assert_eq(in_child(nested_then_crash, out, sizeof out), SIGBUS, "%s", out);
    const char *inner = strstr(out, "it happened in layer plugin 'inner_layer' (/x/inner.so), in "
                                    "its forward() call for m.ini:3: [layer.a]");
    const char *outer = strstr(out, "called from optimizer plugin 'outer_opt' (/x/outer.so), in "
                                    "its step() call for m.ini [optimizer]");
    cr_assert(inner && outer && inner < outer, "%s", out);
}

static void left_then_crash(void)
{
    nn_instance inner = {.desc = &fake_inner, .path = "/x/inner.so"};
    cr_assert_eq(nn_crash_leave_rc((nn_crash_enter(&inner, "forward"), 7)), 7);
    raise(SIGFPE);
}

Test(crash, a_crash_after_the_call_returned_is_not_blamed_on_the_plugin)
{
    char out[4096];
    cr_assert_eq(in_child(left_then_crash, out, sizeof out), SIGFPE, "%s", out);
    assert_has(out, "fatal signal SIGFPE");
    assert_has(out, "no plugin call was running on the crashing thread");
    assert_lacks(out, "inner_layer");
}

static void *helper_crashes(void *arg)
{
    (void)arg;
    raise(SIGILL); /* to this thread */
    return NULL;
}

static void main_in_call_helper_crashes(void)
{
    nn_instance inner = {.desc = &fake_inner, .path = "/x/inner.so"};
    nn_crash_enter(&inner, "forward");
    pthread_t t;
    pthread_create(&t, NULL, helper_crashes, NULL);
    pthread_join(t, NULL);
}

Test(crash, a_helper_thread_crash_names_the_call_the_main_thread_was_in)
{
    char out[4096];
    cr_assert_eq(in_child(main_in_call_helper_crashes, out, sizeof out), SIGILL, "%s", out);
    assert_has(out, "on a helper thread");
    assert_has(out, "layer plugin 'inner_layer' (/x/inner.so), in its forward() call");
}
