/* dataset.h: the vtable of a dataset plugin. One instance serves one split; get() decodes one
 * sample into tensors the caller owns and may run on several threads at once, so after
 * open() an instance is read-only. Bad records are errors naming the file and the record.
 *
 * Prediction (ABI 0.2, `nntrain predict --input FILE...`): with split = NN_SPLIT_PREDICT the
 * plugin opens the user's files o->inputs[0 .. n_inputs) instead of a configured split (what
 * a FILE is - an image, a directory, a CSV - is the plugin's to say in its docs). Samples must
 * come out exactly as training samples do: same shape, dtype and scaling, artefacts such as a
 * vocabulary loaded from state_dir (fit is 0). Targets are unknown: write zeros (class id -1
 * for an I32 class target) and leave info->labels NULL. n_classes and class_names must be
 * those of training; a plugin that derives them from data reads them as it does for the test
 * split. A plugin that cannot predict from files returns NN_ENOTSUP with a sentence saying
 * what it accepts. describe() names each predicted sample ("FILE:RECORD", "FILE:LINE"). */
#ifndef NNTRAIN_DATASET_H
#define NNTRAIN_DATASET_H

#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_split {
    NN_SPLIT_TRAIN = 0, /* training data (validation is carved from it by the core) */
    NN_SPLIT_VAL,       /* an explicit validation set, when the plugin has one */
    NN_SPLIT_TEST,      /* held-out test data for `nntrain eval` */
    NN_SPLIT_PREDICT,   /* ABI 0.2: the user's files in nn_dataset_open.inputs (see above) */
} nn_split;

typedef struct nn_dataset_open {
    uint32_t struct_size;
    nn_split split;
    const char *base_dir;  /* directory of the model file: resolve relative paths here */
    const char *state_dir; /* where to save (fit = 1) or load (fit = 0) artefacts such as a
                              vocabulary; NULL when there is none */
    int fit;               /* 1: build artefacts from this split */
    /* ABI 0.2, NN_SPLIT_PREDICT only (NULL/0 otherwise): the user's files, paths as given on
     * the command line (relative to the working directory, not base_dir) */
    const char *const *inputs;
    int n_inputs;
    const void *reserved[6]; /* inputs + n_inputs took two of ABI 0.1's eight */
} nn_dataset_open;

typedef struct nn_dataset_info {
    uint32_t struct_size;
    int64_t length;                 /* number of samples */
    nn_tensor sample;               /* shape/dtype of one sample (no batch dim) */
    nn_tensor target;               /* one target: I32 ndim 0 for a class id, F32 otherwise */
    int n_classes;                  /* 0 for regression */
    const char *const *class_names; /* borrowed, n_classes entries; NULL = "0", "1", ... */
    const int32_t *labels;          /* borrowed, length entries, or NULL: class id per sample
                                       (for stratified splits without decoding samples) */
    /* ABI 0.4 (took a reserved slot; the core zeroes the struct, so older plugins leave it
     * NULL): one sentence the core shows the user as a warning after open, for what the plugin
     * accepted but the user should know ("skipped 2 of 40 files: ..."); borrowed, valid until
     * destroy; NULL when there is nothing to say. Plugins never print themselves. */
    const char *notice;
    const void *reserved[7];
} nn_dataset_info;

typedef struct nn_dataset_vtable {
    NN_VTABLE_COMMON;
    /* required: open the split and describe it */
    int (*open)(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err);
    /* required: decode sample `index` into sample/target (shaped as info says) */
    int (*get)(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err);
    /* optional (ABI 0.2; NULL or absent in an older vtable: the core names samples by index):
     * writes a NUL-terminated name of sample `index` of the opened split into buf (at most cap
     * bytes, truncated if longer): "FILE:RECORD" for record RECORD of FILE, counted from 0
     * ("digits.idx:3"), "FILE:LINE" for a line of a text file, counted from 1 as editors do
     * ("mine.csv:12"), or the file's path when it holds one sample. Read-only, thread-safe.
     * returns NN_OK or a negative status (index out of range). */
    int (*describe)(void *self, int64_t index, char *buf, size_t cap);
    const void *reserved[7];
} nn_dataset_vtable;

#ifdef __cplusplus
}
#endif
#endif
