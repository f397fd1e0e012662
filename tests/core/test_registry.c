/* test_registry.c: the plugin registry against real plugin files (tests/plugins): each broken
 * plugin yields its own reason, a crashing or hanging one never takes the host down, search
 * order, duplicates and overrides, and the ssh-style permission checks. */
#include "helpers.h"

#include <time.h>

#include "registry.h"

/* the problem recorded for the file whose path ends in "/NAME.so", or a failed test */
static const nn_plugin_problem *problem_for(const nn_registry *r, const char *name)
{
    char tail[256];
    snprintf(tail, sizeof tail, "/%s.so", name);
    for (int i = 0; i < nn_registry_problem_count(r); i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        size_t pl = strlen(p->path), tl = strlen(tail);
        if (pl >= tl && strcmp(p->path + pl - tl, tail) == 0)
            return p;
    }
    cr_assert_fail("no problem recorded for %s (%d problems)", name,
                   nn_registry_problem_count(r));
    return NULL;
}

/* loads a directory holding copies of the given plugins; returns the registry */
static nn_registry *load_dir(const nn_registry_opts *opts, const char *dir)
{
    nn_registry *r = nn_registry_new(opts);
    cr_assert(r);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, dir, &err), NN_OK, "%s", err.msg);
    return r;
}

Test(registry, valid_plugin_loads_with_its_descriptor)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_problem_count(r), 0);
    cr_assert_eq(nn_registry_count(r), 1);
    cr_assert_eq(nn_registry_file_count(r), 1);
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(r, NN_KIND_LAYER, "nntest_valid", NULL, &err);
    cr_assert(e, "%s", err.msg);
    cr_assert_str_eq(e->desc->version, "1.2.3");
    cr_assert_str_eq(e->device, "cpu");
    char want[4200];
    snprintf(want, sizeof want, "%s/nntest_valid.so", dir);
    cr_assert_str_eq(e->path, want);
    cr_assert_null(e->shadowed_path);
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, wrong_abi_major_is_rejected_naming_both_versions)
{
    char *dir = plugin_dir_with("nntest_abi", NULL);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_count(r), 0);
    const nn_plugin_problem *p = problem_for(r, "nntest_abi");
    cr_assert_eq(p->status, NN_EABI);
    assert_has(p->reason, "ABI 99.0");
    char host[32];
    snprintf(host, sizeof host, "ABI %d.%d", NN_ABI_MAJOR, NN_ABI_MINOR);
    assert_has(p->reason, host);
    nn_registry_free(r);
    tmpdir_free(dir);
}

