/* session.c: turns a model file into a runnable session: validates [train], opens the data,
 * the device and the run directory, builds the model and creates the optimizer. It computes
 * nothing itself: session_step.c runs a batch through it, trainer.c and the verbs drive it. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "device.h"
#include "dist.h"
#include "replica_head.h"
#include "replicas.h"
#include "rundir.h"
#include "session.h"
#include "train_state.h"
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
    {.name = "run_dir", .type = NN_PARAM_STRING,
     .doc = "the run directory itself, as --run-dir (relative to the working directory; "
            "default: runs/NAME)"},
    {.name = "name", .type = NN_PARAM_STRING,
     .doc = "run name, one directory name: the default run directory is runs/NAME (default: "
            "the model file's name without .ini)"},
    {.name = "strict_loggers", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "stop the run when a logger fails instead of switching it off"},
    {.name = "check_replicas", .type = NN_PARAM_INT, .def = "0", .range = "[0, 1e9]",
     .doc = "data-parallel runs: every N steps, compare a hash of every process's parameters "
            "and stop naming the first that differs (0 = only at the start)"},
    {.name = "bucket_kb", .type = NN_PARAM_INT, .def = "1024", .range = "[1, 4194304]",
     .doc = "data-parallel runs: gradients are summed across processes in buckets of about "
            "this many KiB of whole layers, each started as soon as backward has done them"},
    {.name = "replicas", .type = NN_PARAM_INT, .def = "1", .range = "[1, 16]",
     .doc = "data parallelism inside one process: every batch is split into this many slices "
            "of consecutive rows, trained at once on one thread each (N threads in all, whatever "
            "--threads says), whose gradients are summed, as N processes of mpirun would "
            "(batchnorm uses each slice's statistics unless sync = true). For models too small "
            "for one step to use several threads well; CPU only"},
    {.name = "replica_split", .type = NN_PARAM_ENUM, .def = "auto", .choices = "auto|rows|units",
     .doc = "with replicas > 1: rows splits every layer's work by rows of the batch; units gives "
            "each replica its own units of the first layer with parameters (its rows of that "
            "layer's weights, computed over the whole batch), so that those weights stay in "
            "one core's cache, and rows for the others (layers that declare "
            "NN_CAP_SPLIT_UNITS, such as dense, with 16 units per replica or more); auto "
            "chooses units when that layer can be split and holds at least half of the "
            "parameters. Results agree with rows to rounding"},
    /* read by the optimizer driver (core/optim), listed here so that [train] is checked whole */
    {.name = "clip_norm", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "clip the global gradient norm to this (0 = off)"},
    {.name = "clip_norm_type", .type = NN_PARAM_ENUM, .def = "2", .choices = "2|inf",
     .doc = "norm used by clip_norm"},
    {.name = "clip_value", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "clip every gradient element to [-v, v] (0 = off)"},
    {.name = "accumulate", .type = NN_PARAM_INT, .def = "1", .range = "[1, 65536]",
     .doc = "micro-batches of batch_size whose gradients are summed before one optimizer step "
            "(the effective batch is accumulate x batch_size; mean losses weighted by rows, sums "
            "(reduction = sum) added). Logs count optimizer steps and report each step's loss "
            "as the effective batch would; validation and test losses are taken over as many "
            "batches, so a sum is on the same scale"},
    {.name = "precision", .type = NN_PARAM_ENUM, .def = "f32", .choices = "f32|bf16",
     .doc = "compute type of the oneDNN layers: bf16 = mixed precision (bf16 activations and "
            "kernels, f32 parameters, optimizer state and loss); refused on a CPU without bf16"},
    /* read by the trainer when a run starts fresh (core/init_from.c) */
    {.name = "init_from", .type = NN_PARAM_STRING,
     .doc = "start a new run from the weights in this safetensors file (a PyTorch state dict "
            "or a checkpoint; relative to the working directory), as --init-from"},
    {.name = "init_map", .type = NN_PARAM_STRING,
     .doc = "renames for init_from, FILE_PREFIX=MODEL_PREFIX, comma-separated, first match "
            "wins: 'features.0.=conv1., module.='"},
    {.name = "init_strict", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "init_from must fill every model tensor and use every file tensor; false keeps "
            "the initial values of what the file lacks and lists it"},
    {.name = "decay_bias_and_norm", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "apply weight decay to biases and normalisation parameters too"},
    {0},
};

