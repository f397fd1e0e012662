/* plugins.c: `nntrain plugins`, `plugins show NAME`, `plugins check DIR...` and the dispatch of
 * `plugins test` (plugins_test.c). Reads the registry and the files' symbol tables; never
 * calls a plugin function, so a broken file cannot crash this. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "nntrain/nntrain.h"
#include "optim/optim.h"
#include "params_internal.h"
#include "plugtest/plugtest.h"

int nn_cli_kind_from_name(const char *s)
{
    for (int k = 1; k < NN_KIND_COUNT_; k++)
        if (strcmp(nn_kind_name(k), s) == 0)
            return k;
    return 0;
}

static int bad_kind(const char *s)
{
    nn_cli_error("unknown kind '%s'; kinds are layer, loss, optimizer, scheduler, dataset, "
                 "transform, logger, backend, communicator", s);
    return NN_EXIT_USAGE;
}

static int cmp_entry(const void *a, const void *b)
{
    const nn_plugin_entry *x = *(const nn_plugin_entry *const *)a;
    const nn_plugin_entry *y = *(const nn_plugin_entry *const *)b;
    if (x->desc->kind != y->desc->kind)
        return x->desc->kind - y->desc->kind;
    int c = strcmp(x->desc->name, y->desc->name);
    return c ? c : strcmp(x->device, y->device);
}

static void print_problems(const nn_registry *r)
{
    int np = nn_registry_problem_count(r);
    if (!np)
        return;
    printf("\n%d problem%s:\n", np, np == 1 ? "" : "s");
    for (int i = 0; i < np; i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        printf("  %s: %s\n", p->path, p->reason);
    }
}

static int list(nn_registry *r, int kind)
{
    int n = nn_registry_count(r), shown = 0;
    const nn_plugin_entry **sorted = calloc((size_t)n + 1, sizeof *sorted);
    if (!sorted)
        return NN_EXIT_FAIL;
    for (int i = 0; i < n; i++)
        sorted[i] = nn_registry_entry(r, i);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);
    printf("%-10s %-22s %-7s %-8s %s\n", "KIND", "NAME", "DEVICE", "VERSION", "FILE");
    for (int i = 0; i < n; i++) {
        const nn_plugin_entry *e = sorted[i];
        if (kind && e->desc->kind != kind)
            continue;
        printf("%-10s %-22s %-7s %-8s %s\n", nn_kind_name(e->desc->kind), e->desc->name,
               e->device, e->desc->version, e->path);
        printf("%-10s   %s\n", "", e->desc->summary);
        shown++;
    }
    free(sorted);
    printf("%d plugin%s\n", shown, shown == 1 ? "" : "s");
    print_problems(r);
    return NN_EXIT_OK;
}

static void print_keys(const char *title, const nn_param_spec *keys)
{
    printf("\n  %s\n", title);
    for (const nn_param_spec *s = keys; s->name; s++) {
        char desc[200];
        nn_param_spec_describe(s, desc, sizeof desc);
        printf("    %-20s %s", s->name, desc);
        if (s->required)
            printf(", required");
        else if (s->def)
            printf(", default %s", *s->def ? s->def : "\"\"");
        else
            printf(", optional");
        printf("\n      %s\n", s->doc);
    }
}

static void show_one(const nn_registry *r, const nn_plugin_entry *e)
{
    const nn_plugin_desc *d = e->desc;
    printf("%s %s (%s, device %s)\n  %s\n\n", nn_kind_name(d->kind), d->name, d->version,
           e->device, d->summary);
    printf("  license: %s\n  file:    %s\n", d->license, e->path);
    if (e->shadowed_path)
        printf("  overrides: %s (--plugin-override: this file, earlier in the search order, "
               "is the one used)\n", e->shadowed_path);
    /* a second file with the same (kind, name, device) and no --plugin-override: training
     * refuses the name as ambiguous, so the file above is not simply "the one" */
    for (int i = 0; i < nn_registry_problem_count(r); i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        if (p->status == NN_EEXIST && p->name && p->kind == d->kind &&
            strcmp(p->name, d->name) == 0 && p->device && strcmp(p->device, e->device) == 0)
            printf("  conflict: %s also provides it and was refused; nntrain refuses the name "
                   "until one file is removed, or --plugin-override lets %s (earlier in the "
                   "search order) override it\n", p->path, e->path);
    }
    if (d->caps)
        printf("  capabilities:%s%s%s%s%s\n", (d->caps & NN_CAP_BACKWARD) ? " backward" : "",
               (d->caps & NN_CAP_THREAD_SAFE) ? " thread-safe" : "",
               (d->caps & NN_CAP_STATEFUL) ? " stateful" : "",
               (d->caps & NN_CAP_ELEMENTWISE) ? " elementwise" : "",
               (d->caps & NN_CAP_SPLIT_UNITS) ? " split-units" : "");
    if (!d->params || !d->params[0].name)
        printf("\n  no parameters\n");
    else
        print_keys("parameters:", d->params);
    if (d->kind == NN_KIND_SCHEDULER)
        print_keys("keys nntrain itself reads from [scheduler], with any scheduler:",
                   nn_optim_scheduler_core_keys());
}