/* a lookup of a name whose file failed to load says why, not only "did you mean" */
Test(registry, lookup_of_a_plugin_that_failed_to_load_gives_the_reason)
{
    char *dir = plugin_dir_with("nntest_abi", "nntest_fields", "nntest_valid", NULL);
    nn_registry *r = load_dir(NULL, dir);
    nn_error err = {0};
    /* named after the file: the ABI-99 descriptor is never read */
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_abi", NULL, &err));
    char want[4300];
    snprintf(want, sizeof want, "no layer plugin named 'nntest_abi': %s/nntest_abi.so failed to "
             "load: ABI mismatch: plugin was built for ABI 99.0", dir);
    assert_has(err.msg, want);
    /* the name a readable descriptor declared, in a file of another name */
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_no_forward", NULL, &err));
    snprintf(want, sizeof want, "no layer plugin named 'nntest_no_forward': %s/nntest_fields.so "
             "failed to load: layer 'nntest_no_forward': vtable slot 'forward' is missing", dir);
    assert_has(err.msg, want);
    /* another kind of the same name is not blamed on it */
    cr_assert_null(nn_registry_find(r, NN_KIND_LOSS, "nntest_no_forward", NULL, &err));
    cr_assert_null(strstr(err.msg, "failed to load: layer"), "%s", err.msg);
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, newer_minor_abi_is_rejected_asking_for_an_upgrade)
{
    char *dir = plugin_dir_with("nntest_newer", NULL);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_count(r), 0);
    const nn_plugin_problem *p = problem_for(r, "nntest_newer");
    cr_assert_eq(p->status, NN_EABI);
    char want[160];
    snprintf(want, sizeof want, "plugin needs ABI %d.%d, this nntrain speaks only up to %d.%d; "
             "upgrade nntrain", NN_ABI_MAJOR, NN_ABI_MINOR + 1, NN_ABI_MAJOR, NN_ABI_MINOR);
    assert_has(p->reason, want);
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, file_without_entry_symbol_names_the_missing_symbol)
{
    char *dir = plugin_dir_with("nntest_nosym", NULL);
    nn_registry *r = load_dir(NULL, dir);
    const nn_plugin_problem *p = problem_for(r, "nntest_nosym");
    cr_assert_eq(p->status, NN_EABI);
    assert_has(p->reason, "no entry symbol 'nn_plugin_descriptors'");
    assert_has(p->reason, "undefined symbol: nn_plugin_descriptors"); /* dlerror()'s text */
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, missing_shared_library_shows_the_dlerror_text)
{
    char *dir = plugin_dir_with("nntest_needlib", NULL);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_count(r), 0);
    const nn_plugin_problem *p = problem_for(r, "nntest_needlib");
    cr_assert_eq(p->status, NN_EDLOPEN);
    assert_has(p->reason, "libnntest_gone.so.0: cannot open shared object file");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, crashing_constructor_is_reported_as_sigsegv_and_the_scan_goes_on)
{
    /* sorted order: nntest_crash before nntest_valid, so the probe must restart after it */
    char *dir = plugin_dir_with("nntest_crash", "nntest_valid", NULL);
    nn_registry *r = load_dir(NULL, dir);
    const nn_plugin_problem *p = problem_for(r, "nntest_crash");
    cr_assert_eq(p->status, NN_ECANCELED);
    assert_has(p->reason, "SIGSEGV");
    cr_assert_eq(nn_registry_problem_count(r), 1);
    cr_assert_eq(nn_registry_count(r), 1);
    cr_assert_str_eq(nn_registry_entry(r, 0)->desc->name, "nntest_valid");
    cr_assert_eq(nn_registry_file_count(r), 2);
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, hanging_constructor_is_killed_after_the_probe_timeout)
{
    char *dir = plugin_dir_with("nntest_hang", "nntest_valid", NULL);
    nn_registry_opts opts = {.probe_timeout_s = 0.3};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nn_registry *r = load_dir(&opts, dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    cr_assert_geq(secs, 0.3);
    cr_assert_lt(secs, 5.0, "the scan took %.1f s", secs);
    const nn_plugin_problem *p = problem_for(r, "nntest_hang");
    cr_assert_eq(p->status, NN_ECANCELED);
    assert_has(p->reason, "hung while loading");
    cr_assert_eq(nn_registry_count(r), 1);
    cr_assert_str_eq(nn_registry_entry(r, 0)->desc->name, "nntest_valid");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, duplicate_kind_name_device_names_both_files)
{
    char *dir = plugin_dir_with("nntest_dup_a", "nntest_dup_b", NULL);
    nn_registry *r = load_dir(NULL, dir);
    const nn_plugin_problem *p = problem_for(r, "nntest_dup_b");
    cr_assert_eq(p->status, NN_EEXIST);
    assert_has(p->reason, "nntest_dup_a.so");
    assert_has(p->reason, "--plugin-override");
    /* the name is ambiguous: lookup refuses to guess and names both files */
    nn_error err = {0};
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_dup", NULL, &err));
    cr_assert_eq(err.status, NN_EEXIST);
    assert_has(err.msg, "nntest_dup_a.so");
    assert_has(err.msg, "nntest_dup_b.so");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, override_lets_the_first_file_in_search_order_win)
{
    char *dir = plugin_dir_with("nntest_dup_a", "nntest_dup_b", NULL);
    nn_registry_opts opts = {.allow_override = 1};
    nn_registry *r = load_dir(&opts, dir);
    cr_assert_eq(nn_registry_problem_count(r), 0);
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(r, NN_KIND_LAYER, "nntest_dup", NULL, &err);
    cr_assert(e, "%s", err.msg);
    cr_assert_str_eq(e->desc->version, "1.0.0"); /* nntest_dup_a's */
    assert_has(e->path, "/nntest_dup_a.so");
    cr_assert(e->shadowed_path);
    assert_has(e->shadowed_path, "/nntest_dup_b.so");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, world_writable_directory_is_refused_with_path_and_mode)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    cr_assert_eq(chmod(dir, 0777), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, dir, &err), NN_EPERM);
    assert_has(err.msg, dir);
    assert_has(err.msg, "mode 0777");
    assert_has(err.msg, "--allow-insecure-plugins");
    cr_assert_eq(nn_registry_count(r), 0);
    cr_assert_eq(nn_registry_problem_count(r), 1);
    cr_assert_str_eq(nn_registry_problem(r, 0)->path, dir);
    assert_has(nn_registry_problem(r, 0)->reason, "mode 0777");
    nn_registry_free(r);

    nn_registry_opts opts = {.allow_insecure = 1};
    r = load_dir(&opts, dir);
    cr_assert_eq(nn_registry_count(r), 1, "--allow-insecure-plugins loads it anyway");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, group_writable_plugin_file_is_refused_with_path_and_mode)
{
    char *dir = tmpdir_new();
    char *path = plugin_copy("nntest_valid", dir, 0664);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_count(r), 0);
    const nn_plugin_problem *p = problem_for(r, "nntest_valid");
    cr_assert_eq(p->status, NN_EPERM);
    assert_has(p->reason, path);
    assert_has(p->reason, "mode 0664");
    assert_has(p->reason, "its group");
    nn_registry_free(r);
    free(path);
    tmpdir_free(dir);
}

