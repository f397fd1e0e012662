/* predict.c: `nntrain predict MODEL.ini --checkpoint C [--input FILE...]`: one CSV row per
 * sample of the test/val split or of the user's files, with the predicted class, its
 * probability and every class's probability (softmax of the output), or for regression the
 * target (of a split) and the raw outputs. It only reads. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evaluate.h"
#include "file_replace.h"

typedef struct pctx {
    FILE *out;
    const nn_dataset_info *info;
    int header_done;
    double *probs;
    int classification;
    int64_t n_target; /* F32 targets (regression) shown beside the outputs; 0: none */
    const nn_data *data; /* non-NULL for --input: rows are named by nn_data_describe */
    int write_errno;     /* why a row could not be written (row() then stops the run) */
} pctx;

/* 0, or -1 after keeping errno when the output has failed */
static int written(pctx *p)
{
    if (!ferror(p->out))
        return 0;
    p->write_errno = errno ? errno : EIO;
    return -1;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void class_field(FILE *f, const nn_dataset_info *info, int64_t c)
{
    char nb[24];
    if (info->class_names && c >= 0 && c < info->n_classes && info->class_names[c])
        csv_field(f, info->class_names[c]);
    else {
        snprintf(nb, sizeof nb, "%lld", (long long)c);
        fputs(nb, f);
    }
}

/* the CSV header; target: the rows carry their label or target (not so for --input) */
static void header(pctx *p, int64_t n_out, int target)
{
    p->header_done = 1;
    if (p->classification) {
        fprintf(p->out, p->data ? "input,predicted,probability"
                                : "index,label,predicted,probability");
        for (int64_t c = 0; c < n_out; c++) {
            fputs(",p_", p->out);
            class_field(p->out, p->info, c);
        }
    } else {
        fprintf(p->out, p->data ? "input" : "index");
        for (int64_t c = 0; target && c < p->n_target; c++)
            fprintf(p->out, ",target_%lld", (long long)c);
        for (int64_t c = 0; c < n_out; c++)
            fprintf(p->out, ",output_%lld", (long long)c);
    }
    fputc('\n', p->out);
}

static int row(void *ctx, int64_t index, const float *out, int64_t n_out, const void *target)
{
    pctx *p = ctx;
    char name[1024];
    if (!p->header_done)
        header(p, n_out, target != NULL);
    if (p->data) {
        nn_data_describe(p->data, NN_PART_PREDICT, index, name, sizeof name);
        csv_field(p->out, name);
    } else {
        fprintf(p->out, "%lld", (long long)index);
    }
    if (!p->classification) {
        for (int64_t c = 0; target && c < p->n_target; c++)
            fprintf(p->out, ",%.6g", (double)((const float *)target)[c]);
        for (int64_t c = 0; c < n_out; c++)
            fprintf(p->out, ",%.6g", (double)out[c]);
        fputc('\n', p->out);
        return written(p);
    }
    double mx = out[0], sum = 0;
    int64_t best = 0;
    for (int64_t c = 1; c < n_out; c++)
        if (out[c] > mx) {
            mx = out[c];
            best = c;
        }
    for (int64_t c = 0; c < n_out; c++)
        sum += p->probs[c] = exp((double)out[c] - mx);
    if (target) {
        fputc(',', p->out);
        class_field(p->out, p->info, *(const int32_t *)target);
    }
    fputc(',', p->out);
    class_field(p->out, p->info, best);
    fprintf(p->out, ",%.6f", p->probs[best] / sum);
    for (int64_t c = 0; c < n_out; c++)
        fprintf(p->out, ",%.6f", p->probs[c] / sum);
    fputc('\n', p->out);
    return written(p);
}

int nn_cmd_predict(nn_cli *cli)
{
    const char *ckpt = NULL, *output = NULL, *v;
    int allow_nonfinite = 0;
    long long limit = 0;
    nn_part part = NN_PART_TEST;
    int split_given = 0, n_inputs = 0;
    const char **inputs = calloc((size_t)cli->argc + 1, sizeof *inputs);
    if (!inputs) {
        nn_cli_error("predict: out of memory");
        return NN_EXIT_FAIL;
    }
    static const char *const once[] = {"--checkpoint", "--output", "--limit", "--split", NULL};
    if (nn_cli_once("predict", cli->argc, cli->argv, once)) {
        free(inputs);
        return NN_EXIT_USAGE;
    }
    for (int i = 1; i < cli->argc; i++) {
        if (strncmp(cli->argv[i], "--input", 7) == 0 &&
            (cli->argv[i][7] == 0 || cli->argv[i][7] == '=')) {
            /* --input FILE [FILE...] (up to the next option) or --input=FILE */
            if (cli->argv[i][7] == '=') {
                inputs[n_inputs++] = cli->argv[i] + 8;
                continue;
            }
            int first = n_inputs;
            while (i + 1 < cli->argc && strncmp(cli->argv[i + 1], "--", 2) != 0)
                inputs[n_inputs++] = cli->argv[++i];
            if (n_inputs == first) {
                nn_cli_error("predict: --input needs at least one FILE");
                free(inputs);
                return NN_EXIT_USAGE;
            }
        } else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--checkpoint")))
            ckpt = v;
        else if (strcmp(cli->argv[i], "--allow-nonfinite") == 0)
            allow_nonfinite = 1;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--output")))
            output = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--limit"))) {
            char *end;
            errno = 0;
            limit = strtoll(v, &end, 10);
            if (*end || end == v || limit < 0 || errno == ERANGE) {
                nn_cli_error("predict: --limit %s: expected a non-negative integer", v);
                free(inputs);
                return NN_EXIT_USAGE;
            }
        } else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--split"))) {
            split_given = 1;
            if (strcmp(v, "test") == 0)
                part = NN_PART_TEST;
            else if (strcmp(v, "val") == 0)
                part = NN_PART_VAL;
            else {
                nn_cli_error("predict: --split %s: expected test or val", v);
                free(inputs);
                return NN_EXIT_USAGE;
            }
        } else {
            nn_cli_error("predict: unexpected argument '%s'; see `nntrain help predict`",
                         cli->argv[i]);
            free(inputs);
            return NN_EXIT_USAGE;
        }
    }
    if (split_given && n_inputs) {
        nn_cli_error("predict: give --split or --input, not both");
        free(inputs);
        return NN_EXIT_USAGE;
    }
    if (!output && nn_cli_stdout_closed()) {
        nn_cli_error("predict: the standard output is closed, and the predictions go there: "
                     "open it, or give --output FILE");
        free(inputs);
        return NN_EXIT_FAIL;
    }
    if (n_inputs)
        part = NN_PART_PREDICT;
    nn_config *cfg;
    nn_registry *reg;
    nn_session s = {0};
    nn_cli_eval_opts eo = {.checkpoint = ckpt, .val = part == NN_PART_VAL, .inputs = inputs,
                           .n_inputs = n_inputs, .allow_nonfinite = allow_nonfinite};
    int code = nn_cli_eval_session(cli, "predict", &eo, &cfg, &reg, &s);
    pctx p = {.out = stdout};
    /* --output is written next to its place and renamed at the end: an interrupted or failed
     * run never leaves a truncated file where a complete one was */
    char tmp[PATH_MAX + 32] = "";
    nn_error ferr = {0};
    if (code == NN_EXIT_OK && nn_cli_output_guard(cli, "predict", output, ckpt, inputs, n_inputs, cfg, reg))
        code = NN_EXIT_USAGE;
    if (code == NN_EXIT_OK && output &&
        !(p.out = nn_file_begin(output, "predictions", tmp, sizeof tmp, NN_FILE_USER, &ferr))) {
        nn_cli_error("predict: %s", ferr.msg);
        code = NN_EXIT_FAIL;
    }
    if (code == NN_EXIT_OK) {
        p.info = nn_data_info(s.data);
        p.data = n_inputs ? s.data : NULL;
        p.classification = p.info->n_classes > 0 && nn_tensor_dtype(&p.info->target) == NN_I32;
        if (!p.classification && nn_tensor_dtype(&p.info->target) == NN_F32)
            p.n_target = (int64_t)nn_tensor_numel(&p.info->target);
        const nn_tensor *o = nn_plan_output(s.binds[0].plan);
        p.probs = calloc((size_t)(nn_tensor_numel(o) / o->shape[0]) + 1, sizeof *p.probs);
        nn_error err = {0};
        if (!p.probs || nn_predict(&s, part, limit, row, &p, &err) != NN_OK) {
            if (p.write_errno)
                nn_error_set(&err, NN_EIO, "cannot write predictions %s: %s",
                             output ? output : "to the standard output",
                             strerror(p.write_errno));
            nn_cli_error("predict: %s", p.probs ? err.msg : "out of memory");
            code = NN_EXIT_FAIL;
        } else if (!p.header_done) { /* no sample: the header alone says what would come */
            header(&p, nn_tensor_numel(o) / o->shape[0], !p.data);
        }
        free(p.probs);
    }
    if (p.out && p.out != stdout &&
        nn_file_commit(p.out, tmp, output, "predictions", code == NN_EXIT_OK, &ferr) != NN_OK) {
        nn_cli_error("predict: %s", ferr.msg);
        code = NN_EXIT_FAIL;
    }
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    free(inputs);
    return code;
}
