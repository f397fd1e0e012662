/* test_cli.c: the nntrain executable itself ($NNTRAIN_EXE): version and help, exit codes,
 * `plugins` listing and filtering, `plugins show` docs, and `plugins check` on each broken
 * test plugin. nntrain must report every broken plugin and never die of a signal. */
#include "helpers.h"

#include "nntrain/plugin.h"
#include "version.h"

static run_result res;

/* a directory holding only the named test plugin; checked with `nntrain plugins check` */
static void check_one(const char *plugin, const char *reason)
{
    char *dir = plugin_dir_with(plugin, NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    char line[4300];
    snprintf(line, sizeof line, "BROKEN  %s/%s.so: ", dir, plugin);
    assert_has(res.out, line);
    assert_has(res.out, reason);
    assert_has(res.out, "1 file checked: 0 plugins ok, 1 problem");
    tmpdir_free(dir);
}

Test(cli, version_prints_version_and_abi)
{
    char want[128];
    snprintf(want, sizeof want, "nntrain %s (plugin ABI %d.%d)\n", NNTRAIN_VERSION,
             NN_ABI_MAJOR, NN_ABI_MINOR);
    run_nntrain(&res, "--version", NULL);
    assert_exit(&res, 0);
    cr_assert_str_eq(res.out, want);
}

Test(cli, help_lists_commands_options_and_exit_codes)
{
    run_nntrain(&res, "help", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "Commands:");
    assert_has(res.out, "  plugins    list, inspect and check plugins");
    assert_has(res.out, "--plugin-dir DIR");
    assert_has(res.out, "Exit codes:");
    run_nntrain(&res, "--help", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "Commands:");
}

Test(cli, help_of_a_command_shows_its_usage)
{
    run_nntrain(&res, "help", "plugins", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntrain plugins: list, inspect and check plugins");
    assert_has(res.out, "plugins show NAME");
    assert_has(res.out, "plugins check [DIR...]");
    assert_has(res.out, "exits 3 if any file is broken");
    run_nntrain(&res, "help", "frobnicate", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "no command 'frobnicate'");
    /* `nntrain CMD --help` (or -h, anywhere before a "--") is `nntrain help CMD` */
    static const char *const verbs[] = {"train", "eval", "predict", "cv", "export", "summary",
                                        "plugins", "devices"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
        char want[64];
        snprintf(want, sizeof want, "nntrain %s: ", verbs[i]);
        run_nntrain(&res, verbs[i], "--help", NULL);
        assert_exit(&res, 0);
        assert_has(res.out, want);
        assert_has(res.out, "Usage:");
    }
    run_nntrain(&res, "train", "model.ini", "--seed", "3", "-h", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "Keys of the model file's [train] section:");
    run_nntrain(&res, "plugins", "show", "--help", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "plugins show NAME");
}

/* --seed takes [train] seed's range: a larger value was clamped to 2^63-1, so different seeds
 * made one run, and the run's own model.ini then refused that seed */
Test(cli, a_seed_out_of_range_is_a_usage_error)
{
    static const char *const bad[] = {"99999999999999999999", "9300000000000000000", "-1",
                                      "", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_nntrain(&res, "summary", "model.ini", "--seed", bad[i], NULL);
        assert_exit(&res, 2);
        assert_has(res.out, "expected an integer in [0, 9.2e18], as [train] seed");
    }
}

Test(cli, unknown_command_and_no_command_are_usage_errors)
{
    run_nntrain(&res, "frobnicate", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "nntrain: unknown command 'frobnicate'; `nntrain help` lists");
    run_nntrain(&res, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "Commands:");
    run_nntrain(&res, "plugins", "--set", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--set needs a value");
}

Test(cli, plugins_lists_and_filters_by_kind)
{
    char *dir = plugin_dir_with("nntest_valid", "nntest_loss", NULL);
    unsetenv("NNTRAIN_PLUGIN_PATH");
    run_nntrain(&res, "plugins", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntest_valid");
    assert_has(res.out, "nntest_loss");
    assert_has(res.out, "2 plugins");

    run_nntrain(&res, "plugins", "--kind", "layer", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer      nntest_valid");
    assert_has(res.out, "scales its input by factor");
    assert_lacks(res.out, "nntest_loss");
    assert_has(res.out, "1 plugin\n");

    run_nntrain(&res, "plugins", "--plugin-dir", dir, "--kind=loss", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "loss       nntest_loss");
    assert_lacks(res.out, "nntest_valid");

    run_nntrain(&res, "plugins", "--kind", "layers", "--plugin-dir", dir, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "unknown kind 'layers'");
    run_nntrain(&res, "plugins", "--plugin-dir", dir, "--kind", NULL);
    assert_exit(&res, 2);
    cr_assert_str_eq(res.out, "nntrain: --kind needs a value\n");
    run_nntrain(&res, "plugins", "show", "nntest_valid", "--plugin-dir", dir, "--kindly", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "plugins show: unknown option '--kindly'");
    tmpdir_free(dir);
}

Test(cli, plugins_show_documents_every_parameter)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    unsetenv("NNTRAIN_PLUGIN_PATH");
    run_nntrain(&res, "plugins", "show", "nntest_valid", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer nntest_valid (1.2.3, device cpu)");
    assert_has(res.out, "license: MIT");
    assert_has(res.out, "capabilities: backward");
    /* name, type and range, default (or required/optional), and doc of every key */
    const char *rows[] = {
        "units                int in [1, inf), required\n      number of output features",
        "factor               float in (0, 1], default 0.5\n      scale applied to the output",
        "use_bias             bool, default true\n      add a learned bias",
        "mode                 one of fan_in|fan_out|avg, default fan_in\n"
        "      which fan the initialisation scales by",
        "kernel               int list in [1, 64], default 3,3\n"
        "      kernel extent per spatial axis",
        "weights              float list in [0, 1), optional\n      per-class weights",
        "tag                  string, default \"\"\n      free text kept with the layer",
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        assert_has(res.out, rows[i]);

    run_nntrain(&res, "plugins", "show", "nntest_vaild", "--plugin-dir", dir, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "did you mean 'nntest_valid'?");
    run_nntrain(&res, "plugins", "show", "--plugin-dir", dir, NULL);
    assert_exit(&res, 2);
    tmpdir_free(dir);
}

/* the [data] keys nntrain reads itself were in no help text: help train lists them, from the
 * schema that checks them, as it lists [train] and [scheduler] */
Test(cli, help_train_lists_the_data_keys_nntrain_reads_itself)
{
    run_nntrain(&res, "help", "train", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "Keys of [data] that nntrain reads itself (the others go to the dataset "
                        "plugin):\n  type                 string, required\n");
    assert_has(res.out, "  val_split            float in [0, 1), default 0\n      fraction of "
                        "the training split held out for validation");
    assert_has(res.out, "  stratify             bool, default true\n");
    assert_has(res.out, "  val_type             string\n      a separate validation dataset "
                        "plugin instead of val_split; each key val_KEY sets that plugin's KEY");
    assert_has(res.out, "  limit                int in [0, inf), default 0\n");
    assert_has(res.out, "  test_limit           int in [0, inf), default 0\n");
}

/* what FILE:RECORD counts differs by the kind of file (tests/trainer/test_predict.c checks
 * b.csv:2 for a CSV's first row); help predict says it for each */
Test(cli, help_predict_says_what_the_record_number_of_each_kind_of_file_counts)
{
    run_nntrain(&res, "help", "predict", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "an IDX or CIFAR\n    file's 0-based record index (FILE:0 is the first "
                        "image)");
    assert_has(res.out, "a CSV file's line number,\n    1-based with the header as line 1 "
                        "(FILE:2 is the first row");
    assert_has(res.out, "a text file's 1-based line");
}

/* --device narrows `plugins show` to that device type's variant; a type that no backend
 * provides is a command-line error naming the known types, as it was silently accepted */
Test(cli, plugins_show_device_shows_only_that_device_and_refuses_an_unknown_type)
{
    run_nntrain(&res, "plugins", "show", "relu", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer relu (1.0.0, device cpu)");
    assert_has(res.out, "layer relu (1.0.0, device sim)");
    run_nntrain(&res, "plugins", "show", "relu", "--device", "sim:1", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer relu (1.0.0, device sim)");
    assert_lacks(res.out, "device cpu)");
    assert_lacks(res.out, "device cuda)");
    run_nntrain(&res, "plugins", "show", "relu", "--device=cpu", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer relu (1.0.0, device cpu)");
    assert_lacks(res.out, "device sim)");
    run_nntrain(&res, "plugins", "show", "relu", "--device", "nonexist", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "plugins show: --device 'nonexist': no backend plugin for device type "
                        "'nonexist' was found (device types: cpu, ");
    assert_has(res.out, "sim");
    assert_lacks(res.out, "layer relu (");
    /* a layer the sim pack lacks: said, with the devices that have it */
    run_nntrain(&res, "plugins", "show", "lstm", "--device", "sim", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "no plugin 'lstm' for device sim; devices that have it: cpu");
}

/* two files of one (kind, name, device) and no --plugin-override: show says the second was
 * refused and how to choose, instead of presenting the first as the plugin */
Test(cli, plugins_show_names_a_refused_duplicate_and_the_override)
{
    char *a = plugin_dir_with("nntest_dup_a", NULL);
    char *b = plugin_dir_with("nntest_dup_b", NULL);
    unsetenv("NNTRAIN_PLUGIN_PATH");
    run_nntrain(&res, "plugins", "show", "nntest_dup", "--plugin-dir", a, "--plugin-dir", b,
                NULL);
    char want[9000];
    snprintf(want, sizeof want, "  file:    %s/nntest_dup_a.so\n  conflict: %s/nntest_dup_b.so "
             "also provides it and was refused; nntrain refuses the name until one file is "
             "removed, or --plugin-override lets %s/nntest_dup_a.so", a, b, a);
    assert_has(res.out, want);
    run_nntrain(&res, "plugins", "show", "nntest_dup", "--plugin-override", "--plugin-dir", a,
                "--plugin-dir", b, NULL);
    assert_exit(&res, 0);
    snprintf(want, sizeof want, "  file:    %s/nntest_dup_a.so\n  overrides: %s/nntest_dup_b.so "
             "(--plugin-override: this file, earlier in the search order, is the one used)", a,
             b);
    assert_has(res.out, want);
    assert_lacks(res.out, "conflict:");
    tmpdir_free(a);
    tmpdir_free(b);
}

/* the stock csv is a dataset and a logger: the second must not hide below the first's keys */
Test(cli, plugins_show_of_a_name_of_two_kinds_says_so_first_and_shows_both)
{
    run_nntrain(&res, "plugins", "show", "csv", NULL);
    assert_exit(&res, 0);
    const char *head = "csv is a dataset and a logger; both are shown (--kind dataset or "
                       "--kind logger for one)\n\n";
    cr_assert(strncmp(res.out, head, strlen(head)) == 0, "%s", res.out);
    assert_has(res.out, "dataset csv (");
    assert_has(res.out, "logger csv (");
    run_nntrain(&res, "plugins", "show", "csv", "--kind", "logger", NULL);
    assert_exit(&res, 0);
    assert_lacks(res.out, "both are shown");
    assert_lacks(res.out, "dataset csv (");
    assert_has(res.out, "logger csv (");
    run_nntrain(&res, "plugins", "show", "dense", NULL);
    assert_exit(&res, 0);
    assert_lacks(res.out, "for one)"); /* one kind (on any device): no such line */
}

Test(cli, check_passes_a_directory_of_good_plugins)
{
    char *dir = plugin_dir_with("nntest_valid", "nntest_loss", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 0);
    char line[4300];
    snprintf(line, sizeof line, "ok      %s/nntest_valid.so: layer nntest_valid 1.2.3", dir);
    assert_has(res.out, line);
    assert_has(res.out, "2 files checked: 2 plugins ok, 0 problems");
    tmpdir_free(dir);
}

/* nntest_text's constructor prints "ok      forged.so: ..." to stdout: neither the probe
 * child's load nor the one in process may put it among check's lines, nor the listing's */
Test(cli, a_constructor_s_output_never_reads_as_a_line_of_plugins_or_check)
{
    char *dir = plugin_dir_with("nntest_text", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_lacks(res.out, "forged");
    assert_has(res.out, "summary holds a control character (0x1b) at byte 3");
    assert_lacks(res.out, "\x1b");
    assert_lacks(res.out, "\r");
    run_nntrain(&res, "plugins", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_lacks(res.out, "forged");
    tmpdir_free(dir);
}

Test(cli, check_reports_a_wrong_abi_with_both_versions)
{
    char host[32];
    snprintf(host, sizeof host, "this nntrain speaks ABI %d.%d", NN_ABI_MAJOR, NN_ABI_MINOR);
    check_one("nntest_abi", "plugin was built for ABI 99.0");
    assert_has(res.out, host);
}

Test(cli, check_reports_a_missing_entry_symbol)
{
    check_one("nntest_nosym", "no entry symbol 'nn_plugin_descriptors'");
}

Test(cli, check_reports_a_missing_library_with_dlerror_text)
{
    check_one("nntest_needlib", "libnntest_gone.so.0: cannot open shared object file");
}

Test(cli, check_survives_a_crashing_constructor_and_names_the_signal)
{
    check_one("nntest_crash", "crashed while loading: SIGSEGV");
}

Test(cli, check_reports_malformed_descriptors)
{
    char *dir = plugin_dir_with("nntest_fields", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "required field 'summary' is missing");
    assert_has(res.out, "1 file checked: 1 plugin ok, 7 problems");
    tmpdir_free(dir);
}

Test(cli, check_reports_duplicates_unless_override_is_asked)
{
    char *dir = plugin_dir_with("nntest_dup_a", "nntest_dup_b", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/nntest_dup_a.so", dir);
    snprintf(b, sizeof b, "BROKEN  %s/nntest_dup_b.so: duplicate layer 'nntest_dup'", dir);
    assert_has(res.out, a);
    assert_has(res.out, b);
    run_nntrain(&res, "plugins", "check", "--plugin-override", dir, NULL);
    assert_exit(&res, 0);
    unsetenv("NNTRAIN_PLUGIN_PATH");
    run_nntrain(&res, "plugins", "show", "nntest_dup", "--plugin-override", "--plugin-dir", dir,
                NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntest_dup_a.so\n  overrides: ");
    assert_has(res.out, "nntest_dup_b.so");
    tmpdir_free(dir);
}

Test(cli, check_refuses_a_world_writable_directory)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    cr_assert_eq(chmod(dir, 0777), 0);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, dir);
    assert_has(res.out, "writable by other users (mode 0777)");
    run_nntrain(&res, "plugins", "check", "--allow-insecure-plugins", dir, NULL);
    assert_exit(&res, 0);
    tmpdir_free(dir);
}

Test(cli, check_of_a_missing_directory_is_a_problem)
{
    run_nntrain(&res, "plugins", "check", "/nonexistent/nntest", NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "BROKEN  /nonexistent/nntest: cannot stat /nonexistent/nntest");
}

Test(cli, plugin_dir_comes_before_the_environment_path)
{
    char *a = plugin_dir_with("nntest_valid", NULL);
    char *b = plugin_dir_with("nntest_valid", NULL);
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", b, 1), 0);
    run_nntrain(&res, "plugins", "show", "nntest_valid", "--plugin-override", "--plugin-dir", a,
                NULL);
    assert_exit(&res, 0);
    char file[4300];
    snprintf(file, sizeof file, "file:    %s/nntest_valid.so\n", a);
    assert_has(res.out, file);
    /* without the override the two copies are an error naming both */
    run_nntrain(&res, "plugins", "check", "--plugin-dir", a, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, b);
    assert_has(res.out, "already provided by");
    assert_has(res.out, a);
    run_nntrain(&res, "plugins", "--plugin-dir", "/nonexistent/nntest", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "--plugin-dir /nonexistent/nntest: cannot stat");
    tmpdir_free(a);
    tmpdir_free(b);
}

Test(cli, check_of_everything_broken_at_once_never_crashes)
{
    char *dir = plugin_dir_with("nntest_abi", "nntest_nosym", "nntest_needlib", "nntest_crash",
                                "nntest_dup_a", "nntest_dup_b", "nntest_fields", "nntest_valid",
                                NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "8 files checked: 3 plugins ok, 12 problems");
    unsetenv("NNTRAIN_PLUGIN_PATH");
    run_nntrain(&res, "plugins", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "12 problems:");
    /* asked for by name, a plugin whose file failed to load is said to be there, with why */
    static const char *const verbs[] = {"show", "test"};
    for (int i = 0; i < 2; i++) {
        run_nntrain(&res, "plugins", verbs[i], "nntest_nosym", "--plugin-dir", dir, NULL);
        assert_exit(&res, 1);
        assert_has(res.out, "no plugin named 'nntest_nosym': ");
        assert_has(res.out, "/nntest_nosym.so, which would hold it, failed to load: ");
        run_nntrain(&res, "plugins", verbs[i], "nntest_abi", "--plugin-dir", dir, NULL);
        assert_exit(&res, 1);
        assert_has(res.out, "/nntest_abi.so, which would hold it, failed to load: ");
        assert_has(res.out, "ABI 99.0");
    }
    tmpdir_free(dir);
}

Test(cli, every_stock_plugin_on_the_test_path_passes_check)
{
    /* NNTRAIN_PLUGIN_PATH as meson test sets it: the build directories of the stock plugins */
    const char *path = getenv("NNTRAIN_PLUGIN_PATH");
    cr_assert(path, "NNTRAIN_PLUGIN_PATH is not set (run the tests with meson test)");
    run_nntrain(&res, "plugins", "check", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, " 0 problems\n");
    assert_lacks(res.out, "BROKEN");
}

/* ---- --unset and --set KEY= ---- */

static char *unset_dir;
static char unset_model[4200], unset_plugins[4200];

static void unset_setup(void)
{
    unset_dir = tmpdir_new();
    fault_plugins(unset_dir, unset_plugins, sizeof unset_plugins);
    snprintf(unset_model, sizeof unset_model, "%s/sgd.ini", unset_dir);
    write_text(unset_model, "[train]\nepochs = 1\nbatch_size = 8\n[data]\ntype = nntest_fault\n"
                            "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
                            "[layer.fc]\ntype = dense\nunits = 2\n"
                            "[logger.quiet]\ntype = nntest_fault\n");
}

static void unset_teardown(void)
{
    tmpdir_free(unset_dir);
}

/* a dataset plugin's class ids outside the classes it declares are refused, naming the
 * sample, when it describes them (info->labels) or when a sample comes out with one; a
 * negative n_classes is refused at open */
Test(cli, class_ids_beyond_the_declared_classes_are_refused, .init = unset_setup,
     .fini = unset_teardown)
{
    char run[4300];
    snprintf(run, sizeof run, "%s/classes", unset_dir);
    run_nntrain(&res, "train", unset_model, "--plugin-dir", unset_plugins, "--run-dir", run,
                "--no-test", "--set", "data.label=5", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "[data] sample ");
    assert_has(res.out, "class id 5, but the dataset plugin declared 2 classes (ids 0 to 1)");
    run_nntrain(&res, "train", unset_model, "--plugin-dir", unset_plugins, "--run-dir", run,
                "--no-test", "--set", "data.label=2", "--set", "data.publish_labels=true",
                "--set", "data.val_split=0.25", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "[data]: sample 0 has class id 2, but the dataset plugin declared 2 "
                        "classes (ids 0 to 1)");
    run_nntrain(&res, "train", unset_model, "--plugin-dir", unset_plugins, "--run-dir", run,
                "--no-test", "--set", "data.classes=-3", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "dataset plugin described n_classes = -3; expected 0 (no classes: "
                        "regression) or more");
    run_nntrain(&res, "train", unset_model, "--plugin-dir", unset_plugins, "--run-dir", run,
                "--no-test", "--set", "data.label=1", "--set", "data.publish_labels=true",
                "--threads", "1", NULL);
    assert_exit(&res, 0);
}

static void summary_with(const char *a, const char *b, const char *c, const char *d)
{
    run_nntrain(&res, "summary", unset_model, "--plugin-dir", unset_plugins, a, b, c, d, NULL);
}

Test(cli, unset_removes_a_key_so_sgd_switches_to_adamw, .init = unset_setup,
     .fini = unset_teardown)
{
    /* adamw has no momentum: switching the type alone is refused, naming the key */
    summary_with("--set", "optimizer.type=adamw", NULL, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "sgd.ini:9: [optimizer] unknown key 'momentum'");
    summary_with("--set", "optimizer.type=adamw", "--unset", "optimizer.momentum");
    assert_exit(&res, 0);
    summary_with("--unset", "optimizer.momentum", "--set", "optimizer.type=adamw");
    assert_exit(&res, 0); /* order does not matter here: both apply before anything reads */
    summary_with("--set", "optimizer.type=adamw", "--set", "optimizer.momentum=");
    assert_exit(&res, 0);
    summary_with("--set", "optimizer.type=adamw", "--unset=optimizer.momentum", NULL);
    assert_exit(&res, 0);

    /* the run keeps the effective model file: no momentum in it */
    char run[4300], saved[4400];
    snprintf(run, sizeof run, "%s/run", unset_dir);
    run_nntrain(&res, "train", unset_model, "--plugin-dir", unset_plugins, "--run-dir", run,
                "--no-test", "--threads", "1", "--set", "optimizer.type=adamw", "--unset",
                "optimizer.momentum", NULL);
    assert_exit(&res, 0);
    snprintf(saved, sizeof saved, "%s/model.ini", run);
    FILE *f = fopen(saved, "r");
    cr_assert(f, "no %s", saved);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_has(text, "[optimizer]\ntype = adamw\nlr = 0.1\n");
    assert_lacks(text, "momentum");
}

Test(cli, unset_of_a_key_that_does_not_exist_names_it, .init = unset_setup,
     .fini = unset_teardown)
{
    summary_with("--unset", "optimizer.momentun", NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "nntrain: --unset optimizer.momentun: [optimizer] in ");
    assert_has(res.out, "sets no key 'momentun' (did you mean 'momentum'?), so there is nothing "
                        "to remove (a key it does not set has its default already); the keys it "
                        "sets: type, lr, momentum");
    summary_with("--set", "optimizer.nesterov=", NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "nntrain: --set optimizer.nesterov=: [optimizer] in ");
    assert_has(res.out, "sets no key 'nesterov', so there is nothing to remove");
    summary_with("--unset", "scheduler.t_max", NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--unset scheduler.t_max: ");
    assert_has(res.out, "sgd.ini has no section [scheduler], so no key 't_max' to remove");
    summary_with("--unset", "optimizer.momentum=0", NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--unset optimizer.momentum=0: expected section.key, without '='");
    summary_with("--unset", "optimizer", NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--unset 'optimizer': expected section.key");
    summary_with("--unset", NULL, NULL, NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--unset needs a value");
    /* removing twice: the second finds nothing */
    summary_with("--unset", "optimizer.momentum", "--unset", "optimizer.momentum");
    assert_exit(&res, 2);
    assert_has(res.out, "sets no key 'momentum', so there is nothing to remove");
}

Test(cli, help_documents_unset)
{
    run_nntrain(&res, "help", "train", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "--unset SECTION.KEY");
    assert_has(res.out, "--set SECTION.KEY= does the same");
}

/* an option that takes one value, given twice, is refused naming both; none keeps the last */
Test(cli, an_option_given_twice_is_refused_naming_both_values)
{
    run_result res;
    run_nntrain(&res, "predict", "m.ini", "--checkpoint", "A", "--checkpoint", "B", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--checkpoint is given twice ('--checkpoint A' and '--checkpoint B')");
    run_nntrain(&res, "predict", "m.ini", "--split", "val", "--split=test", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--split is given twice ('--split val' and '--split=test')");
    run_nntrain(&res, "export", "m.ini", "--format", "onnx", "-o", "x", "--output", "y", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--output is given twice ('-o x' and '--output y')");
    run_nntrain(&res, "predict", "m.ini", "--limit", "3", "--limit", "5", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--limit is given twice");
    run_nntrain(&res, "train", "m.ini", "--threads", "1", "--threads", "2", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--threads is given twice");
    /* a value left out is said so, not reported as the next option's stray value */
    run_nntrain(&res, "train", "m.ini", "--set", "--run-dir", "x", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "--set needs a value, but the next argument '--run-dir' is an option");
}

/* a result that cannot be written is a failure: a full disk, or a closed standard output */
Test(cli, version_to_a_full_disk_or_a_closed_stdout_fails)
{
    char cmd[1024];
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert_not_null(exe);
    snprintf(cmd, sizeof cmd, "'%s' --version > /dev/full 2>/dev/null", exe);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--version > /dev/full: status %d", st);
    snprintf(cmd, sizeof cmd, "'%s' --version >&- 2>/dev/null", exe);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--version >&-: status %d", st);
    snprintf(cmd, sizeof cmd, "'%s' predict m.ini --checkpoint c 2>&1 >&- | grep -q 'standard "
             "output is closed'", exe);
    cr_assert_eq(system(cmd), 0, "predict >&- says the standard output is closed");
}
