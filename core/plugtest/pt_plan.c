/* pt_plan.c: drives one layer or loss plugin through the life the graph gives it (parameters,
 * create, setup, memory, bind, forward, backward) on the host or on a backend's device, with a
 * host copy of every tensor for the checks to read and perturb. Allocates only when opening. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "graph.h"
#include "layer_decls.h"
#include "crash.h"
#include "pt_internal.h"

void pt_fill(nn_tensor *t, double lo, double hi, uint64_t seed, uint64_t stream)
{
    nn_rng r;
    nn_rng_init(&r, seed, stream, 0x7e57, 0);
    int64_t n = nn_tensor_numel(t);
    int dt = nn_tensor_dtype(t);
    uint64_t span = hi > lo ? (uint64_t)(hi - lo) : 1;
    for (int64_t i = 0; i < n; i++) {
        double u = nn_rng_uniform(&r);
        switch (dt) {
        case NN_F32: NN_F32P(t)[i] = (float)(lo + (hi - lo) * u); break;
        case NN_F64: ((double *)t->dl.data)[i] = lo + (hi - lo) * u; break;
        case NN_I32: NN_I32P(t)[i] = (int32_t)(lo + (double)nn_rng_below(&r, span)); break;
        case NN_I64: NN_I64P(t)[i] = (int64_t)(lo + (double)nn_rng_below(&r, span)); break;
        case NN_U8: NN_U8P(t)[i] = (uint8_t)(lo + (double)nn_rng_below(&r, span)); break;
        default: break;
        }
    }
}

static int oom(nn_error *err)
{
    return nn_error_set(err, NN_ENOMEM, "plugins test: out of memory");
}

int pt_t_alloc(nn_dev *dev, pt_t *t, nn_dtype dt, int ndim, const int64_t *shape,
                   const char *name, nn_error *err)
{
    if (!(t->h = pt_guarded_new(dt, ndim, shape)) ||
        !(t->kept = malloc(nn_tensor_nbytes(t->h) ? nn_tensor_nbytes(t->h) : 1)))
        return oom(err);
    t->h->name = name;
    t->dev = *t->h;
    t->dev.dl.shape = t->dev.shape;
    t->dev.dl.strides = t->dev.strides;
    if (nn_dev_is_host(dev))
        return NN_OK;
    size_t bytes = nn_tensor_nbytes(t->h), zones = PT_DEV_FRONT + PT_GUARD_AFTER;
    if (!(t->back = malloc(bytes > zones ? bytes : zones)))
        return oom(err);
    if (!(t->mem = nn_canary_dev_alloc(dev, bytes, PT_DEV_FRONT, PT_GUARD_AFTER, err)))
        return err && err->status ? err->status : NN_ENOMEM;
    t->on = dev;
    t->dev.dl.data = t->mem;
    t->dev.dl.device = nn_dev_public(dev)->dl;
    return NN_OK;
}

void pt_t_free(nn_dev *dev, pt_t *t)
{
    nn_canary_dev_free(dev, t->mem, PT_DEV_FRONT);
    pt_guarded_free(t->h);
    free(t->kept);
    free(t->back);
    memset(t, 0, sizeof *t);
}

/* the plugin reads and writes h itself only on the host */
static int on_host(const pt_t *t)
{
    return t->h && !t->mem;
}

/* the device data of t into `to` */
static int read_back(const pt_t *t, unsigned char *to)
{
    nn_error err = {0};
    return nn_dev_copy(t->on, to, t->mem, nn_tensor_nbytes(t->h), NN_COPY_DEVICE_TO_HOST, &err);
}

void pt_t_keep(pt_t *t)
{
    if (!t->h)
        return;
    size_t bytes = nn_tensor_nbytes(t->h);
    t->kept_ok = on_host(t) ? (memcpy(t->kept, t->h->dl.data, bytes), 1)
                            : read_back(t, t->kept) == NN_OK;
}

int pt_t_kept(const pt_t *t, const char *call, const char *name, nn_error *err)
{
    if (!t->h || !t->kept_ok)
        return NN_OK;
    if (on_host(t))
        return pt_unchanged(t->h, t->kept, call, name, err);
    nn_tensor now = *t->h;
    now.dl.data = t->back;
    if (read_back(t, t->back) != NN_OK)
        return NN_OK; /* the device's own failure is the call's to report */
    return pt_unchanged(&now, t->kept, call, name, err);
}

