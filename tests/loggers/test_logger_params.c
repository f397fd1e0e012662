/* test_logger_params.c: what all five loggers share: each is found by the registry and
 * documented by `nntrain plugins show`, bad parameter values are rejected naming the key, and
 * a place that cannot be written makes open() fail with a message naming the path. */
#include "fake_run.h"
#include "core/config.h"
#include "core/loggers.h"

static const char *const loggers[] = {"console", "csv", "jsonl", "tensorboard", "html_report"};

Test(logger_params, every_logger_is_registered_and_documented_by_plugins_show)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert_not_null(exe);
    static const char *const keys[5][3] = {{"stream", "log_every", "bar_width"},
                                           {"path", "every", NULL},
                                           {"path", "every", NULL},
                                           {"dir", "histogram_every", NULL},
                                           {"path", NULL, NULL}};
    for (int i = 0; i < 5; i++) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "%s plugins show %s", exe, loggers[i]);
        FILE *p = popen(cmd, "r");
        cr_assert_not_null(p);
        char buf[16384];
        size_t n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = 0;
        cr_assert_eq(pclose(p), 0, "%s: %s", cmd, buf);
        cr_assert(strstr(buf, "logger"), "%s", buf);
        for (int k = 0; k < 3 && keys[i][k]; k++)
            cr_assert(strstr(buf, keys[i][k]), "%s: no key %s in\n%s", loggers[i], keys[i][k],
                      buf);
    }
}

