/* eval.c: `nntrain eval MODEL.ini --checkpoint C`: test-set (or validation) metrics,
 * per-class accuracy and the confusion matrix of a trained model. It writes nothing but the
 * run's logs (an eval row), and only when the checkpoint lies in a run directory. */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "evaluate.h"
#include "loggers.h"
#include "rundir.h"
#include "train_state.h"
#include "trainer.h"

int nn_cli_eval_session(nn_cli *cli, const char *verb, const nn_cli_eval_opts *eo,
                        nn_config **cfg, nn_registry **reg, nn_session *s)
{
    *reg = NULL;
    *cfg = nn_cli_model(cli, verb);
    if (!*cfg)
        return NN_EXIT_USAGE;
    if (!eo->checkpoint) {
        nn_cli_error("%s: --checkpoint PATH is required (e.g. runs/NAME/best.safetensors)", verb);
        return NN_EXIT_USAGE;
    }
    *reg = nn_cli_registry(cli);
    if (!*reg)
        return NN_EXIT_FAIL;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", eo->checkpoint);
    /* the validation part is the one the run held out: its seed split the data, and its model
     * file's [data] keys (read once here; nn_train_load_weights reads the tensors) */
    long long seed = cli->seed;
    uint64_t ck_seed;
    nn_checkpoint *vc = NULL;
    nn_error err = {0};
    if (eo->val && nn_checkpoint_read(eo->checkpoint, &vc, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        return NN_EXIT_FAIL;
    }
    if (vc && nn_checkpoint_seed(vc, &ck_seed)) {
        if (seed >= 0 && (uint64_t)seed != ck_seed) {
            nn_cli_error("%s: --split val: %s was trained with seed %llu, which split off its "
                         "validation part; with --seed %lld the part would be another one, "
                         "holding samples it trained on: drop --seed or give --seed %llu",
                         verb, eo->checkpoint, (unsigned long long)ck_seed, seed,
                         (unsigned long long)ck_seed);
            nn_checkpoint_free(vc);
            return NN_EXIT_USAGE;
        }
        seed = (long long)ck_seed;
    }
    nn_session_opts so = {.mode = NN_SESSION_EVAL, .seed = seed, .state_dir = dirname(dir),
                          .device = cli->device, .threads = cli->threads,
                          .inputs = eo->inputs, .n_inputs = eo->n_inputs, .eval_val = eo->val};
    int code = NN_EXIT_OK;
    if (nn_session_open(s, *reg, *cfg, &so, &err) != NN_OK ||
        nn_train_load_weights(s, eo->checkpoint, eo->allow_nonfinite, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        code = NN_EXIT_FAIL;
    } else if (eo->val && nn_data_size(s->data, NN_PART_VAL) <= 0) {
        nn_cli_error("%s: --split val: %s has no validation part (set [data] val_split or "
                     "val_type, as training did)", verb, nn_config_path(*cfg));
        code = NN_EXIT_FAIL;
    } else if (vc) {
        const char *text = nn_checkpoint_meta(vc, "model_config");
        int rc = text ? nn_val_split_diff(s, text, eo->checkpoint, &err)
                      : nn_error_set(&err, NN_EINVAL, "--split val: %s records no model file "
                                     "(__metadata__ model_config), so which samples its run "
                                     "held out for validation is unknown; evaluate the test "
                                     "split", eo->checkpoint);
        if (rc) {
            nn_cli_error("%s: %s", verb, err.msg);
            code = NN_EXIT_FAIL;
        }
    }
    nn_checkpoint_free(vc);
    return code;
}

static const char *class_name(const nn_dataset_info *info, int c, char *buf, size_t cap)
{
    if (info->class_names && info->class_names[c])
        return info->class_names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

/* When the checkpoint lies in a run directory (its model.ini is there), the run's loggers get
 * the result as EVAL_END and append it to the run's logs, at the checkpoint's epoch and step.
 * Not while a run writes that directory: two writers would interleave its files. */
static int emit_eval_end(nn_session *s, const char *ckpt, nn_part part, const nn_metrics *m,
                         int verbosity, nn_error *err)
{
    char dir[PATH_MAX], ini[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s", ckpt);
    snprintf(ini, sizeof ini, "%s/model.ini", dirname(dir));
    struct stat st;
    if (stat(ini, &st) != 0)
        return NN_OK;
    long pid = 0;
    int lock = nn_rundir_hold(dir, &pid);
    if (lock == NN_EEXIST) {
        if (verbosity >= 0)
            fprintf(stderr, "nntrain: eval: %s is in use by pid %ld (a run writes there): this "
                    "evaluation is not added to its logs\n", dir, pid);
        return NN_OK;
    }
    nn_logger_open lo = {
        .struct_size = sizeof lo,
        .run_dir = dir,
        .run_name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir,
        .config_path = nn_config_path(s->cfg),
        .config_text = nn_config_text(s->cfg),
        .is_tty = isatty(STDOUT_FILENO),
        .verbosity = verbosity,
        .resume_step = INT64_MAX,
    };
    nn_loggers *lg;
    int rc = nn_loggers_open(s->reg, s->cfg, &lo, 0, &lg, err);
    if (rc) {
        nn_rundir_unlock(lock);
        return rc;
    }
    nn_metric mv[3];
    char topk[24];
    snprintf(topk, sizeof topk, "top%d", m->top_k);
    int n = 0;
    double vals[3] = {nn_metrics_loss(m), nn_metrics_accuracy(m), nn_metrics_topk(m)};
    const char *names[3] = {"loss", "accuracy", topk};
    for (int i = 0; i < 3; i++)
        if (!isnan(vals[i]))
            mv[n++] = (nn_metric){names[i], vals[i]};
    nn_event ev = {
        .struct_size = sizeof ev,
        .kind = NN_EV_EVAL_END,
        .epoch = s->weights_epoch > 0 ? s->weights_epoch : 0,
        .epochs = s->tc.epochs,
        .global_step = s->weights_step > 0 ? s->weights_step : 0,
        .elapsed_s = NAN, /* not part of the run's time */
        .samples_per_s = 0,
        .lr = NAN,
        .grad_norm = NAN,
        .n_metrics = n,
        .metrics = mv,
        .message = part == NN_PART_VAL ? "val" : "test",
        .path = ckpt,
        .n_classes = m->confusion ? m->n_classes : 0,
        .confusion = m->confusion,
        .class_names = nn_data_info(s->data)->class_names,
    };
    rc = nn_loggers_emit(lg, &ev, err);
    nn_loggers_close(lg);
    nn_rundir_unlock(lock);
    return rc;
}

int nn_cmd_eval(nn_cli *cli)
{
    const char *v;
    nn_part part = NN_PART_TEST;
    nn_cli_eval_opts eo = {0};
    static const char *const once[] = {"--checkpoint", "--split", NULL};
    if (nn_cli_once("eval", cli->argc, cli->argv, once))
        return NN_EXIT_USAGE;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--checkpoint")))
            eo.checkpoint = v;
        else if (strcmp(cli->argv[i], "--allow-nonfinite") == 0)
            eo.allow_nonfinite = 1;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--split"))) {
            if (strcmp(v, "test") == 0)
                part = NN_PART_TEST;
            else if (strcmp(v, "val") == 0)
                part = NN_PART_VAL;
            else {
                nn_cli_error("eval: --split %s: expected test or val", v);
                return NN_EXIT_USAGE;
            }
        } else {
            nn_cli_error("eval: unexpected argument '%s'; see `nntrain help eval`", cli->argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    eo.val = part == NN_PART_VAL;
    nn_config *cfg;
    nn_registry *reg;
    nn_session s = {0};
    int code = nn_cli_eval_session(cli, "eval", &eo, &cfg, &reg, &s);
    nn_error err = {0};
    nn_metrics m = {0};
    if (code == NN_EXIT_OK && nn_metrics_init(&m, s.n_classes, (int)s.tc.top_k, 1) != 0)
        code = NN_EXIT_FAIL;
    if (code == NN_EXIT_OK && nn_evaluate(&s, part, &m, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        code = NN_EXIT_FAIL;
    }
    if (code == NN_EXIT_OK) {
        const nn_dataset_info *info = nn_data_info(s.data);
        printf("%s split: %lld samples\nloss      %.4f\n", part == NN_PART_TEST ? "test" : "val",
               (long long)m.samples, nn_metrics_loss(&m));
        if (!isnan(nn_metrics_accuracy(&m)))
            printf("accuracy  %.2f%%\n", 100 * nn_metrics_accuracy(&m));
        if (!isnan(nn_metrics_topk(&m)))
            printf("top-%-5d %.2f%%\n", m.top_k, 100 * nn_metrics_topk(&m));
        if (m.confusion) {
            int C = m.n_classes;
            char nb[16];
            printf("\nper class:\n");
            for (int c = 0; c < C; c++) {
                int64_t row = 0;
                for (int k = 0; k < C; k++)
                    row += m.confusion[c * C + k];
                if (row) /* a class with no sample has no accuracy, not 0% */
                    printf("  %-16s %6.2f%%  (%lld sample%s)\n",
                           class_name(info, c, nb, sizeof nb),
                           100.0 * (double)m.confusion[c * C + c] / (double)row, (long long)row,
                           row == 1 ? "" : "s");
                else
                    printf("  %-16s      -   (no sample)\n", class_name(info, c, nb, sizeof nb));
            }
            printf("\nconfusion matrix (rows: true class, columns: predicted):\n%16s", "");
            for (int k = 0; k < C; k++)
                printf(" %6d", k);
            printf("\n");
            for (int c = 0; c < C; c++) {
                printf("  %2d %-11.11s", c, class_name(info, c, nb, sizeof nb));
                for (int k = 0; k < C; k++)
                    printf(" %6lld", (long long)m.confusion[c * C + k]);
                printf("\n");
            }
        }
        if (emit_eval_end(&s, eo.checkpoint, part, &m, cli->verbosity, &err) != NN_OK) {
            nn_cli_error("eval: %s", err.msg);
            code = NN_EXIT_FAIL;
        }
    }
    nn_metrics_free(&m);
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