int pt_t_fenced(const pt_t *t, const char *call, const char *name, nn_error *err)
{
    if (!t->h)
        return NN_OK;
    if (on_host(t))
        return pt_guard_check(t->h, call, name, err);
    nn_error rerr = {0};
    if (nn_canary_dev_read(t->on, t->mem, nn_tensor_nbytes(t->h), PT_DEV_FRONT, PT_GUARD_AFTER,
                           t->back, &rerr) != NN_OK)
        return NN_OK; /* the device's own failure is the call's to report */
    char who[64];
    snprintf(who, sizeof who, "%s()", call);
    return nn_canary_check(t->h, t->back, PT_DEV_FRONT, t->back + PT_DEV_FRONT, PT_GUARD_AFTER,
                           who, name, err);
}

int pt_t_up(nn_dev *dev, pt_t *t, nn_error *err)
{
    return !t->h || !t->mem ? NN_OK : nn_dev_upload(dev, &t->dev, t->h, err);
}

int pt_t_down(nn_dev *dev, pt_t *t, nn_error *err)
{
    return !t->h || !t->mem ? NN_OK : nn_dev_download(dev, t->h, &t->dev, err);
}

static nn_dev *dev_or_host(nn_dev *dev)
{
    return dev ? dev : nn_dev_host();
}

/* ---- layers ---- */

/* Before a forward or backward: what it must only read (inputs, parameters, and grad_output,
 * which layer.h makes read-only when grad_output_scratch is 0, as here). */
static void layer_keep(pt_layer *L)
{
    for (int i = 0; i < L->n_inputs; i++)
        pt_t_keep(&L->in[i]);
    for (int i = 0; i < L->su.n_params; i++)
        pt_t_keep(&L->par[i]);
    pt_t_keep(&L->gout);
}

/* fence of t, then (kept) that it still holds what layer_keep saw */
static int fenced_kept(const pt_t *t, int kept, const char *call, const char *name,
                       nn_error *err)
{
    int rc = pt_t_fenced(t, call, name, err);
    return rc == NN_OK && kept ? pt_t_kept(t, call, name, err) : rc;
}

int pt_layer_check_call(const pt_layer *L, const char *call, int kept, nn_error *err)
{
    char name[NN_NAME_MAX + 48];
    int rc = pt_t_fenced(&L->out, call, "output", err);
    if (rc == NN_OK)
        rc = fenced_kept(&L->gout, kept, call, "grad_output", err);
    for (int i = 0; rc == NN_OK && i < L->n_inputs; i++) {
        snprintf(name, sizeof name, "inputs[%d]", i);
        rc = fenced_kept(&L->in[i], kept, call, name, err);
        snprintf(name, sizeof name, "grad_inputs[%d]", i);
        if (rc == NN_OK)
            rc = pt_t_fenced(&L->gin[i], call, name, err);
    }
    for (int i = 0; rc == NN_OK && i < L->su.n_params; i++) {
        const char *pn = nn_layer_param_decl(&L->su, i)->name;
        snprintf(name, sizeof name, "params[%d] '%s'", i, pn);
        rc = fenced_kept(&L->par[i], kept, call, name, err);
        snprintf(name, sizeof name, "param_grads[%d] '%s'", i, pn);
        if (rc == NN_OK)
            rc = pt_t_fenced(&L->gpar[i], call, name, err);
    }
    for (int i = 0; rc == NN_OK && i < L->su.n_buffers; i++) {
        static const char *const kinds[] = {"", "saved", "workspace", "state"};
        int k = L->su.buffers[i].kind;
        snprintf(name, sizeof name, "buffers[%d] '%s' (%s)", i, L->su.buffers[i].name,
                 k >= NN_BUF_SAVED && k <= NN_BUF_STATE ? kinds[k] : "?");
        rc = pt_t_fenced(&L->buf[i], call, name, err);
    }
    return rc;
}

void pt_layer_close(pt_layer *L)
{
    if (L->inst.desc)
        nn_instance_destroy(&L->inst);
    for (int i = 0; i < NN_MAX_INPUTS; i++) {
        pt_t_free(L->dev, &L->in[i]);
        pt_t_free(L->dev, &L->gin[i]);
    }
    for (int i = 0; i < NN_MAX_LAYER_PARAMS_ALL; i++) {
        pt_t_free(L->dev, &L->par[i]);
        pt_t_free(L->dev, &L->gpar[i]);
    }
    for (int i = 0; i < NN_MAX_LAYER_BUFFERS; i++)
        pt_t_free(L->dev, &L->buf[i]);
    pt_t_free(L->dev, &L->out);
    pt_t_free(L->dev, &L->gout);
    memset(L, 0, sizeof *L);
}

