/* test_security.c: plugin loading cannot be bypassed. Real files, real directories, the real
 * nntrain: a plugin reached through a symbolic link into a world-writable directory, below a
 * world-writable parent of --plugin-dir, or through a relative NNTRAIN_PLUGIN_PATH entry is
 * refused with a message naming the offending directory, and nntest_marker's constructor
 * (which writes $NNTEST_MARKER) proves that none of its code ran. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include "core/registry.h"

static char *base;
static char marker[4200];
static run_result res;

static void setup(void)
{
    base = tmpdir_new();
    snprintf(marker, sizeof marker, "%s/marker", base);
    cr_assert_eq(setenv("NNTEST_MARKER", marker, 1), 0);
}

static void teardown(void)
{
    tmpdir_free(base);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 120);

/* cr_skip_test, without leaving the test's directory behind (.fini does not run) */
static void skip(const char *why)
{
    tmpdir_free(base);
    base = NULL;
    cr_skip_test("%s", why);
}

static int constructor_ran(void)
{
    return access(marker, F_OK) == 0;
}

/* base/rel (made with mode), returned in a static buffer per slot */
static const char *make_dir(int slot, const char *rel, mode_t mode)
{
    static char paths[4][4200];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", base, rel);
    cr_assert_eq(mkdir(paths[slot], 0700), 0, "mkdir %s: %s", paths[slot], strerror(errno));
    cr_assert_eq(chmod(paths[slot], mode), 0); /* after mkdir: the umask does not apply */
    return paths[slot];
}

