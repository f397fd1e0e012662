/* session.c: turns a model file into a runnable session: validates [train], opens the data,
 * builds the model, binds the loss to each plan and creates the optimizer. It computes
 * nothing itself; trainer.c and the verbs drive it. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crash.h"
#include "session.h"
#include "threads.h"

static const nn_param_spec train_keys[] = {
    {.name = "epochs", .type = NN_PARAM_INT, .def = "10", .range = "[1, 1000000]",
     .doc = "number of passes over the training data"},
    {.name = "batch_size", .type = NN_PARAM_INT, .def = "32", .range = "[1, 1048576]",
     .doc = "samples per optimizer step"},
    {.name = "seed", .type = NN_PARAM_INT, .def = "42", .range = "[0, 9.2e18]",
     .doc = "seed of every random stream (init, shuffling, augmentation, dropout)"},
    {.name = "shuffle", .type = NN_PARAM_BOOL, .def = "true", .doc = "reshuffle every epoch"},
    {.name = "drop_last", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "drop the last incomplete batch of an epoch"},
    {.name = "prefetch", .type = NN_PARAM_INT, .def = "4", .range = "[1, 64]",
     .doc = "batches decoded ahead on the thread pool"},
    {.name = "workers", .type = NN_PARAM_INT, .def = "2", .range = "[1, 64]",
     .doc = "loader threads (the results never depend on it)"},
    {.name = "checkpoint_every", .type = NN_PARAM_INT, .def = "1", .range = "[0, 1000000]",
     .doc = "write last.safetensors every N epochs (0 = only at the end)"},
    {.name = "checkpoint_minutes", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "also write last.safetensors every N minutes, mid-epoch (0 = off)"},
    {.name = "top_k", .type = NN_PARAM_INT, .def = "5", .range = "[0, 1000]",
     .doc = "report top-k accuracy for this k (0 = off)"},
    {.name = "early_stopping", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "stop when the monitored metric stops improving"},
    {.name = "monitor", .type = NN_PARAM_STRING, .def = "val_loss",
     .doc = "metric for early stopping and best.safetensors: val_loss, val_accuracy, loss, "
            "accuracy"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "auto", .choices = "auto|min|max",
     .doc = "whether the monitored metric should fall (min) or rise (max); auto: max for "
            "accuracies"},
    {.name = "patience", .type = NN_PARAM_INT, .def = "5", .range = "[1, 1000000]",
     .doc = "epochs without improvement before early stopping"},
    {.name = "min_delta", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "smallest change that counts as an improvement"},
    {.name = "restore_best", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "after early stopping, put the best epoch's weights back"},
    {.name = "plateau_hint", .type = NN_PARAM_INT, .def = "3", .range = "[1, 1000000]",
     .doc = "epochs without training-loss improvement before a hint is shown"},
    {.name = "run_dir", .type = NN_PARAM_STRING, .def = "runs",
     .doc = "directory under which runs/NAME is created (relative to the working directory)"},
    {.name = "name", .type = NN_PARAM_STRING,
     .doc = "run name (default: the model file's name without .ini)"},
    {.name = "strict_loggers", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "stop the run when a logger fails instead of switching it off"},
    /* read by the optimizer driver (core/optim), listed here so that [train] is checked whole */
    {.name = "clip_norm", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "clip the global gradient norm to this (0 = off)"},
    {.name = "clip_norm_type", .type = NN_PARAM_ENUM, .def = "2", .choices = "2|inf",
     .doc = "norm used by clip_norm"},
    {.name = "clip_value", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "clip every gradient element to [-v, v] (0 = off)"},
    {.name = "decay_bias_and_norm", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "apply weight decay to biases and normalisation parameters too"},
    {0},
};

const nn_param_spec *nn_train_schema(void) { return train_keys; }

