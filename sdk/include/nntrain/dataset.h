/* dataset.h: the vtable of a dataset plugin. One instance serves one split; get() decodes one
 * sample into tensors the caller owns and may run on several threads at once, so after
 * open() an instance is read-only. Bad records are errors naming the file and the record. */
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
} nn_split;

typedef struct nn_dataset_open {
    uint32_t struct_size;
    nn_split split;
    const char *base_dir;  /* directory of the model file: resolve relative paths here */
    const char *state_dir; /* where to save (fit = 1) or load (fit = 0) artefacts such as a
                              vocabulary; NULL when there is none */
    int fit;               /* 1: build artefacts from this split */
    const void *reserved[8];
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
    const void *reserved[8];
} nn_dataset_info;

typedef struct nn_dataset_vtable {
    NN_VTABLE_COMMON;
    /* required: open the split and describe it */
    int (*open)(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err);
    /* required: decode sample `index` into sample/target (shaped as info says) */
    int (*get)(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err);
    const void *reserved[8];
} nn_dataset_vtable;

#ifdef __cplusplus
}
#endif
#endif
