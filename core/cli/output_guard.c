/* output_guard.c: refuses an output path (predict --output, export -o) that names a file the
 * command reads (its model file, checkpoint, --input files) or one a run depends on: one the
 * model's [data] or [transform.*] sections name (or a file below a directory they name), an
 * nntrain checkpoint, or a run directory's own files. It only looks: a path that does not
 * exist yet is always fine. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "params_internal.h"
#include "rundir.h"

/* a checkpoint header is read up to this many bytes to find its format key */
#define GUARD_HEADER_MAX (16u << 20)

typedef struct guard {
    struct stat o;          /* the output file */
    char real[PATH_MAX];    /* its resolved path */
    char why[PATH_MAX + 256]; /* what it is, for the message */
} guard;

/* 1 when the resolved path real lies below the resolved directory dir */
static int below(const char *real, const char *dir)
{
    size_t l = strlen(dir);
    if (l == 1 && dir[0] == '/')
        return 1;
    return strncmp(real, dir, l) == 0 && real[l] == '/';
}

/* 1 (with g->why filled from role) when p is the output file itself (a link to it too) */
static int same(guard *g, const char *p, const struct stat *st, const char *role)
{
    if (st->st_dev != g->o.st_dev || st->st_ino != g->o.st_ino)
        return 0;
    snprintf(g->why, sizeof g->why, "%s (%s)", role, p);
    return 1;
}

/* 1 (with g->why filled from role) when p is the output file or a directory holding it */
static int hits(guard *g, const char *p, const char *role)
{
    struct stat st;
    char dir[PATH_MAX];
    if (!*p || stat(p, &st) != 0)
        return 0;
    if (same(g, p, &st, role))
        return 1;
    if (S_ISDIR(st.st_mode) && realpath(p, dir) && below(g->real, dir)) {
        snprintf(g->why, sizeof g->why, "a file below %s's directory %s", role, p);
        return 1;
    }
    return 0;
}

/* A value names a path as written (relative to the working directory, as the stock plugins
 * read their string keys) or relative to base (path-typed keys are resolved against the model
 * file's directory); a comma-separated list names one path per item. */
static int value_hits(guard *g, const char *base, const char *value, const char *role)
{
    char item[PATH_MAX], joined[PATH_MAX * 2];
    const char *v = value;
    for (int whole = 1;; whole = 0) {
        size_t l = whole ? strlen(value) : strcspn(v, ",");
        if (l < sizeof item) {
            memcpy(item, v, l);
            item[l] = 0;
            if (hits(g, item, role))
                return 1;
            if (base && item[0] != '/' &&
                snprintf(joined, sizeof joined, "%s/%s", base, item) < (int)sizeof joined &&
                hits(g, joined, role))
                return 1;
        }
        if (whole) {
            if (!strchr(value, ','))
                return 0;
            continue;
        }
        if (!v[l])
            return 0;
        v += l + 1;
    }
}

/* the [data] and [transform.*] keys of the model */
static int data_hits(guard *g, const nn_config *cfg)
{
    char base[PATH_MAX], role[512];
    snprintf(base, sizeof base, "%s", nn_config_path(cfg) ? nn_config_path(cfg) : ".");
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = 0;
    for (int i = 0; i < nn_config_count(cfg); i++) {
        const nn_config_section *s = nn_config_at(cfg, i);
        if (strcmp(s->name, "data") != 0 && strncmp(s->name, "transform.", 10) != 0)
            continue;
        for (int k = 0; k < s->n; k++) {
            if (strcmp(s->kvs[k].key, "type") == 0)
                continue;
            snprintf(role, sizeof role, "the model's [%s] %s", s->name, s->kvs[k].key);
            if (value_hits(g, slash ? base : NULL, s->kvs[k].value, role))
                return 1;
        }
    }
    return 0;
}

/* 1 when path is a safetensors file written by nntrain's trainer (its format key) */
static int is_checkpoint(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return 0;
    unsigned char n8[8];
    uint64_t n = 0;
    int found = 0;
    if (read(fd, n8, 8) == 8) {
        for (int i = 7; i >= 0; i--)
            n = n << 8 | n8[i];
        if (n > GUARD_HEADER_MAX)
            n = GUARD_HEADER_MAX;
        char *h = n ? malloc(n + 1) : NULL;
        ssize_t got = h ? read(fd, h, n) : -1;
        if (got > 0) {
            h[got] = 0;
            found = strstr(h, "\"nntrain.checkpoint.") != NULL;
        }
        free(h);
    }
    close(fd);
    return found;
}

