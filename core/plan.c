/* plan.c: plans compiled from a model, one per batch size and mode: shape inference, one
 * memory arena on the model's device, layer binding, and forward/backward through the layer
 * plugins. It never allocates after a plan is compiled and never reads device memory itself:
 * gradient sums and the non-finite diagnosis go through the device's math. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "graph_internal.h"
#include "layer_decls.h"
#include "sizes.h"

void nn_plan_free(nn_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->inst && i < p->m->n_layers; i++)
        nn_instance_destroy(&p->inst[i]);
    free(p->inst);
    free(p->setups);
    free(p->decls_more);
    free(p->params_more);
    free(p->grads_more);
    free(p->ios);
    free(p->outputs);
    free(p->grads);
    free(p->bufs);
    free(p->needs_grad);
    free(p->n_consumers);
    free(p->edges);
    nn_plan_arena_release(p);
    free(p);
}

static nn_plan *find_plan(nn_model *m, int64_t batch, int training, int replica)
{
    for (nn_plan *p = m->plans; p; p = p->next)
        if (p->batch == batch && p->training == training && p->replica == replica)
            return p;
    return NULL;
}

/* what the plan's layers are told of data parallelism: their replica's, or the processes' */
static const struct nn_dist_info *plan_dist(const nn_plan *p)
{
    return p->m->n_replicas > 1 ? p->m->rep_dist[p->replica] : p->m->dist;
}

/* Creates layer i's instance and runs its setup; the output's description (and the layout it
 * offers, if any) lands in p->outputs[i]. taken: the consumer accepted the offer (a re-run);
 * masked: it also writes the gradient with the offered ReLU's derivative applied. */
static int setup_layer(nn_model *m, nn_plan *p, int i, int taken, int masked, nn_error *err)
{
    layer_def *l = &m->layers[i];
    const size_t more = NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS;
    int rc = nn_instance_create(&p->inst[i], l->desc, l->kvs, l->n_kvs, l->origin, err);
    if (rc)
        return rc;
    const nn_device *dev = nn_dev_public(m->dev);
    nn_layer_setup *s = &p->setups[i];
    memset(s, 0, sizeof *s);
    memset(&p->decls_more[(size_t)i * more], 0, more * sizeof *p->decls_more);
    s->struct_size = sizeof *s;
    s->layer_name = l->name;
    s->training = p->training;
    s->device = dev;
    s->params_more = &p->decls_more[(size_t)i * more];
    s->dist = plan_dist(p);
    s->output_layout_taken = (uintptr_t)taken;
    s->output_grad_masked = (uintptr_t)masked;
    s->precision = m->precision;
    s->n_inputs = nn_layer_n_in(l);
    for (int k = 0; k < s->n_inputs; k++) {
        int src = l->inputs[k];
        s->inputs[k] = src == NN_DATA_INPUT ? &p->input : &p->outputs[src];
        /* producers are set up first, so whether they need a gradient is known */
        if (!p->training || src == NN_DATA_INPUT || !p->needs_grad[src])
            s->input_grad_unused |= (uintptr_t)1 << k;
    }
    s->grad_output_scratch = (uintptr_t)p->training; /* plan_memory.c */
    const nn_layer_vtable *vt = l->desc->vtable;
    nn_error serr = {0};
    rc = NN_PLUGIN_CALL(&p->inst[i], "setup", vt->setup(p->inst[i].self, s, &serr));
    if (rc) {
        char shapes[400] = "", sh[96];
        size_t used = 0;
        for (int k = 0; k < s->n_inputs; k++) {
            int src = l->inputs[k];
            used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s'%s' %s",
                                     k ? ", " : "", src == NN_DATA_INPUT ? "input"
                                                                      : m->layers[src].name,
                                     nn_shape_str(s->inputs[k], sh, sizeof sh));
            if (used >= sizeof shapes)
                break;
        }
        char buf[96];
        const char *msg;
        rc = nn_plugin_failure(rc, &serr, &msg, buf, sizeof buf);
        return nn_error_set(err, rc, "%s: layer '%s' (%s) given %s: %s", l->origin, l->name,
                            l->type, shapes, msg);
    }
    if ((rc = nn_layer_decls_check(s, &p->inst[i], l->name, l->kvs, l->n_kvs, err)))
        return rc;
    if (s->output.dl.ndim < 1 || s->output.shape[0] != p->batch)
        return nn_error_set(err, NN_EINTERNAL,
                            "%s: layer '%s' (%s) produced an output without the batch "
                            "dimension first", l->origin, l->name, l->type);
    p->outputs[i] = s->output;
    p->outputs[i].dl.shape = p->outputs[i].shape;
    p->outputs[i].dl.strides = p->outputs[i].strides;
    p->outputs[i].dl.device = dev->dl;
    p->outputs[i].name = l->name;
    return NN_OK;
}

