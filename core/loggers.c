/* loggers.c: creates logger plugins from the model file and hands them events. Failures are
 * reported once on stderr with the logger's name; they never stop training unless strict. A
 * path key that leaves the run or names its files is refused before anything runs. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crash.h"
#include "instance.h"
#include "loggers.h"
#include "rundir.h"

typedef struct lg {
    nn_instance inst;
    const nn_config_section *sec; /* its section (borrowed from the config), for key lines */
    char name[128];
    int dead;
} lg;

struct nn_loggers {
    lg *v;
    int n;
    int strict;
};

/* A warning, not an error: it goes to stderr whatever the verbosity (--quiet silences
 * progress, never a log the user will not get), at the model file's line of the section or of
 * the key the plugin names. */
/* out = the plugin's message lerr at the model file's line of g's section, or of the key
 * the message names; returns NN_EIO */
static int blame(const lg *g, const char *what, const nn_error *lerr, nn_error *out)
{
    nn_error e = *lerr;
    char ctx[64];
    snprintf(ctx, sizeof ctx, " failed in %s", what);
    nn_instance_blame(g->inst.desc, g->sec ? g->sec->kvs : NULL, g->sec ? g->sec->n : 0,
                      g->inst.origin, ctx, NN_EIO, &e);
    return nn_error_set(out, NN_EIO, "%s", e.msg);
}

static void report(lg *g, const char *what, const nn_error *lerr)
{
    nn_error e = {0};
    blame(g, what, lerr, &e);
    fprintf(stderr, "nntrain: warning: %s; it is switched off and training goes on\n", e.msg);
    g->dead = 1;
}

/* the file or directory a logger writes in the run directory: its "path" or "dir" key, or the
 * schema's default (*raw, the key's name in *key), normalised ("./a//b" is "a/b") into buf;
 * NULL when it declares neither */
static const char *log_target(const lg *g, char *buf, size_t cap, const char **key,
                              const char **raw)
{
    const char *v = NULL;
    for (const nn_param_spec *p = g->inst.desc->params; p && p->name && !v; p++)
        if (p->type == NN_PARAM_STRING && (!strcmp(p->name, "path") || !strcmp(p->name, "dir"))) {
            *key = p->name;
            v = p->def;
            for (int k = 0; g->sec && k < g->sec->n; k++)
                if (strcmp(g->sec->kvs[k].key, p->name) == 0)
                    v = g->sec->kvs[k].value;
        }
    if (!v)
        return NULL;
    *raw = v;
    size_t used = 0;
    buf[0] = 0;
    for (const char *c = v; *c && used + 1 < cap; c += strcspn(c, "/"), c += *c == '/') {
        int l = (int)strcspn(c, "/");
        if (l == 0 || (l == 1 && c[0] == '.'))
            continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%.*s", used ? "/" : "", l, c);
    }
    return buf;
}

/* A logger's file (or directory) stays inside the run directory and is none of the run's own
 * files, whoever wrote the logger: checked here for every logger whose schema has a "path" or
 * "dir" key (logger.h), before it opens. Without a run directory (run_dir NULL: `nntrain
 * summary`), by its name only. lerr gets the refusal, naming the key and its value. */