/* A run directory holds a .lock or a trainer's checkpoint */
static int is_run_dir(const char *dir)
{
    char p[PATH_MAX + 32];
    static const char *const marks[] = {"last.safetensors", "best.safetensors"};
    snprintf(p, sizeof p, "%s/.lock", dir);
    if (access(p, F_OK) == 0)
        return 1;
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, marks[i]);
        if (is_checkpoint(p))
            return 1;
    }
    return 0;
}

/* The files of the run's loggers, as its model.ini declares them: every string key of each
 * [logger.*] section (given or the plugin's default) names a file or directory in the run */
static int logger_hits(guard *g, const char *dir, nn_registry *reg)
{
    char ini[PATH_MAX + 32], role[PATH_MAX + 128];
    nn_config *run = NULL;
    nn_error err = {0};
    snprintf(ini, sizeof ini, "%s/model.ini", dir);
    if (!reg || access(ini, F_OK) != 0 || nn_config_load(ini, &run, &err) != NN_OK)
        return 0;
    int hit = 0;
    for (int i = 0; i < nn_config_count(run) && !hit; i++) {
        const nn_config_section *s = nn_config_at(run, i);
        if (strncmp(s->name, "logger.", 7) != 0)
            continue;
        const nn_kv *t = nn_config_get(run, s->name, "type");
        const nn_plugin_entry *e =
            nn_registry_find(reg, NN_KIND_LOGGER, t ? t->value : s->name + 7, NULL, &err);
        const nn_param_spec *ps = e ? e->desc->params : NULL;
        for (; ps && ps->name && !hit; ps++) {
            if (ps->type != NN_PARAM_STRING && ps->type != NN_PARAM_PATH)
                continue;
            const nn_kv *kv = nn_config_get(run, s->name, ps->name);
            const char *v = kv ? kv->value : ps->def;
            char p[PATH_MAX * 2];
            if (!v || !*v)
                continue;
            snprintf(p, sizeof p, "%s%s%s", v[0] == '/' ? "" : dir, v[0] == '/' ? "" : "/", v);
            snprintf(role, sizeof role, "the [%s] %s of the run in %s", s->name, ps->name, dir);
            hit = hits(g, p, role);
        }
    }
    nn_config_free(run);
    return hit;
}

/* the output's own nature: a checkpoint anywhere, or a file of a run directory */
static int run_hits(guard *g, const char *output, nn_registry *reg)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", g->real);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (is_checkpoint(output)) {
        snprintf(g->why, sizeof g->why, "an nntrain checkpoint (its training state would be "
                 "lost)");
        return 1;
    }
    /* a logger may write below its run (tensorboard's tb/): the run may be a few levels up */
    for (int up = 0; slash && up < 4; up++) {
        *slash = 0;
        const char *d = *dir ? dir : "/";
        if (is_run_dir(d)) {
            if (up == 0 && nn_rundir_own_name(base)) {
                snprintf(g->why, sizeof g->why, "the %s of the run directory %s", base, d);
                return 1;
            }
            if (logger_hits(g, d, reg))
                return 1;
        }
        slash = strrchr(dir, '/');
    }
    return 0;
}

/* 1 when the output is the model file, the checkpoint or one of the inputs */
static int read_hits(guard *g, const nn_cli *cli, const char *checkpoint,
                     const char *const *inputs, int n_inputs)
{
    struct stat st;
    for (int i = -2; i < n_inputs; i++) {
        const char *p = i == -2 ? (cli->argc > 0 ? cli->argv[0] : NULL)
                        : i == -1 ? checkpoint : inputs[i];
        if (p && stat(p, &st) == 0 && same(g, p, &st, "a file this command reads"))
            return 1;
    }
    return 0;
}

int nn_cli_output_guard(const nn_cli *cli, const char *verb, const char *output,
                        const char *checkpoint, const char *const *inputs, int n_inputs,
                        const nn_config *cfg, nn_registry *reg)
{
    guard g;
    if (!output || stat(output, &g.o) != 0 || !S_ISREG(g.o.st_mode) ||
        !realpath(output, g.real))
        return 0; /* a fresh path, or one that file_replace.c judges (a device, a FIFO) */
    if (read_hits(&g, cli, checkpoint, inputs, n_inputs) || data_hits(&g, cfg) ||
        run_hits(&g, output, reg)) {
        nn_cli_error("%s: the output %s is %s; writing it would destroy it: name another file",
                     verb, output, g.why);
        return 1;
    }
    return 0;
}
