/* graph.c: a model: its layers as a DAG built from the model file, ordered and checked, and
 * its parameters and persistent state on the model's device with their host copies. Plans
 * compiled from it live in plan.c. It never knows a layer by name. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "hash.h"
#include "optim/clip_internal.h"
#include "sizes.h"

/* the start of the hash of a tensor's name that seeds its initial values: not FNV's offset
 * basis (NN_HASH_INIT) but that number a digit short, as it was written first; kept, because
 * every model's initial weights for a seed follow from it */
#define LAYER_HASH_INIT 1469598103934665603ull

/* a tensor copied by value keeps pointing at the original's shape arrays: re-aim them */
static void fix_views(nn_tensor *t)
{
    t->dl.shape = t->shape;
    t->dl.strides = t->strides;
}

nn_model *nn_model_new(nn_registry *reg, nn_dev *dev)
{
    nn_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->reg = reg;
    m->dev = dev ? dev : nn_dev_host();
    return m;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    while (m->plans) {
        nn_plan *next = m->plans->next;
        nn_plan_free(m->plans);
        m->plans = next;
    }
    nn_model_arena_release(m);
    for (int i = 0; i < m->n_layers; i++) {
        layer_def *l = &m->layers[i];
        free(l->name);
        free(l->type);
        free(l->origin);
        for (int k = 0; k < l->n_kvs; k++) {
            free((char *)l->kvs[k].key);
            free((char *)l->kvs[k].value);
            free((char *)l->kvs[k].file);
        }
        free(l->kvs);
        for (int k = 0; k < l->n_inputs; k++)
            free(l->input_names[k]);
    }
    free(m->layers);
    free(m->order);
    free(m->params);
    free(m->states);
    nn_dev_free(m->dev, m->param_arena);
    nn_dev_free(m->dev, m->grad_arena);
    nn_dev_free(m->dev, m->state_arena);
    nn_dev_free(m->dev, m->accum_arena);
    free(m->host_param_arena);
    free(m->host_grad_arena);
    free(m->host_state_arena);
    for (int r = 1; r < NN_MAX_REPLICAS; r++) {
        free(m->rep[r].grad_arena);
        free(m->rep[r].state_arena);
        free(m->rep[r].grads);
        free(m->rep[r].states);
    }
    free(m);
}

static int find_layer(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -2;
}

int nn_model_add(nn_model *m, const char *name, const char *type, const nn_kv *kvs, int n,
                 const char *const *inputs, int n_inputs, double lr_mult, double wd_mult,
                 const char *origin, nn_error *err)
{
    if (m->has_params)
        return nn_error_set(err, NN_EINVAL, "%s: cannot add layer '%s' after compiling", origin,
                            name);
    if (strcmp(name, "input") == 0)
        return nn_error_set(err, NN_EINVAL, "%s: 'input' is reserved for the data input", origin);
    if (find_layer(m, name) >= 0)
        return nn_error_set(err, NN_EEXIST, "%s: a layer named '%s' already exists", origin,
                            name);
    if (n_inputs > NN_MAX_INPUTS)
        return nn_error_set(err, NN_EINVAL, "%s: layer '%s' has %d inputs; at most %d", origin,
                            name, n_inputs, NN_MAX_INPUTS);
    nn_error ferr = {0};
    const nn_plugin_entry *e = nn_registry_find(m->reg, NN_KIND_LAYER, type, nn_dev_type(m->dev),
                                                &ferr);
    if (!e)
        return nn_error_set(err, NN_ENOTFOUND, "%s: %s", origin, ferr.msg);
    /* validate the plugin keys now, so a typo is reported before any data is read */
    nn_params *probe = NULL;
    int rc = nn_params_parse(e->desc->params, kvs, n, origin, &probe, err);
    nn_params_free(probe);
    if (rc)
        return rc;
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? m->cap_layers * 2 : 16;
        layer_def *g = realloc(m->layers, (size_t)cap * sizeof *g);
        if (!g)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        m->layers = g;
        m->cap_layers = cap;
    }
    layer_def *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    l->type = strdup(type);
    l->origin = strdup(origin);
    l->desc = e->desc;
    l->lr_mult = lr_mult;
    l->wd_mult = wd_mult;
    l->kvs = calloc((size_t)n + 1, sizeof *l->kvs);
    int oom = !l->name || !l->type || !l->origin || !l->kvs;
    for (int k = 0; !oom && k < n; k++) {
        l->kvs[k].key = strdup(kvs[k].key);
        l->kvs[k].value = strdup(kvs[k].value);
        l->kvs[k].file = kvs[k].file ? strdup(kvs[k].file) : NULL;
        l->kvs[k].line = kvs[k].line;
        l->n_kvs++;
        oom = !l->kvs[k].key || !l->kvs[k].value;
    }
    for (int k = 0; !oom && k < n_inputs; k++) {
        l->input_names[k] = strdup(inputs[k]);
        l->n_inputs++;
        oom = !l->input_names[k];
    }
    m->n_layers++; /* so nn_model_free releases what was copied even on failure */
    if (oom)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    return NN_OK;
}

