/* export_model.c: hands each layer of a session's model to its plugin's export slot, in
 * topological order, on the session's evaluation plan: the instance that was set up, its keys,
 * its inputs' value names and shapes, and the trained parameters and state on the host. It
 * reads the graph's insides (graph_internal.h) and changes nothing in them. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "export_internal.h"
#include "graph_internal.h"

static const char *plugin_file(const nn_model *m, const layer_def *l)
{
    const nn_plugin_entry *e =
        nn_registry_find(m->reg, NN_KIND_LAYER, l->type, nn_dev_type(m->dev), NULL);
    return e ? e->path : "?";
}

/* the evaluation plan the session compiled (eval and predict sessions bind it first); a
 * training session (--init-from asks for PyTorch's extra names) binds the one validation
 * would use */
static nn_plan *eval_plan(nn_session *s, nn_error *err)
{
    for (int i = 0; i < s->n_binds; i++)
        if (!s->binds[i].plan->training)
            return s->binds[i].plan;
    nn_loss_bind *lb;
    if (nn_session_bind(s, s->tc.batch_size > 0 ? s->tc.batch_size : 1, 0, &lb, err) != NN_OK)
        return NULL;
    return lb->plan;
}

static int export_layer(nn_session *s, nn_plan *p, int i, nn_export *x, const char **values,
                        const nn_export_walk *w, nn_error *err)
{
    nn_model *m = s->model;
    layer_def *l = &m->layers[i];
    const nn_layer_vtable *vt = l->desc->vtable;
    int has_slot = vt->struct_size >= offsetof(nn_layer_vtable, export_as) +
                                          sizeof vt->export_as && vt->export_as;
    int fmt = nn_export_kind(x);
    nn_export_scope(x, "layer", l->name);
    const nn_tensor *params[NN_MAX_LAYER_PARAMS_ALL] = {0};
    const nn_tensor *bufs[NN_MAX_LAYER_BUFFERS] = {0};
    for (int k = 0; k < l->n_params; k++)
        params[k] = &m->params[l->param_index[k]].host_value;
    for (int b = 0; b < p->setups[i].n_buffers; b++)
        if (l->state_index[b] >= 0)
            bufs[b] = &m->states[l->state_index[b]].host_value;
    nn_layer_export e = {
        .struct_size = sizeof e,
        .format = fmt,
        .out = x,
        .layer_name = l->name,
        .keys = p->inst[i].params,
        .opset = nn_export_opset(x),
        .n_inputs = p->setups[i].n_inputs,
        .output = values ? values[i] : NULL,
        .output_desc = &p->outputs[i],
        .n_params = l->n_params,
        .params = params,
        .buffers = bufs,
        .steps = w->steps,
    };
    for (int k = 0; k < e.n_inputs; k++) {
        int src = nn_layer_n_in(l) > k ? l->inputs[k] : NN_DATA_INPUT;
        e.inputs[k] = !values ? NULL : src == NN_DATA_INPUT ? w->input : values[src];
        e.input_descs[k] = p->setups[i].inputs[k];
    }
    if (fmt == NN_EXPORT_TORCH) {
        for (int k = 0; k < l->n_params; k++)
            nn_export_torch_add(x, m->params[l->param_index[k]].name, params[k]);
        for (int b = 0; b < p->setups[i].n_buffers; b++)
            if (bufs[b])
                nn_export_torch_add(x, m->states[l->state_index[b]].name, bufs[b]);
        if (!has_slot)
            return nn_export_status(x, err);
    } else if (!has_slot) {
        return nn_error_set(err, NN_ENOTSUP,
                            "%s: layer '%s' (type %s, %s) cannot be exported to ONNX: its plugin "
                            "has no export slot (nn_layer_vtable.export_as, ABI 0.5), so nntrain "
                            "does not know which nodes compute it", l->origin, l->name, l->type,
                            plugin_file(m, l));
    }
    nn_error lerr = {0};
    int rc = vt->export_as(p->inst[i].self, &e, &lerr);
    if (rc == NN_OK)
        rc = nn_export_status(x, &lerr);
    if (rc == NN_OK && fmt == NN_EXPORT_ONNX && !nn_export_defined(x, e.output))
        rc = nn_error_set(&lerr, NN_EINTERNAL, "its export wrote no node for its output '%s'",
                          e.output);
    if (rc) {
        /* the builder's sentences already name the layer; the plugin's own may not */
        const char *msg = lerr.msg[0] ? lerr.msg : nn_strerror(rc);
        char head[128];
        snprintf(head, sizeof head, "layer '%s': ", l->name);
        if (strncmp(msg, head, strlen(head)) == 0)
            msg += strlen(head);
        return nn_error_set(err, rc < 0 ? rc : NN_EINTERNAL, "%s: layer '%s' (type %s, %s): "
                            "export to %s failed: %s", l->origin, l->name, l->type,
                            plugin_file(m, l), fmt == NN_EXPORT_ONNX ? "ONNX" : "PyTorch",
                            msg);
    }
    return NN_OK;
}

int nn_export_model(nn_session *s, nn_export *x, const nn_export_walk *w, nn_error *err)
{
    nn_model *m = s->model;
    nn_plan *p = eval_plan(s, err);
    if (!p)
        return err->status;
    int rc = nn_session_to_host(s, err);
    if (rc)
        return rc;
    const char **values = NULL;
    if (nn_export_kind(x) == NN_EXPORT_ONNX) {
        values = calloc((size_t)m->n_layers, sizeof *values);
        if (!values)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        /* every layer's output name first (the model's output was claimed by the caller:
         * a layer named like it gets a suffix, not the graph's output name) */
        int last = m->order[m->n_layers - 1];
        nn_export_scope(x, NULL, NULL);
        values[last] = w->output;
        for (int i = 0; i < m->n_layers && rc == NN_OK; i++)
            if (i != last && !(values[i] = nn_export_claim(x, m->layers[i].name, 0)))
                rc = nn_export_status(x, err);
    }
    for (int oi = 0; oi < m->n_layers && rc == NN_OK; oi++)
        rc = export_layer(s, p, m->order[oi], x, values, w, err);
    free(values);
    return rc;
}
