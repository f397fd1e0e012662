/* optim.c: the optimisation driver: reads [optimizer], [scheduler] and the clipping keys of
 * [train], makes the plugins, owns the slot tensors, and runs clip -> step -> schedule.
 * Everything is allocated in nn_optim_new(); step and epoch_end never allocate. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clip_internal.h"
#include "device.h"
#include "crash.h"
#include "instance.h"
#include "nntrain/layer.h"
#include "nntrain/optimizer.h"
#include "nntrain/scheduler.h"
#include "optim.h"
#include "split.h"

#define OPTIM_STATE_MAGIC "nntrain-optim 1"

struct nn_optim {
    nn_instance opt, sched; /* sched.desc is NULL without a scheduler */
    const nn_optimizer_vtable *ovt;
    const nn_scheduler_vtable *svt;
    char *where; /* the model file's name, for messages */
    int sched_monitor_line;

    int n, n_slots;
    nn_optim_param *params;
    nn_tensor **grads;
    char **param_names;
    nn_tensor **slots;  /* n * n_slots, parameter-major */
    char **slot_names;  /* "optim.<param>.<slot>" */
    nn_optim_step st;

    double base_lr, sched_lr;
    int per_batch;
    nn_sched_ctx ctx;
    int64_t t, step, epoch;

    int64_t warmup;
    int warmup_epochs;
    double warmup_start;
    double clip_norm, clip_value;
    int clip_inf;

    nn_dev *dev;         /* where parameters, gradients and slots live */
    nn_tensor **host_slots; /* host copies of the slots (the slots themselves on the host) */
    double known_norm;   /* measured on the device this step (nn_optim_norm_known) */
    int norm_known;

    /* [train] replicas: an elementwise optimizer steps slices at once (nn_optim_set_runner) */
    nn_optim_split *split;
    nn_optim_runner run;
    void *run_ctx;
};

/* "model.ini:12: " for a key, or "model.ini: " when it came from nowhere in particular */
static void kv_where(char *buf, size_t cap, const nn_kv *kv, const char *fallback)
{
    if (kv && kv->file && kv->line > 0)
        snprintf(buf, cap, "%s:%d: ", kv->file, kv->line);
    else if (kv && kv->file)
        snprintf(buf, cap, "%s: ", kv->file);
    else
        snprintf(buf, cap, "%s: ", fallback);
}

static int bad_key(nn_error *err, const nn_kv *kv, const char *sec, const char *expected)
{
    char loc[300];
    kv_where(loc, sizeof loc, kv, "?");
    return nn_error_set(err, NN_EINVAL, "%s[%s] key '%s' = '%s': expected %s", loc, sec, kv->key,
                        kv->value, expected);
}

static int parse_num(const nn_kv *kv, const char *sec, double lo, int lo_open, double hi,
                     const char *expected, double *out, nn_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(kv->value, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == kv->value || *end || errno == ERANGE || !isfinite(v) ||
        (lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
        return bad_key(err, kv, sec, expected);
    *out = v;
    return NN_OK;
}

static int parse_bool_kv(const nn_kv *kv, const char *sec, int *out, nn_error *err)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(kv->value, yes[i]) == 0)
            return *out = 1, NN_OK;
        if (strcasecmp(kv->value, no[i]) == 0)
            return *out = 0, NN_OK;
    }
    return bad_key(err, kv, sec, "true or false");
}

/* The kvs of a section without the keys the core takes; returns the count. */
static int plugin_kvs(const nn_config_section *s, const char *const *core_keys, int n_core,
                      nn_kv *out)
{
    int m = 0;
    for (int i = 0; s && i < s->n; i++) {
        int mine = 0;
        for (int k = 0; k < n_core; k++)
            mine |= strcmp(s->kvs[i].key, core_keys[k]) == 0;
        if (!mine)
            out[m++] = s->kvs[i];
    }
    return m;
}