/* an offer the core can size and hand on: a family to match and a byte count */
static int offer_valid(const nn_layout *o)
{
    return o && o->struct_size >= offsetof(nn_layout, props) && o->family && o->bytes > 0;
}

/* the NN_LAYOUT_* facts of an offer; none from a plugin older than ABI 0.8, for which the
 * field was reserved */
static uint32_t offer_props(const nn_model *m, int src, const nn_layout *o)
{
    return m->layers[src].desc->abi_minor >= 8 || m->layers[src].desc->abi_major > 0 ? o->props
                                                                                     : 0;
}

/* Layer src's single consumer took the layout src offered: set src up again, knowing it, on a
 * fresh instance (it may need fewer buffers now); masked: the consumer also applies the
 * offered ReLU's derivative. The offer must stay the same. */
static int retake_layout(nn_model *m, nn_plan *p, int src, int masked, nn_error *err)
{
    const nn_layout *old = p->outputs[src].layout;
    char family[64];
    snprintf(family, sizeof family, "%s", old->family);
    size_t bytes = old->bytes;
    int32_t dt = old->stored_dtype;
    uint32_t props = offer_props(m, src, old);
    /* what src said of its own inputs was acted on already: it must say the same again */
    uintptr_t accept = p->setups[src].layout_accept, masks = p->setups[src].grad_input_masked;
    nn_instance_destroy(&p->inst[src]);
    int rc = setup_layer(m, p, src, 1, masked, err);
    if (rc)
        return rc;
    const nn_layout *now = p->outputs[src].layout;
    if (!offer_valid(now) || strcmp(now->family, family) != 0 || now->bytes != bytes ||
        now->stored_dtype != dt || offer_props(m, src, now) != props)
        return nn_error_set(err, NN_EINTERNAL,
                            "%s: layer '%s' (%s) offered its output in a %s layout of %zu bytes, "
                            "then another one when the offer was taken (a bug in the plugin)",
                            m->layers[src].origin, m->layers[src].name, m->layers[src].type,
                            family, bytes);
    if (p->setups[src].layout_accept != accept || p->setups[src].grad_input_masked != masks)
        return nn_error_set(err, NN_EINTERNAL,
                            "%s: layer '%s' (%s) took other input layouts, or applied other "
                            "ReLU derivatives, when set up again for its taken offer (a bug in "
                            "the plugin)",
                            m->layers[src].origin, m->layers[src].name, m->layers[src].type);
    return NN_OK;
}

/* Layer i may say it applies a ReLU's derivative to an input's gradient only for an input it
 * took in its producer's offered layout, whose offer says the values are a ReLU's: otherwise
 * the gradient would be masked where it must not be, a silent wrong answer. */
static int masks_valid(const nn_model *m, const nn_plan *p, int i, nn_error *err)
{
    const layer_def *l = &m->layers[i];
    const nn_layer_setup *s = &p->setups[i];
    for (int k = 0; k < (int)(sizeof s->grad_input_masked * 8); k++) {
        if (!((s->grad_input_masked >> k) & 1))
            continue;
        int src = k < s->n_inputs ? l->inputs[k] : NN_DATA_INPUT;
        const nn_layout *o = src == NN_DATA_INPUT ? NULL : p->outputs[src].layout;
        if (o && ((s->layout_accept >> k) & 1) && (offer_props(m, src, o) & NN_LAYOUT_RELU))
            continue;
        return nn_error_set(err, NN_EINTERNAL,
                            "%s: layer '%s' (%s) says it applies the ReLU's derivative to the "
                            "gradient of its input %d, which is not a ReLU output it took in its "
                            "producer's layout (a bug in the plugin)",
                            l->origin, l->name, l->type, k);
    }
    return NN_OK;
}

