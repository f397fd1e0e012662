/* nntest_needlib.c: a layer plugin linked against libnntest_gone.so.0, a library the
 * dynamic loader cannot find, so the registry must report dlerror()'s text. Test fixture. */
#include "fixture_layer.h"

int nntest_gone_value(void);

/* referenced from the descriptor so that the linker keeps the DT_NEEDED entry */
static int needlib_create(const nn_params *params, void **self, nn_error *err)
{
    if (nntest_gone_value() != 42)
        return nn_error_set(err, NN_EINTERNAL, "libnntest_gone returned the wrong value");
    return fixture_create(params, self, err);
}

static const nn_layer_vtable vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = needlib_create,
    .destroy = fixture_destroy,
    .setup = fixture_setup,
    .forward = fixture_forward,
    .backward = fixture_backward,
};

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .caps = NN_CAP_BACKWARD,
    .name = "nntest_needlib",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "needs a shared library that is not installed",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
