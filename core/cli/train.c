/* train.c: `nntrain train MODEL.ini`: trains, writes the run directory, and reports the test
 * metrics at the end. Ctrl-C stops after the current step with a checkpoint and prints the
 * exact command that continues the run. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "dist.h"
#include "signals.h"
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
static void print_resume_command(const nn_cli *cli, const char *ckpt, int dist)
{
    fputs(dist ? "nntrain: resume with (under the launcher, any number of processes): nntrain"
               : "nntrain: resume with: nntrain", stderr);
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

/* rank 0's report of a data-parallel run: the processes and how long steps waited for the
 * gradient sums */
static void print_dist(nn_dist *d)
{
    char where[300];
    double wait_s, flight_s;
    int64_t steps;
    nn_dist_describe(d, where, sizeof where);
    nn_dist_wait_stats(d, &wait_s, &flight_s, &steps);
    printf("data-parallel on %s: steps waited %.3f ms for the gradient sums (%.3f ms from the "
           "first bucket's start to the last one's end), over %lld steps\n", where,
           steps ? 1e3 * wait_s / (double)steps : 0.0,
           steps ? 1e3 * flight_s / (double)steps : 0.0, (long long)steps);
}

static void print_result(const nn_session *s, const nn_train_result *r, nn_dist *dist)
{
    /* the training time TRAIN_END reported ("training ended after"), not this process's
     * wall time, which adds set-up and the test split's evaluation */
    printf("trained %lld epochs in %.1f s", (long long)r->epochs_done, r->train_s);
    if (r->earlier_s > 0) /* a resumed run: the epochs and seconds are the whole run's */
        printf(" (%.1f s of it in this session)", r->train_s - r->earlier_s);
    printf("; checkpoints in %s (steps that waited for data: %.1f%%, %.2f s in all)\n",
           s->run_dir, 100 * r->wait_fraction, r->wait_s);
    if (r->best_epoch > 0 && r->best_ckpt[0])
        printf("best %s %.4f at epoch %lld (%s)\n", s->tc.monitor, r->best_metric,
               (long long)r->best_epoch, r->best_ckpt);
    else if (r->best_epoch > 0) /* a resumed run whose best.safetensors was removed */
        printf("best %s %.4f at epoch %lld (no best.safetensors in %s)\n", s->tc.monitor,
               r->best_metric, (long long)r->best_epoch, s->run_dir);
    if (r->tested)
        print_metrics("test", &r->test);
    if (!nn_dev_is_host(s->dev)) {
        char d[300];
        nn_dev_describe(s->dev, d, sizeof d);
        printf("device %s: %s\n", nn_dev_name(s->dev), d);
    }
    if (dist)
        print_dist(dist);
}

/* --init-from FILE is --set train.init_from=FILE, said as --init-from in messages */
static int set_init_from(nn_config *cfg, const char *path, nn_error *err)
{
    if (strlen(path) > 4096)
        return nn_error_set(err, NN_EINVAL, "--init-from: the path is longer than 4096 bytes");
    return nn_config_put_as(cfg, "train", "init_from", path, "--init-from", err);
}

/* Every process of a data-parallel run must train the same run: the model file as --set
 * left it, and the options that change what is computed or whether a checkpoint is read
 * (rank 0 alone reads it). Checked before anything else talks to the other processes, so a
 * difference is a sentence instead of a truncated message deep inside MPI. */
static int same_run(nn_dist *d, nn_config *cfg, const nn_cli *cli, int resume, int no_test,
                    int allow_nonfinite, nn_error *err)
{
    const char *model = nn_config_text(cfg);
    size_t cap = strlen(model) + 512;
    char *text = malloc(cap);
    if (!text)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    /* the values in effect: --seed 0 and a model file's seed = 0 are the same run */
    char seed[48] = "the default", device[64] = "cpu:0";
    const nn_kv *fs = nn_config_get(cfg, "train", "seed");
    if (cli->seed >= 0)
        snprintf(seed, sizeof seed, "%lld", cli->seed);
    else if (fs)
        snprintf(seed, sizeof seed, "%s", fs->value);
    char type[48];
    int index;
    if (cli->device && nn_dev_spec_parse(cli->device, type, sizeof type, &index) == 0)
        snprintf(device, sizeof device, "%s:%d", type, index);
    snprintf(text, cap, "%s\n[command line]\nseed = %s\nresume = %s\nno_test = %s\n"
             "allow_nonfinite = %s\ndevice = %s\n", model, seed,
             resume ? "yes (--resume)" : "no", no_test ? "yes (--no-test)" : "no",
             allow_nonfinite ? "yes" : "no", device);
    int rc = nn_dist_same_text(d, text, "run", err);
    free(text);
    return rc;
}

