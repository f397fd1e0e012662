/* graph.c: builds the layer DAG, compiles plans (shape inference, parameters, one memory
 * arena, bind) and runs forward/backward through the layer plugins. It never knows a layer
 * by name and never allocates after a plan is compiled. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "graph.h"
#include "instance.h"
#include "sizes.h"

#define DATA_INPUT (-1)

typedef struct layer_def {
    char *name, *type, *origin;
    const nn_plugin_desc *desc;
    nn_kv *kvs;
    int n_kvs;
    char *input_names[NN_MAX_INPUTS];
    int n_inputs;
    int inputs[NN_MAX_INPUTS]; /* resolved: DATA_INPUT or a layer index */
    double lr_mult, wd_mult;
    int n_params;
    int param_index[NN_MAX_LAYER_PARAMS];  /* into the model's param table */
    int state_index[NN_MAX_LAYER_BUFFERS]; /* into the model's state table, -1 if not state */
} layer_def;

typedef struct param_rec {
    char name[2 * NN_NAME_MAX + 2];
    nn_tensor value, grad;
    nn_param_decl decl;
    double lr_mult, wd_mult;
    int layer;
} param_rec;

typedef struct state_rec {
    char name[2 * NN_NAME_MAX + 2];
    nn_tensor value;
    nn_buffer_decl decl;
} state_rec;

typedef struct edge {
    int consumer, slot; /* consumer layer and which of its inputs */
    nn_tensor grad;     /* own buffer when the producer feeds several consumers */
} edge;

struct nn_plan {
    nn_model *m;
    int64_t batch;
    int training;
    int sample_ndim;
    int64_t sample_shape[NN_MAX_DIMS];
    nn_dtype dtype;
    nn_instance *inst;
    nn_layer_setup *setups;
    nn_layer_io *ios;
    nn_tensor input;
    nn_tensor *outputs, *grads, *bufs; /* per layer; bufs: NN_MAX_LAYER_BUFFERS per layer */
    int *needs_grad;                   /* per layer: its output gradient is needed */
    int *n_consumers;
    edge *edges;
    int n_edges;
    void *arena;
    size_t arena_bytes;
    uint64_t step_seed;
    nn_plan *next;
};

