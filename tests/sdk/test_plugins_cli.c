/* test_plugins_cli.c: `nntrain plugins test` against deliberately broken plugins (each must
 * fail with a clear line, a crash or hang included, and the other checks must still run), on
 * a correct plugin with a test spec, and what `plugins check` and `plugins show` say about
 * exports, kind requirements, unknown names, shared names and the scheduler's warm-up keys. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define COUNTS_ALLOCATIONS 0 /* the sanitizer owns malloc: those checks are skipped */
#else
#define COUNTS_ALLOCATIONS 1
#endif

typedef struct run {
    int status;
    char out[1 << 16];
} run;

/* runs nntrain with args (a shell fragment) on the broken plugins' directory only */
static void nntrain(run *r, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "env -u NNTRAIN_PLUGIN_PATH '%s' %s --plugin-dir '%s' "
             "--allow-insecure-plugins 2>&1", getenv("NNTRAIN_EXE"), args, NNTEST_BROKEN_DIR);
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    size_t n = fread(r->out, 1, sizeof r->out - 1, f);
    r->out[n] = 0;
    int st = pclose(f);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the table row of check `check` whose line contains `needle` */
static void expect_row(const run *r, const char *check, const char *result, const char *needle)
{
    char head[64];
    snprintf(head, sizeof head, "  %-12s %-5s", check, result);
    for (const char *p = strstr(r->out, head); p; p = strstr(p + 1, head)) {
        const char *end = strchr(p, '\n');
        /* the row with its continuation lines */
        while (end && end[1] == ' ' && strncmp(end + 1, "  ", 2) == 0 && end[3] == ' ')
            end = strchr(end + 1, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char row[4096];
        snprintf(row, sizeof row, "%.*s", (int)(len < sizeof row - 1 ? len : sizeof row - 1), p);
        if (!needle || strstr(row, needle))
            return;
    }
    cr_assert_fail("no row '%s %s' containing \"%s\" in:\n%s", check, result,
                   needle ? needle : "", r->out);
}

Test(plugins_test, passes_a_correct_layer_on_the_cases_of_its_test_spec)
{
    static run r;
    nntrain(&r, "plugins test good_square");
    cr_assert_eq(r.status, 0, "%s", r.out);
    expect_row(&r, "cases", "pass", "2 from the test spec");
    expect_row(&r, "gradient", "pass", "[3x4 [0.5, 2]]");
    expect_row(&r, "gradient", "pass", "[2x1x5x3]");
    expect_row(&r, "gradient", "pass", "tolerance rtol 1e-03 + measured float32 noise");
    expect_row(&r, "determinism", "pass", NULL);
    expect_row(&r, "null grads", "pass", NULL);
    expect_row(&r, "allocation", COUNTS_ALLOCATIONS ? "pass" : "skip", NULL);
    expect_row(&r, "lifecycle", COUNTS_ALLOCATIONS ? "pass" : "skip", NULL);
    cr_assert(strstr(r.out, " 0 failed"), "%s", r.out);
}

Test(plugins_test, fails_a_wrong_gradient_naming_the_element)
{
    static run r;
    nntrain(&r, "plugins test bad_grad");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "MISMATCH");
    expect_row(&r, "gradient", "FAIL", "worst: input 0 [");
    expect_row(&r, "determinism", "pass", NULL);
}

/* a spec whose tolerance would hide any gradient fails its schema row, and no gradient row
 * computed under it says pass; a valid loosened one is taken, and the table says so */
Test(plugins_test, refuses_test_spec_tolerances_that_hide_a_wrong_gradient)
{
    static run r;
    nntrain(&r, "plugins test tol_atol_inf");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schema", "FAIL", "test spec: rtol 0 and atol inf must each lie in [0, 1)");
    expect_row(&r, "gradient", "skip", "skipped (because the test spec: rtol 0 and atol inf "
               "must each lie in [0, 1)");
    nntrain(&r, "plugins test tol_atol_big");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schema", "FAIL", "atol 1e+09 must each lie in [0, 1)");
    expect_row(&r, "gradient", "skip", "no gradient is judged under tolerances that are "
               "refused");
    nntrain(&r, "plugins test tol_rtol_inf");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schema", "FAIL", "rtol inf and atol 0 must each lie in [0, 1)");
    expect_row(&r, "gradient", "skip", "see 'schema'");
    cr_assert(!strstr(r.out, "gradient     pass"), "%s", r.out);
    nntrain(&r, "plugins test tol_loose");
    expect_row(&r, "schema", "pass", NULL);
    expect_row(&r, "gradient", "pass", "the test spec loosens the default tolerance: rtol 0.05 "
               "(default 1e-03), atol 0.0001 (default 0)");
}

