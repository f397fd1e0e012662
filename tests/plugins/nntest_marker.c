/* nntest_marker.c: a valid layer plugin whose constructor creates the file named by
 * $NNTEST_MARKER, so a test can tell whether nntrain ran any of its code: the plugin-security
 * tests must find no marker after a refusal (and one after --allow-insecure-plugins).
 * Test fixture only: never installed. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixture_layer.h"

__attribute__((constructor)) static void nntest_marker_on_load(void)
{
    const char *path = getenv("NNTEST_MARKER");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        (void)!write(fd, "constructor ran\n", 16);
        close(fd);
    }
}

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .caps = NN_CAP_BACKWARD,
    .name = "nntest_marker",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "leaves a marker file when loaded",
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
