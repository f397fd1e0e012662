/* test_devices_cli.c: `nntrain devices` and `nntrain devices test` as a user runs them: the
 * listing, the conformance run passing on both sim devices, and failing with a clear line on
 * broken packs (a wrong weight gradient; a drifted schema; a loss declaring another
 * reduction; a plugin reading device memory on the host, which must be reported as that
 * plugin's crash while nntrain exits normally). */
#include "core/helpers.h"

#include <sys/resource.h>

static run_result res;

/* the build's plugin path without the sim pack, so a broken copy can stand in for it */
static void path_without_sim(void)
{
    const char *path = getenv("NNTRAIN_PLUGIN_PATH");
    cr_assert(path);
    char kept[8192] = "", *copy = strdup(path);
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (!strstr(d, "/plugins/backends")) {
            if (kept[0])
                strcat(kept, ":");
            strncat(kept, d, sizeof kept - strlen(kept) - 2);
        }
    free(copy);
    setenv("NNTRAIN_PLUGIN_PATH", kept, 1);
}

/* `nntrain devices test sim [--only ONLY]` with the broken pack `pack` standing in for sim;
 * it must exit 1. Returns the plugin directory (tmpdir_free it). */
static char *run_broken(const char *pack, const char *only)
{
    path_without_sim();
    char *dir = plugin_dir_with(pack, NULL);
    if (only)
        run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, "--only", only, NULL);
    else
        run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, NULL);
    assert_exit(&res, 1);
    return dir;
}

/* DIR/m.ini, a model that fails before reading its data when the device does not open, and
 * DIR/run for its run directory */
static void tiny_model(const char *dir, char *model, char *run_dir, size_t cap)
{
    snprintf(model, cap, "%s/m.ini", dir);
    snprintf(run_dir, cap, "%s/run", dir);
    write_text(model, "[train]\nepochs = 1\n[data]\ntype = csv\npath = none.csv\n"
                      "[optimizer]\ntype = sgd\n[loss]\ntype = cross_entropy\n"
                      "[layer.fc]\ntype = dense\nunits = 4\n");
}

Test(devices, lists_every_device_type_with_its_count_and_kernels)
{
    run_nntrain(&res, "devices", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "cpu        1      the host: ");
    assert_has(res.out, "sim        2      pretend accelerator, 16 GiB of memory");
    assert_has(res.out, "    layers:     batchnorm, conv2d, dense, dropout, flatten, maxpool2d, "
                        "relu\n    losses:     cross_entropy\n    optimizers: adam, sgd\n");
    assert_has(res.out, "/plugins/backends/sim.so");
}

Test(devices, a_device_type_without_a_backend_is_listed_as_unusable)
{
    path_without_sim();
    char *dir = plugin_dir_with("broken_wrong_gradient", NULL);
    /* the broken pack brings the sim backend along; hide it with a device count of 0 */
    setenv("NNTRAIN_SIM_DEVICES", "0", 1);
    run_nntrain(&res, "devices", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "sim        0      no device on this machine");
    tmpdir_free(dir);
}

Test(devices, the_sim_pack_passes_every_check)
{
    run_nntrain(&res, "devices", "test", "sim", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "device sim: pretend accelerator");
    assert_has(res.out, " passed, 0 failed, 0 skipped");
    /* every kernel of the pack and every op got its rows */
    const char *rows[] = {"layer     dense          [8, 33] units=5  ", "layer     conv2d         "
                          "[2, 3, 9, 8] filters=6 kernel=3 groups=3", "layer     maxpool2d      ",
                          "layer     batchnorm      [2, 3, 4, 5]", "layer     dropout        ",
                          "layer     relu           ", "layer     flatten        ",
                          "loss      cross_entropy  [16, 10]", "optimizer sgd            "
                          "momentum=0.9 nesterov=true", "optimizer adam           amsgrad=true",
                          "ops       count_correct  ", "backend   memory         "};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_has(res.out, rows[i]);
    assert_lacks(res.out, "FAIL");
}

Test(devices, the_second_sim_device_is_checked_when_named)
{
    run_nntrain(&res, "devices", "test", "sim:1", "--only", "dense", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "device sim:1: pretend accelerator");
    assert_has(res.out, "checks on sim:1: ");
    assert_has(res.out, "layer     dense          [1, 300] units=5");
    assert_lacks(res.out, "layer     conv2d");
}

Test(devices, a_wrong_weight_gradient_fails_with_a_line_naming_it)
{
    char *dir = run_broken("broken_wrong_gradient", NULL);
    assert_has(res.out, "layer     dense          schema (keys, types, defaults, ranges, "
                        "choices)            pass");
    assert_has(res.out, "layer     dense          [3, 7] units=5                              "
                        "               FAIL");
    assert_has(res.out, "weight gradient: element ");
    /* the forward and every other plugin are fine */
    assert_lacks(res.out, "training forward output: element");
    assert_has(res.out, "layer     relu           [4, 10]                                     "
                        "               pass");
    tmpdir_free(dir);
}