/* Makes a plugin instance from a section; messages get the file name and section line. */
static int make_instance(nn_registry *reg, const nn_config *cfg, const nn_config_section *s,
                         int kind, const nn_kv *type, const char *const *core_keys, int n_core,
                         const char *device, nn_instance *inst, nn_error *err)
{
    char loc[300], origin[64];
    kv_where(loc, sizeof loc, type, nn_config_path(cfg));
    const nn_plugin_entry *e = nn_registry_find(reg, kind, type->value, device, err);
    if (!e) {
        nn_error_prefix(err, "%s[%s] key 'type' = '%s'", loc, s->name, type->value);
        return err ? err->status : NN_ENOTFOUND;
    }
    nn_kv *kvs = calloc((size_t)s->n + 1, sizeof *kvs);
    if (!kvs)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int m = plugin_kvs(s, core_keys, n_core, kvs);
    snprintf(origin, sizeof origin, "[%s]", s->name);
    int rc = nn_instance_create(inst, e->desc, kvs, m, origin, err);
    free(kvs);
    if (rc && err && err->msg[0] == '[') { /* no file:line in it yet */
        if (s->line > 0)
            nn_error_prefix(err, "%s:%d", nn_config_path(cfg), s->line);
        else
            nn_error_prefix(err, "%s", nn_config_path(cfg));
    }
    return rc;
}

static int read_train_keys(nn_optim *o, const nn_config *cfg, int *decay_bias_and_norm,
                           nn_error *err)
{
    const nn_kv *kv;
    int rc;
    if ((kv = nn_config_get(cfg, "train", "clip_norm")) &&
        (rc = parse_num(kv, "train", 0, 0, INFINITY, "a number >= 0 (0 turns clipping off)",
                        &o->clip_norm, err)))
        return rc;
    if ((kv = nn_config_get(cfg, "train", "clip_norm_type"))) {
        if (strcmp(kv->value, "2") == 0 || strcmp(kv->value, "2.0") == 0)
            o->clip_inf = 0;
        else if (strcasecmp(kv->value, "inf") == 0)
            o->clip_inf = 1;
        else
            return bad_key(err, kv, "train", "2 or inf");
    }
    if ((kv = nn_config_get(cfg, "train", "clip_value")) &&
        (rc = parse_num(kv, "train", 0, 0, INFINITY, "a number >= 0 (0 turns clipping off)",
                        &o->clip_value, err)))
        return rc;
    *decay_bias_and_norm = 1;
    if ((kv = nn_config_get(cfg, "train", "decay_bias_and_norm")) &&
        (rc = parse_bool_kv(kv, "train", decay_bias_and_norm, err)))
        return rc;
    return NN_OK;
}

static int read_optimizer(nn_optim *o, nn_registry *reg, const nn_config *cfg, nn_error *err)
{
    static const char *const core_keys[] = {"type"};
    const nn_config_section *s = nn_config_find(cfg, "optimizer");
    const nn_kv *type = nn_config_get(cfg, "optimizer", "type");
    if (!s)
        return nn_error_set(err, NN_EINVAL, "%s: the model file has no [optimizer] section; add "
                            "one, for example: [optimizer] type = adam, lr = 0.001",
                            nn_config_path(cfg));
    if (!type)
        return nn_error_set(err, NN_EINVAL, "%s:%d: [optimizer] has no 'type'; name an "
                            "optimizer plugin (sgd, adam, adamw, rmsprop, adagrad, ...)",
                            nn_config_path(cfg), s->line);
    /* the optimizer runs where the parameters are; schedulers compute a number on the host */
    int rc = make_instance(reg, cfg, s, NN_KIND_OPTIMIZER, type, core_keys, 1,
                           nn_dev_type(o->dev), &o->opt, err);
    if (rc)
        return rc;
    o->ovt = o->opt.vt;
    const nn_param_spec *lr = NULL;
    for (const nn_param_spec *p = o->opt.desc->params; p && p->name; p++)
        if (strcmp(p->name, "lr") == 0)
            lr = p;
    if (!lr || lr->type != NN_PARAM_FLOAT)
        return nn_error_set(err, NN_EABI, "optimizer plugin '%s' has no float key 'lr' in its "
                            "schema; the core reads the base learning rate from it",
                            o->opt.desc->name);
    o->base_lr = nn_params_float(o->opt.params, "lr");
    return NN_OK;
}

/* The keys the core itself reads from [scheduler]: one schema validates them and documents
 * them (`nntrain plugins show` of any scheduler, `nntrain help train`). */
static const nn_param_spec warmup_schema[] = {
    {.name = "type", .type = NN_PARAM_STRING,
     .doc = "the scheduler plugin, or none for a constant rate (warm-up still applies)"},
    {.name = "warmup_steps", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "batches over which the rate rises linearly from warmup_start_factor times the "
            "scheduled rate to the full rate (not with warmup_epochs)"},
    {.name = "warmup_epochs", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "the same warm-up counted in epochs, raised once per epoch (not with warmup_steps)"},
    {.name = "warmup_start_factor", .type = NN_PARAM_FLOAT, .def = "0.333333333333",
     .range = "(0, 1]",
     .doc = "factor of the scheduled rate at the first warm-up step (PyTorch's LinearLR: 1/3)"},
    {0},
};

