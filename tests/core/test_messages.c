/* test_messages.c: what the real nntrain says about a bad model file. Line endings of every
 * kind, sizes that would overflow or exhaust memory, schema errors that name one place once,
 * bytes that must not reach a terminal raw, and `summary` checking every section with the
 * same code (and so the same words) as `train`, writing nothing. Model files use the
 * nntest_fault dataset, so no data files are needed. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include <dirent.h>

static char *dir;
static char plugins[4200], model[4200];
static run_result res;

static void setup(void)
{
    dir = tmpdir_new();
    fault_plugins(dir, plugins, sizeof plugins);
    snprintf(model, sizeof model, "%s/m.ini", dir);
    cr_assert_eq(chdir(dir), 0); /* a run directory would appear here */
}

static void teardown(void)
{
    tmpdir_free(dir);
}

TestSuite(messages, .init = setup, .fini = teardown, .timeout = 120);

static void write_model(const char *text)
{
    write_text(model, text);
}

static void summary(void)
{
    run_nntrain(&res, "summary", model, "--plugin-dir", plugins, NULL);
}

/* the first line of out that starts with "nntrain: " and is not a warning */
static void first_error(const char *out, char *buf, size_t cap)
{
    buf[0] = 0;
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, "nntrain: ", 9) == 0 && strncmp(p, "nntrain: warning", 16) != 0) {
            snprintf(buf, cap, "%.*s", (int)l, p);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
}

static const char *good =
    "[train]\nepochs = 1\nbatch_size = 8\n"
    "[data]\ntype = nntest_fault\n"
    "[transform.t]\ntype = nntest_fault\n"
    "[loss]\ntype = cross_entropy\n"
    "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
    "[scheduler]\ntype = step\nstep_size = 1\n"
    "[layer.fc]\ntype = dense\nunits = 2\n"
    "[logger.log]\ntype = csv\n";

/* replaces the first `text` in the model file by `by` */
static void edit_model(const char *text, const char *by)
{
    char now[2048], buf[2048];
    FILE *f = fopen(model, "rb");
    cr_assert(f);
    size_t n = fread(now, 1, sizeof now - 1, f);
    fclose(f);
    now[n] = 0;
    const char *at = strstr(now, text);
    cr_assert(at, "'%s' is not in the model file:\n%s", text, now);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - now), now, by, at + strlen(text));
    write_model(buf);
}

/* good with `text` replaced by `by` (once) */
static void write_good_with(const char *text, const char *by)
{
    write_model(good);
    edit_model(text, by);
}

static void replace_all(char *s, char from, const char *to, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++)
        if (*s == from)
            for (const char *t = to; *t; t++)
                out[o++] = *t;
        else
            out[o++] = *s;
    out[o] = 0;
}

Test(messages, a_model_file_with_cr_only_line_ends_reads_as_with_lf)
{
    char text[2048];
    replace_all((char *)good, '\n', "\r", text, sizeof text);
    write_model(text);
    summary();
    assert_exit(&res, 0);
    assert_has(res.out, "fc"); /* the layer table */
    /* and errors count lines as an editor does */
    char *u = strstr(text, "units = 2");
    memcpy(u, "units = x", 9);
    write_model(text);
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "m.ini:19: [layer.fc] key 'units' = 'x': not an integer");
}

Test(messages, a_model_file_with_crlf_line_ends_reads_as_with_lf)
{
    char text[2048];
    replace_all((char *)good, '\n', "\r\n", text, sizeof text);
    write_model(text);
    summary();
    assert_exit(&res, 0);
    char *u = strstr(text, "units = 2");
    memcpy(u, "units = x", 9);
    write_model(text);
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "m.ini:19: [layer.fc] key 'units' = 'x': not an integer");
    assert_lacks(res.out, "\r");
}

Test(messages, a_schema_error_names_the_key_line_once_not_the_section_line_too)
{
    write_good_with("units = 2", "units = many");
    summary();
    assert_exit(&res, 1);
    char want[4300];
    snprintf(want, sizeof want, "nntrain: %s:19: [layer.fc] key 'units' = 'many'", model);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "%s:17:", model); /* the section's line: not said at all */
    assert_lacks(res.out, want);

    write_good_with("type = csv", "type = csv\nbogus = 1");
    summary();
    assert_exit(&res, 1);
    snprintf(want, sizeof want, "nntrain: %s:22: [logger.log] unknown key 'bogus'", model);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "%s:20:", model);
    assert_lacks(res.out, want);
}

