/* layer_decls.c: what a layer's (or a loss's) setup() declared, checked before anything is
 * sized or allocated from it: a setup that leaves no output, counts out of range, two tensors
 * of one name (a checkpoint that can never be read back), an unknown init scheme, buffer kind
 * or dtype is refused here, naming the layer, its plugin and the tensor. It reads
 * declarations only. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "layer_decls.h"
#include "params_internal.h"
#include "sizes.h"

/* the names of declaration k of s: parameters first, then buffers */
typedef struct decl_ref {
    const char *what; /* "parameter", "buffer", "state" */
    const char *name; /* NN_NAME_MAX chars at most, not always terminated */
    int index;
} decl_ref;

static decl_ref decl_at(const nn_layer_setup *s, int k)
{
    if (k < s->n_params)
        return (decl_ref){"parameter", nn_layer_param_decl(s, k)->name, k};
    const nn_buffer_decl *b = &s->buffers[k - s->n_params];
    return (decl_ref){b->kind == NN_BUF_STATE ? "state" : "buffer", b->name, k - s->n_params};
}

static int check_init(nn_init init, const char *what, const char *tname, const char *origin,
                      const char *layer, const char *who, nn_error *err)
{
    if (nn_init_name(init))
        return NN_OK;
    char valid[300];
    nn_init_names(valid, sizeof valid);
    return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared %s '%.*s' with init %d, "
                        "which is no NN_INIT_* scheme; valid values: %s", origin, layer, who,
                        what, NN_NAME_MAX, tname, (int)init, valid);
}

/* [A-Za-z0-9_] words joined by single dots (layer.h): "../../etc/x" or "a b" would become
 * a checkpoint key, or a path where a logger or an export writes tensors by name */
static int valid_tensor_name(const char *n, size_t len)
{
    if (len == 0 || n[0] == '.' || n[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_';
        if (!word && !(c == '.' && n[i + 1] != '.'))
            return 0;
    }
    return 1;
}

/* names non-empty, of the documented charset, and unique over the parameters and buffers
 * together */
static int check_names(const nn_layer_setup *s, const char *origin, const char *layer,
                       const char *who, nn_error *err)
{
    int n = s->n_params + s->n_buffers;
    for (int i = 0; i < n; i++) {
        decl_ref a = decl_at(s, i);
        if (!a.name[0])
            return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared %s %d without a "
                                "name", origin, layer, who, a.what, a.index);
        size_t len = strnlen(a.name, NN_NAME_MAX);
        if (!valid_tensor_name(a.name, len)) {
            char shown[NN_NAME_MAX * 4 + 8], raw[NN_NAME_MAX + 1];
            memcpy(raw, a.name, len);
            raw[len] = 0;
            nn_text_escape(raw, shown, sizeof shown, 0);
            return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared %s %d named '%s'; "
                                "a parameter or buffer name is [A-Za-z0-9_] words joined by "
                                "single dots (it becomes the checkpoint key '%s.NAME')", origin,
                                layer, who, a.what, a.index, shown, layer);
        }
        for (int j = 0; j < i; j++) {
            decl_ref b = decl_at(s, j);
            if (strncmp(a.name, b.name, NN_NAME_MAX) != 0)
                continue;
            return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared two tensors named "
                                "'%.*s' (%s %d and %s %d); each parameter, buffer and state of a "
                                "layer needs a name of its own (a checkpoint keys them as "
                                "'%s.%.*s')", origin, layer, who, NN_NAME_MAX, a.name, b.what,
                                b.index, a.what, a.index, layer, NN_NAME_MAX, a.name);
        }
    }
    return NN_OK;
}

/* "dense from /x/dense.so", or the name of a plugin that is no file's */
static void who_of(const nn_instance *inst, char *who, size_t cap)
{
    if (inst->path)
        snprintf(who, cap, "%s from %s", inst->desc->name, inst->path);
    else
        snprintf(who, cap, "%s", inst->desc->name);
}

/* a buffer's kind is one the kind of plugin may declare, its dtype one of nn_dtype's (sizes
 * are counted from it; a made-up one would size the buffer as F32 without a word) */