static int layer_open(pt_layer *L, const nn_plugin_desc *desc, const pt_case *c,
                      const char *const *extra, int training, unsigned need_grad,
                      uint64_t seed, nn_error *err)
{
    int rc = pt_instance(&L->inst, desc, c->params, extra, err);
    if (rc)
        return rc;
    L->vt = L->inst.vt;
    L->n_inputs = c->n_inputs;
    L->training = training;
    nn_tensor desc_in[NN_MAX_INPUTS];
    memset(desc_in, 0, sizeof desc_in);
    L->su.struct_size = sizeof L->su;
    L->su.layer_name = "test";
    L->su.training = training;
    L->su.n_inputs = c->n_inputs;
    L->su.device = nn_dev_public(L->dev);
    L->su.params_more = L->decls_more;
    for (int i = 0; i < c->n_inputs; i++) {
        nn_tensor_describe(&desc_in[i], c->in[i].dtype, c->in[i].ndim, c->in[i].shape);
        desc_in[i].dl.device = L->su.device->dl;
        L->su.inputs[i] = &desc_in[i];
    }
    if ((rc = PT_CALL(&L->inst, "setup", L->vt->setup(L->inst.self, &L->su, err), err)))
        return rc;
    for (int i = 0; i < c->n_inputs; i++)
        L->su.inputs[i] = NULL; /* desc_in dies with this frame */
    /* the plan's own rule, so that what training refuses fails here too */
    if ((rc = nn_layer_decls_check(&L->su, &L->inst, L->su.layer_name, NULL, 0, err)))
        return rc;
    const nn_tensor *o = &L->su.output;
    int odt = nn_tensor_dtype(o);
    nn_dev *dev = L->dev;
    if ((rc = pt_t_alloc(dev, &L->out, (nn_dtype)odt, o->dl.ndim, o->shape, "output", err)))
        return rc;
    for (int i = 0; i < c->n_inputs; i++) {
        const pt_tensor_spec *s = &c->in[i];
        if ((rc = pt_t_alloc(dev, &L->in[i], s->dtype, s->ndim, s->shape, "input", err)))
            return rc;
        pt_fill(L->in[i].h, s->lo, s->hi, seed, 10 + (uint64_t)i);
        /* the graph never asks for the gradient of integer data */
        if (training && (need_grad >> i & 1u) && (s->dtype == NN_F32 || s->dtype == NN_F64) &&
            (rc = pt_t_alloc(dev, &L->gin[i], NN_F32, s->ndim, s->shape, "grad_input", err)))
            return rc;
    }
    for (int i = 0; i < L->su.n_params; i++) {
        const nn_param_decl *d = nn_layer_param_decl(&L->su, i);
        if ((rc = pt_t_alloc(dev, &L->par[i], NN_F32, d->ndim, d->shape, d->name, err)))
            return rc;
        pt_fill(L->par[i].h, -0.5, 0.5, seed, 100 + (uint64_t)i);
        if (training && (rc = pt_t_alloc(dev, &L->gpar[i], NN_F32, d->ndim, d->shape, d->name, err)))
            return rc;
    }
    for (int i = 0; i < L->su.n_buffers; i++) {
        const nn_buffer_decl *d = &L->su.buffers[i];
        if (d->kind == NN_BUF_SAVED && !training)
            continue; /* absent in eval plans */
        if ((rc = pt_t_alloc(dev, &L->buf[i], d->dtype, d->ndim, d->shape, d->name, err)))
            return rc;
        if (d->kind == NN_BUF_STATE && d->dtype == NN_F32)
            nn_init_tensor(L->buf[i].h, d->init, d->init_arg, 1, 1, seed, 200 + (uint64_t)i);
        if ((rc = pt_t_up(dev, &L->buf[i], err)))
            return rc;
    }
    if (training && (rc = pt_t_alloc(dev, &L->gout, (nn_dtype)odt, o->dl.ndim, o->shape,
                                  "grad_output", err)))
        return rc;
    nn_layer_io *io = &L->io;
    io->struct_size = sizeof *io;
    io->training = training;
    io->n_inputs = c->n_inputs;
    io->device = nn_dev_public(dev);
    io->seed = seed ^ 0x5eed;
    for (int i = 0; i < c->n_inputs; i++) {
        io->inputs[i] = &L->in[i].dev;
        io->grad_inputs[i] = L->gin[i].h ? &L->gin[i].dev : NULL;
    }
    io->output = &L->out.dev;
    for (int i = 0; i < L->su.n_params; i++)
        nn_layer_io_put_param(io, L->par_more, L->gpar_more, i, &L->par[i].dev,
                              L->gpar[i].h ? &L->gpar[i].dev : NULL);
    for (int i = 0; i < L->su.n_buffers; i++)
        io->buffers[i] = L->buf[i].h ? &L->buf[i].dev : NULL;
    io->grad_output = L->gout.h ? &L->gout.dev : NULL;
    for (int i = 0; i < c->n_inputs; i++)
        if ((rc = pt_t_up(dev, &L->in[i], err)))
            return rc;
    for (int i = 0; i < L->su.n_params; i++)
        if ((rc = pt_t_up(dev, &L->par[i], err)))
            return rc;
    if (L->vt->bind && (rc = PT_CALL(&L->inst, "bind", L->vt->bind(L->inst.self, io, err), err)))
        return rc;
    return L->vt->bind ? pt_layer_check_call(L, "bind", 0, err) : NN_OK;
}

