/* instance.c: parameters first, then create(); a plugin never sees unvalidated input.
 * Each instance remembers its plugin's file and origin so that a crash inside it is named. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "instance.h"

int nn_instance_create(nn_instance *inst, const nn_plugin_desc *desc, const nn_kv *kvs, int n,
                       const char *origin, nn_error *err)
{
    memset(inst, 0, sizeof *inst);
    int rc = nn_params_parse(desc->params, kvs, n, origin, &inst->params, err);
    if (rc)
        return rc;
    /* the loader's own name for the file the descriptor lives in: the path it was opened by,
     * valid for the life of the process (plugins are loaded RTLD_NODELETE) */
    Dl_info info;
    if (dladdr(desc, &info) && info.dli_fname && *info.dli_fname)
        inst->path = info.dli_fname;
    inst->origin = origin ? strdup(origin) : NULL;
    inst->desc = desc;
    const nn_vtable_common *vt = desc->vtable;
    nn_error perr = {0};
    rc = NN_PLUGIN_CALL(inst, "create", vt->create(inst->params, &inst->self, &perr));
    if (rc) {
        nn_params_free(inst->params);
        free(inst->origin);
        memset(inst, 0, sizeof *inst);
        char buf[96];
        const char *msg;
        rc = nn_plugin_failure(rc, &perr, &msg, buf, sizeof buf);
        /* a plugin that already put nn_params_origin() first must not get it twice */
        if (origin && *origin && strncmp(perr.msg, origin, strlen(origin)) == 0)
            return nn_error_set(err, rc, "%s", perr.msg);
        if (!perr.msg[0])
            snprintf(perr.msg, sizeof perr.msg, "%s", msg);
        if (err)
            *err = perr;
        return nn_instance_blame(desc, kvs, n, origin, NULL, rc, err);
    }
    inst->vt = desc->vtable;
    return NN_OK;
}

int nn_plugin_failure(int rc, const nn_error *perr, const char **msg, char *buf, size_t cap)
{
    int known = rc < 0 && rc >= NN_EINTERNAL;
    *msg = perr && perr->msg[0] ? perr->msg : buf;
    if (known)
        snprintf(buf, cap, "returned status %d (%s) without a message", rc, nn_strerror(rc));
    else
        snprintf(buf, cap, "returned status %d without a message", rc);
    return known ? rc : NN_EINTERNAL;
}

void nn_instance_destroy(nn_instance *inst)
{
    if (inst->desc && inst->self) {
        const nn_vtable_common *vt = inst->desc->vtable;
        NN_PLUGIN_VOID(inst, "destroy", vt->destroy(inst->self));
    }
    nn_params_free(inst->params);
    free(inst->origin);
    memset(inst, 0, sizeof *inst);
}

/* the first entry of kvs that msg names as "key 'K'" or "keys 'K'", or NULL */
static const nn_kv *key_named(const nn_kv *kvs, int n, const char *msg)
{
    for (const char *p = msg; (p = strstr(p, "key")); p += 3) {
        const char *q = p + 3 + (p[3] == 's');
        if (q[0] != ' ' || q[1] != '\'')
            continue;
        q += 2;
        size_t len = strcspn(q, "'");
        for (int k = 0; k < n; k++)
            if (strlen(kvs[k].key) == len && strncmp(kvs[k].key, q, len) == 0)
                return &kvs[k];
    }
    return NULL;
}

/* msg after a leading "NAME: " or "KIND 'NAME': " that repeats what the caller says */
static const char *after_name(const nn_plugin_desc *desc, const char *msg, int *named)
{
    char kn[160];
    size_t nl = strlen(desc->name);
    int kl = snprintf(kn, sizeof kn, "%s '%s'", nn_kind_name(desc->kind), desc->name);
    *named = 0;
    if (strncmp(msg, desc->name, nl) == 0 && msg[nl] == ':' && msg[nl + 1] == ' ')
        return msg + nl + 2;
    if (kl > 0 && (size_t)kl < sizeof kn && strncmp(msg, kn, (size_t)kl) == 0) {
        if (msg[kl] == ':' && msg[kl + 1] == ' ')
            return msg + kl + 2;
        *named = 1; /* "transform 'x' expects ...": the name is part of the sentence */
    }
    return msg;
}

int nn_instance_blame(const nn_plugin_desc *desc, const nn_kv *kvs, int n, const char *origin,
                      const char *context, int rc, nn_error *err)
{
    rc = rc < 0 ? rc : NN_EINTERNAL;
    if (!err)
        return rc;
    char msg[NN_ERROR_MSG_MAX], loc[400];
    snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : nn_strerror(rc));
    nn_kv_where(loc, sizeof loc, key_named(kvs, n, msg), origin);
    int named;
    const char *body = after_name(desc, msg, &named);
    const char *sep = loc[0] ? ": " : "";
    if (named && !(context && *context))
        return nn_error_set(err, rc, "%s%s%s", loc, sep, body);
    return nn_error_set(err, rc, "%s%s%s '%s'%s: %s", loc, sep, nn_kind_name(desc->kind),
                        desc->name, context ? context : "", body);
}
