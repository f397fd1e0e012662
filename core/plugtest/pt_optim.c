/* pt_optim.c: the checks of optimizers and schedulers. An optimizer keeps its state in the
 * slots the core saves, so a fresh instance given saved values and slots must take the very
 * same next steps; a scheduler's rates must continue identically after state_save/load (or,
 * without state, from the epoch and step alone). The schedule is printed. Runs in children. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "pt_internal.h"

/* parameters for a kind that has no tensors in its cases: the spec's first case, else the
 * required keys guessed; returns 0, or -1 after a skipped row for `check` naming the key that
 * cannot be guessed */
static int kind_params(const pt_ctx *c, pt_report *r, const char *check, char *buf, size_t cap)
{
    const nn_test_spec *t = c->d->abi_minor >= 4 ? c->d->test : NULL;
    if (t && t->n_cases > 0 && t->cases && t->cases[0].params) {
        snprintf(buf, cap, "%s", t->cases[0].params);
        return 0;
    }
    if (pt_required_params(c->d, c->o->params, buf, cap) == 0)
        return 0;
    pt_add(r, PT_SKIP, check, NULL, NULL, "cannot guess required key '%s': give it with "
           "--param %s=VALUE", buf, buf);
    return -1;
}

/* the allocation row of a step() that was counted; not_run (NULL when it ran) says why the
 * counted step could not be trusted, so the row is shown and counted as skipped */
static void step_alloc_row(pt_report *r, const nn_alloc_counter *a, long n, const char *site,
                           const char *not_run)
{
    char worst[24];
    snprintf(worst, sizeof worst, "%ld", n);
    if (not_run)
        pt_add(r, PT_SKIP, "allocation", NULL, NULL, "skipped (because %s)", not_run);
    else if (!a)
        pt_add(r, PT_SKIP, "allocation", NULL, NULL, "this build cannot count heap allocations "
               "(a sanitizer owns malloc)");
    else if (n > 0)
        pt_add(r, PT_FAIL, "allocation", worst, "0", "step() allocated %ld heap blocks (first: "
               "%s)", n, site);
    else
        pt_add(r, PT_PASS, "allocation", worst, "0", "step(): no heap allocation");
}

/* ---- optimizers ---- */

#define OPT_PARAMS 3
#define OPT_WARM 3  /* steps before the snapshot */
#define OPT_AFTER 3 /* steps compared after it */

typedef struct opt_run {
    nn_instance inst;
    const nn_optimizer_vtable *vt;
    int n_slots;
    const char *slot_names[NN_MAX_OPTIM_SLOTS];
    pt_t value[OPT_PARAMS], grad[OPT_PARAMS], slot[OPT_PARAMS][NN_MAX_OPTIM_SLOTS];
    nn_optim_param p[OPT_PARAMS];
    nn_dev *dev;
} opt_run;

static const int64_t opt_shapes[OPT_PARAMS][2] = {{7, 5}, {5, 1}, {3, 2}};
static const char *const opt_names[OPT_PARAMS] = {"fc.weight", "fc.bias", "norm.weight"};

static void opt_close(opt_run *o)
{
    for (int i = 0; i < OPT_PARAMS; i++) {
        pt_t_free(o->dev, &o->value[i]);
        pt_t_free(o->dev, &o->grad[i]);
        for (int s = 0; s < NN_MAX_OPTIM_SLOTS; s++)
            pt_t_free(o->dev, &o->slot[i][s]);
    }
    if (o->inst.desc)
        nn_instance_destroy(&o->inst);
}

