/* conformance_loss_optim.c: loss and optimizer cases of the device conformance run, in their
 * child processes. A loss must give the CPU plugin's batch loss (through loss_out, ABI 0.4)
 * and prediction gradient, and refuse the same bad targets; an optimizer must declare the
 * same slots and give the same values and slots over several steps. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_internal.h"
#include "layer_decls.h"
#include "loss_reduction.h"

enum { CPU = 0, PACK = 1 };

static int create_pair(const nn_conf_check *c, nn_instance inst[2], nn_conf_result *res)
{
    nn_kv kvs[NN_CONF_MAX_KV];
    int nkv = nn_conf_kvs(c, kvs), rc[2];
    nn_error e[2] = {{0}, {0}};
    const nn_plugin_entry *ent[2] = {c->cpu, c->pack};
    for (int i = 0; i < 2; i++) {
        nn_conf_phase("the %s plugin '%s' (%s): create", i ? "device" : "cpu", c->name,
                      ent[i]->path);
        rc[i] = nn_instance_create(&inst[i], ent[i]->desc, kvs, nkv, "case", &e[i]);
    }
    nn_conf_phase("the conformance run");
    return nn_conf_agree(c, "create", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res);
}

/* ---- losses ----------------------------------------------------------------------------- */

/* the default of the CPU schema's ignore_index */
static int32_t ignore_value(const nn_conf_check *c)
{
    for (const nn_param_spec *s = c->cpu->desc->params; s && s->name; s++)
        if (strcmp(s->name, "ignore_index") == 0 && s->def)
            return (int32_t)strtol(s->def, NULL, 10);
    return -100;
}

static void fill_targets(const nn_conf_check *c, nn_twin *t, int64_t n, int64_t classes,
                         nn_rng *r)
{
    if (c->variant == NN_CONF_SOFT_TARGET) {
        float *p = NN_F32P(&t->h);
        for (int64_t i = 0; i < n; i++) {
            double sum = 0;
            for (int64_t k = 0; k < classes; k++)
                sum += p[i * classes + k] = (float)nn_rng_uniform(r);
            for (int64_t k = 0; k < classes; k++)
                p[i * classes + k] = (float)(p[i * classes + k] / sum);
        }
        return;
    }
    int32_t *y = NN_I32P(&t->h);
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)nn_rng_below(r, (uint64_t)classes);
    if (c->variant == NN_CONF_BAD_TARGET)
        y[n / 2] = (int32_t)classes;
    for (int64_t i = 0; c->variant == NN_CONF_IGNORED && i < n; i += 3)
        y[i] = ignore_value(c);
}

static int loss_pass(const nn_conf_check *c, nn_dev *dev, nn_instance inst[2],
                     nn_loss_io io[2], nn_twin *grad, nn_tensor *loss_out, nn_conf_result *res)
{
    int rc[2];
    nn_error e[2] = {{0}, {0}};
    const char *stage = grad ? "forward with gradient" : "forward without gradient";
    for (int i = 0; i < 2; i++) {
        const nn_loss_vtable *vt = inst[i].vt;
        io[i].grad_pred = grad ? (i == CPU ? &grad->h : &grad->d) : NULL;
        io[i].loss = NAN;
        nn_conf_phase("the %s plugin '%s': %s", i ? nn_dev_name(dev) : "cpu", c->name, stage);
        if (i)
            nn_conf_kernel_phase();
        rc[i] = vt->forward(inst[i].self, &io[i], &e[i]);
    }
    nn_conf_phase("the conformance run comparing losses");
    if (!nn_conf_agree(c, stage, rc[CPU], &e[CPU], rc[PACK], &e[PACK], res))
        return 0;
    float got;
    nn_error err = {0};
    if (nn_dev_copy(dev, &got, loss_out->dl.data, sizeof got, NN_COPY_DEVICE_TO_HOST, &err))
        return nn_conf_fail(res, "cannot read loss_out back: %s", err.msg), 0;
    double want = io[CPU].loss, scale = fabs(want) > 1e-30 ? fabs(want) : 1.0;
    double e_loss = isnan(want) || isnan(got) ? (isnan(want) && isnan(got) ? 0 : INFINITY)
                                               : fabs(got - want) / scale;
    if (e_loss > res->worst)
        res->worst = e_loss;
    if (e_loss > c->tol)
        return nn_conf_fail(res, "batch loss (%s): cpu %.9g, %s %.9g in loss_out (error %.2g > "
                            "%.2g)", stage, want, nn_dev_name(dev), (double)got, e_loss,
                            c->tol), 0;
    if (grad && nn_twin_compare(dev, grad, "prediction gradient", c->tol, res, &err) < 0)
        return nn_conf_fail(res, "cannot read results back: %s", err.msg), 0;
    return 1;
}