const nn_param_spec *nn_optim_scheduler_core_keys(void)
{
    return warmup_schema;
}

static int read_warmup(nn_optim *o, const nn_config *cfg, const nn_config_section *s,
                       nn_error *err)
{
    nn_kv core[8];
    int n = 0;
    for (int i = 0; s && i < s->n; i++)
        for (const nn_param_spec *k = warmup_schema; k->name && n < 8; k++)
            if (strcmp(s->kvs[i].key, k->name) == 0)
                core[n++] = s->kvs[i];
    nn_params *p = NULL;
    int rc = nn_params_parse(warmup_schema, core, n, "[scheduler]", &p, err);
    if (rc)
        return rc;
    const nn_kv *we = nn_config_get(cfg, "scheduler", "warmup_epochs");
    if (nn_params_is_set(p, "warmup_steps") && we) {
        char loc[300];
        kv_where(loc, sizeof loc, we, nn_config_path(cfg));
        nn_params_free(p);
        return nn_error_set(err, NN_EINVAL, "%s[scheduler] key 'warmup_epochs': give either "
                            "warmup_steps or warmup_epochs, not both", loc);
    }
    o->warmup_epochs = we != NULL;
    o->warmup = nn_params_int(p, we ? "warmup_epochs" : "warmup_steps");
    o->warmup_start = nn_params_is_set(p, "warmup_start_factor")
                          ? nn_params_float(p, "warmup_start_factor")
                          : 1.0 / 3.0;
    nn_params_free(p);
    return NN_OK;
}

/* A scheduler's start() refusal at its key's line; one that names the optimizer's lr (the
 * base rate it was given) also says where lr is set, as the two keys belong together. */
static int start_failed(nn_optim *o, const nn_config *cfg, const nn_config_section *s, int rc,
                        const nn_error *perr, nn_error *err)
{
    char origin[300], loc[400];
    if (!err)
        return rc < 0 ? rc : NN_EINTERNAL;
    *err = *perr;
    rc = nn_instance_blame(o->sched.desc, s->kvs, s->n,
                           nn_config_origin(origin, sizeof origin, cfg, s, NULL), NULL, rc, err);
    const nn_kv *lr = nn_config_get(cfg, "optimizer", "lr");
    if (lr && strstr(perr->msg, "key 'lr'")) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, " (see %s key 'lr')",
                 nn_kv_where(loc, sizeof loc, lr, "[optimizer]"));
    }
    return rc;
}

static int read_scheduler(nn_optim *o, nn_registry *reg, const nn_config *cfg, nn_error *err)
{
    static const char *const core_keys[] = {"type", "warmup_steps", "warmup_epochs",
                                            "warmup_start_factor"};
    const nn_config_section *s = nn_config_find(cfg, "scheduler");
    int rc = read_warmup(o, cfg, s, err);
    if (rc)
        return rc;

    const nn_kv *type = nn_config_get(cfg, "scheduler", "type");
    if (!type || strcmp(type->value, "none") == 0) {
        for (int i = 0; s && i < s->n; i++) {
            int mine = 0;
            for (int k = 0; k < 4; k++)
                mine |= strcmp(s->kvs[i].key, core_keys[k]) == 0;
            if (!mine) {
                char loc[300];
                kv_where(loc, sizeof loc, &s->kvs[i], nn_config_path(cfg));
                return nn_error_set(err, NN_EINVAL, "%s[scheduler] key '%s' belongs to a "
                                    "scheduler plugin, but [scheduler] has no 'type'", loc,
                                    s->kvs[i].key);
            }
        }
        o->sched_lr = o->base_lr;
        return NN_OK;
    }
    rc = make_instance(reg, cfg, s, NN_KIND_SCHEDULER, type, core_keys, 4, NULL, &o->sched,
                       err);
    if (rc)
        return rc;
    o->svt = o->sched.vt;
    const nn_kv *mon = nn_config_get(cfg, "scheduler", "monitor");
    o->sched_monitor_line = mon ? mon->line : s->line;
    nn_sched_info info = {.struct_size = sizeof info};
    nn_error perr = {0};
    rc = NN_PLUGIN_CALL(&o->sched, "start",
                        o->svt->start(o->sched.self, &o->ctx, &info, &o->sched_lr, &perr));
    if (rc)
        return start_failed(o, cfg, s, rc, &perr, err);
    o->per_batch = info.per_batch;
    o->ctx.metric_name = info.monitor;
    return NN_OK;
}

