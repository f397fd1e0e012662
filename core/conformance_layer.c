/* conformance_layer.c: one layer case of the device conformance run, in its child process:
 * the CPU plugin and the pack's plugin of the same name get the same keys, input shape,
 * parameters, state and seed (the CPU's in host memory, the pack's on the device), must
 * declare the same parameters and state, and must agree on the training forward, state
 * updates, backward (input and parameter gradients), an eval step and an inference plan. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_internal.h"
#include "graph.h"
#include "layer_decls.h"

enum { CPU = 0, PACK = 1, MORE = NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS };

typedef struct lside {
    nn_instance inst;
    nn_layer_setup su;
    nn_param_decl decls_more[MORE]; /* su.params_more: a layer may declare 64 parameters */
    nn_layer_io io;
    nn_tensor *par_more[MORE], *pgr_more[MORE]; /* io.params_more, io.param_grads_more */
    nn_tensor xdesc;
    nn_tensor bufs[NN_MAX_LAYER_BUFFERS];
} lside;

typedef struct lcase {
    const nn_conf_check *c;
    nn_dev *dev;
    lside s[2];
    nn_twin x, y, gy, gx, par[NN_MAX_LAYER_PARAMS_ALL], pgr[NN_MAX_LAYER_PARAMS_ALL];
    int n_par;
} lcase;

static const char *side_name(const lcase *l, int i)
{
    return i == CPU ? "cpu" : nn_dev_name(l->dev);
}

static const char *init_name(nn_init i)
{
    const char *name = nn_init_name(i);
    return name ? name : "?";
}

static void param_str(const nn_param_decl *d, char *buf, size_t cap)
{
    nn_tensor t = {0};
    char sh[96];
    nn_tensor_describe(&t, NN_F32, d->ndim, d->shape);
    snprintf(buf, cap, "%s %s init %s(%g) fan_in %lld fan_out %lld flags %u", d->name,
             nn_shape_str(&t, sh, sizeof sh), init_name(d->init), d->init_arg,
             (long long)d->fan_in, (long long)d->fan_out, d->flags);
}

static void state_str(const nn_buffer_decl *d, char *buf, size_t cap)
{
    nn_tensor t = {0};
    char sh[96];
    nn_tensor_describe(&t, d->dtype, d->ndim, d->shape);
    snprintf(buf, cap, "%s %s dtype %d init %s(%g)", d->name, nn_shape_str(&t, sh, sizeof sh),
             (int)d->dtype, init_name(d->init), d->init_arg);
}

/* the output, the parameters and the persistent state must be declared alike: the core
 * initialises parameters from their declarations, and checkpoints name them */
static int same_declarations(lcase *l, nn_conf_result *res)
{
    const nn_layer_setup *a = &l->s[CPU].su, *b = &l->s[PACK].su;
    char x[300], y[300];
    for (int i = 0; i < 2; i++) {
        nn_error e = {0};
        if (nn_layer_decls_check(i ? b : a, &l->s[i].inst, "conformance", NULL, 0, &e))
            return nn_conf_fail(res, "setup of the %s plugin: %s", i ? "pack's" : "CPU", e.msg);
    }
    if (!nn_shape_equal(&a->output, &b->output) || a->output.dl.dtype.code !=
        b->output.dl.dtype.code || a->output.dl.dtype.bits != b->output.dl.dtype.bits)
        return nn_conf_fail(res, "output: cpu declares %s, the pack %s",
                            nn_shape_str(&a->output, x, sizeof x),
                            nn_shape_str(&b->output, y, sizeof y));
    if (a->n_params != b->n_params)
        return nn_conf_fail(res, "parameters: cpu declares %d, the pack %d", a->n_params,
                            b->n_params);
    for (int i = 0; i < a->n_params; i++) {
        param_str(nn_layer_param_decl(a, i), x, sizeof x);
        param_str(nn_layer_param_decl(b, i), y, sizeof y);
        if (strcmp(x, y) != 0)
            return nn_conf_fail(res, "parameter %d: cpu declares %s; the pack %s", i, x, y);
    }
    for (int pass = 0; pass < 2; pass++) {
        const nn_layer_setup *p = pass ? b : a, *q = pass ? a : b;
        for (int i = 0; i < p->n_buffers; i++) {
            if (p->buffers[i].kind != NN_BUF_STATE)
                continue;
            int j = 0;
            while (j < q->n_buffers && (q->buffers[j].kind != NN_BUF_STATE ||
                                        strcmp(q->buffers[j].name, p->buffers[i].name) != 0))
                j++;
            state_str(&p->buffers[i], x, sizeof x);
            if (j == q->n_buffers)
                return nn_conf_fail(res, "state buffer %s: declared by %s only (checkpoints "
                                    "name it)", x, pass ? "the pack" : "cpu");
            state_str(&q->buffers[j], y, sizeof y);
            if (strcmp(x, y) != 0)
                return nn_conf_fail(res, "state buffer: %s declares %s; %s %s",
                                    pass ? "the pack" : "cpu", x, pass ? "cpu" : "the pack", y);
        }
    }
    return NN_CONF_PASS;
}