Test(messages, a_huge_units_value_is_refused_by_its_key_range)
{
    write_good_with("units = 2", "units = 2147483648");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "m.ini:19: [layer.fc] key 'units' = '2147483648': out of range");
    assert_lacks(res.out, "out of memory");
}

Test(messages, a_parameter_larger_than_memory_names_layer_key_shape_and_size)
{
    /* 2^24 inputs x 2^24 units: each key in range, the weight 1.13 PB */
    write_good_with("type = nntest_fault\n", "type = nntest_fault\nfeatures = 16777216\n");
    edit_model("units = 2\n", "units = 16777216\n");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "[layer.fc]: layer 'fc' (dense from ");
    assert_has(res.out, "/dense.so): parameter 'weight' of shape [16777216, 16777216] needs "
                        "1.13 PB (1125899906842624 bytes), more than this machine's");
    assert_has(res.out, "key 'units' = 16777216 at ");
    assert_has(res.out, "m.ini:20 sets it");
    assert_lacks(res.out, "out of memory for");
}

Test(messages, a_batch_larger_than_memory_says_to_lower_batch_size)
{
    /* 100000 samples: a batch holds no more rows than the data (batch_size is a bound) */
    write_good_with("batch_size = 8", "batch_size = 1048576");
    edit_model("type = nntest_fault\n",
               "type = nntest_fault\nfeatures = 1048576\nlength = 100000\n");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "the layer outputs of a batch of 100000 need ");
    assert_has(res.out, "lower [train] batch_size");
}

Test(messages, binary_bytes_of_a_model_file_are_escaped_not_echoed)
{
    write_model("[train]\nepochs = 1\n[\x1b[31mred\x07]\nx = 1\n");
    summary();
    assert_exit(&res, 2);
    assert_has(res.out, "unknown section [\\x1b[31mred\\x07]");
    cr_assert_null(strchr(res.out, '\x1b'), "a raw ESC reached the output:\n%s", res.out);
    cr_assert_null(strchr(res.out, '\x07'));

    write_good_with("units = 2", "units = 2\xff\xfe\x1b[2J");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "key 'units' = '2\\xff\\xfe\\x1b[2J'");
    cr_assert_null(strchr(res.out, '\x1b'));
    cr_assert_null(strchr(res.out, '\xff'));

    write_good_with("units = 2", "units = 2\n\x01\x02 = 3");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "unknown key '\\x01\\x02'");

    /* UTF-8 text is not binary: it stays as written */
    write_good_with("units = 2", "units = zwei\xc3\xa9");
    summary();
    assert_exit(&res, 1);
    assert_has(res.out, "key 'units' = 'zwei\xc3\xa9'");
}

/* ---- summary checks every section as train does ---- */

static int entries_in(const char *path)
{
    DIR *d = opendir(path);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* summary and train both refuse the model with the same first error line, which holds want;
 * summary leaves the directory as it was */
static void both_refuse(const char *want)
{
    int before = entries_in(dir);
    summary();
    cr_assert_eq(entries_in(dir), before, "summary wrote something:\n%s", res.out);
    assert_exit(&res, 1);
    char s_err[1024], t_err[1024];
    first_error(res.out, s_err, sizeof s_err);
    assert_has(s_err, want);
    run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--run-dir", "run",
                "--threads", "1", NULL);
    cr_assert(!(res.exited && res.code == 0), "train accepted it:\n%s", res.out);
    first_error(res.out, t_err, sizeof t_err);
    cr_assert_str_eq(s_err, t_err, "summary and train disagree");
}

Test(messages, summary_of_a_good_model_checks_everything_and_writes_nothing)
{
    write_model(good);
    int before = entries_in(dir);
    summary();
    assert_exit(&res, 0);
    cr_assert_eq(entries_in(dir), before);
    assert_has(res.out, "total: 10 parameters"); /* dense 4 -> 2 */
}

Test(messages, summary_checks_train)
{
    write_good_with("epochs = 1",
                    "epochs = 0");
    both_refuse("[train] key 'epochs' = '0': out of range");
}

Test(messages, summary_checks_data)
{
    write_good_with("type = nntest_fault\n",
                    "type = nntest_fault\nlenght = 3\n");
    both_refuse("[data] unknown key 'lenght' (did you mean 'length'?)");
}

Test(messages, summary_checks_transforms)
{
    write_good_with("[transform.t]\ntype = nntest_fault\n",
                    "[transform.t]\ntype = nntest_fault\ncrash_in = often\n");
    both_refuse("[transform.t] key 'crash_in' = 'often'");
}