Test(security, a_plugin_in_a_safe_directory_loads_and_its_constructor_runs)
{
    /* the baseline that makes the refusals below mean something */
    const char *d = make_dir(0, "safe", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    run_nntrain(&res, "plugins", "--kind", "layer", "--plugin-dir", d, NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntest_marker");
    cr_assert(constructor_ran());
}

Test(security, a_symlink_in_a_safe_directory_into_a_world_writable_one_is_refused)
{
    const char *open_dir = make_dir(0, "open", 0777);
    const char *safe = make_dir(1, "safe", 0755);
    char *target = plugin_copy("nntest_marker", open_dir, 0755);
    char link[4300];
    snprintf(link, sizeof link, "%s/nntest_marker.so", safe);
    cr_assert_eq(symlink(target, link), 0);
    run_nntrain(&res, "plugins", "check", safe, NULL);
    assert_exit(&res, 3);
    char want[4600];
    snprintf(want, sizeof want, "directory %s above it is writable by other users (mode 0777)",
             open_dir);
    assert_has(res.out, want);
    snprintf(want, sizeof want, "(resolved to %s)", target);
    assert_has(res.out, want);
    cr_assert(!constructor_ran(), "the plugin's constructor ran:\n%s", res.out);

    run_nntrain(&res, "plugins", "check", "--allow-insecure-plugins", safe, NULL);
    assert_exit(&res, 0);
    cr_assert(constructor_ran(), "--allow-insecure-plugins still loads it");
    free(target);
}

Test(security, a_world_writable_parent_of_the_plugin_dir_is_refused)
{
    const char *parent = make_dir(0, "shared", 0777);
    const char *d = make_dir(1, "shared/plugins", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    run_nntrain(&res, "plugins", "--plugin-dir", d, NULL);
    assert_exit(&res, 1);
    char want[4600];
    snprintf(want, sizeof want, "--plugin-dir %s: refusing to load from directory %s: "
             "directory %s above it is writable by other users (mode 0777)", d, d, parent);
    assert_has(res.out, want);
    cr_assert(!constructor_ran(), "the plugin's constructor ran:\n%s", res.out);

    run_nntrain(&res, "plugins", "--kind", "layer", "--plugin-dir", d,
                "--allow-insecure-plugins", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntest_marker");
    cr_assert(constructor_ran());
}

Test(security, a_group_writable_directory_two_levels_up_is_refused_and_named)
{
    const char *top = make_dir(0, "team", 0775);
    make_dir(1, "team/x", 0755);
    const char *d = make_dir(2, "team/x/plugins", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, d, &err), NN_EPERM);
    char want[4600];
    snprintf(want, sizeof want, "directory %s above it is writable by its group (mode 0775)",
             top);
    assert_has(err.msg, want);
    nn_registry_free(r);
    cr_assert(!constructor_ran());
}

Test(security, a_relative_plugin_path_entry_is_ignored_with_a_warning)
{
    const char *d = make_dir(0, "rel", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    const char *good = make_dir(1, "abs", 0755);
    free(plugin_copy("nntest_valid", good, 0755));
    char model[4300], env[8800];
    snprintf(model, sizeof model, "%s/m.ini", base);
    FILE *f = fopen(model, "w");
    fputs("[layer.a]\ntype = nntest_marker\n", f);
    fclose(f);
    /* "rel" exists in the working directory: it would be found there */
    cr_assert_eq(chdir(base), 0);
    snprintf(env, sizeof env, "rel:%s", good);
    cr_assert_eq(setenv("NNTRAIN_PLUGIN_PATH", env, 1), 0);
    run_nntrain(&res, "summary", model, NULL);
    assert_exit(&res, 1);
    assert_has(res.out, "nntrain: warning: rel: NNTRAIN_PLUGIN_PATH entry is a relative path");
    cr_assert(!constructor_ran(), "the plugin's constructor ran:\n%s", res.out);

    run_nntrain(&res, "plugins", "--kind", "layer", NULL);
    assert_exit(&res, 0);
    assert_has(res.out, "nntest_valid"); /* the absolute entry still counts */
    assert_has(res.out, "rel: NNTRAIN_PLUGIN_PATH entry is a relative path");
    assert_lacks(res.out, "nntrain: warning"); /* `plugins` lists it; no second copy */
}

Test(security, a_plugin_dir_under_a_root_owned_sticky_directory_like_tmp_loads)
{
    /* every test directory lives under /tmp: CI clones there too */
    struct stat st;
    cr_assert_eq(stat("/tmp", &st), 0);
    if (!((st.st_mode & S_ISVTX) && st.st_uid == 0 && (st.st_mode & S_IWOTH)))
        skip("/tmp is not a root-owned, world-writable sticky directory here");
    cr_assert_eq(strncmp(base, "/tmp/", 5), 0);
    const char *d = make_dir(0, "plugins", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, d, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_registry_count(r), 1);
    nn_registry_free(r);
    cr_assert(constructor_ran());
}

/* ---- ownership: needs root to give files away ---- */

#define NOBODY 65534

static void need_root(void)
{
    if (geteuid() != 0)
        skip("only root can give a directory to another user");
}

Test(security, another_users_directory_in_a_sticky_one_is_refused_and_ours_loads)
{
    need_root();
    const char *sticky = make_dir(0, "sticky", 01777);
    const char *theirs = make_dir(1, "sticky/theirs", 0755);
    free(plugin_copy("nntest_marker", theirs, 0755));
    cr_assert_eq(chown(theirs, NOBODY, NOBODY), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    /* the sticky bit lets them keep it there, not make us trust it */
    cr_assert_eq(nn_registry_add_dir(r, theirs, &err), NN_EPERM);
    assert_has(err.msg, "owned by uid 65534");
    nn_registry_free(r);
    /* ours inside: fine, as in /tmp */
    const char *ours = make_dir(2, "sticky/ours", 0755);
    free(plugin_copy("nntest_valid", ours, 0755));
    r = nn_registry_new(NULL);
    cr_assert_eq(nn_registry_add_dir(r, ours, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_registry_count(r), 1);
    nn_registry_free(r);
    (void)sticky;
    cr_assert(!constructor_ran());
}

Test(security, a_sticky_directory_not_owned_by_root_protects_nothing)
{
    need_root();
    const char *sticky = make_dir(0, "sticky", 01777);
    cr_assert_eq(chown(sticky, NOBODY, NOBODY), 0);
    const char *d = make_dir(1, "sticky/plugins", 0755);
    free(plugin_copy("nntest_marker", d, 0755));
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_dir(r, d, &err), NN_EPERM);
    char want[4600];
    snprintf(want, sizeof want, "directory %s above it is owned by uid 65534", sticky);
    assert_has(err.msg, want);
    nn_registry_free(r);
    cr_assert(!constructor_ran());
}

Test(security, a_plugin_file_owned_by_another_user_is_refused)
{
    need_root();
    const char *d = make_dir(0, "plugins", 0755);
    char *path = plugin_copy("nntest_marker", d, 0755);
    cr_assert_eq(chown(path, NOBODY, NOBODY), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(r, path, &err), NN_EPERM);
    assert_has(err.msg, "owned by uid 65534, neither you nor root");
    nn_registry_free(r);
    free(path);
    cr_assert(!constructor_ran());
}

Test(security, a_fifo_named_like_a_plugin_is_refused_without_blocking)
{
    alarm(20);
    const char *d = make_dir(0, "plugins", 0755);
    char fifo[4300];
    snprintf(fifo, sizeof fifo, "%s/evil.so", d);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(r, fifo, &err), NN_EIO);
    assert_has(err.msg, "is not a regular file");
    nn_registry_free(r);
}