static int make_buffers(lcase *l, int i, int training, nn_error *err)
{
    lside *s = &l->s[i];
    for (int b = 0; b < s->su.n_buffers; b++) {
        const nn_buffer_decl *d = &s->su.buffers[b];
        nn_tensor *t = &s->bufs[b];
        if (d->kind == NN_BUF_SAVED && !training)
            continue;
        if (nn_tensor_describe(t, d->dtype, d->ndim, d->shape) != 0)
            return nn_error_set(err, NN_EINVAL, "buffer '%s': bad rank %d", d->name, d->ndim);
        t->name = d->name;
        size_t bytes = nn_tensor_nbytes(t), pad = (bytes + 63) / 64 * 64;
        nn_tensor init = *t;
        init.dl.shape = init.shape;
        init.dl.strides = init.strides;
        init.dl.data = NULL;
        if (d->kind == NN_BUF_STATE && d->dtype == NN_F32) {
            if (!(init.dl.data = calloc(1, pad ? pad : 64)))
                return nn_error_set(err, NN_ENOMEM, "out of memory");
            nn_init_tensor(&init, d->init, d->init_arg, 1, 1, 7, 0x5747e);
        }
        int rc = NN_OK;
        if (i == CPU) {
            t->dl.data = init.dl.data ? init.dl.data : calloc(1, pad ? pad : 64);
            init.dl.data = NULL;
            if (!t->dl.data)
                rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        } else {
            t->dl.device = nn_dev_public(l->dev)->dl;
            t->dl.data = nn_dev_alloc(l->dev, bytes, err);
            if (!t->dl.data)
                rc = err->status;
            else if (init.dl.data)
                rc = nn_dev_upload(l->dev, t, &init, err);
        }
        free(init.dl.data);
        if (rc)
            return rc;
        s->io.buffers[b] = t;
    }
    return NN_OK;
}

/* with res, the zones of the tensors the pack only read are checked as they go */
static void free_case(lcase *l, nn_conf_result *res)
{
    for (int i = 0; i < 2; i++) {
        lside *s = &l->s[i];
        for (int b = 0; b < NN_MAX_LAYER_BUFFERS; b++) {
            if (i == CPU)
                free(s->bufs[b].dl.data);
            else
                nn_dev_free(l->dev, s->bufs[b].dl.data);
        }
        nn_instance_destroy(&s->inst);
    }
    nn_twin_free(l->dev, &l->x, res);
    nn_twin_free(l->dev, &l->y, res);
    nn_twin_free(l->dev, &l->gy, res);
    nn_twin_free(l->dev, &l->gx, res);
    for (int k = 0; k < NN_MAX_LAYER_PARAMS_ALL; k++) {
        nn_twin_free(l->dev, &l->par[k], res);
        nn_twin_free(l->dev, &l->pgr[k], res);
    }
}

static int round_input(lcase *l, nn_error *err)
{
    float *x = NN_F32P(&l->x.h);
    for (int64_t i = 0, n = nn_tensor_numel(&l->x.h); i < n; i++)
        x[i] = nearbyintf(1.5f * x[i]);
    return nn_twin_upload(l->dev, &l->x, err);
}