static const nn_param_spec layer_core_keys[] = {
    {.name = "type", .type = NN_PARAM_STRING, .required = 1, .doc = "layer plugin name"},
    {.name = "inputs", .type = NN_PARAM_STRING, .doc = "comma-separated input layers"},
    {.name = "lr_mult", .type = NN_PARAM_FLOAT, .def = "1", .range = "[0, inf)",
     .doc = "learning-rate multiplier for this layer's parameters"},
    {.name = "weight_decay_mult", .type = NN_PARAM_FLOAT, .def = "1", .range = "[0, inf)",
     .doc = "weight-decay multiplier for this layer's parameters"},
    {0},
};

int nn_model_from_config(nn_model *m, const nn_config *cfg, nn_error *err)
{
    int layers = 0;
    for (int i = 0; i < nn_config_count(cfg); i++) {
        const nn_config_section *s = nn_config_at(cfg, i);
        if (strncmp(s->name, "layer.", 6) != 0)
            continue;
        layers++;
        const char *lname = s->name + 6;
        char origin[300];
        nn_config_origin(origin, sizeof origin, cfg, s, NULL);
        nn_kv core[4], *rest = calloc((size_t)s->n + 1, sizeof *rest);
        int nc = 0, nr = 0;
        if (!rest)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (int k = 0; k < s->n; k++) {
            const nn_kv *kv = &s->kvs[k];
            int is_core = 0;
            for (int c = 0; layer_core_keys[c].name; c++)
                if (strcmp(kv->key, layer_core_keys[c].name) == 0)
                    is_core = 1;
            if (is_core)
                core[nc++] = *kv;
            else
                rest[nr++] = *kv;
        }
        nn_params *cp = NULL;
        int rc = nn_params_parse(layer_core_keys, core, nc, origin, &cp, err);
        if (rc) {
            free(rest);
            return rc;
        }
        const char *inputs[NN_MAX_INPUTS];
        char buf[1024];
        int ni = 0;
        const char *in = nn_params_str(cp, "inputs");
        if (in) {
            snprintf(buf, sizeof buf, "%s", in);
            char *save = NULL;
            for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
                if (ni == NN_MAX_INPUTS) {
                    nn_params_free(cp);
                    free(rest);
                    return nn_error_set(err, NN_EINVAL, "%s inputs: at most %d", origin,
                                        NN_MAX_INPUTS);
                }
                inputs[ni++] = tok;
            }
        }
        rc = nn_model_add(m, lname, nn_params_str(cp, "type"), rest, nr, inputs, ni,
                          nn_params_float(cp, "lr_mult"), nn_params_float(cp, "weight_decay_mult"),
                          origin, err);
        nn_params_free(cp);
        free(rest);
        if (rc)
            return rc;
    }
    if (!layers)
        return nn_error_set(err, NN_EINVAL, "%s: no [layer.NAME] sections: a model needs layers",
                            nn_config_path(cfg));
    return NN_OK;
}

