/* summary.c: `nntrain summary MODEL.ini`: checks every section as train does (with train's own
 * code: the session, the optimizer driver, the loggers), then prints per layer output shape,
 * parameters, forward FLOPs and activation memory at the configured batch size, and the
 * totals. Writes nothing: no run directory, no logger is opened. */
#include <stdio.h>

#include "cli.h"
#include "loggers.h"
#include "session.h"

/* What train builds after the session and summary does not run: the optimizer with its
 * scheduler, and the loggers (created, never opened). */
static int check_the_rest(nn_session *s, nn_error *err)
{
    int64_t n = nn_data_size(s->data, NN_PART_TRAIN), bs = s->tc.batch_size;
    int64_t steps = s->tc.drop_last ? n / bs : (n + bs - 1) / bs;
    int rc = nn_session_optim(s, steps > 0 ? steps : 1, err);
    if (rc)
        return rc;
    nn_loggers *lg = NULL;
    rc = nn_loggers_open(s->reg, s->cfg, NULL, 1, &lg, err);
    nn_loggers_close(lg);
    return rc;
}

static void thousands(char *buf, size_t cap, unsigned long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static void human(char *buf, size_t cap, double v, const char *unit)
{
    const char *pre[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(buf, cap, "%.2f %s%s", v, pre[i], unit);
}

int nn_cmd_summary(nn_cli *cli)
{
    if (cli->argc > 1) {
        nn_cli_error("summary: unexpected argument '%s'", cli->argv[1]);
        return NN_EXIT_USAGE;
    }
    nn_config *cfg = nn_cli_model(cli, "summary");
    if (!cfg)
        return NN_EXIT_USAGE;
    nn_registry *reg = nn_cli_registry(cli);
    nn_session s = {0};
    nn_error err = {0};
    nn_session_opts so = {.mode = NN_SESSION_SUMMARY, .seed = cli->seed, .device = cli->device,
                          .threads = cli->threads};
    int code = NN_EXIT_OK;
    if (!reg || nn_session_open(&s, reg, cfg, &so, &err) != NN_OK ||
        check_the_rest(&s, &err) != NN_OK) {
        if (reg)
            nn_cli_error("%s", err.msg);
        code = NN_EXIT_FAIL;
    }
    if (code == NN_EXIT_OK) {
        nn_plan *p = s.binds[0].plan;
        char sh[96], pc[32], fl[32], mem[32];
        printf("model %s, batch %lld, input %s\n\n", nn_config_path(cfg),
               (long long)s.tc.batch_size, nn_shape_str(nn_plan_input(p), sh, sizeof sh));
        printf("%-16s %-14s %-22s %12s %14s %12s\n", "layer", "type", "output", "params",
               "forward FLOPs", "activations");
        nn_layer_report r;
        long long params = 0;
        double flops = 0, act = 0;
        for (int i = 0; nn_plan_report(p, i, &r) == 0; i++) {
            thousands(pc, sizeof pc, (unsigned long long)r.params);
            human(fl, sizeof fl, (double)r.flops, "FLOP");
            human(mem, sizeof mem, (double)r.act_bytes, "B");
            printf("%-16s %-14s %-22s %12s %14s %12s\n", r.name, r.type,
                   nn_shape_str(&r.output, sh, sizeof sh), pc, fl, mem);
            params += r.params;
            flops += (double)r.flops;
            act += (double)r.act_bytes;
        }
        thousands(pc, sizeof pc, (unsigned long long)params);
        human(fl, sizeof fl, flops, "FLOP");
        human(mem, sizeof mem, act, "B");
        printf("\ntotal: %s parameters (%s trainable), %s forward per batch, %s of layer "
               "outputs\n", pc, pc, fl, mem);
        human(fl, sizeof fl, 3 * flops / (double)s.tc.batch_size, "FLOP");
        human(mem, sizeof mem, (double)(params * 4), "B");
        printf("about %s per training sample (forward + backward = 3x forward); "
               "parameters take %s\n", fl, mem);
    }
    if (s.reg)
        nn_session_close(&s);
    nn_registry_free(reg);
    nn_config_free(cfg);
    return code;
}
