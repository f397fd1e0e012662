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
 * tensorboard makes its dir; a path that leaves the run directory is still refused */
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
    for (int i = 1; i < 5; i++) {
        const char *out[] = {"../up.log", "/tmp/abs.log", "sub/../../up.log"};
        for (int k = 0; k < 3; k++) {
            logger_under_test l;
            nn_kv kv = {key[i], out[k], "model.ini", 3};
            lut_create(&l, loggers[i], &kv, 1);
            nn_logger_open o = lut_open_args(l.dir, 0, 0);
            nn_error err = {0};
            cr_assert_eq(l.vt->open(l.inst.self, &o, &err), NN_EINVAL, "%s accepted %s",
                         loggers[i], out[k]);
            char want[64];
            snprintf(want, sizeof want, "key '%s' = '%s': the file must stay inside", key[i],
                     out[k]);
            cr_assert(strstr(err.msg, want), "%s: %s", loggers[i], err.msg);
            lut_close(&l);
            rm_rf(l.dir);
        }
        /* the run's own files, and a link below the run directory (out of it as '..') */
        const char *bad[] = {"last.safetensors", ".lock", "out/x.log"};
        const char *says[] = {"that is one of the run's own files",
                              "that is one of the run's own files",
                              "the path goes through a symbolic link"};
        for (int k = 0; k < 3; k++) {
            logger_under_test l;
            nn_kv kv = {key[i], bad[k], "model.ini", 3};
            lut_create(&l, loggers[i], &kv, 1);
            char link[600];
            snprintf(link, sizeof link, "%s/out", l.dir);
            cr_assert_eq(symlink("/nonexistent-outside-the-run", link), 0);
            nn_logger_open o = lut_open_args(l.dir, 0, 0);
            nn_error err = {0};
            cr_assert_eq(l.vt->open(l.inst.self, &o, &err), NN_EINVAL, "%s accepted %s",
                         loggers[i], bad[k]);
            cr_assert(strstr(err.msg, says[k]), "%s: %s", loggers[i], err.msg);
            lut_close(&l);
            rm_rf(l.dir);
        }
    }
}

/* "./last.safetensors", ".//model.ini", a hard link to model.ini and a temporary file's name
 * are the run's own files too: the name is normalised and, for a file that exists, compared by
 * identity before anything is written (the CSV logger used to append rows to last.safetensors) */
Test(logger_params, a_run_file_named_another_way_is_still_refused)
{
    static const char *const key[] = {NULL, "path", "path", "dir", "path"};
    const char *bad[] = {"./last.safetensors", ".//model.ini", "sub/.//../model.ini",
                         "alias.log", "./metrics.csv.tmp.4242", "."};
    const char *says[] = {"that is one of the run's own files",
                          "that is one of the run's own files", "the file must stay inside",
                          "that is one of the run's own files",
                          "that is one of the run's own files",
                          "that names the run directory itself"};
    for (int i = 1; i < 5; i++)
        for (int k = 0; k < 6; k++) {
            if (i == 3 && k == 5)
                continue; /* tensorboard's dir = . is the run directory, as documented */
            logger_under_test l;
            nn_kv kv = {key[i], bad[k], "model.ini", 3};
            lut_create(&l, loggers[i], &kv, 1);
            char own[600], alias[600];
            snprintf(own, sizeof own, "%s/model.ini", l.dir);
            snprintf(alias, sizeof alias, "%s/alias.log", l.dir);
            FILE *f = fopen(own, "w");
            cr_assert_not_null(f);
            fputs("[train]\n", f);
            fclose(f);
            cr_assert_eq(link(own, alias), 0);
            nn_logger_open o = lut_open_args(l.dir, 0, 0);
            nn_error err = {0};
            cr_assert_eq(l.vt->open(l.inst.self, &o, &err), NN_EINVAL, "%s accepted %s",
                         loggers[i], bad[k]);
            cr_assert(strstr(err.msg, says[k]) && strstr(err.msg, bad[k]), "%s: %s",
                      loggers[i], err.msg);
            char *text = NULL;
            size_t n = 0;
            f = fopen(own, "r");
            cr_assert_not_null(f);
            cr_assert_eq(getdelim(&text, &n, 0, f), 8);
            cr_assert_str_eq(text, "[train]\n", "%s: model.ini was written", loggers[i]);
            fclose(f);
            free(text);
            lut_close(&l);
            rm_rf(l.dir);
        }
    /* a name with "." components that is no run file is written where it says */
    logger_under_test l;
    nn_kv kv = {"path", "./logs/.//m.csv", "model.ini", 3};
    lut_create(&l, "csv", &kv, 1);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/logs/m.csv", l.dir);
    struct stat st;
    cr_assert(stat(path, &st) == 0 && st.st_size > 0, "no %s", path);
    lut_close(&l);
    rm_rf(l.dir);
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