static int opt_open(pt_ctx *c, const char *params, opt_run *o, nn_error *err)
{
    memset(o, 0, sizeof *o);
    o->dev = c->dev ? c->dev : nn_dev_host();
    int rc = pt_instance(&o->inst, c->d, params, c->o->params, err);
    if (rc)
        return rc;
    o->vt = o->inst.vt;
    nn_optim_setup su = {.struct_size = sizeof su, .device = nn_dev_public(o->dev)};
    if ((rc = PT_CALL(&o->inst, "setup", o->vt->setup(o->inst.self, &su, err), err)))
        return rc;
    if (su.n_slots < 0 || su.n_slots > NN_MAX_OPTIM_SLOTS)
        return nn_error_set(err, NN_EINVAL, "setup asked for %d slots (at most %d)", su.n_slots,
                            NN_MAX_OPTIM_SLOTS);
    o->n_slots = su.n_slots;
    for (int s = 0; s < su.n_slots; s++) {
        if (!su.slot_names[s] || !*su.slot_names[s])
            return nn_error_set(err, NN_EINVAL, "slot %d has no name", s);
        o->slot_names[s] = su.slot_names[s];
    }
    static const uint32_t flags[OPT_PARAMS] = {0, NN_TENSOR_BIAS, NN_TENSOR_NORM};
    static const double lr_mult[OPT_PARAMS] = {1, 1, 0.5}, wd_mult[OPT_PARAMS] = {1, 0, 1};
    for (int i = 0; i < OPT_PARAMS; i++) {
        int nd = opt_shapes[i][1] == 1 ? 1 : 2;
        if ((rc = pt_t_alloc(o->dev, &o->value[i], NN_F32, nd, opt_shapes[i], opt_names[i],
                             err)) ||
            (rc = pt_t_alloc(o->dev, &o->grad[i], NN_F32, nd, opt_shapes[i], opt_names[i], err)))
            return rc;
        pt_fill(o->value[i].h, -0.5, 0.5, c->seed, 300 + (uint64_t)i);
        if ((rc = pt_t_up(o->dev, &o->value[i], err)))
            return rc;
        o->p[i] = (nn_optim_param){.name = opt_names[i], .value = &o->value[i].dev,
                                   .grad = &o->grad[i].dev, .lr_mult = lr_mult[i],
                                   .weight_decay_mult = wd_mult[i], .flags = flags[i]};
        for (int s = 0; s < o->n_slots; s++) {
            if ((rc = pt_t_alloc(o->dev, &o->slot[i][s], NN_F32, nd, opt_shapes[i],
                                 o->slot_names[s], err)))
                return rc;
            o->p[i].slots[s] = &o->slot[i][s].dev;
        }
    }
    return NN_OK;
}

/* after a step(): nothing written outside a value, gradient or slot, and (kept) no gradient
 * changed, which step() must only read (allocates nothing) */
static int opt_check_call(const opt_run *o, int kept, nn_error *err)
{
    char name[NN_NAME_MAX + 64];
    int rc = NN_OK;
    for (int i = 0; i < OPT_PARAMS && rc == NN_OK; i++) {
        snprintf(name, sizeof name, "params[%d].value ('%s')", i, opt_names[i]);
        rc = pt_t_fenced(&o->value[i], "step", name, err);
        snprintf(name, sizeof name, "params[%d].grad ('%s')", i, opt_names[i]);
        if (rc == NN_OK)
            rc = pt_t_fenced(&o->grad[i], "step", name, err);
        if (rc == NN_OK && kept)
            rc = pt_t_kept(&o->grad[i], "step", name, err);
        for (int s = 0; s < o->n_slots && rc == NN_OK; s++) {
            snprintf(name, sizeof name, "params[%d].slots[%d] ('%s' of '%s')", i, s,
                     o->slot_names[s], opt_names[i]);
            rc = pt_t_fenced(&o->slot[i][s], "step", name, err);
        }
    }
    return rc;
}

/* step t (1-based) with gradients drawn from (seed, t): the same in every run */
static int opt_step(pt_ctx *c, opt_run *o, int64_t t, double lr, int count_only, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < OPT_PARAMS && rc == NN_OK && !count_only; i++) {
        pt_fill(o->grad[i].h, -1, 1, c->seed, 1000 * (uint64_t)t + (uint64_t)i);
        rc = pt_t_up(o->dev, &o->grad[i], err);
    }
    nn_optim_step st = {.struct_size = sizeof st, .lr = lr, .t = t, .n_params = OPT_PARAMS,
                        .params = o->p, .device = nn_dev_public(o->dev)};
    for (int i = 0; i < OPT_PARAMS && !count_only; i++)
        pt_t_keep(&o->grad[i]);
    if (rc == NN_OK)
        rc = PT_CALL(&o->inst, "step", o->vt->step(o->inst.self, &st, err), err);
    if (rc == NN_OK)
        rc = opt_check_call(o, !count_only, err);
    for (int i = 0; i < OPT_PARAMS && rc == NN_OK && !count_only; i++)
        rc = pt_t_down(o->dev, &o->value[i], err);
    return rc;
}