int nn_conf_run_loss(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    nn_instance inst[2] = {{0}, {0}};
    nn_twin pred = {0}, target = {0}, grad = {0};
    nn_tensor loss_out = {0}, bufs[2][NN_MAX_LAYER_BUFFERS];
    nn_loss_setup su[2];
    nn_loss_io io[2];
    nn_error e[2] = {{0}, {0}}, err = {0};
    memset(bufs, 0, sizeof bufs);
    memset(su, 0, sizeof su);
    memset(io, 0, sizeof io);
    int64_t n = c->shape[0], classes = c->ndim > 1 ? c->shape[1] : 1, one = 1;
    int soft = c->variant == NN_CONF_SOFT_TARGET, rc[2], go = create_pair(c, inst, res);
    nn_rng r;
    nn_rng_init(&r, 0x1055, (uint64_t)n, (uint64_t)classes, (uint64_t)c->variant);
    if (go && ((rc[0] = nn_twin_new(dev, &pred, NN_F32, 2, c->shape, "predictions", &err)) ||
               (rc[0] = nn_twin_random(dev, &pred, &r, 2.0, 0, &err)) ||
               (rc[0] = nn_twin_new(dev, &target, soft ? NN_F32 : NN_I32, soft ? 2 : 1,
                                    c->shape, "targets", &err)) ||
               (rc[0] = nn_twin_new(dev, &grad, NN_F32, 2, c->shape, "gradient", &err)))) {
        nn_conf_fail(res, "cannot set the case up: %s", err.msg);
        go = 0;
    }
    if (go) {
        fill_targets(c, &target, n, classes, &r);
        nn_tensor_describe(&loss_out, NN_F32, 1, &one);
        loss_out.dl.device = nn_dev_public(dev)->dl;
        loss_out.name = "loss_out";
        if (nn_twin_upload(dev, &target, &err) ||
            !(loss_out.dl.data = nn_dev_alloc(dev, sizeof(float), &err))) {
            nn_conf_fail(res, "cannot set the case up: %s", err.msg);
            go = 0;
        }
    }
    for (int i = 0; go && i < 2; i++) {
        su[i].struct_size = sizeof su[i];
        su[i].pred = i == CPU ? &pred.h : &pred.d;
        su[i].target = i == CPU ? &target.h : &target.d;
        su[i].device = nn_dev_public(i == CPU ? nn_dev_host() : dev);
        const nn_loss_vtable *vt = inst[i].vt;
        nn_conf_phase("the %s plugin '%s': setup", i ? nn_dev_name(dev) : "cpu", c->name);
        rc[i] = vt->setup(inst[i].self, &su[i], &e[i]);
    }
    nn_conf_phase("the conformance run");
    if (go)
        go = nn_conf_agree(c, "setup", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res);
    /* the core combines a batch's parts by it: a pack that says mean where the CPU says sum
     * (or the reverse) trains replicas, processes and micro-batches differently */
    if (go && su[CPU].reduction != su[PACK].reduction) {
        const char *pack = nn_loss_reduction_name(su[PACK].reduction);
        const char *cpu = nn_loss_reduction_name(su[CPU].reduction);
        if (pack && cpu)
            nn_conf_fail(res, "setup declares %s; the cpu plugin declares %s", pack, cpu);
        else
            nn_conf_fail(res, "setup declares reduction %lld, the cpu plugin %lld: "
                         NN_LOSS_REDUCTION_RULE, (long long)su[PACK].reduction,
                         (long long)su[CPU].reduction);
        go = 0;
    }
    for (int i = 0; go && i < 2; i++) {
        nn_error e = {0};
        if (nn_loss_decls_check(&su[i], &inst[i], &e)) {
            nn_conf_fail(res, "setup of the %s plugin: %s", i ? "pack's" : "CPU", e.msg);
            go = 0;
        }
    }
    for (int i = 0; go && i < 2; i++) {
        io[i].struct_size = sizeof io[i];
        io[i].pred = su[i].pred;
        io[i].target = su[i].target;
        io[i].device = su[i].device;
        io[i].loss_out = i == PACK ? &loss_out : NULL;
        for (int b = 0; b < su[i].n_buffers; b++) {
            const nn_buffer_decl *d = &su[i].buffers[b];
            nn_tensor *t = &bufs[i][b];
            nn_tensor_describe(t, d->dtype, d->ndim, d->shape);
            size_t bytes = nn_tensor_nbytes(t);
            if (i == PACK)
                t->dl.device = nn_dev_public(dev)->dl;
            t->dl.data = i == CPU ? calloc(1, bytes + 64) : nn_dev_alloc(dev, bytes, &err);
            if (!t->dl.data) {
                nn_conf_fail(res, "cannot allocate loss buffer '%s'", d->name);
                go = 0;
            }
            io[i].buffers[b] = t;
        }
    }
    if (go && loss_pass(c, dev, inst, io, &grad, &loss_out, res))
        loss_pass(c, dev, inst, io, NULL, &loss_out, res);
    for (int i = 0; i < 2; i++) {
        for (int b = 0; b < NN_MAX_LAYER_BUFFERS; b++) {
            if (i == CPU)
                free(bufs[i][b].dl.data);
            else
                nn_dev_free(dev, bufs[i][b].dl.data);
        }
        nn_instance_destroy(&inst[i]);
    }
    nn_dev_free(dev, loss_out.dl.data);
    nn_twin_free(dev, &pred, res);
    nn_twin_free(dev, &target, res);
    nn_twin_free(dev, &grad, res);
    return res->status;
}

