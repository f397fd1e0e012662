/* export.c: `nntrain export MODEL.ini --checkpoint C [--format onnx|safetensors-torch]
 * [-o FILE] [--opset N]`: a trained model for other runtimes. It opens the session as eval
 * does (the checkpoint's weights and fitted transforms) and hands it to the core's writers
 * (core/export_*.c); it writes nothing but the output file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "export_internal.h"

/* the checkpoint's optimizer steps (its global_step), -1 when it does not say */
static int64_t checkpoint_steps(const char *path)
{
    nn_checkpoint *c;
    nn_error err = {0};
    if (nn_checkpoint_read(path, &c, &err) != NN_OK)
        return -1;
    /* the training forward passes (batchnorm's num_batches_tracked), or, in checkpoints
     * older than that count, the updates */
    const char *v = nn_checkpoint_meta(c, "batches_seen");
    if (!v)
        v = nn_checkpoint_meta(c, "global_step");
    char *end = NULL;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : -1;
    int ok = v && *v && !*end && errno == 0 && n >= 0; /* end points into c: before freeing */
    nn_checkpoint_free(c);
    return ok ? n : -1;
}

/* runs/x/best.safetensors -> runs/x/best<ext> */
static void default_output(char *buf, size_t cap, const char *ckpt, const char *ext)
{
    snprintf(buf, cap, "%s", ckpt);
    char *slash = strrchr(buf, '/'), *dot = strrchr(buf, '.');
    if (dot && (!slash || dot > slash + 1))
        *dot = 0;
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s", ext);
}

int nn_cmd_export(nn_cli *cli)
{
    const char *v, *format = "onnx", *output = NULL;
    nn_cli_eval_opts eo = {0};
    long opset = NN_ONNX_OPSET_MIN;
    static const char *const once[] = {"--checkpoint", "--format", "--output|-o", "--opset", NULL};
    if (nn_cli_once("export", cli->argc, cli->argv, once))
        return NN_EXIT_USAGE;
    for (int i = 1; i < cli->argc; i++) {
        if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--checkpoint")))
            eo.checkpoint = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--format")))
            format = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--output")) ||
                 (v = nn_cli_value(cli->argc, cli->argv, &i, "-o")))
            output = v;
        else if ((v = nn_cli_value(cli->argc, cli->argv, &i, "--opset"))) {
            char *end;
            opset = strtol(v, &end, 10);
            if (*end || opset < NN_ONNX_OPSET_MIN || opset > NN_ONNX_OPSET_MAX) {
                nn_cli_error("export: --opset %s: expected an ONNX opset from %d to %d", v,
                             NN_ONNX_OPSET_MIN, NN_ONNX_OPSET_MAX);
                return NN_EXIT_USAGE;
            }
        } else if (strcmp(cli->argv[i], "--allow-nonfinite") == 0) {
            eo.allow_nonfinite = 1;
        } else {
            nn_cli_error("export: unexpected argument '%s'; see `nntrain help export`",
                         cli->argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    int onnx = strcmp(format, "onnx") == 0;
    if (!onnx && strcmp(format, "safetensors-torch") != 0) {
        nn_cli_error("export: --format %s: expected onnx or safetensors-torch", format);
        return NN_EXIT_USAGE;
    }
    nn_config *cfg;
    nn_registry *reg;
    nn_session s = {0};
    if (output && !*output) {
        nn_cli_error("export: -o '': name the file to write");
        return NN_EXIT_USAGE;
    }
    if (strcmp(cli->device, "cpu") != 0) {
        /* the exported model is the same whatever trained it, and only the CPU plugins
         * describe themselves to other runtimes (ONNX, PyTorch) */
        nn_cli_error("export: --device %s: export runs on the host from the checkpoint (any "
                     "device's checkpoint); leave --device out", cli->device);
        return NN_EXIT_USAGE;
    }
    int code = nn_cli_eval_session(cli, "export", &eo, &cfg, &reg, &s);
    char def[4096];
    if (code == NN_EXIT_OK && !output) {
        default_output(def, sizeof def, eo.checkpoint, onnx ? ".onnx" : ".torch.safetensors");
        output = def;
    }
    if (code == NN_EXIT_OK && nn_cli_output_guard(cli, "export", output, eo.checkpoint, NULL, 0, cfg, reg))
        code = NN_EXIT_USAGE;
    if (code == NN_EXIT_OK) {
        nn_export_opts o = {.checkpoint = eo.checkpoint, .output = output, .opset = (int)opset,
                            .steps = checkpoint_steps(eo.checkpoint)};
        nn_error err = {0};
        if ((onnx ? nn_export_onnx(&s, &o, &err) : nn_export_torch(&s, &o, &err)) != NN_OK) {
            nn_cli_error("export: %s", err.msg);
            code = NN_EXIT_FAIL;
        } else if (cli->verbosity >= 0) {
            if (onnx)
                printf("wrote %s (ONNX opset %ld)\n", output, opset);
            else
                printf("wrote %s (PyTorch state dict, safetensors)\n", output);
        }
    }
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