static int compile(nn_model *m, nn_plan *p, nn_error *err)
{
    int n = m->n_layers;
    p->inst = calloc((size_t)n, sizeof *p->inst);
    p->setups = calloc((size_t)n, sizeof *p->setups);
    p->ios = calloc((size_t)n, sizeof *p->ios);
    p->outputs = calloc((size_t)n, sizeof *p->outputs);
    p->grads = calloc((size_t)n, sizeof *p->grads);
    p->bufs = calloc((size_t)n * NN_MAX_LAYER_BUFFERS, sizeof *p->bufs);
    p->needs_grad = calloc((size_t)n, sizeof *p->needs_grad);
    p->n_consumers = calloc((size_t)n, sizeof *p->n_consumers);
    p->edges = calloc((size_t)n * NN_MAX_INPUTS, sizeof *p->edges);
    const size_t more = NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS;
    p->decls_more = calloc((size_t)n * more, sizeof *p->decls_more);
    p->params_more = calloc((size_t)n * more, sizeof *p->params_more);
    p->grads_more = calloc((size_t)n * more, sizeof *p->grads_more);
    if (!p->inst || !p->setups || !p->ios || !p->outputs || !p->grads || !p->bufs ||
        !p->needs_grad || !p->n_consumers || !p->edges || !p->decls_more || !p->params_more ||
        !p->grads_more)
        return nn_error_set(err, NN_ENOMEM, "out of memory");

    int64_t in_shape[NN_MAX_DIMS];
    in_shape[0] = p->batch;
    for (int d = 0; d < p->sample_ndim; d++)
        in_shape[d + 1] = p->sample_shape[d];
    const nn_device *dev = nn_dev_public(m->dev);
    p->input.dl.device = dev->dl;
    nn_tensor_describe(&p->input, p->dtype, p->sample_ndim + 1, in_shape);
    p->input.name = "input";

    /* 1. instances and shape inference, in topological order, with layout negotiation */
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        for (int k = 0; k < nn_layer_n_in(l); k++)
            if (l->inputs[k] != NN_DATA_INPUT)
                p->n_consumers[l->inputs[k]]++;
    }
    int last = m->order[n - 1];
    for (int oi = 0; oi < n; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        int rc = setup_layer(m, p, i, 0, 0, err);
        if (rc)
            return rc;
        if ((rc = masks_valid(m, p, i, err)))
            return rc;
        /* its output needs a gradient when it has parameters, or is fed by one that does */
        p->needs_grad[i] = p->training && p->setups[i].n_params > 0;
        for (int k = 0; k < nn_layer_n_in(l); k++)
            if (l->inputs[k] != NN_DATA_INPUT && p->needs_grad[l->inputs[k]])
                p->needs_grad[i] = p->training;
        for (int k = 0; k < p->setups[i].n_inputs; k++) {
            int src = l->inputs[k];
            if (src == NN_DATA_INPUT || !p->outputs[src].layout)
                continue;
            if (!(p->setups[i].layout_accept & ((uintptr_t)1 << k)))
                p->outputs[src].layout = NULL;
            else if ((rc = retake_layout(m, p, src,
                                         (p->setups[i].grad_input_masked >> k) & 1, err)))
                return rc;
        }
        /* an offer goes on only to a single consumer that the run can give it to */
        if (!offer_valid(p->outputs[i].layout) || p->n_consumers[i] != 1 || i == last ||
            m->plain_layouts)
            p->outputs[i].layout = NULL;
    }
    for (int i = 0; i < n; i++)
        if (i != last && p->n_consumers[i] == 0)
            return nn_error_set(err, NN_EINVAL,
                                "%s: the output of layer '%s' is not used by any later layer; "
                                "only the last layer ('%s') may be the model's output",
                                m->layers[i].origin, m->layers[i].name, m->layers[last].name);

    /* 2. parameters: created by the first plan, checked by later ones */
    int rc = m->has_params ? nn_model_check_params(m, p, err) : nn_model_create_params(m, p, err);
    if (rc == NN_OK && p->replica)
        rc = nn_model_replica_alloc(m, p->replica, err);
    if (rc)
        return rc;

    /* 3. one arena: input, outputs, saved buffers, the activation gradients where they are
     * live (plan_memory.c), then one workspace region shared by all layers (only one layer
     * runs at a time) */
    size_t off = 0, ws_max = 0, grad_bytes = 0;
    size_t *out_off = calloc((size_t)n, sizeof *out_off), *grad_off = calloc((size_t)n, sizeof *grad_off);
    size_t *buf_off = calloc((size_t)n * NN_MAX_LAYER_BUFFERS, sizeof *buf_off);
    size_t *edge_off = calloc((size_t)n * NN_MAX_INPUTS, sizeof *edge_off);
    if (!out_off || !grad_off || !buf_off || !edge_off) {
        free(out_off);
        free(grad_off);
        free(buf_off);
        free(edge_off);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    size_t in_off = off;
    off += nn_align64(nn_tensor_nbytes(&p->input));
    for (int i = 0; i < n; i++) {
        out_off[i] = off;
        off += nn_align64(nn_tensor_nbytes(&p->outputs[i]));
    }
    /* edges of producers with several consumers get their own gradient buffers */
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        for (int k = 0; k < nn_layer_n_in(l); k++) {
            int src = l->inputs[k];
            if (src == NN_DATA_INPUT || !p->needs_grad[src] || p->n_consumers[src] < 2)
                continue;
            edge *e = &p->edges[p->n_edges++];
            e->consumer = i;
            e->slot = k;
            e->grad = p->outputs[src];
            e->grad.dl.shape = e->grad.shape;
            e->grad.dl.strides = e->grad.strides;
        }
    }
    for (int i = 0; i < n; i++) {
        const nn_layer_setup *s = &p->setups[i];
        size_t ws = 0;
        for (int b = 0; b < s->n_buffers; b++) {
            const nn_buffer_decl *d = &s->buffers[b];
            nn_tensor *t = &p->bufs[i * NN_MAX_LAYER_BUFFERS + b];
            t->dl.device = dev->dl;
            nn_tensor_describe(t, d->dtype, d->ndim, d->shape);
            t->name = d->name;
            size_t bytes = nn_align64(nn_tensor_nbytes(t));
            if (d->kind == NN_BUF_SAVED && p->training) {
                buf_off[i * NN_MAX_LAYER_BUFFERS + b] = off;
                off += bytes;
            } else if (d->kind == NN_BUF_WORKSPACE) {
                buf_off[i * NN_MAX_LAYER_BUFFERS + b] = ws; /* relative to the region */
                ws += bytes;
            }
        }
        if (ws > ws_max)
            ws_max = ws;
    }
    size_t grad_base = off, ws_base;
    if ((rc = nn_plan_place_grads(p, grad_off, edge_off, &grad_bytes, err)) == NN_OK) {
        off += grad_bytes;
        ws_base = off;
        off += ws_max;
        p->arena_bytes = off;
        char what[96];
        snprintf(what, sizeof what, "the layer outputs of a batch of %lld", (long long)p->batch);
        if ((rc = nn_total_bytes_check(off, what, "lower [train] batch_size", err)) == NN_OK &&
            (rc = nn_plan_arena_take(p, off, err)) != NN_OK)
            nn_error_prefix(err, "a %zu-byte activation arena", off);
    }
    if (rc) {
        free(out_off);
        free(grad_off);
        free(buf_off);
        free(edge_off);
        return rc;
    }
    char *base = p->arena;
    p->input.dl.data = base + in_off;
    for (int i = 0; i < n; i++) {
        p->outputs[i].dl.data = base + out_off[i];
        if (p->needs_grad[i] || (p->training && i == last)) {
            p->grads[i] = p->outputs[i];
            p->grads[i].dl.shape = p->grads[i].shape;
            p->grads[i].dl.strides = p->grads[i].strides;
            p->grads[i].dl.data = base + grad_base + grad_off[i];
        }
    }
    for (int e = 0; e < p->n_edges; e++)
        p->edges[e].grad.dl.data = base + grad_base + edge_off[e];

    /* 4. io blocks, then bind */
    for (int oi = 0; oi < n && rc == NN_OK; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        const nn_layer_setup *s = &p->setups[i];
        nn_layer_io *io = &p->ios[i];
        io->struct_size = sizeof *io;
        io->training = p->training;
        io->device = dev;
        io->dist = plan_dist(p);
        io->n_inputs = s->n_inputs;
        io->output = &p->outputs[i];
        for (int k = 0; k < s->n_inputs; k++) {
            int src = l->inputs[k];
            io->inputs[k] = src == NN_DATA_INPUT ? &p->input : &p->outputs[src];
            if (src == NN_DATA_INPUT || !p->needs_grad[src])
                continue;
            io->grad_inputs[k] = &p->grads[src];
            for (int e = 0; e < p->n_edges; e++)
                if (p->edges[e].consumer == i && p->edges[e].slot == k)
                    io->grad_inputs[k] = &p->edges[e].grad;
        }
        if (p->training && (p->needs_grad[i] || i == last))
            io->grad_output = &p->grads[i];
        nn_tensor **pm = &p->params_more[(size_t)i * more];
        nn_tensor **gm = &p->grads_more[(size_t)i * more];
        for (int k = 0; k < s->n_params; k++) {
            param_rec *r = &m->params[l->param_index[k]];
            nn_tensor *g = !p->training ? NULL
                           : p->replica ? &m->rep[p->replica].grads[l->param_index[k]]
                                        : &r->grad;
            nn_layer_io_put_param(io, pm, gm, k, &r->value, g);
        }
        for (int b = 0; b < s->n_buffers; b++) {
            nn_tensor *t = &p->bufs[i * NN_MAX_LAYER_BUFFERS + b];
            switch (s->buffers[b].kind) {
            case NN_BUF_STATE:
                io->buffers[b] = p->replica ? &m->rep[p->replica].states[l->state_index[b]]
                                            : &m->states[l->state_index[b]].value;
                break;
            case NN_BUF_SAVED:
                if (p->training) {
                    t->dl.data = base + buf_off[i * NN_MAX_LAYER_BUFFERS + b];
                    io->buffers[b] = t;
                }
                break;
            case NN_BUF_WORKSPACE:
                t->dl.data = base + ws_base + buf_off[i * NN_MAX_LAYER_BUFFERS + b];
                io->buffers[b] = t;
                break;
            }
        }
        const nn_layer_vtable *vt = l->desc->vtable;
        if (vt->bind) {
            nn_error berr = {0};
            rc = NN_PLUGIN_CALL(&p->inst[i], "bind", vt->bind(p->inst[i].self, io, &berr));
            if (rc)
                nn_error_set(err, rc, "%s: layer '%s' (%s): %s", l->origin, l->name, l->type,
                             berr.msg);
        }
    }
    free(out_off);
    free(grad_off);
    free(buf_off);
    free(edge_off);
    return rc;
}