/* Resolves input names and orders the DAG (Kahn); reports unknown inputs and cycles. */
int nn_model_resolve(nn_model *m, nn_error *err)
{
    int n = m->n_layers;
    if (n <= 0)
        return nn_error_set(err, NN_EINVAL, "the model has no layers");
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        if (l->n_inputs == 0) {
            l->inputs[0] = i == 0 ? NN_DATA_INPUT : i - 1;
            continue;
        }
        for (int k = 0; k < l->n_inputs; k++) {
            if (strcmp(l->input_names[k], "input") == 0) {
                l->inputs[k] = NN_DATA_INPUT;
                continue;
            }
            int j = find_layer(m, l->input_names[k]);
            if (j < 0)
                return nn_error_set(err, NN_EINVAL, "%s: input '%s' is not a layer name%s",
                                    l->origin, l->input_names[k],
                                    " (use 'input' for the data)");
            if (j == i)
                return nn_error_set(err, NN_EINVAL, "%s: layer '%s' cannot be its own input",
                                    l->origin, l->name);
            l->inputs[k] = j;
        }
    }
    size_t un = (size_t)n;
    int *indeg = calloc(un, sizeof *indeg);
    free(m->order);
    m->order = calloc(un, sizeof *m->order);
    if (!indeg || !m->order) {
        free(indeg);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        int k_n = l->n_inputs ? l->n_inputs : 1;
        for (int k = 0; k < k_n; k++)
            if (l->inputs[k] != NN_DATA_INPUT)
                indeg[i]++;
    }
    int done = 0;
    while (done < n) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++) /* lowest index first: file order */
            if (indeg[i] == 0)
                pick = i;
        if (pick < 0)
            break;
        indeg[pick] = -1;
        m->order[done++] = pick;
        for (int i = 0; i < n; i++) {
            layer_def *l = &m->layers[i];
            int k_n = l->n_inputs ? l->n_inputs : 1;
            for (int k = 0; k < k_n; k++)
                if (l->inputs[k] == pick)
                    indeg[i]--;
        }
    }
    if (done < n) {
        int culprit = 0;
        for (int i = 0; i < n; i++)
            if (indeg[i] > 0)
                culprit = i;
        free(indeg);
        return nn_error_set(err, NN_EINVAL, "%s: layer '%s' is part of a cycle of inputs",
                            m->layers[culprit].origin, m->layers[culprit].name);
    }
    free(indeg);
    return NN_OK;
}