/* "no plugin named X" over every kind (or the one asked for), with the closest name */
static void not_found(const nn_registry *r, int kind, const char *name)
{
    int n = nn_registry_count(r), nc = 0;
    const char **cands = calloc((size_t)n + 1, sizeof *cands);
    for (int i = 0; cands && i < n; i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if (!kind || e->desc->kind == kind)
            cands[nc++] = e->desc->name;
    }
    const char *near = cands ? nn_closest(name, cands, nc) : NULL;
    char what[64];
    snprintf(what, sizeof what, "%s%s", kind ? nn_kind_name(kind) : "", kind ? " " : "");
    const nn_plugin_problem *p = nn_registry_problem_named(r, name);
    if (p)
        nn_cli_error("no %splugin named '%s': %s, which would hold it, failed to load: %s", what,
                     name, p->path, p->reason);
    else if (near)
        nn_cli_error("no %splugin named '%s' (did you mean '%s'?)", what, name, near);
    else
        nn_cli_error("no %splugin named '%s'; `nntrain plugins%s%s` lists them%s", what, name,
                     kind ? " --kind " : "", kind ? nn_kind_name(kind) : "",
                     nn_registry_problem_count(r) ? ", and some plugin files failed to load "
                     "(`nntrain plugins check`)" : "");
    free(cands);
}

/* A name of plugins of several kinds ("csv": a dataset and a logger) is said first, so that
 * the second one is not missed below the first one's keys: "csv is a dataset and a logger;
 * both are shown (--kind dataset or --kind logger for one)". */
static void say_kinds(const nn_registry *r, const char *name)
{
    int seen[NN_KIND_COUNT_] = {0}, n = 0;
    for (int i = 0; i < nn_registry_count(r); i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        int k = e->desc->kind;
        if (strcmp(e->desc->name, name) == 0 && k > 0 && k < NN_KIND_COUNT_ && !seen[k]++)
            n++;
    }
    if (n < 2)
        return;
    /* at most nine kinds of at most 13 letters: the buffers cannot fill */
    char kinds[400] = "", opts[400] = "";
    for (int k = 1, said = 0; k < NN_KIND_COUNT_; k++) {
        if (!seen[k])
            continue;
        const char *kn = nn_kind_name(k), *last = said == n - 1 ? " and " : ", ";
        snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s %s",
                 said ? last : "", strchr("aeiou", kn[0]) ? "an" : "a", kn);
        snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s--kind %s",
                 !said ? "" : said == n - 1 ? " or " : ", ", kn);
        said++;
    }
    printf("%s is %s; %s shown (%s for one)\n\n", name, kinds, n == 2 ? "both are" : "all are",
           opts);
}