const nn_param_spec *nn_train_schema(void) { return train_keys; }

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
    t->accumulate = nn_params_int(p, "accumulate");
    t->run_dir = nn_params_str(p, "run_dir");
    t->strict_loggers = nn_params_bool(p, "strict_loggers");
    t->name = nn_params_str(p, "name");
    t->bf16 = nn_params_enum(p, "precision") == 1;
    t->check_replicas = nn_params_int(p, "check_replicas");
    t->bucket_kb = nn_params_int(p, "bucket_kb");
    t->replicas = nn_params_int(p, "replicas");
    t->replica_split = nn_params_enum(p, "replica_split");
    t->init_from = nn_params_str(p, "init_from");
    t->init_map = nn_params_str(p, "init_map");
    t->init_strict = nn_params_bool(p, "init_strict");
    static const char *const monitors[] = {"val_loss", "val_accuracy", "loss", "accuracy",
                                           "val_top5"};
    int ok = 0;
    for (int i = 0; i < 5; i++)
        ok |= strcmp(t->monitor, monitors[i]) == 0;
    if (!ok) {
        char loc[400];
        return nn_error_set(err, NN_EINVAL, "%s = '%s': expected one of val_loss, "
                            "val_accuracy, loss, accuracy, val_top5",
                            nn_kv_where(loc, sizeof loc, nn_config_get(s->cfg, "train", "monitor"),
                                        "[train] monitor"),
                            t->monitor);
    }
    return NN_OK;
}

static int open_loss(nn_session *s, nn_error *err)
{
    const nn_config_section *sec = nn_config_find(s->cfg, "loss");
    const char *type = "cross_entropy";
    nn_config_origin(s->loss_origin, sizeof s->loss_origin, s->cfg, sec, "loss");
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
    s->loss_entry = nn_registry_find(s->reg, NN_KIND_LOSS, type, s->device_type, &ferr);
    if (!s->loss_entry) {
        char loc[400];
        return nn_error_set(err, NN_ENOTFOUND, "%s key 'type' = '%s': %s",
                            nn_kv_where(loc, sizeof loc, nn_config_get(s->cfg, "loss", "type"),
                                        s->loss_origin), type, ferr.msg);
    }
    /* check the keys now rather than at the first batch */
    nn_params *probe = NULL;
    int rc = nn_params_parse(s->loss_entry->desc->params, s->loss_kvs, s->n_loss_kvs,
                             s->loss_origin, &probe, err);
    nn_params_free(probe);
    return rc;
}

/* appends "kind name" to a list for a message */
static void list_add(char *buf, size_t cap, size_t *used, const char *kind, const char *name)
{
    if (*used < cap)
        *used += (size_t)snprintf(buf + *used, cap - *used, "%s%s%s%s", *used ? ", " : "",
                                  kind, kind[0] ? " " : "", name);
}

/* Every layer, the loss and (training) the optimizer must exist for the device: all that is
 * missing is reported at once, before any data is read. No silent fallback to the CPU. */