int pt_layer_open(pt_layer *L, nn_dev *dev, const nn_plugin_desc *desc, const pt_case *c,
                  const char *const *extra, int training, unsigned need_grad, uint64_t seed,
                  nn_error *err)
{
    memset(L, 0, sizeof *L);
    L->dev = dev_or_host(dev);
    int rc = layer_open(L, desc, c, extra, training, need_grad, seed, err);
    if (rc) {
        if (err && !err->msg[0])
            nn_error_set(err, rc, "%s", nn_strerror(rc));
        pt_layer_close(L);
    }
    return rc;
}

int pt_layer_forward(pt_layer *L, int training, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < L->n_inputs && rc == NN_OK; i++)
        rc = pt_t_up(L->dev, &L->in[i], err);
    for (int i = 0; i < L->su.n_params && rc == NN_OK; i++)
        rc = pt_t_up(L->dev, &L->par[i], err);
    L->io.training = training;
    layer_keep(L);
    if (rc == NN_OK)
        rc = PT_CALL(&L->inst, "forward", L->vt->forward(L->inst.self, &L->io, err), err);
    if (rc == NN_OK)
        rc = pt_layer_check_call(L, "forward", 1, err);
    if (rc == NN_OK)
        rc = pt_t_down(L->dev, &L->out, err);
    return rc;
}

int pt_layer_backward(pt_layer *L, nn_error *err)
{
    if (!L->vt->backward || !L->io.grad_output)
        return nn_error_set(err, NN_ENOTSUP, "no backward (inference-only layer or eval plan)");
    int rc = pt_t_up(L->dev, &L->gout, err);
    layer_keep(L);
    if (rc == NN_OK)
        rc = PT_CALL(&L->inst, "backward", L->vt->backward(L->inst.self, &L->io, err), err);
    if (rc == NN_OK)
        rc = pt_layer_check_call(L, "backward", 1, err);
    for (int i = 0; i < L->n_inputs && rc == NN_OK; i++)
        rc = pt_t_down(L->dev, &L->gin[i], err);
    for (int i = 0; i < L->su.n_params && rc == NN_OK; i++)
        rc = pt_t_down(L->dev, &L->gpar[i], err);
    return rc;
}

/* ---- losses ---- */

void pt_loss_close(pt_loss *L)
{
    if (L->inst.desc)
        nn_instance_destroy(&L->inst);
    pt_t_free(L->dev, &L->pred);
    pt_t_free(L->dev, &L->target);
    pt_t_free(L->dev, &L->grad);
    pt_t_free(L->dev, &L->loss);
    for (int i = 0; i < NN_MAX_LAYER_BUFFERS; i++)
        pt_t_free(L->dev, &L->buf[i]);
    memset(L, 0, sizeof *L);
}

