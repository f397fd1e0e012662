/* train_open.c: what a training run does before its first step: the training and validation
 * loaders, the checks that would otherwise fail only later (a missing test split, a monitored
 * val_* metric without validation data, targets the loss cannot take), the resume or
 * [train] init_from, the loggers and the run's copy of its model file. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dist.h"
#include "file_replace.h"
#include "init_from.h"
#include "trainer_internal.h"

/* [train] init_from: load, then say what was left at its initial values */
static int init_from(nn_session *s, const nn_train_opts *o, nn_error *err)
{
    char where[600];
    const nn_kv *kv = nn_config_get(s->cfg, "train", "init_from");
    if (kv && kv->line > 0) /* the model file's */
        snprintf(where, sizeof where, "%s:%d: [train] init_from = %s", kv->file, kv->line,
                 s->tc.init_from);
    else if (kv && kv->file && strcmp(kv->file, "--init-from") == 0)
        snprintf(where, sizeof where, "--init-from %s", s->tc.init_from);
    else /* --set train.init_from=FILE */
        snprintf(where, sizeof where, "--set train.init_from=%s", s->tc.init_from);
    nn_init_opts io = {.path = s->tc.init_from, .map = s->tc.init_map,
                       .strict = s->tc.init_strict, .allow_nonfinite = o->allow_nonfinite,
                       .where = where};
    nn_init_report r;
    int rc = nn_init_from(s, &io, &r, err);
    if (rc == NN_OK && o->verbosity >= 0)
        nn_init_report_print(stdout, s->tc.init_from, &r, nn_session_tensor_count(s));
    return rc;
}

static int open_loaders(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    nn_loader_opts lo = {
        .batch_size = s->tc.batch_size,
        .shuffle = s->tc.shuffle,
        .drop_last = s->tc.drop_last,
        .prefetch = (int)s->tc.prefetch,
        .workers = (int)s->tc.workers,
        .augment = 1,
        .host_alloc = nn_session_host_alloc,
        .host_free = nn_session_host_free,
        .alloc_ctx = s,
        .shard_rank = nn_dist_rank(s->dist),
        .shard_count = nn_dist_size(s->dist),
    };
    int rc = nn_loader_new(s->data, NN_PART_TRAIN, &lo, &t->train_l, err);
    if (rc)
        return rc;
    t->steps_per_epoch = nn_loader_batches(t->train_l);
    if (t->steps_per_epoch == 0)
        return nn_error_set(err, NN_EINVAL, "%s: the training part is empty (batch_size %lld, "
                            "drop_last %s)", nn_config_path(s->cfg), (long long)s->tc.batch_size,
                            s->tc.drop_last ? "true" : "false");
    if (nn_data_size(s->data, NN_PART_VAL) > 0) {
        lo.shuffle = 0;
        lo.drop_last = 0;
        lo.augment = 0;
        if ((rc = nn_loader_new(s->data, NN_PART_VAL, &lo, &t->val_l, err)))
            return rc;
    }
    return NN_OK;
}

/* A monitored val_* metric needs validation data, or early stopping and plateau schedules
 * would wait forever without a word. */
static int check_monitors(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    if (t->val_l)
        return NN_OK;
    const char *m = s->tc.monitor;
    if (strncmp(m, "val_", 4) == 0) {
        const nn_kv *kv = nn_config_get(s->cfg, "train", "monitor");
        const nn_kv *es = nn_config_get(s->cfg, "train", "early_stopping");
        int line = kv && kv->line ? kv->line : (es ? es->line : 0); /* 0: from --set */
        char at[16] = "";
        if (line > 0)
            snprintf(at, sizeof at, ":%d", line);
        if (s->tc.early_stopping)
            return nn_error_set(err, NN_EINVAL, "%s%s: [train] early_stopping monitors '%s', "
                                "but there is no validation data: set [data] val_split "
                                "(e.g. 0.1) or [train] monitor = loss", nn_config_path(s->cfg),
                                at, m);
        char loc[400];
        if (kv) /* an explicit choice: best.safetensors would never be written */
            return nn_error_set(err, NN_EINVAL, "%s = %s, but there is no validation data: set "
                                "[data] val_split (e.g. 0.1) or monitor = loss",
                                nn_kv_where(loc, sizeof loc, kv, "[train] monitor"), m);
        s->tc.monitor = "loss"; /* the default follows the data */
    }
    const char *sm = nn_optim_monitor(s->optim);
    if (sm && strncmp(sm, "val_", 4) == 0) {
        const nn_kv *kv = nn_config_get(s->cfg, "scheduler", "monitor");
        const nn_kv *ty = nn_config_get(s->cfg, "scheduler", "type");
        return nn_error_set(err, NN_EINVAL, "%s:%d: [scheduler] %s monitors '%s', but there is "
                            "no validation data: set [data] val_split (e.g. 0.1) or [scheduler] "
                            "monitor = loss", nn_config_path(s->cfg),
                            kv ? kv->line : (ty ? ty->line : 0), ty ? ty->value : "", sm);
    }
    return NN_OK;
}