Test(devices, a_loss_that_declares_another_reduction_fails_naming_both)
{
    char *dir = run_broken("broken_reduction", NULL);
    assert_has(res.out, "loss      cross_entropy  [5, 4] reduction=sum                       "
                        "                FAIL");
    assert_has(res.out, "setup declares a mean (NN_LOSS_MEAN); the cpu plugin declares a sum "
                        "(NN_LOSS_SUM)");
    /* its mean cases agree */
    assert_has(res.out, "loss      cross_entropy  [16, 10]                                   "
                        "                pass");
    tmpdir_free(dir);
}

Test(devices, a_loss_that_declares_neither_reduction_fails_naming_the_value)
{
    setenv("NNTEST_BROKEN_REDUCTION", "7", 1);
    char *dir = run_broken("broken_reduction", NULL);
    assert_has(res.out, "setup declares reduction 7, the cpu plugin 0: it must be "
                        "NN_LOSS_MEAN (0) or NN_LOSS_SUM (1)");
    assert_lacks(res.out, "(mean)");
    tmpdir_free(dir);
}

Test(devices, a_plugin_reading_device_memory_on_the_host_is_reported_as_its_crash)
{
    char *dir = run_broken("broken_host_read", "relu");
    assert_has(res.out, "layer     relu           [4, 10]                                     "
                        "               FAIL\n");
    assert_has(res.out, "CRASH: SIGSEGV (Segmentation fault) in the sim:0 plugin 'relu' (");
    assert_has(res.out, "): training forward; a plugin that dereferences device memory on the "
                        "host faults like this");
    assert_has(res.out, "5 checks on sim: 1 passed, 4 failed");
    tmpdir_free(dir);
}

Test(devices, every_schema_difference_is_reported)
{
    char *dir = run_broken("broken_schema", "dense");
    assert_has(res.out, "layer     dense          schema (keys, types, defaults, ranges, "
                        "choices)            FAIL\n");
    assert_has(res.out, "key 'units': range differs (cpu \"[1, 16777216]\", pack \"[2, inf)\"); "
                        "key 'bias': default differs (cpu \"true\", pack \"false\"); the pack "
                        "lacks key 'bias_init'; key 'activation': choices differ");
    assert_has(res.out, "; key 'alpha' is the pack's only");
    /* a case the pack cannot even parse fails at create, naming the key */
    assert_has(res.out, "create: the pack's plugin refuses (");
    tmpdir_free(dir);
}

Test(devices, bad_requests_are_refused_with_what_exists)
{
    run_nntrain(&res, "devices", "test", NULL);
    assert_exit(&res, 2);
    assert_has(res.out, "name the device to check");
    run_nntrain(&res, "devices", "test", "cpu", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "the CPU plugins are the reference");
    /* a type no pack provides (the CUDA pack is on the path where the toolkit is installed) */
    run_nntrain(&res, "devices", "test", "nosuchdev:0", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "no backend plugin for device type 'nosuchdev' was found (device types: "
                        "cpu, sim");
    run_nntrain(&res, "devices", "test", "sim:2", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "the sim backend has 2 devices");
    run_nntrain(&res, "devices", "test", "sim", "--only", "softmax", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "has no plugin and no op named 'softmax'");
    run_nntrain(&res, "devices", "frobnicate", NULL);
    assert_exit(&res, 2);
    /* a spec that is no TYPE or TYPE:N is a bad command line (2), for every verb */
    static const char *const bad[] = {"sim:x", "sim:-1", "sim:", "SIM:0", "sim:0:1",
                                      "sim:1000000", " sim:0", ""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        run_nntrain(&res, "devices", "test", bad[k], NULL);
        assert_exit(&res, 2);
        assert_has(res.out, "expected TYPE or TYPE:N (cpu, sim:1, cuda:0)");
        run_nntrain(&res, "train", "no-such.ini", "--device", bad[k], NULL);
        assert_exit(&res, 2);
        assert_has(res.out, "expected TYPE or TYPE:N (cpu, sim:1, cuda:0)");
    }
}

/* a layer with ten parameters (ABI 0.5 allows 64; the fixed arrays hold 8): both sides get
 * room for all of them, and a wrong gradient past the eighth is named */
