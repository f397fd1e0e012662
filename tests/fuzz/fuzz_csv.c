/* fuzz_csv.c: libFuzzer target for the CSV reader of plugins/data/csv.c: tokenising, column
 * lookup, class mapping and number parsing, for classification and regression, and the
 * test/prediction-input path (the file matched against itself as the training file, by header
 * names or by position). */
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
    int predict = (mode >> 4) & 1, other = (mode >> 5) & 1;
    csv_ds d = {.delim = (mode & 1) ? ';' : ',', .header = (mode >> 1) & 1,
                .regression = (mode >> 2) & 1, .label_key = (mode & 8) ? "0" : "-1"};
    csv_table t = {0};
    csv_train tr = {0};
    nn_error err = {0};
    if ((!predict || nnd_origins_file(&d.from, "fuzz", &err) == NN_OK) &&
        csv_table_parse(text, size - 1, "fuzz", d.delim, d.header, &t, &err) == NN_OK &&
        csv_train_columns(&d, &t, "fuzz", &tr, &err) == NN_OK &&
        (d.regression || csv_build_classes(&d, &t, tr.lc, &err) == NN_OK)) {
        if (predict || other)
            csv_load_other(&d, &tr, &t, "fuzz", predict, &err);
        else
            csv_rows(&d, &t, "fuzz", tr.lc, tr.fc, tr.nf, 0, &err);
    }
    free(tr.fc);
    nnd_nameidx_free(&tr.idx);
    csv_table_free(&t);
    nnd_names_free(&d.names);
    nnd_origins_free(&d.from);
    free(d.x);
    free(d.yreg);
    free(d.labels);
    return 0;
}
