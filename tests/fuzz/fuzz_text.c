/* fuzz_text.c: libFuzzer target for the text reader of plugins/data/text.c: line parsing,
 * class mapping, vocabulary building (tiny max_size to hit the cap) and encoding. */
#include "../../plugins/data/text.c"
#include "fuzz_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    tx_ds d = {.max_len = 1 + data[0] % 16, .min_freq = 1 + (data[0] >> 4) % 3,
               .max_size = 2 + (data[0] >> 6) * 3};
    tx_line *lines = NULL;
    int64_t n = 0;
    tx_vocab v = {0};
    nn_error err = {0};
    if (tx_parse(buf, size - 1, "fuzz", &lines, &n, &err) == NN_OK &&
        tx_build_classes(&d, lines, n, &err) == NN_OK &&
        tx_build_vocab(&d, lines, n, &v, &err) == NN_OK &&
        tx_encode(&d, lines, n, &v, "fuzz", &err) == NN_OK) {
        for (int64_t i = 0; i < d.n * d.max_len; i++)
            if (d.ids[i] < 0 || d.ids[i] >= d.vocab_size)
                __builtin_trap(); /* an id outside the vocabulary is a bug */
    }
    tx_vocab_free(&v);
    free(lines);
    free(buf);
    nnd_names_free(&d.names);
    free(d.ids);
    free(d.labels);
    return 0;
}
