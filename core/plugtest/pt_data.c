/* pt_data.c: the checks of datasets, transforms and loggers. A dataset must give the same
 * sample for an index every time and from a second instance that reads the first one's saved
 * artefacts; a transform the same output for the same (seed, epoch, index) stream, leaving
 * its input alone, and the same after a state round trip; a logger must take every event.
 * Scratch files live in one temporary directory that the check removes. */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash.h"
#include "pt_internal.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_tmp(char *dir, size_t cap, nn_error *err)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/nntrain-plugtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return nn_error_set(err, NN_EIO, "cannot make a temporary directory in %s",
                            base && *base ? base : "/tmp");
    return NN_OK;
}

static int same_bytes(const nn_tensor *a, const nn_tensor *b)
{
    return nn_tensor_nbytes(a) == nn_tensor_nbytes(b) &&
           memcmp(a->dl.data, b->dl.data, nn_tensor_nbytes(a)) == 0;
}

static nn_tensor *like(const nn_tensor *t)
{
    int dt = nn_tensor_dtype(t);
    return dt < 0 ? NULL : pt_guarded_new((nn_dtype)dt, t->dl.ndim, t->shape);
}

/* ---- datasets ---- */

typedef struct ds {
    nn_instance inst;
    const nn_dataset_vtable *vt;
    nn_dataset_info info;
} ds;

static int ds_open(pt_ctx *c, const char *params, const char *dir, const char *state, int fit,
                   ds *d, nn_error *err)
{
    memset(d, 0, sizeof *d);
    int rc = pt_instance(&d->inst, c->d, params, c->o->params, err);
    if (rc)
        return rc;
    d->vt = d->inst.vt;
    nn_dataset_open o = {.struct_size = sizeof o, .split = NN_SPLIT_TRAIN, .base_dir = dir,
                         .state_dir = state, .fit = fit};
    d->info.struct_size = sizeof d->info;
    if ((rc = PT_CALL(&d->inst, "open", d->vt->open(d->inst.self, &o, &d->info, err), err)))
        return rc;
    const nn_dataset_info *i = &d->info;
    if (i->length < 0 || nn_tensor_dtype(&i->sample) < 0 || nn_tensor_dtype(&i->target) < 0 ||
        i->n_classes < 0)
        return nn_error_set(err, NN_EINVAL, "open() described an invalid split (length %lld, "
                            "%d classes, sample and target must have nn dtypes)",
                            (long long)i->length, i->n_classes);
    for (int64_t k = 0; i->labels && k < i->length; k++)
        if (i->labels[k] < 0 || i->labels[k] >= (i->n_classes ? i->n_classes : 1))
            return nn_error_set(err, NN_EINVAL, "info.labels[%lld] = %d is outside [0, %d)",
                                (long long)k, (int)i->labels[k], i->n_classes);
    return NN_OK;
}

/* get(index) into fresh tensors (poisoned first, so a sample that is not fully written
 * shows as a difference) */
static int ds_get(ds *d, int64_t index, nn_tensor **s, nn_tensor **t, nn_error *err)
{
    *s = like(&d->info.sample);
    *t = like(&d->info.target);
    if (!*s || !*t)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    memset((*s)->dl.data, 0xA5, nn_tensor_nbytes(*s));
    memset((*t)->dl.data, 0xA5, nn_tensor_nbytes(*t));
    int rc = PT_CALL(&d->inst, "get", d->vt->get(d->inst.self, index, *s, *t, err), err);
    if (rc == NN_OK)
        rc = pt_guard_check(*s, "get", "sample", err);
    return rc == NN_OK ? pt_guard_check(*t, "get", "target", err) : rc;
}