static int check_device_coverage(nn_session *s, int training, nn_error *err)
{
    if (nn_dev_is_host(s->dev))
        return NN_OK;
    char missing[1200] = "";
    size_t used = 0;
    const char *dt = s->device_type;
    for (int i = 0; i < nn_config_count(s->cfg); i++) {
        const nn_config_section *sec = nn_config_at(s->cfg, i);
        int kind = strncmp(sec->name, "layer.", 6) == 0 ? NN_KIND_LAYER
                   : strcmp(sec->name, "loss") == 0     ? NN_KIND_LOSS
                   : strcmp(sec->name, "optimizer") == 0 && training ? NN_KIND_OPTIMIZER
                                                                      : 0;
        if (!kind)
            continue;
        const nn_kv *type = nn_config_get(s->cfg, sec->name, "type");
        const char *name = type ? type->value : kind == NN_KIND_LOSS ? "cross_entropy" : NULL;
        nn_error ferr = {0};
        if (!name || nn_registry_find(s->reg, kind, name, dt, &ferr))
            continue;
        if (ferr.status == NN_EEXIST) /* two files provide it: say that, not "missing" */
            return nn_error_set(err, NN_EEXIST, "%s", ferr.msg);
        int elsewhere = 0; /* an unknown name gets the usual did-you-mean later */
        for (int k = 0; k < nn_registry_count(s->reg) && !elsewhere; k++) {
            const nn_plugin_entry *e = nn_registry_entry(s->reg, k);
            elsewhere = e->desc->kind == kind && strcmp(e->desc->name, name) == 0;
        }
        if (elsewhere && !strstr(missing, name))
            list_add(missing, sizeof missing, &used, nn_kind_name(kind), name);
    }
    if (!used && !nn_config_find(s->cfg, "loss") &&
        !nn_registry_find(s->reg, NN_KIND_LOSS, "cross_entropy", dt, NULL))
        list_add(missing, sizeof missing, &used, "loss", "cross_entropy");
    if (!used)
        return NN_OK;
    char have[1200] = "";
    size_t hu = 0;
    for (int kind = NN_KIND_LAYER; kind <= NN_KIND_OPTIMIZER; kind++)
        for (int k = 0; k < nn_registry_count(s->reg); k++) {
            const nn_plugin_entry *e = nn_registry_entry(s->reg, k);
            if (e->desc->kind == kind && strcmp(e->device, dt) == 0)
                list_add(have, sizeof have, &hu, nn_kind_name(kind), e->desc->name);
        }
    return nn_error_set(err, NN_ENOTSUP, "%s: device '%s' has no implementation of: %s; it "
                        "implements: %s (nothing falls back to the CPU: change the model, or "
                        "load a pack that has them with --plugin-dir)", nn_config_path(s->cfg),
                        nn_dev_name(s->dev), missing, hu ? have : "nothing");
}

/* A resume without --seed continues with the checkpoint's seed (the data split and every
 * random stream depend on it). In a data-parallel run rank 0 reads it (the other processes,
 * on other hosts, may not see the checkpoint) and sends it, or its refusal when it could not
 * take the run directory (rc): every process comes here, so none waits for an answer that
 * will not come. The seed in effect goes into the model file's text: RUN/model.ini and the
 * checkpoints record it. */
static int effective_seed(nn_session *s, const nn_session_opts *o, int rc, nn_error *err)
{
    uint64_t seed = 0;
    int found = rc == NN_OK && o->resume_path && o->seed < 0 && nn_dist_rank(s->dist) == 0 &&
                nn_resume_seed(o->resume_path, s->run_dir, &seed);
    if (s->dist) {
        struct {
            nn_error rank0; /* its refusal, which every process then reports as its own */
            int64_t found;
            uint64_t seed;
        } msg = {.found = found, .seed = seed};
        if (nn_dist_rank(s->dist) == 0 && rc)
            msg.rank0 = *err;
        int brc = nn_dist_broadcast(s->dist, &msg, sizeof msg, "agreeing on the run's seed", err);
        if (rc == NN_OK && brc)
            return brc;
        if (rc == NN_OK && msg.rank0.status) {
            *err = msg.rank0;
            return err->status;
        }
        found = (int)msg.found;
        seed = msg.seed;
    }
    if (rc)
        return rc;
    if (found && seed != s->seed) {
        s->seed = seed;
        s->seed_resumed = 1;
    }
    if (o->seed < 0 && !s->seed_resumed)
        return NN_OK; /* the model file's own value (or the default) */
    char set[64];
    snprintf(set, sizeof set, "train.seed=%llu", (unsigned long long)s->seed);
    return nn_config_set(s->cfg, set, err);
}

/* rank 0 (or the only process) of a training run: the run directory, locked */
static int take_run_dir(nn_session *s, const nn_session_opts *o, nn_error *err)
{
    /* the lock covers the whole run (cross-validation folds are below it) */
    int flags = (o->resume ? NN_RUNDIR_RESUME : 0) | (o->overwrite ? NN_RUNDIR_OVERWRITE : 0) |
                (o->folds > 0 ? NN_RUNDIR_FOLD : 0);
    struct stat st;
    s->made_run_dir = stat(s->run_base, &st) != 0;
    int rc = nn_rundir_lock(s->run_base, s->run_dir, flags, err);
    if (rc < 0)
        return rc;
    s->lock_fd = rc;
    s->replace_run = o->overwrite && !o->resume;
    if (o->resume_path && strcmp(o->resume_path, "auto") != 0 && !o->run_subdir)
        return nn_rundir_check_resume(s->run_dir, o->resume_path, err);
    return NN_OK;
}