/* Creates the model's parameters and state from the first plan's declarations. */
int nn_model_create_params(nn_model *m, nn_plan *p, nn_error *err)
{
    int np = 0, ns = 0;
    for (int i = 0; i < m->n_layers; i++) {
        np += p->setups[i].n_params;
        for (int b = 0; b < p->setups[i].n_buffers; b++)
            ns += p->setups[i].buffers[b].kind == NN_BUF_STATE;
    }
    m->params = calloc((size_t)np + 1, sizeof *m->params);
    m->states = calloc((size_t)ns + 1, sizeof *m->states);
    if (!m->params || !m->states)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    size_t pbytes = 0, sbytes = 0;
    for (int oi = 0; oi < m->n_layers; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        const nn_layer_setup *s = &p->setups[i];
        l->n_params = s->n_params;
        for (int k = 0; k < s->n_params; k++) {
            param_rec *r = &m->params[m->n_params];
            r->decl = *nn_layer_param_decl(s, k);
            r->layer = i;
            r->lr_mult = l->lr_mult;
            r->wd_mult = l->wd_mult;
            snprintf(r->name, sizeof r->name, "%s.%s", l->name, r->decl.name);
            nn_tensor_describe(&r->value, NN_F32, r->decl.ndim, r->decl.shape);
            nn_tensor_describe(&r->grad, NN_F32, r->decl.ndim, r->decl.shape);
            r->value.name = r->name;
            r->grad.name = r->name;
            pbytes += nn_align64(nn_tensor_nbytes(&r->value));
            l->param_index[k] = m->n_params++;
        }
        for (int b = 0; b < NN_MAX_LAYER_BUFFERS; b++)
            l->state_index[b] = -1;
        for (int b = 0; b < s->n_buffers; b++) {
            if (s->buffers[b].kind != NN_BUF_STATE)
                continue;
            state_rec *r = &m->states[m->n_states];
            r->decl = s->buffers[b];
            snprintf(r->name, sizeof r->name, "%s.%s", l->name, s->buffers[b].name);
            nn_tensor_describe(&r->value, r->decl.dtype, r->decl.ndim, r->decl.shape);
            r->value.name = r->name;
            sbytes += nn_align64(nn_tensor_nbytes(&r->value));
            l->state_index[b] = m->n_states++;
        }
    }
    int rc = nn_total_bytes_check(2 * pbytes + sbytes, "the parameters, their gradients and "
                                  "the layers' state", "make the model smaller", err);
    if (rc)
        return rc;
    /* device memory for the model, and host copies when the device is not the host */
    /* each block named: the gradients fail where the parameters, as large, just fitted */
    const char *what = "parameters";
    size_t asked = pbytes;
    if (!(m->param_arena = nn_dev_alloc(m->dev, pbytes, err)) ||
        (what = "parameter gradients", !(m->grad_arena = nn_dev_alloc(m->dev, pbytes, err))) ||
        (what = "layer state (running statistics)", asked = sbytes,
         !(m->state_arena = nn_dev_alloc(m->dev, sbytes, err)))) {
        nn_error_prefix(err, "the model's %zu bytes of %s", asked, what);
        return err->status;
    }
    m->param_bytes = pbytes;
    int host = nn_dev_is_host(m->dev);
    if (!host && (!(m->host_param_arena = nn_dev_alloc(nn_dev_host(), pbytes, err)) ||
                  !(m->host_grad_arena = nn_dev_alloc(nn_dev_host(), pbytes, err)) ||
                  !(m->host_state_arena = nn_dev_alloc(nn_dev_host(), sbytes, err))))
        return err->status;
    DLDevice where = nn_dev_public(m->dev)->dl;
    size_t off = 0;
    for (int k = 0; k < m->n_params; k++) {
        param_rec *r = &m->params[k];
        r->value.dl.data = (char *)m->param_arena + off;
        r->grad.dl.data = (char *)m->grad_arena + off;
        r->value.dl.device = r->grad.dl.device = where;
        r->host_value = r->value;
        r->host_grad = r->grad;
        r->host_value.dl.device = r->host_grad.dl.device = (DLDevice){kDLCPU, 0};
        fix_views(&r->host_value);
        fix_views(&r->host_grad);
        if (!host) {
            r->host_value.dl.data = (char *)m->host_param_arena + off;
            r->host_grad.dl.data = (char *)m->host_grad_arena + off;
        }
        off += nn_align64(nn_tensor_nbytes(&r->value));
        if (m->psrc) {
            float *v = NULL, *g = NULL;
            int rc = m->psrc(m->psrc_ctx, k, &r->value, &v, &g, err);
            if (rc)
                return rc;
            r->value.dl.data = r->host_value.dl.data = v;
            r->grad.dl.data = r->host_grad.dl.data = g;
            r->external = 1;
        }
    }
    off = 0;
    for (int k = 0; k < m->n_states; k++) {
        state_rec *r = &m->states[k];
        r->value.dl.data = (char *)m->state_arena + off;
        r->value.dl.device = where;
        r->host_value = r->value;
        r->host_value.dl.device = (DLDevice){kDLCPU, 0};
        fix_views(&r->host_value);
        if (!host)
            r->host_value.dl.data = (char *)m->host_state_arena + off;
        off += nn_align64(nn_tensor_nbytes(&r->value));
    }
    m->has_params = 1;
    return nn_model_reinit(m, m->seed, err);
}

int nn_model_reinit(nn_model *m, uint64_t seed, nn_error *err)
{
    m->seed = seed;
    /* on the host, then copied: every device starts from the same values */
    for (int k = 0; k < m->n_params; k++) {
        param_rec *r = &m->params[k];
        if (r->external)
            continue; /* the owner's values */
        nn_init_tensor(&r->host_value, r->decl.init, r->decl.init_arg, r->decl.fan_in,
                       r->decl.fan_out, seed, nn_hash(LAYER_HASH_INIT, r->name, strlen(r->name)));
    }
    for (int k = 0; k < m->n_states; k++) {
        state_rec *r = &m->states[k];
        if (r->decl.dtype == NN_F32)
            nn_init_tensor(&r->host_value, r->decl.init, r->decl.init_arg, 1, 1, seed,
                           nn_hash(LAYER_HASH_INIT, r->name, strlen(r->name)));
        else
            memset(r->host_value.dl.data, 0, nn_tensor_nbytes(&r->host_value));
    }
    return nn_model_to_device(m, err);
}