int nn_cmd_train(nn_cli *cli)
{
    const char *resume = NULL, *run_dir = NULL, *v, *dist_name = NULL, *init_from = NULL;
    int no_test = 0, overwrite = 0, allow_nonfinite = 0;
    double dist_timeout = 0;
    static const char *const once[] = {"--resume", "--run-dir", "--init-from", "--dist",
                                       "--dist-timeout", NULL};
    if (nn_cli_once("train", cli->argc, cli->argv, once))
        return NN_EXIT_USAGE;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--resume")))
            resume = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--run-dir")))
            run_dir = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--init-from")))
            init_from = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--dist")))
            dist_name = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--dist-timeout"))) {
            char *end;
            dist_timeout = strtod(v, &end);
            if (*end || !(dist_timeout > 0)) {
                nn_cli_error("--dist-timeout %s: expected seconds > 0", v);
                return NN_EXIT_USAGE;
            }
        } else if (strcmp(cli->argv[i], "--no-test") == 0)
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
    nn_registry *reg = nn_cli_registry(cli);
    if (!reg)
        return NN_EXIT_FAIL;
    nn_error err = {0};
    nn_dist *dist = NULL;
    nn_dist_opts dopts = {.name = dist_name, .device = cli->device, .timeout_s = dist_timeout};
    if (nn_dist_open(reg, &dopts, &dist, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        nn_registry_free(reg);
        return NN_EXIT_FAIL;
    }
    int rank0 = nn_dist_rank(dist) == 0, report = 1;
    nn_session s = {0};
    nn_config *cfg = nn_cli_model_load(cli, "train", &err);
    int rc = cfg ? NN_OK : err.status ? err.status : NN_EINVAL, code = NN_EXIT_OK;
    if (cfg && init_from)
        rc = set_init_from(cfg, init_from, &err);
    if (dist) { /* every process loaded its model file, and it is the same run everywhere */
        rc = nn_dist_agree(dist, rc, &err, &report);
        if (rc == NN_OK) {
            rc = same_run(dist, cfg, cli, resume != NULL, no_test, allow_nonfinite, &err);
            rc = nn_dist_agree(dist, rc, &err, &report);
        }
    }
    if (cfg && rc == NN_OK) {
        nn_session_opts so = {.mode = NN_SESSION_TRAIN, .seed = cli->seed, .run_dir = run_dir,
                              .device = cli->device, .threads = cli->threads,
                              .resume = resume != NULL, .resume_path = resume,
                              .overwrite = overwrite, .dist = dist};
        rc = nn_session_open(&s, reg, cfg, &so, &err);
        if (rc == NN_OK && s.seed_resumed && rank0 && cli->verbosity >= 0)
            fprintf(stderr, "nntrain: resuming with the checkpoint's seed %llu (the model file "
                    "says %lld; --seed chooses, and a seed other than the checkpoint's is "
                    "refused)\n", (unsigned long long)s.seed, (long long)s.tc.seed);
    }
    /* a process that could not set up stops them all; one of them says why */
    rc = nn_dist_agree(dist, rc, &err, &report);
    if (rc && dist && !report) /* the one that says why may be ended by mpirun before it has */
        nn_signals_quiet_exit(NN_EXIT_FAIL);
    nn_train_result r = {0};
    int started = 0;
    if (rc == NN_OK) {
        /* the other processes of a data-parallel run stay quiet; rank 0 speaks for the run */
        nn_train_opts to = {.resume = resume, .handle_signals = 1,
                            .verbosity = rank0 ? cli->verbosity : -1,
                            .allow_nonfinite = allow_nonfinite, .test = !no_test};
        rc = nn_train_run(&s, &to, &r, &err);
        report = !r.error_elsewhere;
        started = !r.setup_failed;
        if (rc && dist && !started && !report)
            nn_signals_quiet_exit(rc == NN_ENONFINITE ? NN_EXIT_NONFINITE : NN_EXIT_FAIL);
    }
    if (rc && dist && started) {
        /* failed mid-run: the others may be waiting for this process; end them all */
        nn_dist_fail(dist, rc == NN_ENONFINITE ? NN_EXIT_NONFINITE : NN_EXIT_FAIL, err.msg);
    } else if (rc) {
        if (report)
            nn_cli_error("%s", err.msg);
        /* a model file that does not load is a bad command line, as for every verb */
        code = !cfg ? NN_EXIT_USAGE : rc == NN_ENONFINITE ? NN_EXIT_NONFINITE : NN_EXIT_FAIL;
        if (dist) /* said: the others' ends may now end this one too */
            nn_signals_quiet_exit(code);
    } else if (r.end == NN_END_SIGNAL) {
        if (rank0) {
            fprintf(stderr, "nntrain: interrupted after %lld completed epochs; checkpoint %s\n",
                    (long long)r.epochs_done, r.last_ckpt);
            print_resume_command(cli, r.last_ckpt, dist != NULL);
        }
        code = r.signal == SIGTERM   ? NN_EXIT_SIGTERM
                       : r.signal == SIGHUP ? NN_EXIT_SIGHUP
                                            : NN_EXIT_SIGINT;
    } else if (rank0) {
        print_result(&s, &r, dist);
    }
    nn_metrics_free(&r.test);
    nn_dist_close(dist); /* before the session: it detaches from the model */
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