int nn_model_plan(nn_model *m, int sample_ndim, const int64_t *sample_shape, nn_dtype dtype,
                  int64_t batch, int training, uint64_t seed, nn_plan **out, nn_error *err)
{
    return nn_model_plan_replica(m, sample_ndim, sample_shape, dtype, batch, training, seed, 0,
                                 out, err);
}

int nn_model_plan_replica(nn_model *m, int sample_ndim, const int64_t *sample_shape,
                          nn_dtype dtype, int64_t batch, int training, uint64_t seed, int replica,
                          nn_plan **out, nn_error *err)
{
    *out = NULL;
    if (replica < 0 || replica >= nn_model_replicas(m))
        return nn_error_set(err, NN_EINVAL, "replica %d of a model of %d", replica,
                            nn_model_replicas(m));
    nn_plan *p = find_plan(m, batch, training, replica);
    if (p) {
        if (p->sample_ndim != sample_ndim || p->dtype != dtype ||
            memcmp(p->sample_shape, sample_shape, sizeof(int64_t) * (size_t)sample_ndim))
            return nn_error_set(err, NN_ESHAPE, "the model was compiled for another input shape");
        *out = p;
        return NN_OK;
    }
    if (sample_ndim < 0 || sample_ndim + 1 > NN_MAX_DIMS || batch < 1)
        return nn_error_set(err, NN_EINVAL, "bad input rank %d or batch %lld", sample_ndim,
                            (long long)batch);
    if (!m->order) {
        int rc = nn_model_resolve(m, err);
        if (rc)
            return rc;
    }
    if (!m->has_params)
        m->seed = seed;
    p = calloc(1, sizeof *p);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    p->m = m;
    p->batch = batch;
    p->training = training;
    p->replica = replica;
    p->sample_ndim = sample_ndim;
    p->dtype = dtype;
    memcpy(p->sample_shape, sample_shape, sizeof(int64_t) * (size_t)sample_ndim);
    int rc = compile(m, p, err);
    if (rc) {
        nn_plan_free(p);
        return rc;
    }
    p->next = m->plans;
    m->plans = p;
    *out = p;
    return NN_OK;
}