Test(registry, malformed_descriptors_are_each_reported_and_the_good_one_loads)
{
    char *dir = plugin_dir_with("nntest_fields", NULL);
    nn_registry *r = load_dir(NULL, dir);
    const char *want[] = {
        "descriptor name (NULL) is missing",
        "'nntest_no_version': required field 'version' is missing",
        "'nntest_no_license': required field 'license' is missing",
        "'nntest_no_summary': required field 'summary' is missing",
        "'nntest_no_vtable': required field 'vtable' is missing",
        "'nntest_no_forward': vtable slot 'forward' is missing",
        "'nntest_bad_schema': parameter 'units' has no doc string",
    };
    int nw = (int)(sizeof want / sizeof *want);
    cr_assert_eq(nn_registry_problem_count(r), nw);
    for (int i = 0; i < nw; i++) {
        cr_assert_eq(nn_registry_problem(r, i)->status, NN_EABI);
        assert_has(nn_registry_problem(r, i)->reason, want[i]);
    }
    cr_assert_eq(nn_registry_count(r), 1);
    cr_assert(nn_registry_find(r, NN_KIND_LAYER, "nntest_fields_ok", NULL, NULL));
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, descriptor_text_with_control_characters_huge_sizes_and_long_names_is_refused)
{
    char *dir = plugin_dir_with("nntest_text", NULL);
    nn_registry *r = load_dir(NULL, dir);
    const char *want[] = {
        "'nntest_esc_summary': summary holds a control character (0x1b) at byte 3; it is one "
        "line of text",
        "'nntest_cr_version': version holds a control character (0x0d) at byte 3",
        "'nntest_lf_license': license holds a control character (0x0a) at byte 3",
        "'nntest_lf_doc': parameter 'k': doc holds a control character (0x0a) at byte 5",
        "'nntest_empty_range': parameter 'k' has an empty range \"(1, 1)\": no value fits",
        "(65 bytes) is missing or not [a-z0-9_]{1,64}",
        "'nntest_huge_vtable': vtable struct_size 1073741824 is larger than any ABI's vtable "
        "(at most 65536 bytes)",
        "descriptor struct_size 1073741824 is larger than any ABI's descriptor (at most 65536 "
        "bytes)",
    };
    int nw = (int)(sizeof want / sizeof *want);
    cr_assert_eq(nn_registry_problem_count(r), nw);
    for (int i = 0; i < nw; i++) {
        cr_assert_eq(nn_registry_problem(r, i)->status, NN_EABI);
        assert_has(nn_registry_problem(r, i)->reason, want[i]);
    }
    cr_assert_eq(nn_registry_count(r), 1, "the 64-byte name is allowed");
    cr_assert_eq(strlen(nn_registry_entry(r, 0)->desc->name), 64);
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, add_file_returns_the_problem_prefixed_with_the_path)
{
    char *dir = tmpdir_new();
    char *path = plugin_copy("nntest_abi", dir, 0755);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(r, path, &err), NN_EABI);
    cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "%s", err.msg);
    assert_has(err.msg, "ABI 99.0");
    cr_assert_eq(nn_registry_problem_count(r), 1);
    nn_registry_free(r);
    free(path);
    tmpdir_free(dir);
}