int nn_session_open(nn_session *s, nn_registry *reg, nn_config *cfg, const nn_session_opts *o,
                    nn_error *err)
{
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
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
    const char *dir = o->run_dir ? o->run_dir : s->tc.run_dir;
    if (dir) {
        if (!*dir || strlen(dir) >= sizeof s->run_dir - 64)
            return nn_error_set(err, NN_EINVAL, "run directory '%s': the path is %s", dir,
                                *dir ? "too long" : "empty");
        snprintf(s->run_dir, sizeof s->run_dir, "%s", dir);
    } else {
        char name[200];
        if (s->tc.name) {
            const nn_kv *kv = nn_config_get(cfg, "train", "name");
            char origin[400];
            nn_kv_where(origin, sizeof origin, kv, "[train] name");
            if ((rc = nn_rundir_check_name(s->tc.name, origin, err)))
                return rc;
            if (strlen(s->tc.name) >= sizeof name)
                return nn_error_set(err, NN_EINVAL, "%s: the name is too long", origin);
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
        snprintf(s->run_dir, sizeof s->run_dir, "runs/%s", name);
    }
    memcpy(s->run_base, s->run_dir, sizeof s->run_base);
    if (o->run_subdir) {
        size_t l = strlen(s->run_dir);
        snprintf(s->run_dir + l, sizeof s->run_dir - l, "/%s", o->run_subdir);
    }
    s->dist = o->mode == NN_SESSION_TRAIN ? o->dist : NULL;
    if (o->mode == NN_SESSION_TRAIN && nn_dist_rank(s->dist) == 0)
        rc = take_run_dir(s, o, err);
    if (o->mode == NN_SESSION_TRAIN && (rc = effective_seed(s, o, rc, err)))
        return rc;
    if ((rc = nn_dev_open(reg, o->device, &s->dev, err)))
        return rc;
    s->device_type = nn_dev_type(s->dev);
    if ((rc = check_device_coverage(s, o->mode == NN_SESSION_TRAIN, err)))
        return rc;
    if (!nn_dev_is_host(s->dev) &&
        !(s->status = nn_dev_alloc(s->dev, sizeof(double) * NN_STATUS_SLOTS, err)))
        return err->status;
    if ((rc = open_loss(s, err)))
        return rc;
    nn_data_opts dopts = {
        .base_dir = s->base_dir,
        /* only rank 0 writes the run directory: the others fit the same artefacts and keep
         * them in memory */
        .state_dir = o->mode != NN_SESSION_TRAIN ? o->state_dir
                     : nn_dist_rank(s->dist) == 0 ? s->run_dir : NULL,
        .seed = s->seed,
        .fit = o->mode == NN_SESSION_TRAIN,
        .folds = o->folds,
        .fold = o->fold,
        .for_eval = o->mode == NN_SESSION_EVAL && !o->eval_val,
        .inputs = o->mode == NN_SESSION_EVAL ? o->inputs : NULL,
        .n_inputs = o->mode == NN_SESSION_EVAL ? o->n_inputs : 0,
    };
    if ((rc = nn_data_open(reg, cfg, &dopts, &s->data, err)))
        return rc;
    const nn_dataset_info *info = nn_data_info(s->data);
    s->n_classes = info->n_classes;
    s->model = nn_model_new(reg, s->dev);
    if (!s->model)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if (s->dist && s->tc.accumulate > 1)
        /* gradient buckets are summed across processes as backward ends, once per step */
        return nn_error_set(err, NN_EINVAL, "[train] accumulate = %lld: gradient accumulation "
                            "is not available in data-parallel runs; raise batch_size instead "
                            "(the global batch is split across the %d processes)",
                            (long long)s->tc.accumulate, nn_dist_size(s->dist));
    if (s->dist)
        nn_model_set_dist(s->model, nn_dist_layer_info(s->dist));
    if ((rc = nn_model_from_config(s->model, cfg, err)))
        return rc;
    if (s->tc.bf16 && !nn_dev_is_host(s->dev) && o->mode == NN_SESSION_TRAIN) {
        /* the device packs compute in f32 whatever nn_layer_setup.precision asks: a training
         * key that would be ignored is refused (evaluation in f32 is what bf16 training
         * evaluates against anyway) */
        char loc[400];
        return nn_error_set(err, NN_ENOTSUP, "%s = bf16: mixed precision runs on the CPU only "
                            "(oneDNN's bf16 kernels), and the device is '%s', whose kernels "
                            "compute in f32; remove the key or train on the CPU",
                            nn_kv_where(loc, sizeof loc,
                                        nn_config_get(cfg, "train", "precision"),
                                        "[train] precision"),
                            s->device_type);
    }
    nn_model_set_precision(s->model, s->tc.bf16 ? NN_BF16 : NN_F32);
    if (s->tc.replicas > 1 && o->mode != NN_SESSION_SUMMARY)
        return nn_session_replicas_open(s, o->mode == NN_SESSION_TRAIN, err);
    /* compile the main plan now: shape errors surface before any data is read. A process of
     * a data-parallel run computes the largest slice of a global batch. */
    nn_loss_bind *lb;
    int64_t ranks = nn_dist_size(s->dist);
    if ((rc = nn_session_bind(s, (nn_session_full_rows(s) + ranks - 1) / ranks,
                              o->mode == NN_SESSION_TRAIN, &lb, err)))
        return rc;
    if (s->dist && (rc = nn_dist_attach(s->dist, s->model, s->tc.bucket_kb * 1024, err)))
        return rc;
    uint64_t flops = 0;
    nn_layer_report r;
    for (int i = 0; nn_plan_report(lb->plan, i, &r) == 0; i++)
        flops += r.flops;
    s->threads = o->threads > 0 ? o->threads : nn_threads_auto(flops);
    nn_threads_apply(s->threads);
    return NN_OK;
}

int64_t nn_session_full_rows(const nn_session *s)
{
    int64_t most = 0;
    for (int p = 0; s->data && p < NN_PART_COUNT; p++) {
        int64_t n = nn_data_size(s->data, (nn_part)p);
        most = n > most ? n : most;
    }
    return most > 0 && most < s->tc.batch_size ? most : s->tc.batch_size;
}

void nn_session_close(nn_session *s)
{
    nn_gang_free(s->gang); /* its threads are idle between steps */
    for (int i = 0; i < s->n_binds; i++)
        nn_instance_destroy(&s->binds[i].inst);
    for (int i = 0; i < s->n_binds; i++) {
        nn_loss_bind *lb = &s->binds[i];
        for (int b = 0; b < NN_MAX_LAYER_BUFFERS; b++)
            nn_dev_free(s->dev, lb->bufs[b].dl.data);
        if (!nn_dev_is_host(s->dev))
            nn_dev_free(s->dev, lb->target.dl.data);
        free(lb->host_out.dl.data);
        free(lb->gang_out.dl.data);
    }
    nn_optim_free(s->optim);
    nn_head_free(s->head); /* before the model whose parameters its copies view */
    nn_model_free(s->model);
    nn_dev_free(s->dev, s->status);
    for (int i = 0; i < 2; i++) {
        nn_dev_free(s->dev, s->stage[i].x);
        nn_dev_free(s->dev, s->stage[i].y);
        nn_dev_event_free(s->dev, s->stage[i].event);
    }
    nn_dev_close(s->dev);
    nn_data_free(s->data);
    nn_params_free(s->train_params);
    free(s->loss_kvs);
    if (s->made_run_dir)
        nn_rundir_unlock_tidy(s->lock_fd, s->run_base, s->run_dir);
    else
        nn_rundir_unlock(s->lock_fd);
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
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
    int rc = nn_optim_new(s->reg, s->cfg, s->dev, t, n, steps_per_epoch, s->tc.epochs,
                          &s->optim, err);
    free(t);
    if (rc == NN_OK && s->gang)
        rc = nn_session_replicas_optim(s, err);
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

int nn_session_to_host(nn_session *s, nn_error *err)
{
    int rc = nn_model_to_host(s->model, 1, err);
    if (rc == NN_OK && s->optim)
        rc = nn_optim_to_host(s->optim, err);
    return rc;
}

int nn_session_to_device(nn_session *s, nn_error *err)
{
    return nn_model_to_device(s->model, err);
}

nn_tensor *nn_session_host_tensor(const nn_session *s, int i)
{
    int np = nn_model_param_count(s->model);
    return i < np ? nn_model_host_param(s->model, i, NULL)
                  : nn_model_host_state(s->model, i - np);
}

const nn_tensor *nn_session_host_param(const nn_session *s, int i, const nn_tensor **grad)
{
    nn_tensor *g;
    const nn_tensor *p = nn_model_host_param(s->model, i, &g);
    *grad = g;
    return p;
}
