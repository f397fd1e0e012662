/* instance.c: parameters first, then create(); a plugin never sees unvalidated input. */
#include <string.h>

#include "instance.h"

int nn_instance_create(nn_instance *inst, const nn_plugin_desc *desc, const nn_kv *kvs, int n,
                       const char *origin, nn_error *err)
{
    memset(inst, 0, sizeof *inst);
    int rc = nn_params_parse(desc->params, kvs, n, origin, &inst->params, err);
    if (rc)
        return rc;
    const nn_vtable_common *vt = desc->vtable;
    nn_error perr = {0};
    rc = vt->create(inst->params, &inst->self, &perr);
    if (rc) {
        nn_params_free(inst->params);
        inst->params = NULL;
        return nn_error_set(err, rc < 0 ? rc : NN_EINTERNAL, "%s: %s '%s': %s", origin,
                            nn_kind_name(desc->kind), desc->name,
                            perr.msg[0] ? perr.msg : nn_strerror(rc));
    }
    inst->desc = desc;
    inst->vt = desc->vtable;
    return NN_OK;
}

void nn_instance_destroy(nn_instance *inst)
{
    if (inst->desc && inst->self)
        ((const nn_vtable_common *)inst->desc->vtable)->destroy(inst->self);
    nn_params_free(inst->params);
    memset(inst, 0, sizeof *inst);
}