/* every buffer the runner hands a plugin is fenced: a write past either end fails naming the
 * call, the buffer and how far it went (it used to pass all ten checks) */
Test(plugins_test, fails_a_write_past_the_end_of_a_buffer_naming_call_buffer_and_distance)
{
    static run r;
    nntrain(&r, "plugins test past_grad0");
    cr_assert_eq(r.status, 1, "%s", r.out);
    /* the derived cases start with 3x3: 9 floats, 36 bytes */
    expect_row(&r, "gradient", "FAIL", "[3x3] backward() wrote past the end of grad_inputs[0] "
               "([3, 3], 36 bytes): bytes 0 to 3 after its end changed");
    expect_row(&r, "determinism", "FAIL", "wrote past the end of grad_inputs[0]");
    expect_row(&r, "null grads", "FAIL", "wrote past the end of grad_inputs[0]");
    expect_row(&r, "allocation", COUNTS_ALLOCATIONS ? "FAIL" : "skip", NULL);
    nntrain(&r, "plugins test past_grad16");
    expect_row(&r, "gradient", "FAIL", "bytes 64 to 67 after its end changed (as far as element "
               "25 of a tensor with 9)");
    nntrain(&r, "plugins test past_grad4096");
    expect_row(&r, "gradient", "FAIL", "bytes 16384 to 16387 after its end changed");
    nntrain(&r, "plugins test before_grad");
    expect_row(&r, "gradient", "FAIL", "backward() wrote before the start of grad_inputs[0] "
               "([3, 3], 36 bytes): bytes 5 to 8 before its start changed");
    nntrain(&r, "plugins test past_output");
    expect_row(&r, "gradient", "FAIL", "forward() wrote past the end of output ([3, 3], 36 "
               "bytes): bytes 0 to 3 after its end changed");
    expect_row(&r, "determinism", "FAIL", "forward() wrote past the end of output");
    /* past every canary: the inaccessible pages beyond make it a crash the runner reports */
    nntrain(&r, "plugins test past_grad_far");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "crashed in its backward() call: SIGSEGV");
    cr_assert(strstr(r.out, "checks passed"), "the runner stopped:\n%s", r.out);
    nntrain(&r, "plugins test past_grad_pred --kind loss");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "forward() wrote past the end of grad_pred");
    expect_row(&r, "gradient", "FAIL", "bytes 12 to 15 after its end changed");
    nntrain(&r, "plugins test past_slot");
    cr_assert_eq(r.status, 1, "%s", r.out);
    /* params[1] is fc.bias, 5 floats */
    expect_row(&r, "state", "FAIL", "step() wrote past the end of params[1].slots[0] ('momentum' "
               "of 'fc.bias') ([5], 20 bytes): bytes 4 to 7 after its end changed");
}

/* what a call must only read is compared before and after it (a backward zeroing
 * grad_output, read-only when grad_output_scratch is 0, used to pass) */
Test(plugins_test, fails_a_call_that_changes_what_it_must_only_read)
{
    static run r;
    nntrain(&r, "plugins test writes_gout");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "backward() changed grad_output, which it must only read "
               "(element 0: ");
    expect_row(&r, "determinism", "FAIL", "backward() changed grad_output");
    nntrain(&r, "plugins test writes_input");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "backward() changed inputs[0], which it must only read "
               "(element 1: ");
    expect_row(&r, "gradient", "FAIL", "became 7)");
    nntrain(&r, "plugins test writes_grad");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "state", "FAIL", "step() changed params[0].grad ('fc.weight'), which it must "
               "only read (element 0: ");
}

