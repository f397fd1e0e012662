/* common.c: the options every verb takes (--plugin-dir, --set, --seed, ...) and the
 * registry they configure. No verb parses these itself. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "device.h"
#include "config.h"
#include "dist.h"
#include "params_internal.h"
#include "nntrain_build_config.h"

/* stderr, with bytes a terminal would act on (escape sequences from a binary file given as a
 * model, say) shown as \xNN: messages quote file content */
static void say(const char *lead, const char *fmt, va_list ap)
{
    char raw[4096], shown[8192];
    vsnprintf(raw, sizeof raw, fmt, ap);
    fprintf(stderr, "nntrain: %s%s\n", lead, nn_text_escape(raw, shown, sizeof shown, 1));
}

void nn_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
}

void nn_cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

static int is_flag(const char *a, const char *flag);

const char *nn_cli_value(int argc, char **argv, int *i, const char *flag)
{
    size_t l = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, l) != 0)
        return NULL;
    if (a[l] == '=')
        return a + l + 1;
    if (a[l] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        nn_cli_error("%s needs a value", flag);
        return NULL;
    }
    /* `--set --run-dir x`: the value was left out, and the next option is not one */
    if (strncmp(argv[*i + 1], "--", 2) == 0 && argv[*i + 1][2]) {
        nn_cli_error("%s needs a value, but the next argument '%s' is an option (write %s=VALUE "
                     "for a value that starts with '--')", flag, argv[*i + 1], flag);
        return NULL;
    }
    return argv[++*i];
}

int nn_cli_once(const char *verb, int argc, char **argv, const char *const *flags)
{
    for (const char *const *f = flags; *f; f++) {
        /* "--output|-o": one option with two spellings */
        char names[2][64] = {"", ""};
        const char *bar = strchr(*f, '|');
        snprintf(names[0], sizeof names[0], "%.*s", bar ? (int)(bar - *f) : 63, *f);
        if (bar)
            snprintf(names[1], sizeof names[1], "%s", bar + 1);
        int first = -1;
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0)
                break;
            int hit = is_flag(argv[i], names[0]) || (names[1][0] && is_flag(argv[i], names[1]));
            if (!hit)
                continue;
            if (first >= 0) {
                int sa = !strchr(argv[first], '=') && first + 1 < argc;
                int sb = !strchr(argv[i], '=') && i + 1 < argc;
                nn_cli_error("%s: %s is given twice ('%s%s%s' and '%s%s%s'); it takes one value: "
                             "give it once", verb, names[0], argv[first], sa ? " " : "",
                             sa ? argv[first + 1] : "", argv[i], sb ? " " : "",
                             sb ? argv[i + 1] : "");
                return 1;
            }
            first = i;
            if (!strchr(argv[i], '='))
                i++; /* its value, whatever it reads */
        }
    }
    return 0;
}

static int is_flag(const char *a, const char *flag)
{
    size_t l = strlen(flag);
    return strncmp(a, flag, l) == 0 && (a[l] == 0 || a[l] == '=');
}

