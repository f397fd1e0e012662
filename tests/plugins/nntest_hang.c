/* nntest_hang.c: a plugin whose constructor never returns. The registry's probe child must
 * be killed after probe_timeout_s and the file reported; the host never loads it. */
#include <unistd.h>

#include "fixture_layer.h"

__attribute__((constructor)) static void nntest_hang_on_load(void)
{
    for (;;)
        pause();
}

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .name = "nntest_hang",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "hangs while being loaded",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