/* The device types this registry knows ("cpu" and each backend's), as "cpu, sim, cuda". */
static int known_device_type(const nn_registry *r, const char *type)
{
    if (strcmp(type, "cpu") == 0)
        return 1;
    for (int i = 0; i < nn_registry_count(r); i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if (e->desc->kind == NN_KIND_BACKEND && strcmp(e->device, type) == 0)
            return 1;
    }
    return 0;
}

/* `plugins show NAME` shows every device's variant; with --device DEV only that device
 * type's, and a device type no backend provides is refused as a command-line error. */
static int show(const nn_cli *cli, nn_registry *r, int argc, char **argv)
{
    const char *name = NULL, *device = NULL, *v;
    int kind = 0;
    for (int i = 0; i < argc; i++) {
        if ((v = nn_cli_value(argc, argv, &i, "--kind"))) {
            if (!(kind = nn_cli_kind_from_name(v)))
                return bad_kind(v);
        } else if (strcmp(argv[i], "--kind") == 0) {
            return NN_EXIT_USAGE; /* nn_cli_value said that it needs a value */
        } else if (strcmp(argv[i], "--all-devices") == 0) {
            device = "*";
        } else if (argv[i][0] == '-') {
            nn_cli_error("plugins show: unknown option '%s'", argv[i]);
            return NN_EXIT_USAGE;
        } else if (!name) {
            name = argv[i];
        } else {
            nn_cli_error("plugins show: one NAME at a time ('%s' is extra)", argv[i]);
            return NN_EXIT_USAGE;
        }
    }
    if (!name) {
        nn_cli_error("plugins show: which plugin? e.g. `nntrain plugins show dense`");
        return NN_EXIT_USAGE;
    }
    char type[48] = "";
    if (cli->device_given && device) {
        nn_cli_error("plugins show: --device %s and --all-devices: give one of the two",
                     cli->device);
        return NN_EXIT_USAGE;
    }
    if (cli->device_given) {
        int index; /* the syntax was checked with the common options */
        nn_dev_spec_parse(cli->device, type, sizeof type, &index);
        if (!known_device_type(r, type)) {
            nn_error err = {0};
            char subject[96];
            snprintf(subject, sizeof subject, "plugins show: --device '%s'", cli->device);
            nn_dev_type_missing(r, subject, type, &err);
            nn_cli_error("%s", err.msg);
            return NN_EXIT_USAGE;
        }
    }
    if (!kind)
        say_kinds(r, name);
    int shown = 0, other_devices = 0;
    char others[256] = "";
    for (int i = 0; i < nn_registry_count(r); i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        if (strcmp(e->desc->name, name) != 0 || (kind && e->desc->kind != kind))
            continue;
        if (*type && strcmp(e->device, type) != 0) {
            size_t l = strlen(others);
            snprintf(others + l, sizeof others - l, "%s%s", other_devices++ ? ", " : "",
                     e->device);
            continue;
        }
        if (shown++)
            printf("\n");
        show_one(r, e);
    }
    if (shown)
        return NN_EXIT_OK;
    if (other_devices) {
        nn_cli_error("plugins show: no %s%s'%s' for device %s; devices that have it: %s (drop "
                     "--device to see every variant)", kind ? nn_kind_name(kind) : "plugin",
                     kind ? " " : " ", name, type, others);
        return NN_EXIT_FAIL;
    }
    not_found(r, kind, name);
    return NN_EXIT_FAIL;
}

