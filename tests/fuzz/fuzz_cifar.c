/* fuzz_cifar.c: libFuzzer target for the CIFAR batch parser of plugins/data/cifar.c. The
 * first byte picks the layout (CIFAR-10, CIFAR-100 fine or coarse) and whether labels are read
 * (training) or ignored (prediction inputs); the rest is a batch file. */
#include "../../plugins/data/cifar.c"
#include "fuzz_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cifar_ds d = {.variant = data[0] & 1, .coarse = (data[0] >> 1) & data[0] & 1};
    nn_error err = {0};
    if (cifar_parse(&d, data + 1, size - 1, "fuzz", (data[0] >> 2) & 1, &err) == NN_OK &&
        d.n > 0) {
        volatile uint8_t sink = d.pixels[d.n * CIFAR_PIXELS - 1];
        (void)sink;
    }
    free(d.pixels);
    free(d.labels);
    return 0;
}