static int check_target(const lg *g, const char *run_dir, nn_error *lerr)
{
    char norm[1024];
    const char *key = NULL, *raw = NULL;
    if (!log_target(g, norm, sizeof norm, &key, &raw))
        return NN_OK;
    for (const char *c = raw; *c; c += strcspn(c, "/"), c += *c == '/')
        if (raw[0] == '/' || (strcspn(c, "/") == 2 && c[0] == '.' && c[1] == '.'))
            return nn_error_set(lerr, NN_EINVAL, "key '%s' = '%s': the file must stay inside "
                                "the run directory (a relative path without '..')", key, raw);
    if (!*norm && strcmp(key, "path") == 0)
        return nn_error_set(lerr, NN_EINVAL, "key '%s' = '%s': that names the run directory "
                            "itself; expected a file name in it", key, raw);
    if (*norm && (nn_rundir_own_name(norm) || (run_dir && nn_rundir_own_file(run_dir, norm))))
        return nn_error_set(lerr, NN_EINVAL, "key '%s' = '%s': that is one of the run's own "
                            "files (its lock, model file, checkpoints, or a temporary file "
                            "NAME.tmp.PID); name another", key, raw);
    /* a link below the run directory would lead out of it as '..' would */
    char path[PATH_MAX];
    size_t dl = run_dir ? strlen(run_dir) : 0;
    if (!run_dir || !*norm ||
        snprintf(path, sizeof path, "%s/%s", run_dir, norm) >= (int)sizeof path)
        return NN_OK;
    for (size_t e = dl + 1; path[e]; e++) {
        if (path[e + 1] != '/' && path[e + 1] != 0)
            continue;
        char c = path[e + 1];
        struct stat st;
        path[e + 1] = 0;
        int link = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
        path[e + 1] = c;
        if (link)
            return nn_error_set(lerr, NN_EINVAL, "key '%s' = '%s': the path goes through a "
                                "symbolic link, which may lead out of the run directory; the "
                                "file must stay inside it", key, raw);
    }
    return NN_OK;
}

/* two loggers writing one file would interleave or replace each other's records */
static int distinct_targets(const nn_loggers *l, const nn_config *cfg, nn_error *err)
{
    for (int i = 0; i < l->n; i++)
        for (int j = 0; j < i; j++) {
            char a[1024], b[1024], oa[300], ob[300];
            const char *ka = NULL, *kb = NULL, *ra, *rb;
            if (!log_target(&l->v[i], a, sizeof a, &ka, &ra) ||
                !log_target(&l->v[j], b, sizeof b, &kb, &rb) || strcmp(a, b) != 0)
                continue;
            nn_config_origin(oa, sizeof oa, cfg, l->v[j].sec, NULL);
            nn_config_origin(ob, sizeof ob, cfg, l->v[i].sec, NULL);
            return nn_error_set(err, NN_EINVAL, "%s: %s = '%s' and %s: %s = '%s' are the same "
                                "file of the run directory; expected each logger to write its "
                                "own (set another %s)", oa, kb, b, ob, ka, a, ka);
        }
    return NN_OK;
}

