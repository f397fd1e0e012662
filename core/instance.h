/* instance.h: makes a plugin instance from a descriptor and `key = value` entries:
 * parse and validate the parameters, then call create(). The only way the core calls create. */
#ifndef NN_INSTANCE_H
#define NN_INSTANCE_H

#include "nntrain/plugin.h"
#include "params_internal.h"

typedef struct nn_instance {
    const nn_plugin_desc *desc;
    const void *vt;     /* desc->vtable, typed by the caller */
    void *self;
    nn_params *params;
    const char *path; /* the plugin's file (from the loader; never freed), or NULL */
    char *origin;     /* owned copy of the origin given to create, for crash reports */
} nn_instance;

/* On failure err names origin (e.g. "model.ini [layer.fc1]") and the problem. */
int nn_instance_create(nn_instance *inst, const nn_plugin_desc *desc, const nn_kv *kvs, int n,
                       const char *origin, nn_error *err);
void nn_instance_destroy(nn_instance *inst);

/* Rewrites err, which holds a message of desc's plugin, as "FILE:LINE: [section]: kind 'name'
 * CONTEXT: message": the line is that of the first key of kvs the message names ("key 'K'"),
 * else the one origin gives (its section's); the plugin's name is said once, even when the
 * message starts with it. context (may be NULL) follows the name, e.g. " given [16, 2]".
 * returns rc (NN_EINTERNAL for a positive one). */
int nn_instance_blame(const nn_plugin_desc *desc, const nn_kv *kvs, int n, const char *origin,
                      const char *context, int rc, nn_error *err);
/* A plugin call's nonzero status as the core passes it on: returns rc when it is an NN_E*
 * status, else NN_EINTERNAL, and sets *msg to the plugin's message or, where it left none, to
 * "returned status N (nn_strerror's words) without a message", written into buf (96 bytes
 * hold it). */
int nn_plugin_failure(int rc, const nn_error *perr, const char **msg, char *buf, size_t cap);

#endif
