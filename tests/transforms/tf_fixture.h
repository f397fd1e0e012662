/* tf_fixture.h: what every transform test needs: a transform instance made through the
 * registry (NNTRAIN_PLUGIN_PATH) and nn_instance_create, set up on a sample shape, applied with
 * the per-sample stream of (seed, epoch, index). Test-only; never used by plugins. */
#ifndef TF_FIXTURE_H
#define TF_FIXTURE_H

#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "nntrain/transform.h"
#include "registry.h"

typedef struct tf {
    nn_registry *reg;
    nn_instance inst;
    const nn_transform_vtable *vt;
    nn_transform_setup s;
    nn_tensor *in, *out;
} tf;

/* Makes transform `name` from n "key", "value" pairs (kv has 2n strings). returns the status
 * of nn_instance_create with its message in err; t->reg is set either way. */
static inline int tf_make(tf *t, const char *name, const char *const *kv, int n, nn_error *err)
{
    memset(t, 0, sizeof *t);
    t->reg = nn_registry_new(NULL);
    cr_assert(t->reg);
    nn_error e = {0};
    cr_assert_eq(nn_registry_scan(t->reg, NULL, 0, NULL, &e), NN_OK, "scan: %s", e.msg);
    const nn_plugin_entry *entry = nn_registry_find(t->reg, NN_KIND_TRANSFORM, name, NULL, &e);
    cr_assert(entry, "transform '%s' not found: %s", name, e.msg);
    nn_kv kvs[16];
    cr_assert(n <= 16);
    for (int i = 0; i < n; i++)
        kvs[i] = (nn_kv){kv[2 * i], kv[2 * i + 1], "test", i + 1};
    int rc = nn_instance_create(&t->inst, entry->desc, kvs, n, "[transform]", err);
    t->vt = entry->desc->vtable;
    return rc;
}

/* tf_make that must succeed */
static inline void tf_make_ok(tf *t, const char *name, const char *const *kv, int n)
{
    nn_error e = {0};
    int rc = tf_make(t, name, kv, n, &e);
    cr_assert_eq(rc, NN_OK, "creating %s: %s", name, e.msg);
}

/* Calls setup for a sample of (dt, shape) and allocates in/out (zeroed). returns setup's
 * status with its message in err. */
static inline int tf_setup(tf *t, nn_dtype dt, int ndim, const int64_t *shape, nn_error *err)
{
    t->in = nn_tensor_new(dt, ndim, shape);
    cr_assert(t->in);
    memset(&t->s, 0, sizeof t->s);
    t->s.struct_size = sizeof t->s;
    t->s.in = t->in;
    t->s.out = *t->in;
    t->s.out.dl.shape = t->s.out.shape;
    t->s.out.dl.strides = t->s.out.strides;
    t->s.train_only = 1;
    int rc = t->vt->setup(t->inst.self, &t->s, err);
    if (rc == NN_OK) {
        t->out = nn_tensor_new(nn_tensor_dtype(&t->s.out), t->s.out.dl.ndim, t->s.out.shape);
        cr_assert(t->out);
    }
    return rc;
}

static inline void tf_setup_ok(tf *t, nn_dtype dt, int ndim, const int64_t *shape)
{
    nn_error e = {0};
    int rc = tf_setup(t, dt, ndim, shape, &e);
    cr_assert_eq(rc, NN_OK, "setup: %s", e.msg);
}

/* Applies with the stream the loader gives sample `index` of epoch 0 under `seed`. */
static inline void tf_apply(tf *t, uint64_t seed, uint64_t index)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, index, 0);
    nn_error e = {0};
    int rc = t->vt->apply(t->inst.self, t->in, t->out, &r, &e);
    cr_assert_eq(rc, NN_OK, "apply: %s", e.msg);
}

static inline void tf_free(tf *t)
{
    nn_instance_destroy(&t->inst);
    nn_tensor_free(t->in);
    nn_tensor_free(t->out);
    nn_registry_free(t->reg);
    memset(t, 0, sizeof *t);
}

/* Asserts that creating `name` with kv fails with a message naming `key`. */
static inline void tf_assert_rejects(const char *name, const char *const *kv, int n,
                                     const char *key)
{
    tf t;
    nn_error e = {0};
    int rc = tf_make(&t, name, kv, n, &e);
    cr_assert_neq(rc, NN_OK, "%s accepted %s = %s", name, kv[0], kv[1]);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    cr_assert(strstr(e.msg, quoted), "message does not name key %s: %s", quoted, e.msg);
    tf_free(&t);
}

/* Same stream -> same bytes; each of 8 other seeds -> counted if its output differs.
 * returns how many of the 8 differed from the first output. */
static inline int tf_count_stream_differences(tf *t)
{
    size_t nb = nn_tensor_nbytes(t->out);
    char *a = malloc(nb);
    cr_assert(a);
    tf_apply(t, 1234, 5);
    memcpy(a, t->out->dl.data, nb);
    tf_apply(t, 1234, 5);
    cr_assert_eq(memcmp(a, t->out->dl.data, nb), 0, "same stream gave a different output");
    int diff = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        tf_apply(t, 1234 + seed, 5);
        diff += memcmp(a, t->out->dl.data, nb) != 0;
    }
    free(a);
    return diff;
}

/* Runs `$NNTRAIN_EXE plugins show name` and asserts that the output names every key of the
 * plugin's schema and its doc string. */
static inline void tf_assert_docs_shown(const char *name)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert(exe, "NNTRAIN_EXE is not set");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' plugins show %s 2>&1", exe, name);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    static char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s failed:\n%s", cmd, out);
    cr_assert(strstr(out, name), "no plugin name in:\n%s", out);
    nn_registry *r = nn_registry_new(NULL);
    nn_error e = {0};
    nn_registry_scan(r, NULL, 0, NULL, &e);
    const nn_plugin_entry *entry = nn_registry_find(r, NN_KIND_TRANSFORM, name, NULL, &e);
    cr_assert(entry);
    cr_assert(strstr(out, entry->desc->summary), "summary missing in:\n%s", out);
    for (const nn_param_spec *s = entry->desc->params; s && s->name; s++) {
        cr_assert(strstr(out, s->name), "key %s missing in:\n%s", s->name, out);
        cr_assert(strstr(out, s->doc), "doc of %s missing in:\n%s", s->name, out);
    }
    nn_registry_free(r);
}

#endif