/* ---- optimizers ------------------------------------------------------------------------- */

#define OPT_PARAMS 3
#define OPT_STEPS 4

typedef struct optcase {
    nn_twin val[OPT_PARAMS], grad[OPT_PARAMS], slot[OPT_PARAMS][NN_MAX_OPTIM_SLOTS];
    nn_optim_param p[2][OPT_PARAMS];
} optcase;

static int same_slots(const nn_optim_setup su[2], nn_conf_result *res)
{
    if (su[CPU].n_slots != su[PACK].n_slots)
        return nn_conf_fail(res, "slots: cpu declares %d, the pack %d (checkpoints hold them)",
                            su[CPU].n_slots, su[PACK].n_slots);
    for (int k = 0; k < su[CPU].n_slots; k++) {
        const char *a = su[CPU].slot_names[k], *b = su[PACK].slot_names[k];
        if (!a || !b || strcmp(a, b) != 0)
            return nn_conf_fail(res, "slot %d: cpu names it '%s', the pack '%s'", k,
                                a ? a : "(null)", b ? b : "(null)");
    }
    return NN_CONF_PASS;
}

static int optim_steps(const nn_conf_check *c, nn_dev *dev, nn_instance inst[2], optcase *o,
                       int n_slots, nn_conf_result *res)
{
    static const double lrs[OPT_STEPS] = {0.1, 0.05, 0.1, 0.02};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0971, (uint64_t)n_slots, 0, 0);
    for (int t = 1; t <= OPT_STEPS; t++) {
        for (int k = 0; k < OPT_PARAMS; k++)
            if (nn_twin_random(dev, &o->grad[k], &r, 1.0, 0, &err))
                return nn_conf_fail(res, "cannot upload gradients: %s", err.msg);
        int rc[2];
        nn_error e[2] = {{0}, {0}};
        for (int i = 0; i < 2; i++) {
            nn_optim_step st = {.struct_size = sizeof st, .lr = lrs[t - 1], .t = t,
                                .n_params = OPT_PARAMS, .params = o->p[i],
                                .device = nn_dev_public(i == CPU ? nn_dev_host() : dev)};
            const nn_optimizer_vtable *vt = inst[i].vt;
            nn_conf_phase("the %s plugin '%s': step %d", i ? nn_dev_name(dev) : "cpu",
                          c->name, t);
            if (i)
                nn_conf_kernel_phase();
            rc[i] = vt->step(inst[i].self, &st, &e[i]);
        }
        nn_conf_phase("the conformance run comparing step %d", t);
        if (!nn_conf_agree(c, "step", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res))
            return res->status;
        for (int k = 0; k < OPT_PARAMS; k++) {
            char what[120];
            snprintf(what, sizeof what, "value of parameter %d after step %d", k, t);
            if (nn_twin_compare(dev, &o->val[k], what, c->tol, res, &err) < 0)
                return nn_conf_fail(res, "cannot read results back: %s", err.msg);
            for (int s = 0; s < n_slots; s++) {
                snprintf(what, sizeof what, "slot %d of parameter %d after step %d", s, k, t);
                if (nn_twin_compare(dev, &o->slot[k][s], what, c->tol, res, &err) < 0)
                    return nn_conf_fail(res, "cannot read results back: %s", err.msg);
            }
        }
        if (res->status == NN_CONF_FAIL)
            return res->status;
    }
    return res->status;
}