/* A warm-up as long as the run or longer never reaches lr. Only a warning: the run may be
 * resumed later with more epochs. */
static void warn_long_warmup(const nn_optim *o, const nn_config *cfg)
{
    const char *key = o->warmup_epochs ? "warmup_epochs" : "warmup_steps";
    int64_t total = o->warmup_epochs ? o->ctx.total_epochs
                                     : o->ctx.steps_per_epoch * o->ctx.total_epochs;
    if (o->warmup <= 0 || total <= 0 || o->warmup < total)
        return;
    char loc[400];
    fprintf(stderr, "nntrain: warning: %s key '%s' = %lld is not shorter than the whole run "
            "(%lld %s: %lld epochs of %lld steps), so the rate never reaches lr = %g\n",
            nn_kv_where(loc, sizeof loc, nn_config_get(cfg, "scheduler", key), "[scheduler]"),
            key, (long long)o->warmup, (long long)total, o->warmup_epochs ? "epochs" : "steps",
            (long long)o->ctx.total_epochs, (long long)o->ctx.steps_per_epoch, o->base_lr);
}

static int add_targets(nn_optim *o, const nn_optim_target *targets, int n, int decay_bn,
                       nn_error *err)
{
    nn_optim_setup setup = {.struct_size = sizeof setup, .device = nn_dev_public(o->dev)};
    int rc = NN_PLUGIN_CALL(&o->opt, "setup", o->ovt->setup(o->opt.self, &setup, err));
    if (rc)
        return rc;
    if (setup.n_slots < 0 || setup.n_slots > NN_MAX_OPTIM_SLOTS)
        return nn_error_set(err, NN_EABI, "optimizer '%s' asked for %d slots (at most %d)",
                            o->opt.desc->name, setup.n_slots, NN_MAX_OPTIM_SLOTS);
    for (int s = 0; s < setup.n_slots; s++)
        if (!setup.slot_names[s] || !*setup.slot_names[s])
            return nn_error_set(err, NN_EABI, "optimizer '%s': slot %d has no name",
                                o->opt.desc->name, s);
    o->n = n;
    o->n_slots = setup.n_slots;
    o->params = calloc((size_t)n + 1, sizeof *o->params);
    o->grads = calloc((size_t)n + 1, sizeof *o->grads);
    o->param_names = calloc((size_t)n + 1, sizeof *o->param_names);
    o->slots = calloc((size_t)(n * o->n_slots) + 1, sizeof *o->slots);
    o->host_slots = calloc((size_t)(n * o->n_slots) + 1, sizeof *o->host_slots);
    o->slot_names = calloc((size_t)(n * o->n_slots) + 1, sizeof *o->slot_names);
    if (!o->params || !o->grads || !o->param_names || !o->slots || !o->host_slots ||
        !o->slot_names)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const nn_optim_target *t = &targets[i];
        const char *nm = t->name ? t->name : "?";
        char a[100], b[100];
        if (!t->value || !t->grad)
            return nn_error_set(err, NN_EINVAL, "parameter '%s' has no %s tensor", nm,
                                t->value ? "gradient" : "value");
        if (nn_tensor_dtype(t->value) != NN_F32 || nn_tensor_dtype(t->grad) != NN_F32)
            return nn_error_set(err, NN_ENOTSUP, "parameter '%s': optimizers update float32 "
                                "tensors only", nm);
        if (!nn_shape_equal(t->value, t->grad))
            return nn_error_set(err, NN_ESHAPE, "parameter '%s' is %s but its gradient is %s",
                                nm, nn_shape_str(t->value, a, sizeof a),
                                nn_shape_str(t->grad, b, sizeof b));
        o->param_names[i] = strdup(nm);
        if (!o->param_names[i])
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        nn_optim_param *p = &o->params[i];
        p->name = o->param_names[i];
        p->value = t->value;
        p->grad = t->grad;
        p->lr_mult = t->lr_mult;
        p->weight_decay_mult = t->weight_decay_mult;
        if (!decay_bn && (t->flags & (NN_TENSOR_BIAS | NN_TENSOR_NORM)))
            p->weight_decay_mult = 0;
        p->flags = t->flags;
        o->grads[i] = t->grad;
        for (int s = 0; s < o->n_slots; s++) {
            int k = i * o->n_slots + s;
            size_t len = strlen(nm) + strlen(setup.slot_names[s]) + 8;
            o->slot_names[k] = malloc(len);
            o->host_slots[k] = nn_tensor_new(NN_F32, t->value->dl.ndim, t->value->shape);
            if (!o->slot_names[k] || !o->host_slots[k])
                return nn_error_set(err, NN_ENOMEM, "out of memory allocating the optimizer "
                                    "state of '%s'", nm);
            snprintf(o->slot_names[k], len, "optim.%s.%s", nm, setup.slot_names[s]);
            o->host_slots[k]->name = o->slot_names[k];
            if (nn_dev_is_host(o->dev)) {
                o->slots[k] = o->host_slots[k];
            } else {
                /* the slot's description, its bytes on the device (zeroed) */
                if (!(o->slots[k] = malloc(sizeof *o->slots[k])))
                    return nn_error_set(err, NN_ENOMEM, "out of memory");
                *o->slots[k] = *o->host_slots[k];
                o->slots[k]->dl.shape = o->slots[k]->shape;
                o->slots[k]->dl.strides = o->slots[k]->strides;
                o->slots[k]->dl.device = nn_dev_public(o->dev)->dl;
                o->slots[k]->dl.data = nn_dev_alloc(o->dev, nn_tensor_nbytes(o->slots[k]), err);
                if (!o->slots[k]->dl.data) {
                    free(o->slots[k]);
                    o->slots[k] = NULL;
                    nn_error_prefix(err, "the optimizer state of '%s'", nm);
                    return err->status;
                }
            }
            p->slots[s] = o->slots[k];
        }
    }
    o->st = (nn_optim_step){.struct_size = sizeof o->st, .n_params = n, .params = o->params,
                            .device = nn_dev_public(o->dev)};
    return NN_OK;
}