Test(messages, summary_checks_the_loss)
{
    write_good_with("type = cross_entropy",
                    "type = cross_entropy\nlabel_smoothing = 2");
    both_refuse("[loss] key 'label_smoothing' = '2': out of range");
}

Test(messages, summary_checks_the_optimizer)
{
    write_good_with("momentum = 0.9",
                    "momentum = 0.9\nmomentx = 1");
    both_refuse("[optimizer] unknown key 'momentx' (did you mean 'momentum'?)");
}

Test(messages, summary_checks_the_scheduler)
{
    write_good_with("step_size = 1",
                    "step_sise = 1");
    both_refuse("[scheduler] unknown key 'step_sise' (did you mean 'step_size'?)");
}

Test(messages, summary_checks_the_scheduler_type)
{
    write_good_with("type = step",
                    "type = stepp");
    both_refuse("no scheduler plugin named 'stepp' (did you mean 'step'?)");
}

Test(messages, summary_checks_loggers)
{
    write_good_with("type = csv",
                    "type = csv\nevery = -3");
    both_refuse("[logger.log] key 'every' = '-3': out of range");
}

Test(messages, summary_checks_the_layers)
{
    write_good_with("units = 2",
                    "units = 2\nactivation = relu6");
    both_refuse("[layer.fc] key 'activation' = 'relu6'");
}

/* ---- a plugin's own refusal names the key's line (else its section's) and the plugin once ---- */

/* the first error line of `train` holds "nntrain: MODEL:LINE: " + rest */
static void train_refuses_at(int line, const char *rest)
{
    run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--run-dir", "run",
                "--threads", "1", NULL);
    cr_assert(!(res.exited && res.code == 0), "train accepted it:\n%s", res.out);
    char got[1024], want[4400];
    first_error(res.out, got, sizeof got);
    snprintf(want, sizeof want, "nntrain: %s:%d: %s", model, line, rest);
    cr_assert(strncmp(got, want, strlen(want)) == 0, "want \"%s...\", got \"%s\"", want, got);
}

Test(messages, a_transform_create_refusal_names_the_key_line_and_the_plugin_once)
{
    /* [transform.t] is line 6, type line 7, the key line 8 */
    write_good_with("[transform.t]\ntype = nntest_fault\n",
                    "[transform.t]\ntype = color_jitter\nbrightness = -1\n");
    train_refuses_at(8, "[transform.t]: transform 'color_jitter': key 'brightness' = -1 must "
                        "be >= 0");
    assert_lacks(res.out, "transform 'color_jitter': transform");

    write_good_with("[transform.t]\ntype = nntest_fault\n",
                    "[transform.t]\ntype = gaussian_blur\nkernel_size = 4\n");
    train_refuses_at(8, "[transform.t]: transform 'gaussian_blur': key 'kernel_size' = 4, 4 "
                        "must be odd");
}

Test(messages, a_transform_refusal_without_a_key_names_the_section_line)
{
    write_good_with("[transform.t]\ntype = nntest_fault\n", "[transform.t]\ntype = add_noise\n");
    train_refuses_at(6, "[transform.t]: transform 'add_noise' expects an F32 waveform");
    assert_lacks(res.out, "transform 'add_noise': transform");

    write_good_with("[transform.t]\ntype = nntest_fault\n",
                    "[transform.t]\ntype = random_rotation\n");
    train_refuses_at(6, "[transform.t] missing required key 'degrees'");
}

Test(messages, a_loss_refusal_names_the_key_line_and_the_plugin_once)
{
    /* [loss] is line 8, type line 9 */
    write_good_with("type = cross_entropy", "type = cross_entropy\nweight = 1, 2, 3");
    train_refuses_at(10, "[loss]: loss 'cross_entropy' given the model output [8, 2] and "
                         "targets [8]: key 'weight' has 3 values");
    assert_lacks(res.out, "cross_entropy: key");

    write_good_with("type = cross_entropy", "type = crossentropy");
    train_refuses_at(9, "[loss] key 'type' = 'crossentropy': no loss plugin named "
                        "'crossentropy' (did you mean 'cross_entropy'?)");
}

Test(messages, a_cosine_eta_min_above_lr_is_refused_naming_both_lines)
{
    /* [optimizer] lr is line 12; [scheduler] line 14, eta_min line 16 */
    write_good_with("type = step\nstep_size = 1\n", "type = cosine\neta_min = 5\n");
    train_refuses_at(16, "[scheduler]: scheduler 'cosine': key 'eta_min' = 5 is above the "
                         "optimizer's key 'lr' = 0.1");
    char want[4300];
    snprintf(want, sizeof want, "(see %s:12: [optimizer] key 'lr')", model);
    assert_has(res.out, want);
}