static int opt_copy(opt_run *to, opt_run *from, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < OPT_PARAMS && rc == NN_OK; i++) {
        memcpy(to->value[i].h->dl.data, from->value[i].h->dl.data,
               nn_tensor_nbytes(from->value[i].h));
        rc = pt_t_up(to->dev, &to->value[i], err);
        for (int s = 0; s < from->n_slots && rc == NN_OK; s++) {
            if ((rc = pt_t_down(from->dev, &from->slot[i][s], err)))
                break;
            memcpy(to->slot[i][s].h->dl.data, from->slot[i][s].h->dl.data,
                   nn_tensor_nbytes(from->slot[i][s].h));
            rc = pt_t_up(to->dev, &to->slot[i][s], err);
        }
    }
    return rc;
}

/* first value that differs between two runs, "" when none */
static void opt_diff(const opt_run *a, const opt_run *b, char *why, size_t cap)
{
    why[0] = 0;
    for (int i = 0; i < OPT_PARAMS; i++)
        for (int64_t k = 0, n = nn_tensor_numel(a->value[i].h); k < n; k++) {
            float x = NN_F32P(a->value[i].h)[k], y = NN_F32P(b->value[i].h)[k];
            if (memcmp(&x, &y, sizeof x) != 0) {
                snprintf(why, cap, "%s[%lld] = %.9g after the continuous run, %.9g after the "
                         "save/load", opt_names[i], (long long)k, x, y);
                return;
            }
        }
}

void pt_check_optim_state(pt_ctx *c, pt_report *r)
{
    char params[PT_TEXT];
    if (kind_params(c, r, "state", params, sizeof params) != 0) {
        step_alloc_row(r, c->o->alloc, 0, "", "the state check could not run: no parameters");
        return;
    }
    opt_run A, B;
    memset(&B, 0, sizeof B);
    nn_error err = {0};
    int rc = opt_open(c, params, &A, &err);
    double lr = 0.01;
    if (rc == NN_OK && nn_params_has(A.inst.params, "lr"))
        lr = nn_params_float(A.inst.params, "lr");
    float before[35]; /* fc.weight, 7 x 5 */
    if (rc == NN_OK)
        memcpy(before, NN_F32P(A.value[0].h), sizeof before);
    for (int64_t t = 1; rc == NN_OK && t <= OPT_WARM; t++)
        rc = opt_step(c, &A, t, lr, 0, &err);
    int moved = rc == NN_OK && memcmp(before, NN_F32P(A.value[0].h), sizeof before) != 0;
    if (rc == NN_OK && (rc = opt_open(c, params, &B, &err)) == NN_OK)
        rc = opt_copy(&B, &A, &err);
    for (int64_t t = OPT_WARM + 1; rc == NN_OK && t <= OPT_WARM + OPT_AFTER; t++)
        rc = opt_step(c, &A, t, lr, 0, &err);
    const nn_alloc_counter *a = c->o->alloc;
    long total = 0, exempt = 0;
    char site[300] = "";
    for (int64_t t = OPT_WARM + 1; rc == NN_OK && t <= OPT_WARM + OPT_AFTER; t++) {
        if (a && t == OPT_WARM + 2) {
            /* gradients are in place for this step: only step() is counted */
            int i;
            for (i = 0; i < OPT_PARAMS && rc == NN_OK; i++) {
                pt_fill(B.grad[i].h, -1, 1, c->seed, 1000 * (uint64_t)t + (uint64_t)i);
                rc = pt_t_up(B.dev, &B.grad[i], &err);
            }
            a->start();
            if (rc == NN_OK)
                rc = opt_step(c, &B, t, lr, 1, &err);
            a->stop(&total, &exempt, site, sizeof site);
            for (i = 0; i < OPT_PARAMS && rc == NN_OK; i++)
                rc = pt_t_down(B.dev, &B.value[i], &err);
        } else {
            rc = opt_step(c, &B, t, lr, 0, &err);
        }
    }
    char why[300] = "", slots[128] = "";
    if (rc == NN_OK)
        opt_diff(&A, &B, why, sizeof why);
    int n_slots = A.n_slots;
    for (int s = 0; s < n_slots; s++)
        snprintf(slots + strlen(slots), sizeof slots - strlen(slots), "%s%s", s ? ", " : "",
                 A.slot_names[s]);
    opt_close(&A);
    opt_close(&B);
    if (rc)
        pt_add(r, PT_FAIL, "state", NULL, NULL, "%s", err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "state", "differs", "identical", "steps %d-%d after giving a fresh "
               "instance the values and %d slot%s of step %d: %s (an optimizer keeps all of its "
               "state in slots)", OPT_WARM + 1, OPT_WARM + OPT_AFTER, n_slots,
               n_slots == 1 ? "" : "s", OPT_WARM, why);
    else if (!moved)
        pt_add(r, PT_FAIL, "state", NULL, NULL, "%d steps with lr %g and non-zero gradients "
               "left fc.weight unchanged", OPT_WARM, lr);
    else
        pt_add(r, PT_PASS, "state", "0 bits", "identical", "steps %d-%d of a fresh instance "
               "given the values and slots (%s) of step %d: bit-identical", OPT_WARM + 1,
               OPT_WARM + OPT_AFTER, n_slots ? slots : "none", OPT_WARM);
    /* a step() that failed was not counted; one that ran was, whatever its state did */
    step_alloc_row(r, a, total - exempt, site,
                   rc ? "the state check failed before a step() could be counted" : NULL);
}

