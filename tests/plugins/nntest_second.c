/* nntest_second.c: a valid layer plugin whose constructor misbehaves only on its second load,
 * so the registry's probe child (the first load) passes it and the fault happens in nntrain's
 * own process: with $NNTEST_SECOND naming a marker file, the first load creates it and the
 * second removes it and does $NNTEST_SECOND_HOW ("segv", "exit" for exit(0) or "_exit" for
 * _exit(0)).
 * Test fixture only: never installed. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>

#include "fixture_layer.h"

__attribute__((constructor)) static void nntest_second_on_load(void)
{
    const char *marker = getenv("NNTEST_SECOND");
    const char *how = getenv("NNTEST_SECOND_HOW");
    if (!marker || !*marker || !how)
        return;
    if (access(marker, F_OK) != 0) {
        int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        return;
    }
    unlink(marker);
    if (strcmp(how, "exit") == 0)
        exit(0);
    if (strcmp(how, "_exit") == 0)
        _exit(0);
    /* a member read through a NULL struct pointer, as real bugs look (see nntest_fault.c) */
    volatile uintptr_t near_null = 64;
    *(volatile int *)near_null = 1;
}

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .caps = NN_CAP_BACKWARD,
    .name = "nntest_second",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "faults in its constructor on its second load",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