int nn_optim_new(nn_registry *reg, const nn_config *cfg, struct nn_dev *dev,
                 const nn_optim_target *targets, int n, int64_t steps_per_epoch, int64_t epochs,
                 nn_optim **out, nn_error *err)
{
    *out = NULL;
    if (n < 0 || (n > 0 && !targets))
        return nn_error_set(err, NN_EINVAL, "nn_optim_new: %d parameters", n);
    nn_optim *o = calloc(1, sizeof *o);
    if (!o)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    o->ctx = (nn_sched_ctx){.struct_size = sizeof o->ctx, .steps_per_epoch = steps_per_epoch,
                            .total_epochs = epochs, .metric = NAN};
    o->dev = dev ? dev : nn_dev_host();
    int decay_bn = 1;
    int rc = read_train_keys(o, cfg, &decay_bn, err);
    if (!rc)
        rc = read_optimizer(o, reg, cfg, err);
    o->ctx.base_lr = o->base_lr;
    if (!rc)
        rc = read_scheduler(o, reg, cfg, err);
    if (!rc)
        warn_long_warmup(o, cfg);
    if (!rc)
        rc = add_targets(o, targets, n, decay_bn, err);
    if (!rc && !(o->where = strdup(nn_config_path(cfg))))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    if (rc) {
        nn_optim_free(o);
        return rc;
    }
    *out = o;
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (!o)
        return;
    for (int k = 0; o->slots && k < o->n * o->n_slots; k++)
        if (o->slots[k] && o->slots[k] != o->host_slots[k]) {
            nn_dev_free(o->dev, o->slots[k]->dl.data);
            free(o->slots[k]);
        }
    for (int k = 0; o->host_slots && k < o->n * o->n_slots; k++)
        nn_tensor_free(o->host_slots[k]);
    free(o->host_slots);
    for (int k = 0; o->slot_names && k < o->n * o->n_slots; k++)
        free(o->slot_names[k]);
    for (int i = 0; o->param_names && i < o->n; i++)
        free(o->param_names[i]);
    free(o->slots);
    free(o->slot_names);
    free(o->param_names);
    free(o->params);
    free(o->grads);
    nn_optim_split_free(o->split);
    if (o->sched.desc)
        nn_instance_destroy(&o->sched);
    if (o->opt.desc)
        nn_instance_destroy(&o->opt);
    free(o->where);
    free(o);
}

