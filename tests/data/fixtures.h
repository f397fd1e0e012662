/* fixtures.h: helpers for the data tests: a scratch directory, fixture files written on the
 * fly, a registry that finds the built plugins, and a dataset instance opened in one call.
 * Test-only; never used by the library. */
#ifndef NN_TEST_DATA_FIXTURES_H
#define NN_TEST_DATA_FIXTURES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/instance.h"
#include "core/registry.h"
#include "nntrain/nntrain.h"

static char fx_dir[256];

static inline void fx_cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_dir);
    if (fx_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx_dir);
}

/* a fresh directory under /tmp for this test, removed when the test's process exits */
static inline const char *fx_tmpdir(void)
{
    snprintf(fx_dir, sizeof fx_dir, "/tmp/nntrain-data-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_dir));
    atexit(fx_cleanup);
    return fx_dir;
}

/* path inside the test directory (static buffer rotation of 8) */
static inline const char *fx_path(const char *rel)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 512, "%s/%s", fx_dir, rel);
    return b;
}

static inline void fx_mkdir(const char *rel)
{
    cr_assert_eq(mkdir(fx_path(rel), 0755), 0, "mkdir %s", rel);
}

static inline void fx_write(const char *rel, const void *b, size_t n)
{
    FILE *f = fopen(fx_path(rel), "wb");
    cr_assert_not_null(f, "cannot write %s", rel);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static inline void fx_write_text(const char *rel, const char *text)
{
    fx_write(rel, text, strlen(text));
}

static inline void fx_write_gz(const char *rel, const void *b, size_t n)
{
    gzFile g = gzopen(fx_path(rel), "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, b, (unsigned)n), (int)n);
    gzclose(g);
}

/* NNTRAIN_PLUGIN_PATH without the build directories that hold no plugin yet (the registry
 * of this branch passes NULL to qsort for an empty directory, which UBSan reports) */
static inline const char *fx_plugin_path(void)
{
    static char out[8192];
    const char *env = getenv("NNTRAIN_PLUGIN_PATH");
    cr_assert_not_null(env);
    char *copy = strdup(env), *save = NULL;
    out[0] = 0;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -q '\\.so$'", d);
        if (system(cmd) == 0)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? ":" : "", d);
    }
    free(copy);
    return out;
}

static inline nn_registry *fx_registry(void)
{
    nn_registry *r = nn_registry_new(NULL);
    nn_error err = {0};
    char *copy = strdup(fx_plugin_path()), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
        cr_assert_eq(nn_registry_add_dir(r, d, &err), 0, "%s", err.msg);
    free(copy);
    return r;
}

typedef struct fx_ds {
    nn_registry *reg;
    nn_instance inst;
    const nn_dataset_vtable *vt;
    nn_dataset_info info;
} fx_ds;

/* creates an instance of dataset plugin `name`; returns the status (err has the message) */
static inline int fx_ds_create(fx_ds *d, const char *name, const nn_kv *kv, int n, nn_error *err)
{
    memset(d, 0, sizeof *d);
    d->reg = fx_registry();
    const nn_plugin_entry *e = nn_registry_find(d->reg, NN_KIND_DATASET, name, NULL, err);
    cr_assert_not_null(e, "%s", err->msg);
    int rc = nn_instance_create(&d->inst, e->desc, kv, n, "[data]", err);
    d->vt = d->inst.vt;
    return rc;
}

static inline int fx_ds_open(fx_ds *d, nn_split split, const char *state_dir, int fit,
                             nn_error *err)
{
    nn_dataset_open o = {.struct_size = sizeof o, .split = split, .base_dir = fx_dir,
                         .state_dir = state_dir, .fit = fit};
    return d->vt->open(d->inst.self, &o, &d->info, err);
}

/* creates and opens; asserts success */
static inline void fx_ds_ok(fx_ds *d, const char *name, const nn_kv *kv, int n, nn_split split)
{
    nn_error err = {0};
    cr_assert_eq(fx_ds_create(d, name, kv, n, &err), 0, "%s", err.msg);
    cr_assert_eq(fx_ds_open(d, split, NULL, 1, &err), 0, "%s", err.msg);
}

/* decodes sample i into sample_buf / *target (sample_buf sized by the caller) */
static inline int fx_ds_get(fx_ds *d, int64_t i, void *sample_buf, void *target_buf,
                            nn_error *err)
{
    nn_tensor s = d->info.sample, t = d->info.target;
    s.dl.shape = s.shape;
    s.dl.strides = s.strides;
    t.dl.shape = t.shape;
    t.dl.strides = t.strides;
    s.dl.data = sample_buf;
    t.dl.data = target_buf;
    return d->vt->get(d->inst.self, i, &s, &t, err);
}

static inline void fx_ds_free(fx_ds *d)
{
    nn_instance_destroy(&d->inst);
    nn_registry_free(d->reg);
}

/* expects create+open to fail with a message containing every one of the needles */
static inline void fx_expect_fail(const char *name, const nn_kv *kv, int n, nn_split split,
                                  const char *n1, const char *n2)
{
    fx_ds d;
    nn_error err = {0};
    int rc = fx_ds_create(&d, name, kv, n, &err);
    if (rc == 0)
        rc = fx_ds_open(&d, split, NULL, 1, &err);
    cr_assert_lt(rc, 0, "expected a failure mentioning '%s'", n1);
    cr_assert_not_null(strstr(err.msg, n1), "message '%s' lacks '%s'", err.msg, n1);
    if (n2)
        cr_assert_not_null(strstr(err.msg, n2), "message '%s' lacks '%s'", err.msg, n2);
    fx_ds_free(&d);
}

/* `nntrain plugins show NAME` mentions every key of the plugin's schema */
static inline void fx_show_documents(const char *name)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert_not_null(exe);
    char cmd[9400], out[65536];
    snprintf(cmd, sizeof cmd, "NNTRAIN_PLUGIN_PATH='%s' '%s' plugins show %s 2>&1",
             fx_plugin_path(), exe, name);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", out);
    nn_registry *r = fx_registry();
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(r, NN_KIND_DATASET, name, NULL, &err);
    cr_assert_not_null(e);
    for (const nn_param_spec *s = e->desc->params; s && s->name; s++) {
        cr_assert_not_null(strstr(out, s->name), "show %s lacks key %s:\n%s", name, s->name, out);
        cr_assert_not_null(strstr(out, s->doc), "show %s lacks the doc of %s", name, s->name);
    }
    nn_registry_free(r);
}

#define FX_KV(k, v) {(k), (v), "test.ini", __LINE__}

#endif