static void dataset_case(pt_ctx *c, const char *params, int (*fixture)(const char *, nn_error *),
                         int guessed, pt_report *r)
{
    char dir[512], state[600], why[400] = "";
    nn_error err = {0};
    if (make_tmp(dir, sizeof dir, &err)) {
        pt_add(r, PT_FAIL, "dataset", NULL, NULL, "%s", err.msg);
        return;
    }
    snprintf(state, sizeof state, "%s/state", dir);
    int rc = mkdir(state, 0700) ? nn_error_set(&err, NN_EIO, "cannot make %s", state) : NN_OK;
    if (rc == NN_OK && fixture && (rc = fixture(dir, &err)) != NN_OK)
        nn_error_prefix(&err, "the test spec's fixture failed");
    ds A, B;
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    if (rc == NN_OK && (rc = ds_open(c, params, dir, state, 1, &A, &err)) != NN_OK && guessed) {
        pt_add(r, PT_SKIP, "dataset", NULL, NULL, "cannot open with %s%s: %s; name tiny data with "
               "--param KEY=VALUE, or give the descriptor a test spec with a fixture",
               params[0] ? "the guessed " : "its defaults", params, err.msg);
        goto out;
    }
    if (rc == NN_OK && (rc = ds_open(c, params, dir, state, 0, &B, &err)) != NN_OK)
        nn_error_prefix(&err, "a second instance opened with fit = 0 from the first one's "
                        "state directory");
    if (rc == NN_OK && (A.info.length != B.info.length || A.info.n_classes != B.info.n_classes ||
                        !nn_shape_equal(&A.info.sample, &B.info.sample)))
        snprintf(why, sizeof why, "the second instance (fit = 0, same state directory) "
                 "describes another split: %lld samples, %d classes", (long long)B.info.length,
                 B.info.n_classes);
    int64_t idx[3] = {0, A.info.length / 2, A.info.length - 1};
    for (int k = 0; rc == NN_OK && !why[0] && k < 3 && A.info.length > 0; k++) {
        nn_tensor *s[3] = {0}, *t[3] = {0};
        if ((rc = ds_get(&A, idx[k], &s[0], &t[0], &err)) == NN_OK &&
            (rc = ds_get(&A, idx[k], &s[1], &t[1], &err)) == NN_OK &&
            (rc = ds_get(&B, idx[k], &s[2], &t[2], &err)) == NN_OK) {
            if (!same_bytes(s[0], s[1]) || !same_bytes(t[0], t[1]))
                snprintf(why, sizeof why, "sample %lld differs between two get() calls",
                         (long long)idx[k]);
            else if (!same_bytes(s[0], s[2]) || !same_bytes(t[0], t[2]))
                snprintf(why, sizeof why, "sample %lld differs in the second instance (fit = 0 "
                         "from the first one's state directory)", (long long)idx[k]);
        }
        char name[256];
        if (rc == NN_OK && !why[0] && A.vt->struct_size > offsetof(nn_dataset_vtable, describe) &&
            A.vt->describe &&
            (NN_PLUGIN_CALL(&A.inst, "describe",
                            A.vt->describe(A.inst.self, idx[k], name, sizeof name)) != NN_OK ||
             !name[0]))
            snprintf(why, sizeof why, "describe(%lld) failed or gave an empty name",
                     (long long)idx[k]);
        for (int i = 0; i < 3; i++) {
            pt_guarded_free(s[i]);
            pt_guarded_free(t[i]);
        }
    }
    char shape[128], shown[PT_TEXT];
    nn_shape_str(&A.info.sample, shape, sizeof shape);
    size_t used = (size_t)snprintf(shown, sizeof shown, "%s", params);
    for (int i = 0; c->o->params && c->o->params[i] && used < sizeof shown; i++)
        used += (size_t)snprintf(shown + used, sizeof shown - used, "%s%s", used ? "; " : "",
                                 c->o->params[i]);
    params = used ? shown : "defaults";
    if (rc)
        pt_add(r, PT_FAIL, "dataset", NULL, NULL, "[%s] %s", params, err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "dataset", "differs", "identical", "[%s] %s", params, why);
    else if (A.info.length == 0)
        pt_add(r, PT_FAIL, "dataset", NULL, NULL, "[%s] the split holds no sample", params);
    else
        pt_add(r, PT_PASS, "dataset", "0 bits", "identical", "[%s] %lld samples %s, %d classes: "
               "get() bit-identical twice and in a second instance opened (fit = 0) from the "
               "first one's state directory", params, (long long)A.info.length, shape,
               A.info.n_classes);
out:
    if (A.inst.desc)
        nn_instance_destroy(&A.inst);
    if (B.inst.desc)
        nn_instance_destroy(&B.inst);
    rm_tree(dir);
}