/* copies between the model's device tensors and their host copies (nothing on the host) */
static int sync_model(nn_model *m, int to_host, int grads, nn_error *err)
{
    if (nn_dev_is_host(m->dev) || !m->has_params)
        return NN_OK;
    int rc = NN_OK;
    for (int k = 0; k < m->n_params && rc == NN_OK; k++) {
        param_rec *r = &m->params[k];
        rc = to_host ? nn_dev_download(m->dev, &r->host_value, &r->value, err)
                     : nn_dev_upload(m->dev, &r->value, &r->host_value, err);
        if (rc == NN_OK && grads)
            rc = nn_dev_download(m->dev, &r->host_grad, &r->grad, err);
    }
    for (int k = 0; k < m->n_states && rc == NN_OK; k++) {
        state_rec *r = &m->states[k];
        rc = to_host ? nn_dev_download(m->dev, &r->host_value, &r->value, err)
                     : nn_dev_upload(m->dev, &r->value, &r->host_value, err);
    }
    return rc;
}

/* a view of the accumulator's part for parameter k (same layout as the gradient arena) */
static nn_tensor accum_view(const nn_model *m, int k)
{
    nn_tensor t = m->params[k].grad;
    t.dl.shape = t.shape;
    t.dl.strides = t.strides;
    t.dl.data = (char *)m->accum_arena + ((char *)t.dl.data - (char *)m->grad_arena);
    return t;
}

int nn_model_accumulate(nn_model *m, float weight, int first, nn_error *err)
{
    if (!m->accum_arena && !(m->accum_arena = nn_dev_alloc(m->dev, m->param_bytes, err)))
        return err->status;
    int rc = NN_OK;
    for (int k = 0; k < m->n_params && rc == NN_OK; k++) {
        nn_tensor a = accum_view(m, k);
        if ((rc = nn_dev_scale(m->dev, &m->params[k].grad, weight, err)))
            break;
        rc = first ? nn_dev_copy(m->dev, a.dl.data, m->params[k].grad.dl.data,
                                 nn_tensor_nbytes(&a), NN_COPY_DEVICE_TO_DEVICE, err)
                   : nn_dev_add(m->dev, &a, &m->params[k].grad, err);
    }
    return rc;
}

int nn_model_accumulate_finish(nn_model *m, float scale, nn_error *err)
{
    int rc = NN_OK;
    for (int k = 0; k < m->n_params && rc == NN_OK; k++) {
        nn_tensor a = accum_view(m, k);
        if ((rc = nn_dev_scale(m->dev, &a, scale, err)) == NN_OK)
            rc = nn_dev_copy(m->dev, m->params[k].grad.dl.data, a.dl.data,
                             nn_tensor_nbytes(&a), NN_COPY_DEVICE_TO_DEVICE, err);
    }
    return rc;
}

int nn_model_to_host(nn_model *m, int grads, nn_error *err)
{
    return sync_model(m, 1, grads, err);
}

int nn_model_to_device(nn_model *m, nn_error *err)
{
    return sync_model(m, 0, 0, err);
}

int nn_model_check_params(const nn_model *m, const nn_plan *p, nn_error *err)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer_def *l = &m->layers[i];
        const nn_layer_setup *s = &p->setups[i];
        if (s->n_params != l->n_params)
            return nn_error_set(err, NN_EINTERNAL,
                                "layer '%s' declared %d parameters for batch %lld but %d before",
                                l->name, s->n_params, (long long)p->batch, l->n_params);
        for (int k = 0; k < s->n_params; k++) {
            const param_rec *r = &m->params[l->param_index[k]];
            const nn_param_decl *d = nn_layer_param_decl(s, k);
            if (r->decl.ndim != d->ndim ||
                memcmp(r->decl.shape, d->shape, sizeof(int64_t) * (size_t)r->decl.ndim))
                return nn_error_set(err, NN_EINTERNAL,
                                    "layer '%s' parameter '%s' changed shape between plans",
                                    l->name, d->name);
        }
    }
    return NN_OK;
}

int nn_model_layer_count(const nn_model *m) { return m->n_layers; }
const char *nn_model_layer_name(const nn_model *m, int i) { return m->layers[i].name; }
const char *nn_model_layer_type(const nn_model *m, int i) { return m->layers[i].desc->name; }
int nn_model_output_layer(const nn_model *m) { return m->order[m->n_layers - 1]; }
int nn_model_param_count(const nn_model *m) { return m->n_params; }
int nn_model_state_count(const nn_model *m) { return m->n_states; }
nn_tensor *nn_model_state(const nn_model *m, int i) { return &m->states[i].value; }
nn_tensor *nn_model_host_state(const nn_model *m, int i) { return &m->states[i].host_value; }
nn_dev *nn_model_device(const nn_model *m) { return m->dev; }

