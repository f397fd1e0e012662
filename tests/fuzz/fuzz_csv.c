/* fuzz_csv.c: libFuzzer target for the CSV reader of plugins/data/csv.c: tokenising, column
 * lookup, class mapping and number parsing, for classification and regression, and the
 * prediction-input path (label column optional, a training feature count from the mode). */
#include "../../plugins/data/csv.c"
#include "fuzz_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    int predict = (mode >> 4) & 1, train_nf = (mode >> 5) & 7;
    csv_ds d = {.delim = (mode & 1) ? ';' : ',', .header = (mode >> 1) & 1,
                .regression = (mode >> 2) & 1, .label_key = (mode & 8) ? "0" : "-1"};
    csv_table t = {0};
    nn_error err = {0};
    if ((!predict || nnd_origins_file(&d.from, "fuzz", &err) == NN_OK) &&
        csv_table_parse(text, size - 1, "fuzz", d.delim, d.header, &t, &err) == NN_OK) {
        int lc = csv_column(&t, d.label_key, "fuzz", &err);
        int rc = lc < 0 ? lc : d.regression ? NN_OK : csv_build_classes(&d, &t, lc, &err);
        if (rc == NN_OK)
            csv_load(&d, &t, "fuzz", predict, train_nf, &err);
    }
    csv_table_free(&t);
    nnd_names_free(&d.names);
    nnd_origins_free(&d.from);
    free(d.x);
    free(d.yreg);
    free(d.labels);
    return 0;
}