int nn_loggers_open(nn_registry *reg, const nn_config *cfg, const nn_logger_open *o, int strict,
                    nn_loggers **out, nn_error *err)
{
    *out = NULL;
    nn_loggers *l = calloc(1, sizeof *l);
    int n = 0;
    for (int i = 0; i < nn_config_count(cfg); i++)
        n += strncmp(nn_config_at(cfg, i)->name, "logger.", 7) == 0;
    if (!l || !(l->v = calloc((size_t)(n ? n : 1), sizeof *l->v))) {
        free(l);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    l->strict = strict;
    int rc = NN_OK;
    for (int i = 0; i < nn_config_count(cfg) && rc == NN_OK; i++) {
        const nn_config_section *s = nn_config_at(cfg, i);
        if (strncmp(s->name, "logger.", 7) != 0)
            continue;
        char origin[300];
        nn_config_origin(origin, sizeof origin, cfg, s, NULL);
        const char *type = NULL;
        nn_kv *rest = calloc((size_t)s->n + 1, sizeof *rest);
        int nr = 0;
        if (!rest) {
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < s->n; k++) {
            if (strcmp(s->kvs[k].key, "type") == 0)
                type = s->kvs[k].value;
            else
                rest[nr++] = s->kvs[k];
        }
        if (!type)
            type = s->name + 7; /* [logger.csv] means type = csv */
        nn_error ferr = {0};
        const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LOGGER, type, NULL, &ferr);
        if (!e)
            rc = nn_error_set(err, NN_ENOTFOUND, "%s: %s", origin, ferr.msg);
        else
            rc = nn_instance_create(&l->v[l->n].inst, e->desc, rest, nr, origin, err);
        free(rest);
        if (rc == NN_OK) {
            l->v[l->n].sec = s;
            snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", s->name + 7);
            l->n++;
        }
    }
    if (rc == NN_OK && n == 0) { /* no [logger.*]: the console */
        nn_error ferr = {0};
        const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LOGGER, "console", NULL, &ferr);
        if (!e)
            rc = nn_error_set(err, NN_ENOTFOUND, "no [logger.NAME] section and no console "
                              "logger plugin: %s", ferr.msg);
        else if ((rc = nn_instance_create(&l->v[0].inst, e->desc, NULL, 0, "[logger.console]",
                                          err)) == NN_OK) {
            snprintf(l->v[0].name, sizeof l->v[0].name, "console");
            l->n = 1;
        }
    }
    if (rc == NN_OK)
        rc = distinct_targets(l, cfg, err);
    for (int i = 0; i < l->n && rc == NN_OK; i++) {
        const nn_logger_vtable *vt = l->v[i].inst.vt;
        nn_error lerr = {0};
        int bad = check_target(&l->v[i], o ? o->run_dir : NULL, &lerr) != NN_OK;
        if (bad || !o) /* refused, or checked only (summary): never opened, never closed */
            l->v[i].dead = 1;
        if (!bad && !o)
            continue;
        /* a path key that leaves the run or names its files is the model file's mistake:
         * refused as the other keys are, not a logger that failed at run time */
        if (bad) {
            const lg *g = &l->v[i];
            nn_instance_blame(g->inst.desc, g->sec ? g->sec->kvs : NULL, g->sec ? g->sec->n : 0,
                              g->inst.origin, NULL, NN_EINVAL, &lerr);
            rc = nn_error_set(err, NN_EINVAL, "%s", lerr.msg);
        } else if (NN_PLUGIN_CALL(&l->v[i].inst, "open",
                                  vt->open(l->v[i].inst.self, o, &lerr)) != NN_OK) {
            if (strict)
                rc = blame(&l->v[i], "open", &lerr, err);
            else
                report(&l->v[i], "open", &lerr);
        }
    }
    if (rc) {
        nn_loggers_close(l);
        return rc;
    }
    *out = l;
    return NN_OK;
}

int nn_loggers_emit(nn_loggers *l, const nn_event *ev, nn_error *err)
{
    for (int i = 0; l && i < l->n; i++) {
        if (l->v[i].dead)
            continue;
        const nn_logger_vtable *vt = l->v[i].inst.vt;
        nn_error lerr = {0};
        if (NN_PLUGIN_CALL(&l->v[i].inst, "event",
                           vt->event(l->v[i].inst.self, ev, &lerr)) != NN_OK) {
            if (l->strict)
                return blame(&l->v[i], "event", &lerr, err);
            report(&l->v[i], "event", &lerr);
        }
    }
    return NN_OK;
}

void nn_loggers_flush(nn_loggers *l)
{
    for (int i = 0; l && i < l->n; i++) {
        const nn_logger_vtable *vt = l->v[i].inst.vt;
        nn_error lerr = {0};
        if (!l->v[i].dead && vt->flush &&
            NN_PLUGIN_CALL(&l->v[i].inst, "flush", vt->flush(l->v[i].inst.self, &lerr)) != NN_OK)
            report(&l->v[i], "flush", &lerr);
    }
}

void nn_loggers_close(nn_loggers *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++) {
        const nn_logger_vtable *vt = l->v[i].inst.vt;
        nn_error lerr = {0};
        if (!l->v[i].dead && vt->close &&
            NN_PLUGIN_CALL(&l->v[i].inst, "close", vt->close(l->v[i].inst.self, &lerr)) != NN_OK)
            report(&l->v[i], "close", &lerr);
        nn_instance_destroy(&l->v[i].inst);
    }
    free(l->v);
    free(l);
}