/* start + (1 - start) * done / warmup, reaching 1 after `warmup` steps or epochs */
static double warmup_factor(const nn_optim *o)
{
    int64_t done = o->warmup_epochs ? o->epoch : o->step;
    if (o->warmup <= 0 || done >= o->warmup)
        return 1.0;
    return o->warmup_start + (1.0 - o->warmup_start) * (double)done / (double)o->warmup;
}

double nn_optim_lr(const nn_optim *o)
{
    return o->sched_lr * warmup_factor(o);
}

static int sched_step(nn_optim *o, nn_error *err)
{
    o->ctx.epoch = o->epoch;
    o->ctx.step = o->step;
    nn_error perr = {0};
    int rc = NN_PLUGIN_CALL(&o->sched, "step",
                            o->svt->step(o->sched.self, &o->ctx, &o->sched_lr, &perr));
    if (rc)
        return nn_error_set(err, rc, "%s: [scheduler] scheduler '%s': %s", o->where,
                            o->sched.desc->name, perr.msg);
    return NN_OK;
}

int nn_optim_norm_enqueue(nn_optim *o, double *dev_acc, nn_error *err)
{
    int rc = nn_dev_memset(o->dev, dev_acc, 0, sizeof *dev_acc, err);
    for (int i = 0; i < o->n && rc == NN_OK; i++)
        rc = nn_dev_norm_acc(o->dev, o->grads[i], o->clip_inf, dev_acc, err);
    return rc;
}

void nn_optim_norm_known(nn_optim *o, double acc)
{
    o->known_norm = o->clip_inf ? acc : sqrt(acc);
    o->norm_known = 1;
}

void nn_optim_norm_sumsq(nn_optim *o, double sumsq)
{
    if (!o->clip_inf)
        nn_optim_norm_known(o, sumsq);
}

/* the global gradient norm: measured with the step (the device's status, the replicas' sum),
 * the host's own computation, or read from the device now at the cost of a synchronisation */
static int grad_norm(nn_optim *o, double *norm, nn_error *err)
{
    if (!o->norm_known && nn_dev_is_host(o->dev)) {
        *norm = nn_grad_norm(o->grads, o->n, o->clip_inf);
        return NN_OK;
    }
    if (!o->norm_known) {
        double *acc = nn_dev_alloc(o->dev, sizeof *acc, err), v = NAN;
        int rc = acc ? nn_optim_norm_enqueue(o, acc, err) : err->status;
        if (rc == NN_OK)
            rc = nn_dev_copy(o->dev, &v, acc, sizeof v, NN_COPY_DEVICE_TO_HOST, err);
        nn_dev_free(o->dev, acc);
        if (rc)
            return rc;
        nn_optim_norm_known(o, v);
    }
    *norm = o->known_norm;
    return NN_OK;
}

static int clip(nn_optim *o, double norm, nn_error *err)
{
    int host = nn_dev_is_host(o->dev), rc = NN_OK;
    if (o->clip_norm > 0) {
        if (host)
            nn_grad_clip_scale(o->grads, o->n, norm, o->clip_norm);
        else if (o->clip_norm / (norm + 1e-6) < 1.0)
            for (int i = 0; i < o->n && rc == NN_OK; i++)
                rc = nn_dev_scale(o->dev, o->grads[i], (float)(o->clip_norm / (norm + 1e-6)),
                                  err);
    }
    if (o->clip_value > 0) {
        if (host)
            nn_clip_grad_value(o->grads, o->n, o->clip_value);
        else
            for (int i = 0; i < o->n && rc == NN_OK; i++)
                rc = nn_dev_clamp(o->dev, o->grads[i], (float)-o->clip_value,
                                  (float)o->clip_value, err);
    }
    return rc;
}

/* one slice of a split step, on one of the runner's threads */
static int step_part(void *arg, int part, nn_error *err)
{
    nn_optim *o = arg;
    return NN_PLUGIN_CALL(&o->opt, "step",
                          o->ovt->step(o->opt.self, nn_optim_split_step(o->split, part), err));
}