Test(plugins_test, fails_a_loss_whose_gradient_has_the_wrong_sign)
{
    static run r;
    nntrain(&r, "plugins test bad_loss --kind loss");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "worst: prediction [");
    /* it is a mean, as it declares */
    expect_row(&r, "reduction", "pass", "declares a mean (NN_LOSS_MEAN): the batch written "
               "twice over gives its value");
}

/* a sum left declared as a mean would train replicas, processes and micro-batches with 1/N
 * of the gradient: the value of the batch written twice over gives it away */
Test(plugins_test, fails_a_loss_that_sums_but_declares_a_mean)
{
    static run r;
    nntrain(&r, "plugins test undeclared_sum --kind loss");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "pass", NULL);
    expect_row(&r, "reduction", "FAIL", "setup declares a mean (NN_LOSS_MEAN), but the batch "
               "written twice over gives");
    expect_row(&r, "reduction", "FAIL", "a sum (set s->reduction = NN_LOSS_SUM in setup)");
}

Test(plugins_test, fails_an_allocation_in_forward_naming_the_plugin)
{
    static run r;
    nntrain(&r, "plugins test bad_alloc");
    if (!COUNTS_ALLOCATIONS) {
        expect_row(&r, "allocation", "skip", "a sanitizer owns malloc");
        return;
    }
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "allocation", "FAIL", "3 heap allocations in 3 forward+backward steps");
    expect_row(&r, "allocation", "FAIL", "nntest_broken.so");
    expect_row(&r, "gradient", "pass", NULL);
}

/* a plugin that fails without a message: each row says the status it returned, as training
 * does (the rows said nothing after the case) */
Test(plugins_test, a_failure_without_a_message_names_the_status)
{
    static run r;
    nntrain(&r, "plugins test bad_silent");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "returned status 7 without a message");
}

/* a number key without a range accepts 0, negatives and 1e300: the schema row says so */
Test(plugins_test, notes_a_number_key_without_a_range)
{
    static run r;
    nntrain(&r, "plugins test open_range");
    cr_assert_eq(r.status, 0, "%s", r.out);
    expect_row(&r, "schema", "pass", "note: no range declared for 'gain', so every number is "
               "accepted (declare one, or \"(-inf, inf)\" to mean any)");
    nntrain(&r, "plugins test good_square");
    cr_assert(!strstr(r.out, "no range declared"), "%s", r.out);
}

Test(plugins_test, fails_nondeterminism)
{
    static run r;
    nntrain(&r, "plugins test bad_nondet");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "determinism", "FAIL", "output element 0 differs");
}

Test(plugins_test, fails_gradients_accumulated_instead_of_overwritten)
{
    static run r;
    nntrain(&r, "plugins test bad_accum");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "determinism", "FAIL", "grad_inputs[0] element 0 differs");
}

Test(plugins_test, reports_a_crash_and_runs_the_other_checks)
{
    static run r;
    nntrain(&r, "plugins test bad_crash");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "crashed in its backward() call: SIGSEGV");
    expect_row(&r, "determinism", "FAIL", "crashed in its backward() call: SIG");
    expect_row(&r, "exports", "pass", NULL);
    cr_assert(strstr(r.out, "checks passed"), "the run stopped at the crash:\n%s", r.out);
}

Test(plugins_test, fails_a_backward_that_writes_a_null_grad_input)
{
    static run r;
    nntrain(&r, "plugins test bad_null");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "null grads", "FAIL", "crashed in its backward() call: SIGSEGV");
    expect_row(&r, "gradient", "pass", NULL);
}

Test(plugins_test, fails_a_leak_in_create)
{
    static run r;
    nntrain(&r, "plugins test bad_leak");
    if (!COUNTS_ALLOCATIONS) {
        expect_row(&r, "lifecycle", "skip", "leaks not counted");
        return;
    }
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "lifecycle", "FAIL", "1000 heap blocks left by create/destroy");
}

Test(plugins_test, kills_a_hang_after_the_timeout)
{
    static run r;
    nntrain(&r, "plugins test bad_hang --timeout 1");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "hung in its forward() call: killed after 1 s");
    expect_row(&r, "schema", "pass", NULL);
}

