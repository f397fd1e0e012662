/* fake_run.h: what the logger tests share: load a logger plugin through the registry, feed
 * it the events of a small, fully known 2-epoch run, and read files back. Test-only; the
 * numbers here are restated in check_logs.py, which checks the files independently. */
#ifndef NN_TEST_FAKE_RUN_H
#define NN_TEST_FAKE_RUN_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/instance.h"
#include "core/registry.h"
#include "nntrain/logger.h"

/* The run: EPOCHS epochs of STEPS steps. Step s of epoch e has global step g = e*STEPS+s+1:
 *   loss = 2/(g+1), accuracy = g/20, lr = 0.1 * 0.5^e, grad_norm = 0.25*g (NAN at g = 3),
 *   elapsed_s = 0.5*g, samples_per_s = 100+g.
 * Epoch e: loss = 1/(e+1)+0.05, accuracy = 0.5+0.2e; validation: val_loss = 1.2/(e+1),
 * val_accuracy = 0.45+0.2e, a 3x3 confusion matrix conf[i][j] = (i == j ? 5 : 1) + e with
 * classes "cat", "dog", "<bird&>". Params "fc.weight" [2,3] = 0.1*(i-2)*(e+1) and
 * "fc.bias" [3] = {0, 1e-13, -1}*(e+1); their grads = -0.01*i and {0.5, 0.5, 0}. */
#define EPOCHS 2
#define STEPS 5

typedef struct logger_under_test {
    nn_registry *reg;
    nn_instance inst;
    const nn_logger_vtable *vt;
    char dir[256];
} logger_under_test;

static inline void make_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/nntrain-logtest.XXXXXX");
    cr_assert_not_null(mkdtemp(out), "mkdtemp failed");
}

