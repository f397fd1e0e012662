/* fuzz_safetensors.c: libFuzzer target for the checkpoint reader (core/checkpoint.c). Any
 * input must be accepted or rejected with a message; accepted files must describe tensors
 * that lie inside the buffer. */
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_checkpoint *c = NULL;
    nn_error err = {0};
    if (nn_checkpoint_parse(data, size, "fuzz.safetensors", &c, &err) != NN_OK) {
        if (!err.msg[0])
            __builtin_trap(); /* a rejection must say why */
        return 0;
    }
    for (int i = 0; i < nn_checkpoint_count(c); i++) {
        const nn_tensor *t = nn_checkpoint_tensor(c, nn_checkpoint_name(c, i));
        volatile uint8_t sum = 0;
        const uint8_t *p = t->dl.data;
        for (size_t k = 0; k < nn_tensor_nbytes(t); k++)
            sum ^= p[k]; /* ASan flags any byte outside the file */
        (void)sum;
    }
    nn_checkpoint_meta(c, "epoch");
    nn_checkpoint_free(c);
    return 0;
}
