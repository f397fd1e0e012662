/* data.h: the data side of a run, for the core only: the [data] section's dataset plugin, the
 * train/validation/test parts (val_split, K-fold, or a separate validation dataset) and the
 * [transform.NAME] chain. It opens and describes; decoding batches belongs to loader.h. */
#ifndef NN_DATA_H
#define NN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "nntrain/dataset.h"
#include "config.h"
#include "registry.h"

typedef struct nn_data nn_data;

typedef struct nn_data_opts {
    const char *base_dir;  /* directory of the model file (relative paths); may be NULL */
    const char *state_dir; /* where datasets save/load artefacts (vocab.txt); may be NULL */
    uint64_t seed;         /* split, fold and shuffling seed */
    int fit;               /* 1: training run: datasets save artefacts, transforms fit */
    int folds;             /* > 0: K-fold; the validation part is fold `fold` */
    int fold;              /* in [0, folds) */
    int for_eval;          /* 1: open only the test split (nntrain eval) */
    /* with for_eval: open these user files (NN_SPLIT_PREDICT, see nn_data_open_predict)
     * instead of the test split; n_inputs = 0: none */
    const char *const *inputs;
    int n_inputs;
} nn_data_opts;

/* Reads [data] and every [transform.NAME] section, in file order:
 *   [data] type = PLUGIN; val_split = fraction in [0, 1) carved from the training split
 *   (0 = none); stratify = bool (default true: per-class proportions when labels are known);
 *   val_type = PLUGIN with val_KEY = value keys: a separate validation dataset instead of
 *   val_split; every other key goes to the dataset plugin.
 *   [transform.NAME] type = PLUGIN, other keys to the transform plugin. Batch transforms
 *   (apply_batch, ABI 0.5) come after every per-sample transform and run only on training
 *   batches; nn_data_target says what they make of the targets.
 * With o->folds > 0 the training split is cut into folds (stratified when labels are known and
 * stratify is on) and fold o->fold is the validation part; val_split and val_type are then
 * not used. Fitting transforms (fit slot) learn
 * from the training part when o->fit. On failure err names the file:line, section or file.
 * *out is owned by the caller (nn_data_free); reg and cfg must outlive the call only. */
int nn_data_open(nn_registry *reg, const nn_config *cfg, const nn_data_opts *o, nn_data **out,
                 nn_error *err);
void nn_data_free(nn_data *d);

typedef enum { NN_PART_TRAIN, NN_PART_VAL, NN_PART_TEST, NN_PART_PREDICT } nn_part;
#define NN_PART_COUNT 4

/* number of samples in a part; 0 for an empty part; NN_ENOTFOUND for TEST before it is opened
 * (nn_loader_new opens it on demand, or for_eval opens it at once) */
int64_t nn_data_size(const nn_data *d, nn_part part);
/* Borrowed, valid until nn_data_free. sample: shape AFTER the transform chain; labels (may be
 * NULL) are indexed by dataset index, as nn_batch.indices are. */
const nn_dataset_info *nn_data_info(const nn_data *d);
/* the [data] keys the core reads itself (val_split, limit, ...), beside the plugin's */
const nn_param_spec *nn_data_schema(void);
/* One sample's target as batches loaded with `augment` hold it (borrowed, valid until
 * nn_data_free): with augment = 1 (training batches) after the batch transforms, e.g. F32
 * [n_classes] probabilities from mixup; otherwise nn_data_info's target, as decoded. */
const nn_tensor *nn_data_target(const nn_data *d, int augment);
/* dataset indices of a part (borrowed; n set to the count); NULL for an unopened TEST */
const int64_t *nn_data_indices(const nn_data *d, nn_part part, int64_t *n);
/* opens the test split now when it is not open yet */
int nn_data_open_test(nn_data *d, nn_error *err);
/* Opens the user's files (paths as given, n >= 1) through the dataset plugin's
 * NN_SPLIT_PREDICT as part NN_PART_PREDICT (once per nn_data). Its samples go through
 * the same transforms as test samples (train-only ones skipped, fitted state as loaded); its
 * targets are unknown (class id -1). Fails when the samples differ in shape from the ones the
 * transforms were made for, or the plugin cannot predict from files (NN_ENOTSUP). */
int nn_data_open_predict(nn_data *d, const char *const *inputs, int n, nn_error *err);
/* Writes the name of sample `index` of `part` into buf: the plugin's describe() ("FILE:RECORD")
 * or, without one, the index. Always NUL-terminates (cap > 0). */
void nn_data_describe(const nn_data *d, nn_part part, int64_t index, char *buf, size_t cap);

/* K-fold assignment: fold_of[i] in [0, k) for each of n samples, each fold of size n/k or
 * n/k + 1; with labels (>= 0) each class is spread evenly over the folds. Deterministic in
 * seed. returns NN_OK or NN_EINVAL (k < 2, k > n, a negative label). */
int nn_kfold_assign(int64_t n, const int32_t *labels, int k, uint64_t seed, int32_t *fold_of);

/* Validation split: marks round(frac * n) samples (per class when labels != NULL) with
 * is_val[i] = 1. Deterministic in seed. returns the number marked. */
int64_t nn_split_assign(int64_t n, const int32_t *labels, double frac, uint64_t seed,
                        uint8_t *is_val);

/* A hash of the training and validation parts as the dataset plugins give them (fingerprint.c):
 * every target, and the samples' values up to 64 MiB a part (past it, evenly spread ones).
 * For data-parallel runs, whose processes must read the same data; before loaders run. */
int nn_data_fingerprint(const nn_data *d, uint64_t *out, nn_error *err);

/* The transforms' fitted state as text for checkpoints: returns the bytes needed (buf is
 * written only when they fit in cap, NUL included), or < 0. Load parses what save wrote. */
int nn_data_state_save(const nn_data *d, char *buf, size_t cap);
int nn_data_state_load(nn_data *d, const char *text, nn_error *err);

#endif
