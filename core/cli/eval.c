/* eval.c: `nntrain eval MODEL.ini --checkpoint C`: test-set metrics, per-class accuracy and
 * the confusion matrix of a trained model. Reads; never writes. */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evaluate.h"
#include "trainer.h"

int nn_cli_eval_session_inputs(nn_cli *cli, const char *verb, const char *ckpt,
                               const char *const *inputs, int n_inputs, nn_config **cfg,
                               nn_registry **reg, nn_session *s);

/* shared with predict.c: a session on the test data with a checkpoint's weights */
int nn_cli_eval_session(nn_cli *cli, const char *verb, const char *ckpt, nn_config **cfg,
                        nn_registry **reg, nn_session *s)
{
    return nn_cli_eval_session_inputs(cli, verb, ckpt, NULL, 0, cfg, reg, s);
}

/* The session of eval/predict; with n_inputs > 0 its data is the user's files (predict). */
int nn_cli_eval_session_inputs(nn_cli *cli, const char *verb, const char *ckpt,
                               const char *const *inputs, int n_inputs, nn_config **cfg,
                               nn_registry **reg, nn_session *s)
{
    *reg = NULL;
    *cfg = nn_cli_model(cli, verb);
    if (!*cfg)
        return NN_EXIT_USAGE;
    if (!ckpt) {
        nn_cli_error("%s: --checkpoint PATH is required (e.g. runs/NAME/best.safetensors)", verb);
        return NN_EXIT_USAGE;
    }
    *reg = nn_cli_registry(cli);
    if (!*reg)
        return NN_EXIT_FAIL;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", ckpt);
    nn_session_opts so = {.mode = NN_SESSION_EVAL, .seed = cli->seed, .state_dir = dirname(dir),
                          .device = cli->device,
                          .threads = cli->threads, .inputs = inputs, .n_inputs = n_inputs};
    nn_error err = {0};
    if (nn_session_open(s, *reg, *cfg, &so, &err) != NN_OK ||
        nn_train_load_weights(s, ckpt, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        return NN_EXIT_FAIL;
    }
    return NN_EXIT_OK;
}

static const char *class_name(const nn_dataset_info *info, int c, char *buf, size_t cap)
{
    if (info->class_names && info->class_names[c])
        return info->class_names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

int nn_cmd_eval(nn_cli *cli)
{
    const char *ckpt = NULL, *v;
    nn_part part = NN_PART_TEST;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--checkpoint")))
            ckpt = v;
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
    nn_config *cfg;
    nn_registry *reg;
    nn_session s = {0};
    int code = nn_cli_eval_session(cli, "eval", ckpt, &cfg, &reg, &s);
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
                printf("  %-16s %6.2f%%  (%lld samples)\n", class_name(info, c, nb, sizeof nb),
                       row ? 100.0 * (double)m.confusion[c * C + c] / (double)row : 0.0,
                       (long long)row);
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
    }
    nn_metrics_free(&m);
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
