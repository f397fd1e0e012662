/* nntest_crash.c: a plugin whose constructor writes to an unmapped address, as a plugin with
 * a broken static initialiser would. Loading it in-process kills the process; the registry
 * must catch it in its probe child and report SIGSEGV. Test fixture only. */
#include <stdint.h>

#include "fixture_layer.h"

__attribute__((constructor)) static void nntest_crash_on_load(void)
{
    /* not NULL, so UBSan's null check stays out of it and the fault is a plain SIGSEGV */
    volatile uintptr_t unmapped = 64;
    *(volatile int *)unmapped = 1;
}

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .name = "nntest_crash",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "crashes while being loaded",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
