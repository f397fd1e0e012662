/* train.c: `nntrain train MODEL.ini`: trains, writes the run directory, and reports the test
 * metrics at the end. Ctrl-C stops after the current step with a checkpoint and prints the
 * exact command that continues the run. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "trainer.h"

static void print_metrics(const char *what, const nn_metrics *m)
{
    printf("%s: loss %.4f", what, nn_metrics_loss(m));
    if (!isnan(nn_metrics_accuracy(m)))
        printf("  accuracy %.2f%%", 100 * nn_metrics_accuracy(m));
    if (!isnan(nn_metrics_topk(m)))
        printf("  top-%d %.2f%%", m->top_k, 100 * nn_metrics_topk(m));
    printf("  (%lld samples)\n", (long long)m->samples);
}

/* one argument as a POSIX shell reads it back */
static void shell_word(FILE *f, const char *a)
{
    if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "_-./=:,+@%") == strlen(a)) {
        fputs(a, f);
        return;
    }
    fputc('\'', f);
    for (; *a; a++) {
        if (*a == '\'')
            fputs("'\\''", f);
        else
            fputc(*a, f);
    }
    fputc('\'', f);
}

/* The command line as given, without --resume/--overwrite, plus --resume CKPT: following it
 * continues this very run (same --set, --run-dir, --plugin-dir, --seed, device). */
static void print_resume_command(const nn_cli *cli, const char *ckpt)
{
    fputs("nntrain: resume with: nntrain", stderr);
    for (int i = 1; i < cli->raw_argc; i++) {
        const char *a = cli->raw_argv[i];
        if (strcmp(a, "--overwrite") == 0)
            continue;
        if (strcmp(a, "--resume") == 0) {
            i++; /* and its value */
            continue;
        }
        if (strncmp(a, "--resume=", 9) == 0)
            continue;
        fputc(' ', stderr);
        shell_word(stderr, a);
    }
    fputs(" --resume ", stderr);
    shell_word(stderr, ckpt);
    fputc('\n', stderr);
}

int nn_cmd_train(nn_cli *cli)
{
    const char *resume = NULL, *run_dir = NULL, *init_from = NULL, *v;
    int no_test = 0, overwrite = 0, allow_nonfinite = 0;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--resume")))
            resume = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--run-dir")))
            run_dir = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--init-from")))
            init_from = v;
        else if (strcmp(cli->argv[i], "--no-test") == 0)
            no_test = 1;
        else if (strcmp(cli->argv[i], "--overwrite") == 0)
            overwrite = 1;
        else if (strcmp(cli->argv[i], "--allow-nonfinite") == 0)
            allow_nonfinite = 1;
        else {
            nn_cli_error("train: unexpected argument '%s'; see `nntrain help train`",
                         cli->argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    if (resume && overwrite) {
        nn_cli_error("train: --resume continues the run in the directory, --overwrite replaces "
                     "it: give one of them");
        return NN_EXIT_USAGE;
    }
    nn_config *cfg = nn_cli_model(cli, "train");
    if (!cfg)
        return NN_EXIT_USAGE;
    if (init_from) { /* the same as --set train.init_from=FILE */
        char set[4200];
        nn_error e = {0};
        snprintf(set, sizeof set, "train.init_from=%s", init_from);
        if (strlen(init_from) > 4096 || nn_config_set(cfg, set, &e) != NN_OK) {
            nn_cli_error("train: --init-from %s: %s", init_from,
                         e.msg[0] ? e.msg : "the path is too long");
            nn_config_free(cfg);
            return NN_EXIT_USAGE;
        }
    }
    nn_registry *reg = nn_cli_registry(cli);
    if (!reg) {
        nn_config_free(cfg);
        return NN_EXIT_FAIL;
    }
    nn_session s;
    nn_error err = {0};
    nn_session_opts so = {.mode = NN_SESSION_TRAIN, .seed = cli->seed, .run_dir = run_dir,
                          .device = cli->device, .threads = cli->threads,
                          .resume = resume != NULL, .overwrite = overwrite};
    int rc = nn_session_open(&s, reg, cfg, &so, &err), code = NN_EXIT_OK;
    nn_train_result r = {0};
    if (rc == NN_OK) {
        nn_train_opts to = {.resume = resume, .handle_signals = 1, .verbosity = cli->verbosity,
                            .allow_nonfinite = allow_nonfinite, .test = !no_test};
        rc = nn_train_run(&s, &to, &r, &err);
    }
    if (rc == NN_ENONFINITE) {
        nn_cli_error("%s", err.msg);
        code = NN_EXIT_NONFINITE;
    } else if (rc) {
        nn_cli_error("%s", err.msg);
        code = NN_EXIT_FAIL;
    } else if (r.end == NN_END_SIGNAL) {
        fprintf(stderr, "nntrain: interrupted after %lld completed epochs; checkpoint %s\n",
                (long long)r.epochs_done, r.last_ckpt);
        print_resume_command(cli, r.last_ckpt);
        code = r.signal == SIGTERM ? NN_EXIT_SIGTERM : NN_EXIT_SIGINT;
    } else {
        printf("trained %lld epochs in %.1f s; checkpoints in %s (steps that waited for data: "
               "%.1f%%, %.2f s in all)\n", (long long)r.epochs_done, r.wall_s, s.run_dir,
               100 * r.wait_fraction, r.wait_s);
        if (r.best_epoch > 0)
            printf("best %s %.4f at epoch %lld (%s)\n", s.tc.monitor, r.best_metric,
                   (long long)r.best_epoch, r.best_ckpt);
        if (r.tested)
            print_metrics("test", &r.test);
        if (!nn_dev_is_host(s.dev)) {
            char d[300];
            nn_dev_describe(s.dev, d, sizeof d);
            printf("device %s: %s\n", nn_dev_name(s.dev), d);
        }
    }
    nn_metrics_free(&r.test);
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