void pt_check_dataset(pt_ctx *c, pt_report *r)
{
    const nn_test_spec *t = c->d->abi_minor >= 4 ? c->d->test : NULL;
    if (t && t->n_cases > 0) {
        for (int i = 0; i < t->n_cases && i < 3; i++)
            dataset_case(c, t->cases[i].params ? t->cases[i].params : "", t->cases[i].fixture,
                         0, r);
        return;
    }
    char params[PT_TEXT];
    if (pt_required_params(c->d, c->o->params, params, sizeof params) != 0) {
        pt_add(r, PT_SKIP, "dataset", NULL, NULL, "required key '%s' cannot be guessed: name tiny "
               "data with --param %s=VALUE, or give the descriptor a test spec with a fixture",
               params, params);
        return;
    }
    dataset_case(c, params, NULL, !(c->o->params && c->o->params[0]), r);
}

/* ---- transforms ---- */

typedef struct tf {
    nn_instance inst;
    const nn_transform_vtable *vt;
    nn_transform_setup su;
    nn_tensor in_desc;
} tf;

typedef struct tf_source {
    const pt_case *k;
    uint64_t seed;
} tf_source;

static int source_get(void *ctx, int64_t index, nn_tensor *sample, nn_error *err)
{
    (void)err;
    const tf_source *s = ctx;
    pt_fill(sample, s->k->in[0].lo, s->k->in[0].hi, s->seed, 500 + (uint64_t)index);
    return NN_OK;
}

static int tf_open(pt_ctx *c, const pt_case *k, tf *t, nn_error *err)
{
    memset(t, 0, sizeof *t);
    int rc = pt_instance(&t->inst, c->d, k->params, c->o->params, err);
    if (rc)
        return rc;
    t->vt = t->inst.vt;
    nn_tensor_describe(&t->in_desc, k->in[0].dtype, k->in[0].ndim, k->in[0].shape);
    t->su = (nn_transform_setup){.struct_size = sizeof t->su, .in = &t->in_desc,
                                 .out = t->in_desc, .train_only = 1};
    t->su.out.dl.shape = t->su.out.shape;
    t->su.out.dl.strides = t->su.out.strides;
    if ((rc = PT_CALL(&t->inst, "setup", t->vt->setup(t->inst.self, &t->su, err), err)))
        return rc;
    if (nn_tensor_dtype(&t->su.out) < 0)
        return nn_error_set(err, NN_EINVAL, "setup left no valid output description");
    return NN_OK;
}

