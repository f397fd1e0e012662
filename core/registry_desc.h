/* registry_desc.h: the checks of a plugin descriptor that the registry runs before it takes
 * the plugin (registry_desc.c). */
#ifndef NN_REGISTRY_DESC_H
#define NN_REGISTRY_DESC_H

#include "nntrain/plugin.h"
#include "nntrain/status.h"

/* 1 when s is a plugin or device name: 1 to NN_PLUGIN_NAME_MAX bytes of [a-z0-9_] */
int nn_desc_valid_name(const char *s);
/* NN_OK, or NN_EABI (err may be NULL) saying what d lacks or holds wrongly */
int nn_desc_validate(const nn_plugin_desc *d, nn_error *err);

#endif