/* Creates the logger `name` with kvs; cr_asserts on failure. */
static inline void lut_create(logger_under_test *l, const char *name, const nn_kv *kv, int n)
{
    nn_error err = {0};
    memset(l, 0, sizeof *l);
    l->reg = nn_registry_new(NULL);
    cr_assert_not_null(l->reg);
    cr_assert_eq(nn_registry_scan(l->reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(l->reg, NN_KIND_LOGGER, name, NULL, &err);
    cr_assert_not_null(e, "%s", err.msg);
    cr_assert_eq(nn_instance_create(&l->inst, e->desc, kv, n, "[logger.test]", &err), NN_OK,
                 "%s", err.msg);
    l->vt = l->inst.vt;
    make_tmpdir(l->dir, sizeof l->dir);
}

static inline nn_logger_open lut_open_args(const char *run_dir, int is_tty, int verbosity)
{
    nn_logger_open o = {
        .struct_size = sizeof(nn_logger_open),
        .run_dir = run_dir,
        .run_name = "fake-run",
        .config_path = "model.ini",
        .config_text = "[model]\nname = <b>net</b> & co\n[optimizer]\nlr = 0.1\n",
        .is_tty = is_tty,
        .verbosity = verbosity,
    };
    return o;
}

static inline void lut_open(logger_under_test *l, int is_tty, int verbosity)
{
    nn_error err = {0};
    nn_logger_open o = lut_open_args(l->dir, is_tty, verbosity);
    cr_assert_eq(l->vt->open(l->inst.self, &o, &err), NN_OK, "%s", err.msg);
}

static inline void lut_send(logger_under_test *l, const nn_event *ev)
{
    nn_error err = {0};
    cr_assert_eq(l->vt->event(l->inst.self, ev, &err), NN_OK, "event %d: %s", ev->kind, err.msg);
}

static inline void lut_close(logger_under_test *l)
{
    nn_error err = {0};
    if (l->vt->close)
        cr_assert_eq(l->vt->close(l->inst.self, &err), NN_OK, "%s", err.msg);
    nn_instance_destroy(&l->inst);
    nn_registry_free(l->reg);
}

static inline nn_event ev_base(nn_event_kind kind, int e, int s)
{
    nn_event ev = {.struct_size = sizeof(nn_event), .kind = kind, .epoch = e, .epochs = EPOCHS,
                   .step = s, .steps_per_epoch = STEPS, .grad_norm = NAN};
    ev.global_step = (int64_t)e * STEPS + (s < 0 ? STEPS - 1 : s) + 1;
    ev.elapsed_s = 0.5 * (double)ev.global_step;
    ev.lr = 0.1 * pow(0.5, e);
    return ev;
}

typedef void (*fake_hook)(int epoch_done, void *ctx);

/* Feeds the whole run; hook (may be NULL) runs after each epoch's events. Calls flush once
 * in the middle of epoch 0, before any validation metric exists. */
static inline void fake_run(logger_under_test *l, fake_hook hook, void *ctx)
{
    static const char *const classes[3] = {"cat", "dog", "<bird&>"};
    float w[EPOCHS][6], b[EPOCHS][3], gw[6], gb[3] = {0.5f, 0.5f, 0.f};
    nn_tensor tw = {0}, tb = {0}, tgw = {0}, tgb = {0};
    int64_t sw[2] = {2, 3}, sb[1] = {3};
    nn_tensor_describe(&tw, NN_F32, 2, sw);
    nn_tensor_describe(&tgw, NN_F32, 2, sw);
    nn_tensor_describe(&tb, NN_F32, 1, sb);
    nn_tensor_describe(&tgb, NN_F32, 1, sb);
    tw.name = "fc.weight";
    tb.name = "fc.bias";
    tgw.dl.data = gw;
    tgb.dl.data = gb;
    for (int i = 0; i < 6; i++)
        gw[i] = -0.01f * (float)i;

    nn_event ev = ev_base(NN_EV_TRAIN_BEGIN, 0, 0);
    ev.global_step = 0;
    ev.elapsed_s = 0;
    lut_send(l, &ev);
    for (int e = 0; e < EPOCHS; e++) {
        ev = ev_base(NN_EV_EPOCH_BEGIN, e, 0);
        ev.global_step--;
        ev.elapsed_s = 0.5 * (double)ev.global_step;
        lut_send(l, &ev);
        for (int s = 0; s < STEPS; s++) {
            ev = ev_base(NN_EV_BATCH_END, e, s);
            double g = (double)ev.global_step;
            nn_metric m[2] = {{"loss", 2.0 / (g + 1)}, {"accuracy", g / 20.0}};
            ev.n_metrics = 2;
            ev.metrics = m;
            ev.grad_norm = ev.global_step == 3 ? NAN : 0.25 * g;
            ev.samples_per_s = 100 + g;
            lut_send(l, &ev);
            nn_event p = ev_base(NN_EV_PROGRESS, e, s);
            p.elapsed_s += 0.1;
            p.samples_per_s = 100 + g;
            lut_send(l, &p);
            if (e == 0 && s == 2 && l->vt->flush) {
                nn_error err = {0};
                cr_assert_eq(l->vt->flush(l->inst.self, &err), NN_OK, "%s", err.msg);
            }
        }
        for (int i = 0; i < 6; i++)
            w[e][i] = 0.1f * (float)(i - 2) * (float)(e + 1);
        b[e][0] = 0;
        b[e][1] = 1e-13f * (float)(e + 1);
        b[e][2] = -1.0f * (float)(e + 1);
        tw.dl.data = w[e];
        tb.dl.data = b[e];
        const nn_tensor *params[2] = {&tw, &tb}, *grads[2] = {&tgw, &tgb};
        ev = ev_base(NN_EV_EPOCH_END, e, -1);
        nn_metric em[2] = {{"loss", 1.0 / (e + 1) + 0.05}, {"accuracy", 0.5 + 0.2 * e}};
        ev.n_metrics = 2;
        ev.metrics = em;
        ev.samples_per_s = 123;
        ev.n_params = 2;
        ev.params = params;
        ev.grads = grads;
        lut_send(l, &ev);

        int64_t conf[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                conf[i * 3 + j] = (i == j ? 5 : 1) + e;
        ev = ev_base(NN_EV_VALIDATION_END, e, -1);
        nn_metric vm[2] = {{"val_loss", 1.2 / (e + 1)}, {"val_accuracy", 0.45 + 0.2 * e}};
        ev.n_metrics = 2;
        ev.metrics = vm;
        ev.n_classes = 3;
        ev.confusion = conf;
        ev.class_names = classes;
        lut_send(l, &ev);

        ev = ev_base(NN_EV_CHECKPOINT, e, -1);
        char path[64];
        snprintf(path, sizeof path, "ckpt/epoch%d.safetensors", e);
        ev.path = path;
        lut_send(l, &ev);
        if (e == 1) {
            ev = ev_base(NN_EV_HINT, e, -1);
            ev.message = "validation loss rose: consider\tearly stopping";
            lut_send(l, &ev);
        }
        if (hook)
            hook(e, ctx);
    }
    ev = ev_base(NN_EV_TRAIN_END, EPOCHS - 1, -1);
    ev.message = "completed";
    lut_send(l, &ev);
}

/* returns the file's bytes (owned, NUL-terminated) and its length in *n */
static inline char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    p[len] = 0;
    fclose(f);
    if (n)
        *n = (size_t)len;
    return p;
}

/* Runs tests/loggers/check_logs.py MODE ARGS with a Python that has what MODE needs
 * (Debian's /usr/bin/python3 first: python3-protobuf lives there). returns its exit code. */
static inline int run_checker(const char *mode, const char *args)
{
    const char *root = getenv("NNTRAIN_SOURCE_ROOT");
    cr_assert_not_null(root, "NNTRAIN_SOURCE_ROOT is not set (run through meson test)");
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/loggers/check_logs.py %s %s 1>&2", py, root, mode,
             args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static inline void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

#endif