nn_tensor *nn_model_param(const nn_model *m, int i, nn_tensor **grad, double *lr_mult,
                          double *wd_mult, uint32_t *flags)
{
    param_rec *r = &m->params[i];
    if (grad)
        *grad = &r->grad;
    if (lr_mult)
        *lr_mult = r->lr_mult;
    if (wd_mult)
        *wd_mult = r->wd_mult;
    if (flags)
        *flags = r->decl.flags;
    return &r->value;
}

nn_tensor *nn_model_host_param(const nn_model *m, int i, nn_tensor **grad)
{
    if (grad)
        *grad = &m->params[i].host_grad;
    return &m->params[i].host_value;
}

int64_t nn_model_numel(const nn_model *m)
{
    int64_t n = 0;
    for (int k = 0; k < m->n_params; k++)
        n += nn_tensor_numel(&m->params[k].value);
    return n;
}

int nn_model_set_replicas(nn_model *m, int n, const struct nn_dist_info *const *info,
                          nn_error *err)
{
    if (n < 1 || n > NN_MAX_REPLICAS)
        return nn_error_set(err, NN_EINVAL, "%d replicas: expected 1 to %d", n,
                            NN_MAX_REPLICAS);
    if (n > 1 && !nn_dev_is_host(m->dev))
        return nn_error_set(err, NN_ENOTSUP, "replicas in one process run on the host only");
    for (const nn_plan *p = m->plans; p; p = p->next)
        if (p->replica >= n)
            return nn_error_set(err, NN_EINVAL, "replica %d has plans already", p->replica);
    m->n_replicas = n;
    for (int r = 0; r < NN_MAX_REPLICAS; r++)
        m->rep_dist[r] = info && r < n ? info[r] : NULL;
    return NN_OK;
}

int nn_model_replicas(const nn_model *m) { return m->n_replicas > 1 ? m->n_replicas : 1; }

/* *dst describes what *src does, at the same offset in arena `to` as src in arena `from` */
static void rebase(nn_tensor *dst, const nn_tensor *src, const void *from, void *to)
{
    *dst = *src;
    fix_views(dst);
    dst->dl.data = (char *)to + ((const char *)src->dl.data - (const char *)from);
}

