/* cv.c: `nntrain cv MODEL.ini --folds K`: K trainings, each validated on its own fold of the
 * training data (stratified when labels are known), then a table and mean ± std. Each fold
 * that completes leaves a record of its figures (fold-k/cv_fold.txt); `--resume` takes those
 * records and continues the other folds from their checkpoints, so an interrupted cv ends
 * with the table the uninterrupted one would have printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "file_replace.h"
#include "hash.h"
#include "params_internal.h"
#include "rundir.h"
#include "trainer.h"

#define FOLD_RECORD NN_RUNDIR_CV_RECORD
enum { MAX_FOLDS = 100 };

typedef struct fold_key {
    long folds;
    int fold;            /* 1-based */
    unsigned long long seed;
    unsigned long long config; /* hash of the fold's model text, --set options included */
} fold_key;

static fold_key key_of(nn_session *s, long folds, int k)
{
    const char *text = nn_config_text(s->cfg);
    return (fold_key){folds, k + 1, (unsigned long long)s->seed,
                      (unsigned long long)nn_hash(NN_HASH_INIT, text, strlen(text))};
}

/* the record of a completed fold: a temp file renamed into place, never half-written */
static int write_record(const char *dir, const fold_key *key, double vl, double va,
                        nn_error *err)
{
    char path[PATH_MAX], text[400];
    snprintf(path, sizeof path, "%s/" FOLD_RECORD, dir);
    int n = snprintf(text, sizeof text, "nntrain cv fold\nfolds %ld\nfold %d\nseed %llu\n"
                     "config %016llx\nval_loss %a\nval_accuracy %a\n", key->folds, key->fold,
                     key->seed, key->config, vl, va);
    const struct iovec part = {text, (size_t)n};
    return nn_file_replace(path, "the cv fold record", &part, 1, 0, err);
}

/* 1: the fold completed with this configuration and its figures are read; 0: no record, or
 * one of another configuration (the fold goes on from its checkpoint); < 0: an error */
static int read_record(const char *dir, const fold_key *key, double *vl, double *va,
                       nn_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" FOLD_RECORD, dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : nn_error_set(err, NN_EIO, "cannot read %s: %s", path,
                                                  strerror(errno));
    fold_key got;
    int n = fscanf(f, "nntrain cv fold folds %ld fold %d seed %llu config %llx val_loss %la "
                   "val_accuracy %la", &got.folds, &got.fold, &got.seed, &got.config, vl, va);
    fclose(f);
    if (n != 6)
        return nn_error_set(err, NN_EFORMAT, "%s: not a cv fold record (the lines 'nntrain cv "
                            "fold', folds, fold, seed, config, val_loss, val_accuracy)", path);
    if (got.folds != key->folds || got.fold != key->fold || got.seed != key->seed)
        return nn_error_set(err, NN_EINVAL, "%s: fold %d of %ld with seed %llu, but this cv "
                            "trains fold %d of %ld with seed %llu: resume with the --folds and "
                            "--seed it was started with, or start again with --overwrite",
                            path, got.fold, got.folds, got.seed, key->fold, key->folds,
                            key->seed);
    return got.config == key->config;
}

/* --overwrite starts every fold again: the records of the earlier cv go, also those of folds
 * this one may not reach (interrupted, or fewer --folds), which a later --resume would take */
static void drop_records(const char *base)
{
    char path[PATH_MAX + 64];
    for (int j = 1; j <= MAX_FOLDS; j++) {
        snprintf(path, sizeof path, "%s/fold-%d/" FOLD_RECORD, base, j);
        unlink(path);
    }
}

/* one line of the table; acc 0 (regression) leaves the accuracy column out */
static void fold_row(int acc, const char *label, double vl, double va)
{
    if (acc)
        printf("%-6s %10.4f %13.2f%%\n", label, vl, 100 * va);
    else
        printf("%-6s %10.4f\n", label, vl);
}

/* The model file's validation (val_split, val_type) is for train and eval --split val; each
 * fold validates on the part it holds out instead. Said once, not per fold, and not refused:
 * one model file serves train and cv. */
static void warn_unused_validation(const nn_config *cfg)
{
    const nn_config_section *sec = nn_config_find(cfg, "data");
    for (int i = 0; sec && i < sec->n; i++) {
        const nn_kv *kv = &sec->kvs[i];
        char *end;
        int split = !strcmp(kv->key, "val_split");
        if (!(split && strtod(kv->value, &end) > 0) && strcmp(kv->key, "val_type") != 0)
            continue;
        char loc[300], origin[220], val[120];
        snprintf(origin, sizeof origin, "%s [data]", nn_config_path(cfg));
        nn_cli_warn("%s key '%s' = '%s' is not used by cv: each fold is validated on the "
                    "part of the training data it holds out, and the model file's validation "
                    "%s is left out (train and eval --split val use it)",
                    nn_kv_where(loc, sizeof loc, kv, origin), kv->key,
                    nn_text_escape(kv->value, val, sizeof val, 0), split ? "split" : "dataset");
    }
}