struct nn_model {
    nn_registry *reg;
    char *device;
    layer_def *layers;
    int n_layers, cap_layers;
    int *order; /* topological order of layer indices */
    param_rec *params;
    int n_params;
    state_rec *states;
    int n_states;
    void *param_arena, *grad_arena, *state_arena;
    int has_params;
    uint64_t seed;
    nn_plan *plans;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t align64(size_t x)
{
    return (x + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
}

nn_model *nn_model_new(nn_registry *reg, const char *device)
{
    nn_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->reg = reg;
    m->device = strdup(device ? device : "cpu");
    if (!m->device) {
        free(m);
        return NULL;
    }
    return m;
}

static void plan_free(nn_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->inst && i < p->m->n_layers; i++)
        nn_instance_destroy(&p->inst[i]);
    free(p->inst);
    free(p->setups);
    free(p->ios);
    free(p->outputs);
    free(p->grads);
    free(p->bufs);
    free(p->needs_grad);
    free(p->n_consumers);
    free(p->edges);
    free(p->arena);
    free(p);
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    while (m->plans) {
        nn_plan *next = m->plans->next;
        plan_free(m->plans);
        m->plans = next;
    }
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
    free(m->param_arena);
    free(m->grad_arena);
    free(m->state_arena);
    free(m->device);
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
    const nn_plugin_entry *e = nn_registry_find(m->reg, NN_KIND_LAYER, type, m->device, &ferr);
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
        if (s->line > 0)
            snprintf(origin, sizeof origin, "%s:%d: [%s]", nn_config_path(cfg), s->line, s->name);
        else
            snprintf(origin, sizeof origin, "%s: [%s]", nn_config_path(cfg), s->name);
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
static int resolve(nn_model *m, nn_error *err)
{
    int n = m->n_layers;
    if (n <= 0)
        return nn_error_set(err, NN_EINVAL, "the model has no layers");
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        if (l->n_inputs == 0) {
            l->inputs[0] = i == 0 ? DATA_INPUT : i - 1;
            continue;
        }
        for (int k = 0; k < l->n_inputs; k++) {
            if (strcmp(l->input_names[k], "input") == 0) {
                l->inputs[k] = DATA_INPUT;
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
            if (l->inputs[k] != DATA_INPUT)
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

static int n_in(const layer_def *l)
{
    return l->n_inputs ? l->n_inputs : 1;
}

/* Creates the model's parameters and state from the first plan's declarations. */
static int create_params(nn_model *m, nn_plan *p, nn_error *err)
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
            r->decl = s->params[k];
            r->layer = i;
            r->lr_mult = l->lr_mult;
            r->wd_mult = l->wd_mult;
            snprintf(r->name, sizeof r->name, "%s.%s", l->name, s->params[k].name);
            nn_tensor_describe(&r->value, NN_F32, r->decl.ndim, r->decl.shape);
            nn_tensor_describe(&r->grad, NN_F32, r->decl.ndim, r->decl.shape);
            r->value.name = r->name;
            r->grad.name = r->name;
            pbytes += align64(nn_tensor_nbytes(&r->value));
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
            sbytes += align64(nn_tensor_nbytes(&r->value));
            l->state_index[b] = m->n_states++;
        }
    }
    int rc = nn_total_bytes_check(2 * pbytes + sbytes, "the parameters, their gradients and "
                                  "the layers' state", "make the model smaller", err);
    if (rc)
        return rc;
    m->param_arena = aligned_alloc(NN_TENSOR_ALIGN, pbytes + NN_TENSOR_ALIGN);
    m->grad_arena = aligned_alloc(NN_TENSOR_ALIGN, pbytes + NN_TENSOR_ALIGN);
    m->state_arena = aligned_alloc(NN_TENSOR_ALIGN, sbytes + NN_TENSOR_ALIGN);
    if (!m->param_arena || !m->grad_arena || !m->state_arena)
        return nn_error_set(err, NN_ENOMEM, "out of memory for %zu bytes of parameters", pbytes);
    memset(m->grad_arena, 0, pbytes + NN_TENSOR_ALIGN);
    size_t off = 0;
    for (int k = 0; k < m->n_params; k++) {
        m->params[k].value.dl.data = (char *)m->param_arena + off;
        m->params[k].grad.dl.data = (char *)m->grad_arena + off;
        off += align64(nn_tensor_nbytes(&m->params[k].value));
    }
    off = 0;
    for (int k = 0; k < m->n_states; k++) {
        m->states[k].value.dl.data = (char *)m->state_arena + off;
        off += align64(nn_tensor_nbytes(&m->states[k].value));
    }
    m->has_params = 1;
    nn_model_reinit(m, m->seed);
    return NN_OK;
}

void nn_model_reinit(nn_model *m, uint64_t seed)
{
    m->seed = seed;
    for (int k = 0; k < m->n_params; k++) {
        param_rec *r = &m->params[k];
        nn_init_tensor(&r->value, r->decl.init, r->decl.init_arg, r->decl.fan_in,
                       r->decl.fan_out, seed, fnv1a(r->name));
    }
    for (int k = 0; k < m->n_states; k++) {
        state_rec *r = &m->states[k];
        if (r->decl.dtype == NN_F32)
            nn_init_tensor(&r->value, r->decl.init, r->decl.init_arg, 1, 1, seed,
                           fnv1a(r->name));
        else
            memset(r->value.dl.data, 0, nn_tensor_nbytes(&r->value));
    }
}

/* A later plan must declare exactly the parameters and state of the first. */
static int check_params(const nn_model *m, const nn_plan *p, nn_error *err)
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
            if (r->decl.ndim != s->params[k].ndim ||
                memcmp(r->decl.shape, s->params[k].shape, sizeof(int64_t) * (size_t)r->decl.ndim))
                return nn_error_set(err, NN_EINTERNAL,
                                    "layer '%s' parameter '%s' changed shape between plans",
                                    l->name, s->params[k].name);
        }
    }
    return NN_OK;
}