Test(messages, label_smoothing_in_a_batch_transform_and_the_loss_is_refused_naming_both)
{
    write_good_with("[transform.t]\ntype = nntest_fault\n",
                    "[transform.t]\ntype = mixup\nlabel_smoothing = 0.1\n");
    edit_model("type = cross_entropy", "type = cross_entropy\nlabel_smoothing = 0.2");
    char rest[4400];
    snprintf(rest, sizeof rest, "[transform.t] key 'label_smoothing' = 0.1 and %s:11: [loss] "
             "key 'label_smoothing' = 0.2 would smooth the training targets twice", model);
    train_refuses_at(8, rest);
    /* either one alone is fine */
    edit_model("label_smoothing = 0.2", "label_smoothing = 0");
    summary();
    assert_exit(&res, 0);
}

/* `train` into run_dir (with --quiet when quiet) succeeds; res holds its output */
static void train_ok(const char *run_dir, int quiet)
{
    run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--run-dir", run_dir,
                "--threads", "1", quiet ? "--quiet" : NULL, NULL);
    assert_exit(&res, 0);
}

/* the output holds "nntrain: warning: MODEL:LINE: " + rest */
static void warned_at(int line, const char *rest)
{
    char want[4400];
    snprintf(want, sizeof want, "nntrain: warning: %s:%d: %s", model, line, rest);
    assert_has(res.out, want);
}

Test(messages, a_warm_up_as_long_as_the_run_is_a_warning_naming_its_line_and_the_steps)
{
    /* 32 samples in batches of 8 for 1 epoch: 4 steps; warmup_steps is line 17 */
    write_good_with("step_size = 1\n", "step_size = 1\nwarmup_steps = 4\n");
    train_ok("run", 1);
    warned_at(17, "[scheduler] key 'warmup_steps' = 4 is not shorter than the whole run (4 "
                  "steps: 1 epochs of 4 steps), so the rate never reaches lr = 0.1");

    write_good_with("step_size = 1\n", "step_size = 1\nwarmup_steps = 3\n");
    train_ok("run2", 0);
    assert_lacks(res.out, "warmup_steps");
}

/* --quiet silences progress, never the warning that a logger is off: the run goes on without
 * that log, and the user reads why and where in the model file */
Test(messages, a_logger_that_cannot_open_warns_at_its_line_even_when_quiet)
{
    /* [logger.log] is line 20, type line 21, path line 22 */
    /* a path out of the run is the model file's mistake: refused at its line */
    write_good_with("type = csv", "type = csv\npath = /nonexistent/x.csv");
    run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--run-dir", "run", "--threads",
                "1", "--quiet", NULL);
    assert_exit(&res, 1);
    char want[4400];
    snprintf(want, sizeof want, "nntrain: %s:22: [logger.log]: logger 'csv': key 'path' = "
             "'/nonexistent/x.csv': the file must stay inside the run directory", model);
    assert_has(res.out, want);

    /* a place that cannot be written, and no key to blame: the section's line */
    write_good_with("type = csv", "type = csv\npath = sub");
    cr_assert_eq(mkdir("run2", 0755), 0);
    cr_assert_eq(mkdir("run2/sub", 0755), 0);
    train_ok("run2", 1);
    warned_at(20, "[logger.log]: logger 'csv' failed in open: ");
    assert_has(res.out, "Is a directory; it is switched off and training goes on");
}

/* a layer whose forward or backward fails without a message is still explained: the status
 * it returned, mapped to NN_EINTERNAL when it is not one of nntrain's */
Test(messages, a_layer_failing_without_a_message_is_named_with_its_status)
{
    const char *cases[][3] = {
        {"forward", "7", "layer 'boom' (nntest_fault) forward: returned status 7 without a "
                         "message"},
        {"backward", "-1", "layer 'boom' (nntest_fault) backward: returned status -1 (invalid "
                           "argument) without a message"},
    };
    for (int k = 0; k < 2; k++) {
        char layer[200];
        snprintf(layer, sizeof layer, "[layer.fc]\ntype = dense\nunits = 2\n[layer.boom]\n"
                 "type = nntest_fault\nfail_in = %s\nfail_status = %s\n", cases[k][0],
                 cases[k][1]);
        write_good_with("[layer.fc]\ntype = dense\nunits = 2\n", layer);
        run_nntrain(&res, "train", model, "--plugin-dir", plugins, "--no-test", "--threads",
                    "1", NULL);
        assert_exit(&res, 1);
        assert_has(res.out, cases[k][2]);
    }
}