/* apply to `in` with the stream of (seed, epoch, index), as the loader does */
static int tf_apply(pt_ctx *c, tf *t, const nn_tensor *in, nn_tensor **out, uint64_t epoch,
                    uint64_t index, nn_error *err)
{
    if (!(*out = like(&t->su.out)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    memset((*out)->dl.data, 0xA5, nn_tensor_nbytes(*out));
    nn_rng g;
    nn_rng_init(&g, c->seed, epoch, index, 0);
    int rc = PT_CALL(&t->inst, "apply", t->vt->apply(t->inst.self, in, *out, &g, err), err);
    if (rc == NN_OK)
        rc = pt_guard_check(in, "apply", "in", err);
    return rc == NN_OK ? pt_guard_check(*out, "apply", "out", err) : rc;
}

static void transform_case(pt_ctx *c, const pt_case *k, pt_report *r)
{
    tf A, B;
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    nn_error err = {0};
    char why[400] = "", state_note[160] = "";
    nn_tensor *in = pt_guarded_new(k->in[0].dtype, k->in[0].ndim, k->in[0].shape), *keep = NULL;
    nn_tensor *o[4] = {0};
    static char text[1 << 16], text2[1 << 16];
    tf_source src = {k, c->seed};
    nn_sample_source ss = {.length = 8, .ctx = &src, .get = source_get};
    int rc = in ? tf_open(c, k, &A, &err) : nn_error_set(&err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK && A.vt->fit)
        rc = PT_CALL(&A.inst, "fit", A.vt->fit(A.inst.self, &ss, &err), &err);
    if (rc == NN_OK) {
        pt_fill(in, k->in[0].lo, k->in[0].hi, c->seed, 499);
        keep = like(in);
        if (keep)
            memcpy(keep->dl.data, in->dl.data, nn_tensor_nbytes(in));
        if ((rc = tf_apply(c, &A, in, &o[0], 3, 7, &err)) == NN_OK &&
            (rc = tf_apply(c, &A, in, &o[1], 3, 7, &err)) == NN_OK)
            rc = tf_apply(c, &A, in, &o[2], 3, 8, &err);
    }
    if (rc == NN_OK && keep && !same_bytes(in, keep))
        snprintf(why, sizeof why, "apply() changed its input (it must only read it)");
    else if (rc == NN_OK && !same_bytes(o[0], o[1]))
        snprintf(why, sizeof why, "two applies with the same (seed, epoch, index) stream gave "
                 "different outputs");
    /* a second instance: fitted state through state_save/state_load when it has any */
    int stateful = A.vt && A.vt->state_save && A.vt->state_load;
    if (rc == NN_OK && !why[0] && (rc = tf_open(c, k, &B, &err)) == NN_OK) {
        if (stateful) {
            int m = NN_PLUGIN_CALL(&A.inst, "state_save",
                                   A.vt->state_save(A.inst.self, text, sizeof text, &err));
            if (m < 0 || (size_t)m >= sizeof text)
                rc = m < 0 ? m : nn_error_set(&err, NN_EINVAL, "state_save needs %d bytes", m);
            else if ((rc = PT_CALL(&B.inst, "state_load",
                                   B.vt->state_load(B.inst.self, text, &err), &err)) ==
                     NN_OK) {
                int m2 = NN_PLUGIN_CALL(&B.inst, "state_save",
                                        B.vt->state_save(B.inst.self, text2, sizeof text2, &err));
                if (m2 < 0)
                    rc = m2;
                else if (strcmp(text, text2) != 0)
                    snprintf(why, sizeof why, "state_save after state_load gives other text "
                             "than the state loaded");
                snprintf(state_note, sizeof state_note, "; state round trip (%d bytes) "
                         "reproduces it", m);
            }
        } else if (A.vt->fit && (rc = PT_CALL(&B.inst, "fit",
                                   B.vt->fit(B.inst.self, &ss, &err), &err)) ==
                   NN_OK) {
            snprintf(state_note, sizeof state_note, "; refitted instance reproduces it");
        }
        if (rc == NN_OK && !why[0] && (rc = tf_apply(c, &B, in, &o[3], 3, 7, &err)) == NN_OK &&
            !same_bytes(o[0], o[3]))
            snprintf(why, sizeof why, "a second instance%s gave another output for the same "
                     "stream", stateful ? " given the first one's state" : "");
    }
    int varies = rc == NN_OK && o[2] && !same_bytes(o[0], o[2]);
    if (rc)
        pt_add(r, PT_FAIL, "transform", NULL, NULL, "[%s] %s", k->label, err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "transform", "differs", "identical", "[%s] %s", k->label, why);
    else
        pt_add(r, PT_PASS, "transform", "0 bits", "identical", "[%s] same (seed, epoch, index), "
               "same output, in a second instance too%s; input untouched; %s", k->label,
               state_note, varies ? "another index gives another output (random)"
                                  : "the same for another index (deterministic)");
    for (int i = 0; i < 4; i++)
        pt_guarded_free(o[i]);
    pt_guarded_free(in);
    pt_guarded_free(keep);
    if (A.inst.desc)
        nn_instance_destroy(&A.inst);
    if (B.inst.desc)
        nn_instance_destroy(&B.inst);
}

void pt_check_transform(pt_ctx *c, pt_report *r)
{
    if (!c->n_cases) {
        pt_add(r, PT_SKIP, "transform", NULL, NULL, "no case to run (see 'cases')");
        return;
    }
    const nn_transform_vtable *vt = c->d->vtable;
    int batch = vt->struct_size > offsetof(nn_transform_vtable, apply_batch) && vt->apply_batch;
    for (int i = 0; i < c->n_cases && i < 3; i++)
        if (batch) /* ABI 0.5: pt_batch.c */
            pt_batch_transform_case(c, &c->cases[i], r);
        else
            transform_case(c, &c->cases[i], r);
}

/* ---- loggers ---- */

void pt_check_logger(pt_ctx *c, pt_report *r)
{
    char params[PT_TEXT], dir[512], ckpt[600];
    nn_error err = {0};
    if (pt_required_params(c->d, c->o->params, params, sizeof params) != 0) {
        pt_add(r, PT_SKIP, "events", NULL, NULL, "cannot guess required key '%s': give it with "
               "--param %s=VALUE", params, params);
        return;
    }
    if (make_tmp(dir, sizeof dir, &err)) {
        pt_add(r, PT_FAIL, "events", NULL, NULL, "%s", err.msg);
        return;
    }
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", dir);
    /* a console logger prints; the table must stay readable */
    fflush(stdout);
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, 1);
        close(devnull);
    }
    nn_instance inst;
    int rc = pt_instance(&inst, c->d, params, c->o->params, &err);
    const nn_logger_vtable *vt = rc == NN_OK ? inst.vt : NULL;
    nn_logger_open lo = {.struct_size = sizeof lo, .run_dir = dir, .run_name = "plugtest",
                         .config_path = "model.ini", .config_text = "[train]\nepochs = 2\n",
                         .is_tty = 0, .verbosity = 0};
    if (rc == NN_OK)
        rc = PT_CALL(&inst, "open", vt->open(inst.self, &lo, &err), &err);
    const nn_metric m[] = {{"loss", 0.5}, {"accuracy", 0.75}};
    const nn_metric vm[] = {{"val_loss", 0.6}, {"val_accuracy", 0.7}};
    const int64_t confusion[4] = {3, 1, 0, 4};
    const char *const classes[2] = {"cat", "dog"};
    int64_t shape[1] = {4};
    nn_tensor *w = nn_tensor_new(NN_F32, 1, shape), *g = nn_tensor_new(NN_F32, 1, shape);
    const nn_tensor *ps[1] = {w}, *gs[1] = {g};
    if (w)
        w->name = "fc.weight";
    const struct {
        nn_event_kind kind;
        const char *name;
    } seq[] = {{NN_EV_TRAIN_BEGIN, "TRAIN_BEGIN"}, {NN_EV_EPOCH_BEGIN, "EPOCH_BEGIN"},
               {NN_EV_BATCH_END, "BATCH_END"},     {NN_EV_PROGRESS, "PROGRESS"},
               {NN_EV_BATCH_END, "BATCH_END"},     {NN_EV_EPOCH_END, "EPOCH_END"},
               {NN_EV_VALIDATION_END, "VALIDATION_END"}, {NN_EV_CHECKPOINT, "CHECKPOINT"},
               {NN_EV_HINT, "HINT"},               {NN_EV_NONFINITE, "NONFINITE"},
               {NN_EV_TRAIN_END, "TRAIN_END"},     {NN_EV_EVAL_END, "EVAL_END"}};
    const char *failed_at = NULL;
    for (size_t i = 0; rc == NN_OK && w && g && i < sizeof seq / sizeof *seq; i++) {
        nn_event ev = {.struct_size = sizeof ev, .kind = seq[i].kind, .epoch = 0, .epochs = 2,
                       .step = (int64_t)i, .steps_per_epoch = 4, .global_step = (int64_t)i,
                       .elapsed_s = 0.25 * (double)i, .samples_per_s = 1000, .lr = 0.01,
                       .grad_norm = 1.5, .n_metrics = 2, .metrics = m};
        if (seq[i].kind == NN_EV_VALIDATION_END || seq[i].kind == NN_EV_EVAL_END) {
            ev.metrics = vm;
            ev.n_classes = 2;
            ev.confusion = confusion;
            ev.class_names = classes;
        }
        if (seq[i].kind == NN_EV_EPOCH_END) {
            ev.n_params = 1;
            ev.params = ps;
            ev.grads = gs;
        }
        if (seq[i].kind == NN_EV_CHECKPOINT)
            ev.path = ckpt;
        if (seq[i].kind == NN_EV_HINT || seq[i].kind == NN_EV_NONFINITE ||
            seq[i].kind == NN_EV_TRAIN_END)
            ev.message = seq[i].kind == NN_EV_TRAIN_END ? "completed" : "a message";
        if ((rc = PT_CALL(&inst, "event", vt->event(inst.self, &ev, &err), &err)))
            failed_at = seq[i].name;
    }
    if (rc == NN_OK && vt->flush)
        rc = PT_CALL(&inst, "flush", vt->flush(inst.self, &err), &err);
    if (rc == NN_OK && vt->close)
        rc = PT_CALL(&inst, "close", vt->close(inst.self, &err), &err);
    if (vt)
        nn_instance_destroy(&inst);
    nn_tensor_free(w);
    nn_tensor_free(g);
    fflush(stdout);
    if (saved >= 0) {
        dup2(saved, 1);
        close(saved);
    }
    rm_tree(dir);
    if (rc)
        pt_add(r, PT_FAIL, "events", NULL, NULL, "%s%s%s%s", failed_at ? "event " : "",
               failed_at ? failed_at : "", failed_at ? ": " : "", err.msg);
    else
        pt_add(r, PT_PASS, "events", NULL, NULL, "open, every event kind (train, epoch, batch, "
               "progress, validation, checkpoint, hint, non-finite, end, eval), flush, close: "
               "no error");
}
