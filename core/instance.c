/* instance.c: parameters first, then create(); a plugin never sees unvalidated input.
 * Each instance remembers its plugin's file and origin so that a crash inside it is named. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
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
        rc = rc < 0 ? rc : NN_EINTERNAL;
        /* a plugin that already put nn_params_origin() first must not get it twice */
        if (origin && *origin && strncmp(perr.msg, origin, strlen(origin)) == 0)
            return nn_error_set(err, rc, "%s", perr.msg);
        return nn_error_set(err, rc, "%s: %s '%s': %s", origin, nn_kind_name(desc->kind),
                            desc->name, perr.msg[0] ? perr.msg : nn_strerror(rc));
    }
    inst->vt = desc->vtable;
    return NN_OK;
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