int nn_optim_set_runner(nn_optim *o, int n, nn_optim_runner run, void *ctx,
                        const nn_optim_owned *own, int n_own, nn_error *err)
{
    nn_optim_split_free(o->split);
    o->split = NULL;
    if (n < 2 || !run || !(o->opt.desc->caps & NN_CAP_ELEMENTWISE) || !nn_dev_is_host(o->dev))
        return NN_OK; /* one call over every parameter */
    int rc = nn_optim_split_new(o->params, o->n, o->n_slots, n, own, n_own, &o->split, err);
    for (int r = 0; rc == NN_OK && r < n; r++)
        nn_optim_split_step(o->split, r)->device = o->st.device;
    o->run = run;
    o->run_ctx = ctx;
    return rc;
}

int nn_optim_update(nn_optim *o, int want_norm, double *grad_norm_out, nn_error *err)
{
    double norm = NAN;
    int rc;
    if (o->clip_norm > 0 || want_norm) {
        rc = grad_norm(o, &norm, err);
        o->norm_known = 0;
        if (rc)
            return rc;
        if (grad_norm_out)
            *grad_norm_out = norm;
        if (!isfinite(norm))
            return nn_error_set(err, NN_ENONFINITE, "the gradient norm is %g at optimizer step "
                                "%lld; the step was skipped", norm, (long long)o->t + 1);
    } else if (grad_norm_out) {
        *grad_norm_out = NAN;
    }
    o->norm_known = 0;
    if ((rc = clip(o, norm, err)))
        return rc;
    o->st.t = o->t + 1;
    o->st.lr = nn_optim_lr(o);
    nn_error perr = {0};
    if (o->split) {
        for (int r = 0; r < nn_optim_split_parts(o->split); r++) {
            nn_optim_split_step(o->split, r)->t = o->st.t;
            nn_optim_split_step(o->split, r)->lr = o->st.lr;
        }
        rc = o->run(o->run_ctx, nn_optim_split_parts(o->split), step_part, o, &perr);
    } else {
        rc = NN_PLUGIN_CALL(&o->opt, "step", o->ovt->step(o->opt.self, &o->st, &perr));
    }
    if (rc)
        return nn_error_set(err, rc, "optimizer '%s' step %lld: %s", o->opt.desc->name,
                            (long long)o->st.t, perr.msg);
    o->t++;
    o->step++;
    if (o->svt && o->per_batch)
        return sched_step(o, err);
    return NN_OK;
}

int nn_optim_epoch_end(nn_optim *o, int64_t epoch, int n_metrics, const char *const *names,
                       const double *values, nn_error *err)
{
    o->epoch = epoch + 1;
    if (!o->svt)
        return NN_OK;
    o->ctx.metric = NAN;
    if (o->ctx.metric_name && n_metrics > 0) {
        int found = 0;
        char have[256] = "";
        size_t used = 0;
        for (int i = 0; i < n_metrics; i++) {
            if (strcmp(names[i], o->ctx.metric_name) == 0) {
                o->ctx.metric = values[i];
                found = 1;
            }
            if (used < sizeof have)
                used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "",
                                         names[i]);
        }
        if (!found)
            return nn_error_set(err, NN_EINVAL, "%s:%d: [scheduler] monitor '%s': validation "
                                "reported no such metric (it reported: %s)", o->where,
                                o->sched_monitor_line, o->ctx.metric_name, have);
    }
    if (o->per_batch)
        return NN_OK;
    return sched_step(o, err);
}

int nn_optim_tensor_count(const nn_optim *o)
{
    return o->n * o->n_slots;
}

nn_tensor *nn_optim_tensor(const nn_optim *o, int i, const char **name)
{
    if (i < 0 || i >= o->n * o->n_slots)
        return NULL;
    if (name)
        *name = o->slot_names[i];
    return o->slots[i];
}

nn_tensor *nn_optim_host_tensor(const nn_optim *o, int i, const char **name)
{
    if (i < 0 || i >= o->n * o->n_slots)
        return NULL;
    if (name)
        *name = o->slot_names[i];
    return o->host_slots[i];
}

static int sync_slots(nn_optim *o, int to_host, nn_error *err)
{
    int rc = NN_OK;
    for (int k = 0; !nn_dev_is_host(o->dev) && k < o->n * o->n_slots && rc == NN_OK; k++)
        rc = to_host ? nn_dev_download(o->dev, o->host_slots[k], o->slots[k], err)
                     : nn_dev_upload(o->dev, o->slots[k], o->host_slots[k], err);
    return rc;
}

int nn_optim_to_host(nn_optim *o, nn_error *err)
{
    return sync_slots(o, 1, err);
}

