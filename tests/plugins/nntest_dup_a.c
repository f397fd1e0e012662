/* nntest_dup_a.c: one of two files (nntest_dup_a, nntest_dup_b) that both register
 * layer 'nntest_dup' for the cpu. Loaded together they must be reported as a duplicate that
 * names both files; with --plugin-override the first in search order wins. Test fixture. */
#include "fixture_layer.h"

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .caps = NN_CAP_BACKWARD,
    .name = "nntest_dup",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "the a copy of a duplicated layer",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