static int check_buffer(const nn_buffer_decl *d, int k, int loss, const char *origin,
                        const char *subject, nn_error *err)
{
    int kind_ok = loss ? d->kind == NN_BUF_WORKSPACE
                       : d->kind >= NN_BUF_SAVED && d->kind <= NN_BUF_STATE;
    if (!kind_ok)
        return nn_error_set(err, NN_EINVAL, "%s: %s declared buffer %d '%.*s' of kind %d; %s",
                            origin, subject, k, NN_NAME_MAX, d->name, (int)d->kind,
                            loss ? "a loss's buffers are scratch: NN_BUF_WORKSPACE (2)"
                                 : "NN_BUF_SAVED (1), NN_BUF_WORKSPACE (2) or NN_BUF_STATE (3)");
    if ((unsigned)d->dtype >= NN_DTYPE_COUNT)
        return nn_error_set(err, NN_EINVAL, "%s: %s declared buffer %d '%.*s' with dtype %d, "
                            "which is no nn_dtype (NN_F32 .. NN_U8, 0 to %d)", origin, subject, k,
                            NN_NAME_MAX, d->name, (int)d->dtype, NN_DTYPE_COUNT - 1);
    return NN_OK;
}

int nn_loss_decls_check(const nn_loss_setup *s, const nn_instance *inst, nn_error *err)
{
    const char *origin = inst->origin ? inst->origin : "";
    char subject[700];
    if (inst->path)
        snprintf(subject, sizeof subject, "loss '%s' (from %s)", inst->desc->name, inst->path);
    else
        snprintf(subject, sizeof subject, "loss '%s'", inst->desc->name);
    if (s->n_buffers < 0 || s->n_buffers > NN_MAX_LAYER_BUFFERS)
        return nn_error_set(err, NN_EINVAL, "%s: %s declared %d buffers (0 to %d)", origin,
                            subject, s->n_buffers, NN_MAX_LAYER_BUFFERS);
    int rc = NN_OK;
    for (int k = 0; rc == NN_OK && k < s->n_buffers; k++)
        rc = check_buffer(&s->buffers[k], k, 1, origin, subject, err);
    return rc ? rc : nn_buffer_sizes_check(s->buffers, s->n_buffers, origin, subject, NULL, 0,
                                           err);
}

int nn_layer_decls_check(const nn_layer_setup *s, const nn_instance *inst, const char *layer,
                         const nn_kv *kvs, int n_kvs, nn_error *err)
{
    const char *origin = inst->origin ? inst->origin : "";
    char who[600], subject[700];
    who_of(inst, who, sizeof who);
    snprintf(subject, sizeof subject, "layer '%s' (%s)", layer, who);
    const nn_tensor *o = &s->output;
    if (nn_tensor_dtype(o) < 0 || o->dl.ndim < 1 || o->dl.ndim > NN_MAX_DIMS)
        return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) left no valid output in setup "
                            "(%d dimensions, dtype code %u of %u bits); describe it with "
                            "nn_tensor_describe", origin, layer, who, o->dl.ndim,
                            o->dl.dtype.code, o->dl.dtype.bits);
    int max_params = s->params_more ? NN_MAX_LAYER_PARAMS_ALL : NN_MAX_LAYER_PARAMS;
    if (s->n_params < 0 || s->n_params > max_params)
        return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared %d parameters (0 to "
                            "%d)", origin, layer, who, s->n_params, max_params);
    if (s->n_buffers < 0 || s->n_buffers > NN_MAX_LAYER_BUFFERS)
        return nn_error_set(err, NN_EINVAL, "%s: layer '%s' (%s) declared %d buffers (0 to %d)",
                            origin, layer, who, s->n_buffers, NN_MAX_LAYER_BUFFERS);
    int rc = NN_OK;
    for (int b = 0; rc == NN_OK && b < s->n_buffers; b++)
        rc = check_buffer(&s->buffers[b], b, 0, origin, subject, err);
    if (rc == NN_OK)
        rc = nn_layer_sizes_check(s, origin, layer, who, kvs, n_kvs, err);
    if (rc == NN_OK)
        rc = check_names(s, origin, layer, who, err);
    for (int k = 0; rc == NN_OK && k < s->n_params; k++) {
        const nn_param_decl *d = nn_layer_param_decl(s, k);
        rc = check_init(d->init, "parameter", d->name, origin, layer, who, err);
    }
    for (int b = 0; rc == NN_OK && b < s->n_buffers; b++)
        if (s->buffers[b].kind == NN_BUF_STATE)
            rc = check_init(s->buffers[b].init, "state", s->buffers[b].name, origin, layer, who,
                            err);
    return rc;
}
