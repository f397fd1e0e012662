/* conformance_cases.c: which checks a pack's plugin gets. Each plugin is held to the CPU
 * plugin of the same name: its schema, then cases made from the schema (every enum choice,
 * every flag flipped) and, for the stock names, shapes and keys that reach each code path.
 * A name this table does not know still gets the schema-made cases on guessed shapes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_internal.h"

typedef struct known {
    int kind;
    const char *name;
    const char *base;       /* the keys every case starts from (the required ones) */
    const char *shapes[4];  /* layer input / loss predictions; variants use the first */
    const char *extra[12];  /* more key sets, on the first shape */
    const char *refuse;     /* an input the CPU plugin refuses, so the pack must too */
    double tol;             /* normalised error that passes; 0 = must be exact */
} known;

/* tolerances: products and reductions in float (any order) stay well inside 1e-5 of the
 * largest value at these sizes; selection, masking and copies have one right answer (a max
 * pool's backward adds up to kernel-area gradients: 1e-6; oneDNN's AVX-512 kernel adds them
 * in another order than a plain loop, 8.5e-8 apart) */
static const known known_plugins[] = {
    {NN_KIND_LAYER, "dense", "units=5", {"3,7", "8,33", "1,300", "100,260"},
     {"units=1", "units=17 activation=gelu", "units=2050"}, "2,3,4", 1e-5},
    {NN_KIND_LAYER, "conv2d", "filters=4 kernel=3", {"2,3,9,8", "1,1,6,6", "3,4,5,7"},
     {"stride=2", "padding=1", "padding=same", "padding=same stride=2", "padding=valid",
      "padding=1,2 kernel=3,5", "dilation=2 padding=2", "groups=3 filters=6", "kernel=1",
      "kernel=1 stride=2", "kernel=2,3 stride=2,1"},
     "2,3,4", 1e-5},
    {NN_KIND_LAYER, "maxpool2d", "kernel=2", {"2,3,8,9", "1,2,5,5"},
     {"kernel=3 stride=1", "kernel=3 stride=2 padding=1", "kernel=2,3", "kernel=3 padding=1",
      "kernel=1"},
     "2,3,4", 1e-6}, /* overlapping windows sum their gradients into an input, in any order */
    {NN_KIND_LAYER, "batchnorm", "", {"6,4", "3,4,5", "2,3,4,5"},
     {"momentum=0.5", "eps=0.1", "momentum=0"}, "5", 1e-5},
    {NN_KIND_LAYER, "dropout", "", {"4,10", "2,3,5,5", "3,7"}, {"p=0", "p=0.9", "p=0.25"},
     NULL, 0},
    {NN_KIND_LAYER, "relu", "", {"4,10", "2,3,4,5"}, {NULL}, NULL, 0},
    {NN_KIND_LAYER, "flatten", "", {"4,10", "2,3,4,5"}, {NULL}, NULL, 0},
    {NN_KIND_LOSS, "cross_entropy", "", {"5,4", "16,10", "1,3"},
     {"label_smoothing=0.1", "weight=1,2,0.5,3", "weight=1,2,0.5,3 label_smoothing=0.2",
      "ignore_index=1"},
     NULL, 1e-6},
    {NN_KIND_OPTIMIZER, "sgd", "", {NULL},
     {"momentum=0.9", "momentum=0.9 nesterov=true", "momentum=0.9 dampening=0.5",
      "momentum=0.9 weight_decay=0.01", "weight_decay=0.1", "nesterov=true"},
     NULL, 1e-6},
    {NN_KIND_OPTIMIZER, "adam", "", {NULL},
     {"amsgrad=true", "weight_decay=0.01", "betas=0.5,0.9 eps=0.001",
      "weight_decay=0.01 amsgrad=true"},
     NULL, 1e-5},
};

/* guesses for a name the table does not know: both plugins refusing one is a skip */
static const char *const guessed_layer_shapes[] = {"4,8", "2,3,6,6", "2,3,8"};

static nn_conf_check *push(nn_conf_check **list, int *n, int *cap)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        nn_conf_check *l = realloc(*list, sizeof *l * (size_t)nc);
        if (!l)
            return NULL;
        *list = l;
        *cap = nc;
    }
    nn_conf_check *c = &(*list)[(*n)++];
    memset(c, 0, sizeof *c);
    return c;
}

int nn_conf_kvs(const nn_conf_check *c, nn_kv *out)
{
    for (int i = 0; i < c->n_kv; i++)
        out[i] = (nn_kv){c->kv_text[i][0], c->kv_text[i][1], "conformance case", 0};
    return c->n_kv;
}

/* "a=1 b=x,y": adds or replaces keys */
static void set_keys(nn_conf_check *c, const char *text)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        int i = 0;
        while (i < c->n_kv && strcmp(c->kv_text[i][0], tok) != 0)
            i++;
        if (i == NN_CONF_MAX_KV)
            continue;
        if (i == c->n_kv)
            c->n_kv++;
        snprintf(c->kv_text[i][0], sizeof c->kv_text[i][0], "%s", tok);
        snprintf(c->kv_text[i][1], sizeof c->kv_text[i][1], "%s", eq + 1);
    }
}