nn_tensor *nn_plan_input(nn_plan *p) { return &p->input; }
nn_tensor *nn_plan_output(nn_plan *p) { return &p->outputs[p->m->order[p->m->n_layers - 1]]; }
nn_tensor *nn_plan_grad_output(nn_plan *p)
{
    return p->training ? &p->grads[p->m->order[p->m->n_layers - 1]] : NULL;
}
size_t nn_plan_arena_bytes(const nn_plan *p) { return p->arena_bytes; }

void nn_model_set_plain_layouts(nn_model *m, int on) { m->plain_layouts = on != 0; }

void nn_model_set_precision(nn_model *m, nn_dtype dt) { m->precision = dt; }

void nn_plan_set_step_seed(nn_plan *p, uint64_t seed)
{
    for (int i = 0; i < p->m->n_layers; i++) {
        uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
        p->ios[i].seed = nn_splitmix64(&x);
    }
}

/* the first non-finite element of an F32 tensor on the plan's device (-1: none), or the
 * device's failure as a status < -1 ... kept apart: *bad gets the index */
static int first_nonfinite(nn_plan *p, const nn_tensor *t, int64_t *bad, nn_error *err)
{
    *bad = -1;
    if (nn_tensor_dtype(t) != NN_F32)
        return NN_OK;
    if (t->layout) {
        /* an opaque layout: its f32 elements (and zero padding) in some order; one of another
         * type is checked where it meets a plain tensor */
        if (t->layout->stored_dtype != NN_F32)
            return NN_OK;
        nn_tensor flat = *t;
        int64_t n = (int64_t)(t->layout->bytes / sizeof(float));
        nn_tensor_describe(&flat, NN_F32, 1, &n);
        flat.dl.device = t->dl.device;
        return nn_dev_find_nonfinite(p->m->dev, &flat, bad, err);
    }
    return nn_dev_find_nonfinite(p->m->dev, t, bad, err);
}

