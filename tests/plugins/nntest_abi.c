/* nntest_abi.c: a plugin that claims ABI 99.0, as one built against a future nntrain would.
 * The registry must reject it by its header alone, naming both ABI versions. Test fixture. */
#include "fixture_layer.h"

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

/* written out instead of NN_DESCRIPTOR(), which would stamp the current ABI */
static const nn_plugin_desc desc = {
    .abi_major = 99,
    .abi_minor = 0,
    .struct_size = sizeof(nn_plugin_desc),
    .kind = NN_KIND_LAYER,
    .name = "nntest_abi",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "built for an ABI this nntrain does not speak",
    .vtable = &vt,
};

NN_PLUGIN_EXPORT(&desc);
