/* fuzz_idx.c: libFuzzer target for plugins/data/idx.c's file path: the input is a whole file,
 * gzipped or raw, read through zlib's inflate (idx_read_file, via a memfd) and then parsed (idx_parse).
 * Any input must give NN_OK with every record inside the buffer, or an error; never a crash. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "../../plugins/data/idx.c"
#include "fuzz_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_idx", 0);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    nn_error err = {0};
    idx_tail tail;
    if (idx_read_file(path, "fuzz", &buf, &len, &tail, &err) != NN_OK)
        return 0;
    idx_array a;
    if (idx_parse(buf, len, &tail, "fuzz", (int)(size % 3), &a, &err) == NN_OK) {
        /* touch the last byte of the last record: ASan catches an overrun */
        volatile uint8_t sink = 0;
        if (a.count > 0 && a.record > 0)
            sink = a.data[a.count * a.record - 1];
        (void)sink;
    }
    free(buf);
    return 0;
}