static nn_plan *find_plan(nn_model *m, int64_t batch, int training)
{
    for (nn_plan *p = m->plans; p; p = p->next)
        if (p->batch == batch && p->training == training)
            return p;
    return NULL;
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
    if (!p->inst || !p->setups || !p->ios || !p->outputs || !p->grads || !p->bufs ||
        !p->needs_grad || !p->n_consumers || !p->edges)
        return nn_error_set(err, NN_ENOMEM, "out of memory");

    int64_t in_shape[NN_MAX_DIMS];
    in_shape[0] = p->batch;
    for (int d = 0; d < p->sample_ndim; d++)
        in_shape[d + 1] = p->sample_shape[d];
    nn_tensor_describe(&p->input, p->dtype, p->sample_ndim + 1, in_shape);
    p->input.name = "input";

    /* 1. instances and shape inference, in topological order */
    for (int oi = 0; oi < n; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        int rc = nn_instance_create(&p->inst[i], l->desc, l->kvs, l->n_kvs, l->origin, err);
        if (rc)
            return rc;
        nn_layer_setup *s = &p->setups[i];
        s->struct_size = sizeof *s;
        s->layer_name = l->name;
        s->training = p->training;
        s->n_inputs = n_in(l);
        for (int k = 0; k < s->n_inputs; k++) {
            int src = l->inputs[k];
            s->inputs[k] = src == DATA_INPUT ? &p->input : &p->outputs[src];
            if (src != DATA_INPUT)
                p->n_consumers[src]++;
        }
        const nn_layer_vtable *vt = l->desc->vtable;
        nn_error serr = {0};
        rc = NN_PLUGIN_CALL(&p->inst[i], "setup", vt->setup(p->inst[i].self, s, &serr));
        if (rc) {
            char shapes[400] = "", sh[96];
            size_t used = 0;
            for (int k = 0; k < s->n_inputs; k++) {
                int src = l->inputs[k];
                used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s'%s' %s",
                                         k ? ", " : "", src == DATA_INPUT ? "input"
                                                                          : m->layers[src].name,
                                         nn_shape_str(s->inputs[k], sh, sizeof sh));
                if (used >= sizeof shapes)
                    break;
            }
            return nn_error_set(err, rc, "%s: layer '%s' (%s) given %s: %s", l->origin, l->name,
                                l->type, shapes, serr.msg[0] ? serr.msg : nn_strerror(rc));
        }
        if ((rc = nn_layer_sizes_check(s, l->origin, l->name, l->type, l->kvs, l->n_kvs, err)))
            return rc;
        if (s->output.dl.ndim < 1 || s->output.shape[0] != p->batch)
            return nn_error_set(err, NN_EINTERNAL,
                                "%s: layer '%s' (%s) produced an output without the batch "
                                "dimension first", l->origin, l->name, l->type);
        p->outputs[i] = s->output;
        p->outputs[i].dl.shape = p->outputs[i].shape;
        p->outputs[i].dl.strides = p->outputs[i].strides;
        p->outputs[i].name = l->name;
    }
    int last = m->order[n - 1];
    for (int i = 0; i < n; i++)
        if (i != last && p->n_consumers[i] == 0)
            return nn_error_set(err, NN_EINVAL,
                                "%s: the output of layer '%s' is not used by any later layer; "
                                "only the last layer ('%s') may be the model's output",
                                m->layers[i].origin, m->layers[i].name, m->layers[last].name);

    /* 2. parameters: created by the first plan, checked by later ones */
    int rc = m->has_params ? check_params(m, p, err) : create_params(m, p, err);
    if (rc)
        return rc;

    /* 3. which outputs need gradients: a layer with parameters, or fed by one that needs them */
    for (int oi = 0; p->training && oi < n; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        p->needs_grad[i] = l->n_params > 0;
        for (int k = 0; k < n_in(l); k++)
            if (l->inputs[k] != DATA_INPUT && p->needs_grad[l->inputs[k]])
                p->needs_grad[i] = 1;
    }

    /* 4. one arena: input, outputs, output grads, edge grads, saved buffers, then one
     * workspace region shared by all layers (only one layer runs at a time) */
    size_t off = 0, ws_max = 0;
    size_t *out_off = calloc((size_t)n, sizeof *out_off), *grad_off = calloc((size_t)n, sizeof *grad_off);
    size_t *buf_off = calloc((size_t)n * NN_MAX_LAYER_BUFFERS, sizeof *buf_off);
    if (!out_off || !grad_off || !buf_off) {
        free(out_off);
        free(grad_off);
        free(buf_off);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    size_t in_off = off;
    off += align64(nn_tensor_nbytes(&p->input));
    for (int i = 0; i < n; i++) {
        out_off[i] = off;
        off += align64(nn_tensor_nbytes(&p->outputs[i]));
        if (p->needs_grad[i] || (p->training && i == last)) {
            grad_off[i] = off;
            off += align64(nn_tensor_nbytes(&p->outputs[i]));
        }
    }
    /* edges of producers with several consumers get their own gradient buffers */
    for (int i = 0; i < n; i++) {
        layer_def *l = &m->layers[i];
        for (int k = 0; k < n_in(l); k++) {
            int src = l->inputs[k];
            if (src == DATA_INPUT || !p->needs_grad[src] || p->n_consumers[src] < 2)
                continue;
            edge *e = &p->edges[p->n_edges++];
            e->consumer = i;
            e->slot = k;
            e->grad = p->outputs[src];
            e->grad.dl.shape = e->grad.shape;
            e->grad.dl.strides = e->grad.strides;
            e->grad.dl.data = (void *)(uintptr_t)off; /* offset until the arena exists */
            off += align64(nn_tensor_nbytes(&p->outputs[src]));
        }
    }
    for (int i = 0; i < n; i++) {
        const nn_layer_setup *s = &p->setups[i];
        size_t ws = 0;
        for (int b = 0; b < s->n_buffers; b++) {
            const nn_buffer_decl *d = &s->buffers[b];
            nn_tensor *t = &p->bufs[i * NN_MAX_LAYER_BUFFERS + b];
            nn_tensor_describe(t, d->dtype, d->ndim, d->shape);
            t->name = d->name;
            size_t bytes = align64(nn_tensor_nbytes(t));
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
    size_t ws_base = off;
    off += ws_max;
    p->arena_bytes = off;
    char what[96];
    snprintf(what, sizeof what, "the layer outputs of a batch of %lld", (long long)p->batch);
    rc = nn_total_bytes_check(off, what, "lower [train] batch_size", err);
    p->arena = rc ? NULL : aligned_alloc(NN_TENSOR_ALIGN, off + NN_TENSOR_ALIGN);
    if (rc || !p->arena) {
        free(out_off);
        free(grad_off);
        free(buf_off);
        return rc ? rc : nn_error_set(err, NN_ENOMEM, "out of memory for a %zu-byte activation "
                                      "arena", off);
    }
    memset(p->arena, 0, off + NN_TENSOR_ALIGN);
    char *base = p->arena;
    p->input.dl.data = base + in_off;
    for (int i = 0; i < n; i++) {
        p->outputs[i].dl.data = base + out_off[i];
        if (p->needs_grad[i] || (p->training && i == last)) {
            p->grads[i] = p->outputs[i];
            p->grads[i].dl.shape = p->grads[i].shape;
            p->grads[i].dl.strides = p->grads[i].strides;
            p->grads[i].dl.data = base + grad_off[i];
        }
    }
    for (int e = 0; e < p->n_edges; e++)
        p->edges[e].grad.dl.data = base + (size_t)(uintptr_t)p->edges[e].grad.dl.data;

    /* 5. io blocks, then bind */
    for (int oi = 0; oi < n && rc == NN_OK; oi++) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        const nn_layer_setup *s = &p->setups[i];
        nn_layer_io *io = &p->ios[i];
        io->struct_size = sizeof *io;
        io->training = p->training;
        io->n_inputs = s->n_inputs;
        io->output = &p->outputs[i];
        for (int k = 0; k < s->n_inputs; k++) {
            int src = l->inputs[k];
            io->inputs[k] = src == DATA_INPUT ? &p->input : &p->outputs[src];
            if (src == DATA_INPUT || !p->needs_grad[src])
                continue;
            io->grad_inputs[k] = &p->grads[src];
            for (int e = 0; e < p->n_edges; e++)
                if (p->edges[e].consumer == i && p->edges[e].slot == k)
                    io->grad_inputs[k] = &p->edges[e].grad;
        }
        if (p->training && (p->needs_grad[i] || i == last))
            io->grad_output = &p->grads[i];
        for (int k = 0; k < s->n_params; k++) {
            io->params[k] = &m->params[l->param_index[k]].value;
            if (p->training)
                io->param_grads[k] = &m->params[l->param_index[k]].grad;
        }
        for (int b = 0; b < s->n_buffers; b++) {
            nn_tensor *t = &p->bufs[i * NN_MAX_LAYER_BUFFERS + b];
            switch (s->buffers[b].kind) {
            case NN_BUF_STATE: io->buffers[b] = &m->states[l->state_index[b]].value; break;
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
    return rc;
}

int nn_model_plan(nn_model *m, int sample_ndim, const int64_t *sample_shape, nn_dtype dtype,
                  int64_t batch, int training, uint64_t seed, nn_plan **out, nn_error *err)
{
    *out = NULL;
    nn_plan *p = find_plan(m, batch, training);
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
        int rc = resolve(m, err);
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
    p->sample_ndim = sample_ndim;
    p->dtype = dtype;
    memcpy(p->sample_shape, sample_shape, sizeof(int64_t) * (size_t)sample_ndim);
    int rc = compile(m, p, err);
    if (rc) {
        plan_free(p);
        return rc;
    }
    p->next = m->plans;
    m->plans = p;
    *out = p;
    return NN_OK;
}

int nn_model_layer_count(const nn_model *m) { return m->n_layers; }
const char *nn_model_layer_name(const nn_model *m, int i) { return m->layers[i].name; }
int nn_model_param_count(const nn_model *m) { return m->n_params; }
int nn_model_state_count(const nn_model *m) { return m->n_states; }
nn_tensor *nn_model_state(const nn_model *m, int i) { return &m->states[i].value; }

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

int64_t nn_model_numel(const nn_model *m)
{
    int64_t n = 0;
    for (int k = 0; k < m->n_params; k++)
        n += nn_tensor_numel(&m->params[k].value);
    return n;
}

nn_tensor *nn_plan_input(nn_plan *p) { return &p->input; }
nn_tensor *nn_plan_output(nn_plan *p) { return &p->outputs[p->m->order[p->m->n_layers - 1]]; }
nn_tensor *nn_plan_grad_output(nn_plan *p)
{
    return p->training ? &p->grads[p->m->order[p->m->n_layers - 1]] : NULL;
}
size_t nn_plan_arena_bytes(const nn_plan *p) { return p->arena_bytes; }

void nn_plan_set_step_seed(nn_plan *p, uint64_t seed)
{
    for (int i = 0; i < p->m->n_layers; i++) {
        uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
        p->ios[i].seed = nn_splitmix64(&x);
    }
}

static int first_nonfinite(const nn_tensor *t)
{
    if (nn_tensor_dtype(t) != NN_F32)
        return -1;
    const float *x = NN_F32P(t);
    int64_t n = nn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (int)(i < 0x7fffffff ? i : 0x7fffffff);
    return -1;
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
        int rc = NN_PLUGIN_CALL(&p->inst[i], "forward", vt->forward(p->inst[i].self, io, &lerr));
        if (rc)
            return nn_error_set(err, rc, "layer '%s' (%s) forward: %s", l->name, l->type,
                                lerr.msg);
        int bad;
        if (checked && (bad = first_nonfinite(io->output)) >= 0) {
            float v = NN_F32P(io->output)[bad];
            return nn_error_set(err, NN_ENONFINITE,
                                "layer '%s' (%s) is the first whose output is not finite "
                                "(element %d = %g)", l->name, l->type, bad, (double)v);
        }
    }
    return NN_OK;
}

int nn_plan_forward(nn_plan *p, int training, nn_error *err)
{
    return run_forward(p, training, 0, err);
}

int nn_plan_forward_checked(nn_plan *p, int training, nn_error *err)
{
    int bad = first_nonfinite(&p->input);
    if (bad >= 0)
        return nn_error_set(err, NN_ENONFINITE, "the input batch holds a non-finite value "
                            "(element %d)", bad);
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
        int first = 1;
        for (int e = 0; e < p->n_edges; e++) {
            const edge *ed = &p->edges[e];
            if (m->layers[ed->consumer].inputs[ed->slot] != i)
                continue;
            float *dst = NN_F32P(&p->grads[i]);
            const float *src = NN_F32P(&ed->grad);
            int64_t cnt = nn_tensor_numel(&p->grads[i]);
            if (first)
                memcpy(dst, src, (size_t)cnt * sizeof *dst);
            else
                for (int64_t k = 0; k < cnt; k++)
                    dst[k] += src[k];
            first = 0;
        }
        const nn_layer_vtable *vt = l->desc->vtable;
        if (!vt->backward)
            return nn_error_set(err, NN_ENOTSUP, "%s: layer '%s' (%s) has no backward, so it "
                                "cannot be trained through", l->origin, l->name, l->type);
        nn_error lerr = {0};
        int rc = NN_PLUGIN_CALL(&p->inst[i], "backward",
                                vt->backward(p->inst[i].self, &p->ios[i], &lerr));
        if (rc)
            return nn_error_set(err, rc, "layer '%s' (%s) backward: %s", l->name, l->type,
                                lerr.msg);
    }
    return NN_OK;
}

int nn_plan_check_grads(nn_plan *p, nn_error *err)
{
    nn_model *m = p->m;
    for (int oi = m->n_layers - 1; oi >= 0; oi--) {
        int i = m->order[oi];
        layer_def *l = &m->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            const param_rec *r = &m->params[l->param_index[k]];
            int bad = first_nonfinite(&r->grad);
            if (bad >= 0)
                return nn_error_set(err, NN_ENONFINITE,
                                    "the gradient of '%s' (layer '%s', %s) is not finite "
                                    "(element %d)", r->name, l->name, l->type, bad);
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