/* what setup() declares is held to the plan's own rule (core/layer_decls.c), with its sentence */
Test(plugins_test, fails_declarations_that_training_refuses_naming_layer_plugin_and_tensor)
{
    static const struct {
        const char *plugin, *says;
    } cases[] = {
        {"dup_param", "declared two tensors named 'alpha' (parameter 0 and parameter 1); each "
                      "parameter, buffer and state of a layer needs a name of its own"},
        {"path_param", "declared parameter 1 named '../../etc/x'; a parameter or buffer name "
                       "is [A-Za-z0-9_] words joined by single dots"},
        {"bad_init", "declared parameter 'alpha' with init 77, which is no NN_INIT_* scheme; "
                     "valid values: zeros (0), ones (1), he_uniform (2)"},
        {"neg_param", "declared parameter 'alpha' with a negative dimension: [-1]"},
        {"huge_output", "1099511627776, 1099511627776, 1099511627776] would hold more bytes "
                        "than a 64-bit size can count"},
        {"no_output", "left no valid output in setup (0 dimensions, dtype code 0 of 0 bits); "
                      "describe it with nn_tensor_describe"},
        {"bad_buffer_kind", "declared buffer 0 'scratch' of kind 9; NN_BUF_SAVED (1), "
                            "NN_BUF_WORKSPACE (2) or NN_BUF_STATE (3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        static run r;
        char args[128];
        snprintf(args, sizeof args, "plugins test %s", cases[i].plugin);
        nntrain(&r, args);
        cr_assert_eq(r.status, 1, "%s", r.out);
        char who[128];
        snprintf(who, sizeof who, "(%s from ", cases[i].plugin);
        expect_row(&r, "cases", "FAIL", who);
        expect_row(&r, "cases", "FAIL", "nntest_baddecl.so)");
        expect_row(&r, "cases", "FAIL", cases[i].says);
        cr_assert_null(strstr(r.out, "out of memory"), "%s", r.out);
    }
}

Test(plugins_test, fails_a_non_finite_output_naming_the_element)
{
    static run r;
    nntrain(&r, "plugins test nan_output");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "gradient", "FAIL", "output [0, 1] is nan on finite inputs and parameters");
    cr_assert_null(strstr(r.out, "gradient     pass"), "%s", r.out);
}

Test(plugins_test, does_not_pass_a_plugin_it_could_not_exercise)
{
    static run r;
    nntrain(&r, "plugins test refusing");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "layer refusing: nothing could be checked, so it does not pass: "
                            "every layer check was skipped (cases: "), "%s", r.out);
    cr_assert(strstr(r.out, "0 failed"), "%s", r.out);
    /* and a sweep names it without failing for it */
    nntrain(&r, "plugins test --all --kind layer --timeout 1");
    cr_assert(strstr(r.out, "not checked: layer refusing: nothing could be checked"), "%s",
              r.out);
}

Test(plugins_test, names_the_call_that_crashed)
{
    static run r;
    nntrain(&r, "plugins test crash_create");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "cases", "FAIL", "crashed in its create() call: SIGSEGV");
    nntrain(&r, "plugins test crash_setup");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "cases", "FAIL", "crashed in its setup() call: SIGSEGV");
}