/* The loss must take the targets of every split it will see. Training batches' (what the
 * batch transforms made of them: mixup's F32 [C]) are bound at the first step; validation's
 * and the test split's are never transformed, and were bound only at the first validation,
 * after a whole epoch. Bound now: the plan of a full batch is the one validation uses; a
 * sliced run (replicas, processes) checks on a plan of one row. */
static int check_eval_targets(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    int64_t rows = s->dist || s->gang ? 1 : nn_session_full_rows(s);
    nn_loss_bind *lb;
    int rc = nn_session_bind(s, rows, 0, &lb, err);
    if (rc)
        nn_error_prefix(err, "%s: the %s targets (not transformed) cannot be given to the "
                        "loss, checked before training", nn_config_path(s->cfg),
                        t->val_l ? "validation and test" : "test");
    return rc;
}

int nn_tr_open_run(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    const nn_train_opts *o = t->o;
    int rc = open_loaders(t, err);
    /* the test split is evaluated after training: a missing or unreadable one is said now,
     * not after the last epoch */
    if (rc == NN_OK && o->test && (rc = nn_data_open_test(s->data, err)))
        nn_error_prefix(err, "the test split, evaluated after training (--no-test skips it)");
    if (rc == NN_OK)
        rc = nn_session_optim(s, nn_tr_steps(t, t->steps_per_epoch), err);
    if (rc == NN_OK)
        rc = check_monitors(t, err);
    if (rc == NN_OK && (t->val_l || o->test))
        rc = check_eval_targets(t, err);
    int nc = nn_data_info(s->data)->n_classes;
    if (rc == NN_OK && (nn_metrics_init(&t->tm, nc, (int)s->tc.top_k, 0) ||
                        nn_metrics_init(&t->vm, nc, (int)s->tc.top_k, 1)))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    t->epoch_lr = rc == NN_OK ? nn_optim_lr(s->optim) : NAN;
    /* room for the best weights, filled from best.safetensors by a resume */
    for (int i = 0; i < nn_session_tensor_count(s); i++)
        t->best_bytes += nn_tensor_nbytes(nn_session_tensor(s, i));
    if (rc == NN_OK && s->tc.early_stopping && s->tc.restore_best &&
        !(t->best_copy = malloc(t->best_bytes + 1)))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    int resumed = 0;
    if (s->dist && o->resume) /* resuming takes collectives: every process must get there */
        rc = nn_tr_dist_gate(t, rc, err);
    if (rc == NN_OK && o->resume) {
        char auto_path[600];
        const char *path = o->resume;
        struct stat st;
        if (strcmp(o->resume, "auto") == 0) {
            snprintf(auto_path, sizeof auto_path, "%s/last.safetensors", s->run_dir);
            int found = stat(auto_path, &st) == 0; /* rank 0's run directory decides */
            if (s->dist && (rc = nn_tr_dist_exists(t, auto_path, &found, err)))
                return rc;
            path = found ? auto_path : NULL;
            /* best.safetensors without last: the run's last state was lost (a full disk, a
             * user's rm); starting from scratch would write over its best weights */
            char best[600];
            int has_best = 0;
            snprintf(best, sizeof best, "%s/best.safetensors", s->run_dir);
            if (!found) {
                has_best = stat(best, &st) == 0;
                if (s->dist && (rc = nn_tr_dist_exists(t, best, &has_best, err)))
                    return rc;
            }
            if (has_best)
                return nn_error_set(err, NN_EEXIST, "%s: run directory %s holds %s but no "
                                    "last.safetensors (its last state is lost); continue from "
                                    "the best epoch with --resume %s, or start again with "
                                    "--overwrite", o->resume_option ? o->resume_option
                                                                    : "--resume auto",
                                    s->run_dir, best, best);
            if (!path && o->verbosity >= 0)
                fprintf(stderr, "nntrain: %s: no %s yet; starting from scratch\n",
                        o->resume_option ? o->resume_option : "--resume auto", auto_path);
        }
        if (path)
            rc = nn_tr_resume(t, path, err);
        if (rc == NN_OK && path)
            t->epoch_lr = isnan(t->resumed_lr) ? nn_optim_lr(s->optim) : t->resumed_lr;
        resumed = path != NULL;
    }
    /* a fresh run may start from weights made elsewhere; a resumed one has its own */
    if (rc == NN_OK && !resumed && s->tc.init_from && *s->tc.init_from)
        rc = init_from(s, o, err);
    if (rc)
        return rc;
    t->r->best_metric = t->best; /* a resumed run that trains no epoch reports them too */
    t->r->best_epoch = t->best_epoch;
    /* parameters and gradients for histograms */
    int np = nn_model_param_count(s->model);
    t->hist_params = calloc((size_t)np + 1, sizeof *t->hist_params);
    t->hist_grads = calloc((size_t)np + 1, sizeof *t->hist_grads);
    if (!t->hist_params || !t->hist_grads)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; i < np; i++)
        t->hist_params[i] = nn_session_host_param(s, i, &t->hist_grads[i]);
    t->n_hist = np;
    if (!(t->ring = calloc(NN_TR_RING, sizeof *t->ring)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    /* calloc maps untouched zero pages: touched now, the ring's first lap (a record a step,
     * several epochs of a small model) takes no page fault inside the steps */
    for (size_t o = 0; o < NN_TR_RING * sizeof *t->ring; o += 4096)
        ((volatile char *)t->ring)[o] = 0;
    nn_logger_open lo = {
        .struct_size = sizeof lo,
        .run_dir = s->run_dir,
        .run_name = strrchr(s->run_dir, '/') ? strrchr(s->run_dir, '/') + 1 : s->run_dir,
        .config_path = nn_config_path(s->cfg),
        .config_text = nn_config_text(s->cfg),
        .is_tty = isatty(STDOUT_FILENO),
        .verbosity = o->verbosity,
        .resume_step = t->global_step,
    };
    if (nn_dist_rank(s->dist) != 0)
        return NN_OK; /* loggers and the run directory are rank 0's */
    char path[PATH_MAX + 32];
    /* --overwrite: the old run's checkpoints go as its logs are started anew, so that a
     * --resume auto never continues the old run under this one's model.ini and logs; a run
     * that failed before this point (a bad key, missing data) left the old run whole */
    for (int i = 0; s->replace_run && i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", s->run_dir, i ? "best" : "last");
        if (unlink(path) != 0 && errno != ENOENT)
            return nn_error_set(err, NN_EIO, "--overwrite: cannot remove %s: %s", path,
                                strerror(errno));
    }
    if ((rc = nn_loggers_open(s->reg, s->cfg, &lo, s->tc.strict_loggers, &t->loggers, err)))
        return rc;
    /* the model file as this run used it, next to its checkpoints; unless it is that file
     * (train RUN/model.ini --run-dir RUN): the user's comments stay */
    snprintf(path, sizeof path, "%s/model.ini", s->run_dir);
    struct stat mine, theirs;
    if (stat(path, &mine) == 0 && stat(nn_config_path(s->cfg), &theirs) == 0 &&
        mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino)
        return NN_OK;
    const char *text = nn_config_text(s->cfg);
    const struct iovec part = {(void *)text, strlen(text)};
    return nn_file_replace(path, "the run's model file", &part, 1, 0, err);
}
