/* split.c: which samples validate: a val_split fraction or K folds, stratified by class when
 * labels are known. Pure functions of (n, labels, seed); they never touch a dataset. */
#include <stdlib.h>
#include <string.h>

#include "nntrain/rng.h"
#include "data.h"

/* the split streams use coordinates no per-sample stream uses (a = UINT64_MAX) */
#define SPLIT_STREAM 0xffffffffffffffffull

typedef struct lab_idx {
    int32_t label;
    int64_t index;
} lab_idx;

static int lab_idx_cmp(const void *a, const void *b)
{
    const lab_idx *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void shuffle(lab_idx *v, int64_t n, nn_rng *r)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nn_rng_below(r, (uint64_t)i + 1);
        lab_idx t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Groups indices by label (all one group without labels), each group shuffled. */
static lab_idx *grouped(int64_t n, const int32_t *labels, nn_rng *r)
{
    lab_idx *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        v[i] = (lab_idx){labels ? labels[i] : 0, i};
    if (labels)
        qsort(v, (size_t)n, sizeof *v, lab_idx_cmp);
    for (int64_t s = 0, e; s < n; s = e) {
        for (e = s; e < n && v[e].label == v[s].label; e++)
            ;
        shuffle(v + s, e - s, r);
    }
    return v;
}

int nn_kfold_assign(int64_t n, const int32_t *labels, int k, uint64_t seed, int32_t *fold_of)
{
    if (k < 2 || k > n)
        return NN_EINVAL;
    for (int64_t i = 0; labels && i < n; i++)
        if (labels[i] < 0)
            return NN_EINVAL;
    nn_rng r;
    nn_rng_init(&r, seed, SPLIT_STREAM, 1, 0);
    lab_idx *v = grouped(n, labels, &r);
    if (!v)
        return NN_ENOMEM;
    /* dealing the shuffled classes one after another round-robin keeps every class spread
     * evenly and every fold within one sample of n / k */
    for (int64_t i = 0; i < n; i++)
        fold_of[v[i].index] = (int32_t)(i % k);
    free(v);
    return NN_OK;
}

int64_t nn_split_assign(int64_t n, const int32_t *labels, double frac, uint64_t seed,
                        uint8_t *is_val)
{
    memset(is_val, 0, (size_t)n);
    if (frac <= 0 || n <= 0)
        return 0;
    nn_rng r;
    nn_rng_init(&r, seed, SPLIT_STREAM, 2, 0);
    lab_idx *v = grouped(n, labels, &r);
    if (!v)
        return -1;
    int64_t marked = 0;
    for (int64_t s = 0, e; s < n; s = e) {
        for (e = s; e < n && v[e].label == v[s].label; e++)
            ;
        int64_t take = (int64_t)((double)(e - s) * frac + 0.5);
        for (int64_t i = s; i < s + take; i++)
            is_val[v[i].index] = 1;
        marked += take;
    }
    free(v);
    return marked;
}