int nn_cli_parse(nn_cli *cli, const char *verb, int argc, char **argv)
{
    memset(cli, 0, sizeof *cli);
    cli->verb = verb;
    cli->seed = -1;
    cli->device = "cpu";
    /* one block, freed with cli->argv: the positional pointers, then room for the "a.b="
     * text of each --unset (never longer than its argument plus '=') */
    size_t text = 0;
    for (int i = 0; i < argc; i++)
        text += strlen(argv[i]) + 2;
    cli->argv = calloc(1, ((size_t)argc + 1) * sizeof *cli->argv + text);
    if (!cli->argv)
        return NN_EXIT_FAIL;
    char *room = (char *)(cli->argv + argc + 1);
    static const char *const once[] = {"--device", "--threads", "--seed", NULL};
    if (nn_cli_once(verb, argc, argv, once))
        return NN_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                cli->argv[cli->argc++] = argv[i];
            break;
        }
        if (is_flag(a, "--plugin-dir")) {
            if (!(v = nn_cli_value(argc, argv, &i, "--plugin-dir")))
                return NN_EXIT_USAGE;
            if (cli->n_plugin_dirs == NN_CLI_MAX_DIRS) {
                nn_cli_error("too many --plugin-dir options (at most %d)", NN_CLI_MAX_DIRS);
                return NN_EXIT_USAGE;
            }
            cli->plugin_dirs[cli->n_plugin_dirs++] = v;
        } else if (is_flag(a, "--set")) {
            if (!(v = nn_cli_value(argc, argv, &i, "--set")))
                return NN_EXIT_USAGE;
            if (cli->n_sets == NN_CLI_MAX_SETS) {
                nn_cli_error("too many --set options (at most %d)", NN_CLI_MAX_SETS);
                return NN_EXIT_USAGE;
            }
            cli->sets[cli->n_sets++] = v;
        } else if (is_flag(a, "--unset")) {
            if (!(v = nn_cli_value(argc, argv, &i, "--unset")))
                return NN_EXIT_USAGE;
            if (cli->n_sets == NN_CLI_MAX_SETS) {
                nn_cli_error("too many --set/--unset options (at most %d)", NN_CLI_MAX_SETS);
                return NN_EXIT_USAGE;
            }
            if (strchr(v, '=')) {
                nn_cli_error("--unset %s: expected section.key, without '=' (--set section.key="
                             "value changes a key)", v);
                return NN_EXIT_USAGE;
            }
            size_t l = strlen(v);
            memcpy(room, v, l);
            room[l] = '=';
            room[l + 1] = 0;
            cli->is_unset[cli->n_sets] = 1;
            cli->sets[cli->n_sets++] = room;
            room += l + 2;
        } else if (is_flag(a, "--device")) {
            if (!(v = nn_cli_value(argc, argv, &i, "--device")))
                return NN_EXIT_USAGE;
            /* the syntax is the command line's (exit 2; '' is an unset variable in a script,
             * never the CPU without a word); whether the device exists is the run's (1) */
            char type[48];
            int index;
            if (nn_dev_spec_parse(v, type, sizeof type, &index) != 0) {
                nn_cli_error("--device '%s': " NN_DEV_SPEC_RULE, v);
                return NN_EXIT_USAGE;
            }
            cli->device = v;
            cli->device_given = 1;
        } else if (is_flag(a, "--threads")) {
            char *end;
            if (!(v = nn_cli_value(argc, argv, &i, "--threads")))
                return NN_EXIT_USAGE;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) {
                nn_cli_error("--threads %s: expected an integer in [1, 1024]", v);
                return NN_EXIT_USAGE;
            }
            cli->threads = (int)t;
        } else if (is_flag(a, "--seed")) {
            char *end;
            if (!(v = nn_cli_value(argc, argv, &i, "--seed")))
                return NN_EXIT_USAGE;
            errno = 0;
            long long s = strtoll(v, &end, 10);
            /* [train] seed's range: a larger one would be clamped here and refused in the
             * run's own model.ini when it is read again */
            if (end == v || *end || errno == ERANGE || s < 0 || s > 9200000000000000000LL) {
                nn_cli_error("--seed %s: expected an integer in [0, 9.2e18], as [train] seed",
                             v);
                return NN_EXIT_USAGE;
            }
            cli->seed = s;
        } else if (strcmp(a, "--allow-insecure-plugins") == 0) {
            cli->allow_insecure = 1;
        } else if (strcmp(a, "--plugin-override") == 0) {
            cli->allow_override = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            cli->verbosity = -1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            cli->verbosity = 1;
        } else {
            cli->argv[cli->argc++] = argv[i];
        }
    }
    /* an OMP_NUM_THREADS from the user counts as --threads */
    const char *omp = getenv("OMP_NUM_THREADS");
    if (!cli->threads && omp && atoi(omp) > 0)
        cli->threads = atoi(omp);
    return 0;
}

