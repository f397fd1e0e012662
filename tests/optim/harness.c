/* harness.c: see harness.h. Test support only; every failure is a Criterion assertion. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nntrain/optimizer.h"
#include "nntrain/scheduler.h"

/* Only this group's plugins: other groups' build directories may be empty, and these tests
 * must not depend on them. NNTRAIN_BUILD_ROOT is set by meson's test_env. */
const char *h_plugin_dir(void)
{
    static char dir[4096];
    const char *root = getenv("NNTRAIN_BUILD_ROOT");
    cr_assert(root, "NNTRAIN_BUILD_ROOT is not set; run through meson test");
    snprintf(dir, sizeof dir, "%s/plugins/optim", root);
    return dir;
}

nn_registry *h_registry(void)
{
    static nn_registry *r;
    if (!r) {
        nn_error err = {0};
        r = nn_registry_new(NULL);
        cr_assert(r);
        cr_assert_eq(nn_registry_add_dir(r, h_plugin_dir(), &err), NN_OK, "%s", err.msg);
    }
    return r;
}

int h_instance(nn_instance *inst, int kind, const char *name, const char *const *kv,
               nn_error *err)
{
    const nn_plugin_entry *e = nn_registry_find(h_registry(), kind, name, NULL, err);
    cr_assert(e, "plugin %s not found: %s", name, err->msg);
    nn_kv kvs[32];
    int n = 0;
    for (; kv && kv[2 * n]; n++)
        kvs[n] = (nn_kv){kv[2 * n], kv[2 * n + 1], "test.ini", n + 1};
    return nn_instance_create(inst, e->desc, kvs, n, "[test]", err);
}

void h_run_optimizer(const char *name, const char *const *kv, double lr,
                     double out[REF_STEPS][REF_N], int *n_slots)
{
    static const float a[REF_N] = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f, 0.25f, 4.0f};
    static const float p0[REF_N] = {1.0f, -2.0f, 0.5f, 3.0f, -1.0f, 0.75f, 2.0f};
    static const int64_t len[2] = {4, 3};
    static const double lr_mult[2] = {1.0, 0.5}, wd_mult[2] = {1.0, 2.0};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(h_instance(&inst, NN_KIND_OPTIMIZER, name, kv, &err), NN_OK, "%s", err.msg);
    const nn_optimizer_vtable *vt = inst.vt;
    nn_optim_setup setup = {.struct_size = sizeof setup};
    cr_assert_eq(vt->setup(inst.self, &setup, &err), NN_OK, "%s", err.msg);
    if (n_slots)
        *n_slots = setup.n_slots;
    nn_optim_param params[2];
    nn_tensor *grads[2];
    memset(params, 0, sizeof params);
    for (int k = 0, off = 0; k < 2; off += (int)len[k], k++) {
        params[k].name = k ? "p1" : "p0";
        params[k].value = nn_tensor_new(NN_F32, 1, &len[k]);
        grads[k] = nn_tensor_new(NN_F32, 1, &len[k]);
        params[k].grad = grads[k];
        params[k].lr_mult = lr_mult[k];
        params[k].weight_decay_mult = wd_mult[k];
        for (int s = 0; s < setup.n_slots; s++)
            params[k].slots[s] = nn_tensor_new(NN_F32, 1, &len[k]);
        memcpy(NN_F32P(params[k].value), p0 + off, (size_t)len[k] * sizeof(float));
    }
    for (int t = 1; t <= REF_STEPS; t++) {
        for (int k = 0; k < 2; k++) {
            const float *p = NN_F32P(params[k].value);
            float *g = NN_F32P(grads[k]);
            for (int i = 0; i < len[k]; i++)
                g[i] = a[(k ? 4 : 0) + i] * p[i];
        }
        nn_optim_step st = {.struct_size = sizeof st, .lr = lr, .t = t, .n_params = 2,
                            .params = params};
        cr_assert_eq(vt->step(inst.self, &st, &err), NN_OK, "%s", err.msg);
        for (int k = 0, off = 0; k < 2; off += (int)len[k], k++)
            for (int i = 0; i < len[k]; i++)
                out[t - 1][off + i] = NN_F32P(params[k].value)[i];
    }
    for (int k = 0; k < 2; k++) {
        nn_tensor_free(params[k].value);
        nn_tensor_free(grads[k]);
        for (int s = 0; s < setup.n_slots; s++)
            nn_tensor_free(params[k].slots[s]);
    }
    nn_instance_destroy(&inst);
}

void h_sched_sequence(const char *name, const char *const *kv, double base_lr,
                      int64_t steps_per_epoch, int64_t epochs, const double *metrics, int n,
                      double *lr, int *per_batch)
{
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(h_instance(&inst, NN_KIND_SCHEDULER, name, kv, &err), NN_OK, "%s", err.msg);
    const nn_scheduler_vtable *vt = inst.vt;
    nn_sched_ctx c = {.struct_size = sizeof c, .base_lr = base_lr,
                      .steps_per_epoch = steps_per_epoch, .total_epochs = epochs,
                      .metric = NAN};
    nn_sched_info info = {.struct_size = sizeof info};
    cr_assert_eq(vt->start(inst.self, &c, &info, &lr[0], &err), NN_OK, "%s", err.msg);
    *per_batch = info.per_batch;
    c.metric_name = info.monitor;
    for (int k = 1; k < n; k++) {
        if (info.per_batch) {
            c.step = k;
            c.epoch = steps_per_epoch > 0 ? k / steps_per_epoch : 0;
        } else {
            c.epoch = k;
            c.step = k * (steps_per_epoch > 0 ? steps_per_epoch : 1);
        }
        c.metric = metrics ? metrics[k - 1] : NAN;
        cr_assert_eq(vt->step(inst.self, &c, &lr[k], &err), NN_OK, "%s", err.msg);
    }
    nn_instance_destroy(&inst);
}

void h_expect_close(const double *got, const double *want, int n, double rtol, double atol,
                    const char *what)
{
    for (int i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]),
                  "%s[%d]: got %.9g, expected %.9g", what, i, got[i], want[i]);
}

void h_expect_rejected(int kind, const char *name, const char *const *kv, const char *key)
{
    nn_instance inst;
    nn_error err = {0};
    int rc = h_instance(&inst, kind, name, kv, &err);
    if (rc == NN_OK) {
        nn_instance_destroy(&inst);
        cr_assert_fail("%s accepted %s = %s", name, kv[0], kv[1]);
    }
    char quoted[80];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    cr_assert(strstr(err.msg, quoted), "%s: the message does not name %s: %s", name, quoted,
              err.msg);
}

void h_expect_docs(const char *name, const char *const *words)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert(exe, "NNTRAIN_EXE is not set");
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "NNTRAIN_PLUGIN_PATH='%s' '%s' plugins show %s 2>&1",
             h_plugin_dir(), exe, name);
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int status = pclose(f);
    cr_assert_eq(status, 0, "%s failed:\n%s", cmd, out);
    for (int i = 0; words[i]; i++)
        cr_assert(strstr(out, words[i]), "`plugins show %s` lacks \"%s\":\n%s", name, words[i],
                  out);
}