Test(registry, search_order_is_plugin_dirs_then_env_path_then_install_dir)
{
    char *a = plugin_dir_with("nntest_loss", NULL);  /* --plugin-dir */
    char *b = plugin_dir_with("nntest_valid", NULL); /* NNTRAIN_PLUGIN_PATH */
    char *c = plugin_dir_with("nntest_dup_a", NULL); /* install dir */
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", b, 1), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    const char *dirs[] = {a};
    cr_assert_eq(nn_registry_scan(r, dirs, 1, c, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_registry_count(r), 3);
    assert_has(nn_registry_entry(r, 0)->path, a);
    assert_has(nn_registry_entry(r, 1)->path, b);
    assert_has(nn_registry_entry(r, 2)->path, c);
    nn_registry_free(r);
    tmpdir_free(a);
    tmpdir_free(b);
    tmpdir_free(c);
}

/* the same plugin in all three places: the earliest place provides it */
static void expect_winner(const char *const *dirs, int ndirs, const char *env,
                          const char *install, const char *winner, int n_shadowed_files)
{
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", env ? env : "", 1), 0);
    nn_registry_opts opts = {.allow_override = 1};
    nn_registry *r = nn_registry_new(&opts);
    nn_error err = {0};
    cr_assert_eq(nn_registry_scan(r, dirs, ndirs, install, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_registry_problem_count(r), 0);
    cr_assert_eq(nn_registry_file_count(r), 1 + n_shadowed_files);
    const nn_plugin_entry *e = nn_registry_find(r, NN_KIND_LAYER, "nntest_valid", NULL, &err);
    cr_assert(e, "%s", err.msg);
    cr_assert_eq(strncmp(e->path, winner, strlen(winner)), 0, "%s won, expected %s", e->path,
                 winner);
    nn_registry_free(r);
}

Test(registry, with_override_the_earliest_search_location_wins)
{
    char *a = plugin_dir_with("nntest_valid", NULL);
    char *b = plugin_dir_with("nntest_valid", NULL);
    char *c = plugin_dir_with("nntest_valid", NULL);
    const char *dirs[] = {a};
    expect_winner(dirs, 1, b, c, a, 2);
    expect_winner(NULL, 0, b, c, b, 1);
    expect_winner(NULL, 0, NULL, c, c, 0);
    tmpdir_free(a);
    tmpdir_free(b);
    tmpdir_free(c);
}

Test(registry, without_override_a_plugin_in_two_places_is_a_duplicate)
{
    char *a = plugin_dir_with("nntest_valid", NULL);
    char *b = plugin_dir_with("nntest_valid", NULL);
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", b, 1), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    const char *dirs[] = {a};
    cr_assert_eq(nn_registry_scan(r, dirs, 1, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_problem *p = problem_for(r, "nntest_valid");
    assert_has(p->path, b);
    assert_has(p->reason, a);
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_valid", NULL, &err));
    assert_has(err.msg, a);
    assert_has(err.msg, b);
    nn_registry_free(r);
    tmpdir_free(a);
    tmpdir_free(b);
}

Test(registry, missing_plugin_dir_is_an_error_and_missing_env_entry_a_problem)
{
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", "/nonexistent/nntest-env", 1), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_scan(r, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_registry_problem_count(r), 1);
    cr_assert_str_eq(nn_registry_problem(r, 0)->path, "/nonexistent/nntest-env");
    assert_has(nn_registry_problem(r, 0)->reason, "NNTRAIN_PLUGIN_PATH");
    nn_registry_free(r);

    r = nn_registry_new(NULL);
    const char *dirs[] = {"/nonexistent/nntest-dir"};
    cr_assert_eq(nn_registry_scan(r, dirs, 1, NULL, &err), NN_EIO);
    assert_has(err.msg, "--plugin-dir /nonexistent/nntest-dir");
    nn_registry_free(r);
}

Test(registry, files_not_named_so_are_not_examined)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/README.txt", dir);
    write_text(path, "not a plugin\n");
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_file_count(r), 1);
    cr_assert_eq(nn_registry_problem_count(r), 0);
    nn_registry_free(r);
    tmpdir_free(dir);
}

/* the reason recorded for dir/NAME.so, which must be the only problem of its file */
static void assert_reason(const nn_registry *r, const char *name, const char *want)
{
    const nn_plugin_problem *p = problem_for(r, name);
    assert_has(p->reason, want);
}

Test(registry, so_entries_that_are_not_regular_files_are_each_reported_without_opening_them,
     .timeout = 30)
{
    char *dir = plugin_dir_with("nntest_valid", NULL);
    char path[4200], other[4200];
    snprintf(path, sizeof path, "%s/dir.so", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/fifo.so", dir);
    cr_assert_eq(mkfifo(path, 0644), 0); /* opening it would block: the scan must not */
    snprintf(path, sizeof path, "%s/zero.so", dir);
    cr_assert_eq(symlink("/dev/zero", path), 0);
    snprintf(path, sizeof path, "%s/dangling.so", dir);
    cr_assert_eq(symlink("/nonexistent/x.so", path), 0);
    snprintf(path, sizeof path, "%s/loop1.so", dir);
    snprintf(other, sizeof other, "%s/loop2.so", dir);
    cr_assert_eq(symlink("loop2.so", path), 0);
    cr_assert_eq(symlink("loop1.so", other), 0);
    nn_registry *r = load_dir(NULL, dir);
    assert_reason(r, "dir", "a directory, not a plugin file");
    assert_reason(r, "fifo", "a FIFO (named pipe), not a plugin file");
    assert_reason(r, "zero", "a device file (a symbolic link to '/dev/zero'), not a plugin file");
    assert_reason(r, "dangling", "a dangling symbolic link: '/nonexistent/x.so' does not exist");
    assert_reason(r, "loop1", "a symbolic link loop (a symbolic link to 'loop2.so')");
    assert_reason(r, "loop2", "a symbolic link loop");
    cr_assert_eq(nn_registry_problem_count(r), 6);
    cr_assert_eq(nn_registry_file_count(r), 7);
    cr_assert_eq(nn_registry_count(r), 1, "the valid plugin next to them still loads");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, lookup_suggests_near_names_and_other_devices)
{
    char *dir = plugin_dir_with("nntest_valid", "nntest_loss", NULL);
    nn_registry *r = load_dir(NULL, dir);
    nn_error err = {0};
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_vaild", NULL, &err));
    cr_assert_eq(err.status, NN_ENOTFOUND);
    assert_has(err.msg, "did you mean 'nntest_valid'?");
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_valid", "cuda", &err));
    assert_has(err.msg, "exists for device 'cpu' but not for 'cuda'");
    /* kinds are separate name spaces */
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "nntest_loss", NULL, &err));
    cr_assert(nn_registry_find(r, NN_KIND_LOSS, "nntest_loss", NULL, &err));
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, problems_are_recorded_in_file_order_around_a_crash)
{
    char *dir = plugin_dir_with("nntest_abi", "nntest_crash", "nntest_dup_a", "nntest_dup_b",
                                "nntest_valid", NULL);
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_file_count(r), 5);
    cr_assert_eq(nn_registry_problem_count(r), 3);
    const char *order[] = {"/nntest_abi.so", "/nntest_crash.so", "/nntest_dup_b.so"};
    for (int i = 0; i < 3; i++)
        assert_has(nn_registry_problem(r, i)->path, order[i]);
    cr_assert_eq(nn_registry_count(r), 2);
    assert_has(nn_registry_entry(r, 0)->path, "/nntest_dup_a.so");
    assert_has(nn_registry_entry(r, 1)->path, "/nntest_valid.so");
    nn_registry_free(r);
    tmpdir_free(dir);
}

Test(registry, add_file_of_a_crashing_plugin_returns_the_signal)
{
    char *dir = tmpdir_new();
    char *path = plugin_copy("nntest_crash", dir, 0755);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(r, path, &err), NN_ECANCELED);
    assert_has(err.msg, path);
    assert_has(err.msg, "crashed while loading: SIGSEGV");
    cr_assert_eq(nn_registry_count(r), 0);
    nn_registry_free(r);
    free(path);
    tmpdir_free(dir);
}

Test(registry, empty_directory_loads_nothing_and_is_no_problem)
{
    char *dir = tmpdir_new();
    nn_registry *r = load_dir(NULL, dir);
    cr_assert_eq(nn_registry_count(r), 0);
    cr_assert_eq(nn_registry_file_count(r), 0);
    cr_assert_eq(nn_registry_problem_count(r), 0);
    nn_error err = {0};
    cr_assert_null(nn_registry_find(r, NN_KIND_LAYER, "dense", NULL, &err));
    assert_has(err.msg, "no layer plugin named 'dense'; `nntrain plugins --kind layer` lists");
    nn_registry_free(r);
    tmpdir_free(dir);
}