const char *nn_cli_install_plugindir(void)
{
    static char dir[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NN_INSTALL_PLUGINDIR;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NN_INSTALL_PLUGINDIR;
    *slash = 0;
    char joined[PATH_MAX + 64];
    snprintf(joined, sizeof joined, "%s/%s", exe, NN_REL_PLUGINDIR);
    /* "PREFIX/lib/.../plugins" rather than "PREFIX/bin/../lib/...": paths users read */
    if (!realpath(joined, dir))
        snprintf(dir, sizeof dir, "%s", joined);
    return dir;
}

void nn_cli_threads(const nn_cli *cli)
{
    char n[32];
    if (cli->threads > 0) {
        snprintf(n, sizeof n, "%d", cli->threads);
        setenv("OMP_NUM_THREADS", n, 1);
    } else if (!getenv("OMP_NUM_THREADS")) {
        /* the processes a launcher started on this host share its cores */
        long cores = sysconf(_SC_NPROCESSORS_ONLN) / nn_dist_local_ranks();
        snprintf(n, sizeof n, "%ld", cores > 0 ? cores : 1);
        setenv("OMP_NUM_THREADS", n, 1);
    }
    setenv("OMP_WAIT_POLICY", "passive", 0);
}

struct nn_config *nn_cli_model_load(const nn_cli *cli, const char *verb, nn_error *err)
{
    if (cli->argc < 1) {
        nn_error_set(err, NN_EINVAL, "%s: which model file? e.g. `nntrain %s "
                     "examples/fashion_mnist_mlp.ini`", verb, verb);
        return NULL;
    }
    nn_config *cfg = NULL;
    if (nn_config_load(cli->argv[0], &cfg, err) != NN_OK)
        return NULL;
    for (int i = 0; i < cli->n_sets; i++) {
        int rc;
        if (cli->is_unset[i]) { /* "a.b=": the name without its '=' */
            char name[1024];
            snprintf(name, sizeof name, "%.*s", (int)strlen(cli->sets[i]) - 1, cli->sets[i]);
            rc = nn_config_unset(cfg, name, err);
        } else {
            rc = nn_config_set(cfg, cli->sets[i], err);
        }
        if (rc != NN_OK) {
            nn_config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

struct nn_config *nn_cli_model(const nn_cli *cli, const char *verb)
{
    nn_error err = {0};
    nn_config *cfg = nn_cli_model_load(cli, verb, &err);
    if (!cfg)
        nn_cli_error("%s", err.msg);
    return cfg;
}

nn_registry *nn_cli_registry(const nn_cli *cli)
{
    nn_cli_threads(cli);
    nn_registry_opts opts = {.allow_insecure = cli->allow_insecure,
                             .allow_override = cli->allow_override};
    nn_registry *r = nn_registry_new(&opts);
    if (!r) {
        nn_cli_error("out of memory");
        return NULL;
    }
    nn_error err = {0};
    if (nn_registry_scan(r, cli->plugin_dirs, cli->n_plugin_dirs, nn_cli_install_plugindir(),
                         &err) != NN_OK) {
        nn_cli_error("%s", err.msg);
        nn_registry_free(r);
        return NULL;
    }
    /* what was refused for safety is said aloud, or a plugin "is not found" without a
     * reason; so is a refused backend, whose kernels went with it (another file's backend of
     * that type may now be the one in use); `plugins` lists every problem itself */
    int listed = cli->verb && strcmp(cli->verb, "plugins") == 0;
    for (int i = 0; !listed && i < nn_registry_problem_count(r); i++) {
        const nn_plugin_problem *p = nn_registry_problem(r, i);
        if (p->status == NN_EPERM)
            nn_cli_warn("%s: %s", p->path, p->reason);
        else if (p->kind == NN_KIND_BACKEND && p->name)
            nn_cli_warn("%s: its backend '%s' was refused, and its kernels with it: %s",
                        p->path, p->name, p->reason);
    }
    return r;
}
