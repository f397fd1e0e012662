/* data_private.h: the insides of nn_data, shared by data.c (sections, datasets, parts) and
 * chain.c (transforms, decoding, state). Core/data only; nothing outside includes it. */
#ifndef NN_DATA_PRIVATE_H
#define NN_DATA_PRIVATE_H

#include "nntrain/dataset.h"
#include "nntrain/transform.h"
#include "data_internal.h"
#include "instance.h"

typedef struct data_src {
    nn_instance inst;
    const nn_dataset_vtable *vt;
    nn_dataset_info info;
    int created, opened;
    char origin[160];
} data_src;

typedef struct data_tf {
    nn_instance inst;
    const nn_transform_vtable *vt;
    char *name;
    nn_tensor in, out;
    int train_only;
    int batch;              /* a batch transform (apply_batch, ABI 0.5) */
    nn_tensor tin, tout;    /* batch: one sample's target before and after it */
    size_t batch_scratch;   /* batch: what setup asked for */
} data_tf;

struct nn_data {
    nn_data_opts o;
    char *base_dir, *state_dir;
    data_src train, val, test, predict;
    data_src *src[NN_PART_COUNT]; /* source of each part */
    int64_t *idx[NN_PART_COUNT];
    int64_t n[NN_PART_COUNT];
    int64_t limit, test_limit; /* [data] limit, test_limit: a prefix of the split (0 = all) */
    data_tf *tf;
    int ntf;
    nn_dataset_info info; /* described after the chain; its target is that of one decoded
                             sample, before any batch transform */
    nn_tensor raw_sample; /* one sample as the dataset gives it, before the chain */
    size_t scratch;
    /* batch transforms (batch.c): their count, one training sample's target after them, the
     * largest scratch one asked for and the largest target row between them, in bytes */
    int nbatch;
    nn_tensor train_target;
    size_t batch_scratch, target_row_max;
};

static inline int nn_same_desc(const nn_tensor *a, const nn_tensor *b)
{
    return nn_shape_equal(a, b) && nn_tensor_dtype(a) == nn_tensor_dtype(b);
}

/* chain.c: creates every [transform.NAME] of cfg in file order on samples shaped like in,
 * setting d->tf, d->info.sample and d->scratch */
int nn_chain_make(nn_data *d, nn_registry *reg, const nn_config *cfg, const nn_tensor *in,
                  nn_error *err);
/* chain.c: runs each fitting transform on the training part */
int nn_chain_fit(nn_data *d, nn_error *err);

/* batch.c: is t's plugin a batch transform (it fills apply_batch)? */
int nn_tf_is_batch(const data_tf *t);
/* batch.c: after a batch transform's setup: checks what it declared (training only, the
 * sample unchanged, a valid target) and moves d->train_target on to its target_out */
int nn_batch_tf_check(nn_data *d, data_tf *t, const nn_transform_setup *st, const char *origin,
                      nn_error *err);
/* batch.c: refuses a batch transform's section s and the [loss] of cfg that both give a
 * label_smoothing above 0 (the targets would be smoothed twice), naming both keys' lines */
int nn_batch_tf_smoothing(const nn_config_section *s, const nn_config *cfg, const char *origin,
                          nn_error *err);

#endif