Test(devices, a_layer_with_more_than_eight_parameters_is_compared_whole)
{
    path_without_sim();
    char *dir = plugin_dir_with("many_params", NULL);
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, "--only", "bias_stack",
                NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "layer     bias_stack     [4, 8]    ");
    assert_has(res.out, " passed, 0 failed, 0 skipped");
    setenv("NNTEST_BIAS_STACK_SKIP", "9", 1);
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, "--only", "bias_stack",
                NULL);
    unsetenv("NNTEST_BIAS_STACK_SKIP");
    assert_exit(&res, 1);
    assert_has(res.out, "b9 gradient: element ");
    assert_lacks(res.out, "b8 gradient");
    tmpdir_free(dir);
}

/* backend.h: device work issued after a copy_async sees the copied bytes without a wait on
 * its event; a backend whose ops run before its deferred copies trains on stale numbers */
Test(devices, an_async_copy_that_later_work_overtakes_fails_naming_the_rule)
{
    setenv("NNTEST_BACKEND_FAULT", "async_unordered", 1);
    char *dir = run_broken("faulty_backend", "memory");
    unsetenv("NNTEST_BACKEND_FAULT");
    assert_has(res.out, "backend   memory         ");
    assert_has(res.out, "scale(x, -2) on them, issued right after a copy_async host to device "
                        "without waiting for its event, ran before the copy (backend.h's "
                        "ordering rule: later device work sees the copied bytes): byte ");
    tmpdir_free(dir);
}

/* every device tensor of `devices test` sits between canary zones: a kernel writing past its
 * output fails even when every element it should write is right, and so does one writing past
 * an input it only reads (those zones are read back when the check ends) */
Test(devices, a_kernel_writing_past_its_output_or_an_input_fails_naming_the_bytes)
{
    static const char *const faults[][2] = {
        {"add_overrun", "the pack wrote past the end of result"},
        {"add_input_overrun", "the pack wrote past the end of tensor 'y', which it was given "
                              "to read"}};
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        setenv("NNTEST_BACKEND_FAULT", faults[i][0], 1);
        char *dir = run_broken("faulty_backend", "add");
        unsetenv("NNTEST_BACKEND_FAULT");
        assert_has(res.out, "ops       add            ");
        /* the row fails with no error measured beyond the tolerance: "-", not 0 */
        assert_has(res.out, "FAIL   -         exact");
        assert_has(res.out, faults[i][1]);
        assert_has(res.out, "bytes 0 to 3 after its end changed");
        tmpdir_free(dir);
    }
}

/* backend.h: every device math slot is required; the core calls them unchecked, so a short
 * or incomplete ops table is refused when the file loads, naming the slot */
Test(devices, a_backend_with_an_incomplete_ops_table_is_refused_at_load)
{
    path_without_sim();
    char *dir = plugin_dir_with("bad_backend_ops_null", "bad_backend_ops_small", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "/bad_backend_ops_null.so: backend 'sim': ops slot 'norm_acc' is "
                        "missing");
    assert_has(res.out, "/bad_backend_ops_small.so: backend 'sim': ops struct_size 4 is "
                        "smaller than ABI ");
    run_nntrain(&res, "devices", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_lacks(res.out, "sim        ");
    tmpdir_free(dir);
}

/* a pack whose backend is refused loses its kernels with it: with --plugin-override they
 * used to replace the installed sim pack's kernels under that pack's backend, one file's
 * kernels on another file's device; the refusal is said wherever the registry is used */
Test(devices, a_refused_backend_takes_its_kernels_with_it)
{
    char *dir = plugin_dir_with("bad_backend_with_kernels", NULL);
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    assert_has(res.out, "/bad_backend_with_kernels.so: backend 'sim': ops slot 'norm_acc' is "
                        "missing");
    assert_has(res.out, "/bad_backend_with_kernels.so: layer 'dense' (device sim): refused with "
                        "its file's backend, which cannot run it: backend 'sim': ops slot "
                        "'norm_acc' is missing");
    assert_lacks(res.out, "ok      ");
    run_nntrain(&res, "devices", "test", "sim", "--only", "dense", "--plugin-dir", dir,
                "--plugin-override", NULL);
    assert_has(res.out, "/bad_backend_with_kernels.so: its backend 'sim' was refused, and its "
                        "kernels with it: ");
    assert_exit(&res, 0); /* the installed sim pack, whole, is what runs */
    tmpdir_free(dir);
}

/* `train --device sim:0` with the faulty backend (open_segv): nntrain dies of the signal and
 * says which backend plugin, file and call crashed */
Test(devices, a_backend_crashing_in_open_is_reported_as_that_plugins_crash)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    path_without_sim();
    char *dir = plugin_dir_with("faulty_backend", NULL), model[4200], run_dir[4200],
         want[4600];
    tiny_model(dir, model, run_dir, sizeof model);
    setenv("NNTEST_BACKEND_FAULT", "open_segv", 1);
    run_nntrain(&res, "train", model, "--device", "sim:0", "--plugin-dir", dir, "--run-dir",
                run_dir, NULL);
    cr_assert(!res.exited && res.code == -SIGSEGV, "nntrain exited %d; output:\n%s", res.code,
              res.out);
    snprintf(want, sizeof want, "it happened in backend plugin 'sim' (%s/faulty_backend.so), "
             "in its open() call for --device sim:0", dir);
    assert_has(res.out, want);
    assert_lacks(res.out, "bug in nntrain itself");
    /* devices test: the backend's own call, not a kernel: no hint about device memory */
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, NULL);
    unsetenv("NNTEST_BACKEND_FAULT");
    assert_exit(&res, 1);
    assert_has(res.out, "CRASH: SIGSEGV (Segmentation fault) in the sim backend's open");
    assert_lacks(res.out, "dereferences device memory");
    tmpdir_free(dir);
}

