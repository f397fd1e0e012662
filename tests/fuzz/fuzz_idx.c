/* fuzz_idx.c: libFuzzer target for the IDX header/payload parser of plugins/data/idx.c.
 * Any input must give NN_OK with every record inside the buffer, or an error; never a crash. */
#include "../../plugins/data/idx.c"
#include "fuzz_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    idx_array a;
    nn_error err = {0};
    if (idx_parse(data, size, "fuzz", &a, &err) == NN_OK) {
        /* touch the last byte of the last record: ASan catches an overrun */
        volatile uint8_t sink = 0;
        if (a.count > 0 && a.record > 0)
            sink = a.data[a.count * a.record - 1];
        (void)sink;
    }
    return 0;
}
