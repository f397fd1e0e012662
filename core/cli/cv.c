/* cv.c: `nntrain cv MODEL.ini --folds K`: K trainings, each validated on its own fold of the
 * training data (stratified when labels are known), then a table and mean ± std. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trainer.h"

int nn_cmd_cv(nn_cli *cli)
{
    long folds = 5;
    const char *v, *run_dir = NULL;
    int overwrite = 0;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--run-dir")))
            run_dir = v;
        else if (strcmp(cli->argv[i], "--overwrite") == 0)
            overwrite = 1;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--folds"))) {
            char *end;
            folds = strtol(v, &end, 10);
            if (*end || folds < 2 || folds > 100) {
                nn_cli_error("cv: --folds %s: expected an integer in [2, 100]", v);
                return NN_EXIT_USAGE;
            }
        } else {
            nn_cli_error("cv: unexpected argument '%s'; see `nntrain help cv`", cli->argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    nn_config *cfg = nn_cli_model(cli, "cv");
    if (!cfg)
        return NN_EXIT_USAGE;
    nn_registry *reg = nn_cli_registry(cli);
    if (!reg) {
        nn_config_free(cfg);
        return NN_EXIT_FAIL;
    }
    double vl[100], va[100];
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
                              .overwrite = overwrite};
        int rc = nn_session_open(&s, reg, cfg, &so, &err);
        nn_train_result r;
        if (rc == NN_OK) {
            printf("fold %d/%ld: training on %lld samples, validating on %lld\n", k + 1, folds,
                   (long long)nn_data_size(s.data, NN_PART_TRAIN),
                   (long long)nn_data_size(s.data, NN_PART_VAL));
            fflush(stdout);
            nn_train_opts to = {.handle_signals = 1, .verbosity = cli->verbosity};
            rc = nn_train_run(&s, &to, &r, &err);
        }
        if (rc) {
            nn_cli_error("fold %d: %s", k + 1, err.msg);
            code = rc == NN_ENONFINITE ? NN_EXIT_NONFINITE : NN_EXIT_FAIL;
        } else if (r.end == NN_END_SIGNAL) {
            code = r.signal == SIGTERM ? NN_EXIT_SIGTERM : NN_EXIT_SIGINT;
            stopped = k + 1;
        } else {
            vl[done] = r.val_loss;
            va[done] = r.val_acc;
            done++;
        }
        if (s.reg)
            nn_session_close(&s);
    }
    if (done > 0) {
        printf("\n%-6s %10s %14s\n", "fold", "val_loss", "val_accuracy");
        double ml = 0, ma = 0, sl = 0, sa = 0;
        for (int k = 0; k < done; k++) {
            printf("%-6d %10.4f %13.2f%%\n", k + 1, vl[k], 100 * va[k]);
            ml += vl[k] / done;
            ma += va[k] / done;
        }
        for (int k = 0; k < done; k++) {
            sl += (vl[k] - ml) * (vl[k] - ml);
            sa += (va[k] - ma) * (va[k] - ma);
        }
        printf("%-6s %10.4f %13.2f%%\n", "mean", ml, 100 * ma);
        if (done > 1) { /* a sample std of one fold is undefined */
            sl = sqrt(sl / (done - 1));
            sa = sqrt(sa / (done - 1));
            printf("%-6s %10.4f %13.2f%%\n", "std", sl, 100 * sa);
        }
        if (done == folds)
            printf("%d folds: val_accuracy %.2f%% ± %.2f%% (sample std)\n", done, 100 * ma,
                   100 * sa);
    }
    fflush(stdout); /* the table before the message below */
    if (stopped && done == 0)
        fprintf(stderr, "nntrain: cv interrupted in fold %d of %ld, before any fold completed; "
                "cv does not continue runs (start again with --overwrite)\n", stopped, folds);
    else if (stopped) /* what completed is shown, never as the K-fold estimate */
        fprintf(stderr, "nntrain: cv interrupted in fold %d of %ld: the table holds the %d "
                "fold%s that completed, not a %ld-fold estimate; cv does not continue runs "
                "(start again with --overwrite)\n", stopped, folds, done, done == 1 ? "" : "s",
                folds);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