/* ---- schedulers ---- */

#define SCHED_BASE_LR 0.1
#define SCHED_STEPS_PER_EPOCH 10

typedef struct sched_run {
    nn_instance inst;
    const nn_scheduler_vtable *vt;
    nn_sched_ctx ctx;
    nn_sched_info info;
    double lr;
} sched_run;

/* the validation metric of epoch e: falls, then stays flat (a plateau for monitors) */
static double metric_at(int64_t e)
{
    return e < 3 ? 1.0 - 0.1 * (double)e : 0.8;
}

/* Starts a scheduler for a run of total_units of its own unit (batches or epochs): the unit
 * is known only once start() said it, so a per-batch one is started again with the run's
 * length in epochs that fits. */
static int sched_open(pt_ctx *c, const char *params, int64_t total_units, sched_run *s,
                      nn_error *err)
{
    int64_t epochs = total_units;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->inst.desc)
            nn_instance_destroy(&s->inst);
        memset(s, 0, sizeof *s);
        int rc = pt_instance(&s->inst, c->d, params, c->o->params, err);
        if (rc)
            return rc;
        s->vt = s->inst.vt;
        s->ctx = (nn_sched_ctx){.struct_size = sizeof s->ctx, .base_lr = SCHED_BASE_LR,
                                .steps_per_epoch = SCHED_STEPS_PER_EPOCH,
                                .total_epochs = epochs, .metric = NAN};
        s->info.struct_size = sizeof s->info;
        if ((rc = PT_CALL(&s->inst, "start",
                                 s->vt->start(s->inst.self, &s->ctx, &s->info, &s->lr, err), err)))
            return rc;
        s->ctx.metric_name = s->info.monitor;
        if (!s->info.per_batch)
            break;
        epochs = (total_units + SCHED_STEPS_PER_EPOCH - 1) / SCHED_STEPS_PER_EPOCH;
    }
    return NN_OK;
}

/* advances one unit (a batch or an epoch) and asks for the rate */
static int sched_advance(sched_run *s, nn_error *err)
{
    if (s->info.per_batch) {
        s->ctx.step++;
        s->ctx.epoch = s->ctx.step / SCHED_STEPS_PER_EPOCH;
    } else {
        s->ctx.epoch++;
        s->ctx.step = s->ctx.epoch * SCHED_STEPS_PER_EPOCH;
        if (s->info.monitor)
            s->ctx.metric = metric_at(s->ctx.epoch - 1);
    }
    return PT_CALL(&s->inst, "step", s->vt->step(s->inst.self, &s->ctx, &s->lr, err), err);
}

static int sched_units(const pt_ctx *c)
{
    return c->o->schedule_steps > 0 ? c->o->schedule_steps : 20;
}