static int mkdirs(const char *path, nn_error *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return nn_error_set(err, NN_EIO, "cannot create directory %s: %s", tmp,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return nn_error_set(err, NN_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
    return NN_OK;
}

static int parse_train(nn_session *s, nn_error *err)
{
    const nn_config_section *sec = nn_config_find(s->cfg, "train");
    char origin[300];
    snprintf(origin, sizeof origin, "%s: [train]", nn_config_path(s->cfg));
    int rc = nn_params_parse(train_keys, sec ? sec->kvs : NULL, sec ? sec->n : 0, origin,
                             &s->train_params, err);
    if (rc)
        return rc;
    const nn_params *p = s->train_params;
    nn_train_cfg *t = &s->tc;
    t->epochs = nn_params_int(p, "epochs");
    t->batch_size = nn_params_int(p, "batch_size");
    t->seed = nn_params_int(p, "seed");
    t->shuffle = nn_params_bool(p, "shuffle");
    t->drop_last = nn_params_bool(p, "drop_last");
    t->prefetch = nn_params_int(p, "prefetch");
    t->workers = nn_params_int(p, "workers");
    t->checkpoint_every = nn_params_int(p, "checkpoint_every");
    t->checkpoint_minutes = nn_params_float(p, "checkpoint_minutes");
    t->top_k = nn_params_int(p, "top_k");
    t->early_stopping = nn_params_bool(p, "early_stopping");
    t->monitor = nn_params_str(p, "monitor");
    int mode = nn_params_enum(p, "mode");
    t->monitor_max = mode == 2 || (mode == 0 && strstr(t->monitor, "acc") != NULL);
    t->patience = nn_params_int(p, "patience");
    t->min_delta = nn_params_float(p, "min_delta");
    t->restore_best = nn_params_bool(p, "restore_best");
    t->plateau_hint = nn_params_int(p, "plateau_hint");
    t->run_root = nn_params_str(p, "run_dir");
    t->strict_loggers = nn_params_bool(p, "strict_loggers");
    t->name = nn_params_str(p, "name");
    static const char *const monitors[] = {"val_loss", "val_accuracy", "loss", "accuracy",
                                           "val_top5"};
    int ok = 0;
    for (int i = 0; i < 5; i++)
        ok |= strcmp(t->monitor, monitors[i]) == 0;
    if (!ok) {
        const nn_kv *kv = nn_config_get(s->cfg, "train", "monitor");
        return nn_error_set(err, NN_EINVAL, "%s:%d: [train] monitor = '%s': expected one of "
                            "val_loss, val_accuracy, loss, accuracy", nn_config_path(s->cfg),
                            kv ? kv->line : 0, t->monitor);
    }
    return NN_OK;
}

static int open_loss(nn_session *s, nn_error *err)
{
    const nn_config_section *sec = nn_config_find(s->cfg, "loss");
    const char *type = "cross_entropy";
    snprintf(s->loss_origin, sizeof s->loss_origin, "%s: [loss]", nn_config_path(s->cfg));
    int n = sec ? sec->n : 0;
    s->loss_kvs = calloc((size_t)n + 1, sizeof *s->loss_kvs);
    if (!s->loss_kvs)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        if (strcmp(sec->kvs[k].key, "type") == 0)
            type = sec->kvs[k].value;
        else
            s->loss_kvs[s->n_loss_kvs++] = sec->kvs[k];
    }
    nn_error ferr = {0};
    s->loss_entry = nn_registry_find(s->reg, NN_KIND_LOSS, type, NULL, &ferr);
    if (!s->loss_entry)
        return nn_error_set(err, NN_ENOTFOUND, "%s: %s", s->loss_origin, ferr.msg);
    /* check the keys now rather than at the first batch */
    nn_params *probe = NULL;
    int rc = nn_params_parse(s->loss_entry->desc->params, s->loss_kvs, s->n_loss_kvs,
                             s->loss_origin, &probe, err);
    nn_params_free(probe);
    return rc;
}

int nn_session_open(nn_session *s, nn_registry *reg, nn_config *cfg, const nn_session_opts *o,
                    nn_error *err)
{
    memset(s, 0, sizeof *s);
    s->reg = reg;
    s->cfg = cfg;
    int rc = parse_train(s, err);
    if (rc)
        return rc;
    s->seed = (uint64_t)(o->seed >= 0 ? o->seed : s->tc.seed);
    char *pathcopy = strdup(nn_config_path(cfg));
    if (!pathcopy)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    snprintf(s->base_dir, sizeof s->base_dir, "%s", dirname(pathcopy));
    free(pathcopy);
    if (o->run_dir) {
        if (strlen(o->run_dir) >= sizeof s->run_dir - 64)
            return nn_error_set(err, NN_EINVAL, "run directory path is too long (%zu bytes)",
                                strlen(o->run_dir));
        snprintf(s->run_dir, sizeof s->run_dir, "%s", o->run_dir);
    } else {
        char name[200];
        if (s->tc.name) {
            snprintf(name, sizeof name, "%s", s->tc.name);
        } else {
            char *pc = strdup(nn_config_path(cfg));
            if (!pc)
                return nn_error_set(err, NN_ENOMEM, "out of memory");
            snprintf(name, sizeof name, "%s", basename(pc));
            free(pc);
            char *dot = strrchr(name, '.');
            if (dot && dot != name)
                *dot = 0;
        }
        if (strlen(s->tc.run_root) + strlen(name) >= sizeof s->run_dir - 64)
            return nn_error_set(err, NN_EINVAL, "run directory %s/%s: path is too long",
                                s->tc.run_root, name);
        size_t a = strlen(s->tc.run_root), b = strlen(name); /* both checked above */
        memcpy(s->run_dir, s->tc.run_root, a);
        s->run_dir[a] = '/';
        memcpy(s->run_dir + a + 1, name, b + 1);
    }
    if (o->run_subdir) {
        size_t l = strlen(s->run_dir);
        snprintf(s->run_dir + l, sizeof s->run_dir - l, "/%s", o->run_subdir);
    }
    if (o->mode == NN_SESSION_TRAIN && (rc = mkdirs(s->run_dir, err)))
        return rc;
    if ((rc = open_loss(s, err)))
        return rc;
    nn_data_opts dopts = {
        .base_dir = s->base_dir,
        .state_dir = o->mode == NN_SESSION_TRAIN ? s->run_dir : o->state_dir,
        .seed = s->seed,
        .fit = o->mode != NN_SESSION_EVAL,
        .folds = o->folds,
        .fold = o->fold,
        .for_eval = o->mode == NN_SESSION_EVAL,
        .inputs = o->mode == NN_SESSION_EVAL ? o->inputs : NULL,
        .n_inputs = o->mode == NN_SESSION_EVAL ? o->n_inputs : 0,
    };
    if ((rc = nn_data_open(reg, cfg, &dopts, &s->data, err)))
        return rc;
    const nn_dataset_info *info = nn_data_info(s->data);
    s->n_classes = info->n_classes;
    s->model = nn_model_new(reg, o->device);
    if (!s->model)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if ((rc = nn_model_from_config(s->model, cfg, err)))
        return rc;
    /* compile the main plan now: shape errors surface before any data is read */
    nn_loss_bind *lb;
    if ((rc = nn_session_bind(s, s->tc.batch_size, o->mode == NN_SESSION_TRAIN, &lb, err)))
        return rc;
    uint64_t flops = 0;
    nn_layer_report r;
    for (int i = 0; nn_plan_report(lb->plan, i, &r) == 0; i++)
        flops += r.flops;
    s->threads = o->threads > 0 ? o->threads : nn_threads_auto(flops);
    nn_threads_apply(s->threads);
    return NN_OK;
}

void nn_session_close(nn_session *s)
{
    for (int i = 0; i < s->n_binds; i++)
        nn_instance_destroy(&s->binds[i].inst);
    for (int i = 0; i < s->n_binds; i++)
        for (int b = 0; b < NN_MAX_LAYER_BUFFERS; b++)
            free(s->binds[i].bufs[b].dl.data);
    nn_optim_free(s->optim);
    nn_model_free(s->model);
    nn_data_free(s->data);
    nn_params_free(s->train_params);
    free(s->loss_kvs);
    memset(s, 0, sizeof *s);
}

int nn_session_bind(nn_session *s, int64_t rows, int training, nn_loss_bind **out, nn_error *err)
{
    const nn_dataset_info *info = nn_data_info(s->data);
    nn_plan *plan;
    int rc = nn_model_plan(s->model, info->sample.dl.ndim, info->sample.shape,
                           (nn_dtype)nn_tensor_dtype(&info->sample), rows, training, s->seed,
                           &plan, err);
    if (rc)
        return rc;
    for (int i = 0; i < s->n_binds; i++)
        if (s->binds[i].plan == plan) {
            *out = &s->binds[i];
            return NN_OK;
        }
    if (s->n_binds == NN_SESSION_MAX_PLANS)
        return nn_error_set(err, NN_EINTERNAL, "too many batch sizes in one session");
    nn_loss_bind *lb = &s->binds[s->n_binds];
    memset(lb, 0, sizeof *lb);
    lb->plan = plan;
    rc = nn_instance_create(&lb->inst, s->loss_entry->desc, s->loss_kvs, s->n_loss_kvs,
                            s->loss_origin, err);
    if (rc)
        return rc;
    s->n_binds++; /* owned from here, released by nn_session_close */
    int64_t tshape[NN_MAX_DIMS];
    tshape[0] = rows;
    for (int d = 0; d < info->target.dl.ndim; d++)
        tshape[d + 1] = info->target.shape[d];
    nn_tensor_describe(&lb->target, (nn_dtype)nn_tensor_dtype(&info->target),
                       info->target.dl.ndim + 1, tshape);
    lb->target.name = "target";
    lb->setup.struct_size = sizeof lb->setup;
    lb->setup.pred = nn_plan_output(plan);
    lb->setup.target = &lb->target;
    const nn_loss_vtable *vt = lb->inst.vt;
    nn_error lerr = {0};
    char a[96], b[96];
    rc = NN_PLUGIN_CALL(&lb->inst, "setup", vt->setup(lb->inst.self, &lb->setup, &lerr));
    if (rc)
        return nn_error_set(err, rc, "%s: loss '%s' given the model output %s and targets %s: %s",
                            s->loss_origin, s->loss_entry->desc->name,
                            nn_shape_str(nn_plan_output(plan), a, sizeof a),
                            nn_shape_str(&lb->target, b, sizeof b), lerr.msg);
    for (int k = 0; k < lb->setup.n_buffers; k++) {
        const nn_buffer_decl *d = &lb->setup.buffers[k];
        nn_tensor_describe(&lb->bufs[k], d->dtype, d->ndim, d->shape);
        size_t bytes = nn_tensor_nbytes(&lb->bufs[k]);
        lb->bufs[k].dl.data = aligned_alloc(NN_TENSOR_ALIGN, (bytes + 63) / 64 * 64 + 64);
        if (!lb->bufs[k].dl.data)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        lb->io.buffers[k] = &lb->bufs[k];
    }
    lb->io.struct_size = sizeof lb->io;
    lb->io.pred = nn_plan_output(plan);
    lb->io.target = &lb->target;
    lb->io.grad_pred = training ? nn_plan_grad_output(plan) : NULL;
    *out = lb;
    return NN_OK;
}

int nn_session_step(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                    nn_loss_bind **lbp, double *loss, nn_error *err)
{
    nn_loss_bind *lb;
    int rc = nn_session_bind(s, b->n, training, &lb, err);
    if (rc)
        return rc;
    nn_tensor *in = nn_plan_input(lb->plan);
    memcpy(in->dl.data, b->x->dl.data, nn_tensor_nbytes(in));
    lb->target.dl.data = b->y->dl.data;
    nn_plan_set_step_seed(lb->plan, step_seed);
    if ((rc = nn_plan_forward(lb->plan, training, err)))
        return rc;
    const nn_loss_vtable *vt = lb->inst.vt;
    nn_error lerr = {0};
    if ((rc = NN_PLUGIN_CALL(&lb->inst, "forward", vt->forward(lb->inst.self, &lb->io, &lerr))))
        return nn_error_set(err, rc, "loss '%s': %s", s->loss_entry->desc->name, lerr.msg);
    *loss = lb->io.loss;
    *lbp = lb;
    if (training && isfinite(*loss) && (rc = nn_plan_backward(lb->plan, err)))
        return rc;
    return NN_OK;
}

int nn_session_optim(nn_session *s, int64_t steps_per_epoch, nn_error *err)
{
    int n = nn_model_param_count(s->model);
    nn_optim_target *t = calloc((size_t)n + 1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        t[i].value = nn_model_param(s->model, i, &t[i].grad, &t[i].lr_mult,
                                    &t[i].weight_decay_mult, &t[i].flags);
        t[i].name = t[i].value->name;
    }
    int rc = nn_optim_new(s->reg, s->cfg, t, n, steps_per_epoch, s->tc.epochs, &s->optim, err);
    free(t);
    return rc;
}

int nn_session_tensor_count(const nn_session *s)
{
    return nn_model_param_count(s->model) + nn_model_state_count(s->model);
}

nn_tensor *nn_session_tensor(const nn_session *s, int i)
{
    int np = nn_model_param_count(s->model);
    return i < np ? nn_model_param(s->model, i, NULL, NULL, NULL, NULL)
                  : nn_model_state(s->model, i - np);
}
