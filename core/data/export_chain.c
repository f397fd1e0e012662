/* export_chain.c: the transforms that evaluation runs ([transform.NAME] with train_only
 * cleared), handed in file order to their plugins' export slots, so that an exported graph
 * takes samples as the dataset plugin gives them. A transform that changes what evaluation
 * sees and cannot say how stops the export with its name. Reads nn_data, changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../export_internal.h"
#include "data_private.h"

const nn_tensor *nn_data_raw_sample(const nn_data *d)
{
    return &d->raw_sample;
}

int nn_data_export(const nn_data *d, nn_export *x, const char *input, const char **output,
                   nn_error *err)
{
    const char *cur = input;
    for (int i = 0; i < d->ntf; i++) {
        const data_tf *t = &d->tf[i];
        if (t->batch || t->train_only)
            continue; /* augmentation, mixup: not part of what a trained model is applied to */
        const nn_transform_vtable *vt = t->vt;
        const nn_plugin_desc *desc = t->inst.desc;
        if (vt->struct_size < offsetof(nn_transform_vtable, export_as) + sizeof vt->export_as ||
            !vt->export_as)
            return nn_error_set(err, NN_ENOTSUP,
                                "[transform.%s] (type %s) runs at evaluation but its plugin has "
                                "no export slot (nn_transform_vtable.export_as, ABI 0.5): an "
                                "exported model would see other inputs than nntrain's", t->name,
                                desc->name);
        nn_export_scope(x, "transform", t->name);
        char want[160];
        snprintf(want, sizeof want, "transform.%s", t->name);
        const char *out = nn_export_claim(x, want, 0);
        if (!out)
            return nn_export_status(x, err);
        nn_transform_export e = {
            .struct_size = sizeof e,
            .format = NN_EXPORT_ONNX,
            .out = x,
            .name = t->name,
            .keys = t->inst.params,
            .opset = nn_export_opset(x),
            .input = cur,
            .output = out,
            .in_desc = &t->in,
            .out_desc = &t->out,
        };
        nn_error terr = {0};
        int rc = vt->export_as(t->inst.self, &e, &terr);
        if (rc == NN_OK)
            rc = nn_export_status(x, &terr);
        if (rc == NN_OK && !nn_export_defined(x, out))
            rc = nn_error_set(&terr, NN_EINTERNAL, "its export wrote no node for '%s'", out);
        if (rc) {
            const char *msg = terr.msg[0] ? terr.msg : nn_strerror(rc);
            snprintf(want, sizeof want, "transform '%s': ", t->name);
            if (strncmp(msg, want, strlen(want)) == 0) /* the builder's sentences name it */
                msg += strlen(want);
            return nn_error_set(err, rc < 0 ? rc : NN_EINTERNAL,
                                "[transform.%s] (type %s): export to ONNX failed: %s", t->name,
                                desc->name, msg);
        }
        cur = out;
    }
    *output = cur;
    return NN_OK;
}