/* device_count() < 0 without a message (faulty backend, count_silent): every place that asks
 * says which call returned what, and the listing shows the count as unknown */
Test(devices, a_backend_that_cannot_count_its_devices_silently_is_explained)
{
    const char *why = "cannot count its devices: device_count(): returned status -5 (not found) "
                      "without a message";
    path_without_sim();
    char *dir = plugin_dir_with("faulty_backend", NULL), model[4200], run_dir[4200];
    tiny_model(dir, model, run_dir, sizeof model);
    setenv("NNTEST_BACKEND_FAULT", "count_silent", 1);
    run_nntrain(&res, "devices", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "sim        ?      ");
    assert_has(res.out, why);
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, why);
    run_nntrain(&res, "train", model, "--device", "sim:0", "--plugin-dir", dir, "--run-dir",
                run_dir, NULL);
    unsetenv("NNTEST_BACKEND_FAULT");
    assert_exit(&res, 1);
    assert_has(res.out, "/faulty_backend.so ");
    assert_has(res.out, why);
    tmpdir_free(dir);
}

/* a pack whose backend the registry refused: --device and devices test name the file and
 * the reason, not "no backend plugin ... was found" */
Test(devices, a_device_whose_backend_was_refused_names_the_file_and_why)
{
    path_without_sim();
    char *dir = plugin_dir_with("bad_backend_vtable_size", NULL), model[4200], run_dir[4200],
         want[4600];
    tiny_model(dir, model, run_dir, sizeof model);
    snprintf(want, sizeof want, "the backend plugin for device type 'sim' was refused: "
             "%s/bad_backend_vtable_size.so failed to load: backend 'sim': vtable struct_size "
             "16 is smaller than ABI ", dir);
    run_nntrain(&res, "train", model, "--device", "sim:0", "--plugin-dir", dir, "--run-dir",
                run_dir, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, want);
    assert_lacks(res.out, "no backend plugin for device type");
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, want);
    tmpdir_free(dir);
}

/* registry hygiene: a backend for device "cpu" would collide with the CPU plugins, and one
 * descriptor listed twice in one file is that file's mistake, not a clash of two files */
Test(devices, a_cpu_backend_and_a_descriptor_listed_twice_are_refused_naming_the_file)
{
    path_without_sim();
    char *dir = plugin_dir_with("bad_backend_device_cpu", "bad_backend_listed_twice", NULL);
    char want[4600];
    run_nntrain(&res, "plugins", "check", dir, NULL);
    assert_exit(&res, 3);
    snprintf(want, sizeof want, "BROKEN  %s/bad_backend_device_cpu.so: backend 'sim': device "
             "'cpu' is the host, which the CPU plugins serve", dir);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "BROKEN  %s/bad_backend_listed_twice.so: duplicate backend "
             "'sim' (device sim): listed twice in %s/bad_backend_listed_twice.so's descriptor "
             "list; remove one of the two", dir, dir);
    assert_has(res.out, want);
    assert_lacks(res.out, "already provided by");
    /* the device types offered: the host once, and the sim backend that did load */
    run_nntrain(&res, "devices", "test", "nosuchdev", "--plugin-dir", dir, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "(device types: cpu, sim)");
    tmpdir_free(dir);
}

/* two packs of one device type: training refuses the ambiguity, so devices test and the
 * listing say so too, instead of checking one pack that --device would then refuse */
Test(devices, a_second_pack_of_a_type_is_refused_as_training_refuses_it)
{
    char *dir = plugin_dir_with("many_params", NULL); /* it brings the sim backend along */
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, "--only", "dense", NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "duplicate backend 'sim' (device sim)");
    assert_has(res.out, "training refuses it too");
    run_nntrain(&res, "devices", "--plugin-dir", dir, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "    conflict:   ");
    run_nntrain(&res, "devices", "test", "sim", "--plugin-dir", dir, "--only", "dense",
                "--plugin-override", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, " passed, 0 failed");
    tmpdir_free(dir);
}