static void set_shape(nn_conf_check *c, const char *text)
{
    c->ndim = 0;
    for (const char *p = text; p && *p && c->ndim < NN_MAX_DIMS;) {
        char *end;
        c->shape[c->ndim++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p)
            break;
    }
}

/* "[3, 7] units=5 activation=relu" */
static void make_label(nn_conf_check *c, const char *note)
{
    size_t used = 0, cap = sizeof c->label;
    if (c->ndim) {
        nn_tensor t = {0};
        nn_tensor_describe(&t, NN_F32, c->ndim, c->shape);
        char s[96];
        used += (size_t)snprintf(c->label, cap, "%s", nn_shape_str(&t, s, sizeof s));
    }
    for (int i = 0; i < c->n_kv && used < cap; i++)
        used += (size_t)snprintf(c->label + used, cap - used, "%s%s=%s", used ? " " : "",
                                 c->kv_text[i][0], c->kv_text[i][1]);
    if (!used && used < cap)
        used += (size_t)snprintf(c->label, cap, "defaults");
    if (note && used < cap)
        snprintf(c->label + used, cap - used, " (%s)", note);
}

/* values for required keys of a schema the table does not know; NULL when none fits */
static const char *guess_value(const nn_param_spec *s)
{
    switch (s->type) {
    case NN_PARAM_BOOL: return "true";
    case NN_PARAM_INT: return "3";
    case NN_PARAM_INT_LIST: return "2";
    case NN_PARAM_FLOAT: return "0.5";
    case NN_PARAM_FLOAT_LIST: return "0.5";
    default: return NULL;
    }
}

static int plugin_run(int kind)
{
    return kind == NN_KIND_LAYER || kind == NN_KIND_LOSS || kind == NN_KIND_OPTIMIZER;
}

static nn_conf_check *add(nn_conf_check **list, int *n, int *cap, const nn_plugin_entry *pack,
                          const nn_plugin_entry *cpu, const known *k, const char *keys,
                          const char *shape, const char *note)
{
    nn_conf_check *c = push(list, n, cap);
    if (!c)
        return NULL;
    int kind = pack->desc->kind;
    c->kind = kind;
    c->name = pack->desc->name;
    c->pack = pack;
    c->cpu = cpu;
    c->run = kind == NN_KIND_LAYER  ? nn_conf_run_layer
             : kind == NN_KIND_LOSS ? nn_conf_run_loss
                                    : nn_conf_run_optimizer;
    c->tol = k ? k->tol : 1e-4;
    c->probe = !k && kind != NN_KIND_OPTIMIZER;
    if (k)
        set_keys(c, k->base);
    set_keys(c, keys);
    if (shape)
        set_shape(c, shape);
    make_label(c, note);
    /* a schema variant the table lists again (amsgrad=true) is one row */
    for (int i = *n - 2; i >= 0 && (*list)[i].pack == pack; i--)
        if (strcmp((*list)[i].label, c->label) == 0 && (*list)[i].variant == c->variant) {
            (*n)--;
            return &(*list)[i];
        }
    return c;
}