int nn_optim_to_device(nn_optim *o, nn_error *err)
{
    return sync_slots(o, 0, err);
}

const char *nn_optim_monitor(const nn_optim *o)
{
    return o->svt ? o->ctx.metric_name : NULL;
}

int nn_optim_state_save(const nn_optim *o, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     OPTIM_STATE_MAGIC "\noptimizer %s\nscheduler %s\nt %lld\nstep %lld\n"
                     "epoch %lld\nsched_lr %a\nbase_lr %a\nscheduler_state\n",
                     o->opt.desc->name, o->svt ? o->sched.desc->name : "none", (long long)o->t,
                     (long long)o->step, (long long)o->epoch, o->sched_lr, o->base_lr);
    if (n < 0)
        return NN_EINTERNAL;
    if (o->svt && o->svt->state_save) {
        size_t used = (size_t)n;
        int m = NN_PLUGIN_CALL(&o->sched, "state_save",
                               o->svt->state_save(o->sched.self, used < cap ? buf + used : NULL,
                                                  used < cap ? cap - used : 0, NULL));
        if (m < 0)
            return m;
        n += m;
    }
    return n;
}

int nn_optim_state_load(nn_optim *o, const char *text, int print, nn_error *err)
{
    char oname[64], sname[64];
    long long t, step, epoch;
    double lr, base = NAN;
    int used = 0;
    const char *body = text + sizeof OPTIM_STATE_MAGIC;
    int ok = strncmp(text, OPTIM_STATE_MAGIC "\n", sizeof OPTIM_STATE_MAGIC) == 0;
    if (ok && (sscanf(body, "optimizer %63s scheduler %63s t %lld step %lld epoch %lld "
                      "sched_lr %la base_lr %la scheduler_state%n", oname, sname, &t, &step,
                      &epoch, &lr, &base, &used) != 7 || used == 0)) {
        used = 0; /* written before base_lr was saved */
        base = NAN;
        ok = sscanf(body, "optimizer %63s scheduler %63s t %lld step %lld epoch %lld "
                    "sched_lr %la scheduler_state%n", oname, sname, &t, &step, &epoch, &lr,
                    &used) == 6 && used > 0;
    }
    if (!ok || t < 0 || step < 0 || epoch < 0 || !(lr >= 0) || (!isnan(base) && !(base > 0)))
        return nn_error_set(err, NN_EFORMAT, "optimizer state is malformed: expected '"
                            OPTIM_STATE_MAGIC "' followed by optimizer, scheduler, t, step, "
                            "epoch, sched_lr and scheduler_state lines");
    const char *sched_now = o->svt ? o->sched.desc->name : "none";
    if (strcmp(oname, o->opt.desc->name) != 0)
        return nn_error_set(err, NN_EINVAL, "%s: [optimizer] type is '%s' but the checkpoint's "
                            "optimizer state is from '%s'", o->where, o->opt.desc->name, oname);
    const char *rest = body + used;
    if (*rest == '\n')
        rest++;
    int new_sched = strcmp(sname, sched_now) != 0;
    if (new_sched) {
        /* the counters carry on; the new schedule starts from its first rate */
        if (print)
            fprintf(stderr, "nntrain: changed on resume: scheduler.type %s -> %s (the new "
                    "scheduler starts from its initial state)\n", sname, sched_now);
        o->t = t;
        o->step = step;
        o->epoch = epoch;
        o->ctx.epoch = epoch;
        o->ctx.step = step;
        return NN_OK;
    }
    if (o->svt && o->svt->state_load) {
        nn_error perr = {0};
        int rc = NN_PLUGIN_CALL(&o->sched, "state_load",
                                o->svt->state_load(o->sched.self, rest, &perr));
        if (rc)
            return nn_error_set(err, rc, "[scheduler] scheduler '%s': %s", sname, perr.msg);
    }
    o->t = t;
    o->step = step;
    o->epoch = epoch;
    o->sched_lr = lr;
    if (!isnan(base) && base != o->base_lr) {
        /* a new base rate applies to the schedule where it stands */
        o->sched_lr = lr * (o->base_lr / base);
        if (print)
            fprintf(stderr, "nntrain: changed on resume: the learning rate now starts from %g "
                    "(was %g at this step)\n", nn_optim_lr(o), lr * warmup_factor(o));
    }
    o->ctx.epoch = epoch;
    o->ctx.step = step;
    return NN_OK;
}