int nn_cmd_cv(nn_cli *cli)
{
    long folds = 5;
    const char *v, *run_dir = NULL;
    int overwrite = 0, resume = 0;
    static const char *const once[] = {"--run-dir", "--folds", NULL};
    if (nn_cli_once("cv", cli->argc, cli->argv, once))
        return NN_EXIT_USAGE;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--run-dir")))
            run_dir = v;
        else if (strcmp(cli->argv[i], "--overwrite") == 0)
            overwrite = 1;
        else if (strcmp(cli->argv[i], "--resume") == 0)
            resume = 1;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--folds"))) {
            char *end;
            folds = strtol(v, &end, 10);
            if (*end || folds < 2 || folds > MAX_FOLDS) {
                nn_cli_error("cv: --folds %s: expected an integer in [2, %d]", v, MAX_FOLDS);
                return NN_EXIT_USAGE;
            }
        } else {
            nn_cli_error("cv: unexpected argument '%s'; see `nntrain help cv`", cli->argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    if (resume && overwrite) {
        nn_cli_error("cv: --resume continues the folds in the directory, --overwrite starts "
                     "them again: give one of them");
        return NN_EXIT_USAGE;
    }
    nn_config *cfg = nn_cli_model(cli, "cv");
    if (!cfg)
        return NN_EXIT_USAGE;
    nn_registry *reg = nn_cli_registry(cli);
    if (!reg) {
        nn_config_free(cfg);
        return NN_EXIT_FAIL;
    }
    warn_unused_validation(cfg);
    double vl[MAX_FOLDS], va[MAX_FOLDS];
    int code = NN_EXIT_OK, done = 0, stopped = 0;
    for (int k = 0; k < folds && code == NN_EXIT_OK; k++) {
        nn_session s;
        nn_error err = {0};
        char sub[32];
        snprintf(sub, sizeof sub, "fold-%d", k + 1);
        /* each fold trains from fresh weights in its own directory */
        nn_session_opts so = {.mode = NN_SESSION_TRAIN, .seed = cli->seed, .folds = (int)folds,
                              .fold = k, .run_subdir = sub, .device = cli->device,
                              .threads = cli->threads, .run_dir = run_dir,
                              .resume = resume, .overwrite = overwrite};
        int rc = nn_session_open(&s, reg, cfg, &so, &err), recorded = 0;
        fold_key key = {0};
        if (rc == NN_OK) {
            if (overwrite && k == 0)
                drop_records(s.run_base);
            key = key_of(&s, folds, k);
            if (resume && (recorded = read_record(s.run_dir, &key, &vl[done], &va[done],
                                                  &err)) < 0)
                rc = recorded;
        }
        nn_train_result r = {0};
        if (rc == NN_OK && recorded) {
            printf("fold %d/%ld: completed before (%s/" FOLD_RECORD ")\n", k + 1, folds,
                   s.run_dir);
            done++;
        } else if (rc == NN_OK) {
            printf("fold %d/%ld: training on %lld samples, validating on %lld\n", k + 1, folds,
                   (long long)nn_data_size(s.data, NN_PART_TRAIN),
                   (long long)nn_data_size(s.data, NN_PART_VAL));
            fflush(stdout);
            nn_train_opts to = {.resume = resume ? "auto" : NULL, .resume_option = "--resume",
                                .handle_signals = 1,
                                .verbosity = cli->verbosity};
            rc = nn_train_run(&s, &to, &r, &err);
            if (rc == NN_OK && r.end == NN_END_SIGNAL) {
                code = r.signal == SIGTERM   ? NN_EXIT_SIGTERM
                       : r.signal == SIGHUP ? NN_EXIT_SIGHUP
                                            : NN_EXIT_SIGINT;
                stopped = k + 1;
            } else if (rc == NN_OK && r.epochs_done == r.epochs_before) { /* figures gone */
                rc = nn_error_set(&err, NN_EINVAL, "%s holds a fold that had ended, with no "
                                  "record of its figures for this model file and options "
                                  "(" FOLD_RECORD "): start the folds again with --overwrite",
                                  s.run_dir);
            } else if (rc == NN_OK &&
                       (rc = write_record(s.run_dir, &key, r.val_loss, r.val_acc, &err)) == NN_OK) {
                vl[done] = r.val_loss;
                va[done] = r.val_acc;
                done++;
            }
        }
        if (rc) {
            nn_cli_error("fold %d: %s", k + 1, err.msg);
            code = rc == NN_ENONFINITE ? NN_EXIT_NONFINITE : NN_EXIT_FAIL;
        }
        if (s.reg)
            nn_session_close(&s);
    }
    /* regression (no classes) has no accuracy: its column and summary are the loss alone */
    int acc = 0;
    for (int k = 0; k < done; k++)
        acc |= !isnan(va[k]);
    if (done > 0) {
        printf("\n%-6s %10s", "fold", "val_loss");
        printf(acc ? " %14s\n" : "\n", "val_accuracy");
        double ml = 0, ma = 0, sl = 0, sa = 0;
        for (int k = 0; k < done; k++) {
            char label[16];
            snprintf(label, sizeof label, "%d", k + 1);
            fold_row(acc, label, vl[k], va[k]);
            ml += vl[k] / done;
            ma += va[k] / done;
        }
        for (int k = 0; k < done; k++) {
            sl += (vl[k] - ml) * (vl[k] - ml);
            sa += (va[k] - ma) * (va[k] - ma);
        }
        fold_row(acc, "mean", ml, ma);
        if (done > 1) { /* a sample std of one fold is undefined */
            sl = sqrt(sl / (done - 1));
            sa = sqrt(sa / (done - 1));
            fold_row(acc, "std", sl, sa);
        }
        if (done == folds && acc)
            printf("%d folds: val_accuracy %.2f%% ± %.2f%% (sample std)\n", done, 100 * ma,
                   100 * sa);
        else if (done == folds)
            printf("%d folds: val_loss %.4f ± %.4f (sample std)\n", done, ml, sl);
    }
    fflush(stdout); /* the table before the message below */
    if (stopped) /* what completed is shown, never as the K-fold estimate */
        fprintf(stderr, "nntrain: cv interrupted in fold %d of %ld; %d fold%s completed%s; "
                "continue with the same command and --resume\n", stopped, folds, done,
                done == 1 ? "" : "s", done ? " (the table above is not the K-fold estimate)"
                                           : "");
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