void pt_check_schedule(pt_ctx *c, pt_report *r)
{
    char params[PT_TEXT];
    if (kind_params(c, r, "schedule", params, sizeof params) != 0)
        return;
    int n = sched_units(c);
    sched_run s;
    memset(&s, 0, sizeof s);
    nn_error err = {0};
    int rc = sched_open(c, params, n, &s, &err);
    char table[1100];
    size_t used = 0;
    double bad = 0;
    int bad_at = -1;
    if (rc == NN_OK)
        used = (size_t)snprintf(table, sizeof table, "base lr %g, %d batches per epoch, "
                                "stepped per %s%s%s; lr after each (0 = at the start):",
                                SCHED_BASE_LR, SCHED_STEPS_PER_EPOCH,
                                s.info.per_batch ? "batch" : "epoch",
                                s.info.monitor ? ", monitoring " : "",
                                s.info.monitor ? s.info.monitor : "");
    for (int i = 0; rc == NN_OK && i <= n; i++) {
        if (i > 0 && (rc = sched_advance(&s, &err)))
            break;
        if (!(s.lr >= 0) || !isfinite(s.lr)) {
            bad = s.lr;
            bad_at = i;
        }
        if (used < sizeof table)
            used += (size_t)snprintf(table + used, sizeof table - used, "%s%3d: %-10.4g",
                                     i % 5 == 0 ? "\n" : "  ", i, s.lr);
    }
    if (s.inst.desc)
        nn_instance_destroy(&s.inst);
    if (rc)
        pt_add(r, PT_FAIL, "schedule", NULL, NULL, "%s", err.msg);
    else if (bad_at >= 0)
        pt_add(r, PT_FAIL, "schedule", NULL, NULL, "rate %g at %d is not a finite number >= 0\n%s",
               bad, bad_at, table);
    else
        pt_add(r, PT_PASS, "schedule", NULL, NULL, "%s", table);
}

void pt_check_sched_state(pt_ctx *c, pt_report *r)
{
    char params[PT_TEXT];
    if (kind_params(c, r, "state", params, sizeof params) != 0) {
        step_alloc_row(r, c->o->alloc, 0, "", "the state check could not run: no parameters");
        return;
    }
    int n = sched_units(c), half = n / 2;
    sched_run A, B;
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    nn_error err = {0};
    static char text[1 << 16];
    double lr_a[256], lr_b[256];
    int rc = sched_open(c, params, n, &A, &err), saved = 0;
    for (int i = 0; rc == NN_OK && i < half; i++)
        rc = sched_advance(&A, &err);
    if (rc == NN_OK && A.vt->state_save) {
        int m = NN_PLUGIN_CALL(&A.inst, "state_save",
                               A.vt->state_save(A.inst.self, text, sizeof text, &err));
        if (m < 0)
            rc = m;
        else if ((size_t)m >= sizeof text)
            rc = nn_error_set(&err, NN_EINVAL, "state_save needs %d bytes; the test allows %zu",
                              m, sizeof text - 1);
        saved = 1;
    }
    /* B starts as a resumed run does: start(), the saved state, the counters of A */
    if (rc == NN_OK && (rc = sched_open(c, params, n, &B, &err)) == NN_OK) {
        if (saved && B.vt->state_load)
            rc = PT_CALL(&B.inst, "state_load", B.vt->state_load(B.inst.self, text, &err), &err);
        B.ctx = A.ctx;
        B.lr = A.lr;
    }
    const nn_alloc_counter *a = c->o->alloc;
    long total = 0, exempt = 0;
    char site[300] = "";
    int m = n - half < 256 ? n - half : 256;
    for (int i = 0; rc == NN_OK && i < m; i++) {
        if ((rc = sched_advance(&A, &err)))
            break;
        lr_a[i] = A.lr;
        if (a && i == 1)
            a->start();
        rc = sched_advance(&B, &err);
        if (a && i == 1)
            a->stop(&total, &exempt, site, sizeof site);
        lr_b[i] = B.lr;
    }
    if (A.inst.desc)
        nn_instance_destroy(&A.inst);
    if (B.inst.desc)
        nn_instance_destroy(&B.inst);
    int diff = -1;
    for (int i = 0; rc == NN_OK && i < m && diff < 0; i++)
        if (memcmp(&lr_a[i], &lr_b[i], sizeof lr_a[i]) != 0)
            diff = i;
    const char *how = saved ? "after state_save/state_load" : "of a fresh instance given only "
                                                              "the epoch and step";
    if (rc)
        pt_add(r, PT_FAIL, "state", NULL, NULL, "%s", err.msg);
    else if (diff >= 0)
        pt_add(r, PT_FAIL, "state", "differs", "identical", "rate %d %s: %.17g, continuous run: "
               "%.17g%s", half + diff + 1, how, lr_b[diff], lr_a[diff],
               saved ? "" : " (state that is not a function of epoch and step needs "
                            "NN_CAP_STATEFUL with state_save/state_load)");
    else
        pt_add(r, PT_PASS, "state", "0 bits", "identical", "rates %d-%d %s: bit-identical",
               half + 1, n, how);
    /* a step() that failed was not counted; one that ran was, whatever its state did */
    step_alloc_row(r, a, total - exempt, site,
                   rc ? "the state check failed before a step() could be counted" : NULL);
}
