/* fuzz_image.c: libFuzzer target for the image decoding of image_folder
 * (plugins/common/nn_image.c): the input is a whole file (PNG, JPEG or anything), read through
 * a memfd as a dataset reads its files: the header, then, for images of at most 4 Mpixels (what
 * max_pixels does for the dataset), a full decode to gray or RGB as byte 0 of the size picks.
 * Any input must decode within its buffer or fail with an error; never crash or leak. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../plugins/common/nn_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink {
    uint8_t *px;
    size_t bytes;
} sink;

static uint8_t *take(void *ctx, size_t bytes)
{
    sink *s = ctx;
    s->bytes = bytes;
    return s->px = malloc(bytes ? bytes : 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_image", 0);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    nn_img_header hd, got;
    nn_error err = {0};
    if (nn_img_header_read(path, &hd, &err) != NN_OK || (double)hd.w * hd.h > 4e6)
        return 0;
    sink s = {0};
    int channels = size % 2 ? 3 : 1;
    if (nn_img_decode(path, channels, &hd, take, &s, &got, &err) == NN_OK) {
        if (s.bytes != (size_t)got.w * (size_t)got.h * (size_t)channels)
            __builtin_trap(); /* the buffer asked for is the image's size */
        volatile uint8_t last = s.bytes ? s.px[s.bytes - 1] : 0;
        (void)last;
    }
    free(s.px);
    return 0;
}