/* the value of element i of an F32 device tensor, for a message */
static double element(nn_plan *p, const nn_tensor *t, int64_t i)
{
    float v = NAN;
    nn_error e = {0};
    nn_dev_copy(p->m->dev, &v, (const char *)t->dl.data + t->dl.byte_offset + 4 * (size_t)i, 4,
                NN_COPY_DEVICE_TO_HOST, &e);
    return v;
}

/* a layer's forward or backward failed: its message, or what its status says */
static int layer_failed(const layer_def *l, const char *call, int rc, const nn_error *lerr,
                        nn_error *err)
{
    char buf[96];
    const char *msg;
    rc = nn_plugin_failure(rc, lerr, &msg, buf, sizeof buf);
    return nn_error_set(err, rc, "layer '%s' (%s) %s: %s", l->name, l->type, call, msg);
}


static int run_forward(nn_plan *p, int training, int checked, nn_error *err)
{
    nn_model *m = p->m;
    if (training && !p->training)
        return nn_error_set(err, NN_EINVAL, "a training forward needs a training plan");
    for (int oi = 0; oi < m->n_layers; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        nn_layer_io *io = &p->ios[i];
        io->training = training;
        const nn_layer_vtable *vt = l->desc->vtable;
        nn_error lerr = {0};
        int rc;
        if (training && p->hook && i == p->hook_layer) {
            if ((rc = p->hook(p->hook_ctx, p, 0, err)))
                return rc;
        } else if ((rc = NN_PLUGIN_CALL(&p->inst[i], "forward",
                                        vt->forward(p->inst[i].self, io, &lerr)))) {
            return layer_failed(l, "forward", rc, &lerr, err);
        }
        int64_t bad;
        if (checked && (rc = first_nonfinite(p, io->output, &bad, err)))
            return rc;
        if (checked && bad >= 0)
            return nn_error_set(err, NN_ENONFINITE,
                                "layer '%s' (%s) is the first whose output is not finite "
                                "(element %lld%s = %g)", l->name, l->type, (long long)bad,
                                io->output->layout ? " of its blocked layout" : "",
                                element(p, io->output, bad));
    }
    return NN_OK;
}

int nn_plan_forward(nn_plan *p, int training, nn_error *err)
{
    return run_forward(p, training, 0, err);
}

int nn_plan_forward_checked(nn_plan *p, int training, nn_error *err)
{
    int64_t bad;
    int rc = first_nonfinite(p, &p->input, &bad, err);
    if (rc)
        return rc;
    if (bad >= 0)
        return nn_error_set(err, NN_ENONFINITE, "the input batch holds a non-finite value "
                            "(element %lld)", (long long)bad);
    return run_forward(p, training, 1, err);
}