/* the tensors both sides get, then each side's io */
static int make_io(lcase *l, int training, nn_error *err)
{
    const nn_conf_check *c = l->c;
    const nn_layer_setup *su = &l->s[CPU].su;
    const nn_tensor *o = &su->output;
    nn_rng r;
    nn_rng_init(&r, 0xc0f, (uint64_t)c->ndim, (uint64_t)c->shape[0], (uint64_t)training);
    int grad_in = training && c->variant != NN_CONF_NO_INPUT_GRAD;
    int rc;
    if ((rc = nn_twin_new(l->dev, &l->x, NN_F32, c->ndim, c->shape, "input", err)) ||
        (rc = nn_twin_random(l->dev, &l->x, &r, 1.0, 0, err)) ||
        (c->variant == NN_CONF_TIED_INPUT && (rc = round_input(l, err))) ||
        (rc = nn_twin_new(l->dev, &l->y, (nn_dtype)nn_tensor_dtype(o), o->dl.ndim, o->shape,
                          "output", err)))
        return rc;
    if (training &&
        ((rc = nn_twin_new(l->dev, &l->gy, NN_F32, o->dl.ndim, o->shape, "output gradient",
                           err)) ||
         (rc = nn_twin_random(l->dev, &l->gy, &r, 1.0, 0, err))))
        return rc;
    if (grad_in &&
        (rc = nn_twin_new(l->dev, &l->gx, NN_F32, c->ndim, c->shape, "input gradient", err)))
        return rc;
    l->n_par = su->n_params;
    for (int k = 0; k < su->n_params; k++) {
        const nn_param_decl *d = nn_layer_param_decl(su, k);
        if ((rc = nn_twin_new(l->dev, &l->par[k], NN_F32, d->ndim, d->shape, d->name, err)) ||
            (rc = nn_twin_random(l->dev, &l->par[k], &r, 1.0, 1, err)) ||
            (training && (rc = nn_twin_new(l->dev, &l->pgr[k], NN_F32, d->ndim, d->shape,
                                           d->name, err))))
            return rc;
    }
    for (int i = 0; i < 2; i++) {
        lside *s = &l->s[i];
        nn_layer_io *io = &s->io;
        io->struct_size = sizeof *io;
        io->training = training;
        io->n_inputs = 1;
        io->inputs[0] = i == CPU ? &l->x.h : &l->x.d;
        io->output = i == CPU ? &l->y.h : &l->y.d;
        for (int k = 0; k < l->n_par; k++)
            nn_layer_io_put_param(io, s->par_more, s->pgr_more, k,
                                  i == CPU ? &l->par[k].h : &l->par[k].d,
                                  !training ? NULL : i == CPU ? &l->pgr[k].h : &l->pgr[k].d);
        io->grad_output = !training ? NULL : i == CPU ? &l->gy.h : &l->gy.d;
        io->grad_inputs[0] = !grad_in ? NULL : i == CPU ? &l->gx.h : &l->gx.d;
        io->seed = 0x5eed0000u + (uint64_t)c->shape[0];
        io->device = s->su.device;
        if ((rc = make_buffers(l, i, training, err)))
            return rc;
    }
    return NN_OK;
}

/* runs one vtable call on both sides; returns 1 when both succeeded */
static int both(lcase *l, const char *stage, int which, nn_conf_result *res)
{
    int rc[2];
    nn_error e[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) {
        lside *s = &l->s[i];
        const nn_layer_vtable *vt = s->inst.vt;
        nn_conf_phase("the %s plugin '%s' (%s): %s", side_name(l, i), l->c->name,
                      i == CPU ? l->c->cpu->path : l->c->pack->path, stage);
        if (i != CPU)
            nn_conf_kernel_phase();
        switch (which) {
        case 0: rc[i] = vt->bind ? vt->bind(s->inst.self, &s->io, &e[i]) : NN_OK; break;
        case 1: rc[i] = vt->forward(s->inst.self, &s->io, &e[i]); break;
        default:
            rc[i] = vt->backward ? vt->backward(s->inst.self, &s->io, &e[i]) : NN_ENOTSUP;
            if (!vt->backward)
                snprintf(e[i].msg, sizeof e[i].msg, "no backward");
        }
    }
    nn_conf_phase("the conformance run comparing %s results", stage);
    if (rc[CPU] && rc[PACK])
        return nn_conf_fail(res, "%s fails on both: cpu: %s", stage, e[CPU].msg), 0;
    return nn_conf_agree(l->c, stage, rc[CPU], &e[CPU], rc[PACK], &e[PACK], res);
}

static int compare_states(lcase *l, const char *when, nn_conf_result *res, nn_error *err)
{
    const nn_layer_setup *a = &l->s[CPU].su, *b = &l->s[PACK].su;
    for (int i = 0; i < a->n_buffers; i++) {
        if (a->buffers[i].kind != NN_BUF_STATE || a->buffers[i].dtype != NN_F32)
            continue;
        for (int j = 0; j < b->n_buffers; j++) {
            if (b->buffers[j].kind != NN_BUF_STATE || strcmp(a->buffers[i].name,
                                                             b->buffers[j].name) != 0)
                continue;
            nn_twin t = {.h = l->s[CPU].bufs[i], .d = l->s[PACK].bufs[j]};
            char what[120];
            snprintf(what, sizeof what, "state '%s' after %s", a->buffers[i].name, when);
            int rc = nn_twin_compare(l->dev, &t, what, l->c->tol, res, err);
            if (rc)
                return rc;
        }
    }
    return NN_OK;
}