/* training refuses the same declarations with the same sentence, at the model file's line */
Test(plugins_test, training_refuses_what_the_harness_fails)
{
    char dir[] = "/tmp/nntest_decl_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/train.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "a,b,label\n");
    for (int i = 0; i < 8; i++)
        fprintf(f, "%d.5,-%d.25,%d\n", i, i, i % 2);
    fclose(f);
    static const char *const plugins[] = {"dup_param", "bad_init"};
    static const char *const says[] = {"declared two tensors named 'alpha'",
                                       "declared parameter 'alpha' with init 77"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/m.ini", dir);
        f = fopen(path, "w");
        cr_assert(f);
        fprintf(f, "[train]\nbatch_size = 4\n[data]\ntype = csv\npath = %s/train.csv\n"
                "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.1\n"
                "[layer.aff]\ntype = %s\n[layer.fc]\ntype = dense\nunits = 2\n", dir,
                plugins[k]);
        fclose(f);
        static run r;
        char args[1024];
        snprintf(args, sizeof args, "summary '%s' --plugin-dir '%s' --plugin-dir '%s/../layers' "
                 "--plugin-dir '%s/../losses' --plugin-dir '%s/../optim'", path, NNTEST_DATA_DIR,
                 NNTEST_DATA_DIR, NNTEST_DATA_DIR, NNTEST_DATA_DIR);
        nntrain(&r, args);
        cr_assert_eq(r.status, 1, "%s", r.out);
        char want[512];
        snprintf(want, sizeof want, "%s:11: [layer.aff]: layer 'aff' (%s from "
                 "%s/nntest_baddecl.so) %s", path, plugins[k], NNTEST_BROKEN_DIR, says[k]);
        cr_assert(strstr(r.out, want), "no \"%s\" in:\n%s", want, r.out);
    }
    /* a loss's declarations too: nine buffers would be written past the host's eight */
    static const char *const losses[] = {"many_buffers_loss", "bad_dtype_loss"};
    static const char *const loss_says[] = {"declared 9 buffers (0 to 8)",
                                            "declared buffer 0 'rows' with dtype 42, which is "
                                            "no nn_dtype"};
    for (int k = 0; k < 2; k++) {
        static run r;
        char args[1024], want[512];
        snprintf(args, sizeof args, "plugins test %s", losses[k]);
        nntrain(&r, args);
        cr_assert_eq(r.status, 1, "%s", r.out);
        snprintf(want, sizeof want, "loss '%s' (from %s/nntest_baddecl.so) %s", losses[k],
                 NNTEST_BROKEN_DIR, loss_says[k]);
        expect_row(&r, "gradient", "FAIL", want);
        snprintf(path, sizeof path, "%s/m.ini", dir);
        f = fopen(path, "w");
        cr_assert(f);
        fprintf(f, "[train]\nbatch_size = 4\nepochs = 1\n[data]\ntype = csv\npath = %s/train.csv\n"
                "[loss]\ntype = %s\n[optimizer]\ntype = sgd\nlr = 0.1\n[layer.fc]\n"
                "type = dense\nunits = 2\n", dir, losses[k]);
        fclose(f);
        snprintf(args, sizeof args, "train '%s' --no-test --run-dir '%s/run' --plugin-dir '%s' "
                 "--plugin-dir '%s/../layers' --plugin-dir '%s/../optim'", path, dir,
                 NNTEST_DATA_DIR, NNTEST_DATA_DIR, NNTEST_DATA_DIR);
        nntrain(&r, args);
        cr_assert_eq(r.status, 1, "%s", r.out);
        /* [loss] is line 7 of m.ini */
        snprintf(want, sizeof want, "%s:7: [loss]: loss '%s' (from %s/nntest_baddecl.so) %s", path,
                 losses[k], NNTEST_BROKEN_DIR, loss_says[k]);
        cr_assert(strstr(r.out, want), "no \"%s\" in:\n%s", want, r.out);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(plugins_test, fails_an_optimizer_that_keeps_state_outside_its_slots)
{
    static run r;
    nntrain(&r, "plugins test hidden_state");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "state", "FAIL", "an optimizer keeps all of its state in slots");
    /* the counted step ran: its row is there, whatever the state did */
    expect_row(&r, "allocation", COUNTS_ALLOCATIONS ? "pass" : "skip", NULL);
    /* without counting, allocation and lifecycle are both skipped */
    cr_assert(strstr(r.out, COUNTS_ALLOCATIONS ? "4 checks passed, 1 failed, 0 skipped"
                                               : "2 checks passed, 1 failed, 2 skipped"),
              "%s", r.out);
}

/* a check that stops early still shows, and counts, the rows it could not run */
Test(plugins_test, shows_the_allocation_row_skipped_when_the_state_check_fails)
{
    static run r;
    nntrain(&r, "plugins test refusing_optim");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "state", "FAIL", "refuses step 1");
    expect_row(&r, "allocation", "skip", "skipped (because the state check failed before a "
               "step() could be counted)");
    cr_assert(strstr(r.out, COUNTS_ALLOCATIONS ? "3 checks passed, 1 failed, 1 skipped"
                                               : "2 checks passed, 1 failed, 2 skipped"),
              "%s", r.out);
    nntrain(&r, "plugins test refusing_sched --steps 12");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schedule", "FAIL", "refuses step");
    expect_row(&r, "state", "FAIL", "refuses step");
    expect_row(&r, "allocation", "skip", "skipped (because the state check failed before a "
               "step() could be counted)");
    /* schema, exports, schedule, state, allocation, lifecycle */
    cr_assert(strstr(r.out, COUNTS_ALLOCATIONS ? "3 checks passed, 2 failed, 1 skipped"
                                               : "2 checks passed, 2 failed, 2 skipped"),
              "%s", r.out);
}