int nn_plan_backward(nn_plan *p, nn_error *err)
{
    nn_model *m = p->m;
    if (!p->training)
        return nn_error_set(err, NN_EINVAL, "backward needs a training plan");
    for (int oi = m->n_layers - 1; oi >= 0; oi--) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        if (!p->needs_grad[i])
            continue;
        /* gather the gradient of this output from its several consumers */
        int first = 1, rc = NN_OK;
        for (int e = 0; e < p->n_edges && rc == NN_OK; e++) {
            const edge *ed = &p->edges[e];
            if (m->layers[ed->consumer].inputs[ed->slot] != i)
                continue;
            rc = first ? nn_dev_copy(m->dev, p->grads[i].dl.data, ed->grad.dl.data,
                                     nn_tensor_nbytes(&p->grads[i]), NN_COPY_DEVICE_TO_DEVICE,
                                     err)
                       : nn_dev_add(m->dev, &p->grads[i], &ed->grad, err);
            first = 0;
        }
        if (rc)
            return rc;
        const nn_layer_vtable *vt = l->desc->vtable;
        if (p->hook && i == p->hook_layer) {
            if ((rc = p->hook(p->hook_ctx, p, 1, err)))
                return rc;
            continue;
        }
        if (!vt->backward)
            return nn_error_set(err, NN_ENOTSUP, "%s: layer '%s' (%s) has no backward, so it "
                                "cannot be trained through", l->origin, l->name, l->type);
        nn_error lerr = {0};
        rc = NN_PLUGIN_CALL(&p->inst[i], "backward",
                            vt->backward(p->inst[i].self, &p->ios[i], &lerr));
        if (rc)
            return layer_failed(l, "backward", rc, &lerr, err);
        if (m->bwd_hook && (rc = m->bwd_hook(m->bwd_ctx, i, err)))
            return rc;
    }
    return NN_OK;
}

void nn_plan_set_layer_hook(nn_plan *p, int layer, nn_layer_hook fn, void *ctx)
{
    p->hook_layer = layer;
    p->hook = fn;
    p->hook_ctx = ctx;
}

const nn_layer_io *nn_plan_layer_io(const nn_plan *p, int i) { return &p->ios[i]; }

int nn_plan_replica(const nn_plan *p) { return p->replica; }

void nn_model_set_backward_hook(nn_model *m, nn_backward_hook fn, void *ctx)
{
    m->bwd_hook = fn;
    m->bwd_ctx = ctx;
}

void nn_model_set_dist(nn_model *m, const struct nn_dist_info *info)
{
    m->dist = info;
    for (nn_plan *p = m->plans; p; p = p->next)
        for (int i = 0; i < m->n_layers; i++)
            p->ios[i].dist = info;
}

int nn_model_param_layer(const nn_model *m, int i)
{
    return i >= 0 && i < m->n_params ? m->params[i].layer : -1;
}

int nn_plan_check_grads(nn_plan *p, nn_error *err)
{
    nn_model *m = p->m;
    for (int oi = m->n_layers - 1; oi >= 0; oi--) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            const param_rec *r = &m->params[l->param_index[k]];
            int64_t bad;
            int rc = first_nonfinite(p, &r->grad, &bad, err);
            if (rc)
                return rc;
            if (bad >= 0)
                return nn_error_set(err, NN_ENONFINITE,
                                    "the gradient of '%s' (layer '%s', %s) is not finite "
                                    "(element %lld)", r->name, l->name, l->type,
                                    (long long)bad);
        }
    }
    return NN_OK;
}

int nn_plan_report(const nn_plan *p, int oi, nn_layer_report *r)
{
    const nn_model *m = p->m;
    if (oi < 0 || oi >= m->n_layers)
        return -1;
    int i = m->order[oi];
    const layer_def *l = &m->layers[i];
    r->name = l->name;
    r->type = l->type;
    r->output = p->outputs[i];
    r->output.dl.shape = r->output.shape;
    r->params = 0;
    for (int k = 0; k < l->n_params; k++)
        r->params += nn_tensor_numel(&m->params[l->param_index[k]].value);
    r->flops = p->setups[i].flops;
    r->act_bytes = nn_tensor_nbytes(&p->outputs[i]);
    return 0;
}
