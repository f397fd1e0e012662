/* nntest_newer.c: a plugin built against a newer minor ABI than this nntrain speaks (same
 * major), as one built with a later SDK would be. It may use slots this host does not know,
 * so the registry must refuse it and say to upgrade nntrain. Test fixture only. */
#include "fixture_layer.h"

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = {
    .abi_major = NN_ABI_MAJOR,
    .abi_minor = NN_ABI_MINOR + 1,
    .struct_size = sizeof(nn_plugin_desc),
    .kind = NN_KIND_LAYER,
    .name = "nntest_newer",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "built for a newer minor ABI",
    .vtable = &vt,
};

NN_PLUGIN_EXPORT(&desc);
