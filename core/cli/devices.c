/* devices.c: `nntrain devices` (each device type, its device count and description, and the
 * layers, losses and optimizers it implements) and `nntrain devices test TYPE[:N]` (the
 * conformance run of core/conformance_device.c). Only reads the registry and prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "conformance.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "  layers: a, b, c" wrapped at 96 columns; nothing when the type has none of this kind */
static void print_kind(const nn_registry *r, const char *type, int kind, const char *title)
{
    int n = nn_registry_count(r), m = 0;
    const char **names = calloc((size_t)n + 1, sizeof *names);
    if (!names)
        return;
    for (int i = 0; i < n; i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if (e->desc->kind == kind && strcmp(e->device, type) == 0)
            names[m++] = e->desc->name;
    }
    qsort(names, (size_t)m, sizeof *names, cmp_str);
    int col = 0;
    for (int i = 0; i < m; i++) {
        if (i == 0)
            col = printf("    %-12s", title);
        else if (col + (int)strlen(names[i]) + 2 > 96)
            col = printf(",\n    %-12s", "");
        else
            col += printf(", ");
        col += printf("%s", names[i]);
    }
    if (m)
        printf("\n");
    free(names);
}

static int seen(const char **types, int n, const char *t)
{
    for (int i = 0; i < n; i++)
        if (strcmp(types[i], t) == 0)
            return 1;
    return 0;
}

static int list_devices(nn_registry *r)
{
    int n = nn_registry_count(r), nt = 0;
    const char **types = calloc((size_t)n + 2, sizeof *types);
    if (!types)
        return NN_EXIT_FAIL;
    types[nt++] = "cpu";
    for (int i = 0; i < n; i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if (!seen(types, nt, e->device))
            types[nt++] = e->device;
    }
    qsort(types + 1, (size_t)nt - 1, sizeof *types, cmp_str);
    printf("%-10s %-6s %s\n", "DEVICE", "COUNT", "DESCRIPTION");
    for (int t = 0; t < nt; t++) {
        int has_backend = t == 0;
        for (int i = 0; i < n && !has_backend; i++) {
            const nn_plugin_entry *e = nn_registry_entry(r, i);
            has_backend = e->desc->kind == NN_KIND_BACKEND && strcmp(e->device, types[t]) == 0;
        }
        if (!has_backend) {
            printf("%-10s %-6s no backend plugin for this device type: its plugins cannot "
                   "run\n", types[t], "-");
        } else {
            nn_devtype_info info;
            nn_devtype_probe(r, types[t], 0, &info);
            char count[16];
            snprintf(count, sizeof count, "%d", info.count);
            printf("%-10s %-6s %s\n", types[t], info.count < 0 ? "?" : count, info.line);
            if (info.path)
                printf("    %-12s%s\n", "backend:", info.path);
        }
        /* a second pack of the type: --device refuses the ambiguity; say so here too */
        const nn_plugin_problem *dup = nn_registry_conflict(r, types[t]);
        if (dup)
            printf("    %-12s%s: %s\n", "conflict:", dup->path, dup->reason);
        print_kind(r, types[t], NN_KIND_LAYER, "layers:");
        print_kind(r, types[t], NN_KIND_LOSS, "losses:");
        print_kind(r, types[t], NN_KIND_OPTIMIZER, "optimizers:");
    }
    free(types);
    return NN_EXIT_OK;
}

static int test_device(nn_registry *r, int argc, char **argv)
{
    nn_conformance_opts o = {0};
    const char *v;
    for (int i = 0; i < argc; i++) {
        if ((v = nn_cli_value(argc, argv, &i, "--only"))) {
            o.only = v;
        } else if ((v = nn_cli_value(argc, argv, &i, "--timeout"))) {
            char *end;
            o.timeout_s = strtod(v, &end);
            if (*end || o.timeout_s <= 0) {
                nn_cli_error("devices test: --timeout '%s': expected seconds > 0", v);
                return NN_EXIT_USAGE;
            }
        } else if (argv[i][0] == '-') {
            if (strcmp(argv[i], "--only") != 0 && strcmp(argv[i], "--timeout") != 0)
                nn_cli_error("devices test: unknown option '%s'", argv[i]);
            return NN_EXIT_USAGE;
        } else if (!o.device) {
            o.device = argv[i];
        } else {
            nn_cli_error("devices test: one device only, got '%s' and '%s'", o.device, argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    if (!o.device) {
        nn_cli_error("devices test: name the device to check, e.g. `nntrain devices test sim` "
                     "or `nntrain devices test cuda:1`");
        return NN_EXIT_USAGE;
    }
    char type[48];
    int index;
    if (nn_dev_spec_parse(o.device, type, sizeof type, &index) != 0) {
        nn_cli_error("devices test '%s': " NN_DEV_SPEC_RULE, o.device);
        return NN_EXIT_USAGE;
    }
    int checks = 0, failed = 0;
    nn_error err = {0};
    if (nn_conformance_run(r, &o, stdout, &checks, &failed, &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        return NN_EXIT_FAIL;
    }
    return failed ? NN_EXIT_FAIL : NN_EXIT_OK;
}

int nn_cmd_devices(nn_cli *cli)
{
    if (cli->argc > 0 && strcmp(cli->argv[0], "test") != 0) {
        nn_cli_error("devices: unknown subcommand '%s'; `nntrain help devices` shows the usage",
                     cli->argv[0]);
        return NN_EXIT_USAGE;
    }
    nn_cli_threads(cli); /* before any plugin loads OpenMP */
    nn_registry *r = nn_cli_registry(cli);
    if (!r)
        return NN_EXIT_FAIL;
    int rc = cli->argc == 0 ? list_devices(r) : test_device(r, cli->argc - 1, cli->argv + 1);
    nn_registry_free(r);
    return rc;
}