int nn_conf_run_optimizer(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    static const int64_t shapes[OPT_PARAMS][2] = {{7, 1}, {5, 3}, {130, 1}};
    static const int ndims[OPT_PARAMS] = {1, 2, 1};
    static const double lr_mult[OPT_PARAMS] = {1, 0.5, 2}, wd_mult[OPT_PARAMS] = {1, 0, 1};
    static const char *const names[OPT_PARAMS] = {"a.weight", "a.bias", "b.weight"};
    nn_instance inst[2] = {{0}, {0}};
    nn_optim_setup su[2];
    nn_error e[2] = {{0}, {0}}, err = {0};
    memset(su, 0, sizeof su);
    optcase *o = calloc(1, sizeof *o);
    if (!o)
        return nn_conf_fail(res, "out of memory");
    int rc[2], go = create_pair(c, inst, res);
    for (int i = 0; go && i < 2; i++) {
        su[i].struct_size = sizeof su[i];
        su[i].device = nn_dev_public(i == CPU ? nn_dev_host() : dev);
        const nn_optimizer_vtable *vt = inst[i].vt;
        nn_conf_phase("the %s plugin '%s': setup", i ? nn_dev_name(dev) : "cpu", c->name);
        rc[i] = vt->setup(inst[i].self, &su[i], &e[i]);
    }
    nn_conf_phase("the conformance run");
    if (go)
        go = nn_conf_agree(c, "setup", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res) &&
             same_slots(su, res) == NN_CONF_PASS;
    int n_slots = go ? su[CPU].n_slots : 0;
    if (n_slots < 0 || n_slots > NN_MAX_OPTIM_SLOTS) {
        nn_conf_fail(res, "setup declares %d slots (at most %d)", n_slots, NN_MAX_OPTIM_SLOTS);
        go = 0;
    }
    nn_rng r;
    nn_rng_init(&r, 0x0972, 0, 0, 0);
    for (int k = 0; go && k < OPT_PARAMS; k++) {
        int bad = nn_twin_new(dev, &o->val[k], NN_F32, ndims[k], shapes[k], names[k], &err) ||
                  nn_twin_random(dev, &o->val[k], &r, 1.0, 1, &err) ||
                  nn_twin_new(dev, &o->grad[k], NN_F32, ndims[k], shapes[k], "grad", &err);
        for (int s = 0; !bad && s < n_slots; s++)
            bad = nn_twin_new(dev, &o->slot[k][s], NN_F32, ndims[k], shapes[k], "slot", &err);
        if (bad) {
            nn_conf_fail(res, "cannot set the case up: %s", err.msg);
            go = 0;
        }
        for (int i = 0; i < 2; i++) {
            nn_optim_param *p = &o->p[i][k];
            p->name = names[k];
            p->value = i == CPU ? &o->val[k].h : &o->val[k].d;
            p->grad = i == CPU ? &o->grad[k].h : &o->grad[k].d;
            for (int s = 0; s < n_slots; s++)
                p->slots[s] = i == CPU ? &o->slot[k][s].h : &o->slot[k][s].d;
            p->lr_mult = lr_mult[k];
            p->weight_decay_mult = wd_mult[k];
            p->flags = k == 1 ? NN_TENSOR_BIAS : 0;
        }
    }
    if (go)
        optim_steps(c, dev, inst, o, n_slots, res);
    for (int k = 0; k < OPT_PARAMS; k++) {
        nn_twin_free(dev, &o->val[k], res);
        nn_twin_free(dev, &o->grad[k], res);
        for (int s = 0; s < NN_MAX_OPTIM_SLOTS; s++)
            nn_twin_free(dev, &o->slot[k][s], res);
    }
    free(o);
    nn_instance_destroy(&inst[CPU]);
    nn_instance_destroy(&inst[PACK]);
    return res->status;
}
