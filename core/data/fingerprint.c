/* fingerprint.c: a hash of the samples a run trains and validates on, as the dataset plugins
 * give them (before any transform), so that the processes of a data-parallel run find out when
 * a host reads other data at the same path: every target, and the samples' values up to a
 * budget of bytes (past it, evenly spread samples). Read at open, before any loader runs. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "data_private.h"
#include "hash.h"

/* the samples' values hashed per part; their targets are hashed whole */
#define FP_VALUE_BUDGET ((size_t)64 << 20)

static int part_hash(const nn_data *d, nn_part part, uint64_t *h, nn_error *err)
{
    const data_src *s = d->src[part];
    int64_t n = d->n[part];
    if (!s || n <= 0)
        return NN_OK;
    size_t xb = nn_tensor_nbytes(&s->info.sample), yb = nn_tensor_nbytes(&s->info.target);
    int64_t stride = 1;
    if (xb > 0 && (size_t)n * xb > FP_VALUE_BUDGET)
        stride = (int64_t)(((size_t)n * xb + FP_VALUE_BUDGET - 1) / FP_VALUE_BUDGET);
    void *x = calloc(1, xb ? xb : 1), *y = calloc(1, yb ? yb : 1);
    int rc = x && y ? NN_OK : nn_error_set(err, NN_ENOMEM, "out of memory");
    *h = nn_hash(*h, &n, sizeof n);
    for (int64_t i = 0; i < n && rc == NN_OK; i++) {
        int64_t index = d->idx[part][i];
        nn_tensor xs = s->info.sample, ys = s->info.target;
        xs.dl.shape = xs.shape;
        xs.dl.strides = xs.strides;
        xs.dl.data = x;
        ys.dl.shape = ys.shape;
        ys.dl.strides = ys.strides;
        ys.dl.data = y;
        rc = NN_PLUGIN_CALL(&s->inst, "get", s->vt->get(s->inst.self, index, &xs, &ys, err));
        if (rc) {
            nn_error_prefix(err, "%s sample %lld", s->origin, (long long)index);
            rc = rc < 0 ? rc : NN_EINTERNAL;
            break;
        }
        *h = nn_hash(*h, y, yb);
        if (i % stride == 0)
            *h = nn_hash(*h, x, xb);
    }
    free(x);
    free(y);
    return rc;
}

int nn_data_fingerprint(const nn_data *d, uint64_t *out, nn_error *err)
{
    uint64_t h = NN_HASH_INIT;
    int rc = part_hash(d, NN_PART_TRAIN, &h, err);
    if (rc == NN_OK)
        rc = part_hash(d, NN_PART_VAL, &h, err);
    *out = h;
    return rc;
}