static int cmp(lcase *l, nn_twin *t, const char *what, nn_conf_result *res,
               nn_error *err)
{
    return nn_twin_compare(l->dev, t, what, l->c->tol, res, err);
}

/* one plan: training (forward, state, backward, eval step) or inference (forward) */
static int layer_plan(const nn_conf_check *c, nn_dev *dev, int training, nn_conf_result *res)
{
    lcase *l = calloc(1, sizeof *l);
    nn_error err = {0};
    if (!l)
        return nn_conf_fail(res, "out of memory");
    l->c = c;
    l->dev = dev;
    nn_kv kvs[NN_CONF_MAX_KV];
    int nkv = nn_conf_kvs(c, kvs), rc[2];
    nn_error e[2] = {{0}, {0}};
    const nn_plugin_entry *ent[2] = {c->cpu, c->pack};
    for (int i = 0; i < 2; i++) {
        nn_conf_phase("the %s plugin '%s' (%s): create", side_name(l, i), c->name,
                      ent[i]->path);
        rc[i] = nn_instance_create(&l->s[i].inst, ent[i]->desc, kvs, nkv, "case", &e[i]);
    }
    int go = nn_conf_agree(c, "create", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res);
    for (int i = 0; go && i < 2; i++) {
        lside *s = &l->s[i];
        nn_tensor_describe(&s->xdesc, NN_F32, c->ndim, c->shape);
        s->xdesc.dl.data = NULL;
        s->su.struct_size = sizeof s->su;
        s->su.layer_name = "conformance";
        s->su.training = training;
        s->su.n_inputs = 1;
        s->su.inputs[0] = &s->xdesc;
        s->su.params_more = s->decls_more;
        s->su.device = nn_dev_public(i == CPU ? nn_dev_host() : dev);
        if (i == PACK)
            s->xdesc.dl.device = s->su.device->dl;
        const nn_layer_vtable *vt = s->inst.vt;
        nn_conf_phase("the %s plugin '%s' (%s): setup", side_name(l, i), c->name,
                      ent[i]->path);
        memset(&e[i], 0, sizeof e[i]);
        rc[i] = vt->setup(s->inst.self, &s->su, &e[i]);
    }
    nn_conf_phase("the conformance run");
    if (go)
        go = nn_conf_agree(c, "setup", rc[CPU], &e[CPU], rc[PACK], &e[PACK], res);
    if (go && c->expect_refusal) {
        nn_conf_fail(res, "the CPU plugin accepts %s, which this case expects it to refuse",
                     c->label);
        go = 0;
    }
    if (go && same_declarations(l, res) == NN_CONF_FAIL)
        go = 0;
    if (go && make_io(l, training, &err)) {
        nn_conf_fail(res, "cannot set the case up: %s", err.msg);
        go = 0;
    }
    if (go)
        go = both(l, "bind", 0, res) && both(l, training ? "training forward" : "inference "
                                                "forward", 1, res);
    if (go && (cmp(l, &l->y, training ? "training forward output" : "inference output", res,
                   &err) < 0 ||
               compare_states(l, training ? "a training forward" : "an inference forward",
                              res, &err) < 0))
        nn_conf_fail(res, "cannot read results back: %s", err.msg);
    if (go && training && both(l, "backward", 2, res)) {
        if (l->gx.h.dl.data && cmp(l, &l->gx, "input gradient", res, &err) < 0)
            nn_conf_fail(res, "cannot read results back: %s", err.msg);
        for (int k = 0; k < l->n_par; k++) {
            char what[96];
            snprintf(what, sizeof what, "%s gradient",
                     nn_layer_param_decl(&l->s[CPU].su, k)->name);
            if (cmp(l, &l->pgr[k], what, res, &err) < 0)
                nn_conf_fail(res, "cannot read results back: %s", err.msg);
        }
        /* an evaluation step of a training plan (validation between epochs) */
        l->s[CPU].io.training = l->s[PACK].io.training = 0;
        if (both(l, "eval forward of a training plan", 1, res) &&
            (cmp(l, &l->y, "eval output of a training plan", res, &err) < 0 ||
             compare_states(l, "an eval forward", res, &err) < 0))
            nn_conf_fail(res, "cannot read results back: %s", err.msg);
    }
    free_case(l, res);
    free(l);
    return res->status;
}

int nn_conf_run_layer(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    if (layer_plan(c, dev, 1, res) != NN_CONF_PASS || res->msg[0])
        return res->status; /* failed, skipped, or both refused: nothing more to learn */
    return layer_plan(c, dev, 0, res);
}