static int check(nn_cli *cli, int argc, char **argv)
{
    nn_registry *r;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-') { /* the common options are taken before; a directory named
                                    "-x" can be given as ./-x */
            nn_cli_error("plugins check: unexpected option '%s'; it takes directories (see "
                         "`nntrain help plugins`)", argv[i]);
            return NN_EXIT_USAGE;
        }
    if (argc == 0) {
        r = nn_cli_registry(cli);
        if (!r)
            return NN_EXIT_FAIL;
    } else {
        nn_registry_opts opts = {.allow_insecure = cli->allow_insecure,
                                 .allow_override = cli->allow_override};
        r = nn_registry_new(&opts);
        if (!r)
            return NN_EXIT_FAIL;
        for (int i = 0; i < argc; i++) {
            nn_error err = {0};
            nn_registry_add_dir(r, argv[i], &err); /* recorded as a problem when it fails */
        }
    }
    int n = nn_registry_count(r), np = nn_registry_problem_count(r), ok = 0;
    for (int i = 0; i < n; i++) {
        const nn_plugin_entry *e = nn_registry_entry(r, i);
        nn_error err = {0};
        char names[512];
        /* the file's exports, once per file: a second descriptor symbol is never loaded */
        int first = 1;
        for (int k = 0; k < i && first; k++)
            first = strcmp(nn_registry_entry(r, k)->path, e->path) != 0;
        int extra = first ? nn_plugin_extra_symbols(e->path, names, sizeof names, &err) : 0;
        /* the file loads (the lines below say what it holds): a rule of packaging it breaks
         * is a warning about the file, not a second verdict on its plugins */
        if (extra > 0) {
            printf("WARNING %s: exports %d symbol%s besides " NN_PLUGIN_SYMBOL_NAME ": %s; "
                   "nntrain loads it, but a plugin exports only its descriptor list (build with "
                   "-fvisibility=hidden; list every descriptor in one NN_PLUGIN_EXPORT(&a, "
                   "&b))\n", e->path, extra, extra == 1 ? "" : "s", names);
            np++;
        } else if (extra < 0) {
            printf("WARNING %s; nntrain loads it, but its exports cannot be checked (a "
                   "truncated or damaged file?)\n", err.msg); /* err.msg names the file */
            np++;
        }
        if (nn_plugin_check_kind(e->desc, &err) != NN_OK) {
            printf("BROKEN  %s: %s\n", e->path, err.msg);
            np++;
            continue;
        }
        ok++;
        printf("ok      %s: %s %s %s (device %s)\n", e->path, nn_kind_name(e->desc->kind),
               e->desc->name, e->desc->version, e->device);
    }
    for (int i = 0; i < nn_registry_problem_count(r); i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        printf("BROKEN  %s: %s\n", p->path, p->reason);
    }
    printf("%d file%s checked: %d plugin%s ok, %d problem%s\n", nn_registry_file_count(r),
           nn_registry_file_count(r) == 1 ? "" : "s", ok, ok == 1 ? "" : "s", np,
           np == 1 ? "" : "s");
    nn_registry_free(r);
    return np ? NN_EXIT_BROKEN : NN_EXIT_OK;
}

int nn_cmd_plugins(nn_cli *cli)
{
    int argc = cli->argc;
    char **argv = cli->argv;
    if (argc > 0 && strcmp(argv[0], "check") == 0)
        return check(cli, argc - 1, argv + 1);
    nn_registry *r = nn_cli_registry(cli);
    if (!r)
        return NN_EXIT_FAIL;
    int rc;
    if (argc > 0 && strcmp(argv[0], "show") == 0) {
        rc = show(cli, r, argc - 1, argv + 1);
    } else if (argc > 0 && strcmp(argv[0], "test") == 0) {
        rc = nn_cli_plugins_test(cli, r, argc - 1, argv + 1);
    } else {
        int kind = 0;
        rc = NN_EXIT_OK;
        for (int i = 0; i < argc && rc == NN_EXIT_OK; i++) {
            const char *v = nn_cli_value(argc, argv, &i, "--kind");
            if (v && !(kind = nn_cli_kind_from_name(v)))
                rc = bad_kind(v);
            else if (!v && strcmp(argv[i], "--kind") == 0)
                rc = NN_EXIT_USAGE; /* nn_cli_value said that it needs a value */
            else if (!v) {
                nn_cli_error("plugins: unexpected argument '%s'; see `nntrain help plugins`",
                             argv[i]);
                rc = NN_EXIT_USAGE;
            }
        }
        if (rc == NN_EXIT_OK)
            rc = list(r, kind);
    }
    nn_registry_free(r);
    return rc;
}