int nn_conf_plugin_checks(const nn_plugin_entry *pack, const nn_plugin_entry *cpu,
                          nn_conf_check **list, int *n, int *cap)
{
    const nn_plugin_desc *d = pack->desc;
    nn_conf_check *c = push(list, n, cap);
    if (!c)
        return NN_ENOMEM;
    c->kind = d->kind;
    c->name = d->name;
    c->pack = pack;
    c->cpu = cpu;
    c->run = nn_conf_run_schema;
    snprintf(c->label, sizeof c->label, "schema (keys, types, defaults, ranges, choices)");
    if (!cpu || !plugin_run(d->kind))
        return NN_OK; /* the schema row says there is nothing to compare with */
    const known *k = NULL;
    for (size_t i = 0; i < sizeof known_plugins / sizeof known_plugins[0]; i++)
        if (known_plugins[i].kind == d->kind && strcmp(known_plugins[i].name, d->name) == 0)
            k = &known_plugins[i];
    char base[256] = "";
    if (!k) {
        size_t used = 0;
        for (const nn_param_spec *s = cpu->desc->params; s && s->name; s++) {
            if (!s->required)
                continue;
            const char *v = guess_value(s);
            if (!v) {
                if (!(c = add(list, n, cap, pack, cpu, NULL, NULL, NULL, NULL)))
                    return NN_ENOMEM;
                c->run = NULL;
                snprintf(c->label, sizeof c->label, "cases: cannot make up a value for the "
                         "required %s key '%s'", s->type == NN_PARAM_PATH ? "path" : "text",
                         s->name);
                return NN_OK;
            }
            used += (size_t)snprintf(base + used, sizeof base - used, "%s=%s ", s->name, v);
        }
    }
    const char *first = NULL;
    if (d->kind == NN_KIND_LAYER) {
        const char *const *shapes = k ? k->shapes : guessed_layer_shapes;
        int ns = k ? 4 : 3;
        for (int i = 0; i < ns && shapes[i]; i++)
            if (!add(list, n, cap, pack, cpu, k, base, shapes[i], NULL))
                return NN_ENOMEM;
        first = shapes[0];
        if (!(c = add(list, n, cap, pack, cpu, k, base, first, "no input gradient")))
            return NN_ENOMEM;
        c->variant = NN_CONF_NO_INPUT_GRAD;
        /* small integers: ties in max and argmax, zeros at the kink of relu */
        if (!(c = add(list, n, cap, pack, cpu, k, base, first, "tied inputs")))
            return NN_ENOMEM;
        c->variant = NN_CONF_TIED_INPUT;
        if (k && k->refuse) {
            if (!(c = add(list, n, cap, pack, cpu, k, base, k->refuse, "refused")))
                return NN_ENOMEM;
            c->expect_refusal = 1;
        }
    } else if (d->kind == NN_KIND_LOSS) {
        const char *const *shapes = k ? k->shapes : (const char *const[]){"5,4", NULL};
        for (int i = 0; i < 4 && shapes[i]; i++)
            if (!add(list, n, cap, pack, cpu, k, base, shapes[i], NULL))
                return NN_ENOMEM;
        first = shapes[0];
        if (!(c = add(list, n, cap, pack, cpu, k, base, first, "a class id out of range")))
            return NN_ENOMEM;
        c->variant = NN_CONF_BAD_TARGET;
        for (const nn_param_spec *s = cpu->desc->params; s && s->name; s++)
            if (strcmp(s->name, "ignore_index") == 0 && s->type == NN_PARAM_INT && s->def) {
                if (!(c = add(list, n, cap, pack, cpu, k, base, first, "ignored samples")))
                    return NN_ENOMEM;
                c->variant = NN_CONF_IGNORED;
            }
        /* probability targets [N, C] (mixup, cutmix); a stock loss must take them */
        if (!(c = add(list, n, cap, pack, cpu, k, base, first, "probability targets")))
            return NN_ENOMEM;
        c->variant = NN_CONF_SOFT_TARGET;
    } else {
        if (!add(list, n, cap, pack, cpu, k, base, NULL, NULL))
            return NN_ENOMEM;
    }
    /* the schema's choices, one key at a time */
    for (const nn_param_spec *s = cpu->desc->params; s && s->name; s++) {
        char keys[160];
        if (s->type == NN_PARAM_BOOL) {
            int on = s->def && (strcmp(s->def, "true") == 0 || strcmp(s->def, "1") == 0 ||
                                strcmp(s->def, "yes") == 0 || strcmp(s->def, "on") == 0);
            snprintf(keys, sizeof keys, "%s %s=%s", base, s->name, on ? "false" : "true");
            if (!add(list, n, cap, pack, cpu, k, keys, first, NULL))
                return NN_ENOMEM;
        } else if (s->type == NN_PARAM_ENUM && s->choices) {
            char choices[256];
            snprintf(choices, sizeof choices, "%s", s->choices);
            for (char *save = NULL, *ch = strtok_r(choices, "|", &save); ch;
                 ch = strtok_r(NULL, "|", &save)) {
                if (s->def ? strcmp(ch, s->def) == 0 : ch == choices)
                    continue;
                snprintf(keys, sizeof keys, "%s %s=%s", base, s->name, ch);
                if (!add(list, n, cap, pack, cpu, k, keys, first, NULL))
                    return NN_ENOMEM;
            }
        }
    }
    for (int i = 0; k && i < 12 && k->extra[i]; i++) {
        char keys[256];
        snprintf(keys, sizeof keys, "%s %s", base, k->extra[i]);
        if (!add(list, n, cap, pack, cpu, k, keys, first, NULL))
            return NN_ENOMEM;
        if (d->kind == NN_KIND_LOSS && !strstr(keys, "ignore_index")) {
            if (!(c = add(list, n, cap, pack, cpu, k, keys, first, "probability targets")))
                return NN_ENOMEM;
            c->variant = NN_CONF_SOFT_TARGET;
        }
    }
    return NN_OK;
}

static const char *const op_names[] = {"add", "scale", "clamp", "norm_acc", "find_nonfinite",
                                       "count_correct"};

int nn_conf_device_checks(nn_conf_check **list, int *n, int *cap)
{
    nn_conf_check *c = push(list, n, cap);
    if (!c)
        return NN_ENOMEM;
    c->name = "memory";
    c->run = nn_conf_run_backend;
    snprintf(c->label, sizeof c->label, "alloc, memset, copies, async copies, events, "
             "host buffers");
    for (int i = 0; i < (int)(sizeof op_names / sizeof op_names[0]); i++) {
        if (!(c = push(list, n, cap)))
            return NN_ENOMEM;
        c->name = op_names[i];
        c->variant = i;
        c->tol = i == 3 ? 1e-12 : 0; /* norm_acc may sum in another order */
        c->run = nn_conf_run_op;
        snprintf(c->label, sizeof c->label, "against the host's %s, with NaN and infinities",
                 op_names[i]);
    }
    return NN_OK;
}
