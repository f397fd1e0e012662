/* plugins_test.c: `nntrain plugins test NAME|--all [--kind K] [--param KEY=VALUE]...`: finds
 * the plugins and hands each to the conformance runner (core/plugtest), with this
 * executable's counting allocator. Parses options only; the checks live in the core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "cli.h"

#define MAX_PARAMS 32

/* the device type of --device ("cuda:1" -> "cuda") */
static void device_type(const char *spec, char *buf, size_t cap)
{
    size_t l = strcspn(spec ? spec : "cpu", ":");
    snprintf(buf, cap, "%.*s", (int)l, spec ? spec : "cpu");
}

int nn_cli_plugins_test(nn_cli *cli, nn_registry *r, int argc, char **argv)
{
    const char *name = NULL, *v, *params[MAX_PARAMS + 1] = {0};
    int kind = 0, all = 0, np = 0;
    nn_plugtest_opts o = {.seed = cli->seed > 0 ? (uint64_t)cli->seed : 1,
                          .alloc = nn_alloc_counter_get()};
    for (int i = 0; i < argc; i++) {
        if ((v = nn_cli_value(argc, argv, &i, "--kind"))) {
            if (!(kind = nn_cli_kind_from_name(v))) {
                nn_cli_error("unknown kind '%s'; kinds are layer, loss, optimizer, scheduler, "
                             "dataset, transform, logger, backend", v);
                return NN_EXIT_USAGE;
            }
        } else if ((v = nn_cli_value(argc, argv, &i, "--param"))) {
            if (!strchr(v, '=')) {
                nn_cli_error("plugins test: --param wants KEY=VALUE, got '%s'", v);
                return NN_EXIT_USAGE;
            }
            if (np == MAX_PARAMS) {
                nn_cli_error("plugins test: at most %d --param options", MAX_PARAMS);
                return NN_EXIT_USAGE;
            }
            params[np++] = v;
        } else if ((v = nn_cli_value(argc, argv, &i, "--steps"))) {
            o.schedule_steps = atoi(v);
            if (o.schedule_steps < 2 || o.schedule_steps > 256) {
                nn_cli_error("plugins test: --steps wants a number in [2, 256], got '%s'", v);
                return NN_EXIT_USAGE;
            }
        } else if ((v = nn_cli_value(argc, argv, &i, "--timeout"))) {
            o.timeout_s = atof(v);
            if (!(o.timeout_s > 0)) {
                nn_cli_error("plugins test: --timeout wants seconds > 0, got '%s'", v);
                return NN_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--kind") == 0 || strcmp(argv[i], "--param") == 0 ||
                   strcmp(argv[i], "--steps") == 0 || strcmp(argv[i], "--timeout") == 0) {
            return NN_EXIT_USAGE; /* nn_cli_value said that it needs a value */
        } else if (strcmp(argv[i], "--no-fork") == 0) {
            o.no_fork = 1;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = 1;
        } else if (argv[i][0] == '-') {
            nn_cli_error("plugins test: unknown option '%s'; see `nntrain help plugins`", argv[i]);
            return NN_EXIT_USAGE;
        } else if (!name) {
            name = argv[i];
        } else {
            nn_cli_error("plugins test: one NAME at a time ('%s' is extra)", argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    if (!name == !all) {
        nn_cli_error("plugins test: which plugin? e.g. `nntrain plugins test conv2d`, or --all");
        return NN_EXIT_USAGE;
    }
    o.params = params;
    o.device = cli->device;
    char dtype[64];
    device_type(cli->device, dtype, sizeof dtype);
    int tested = 0, failed = 0, unchecked = 0;
    for (int i = 0; i < nn_registry_count(r); i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if ((name && strcmp(e->desc->name, name) != 0) || (kind && e->desc->kind != kind) ||
            strcmp(e->device, dtype) != 0)
            continue;
        if (tested++)
            printf("\n");
        nn_error err = {0};
        nn_plugtest_summary sum;
        if (nn_plugtest_run(r, e, &o, &sum, &err) == NN_OK)
            continue;
        if (sum.unchecked && all) {
            /* --all: the plugins that need data or keys are tested on fixtures of their own
             * (tests/sdk/test_stock_data.sh); named here, they do not fail the sweep */
            unchecked++;
            printf("not checked: %s\n", err.msg);
            continue;
        }
        failed++;
        if (!sum.failed) /* nothing could be checked, or the runner itself failed */
            nn_cli_error("%s", err.msg);
    }
    const nn_plugin_problem *p = !tested && name ? nn_registry_problem_named(r, name) : NULL;
    if (p) {
        nn_cli_error("plugins test: no plugin named '%s': %s, which would hold it, failed to "
                     "load: %s", name, p->path, p->reason);
        return NN_EXIT_FAIL;
    }
    if (!tested) {
        nn_cli_error("plugins test: no %s%splugin %s%s%sfor device %s; `nntrain plugins` lists "
                     "them", kind ? nn_kind_name(kind) : "", kind ? " " : "", name ? "named '" : "",
                     name ? name : "", name ? "' " : "", dtype);
        return NN_EXIT_FAIL;
    }
    if (tested > 1)
        printf("\n%d plugin%s tested, %d with failures, %d not checked (nothing could be)\n",
               tested, tested == 1 ? "" : "s", failed, unchecked);
    return failed ? NN_EXIT_FAIL : NN_EXIT_OK;
}