/* replica r's gradients and state buffers: the model's layout in memory of its own */
int nn_model_replica_alloc(nn_model *m, int r, nn_error *err)
{
    replica_rec *rp = &m->rep[r];
    if (rp->grads)
        return NN_OK;
    size_t sbytes = 0;
    for (int k = 0; k < m->n_states; k++)
        sbytes += nn_align64(nn_tensor_nbytes(&m->states[k].value));
    rp->grad_arena = nn_dev_alloc(nn_dev_host(), m->param_bytes ? m->param_bytes : 1, err);
    rp->state_arena = rp->grad_arena ? nn_dev_alloc(nn_dev_host(), sbytes ? sbytes : 1, err)
                                     : NULL;
    rp->grads = calloc((size_t)m->n_params + 1, sizeof *rp->grads);
    rp->states = calloc((size_t)m->n_states + 1, sizeof *rp->states);
    if (!rp->grad_arena || !rp->state_arena || !rp->grads || !rp->states) {
        free(rp->grad_arena);
        free(rp->state_arena);
        free(rp->grads);
        free(rp->states);
        memset(rp, 0, sizeof *rp);
        return err->status ? err->status : nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    for (int k = 0; k < m->n_params; k++)
        rebase(&rp->grads[k], &m->params[k].grad, m->grad_arena, rp->grad_arena);
    for (int k = 0; k < m->n_states; k++)
        rebase(&rp->states[k], &m->states[k].value, m->state_arena, rp->state_arena);
    return NN_OK;
}

int nn_model_add_copy(nn_model *dst, const nn_model *src, int i, const char *key,
                      const char *value, nn_error *err)
{
    const layer_def *l = &src->layers[i];
    nn_kv *kvs = calloc((size_t)l->n_kvs + 1, sizeof *kvs);
    if (!kvs)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int n = 0, set = 0;
    for (int k = 0; k < l->n_kvs; k++) {
        kvs[n] = l->kvs[k];
        if (strcmp(kvs[n].key, key) == 0) {
            kvs[n].value = (char *)value;
            set = 1;
        }
        n++;
    }
    if (!set)
        kvs[n++] = (nn_kv){.key = (char *)key, .value = (char *)value};
    int rc = nn_model_add(dst, l->name, l->type, kvs, n, NULL, 0, l->lr_mult, l->wd_mult,
                          l->origin, err);
    free(kvs);
    return rc;
}

const nn_plugin_desc *nn_model_layer_desc(const nn_model *m, int i) { return m->layers[i].desc; }

void nn_model_set_param_source(nn_model *m, nn_param_source fn, void *ctx)
{
    m->psrc = fn;
    m->psrc_ctx = ctx;
}

void nn_model_replica_owned(nn_model *m, int k) { m->params[k].owned = 1; }

/* the sum when some parameters are owned: part `part` of the others' memory (whole cache
 * lines), and its rows of the owned ones measured only */
static double sum_owned(nn_model *m, int n, int part, int n_parts)
{
    size_t shared = 0, at = 0, off = 0;
    for (int k = 0; k < m->n_params; k++)
        if (!m->params[k].owned)
            shared += nn_align64(nn_tensor_nbytes(&m->params[k].grad)) / sizeof(float);
    size_t chunk = (shared + (size_t)n_parts - 1) / (size_t)n_parts;
    chunk = (chunk + 15) / 16 * 16;
    size_t lo = (size_t)part * chunk, hi = lo + chunk < shared ? lo + chunk : shared;
    double sq = 0;
    float *dst = m->grad_arena;
    const float *src[NN_MAX_REPLICAS];
    for (int k = 0; k < m->n_params; k++) {
        const param_rec *r = &m->params[k];
        size_t len = nn_align64(nn_tensor_nbytes(&r->grad)) / sizeof(float);
        if (r->owned) {
            int64_t rows = r->grad.shape[0], row = nn_tensor_numel(&r->grad) / rows;
            int64_t a = nn_unit_cut(rows, part, n_parts), b = nn_unit_cut(rows, part + 1, n_parts);
            sq += nn_grad_sum_into(dst + off + a * row, NULL, 0, (b - a) * row);
        } else {
            size_t a = lo > at ? lo : at, b = hi < at + len ? hi : at + len;
            for (int q = 1; q < n && a < b; q++)
                src[q - 1] = (const float *)m->rep[q].grad_arena + off + (a - at);
            if (a < b)
                sq += nn_grad_sum_into(dst + off + (a - at), src, n - 1, (int64_t)(b - a));
            at += len;
        }
        off += len;
    }
    return sq;
}

double nn_model_replica_sum_grads(nn_model *m, int n, int part, int n_parts)
{
    for (int k = 0; k < m->n_params; k++)
        if (m->params[k].owned)
            return sum_owned(m, n, part, n_parts);
    /* the arenas hold F32 only (every parameter is F32), padding included, which stays 0 */
    size_t count = m->param_bytes / sizeof(float);
    size_t chunk = (count + (size_t)n_parts - 1) / (size_t)n_parts;
    chunk = (chunk + 15) / 16 * 16; /* whole cache lines: no two parts share one */
    size_t lo = (size_t)part * chunk, hi = lo + chunk < count ? lo + chunk : count;
    if (lo >= hi)
        return 0;
    const float *src[NN_MAX_REPLICAS];
    for (int r = 1; r < n; r++)
        src[r - 1] = (const float *)m->rep[r].grad_arena + lo;
    return nn_grad_sum_into((float *)m->grad_arena + lo, src, n - 1, (int64_t)(hi - lo));
}

void nn_model_replica_load_states(nn_model *m, int r)
{
    for (int k = 0; k < m->n_states; k++)
        memcpy(m->rep[r].states[k].dl.data, m->states[k].value.dl.data,
               nn_tensor_nbytes(&m->states[k].value));
}

void nn_model_replica_average_states(nn_model *m, int n)
{
    for (int k = 0; k < m->n_states; k++) {
        nn_tensor *v = &m->states[k].value;
        if (nn_tensor_dtype(v) != NN_F32)
            continue; /* counters: every replica counted the same */
        float *dst = v->dl.data;
        int64_t count = nn_tensor_numel(v);
        for (int r = 1; r < n; r++) {
            const float *src = m->rep[r].states[k].dl.data;
            for (int64_t i = 0; i < count; i++)
                dst[i] += src[i];
        }
        for (int64_t i = 0; i < count && n > 1; i++)
            dst[i] /= (float)n;
    }
}