Test(plugins_test, fails_a_scheduler_whose_rate_depends_on_unsaved_state)
{
    static run r;
    nntrain(&r, "plugins test counting_sched --steps 12");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schedule", "pass", "stepped per batch");
    expect_row(&r, "state", "FAIL", "needs NN_CAP_STATEFUL with state_save/state_load");
}

Test(plugins_test, fails_an_optimizer_without_lr_and_a_file_that_exports_more)
{
    static run r;
    nntrain(&r, "plugins test no_lr");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "schema", "FAIL", "optimizer 'no_lr': its schema has no float key 'lr'");
    nntrain(&r, "plugins test extrasym");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "exports", "FAIL", "extrasym_helper");
    expect_row(&r, "exports", "FAIL", "extrasym_second");
}

Test(plugins_test, runs_a_layer_on_a_device_whose_memory_the_host_cannot_touch)
{
    static run r;
    nntrain(&r, "plugins test fd_scale --device fakedev");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "layer fd_scale 1.0.0 (device fakedev)"), "%s", r.out);
    expect_row(&r, "gradient", "pass", NULL);
    expect_row(&r, "determinism", "pass", NULL);
    expect_row(&r, "null grads", "pass", NULL);
    /* the cpu has no fd_scale */
    nntrain(&r, "plugins test fd_scale");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "no plugin named 'fd_scale' for device cpu"), "%s", r.out);
}

/* device memory is fenced too: canary zones around each tensor in its device allocation, and
 * what a call must only read, read back and compared */
Test(plugins_test, finds_a_device_kernel_writing_past_its_output_or_into_its_input)
{
    static run r;
    nntrain(&r, "plugins test fd_overrun --device fakedev");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "forward() wrote past the end of output"), "%s", r.out);
    cr_assert(strstr(r.out, "bytes 0 to 3 after its end changed"), "%s", r.out);
    nntrain(&r, "plugins test fd_inplace --device fakedev");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "forward() changed inputs[0], which it must only read (element 0"),
              "%s", r.out);
}

/* a backend that counts its live device blocks (mem_live) lets the runner find device memory
 * a plugin never gives back */
Test(plugins_test, finds_device_memory_a_layer_never_frees)
{
    static run r;
    nntrain(&r, "plugins test fd_leak --device fakedev");
    cr_assert_eq(r.status, 1, "%s", r.out);
    expect_row(&r, "device mem", "FAIL",
               "100 create/setup/bind/destroy on fakedev:0 left 100 device blocks");
    nntrain(&r, "plugins test fd_scale --device fakedev");
    cr_assert_eq(r.status, 0, "%s", r.out);
    expect_row(&r, "device mem", "pass", "no device block left per cycle");
}

Test(plugins_test, names_what_it_cannot_find)
{
    static run r;
    nntrain(&r, "plugins test nosuch");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "no plugin named 'nosuch' for device cpu"), "%s", r.out);
    nntrain(&r, "plugins test");
    cr_assert_eq(r.status, 2, "%s", r.out);
}