static void expect_rejected(const char *plugin, const char *key, const char *value)
{
    nn_error err = {0};
    nn_registry *r = nn_registry_new(NULL);
    cr_assert_eq(nn_registry_scan(r, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(r, NN_KIND_LOGGER, plugin, NULL, &err);
    cr_assert_not_null(e, "%s", err.msg);
    nn_kv kv[] = {{key, value, "model.ini", 7}};
    nn_instance inst;
    int rc = nn_instance_create(&inst, e->desc, kv, 1, "[logger.x]", &err);
    cr_assert_lt(rc, 0, "%s: %s = %s was accepted", plugin, key, value);
    cr_assert(strstr(err.msg, key), "%s: message does not name '%s': %s", plugin, key, err.msg);
    nn_registry_free(r);
}

Test(logger_params, bad_values_are_rejected_naming_the_key)
{
    expect_rejected("console", "stream", "stdin");
    expect_rejected("console", "log_every", "-1");
    expect_rejected("console", "bar_width", "5");
    expect_rejected("csv", "every", "0");
    expect_rejected("csv", "pth", "x.csv");
    expect_rejected("jsonl", "every", "-2");
    expect_rejected("tensorboard", "histogram_every", "-1");
    expect_rejected("tensorboard", "histogram_every", "often");
    expect_rejected("html_report", "paht", "r.html");
}

Test(logger_params, an_unwritable_place_fails_open_with_the_path_in_the_message)
{
    /* a directory below a regular file cannot exist, even for root */
    char dir[256], bad[300];
    make_tmpdir(dir, sizeof dir);
    snprintf(bad, sizeof bad, "%s/plain-file", dir);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/plain-file/run", dir);
    for (int i = 1; i < 5; i++) {
        logger_under_test l;
        lut_create(&l, loggers[i], NULL, 0);
        nn_logger_open o = lut_open_args(bad, 0, 0);
        nn_error err = {0};
        int rc = l.vt->open(l.inst.self, &o, &err);
        cr_assert_eq(rc, NN_EIO, "%s: open returned %d", loggers[i], rc);
        cr_assert(strstr(err.msg, bad), "%s: message does not name the path: %s", loggers[i],
                  err.msg);
        cr_assert(strstr(err.msg, "Not a directory"), "%s: no reason: %s", loggers[i], err.msg);
        /* the run goes on: later events are ignored, not crashes */
        nn_event ev = ev_base(NN_EV_BATCH_END, 0, 0);
        cr_assert_eq(l.vt->event(l.inst.self, &ev, &err), NN_OK);
        lut_close(&l);
        rm_rf(l.dir);
    }
    rm_rf(dir);
}

/* csv, jsonl and html_report make the directories of their path inside the run directory, as
 * tensorboard makes its dir */
Test(logger_params, a_file_below_the_run_directory_gets_its_directories_made)
{
    static const char *const key[] = {NULL, "path", "path", "dir", "path"};
    static const char *const file[] = {NULL, "sub/deeper/m.csv", "sub/deeper/m.jsonl",
                                       "sub/deeper/tb", "sub/deeper/r.html"};
    for (int i = 1; i < 5; i++) {
        logger_under_test l;
        nn_kv kv = {key[i], file[i], "model.ini", 3};
        lut_create(&l, loggers[i], &kv, 1);
        lut_open(&l, 0, 0);
        fake_run(&l, NULL, NULL);
        char path[600];
        snprintf(path, sizeof path, "%s/%s", l.dir, file[i]);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0, "%s: no %s", loggers[i], path);
        cr_assert(i == 3 ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && st.st_size > 0,
                  "%s: %s is not what it writes", loggers[i], path);
        lut_close(&l);
        rm_rf(l.dir);
    }
}

/* Where a logger writes is checked by the core (nn_loggers_open) before the logger opens, for
 * the stock loggers and a third party's alike: nntest_filelog appends to run_dir/PATH with no
 * check of its own. A run directory holding model.ini, last.safetensors, a hard link to
 * model.ini (alias.log) and a symbolic link out of it (out). */
static const char *const checked[] = {"csv", "jsonl", "tensorboard", "html_report",
                                      "nntest_filelog"};

static nn_registry *registry_with_filelog(char *plug, size_t cap)
{
    make_tmpdir(plug, cap);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/nntest_filelog.so %s/", NNTEST_PLUGIN_DIR, plug);
    cr_assert_eq(system(cmd), 0);
    nn_error err = {0};
    nn_registry *r = nn_registry_new(NULL);
    const char *dirs[] = {plug};
    cr_assert_eq(nn_registry_scan(r, dirs, 1, NULL, &err), NN_OK, "%s", err.msg);
    return r;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_text(const char *dir, const char *name, const char *text)
{
    char path[600], got[256] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = 0;
    cr_assert_str_eq(got, text, "%s was written", path);
}

/* nn_loggers_open of [logger.x] type = plugin, key = value into run (NULL: checked only, as
 * `nntrain summary` does), strict; closes what it opened */
static int open_one(nn_registry *r, const char *run, const char *plugin, const char *value,
                    nn_error *err)
{
    const char *key = strcmp(plugin, "tensorboard") == 0 ? "dir" : "path";
    char text[700];
    snprintf(text, sizeof text, "[logger.x]\ntype = %s\n%s = %s\n", plugin, key, value);
    nn_config *c = NULL;
    cr_assert_eq(nn_config_parse(text, "model.ini", &c, err), NN_OK, "%s", err->msg);
    nn_logger_open o = lut_open_args(run, 0, 0);
    nn_loggers *l = NULL;
    int rc = nn_loggers_open(r, c, run ? &o : NULL, 1, &l, err);
    nn_loggers_close(l);
    nn_config_free(c);
    return rc;
}

Test(logger_params, the_core_keeps_every_loggers_file_inside_the_run_and_off_its_own_files)
{
    char plug[256], run[256];
    nn_registry *r = registry_with_filelog(plug, sizeof plug);
    make_tmpdir(run, sizeof run);
    write_text(run, "model.ini", "[train]\n");
    write_text(run, "last.safetensors", "checkpoint");
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/model.ini", run);
    snprintf(b, sizeof b, "%s/alias.log", run);
    cr_assert_eq(link(a, b), 0);
    snprintf(b, sizeof b, "%s/out", run);
    cr_assert_eq(symlink("/tmp", b), 0);
    static const char *const bad[][2] = {
        {"../up.log", "the file must stay inside the run directory"},
        {"/tmp/abs.log", "the file must stay inside the run directory"},
        {"sub/../../up.log", "the file must stay inside the run directory"},
        {"sub/.//../model.ini", "the file must stay inside the run directory"},
        {"last.safetensors", "that is one of the run's own files"},
        {"./last.safetensors", "that is one of the run's own files"},
        {".//model.ini", "that is one of the run's own files"},
        {".lock", "that is one of the run's own files"},
        {"best.safetensors", "that is one of the run's own files"},
        {"cv_fold.txt", "that is one of the run's own files"},
        {"./metrics.csv.tmp.4242", "that is one of the run's own files"},
        {"alias.log", "that is one of the run's own files"},
        {"out/x.log", "the path goes through a symbolic link"},
        {".", "that names the run directory itself"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        for (size_t i = 0; i < sizeof checked / sizeof *checked; i++) {
            if (strcmp(checked[i], "tensorboard") == 0 && strcmp(bad[k][0], ".") == 0)
                continue; /* tensorboard's dir = . is the run directory, as documented */
            nn_error err = {0};
            cr_assert_neq(open_one(r, run, checked[i], bad[k][0], &err), NN_OK,
                          "%s accepted %s", checked[i], bad[k][0]);
            char want[300];
            snprintf(want, sizeof want, "model.ini:3: [logger.x]: logger '%s': "
                     "key '%s' = '%s': %s", checked[i],
                     strcmp(checked[i], "tensorboard") == 0 ? "dir" : "path", bad[k][0],
                     bad[k][1]);
            cr_assert(strstr(err.msg, want), "want \"%s\" in \"%s\"", want, err.msg);
        }
    assert_text(run, "model.ini", "[train]\n");
    assert_text(run, "last.safetensors", "checkpoint");
    struct stat st;
    cr_assert_neq(stat("/tmp/x.log", &st), 0);
    /* a name that only looks like a run file, with "." components, is written where it says */
    for (size_t i = 0; i < sizeof checked / sizeof *checked; i++) {
        nn_error err = {0};
        char name[64];
        snprintf(name, sizeof name, "./logs/.//%s.model.ini.tmp.x", checked[i]);
        cr_assert_eq(open_one(r, run, checked[i], name, &err), NN_OK, "%s: %s", checked[i],
                     err.msg);
        snprintf(a, sizeof a, "%s/logs/%s.model.ini.tmp.x", run, checked[i]);
        cr_assert_eq(stat(a, &st), 0, "%s: no %s", checked[i], a);
    }
    /* checked only (`nntrain summary`: no run directory yet): by the name alone */
    nn_error err = {0};
    cr_assert_neq(open_one(r, NULL, "nntest_filelog", "model.ini", &err), NN_OK);
    cr_assert(strstr(err.msg, "key 'path' = 'model.ini': that is one of the run's own files"),
              "%s", err.msg);
    cr_assert_eq(open_one(r, NULL, "nntest_filelog", "alias.log", &err), NN_OK, "%s", err.msg);
    nn_registry_free(r);
    rm_rf(run);
    rm_rf(plug);
}

/* two loggers writing one file (named differently, or one by its default) are refused before
 * either opens it, naming both sections */
Test(logger_params, two_loggers_writing_one_file_are_refused_naming_both)
{
    const char *cases[][2] = {
        {"[logger.a]\ntype = csv\npath = ./m.log\n[logger.b]\ntype = jsonl\npath = m.log\n",
         "[logger.a]: path = 'm.log' and <cfg>:4: [logger.b]: path = 'm.log'"},
        {"[logger.a]\ntype = csv\npath = .//metrics.jsonl\n[logger.b]\ntype = jsonl\n",
         "[logger.a]: path = 'metrics.jsonl' and <cfg>:4: [logger.b]: path = 'metrics.jsonl'"},
    };
    nn_error err = {0};
    nn_registry *r = nn_registry_new(NULL);
    cr_assert_eq(nn_registry_scan(r, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        nn_config *c = NULL;
        cr_assert_eq(nn_config_parse(cases[i][0], "<cfg>", &c, &err), NN_OK, "%s", err.msg);
        nn_loggers *l = NULL;
        cr_assert_eq(nn_loggers_open(r, c, NULL, 0, &l, &err), NN_EINVAL, "case %d accepted", i);
        cr_assert(strstr(err.msg, cases[i][1]) && strstr(err.msg, "are the same file"), "%s",
                  err.msg);
        nn_config_free(c);
    }
    nn_config *c = NULL;
    cr_assert_eq(nn_config_parse("[logger.a]\ntype = csv\npath = a/m.log\n[logger.b]\ntype = "
                                 "jsonl\npath = m.log\n", "<cfg>", &c, &err), NN_OK);
    nn_loggers *l = NULL;
    cr_assert_eq(nn_loggers_open(r, c, NULL, 0, &l, &err), NN_OK, "%s", err.msg);
    nn_loggers_close(l);
    nn_config_free(c);
    nn_registry_free(r);
}