static int loss_open(pt_loss *L, const nn_plugin_desc *desc, const pt_case *c,
                     const char *const *extra, uint64_t seed, nn_error *err)
{
    int rc = pt_instance(&L->inst, desc, c->params, extra, err);
    if (rc)
        return rc;
    L->vt = L->inst.vt;
    const pt_tensor_spec *p = &c->in[0], *t = &c->target;
    nn_tensor pd, td;
    memset(&pd, 0, sizeof pd);
    memset(&td, 0, sizeof td);
    nn_tensor_describe(&pd, p->dtype, p->ndim, p->shape);
    nn_tensor_describe(&td, t->dtype, t->ndim, t->shape);
    L->su.struct_size = sizeof L->su;
    L->su.pred = &pd;
    L->su.target = &td;
    L->su.device = nn_dev_public(L->dev);
    pd.dl.device = td.dl.device = L->su.device->dl;
    if ((rc = PT_CALL(&L->inst, "setup", L->vt->setup(L->inst.self, &L->su, err), err)))
        return rc;
    L->su.pred = L->su.target = NULL;
    if ((rc = nn_loss_decls_check(&L->su, &L->inst, err)))
        return rc;
    nn_dev *dev = L->dev;
    const int64_t one[1] = {1};
    if ((rc = pt_t_alloc(dev, &L->pred, p->dtype, p->ndim, p->shape, "pred", err)) ||
        (rc = pt_t_alloc(dev, &L->grad, p->dtype, p->ndim, p->shape, "grad_pred", err)) ||
        (rc = pt_t_alloc(dev, &L->target, t->dtype, t->ndim, t->shape, "target", err)) ||
        (rc = pt_t_alloc(dev, &L->loss, NN_F32, 1, one, "loss", err)))
        return rc;
    pt_fill(L->pred.h, p->lo, p->hi, seed, 10);
    pt_fill(L->target.h, t->lo, t->hi, seed, 11);
    for (int i = 0; i < L->su.n_buffers; i++) {
        const nn_buffer_decl *d = &L->su.buffers[i];
        if ((rc = pt_t_alloc(dev, &L->buf[i], d->dtype, d->ndim, d->shape, d->name, err)))
            return rc;
        L->io.buffers[i] = &L->buf[i].dev;
    }
    L->io.struct_size = sizeof L->io;
    L->io.pred = &L->pred.dev;
    L->io.target = &L->target.dev;
    L->io.device = nn_dev_public(dev);
    L->io.loss_out = nn_dev_is_host(dev) ? NULL : &L->loss.dev;
    return pt_t_up(dev, &L->target, err);
}

int pt_loss_open(pt_loss *L, nn_dev *dev, const nn_plugin_desc *desc, const pt_case *c,
                 const char *const *extra, uint64_t seed, nn_error *err)
{
    memset(L, 0, sizeof *L);
    L->dev = dev_or_host(dev);
    int rc = loss_open(L, desc, c, extra, seed, err);
    if (rc) {
        if (err && !err->msg[0])
            nn_error_set(err, rc, "%s", nn_strerror(rc));
        pt_loss_close(L);
    }
    return rc;
}

int pt_loss_check_call(const pt_loss *L, const char *call, int kept, nn_error *err)
{
    int rc = fenced_kept(&L->pred, kept, call, "pred", err);
    if (rc == NN_OK)
        rc = fenced_kept(&L->target, kept, call, "target", err);
    if (rc == NN_OK)
        rc = pt_t_fenced(&L->grad, call, "grad_pred", err);
    if (rc == NN_OK)
        rc = pt_t_fenced(&L->loss, call, "loss_out", err);
    char name[NN_NAME_MAX + 48];
    for (int i = 0; rc == NN_OK && i < L->su.n_buffers; i++) {
        snprintf(name, sizeof name, "buffers[%d] '%s'", i, L->su.buffers[i].name);
        rc = pt_t_fenced(&L->buf[i], call, name, err);
    }
    return rc;
}

int pt_loss_forward(pt_loss *L, int with_grad, double *value, nn_error *err)
{
    int rc = pt_t_up(L->dev, &L->pred, err);
    L->io.grad_pred = with_grad ? &L->grad.dev : NULL;
    L->io.loss = 0;
    pt_t_keep(&L->pred);
    pt_t_keep(&L->target);
    if (rc == NN_OK)
        rc = PT_CALL(&L->inst, "forward", L->vt->forward(L->inst.self, &L->io, err), err);
    if (rc == NN_OK)
        rc = pt_loss_check_call(L, "forward", 1, err);
    if (rc == NN_OK && L->io.loss_out) {
        rc = pt_t_down(L->dev, &L->loss, err);
        *value = NN_F32P(L->loss.h)[0];
    } else {
        *value = L->io.loss;
    }
    if (rc == NN_OK && with_grad)
        rc = pt_t_down(L->dev, &L->grad, err);
    return rc;
}