Test(plugins_check, flags_extra_exports_and_an_optimizer_without_lr)
{
    static run r;
    nntrain(&r, "plugins check " NNTEST_BROKEN_DIR);
    cr_assert_eq(r.status, 3, "%s", r.out);
    cr_assert(strstr(r.out, "WARNING " NNTEST_BROKEN_DIR "/nntest_extrasym.so: exports 2 "
                            "symbols besides nn_plugin_descriptors: extrasym_helper "
                            "extrasym_second; nntrain loads it"), "%s", r.out);
    cr_assert(strstr(r.out, "optimizer 'no_lr': its schema has no float key 'lr'; nntrain reads "
                            "the base learning rate from it"), "%s", r.out);
    cr_assert(strstr(r.out, "ok      " NNTEST_BROKEN_DIR "/nntest_badoptim.so: optimizer "
                            "hidden_state"), "%s", r.out);
    /* an option it does not take is a usage error, not a directory that failed */
    nntrain(&r, "plugins check " NNTEST_BROKEN_DIR " --run-dir x");
    cr_assert_eq(r.status, 2, "%s", r.out);
    cr_assert(strstr(r.out, "plugins check: unexpected option '--run-dir'"), "%s", r.out);
    /* a file whose section headers are cut off still loads: one verdict, a warning (it was
     * BROKEN and ok at once) */
    char dir[] = "/tmp/nntest-trunc.XXXXXX", cmd[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "head -c -200 '%s/nntest_broken.so' > '%s/trunc.so'",
             NNTEST_BROKEN_DIR, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "plugins check %s", dir);
    nntrain(&r, cmd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(r.status, 3, "%s", r.out);
    cr_assert(strstr(r.out, "WARNING /tmp/nntest-trunc.") &&
              strstr(r.out, "/trunc.so: no section headers to read the exported symbols from; "
                            "nntrain loads it, but its exports cannot be checked") &&
              strstr(r.out, "ok      ") && !strstr(r.out, "BROKEN"), "%s", r.out);
}

Test(plugins_show, unknown_name_is_not_blamed_on_one_kind)
{
    static run r;
    nntrain(&r, "plugins show nosuch");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "no plugin named 'nosuch'; `nntrain plugins` lists them"), "%s",
              r.out);
    cr_assert_null(strstr(r.out, "backend"), "%s", r.out);
    nntrain(&r, "plugins show bad_gard");
    cr_assert(strstr(r.out, "no plugin named 'bad_gard' (did you mean 'bad_grad'?)"), "%s",
              r.out);
}

Test(plugins_show, shows_every_kind_that_has_the_name)
{
    static run r;
    char args[512];
    snprintf(args, sizeof args, "plugins show csv --plugin-dir '%s' --plugin-dir '%s'",
             NNTEST_DATA_DIR, NNTEST_LOGGER_DIR);
    nntrain(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "dataset csv ("), "%s", r.out);
    cr_assert(strstr(r.out, "logger csv ("), "%s", r.out);
}

Test(plugins_show, lists_the_warmup_keys_with_every_scheduler)
{
    static run r;
    nntrain(&r, "plugins show counting_sched");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "keys nntrain itself reads from [scheduler], with any scheduler:"),
              "%s", r.out);
    cr_assert(strstr(r.out, "warmup_steps         int in [0, inf), default 0"), "%s", r.out);
    cr_assert(strstr(r.out, "warmup_start_factor  float in (0, 1]"), "%s", r.out);
    nntrain(&r, "help train");
    cr_assert(strstr(r.out, "Keys of [scheduler] that nntrain reads itself"), "%s", r.out);
    cr_assert(strstr(r.out, "warmup_epochs        int in [0, inf), default 0"), "%s", r.out);
}

/* every stock layer has cases the runner can exercise: none is left "not checked" (permute and
 * transformer_encoder_layer were, silently, until they got test specs and the runner gave
 * layers room for more than 8 parameters) */
Test(plugins_test, every_stock_layer_is_checked)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' plugins test --all --kind layer 2>&1 | tail -n 1",
             getenv("NNTRAIN_EXE"));
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    char line[512] = "";
    cr_assert_not_null(fgets(line, sizeof line, f));
    pclose(f);
    cr_assert(strstr(line, " 0 with failures, 0 not checked"), "%s", line);
}
