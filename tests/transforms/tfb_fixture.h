/* tfb_fixture.h: what the batch transform tests (mixup, cutmix) need on top of tf_fixture.h:
 * setup with a target description and a number of classes, a batch of rows with its targets,
 * and apply_batch with the stream the core gives batch `index` of epoch 0:
 * nn_rng_init(seed, 0, index, 2). Test-only; never used by plugins. */
#ifndef TFB_FIXTURE_H
#define TFB_FIXTURE_H

#include "tf_fixture.h"

#include <math.h>
#include <stdlib.h>

typedef struct tfb {
    tf t;
    nn_tensor target, tout; /* one sample's target in and out */
    int64_t rows;
    nn_tensor *x, *y, *yout; /* a batch of `rows` and its targets in and out */
    void *scratch;
} tfb;

/* setup on samples (dt, shape) with targets (tdt, tndim, tshape) of n_classes; returns the
 * status with the message in err */
static inline int tfb_setup(tfb *b, nn_dtype dt, int ndim, const int64_t *shape, nn_dtype tdt,
                            int tndim, const int64_t *tshape, int64_t n_classes, nn_error *err)
{
    tf *t = &b->t;
    t->in = nn_tensor_new(dt, ndim, shape);
    cr_assert(t->in);
    nn_tensor_describe(&b->target, tdt, tndim, tshape);
    b->tout = b->target;
    b->tout.dl.shape = b->tout.shape;
    b->tout.dl.strides = b->tout.strides;
    memset(&t->s, 0, sizeof t->s);
    t->s.struct_size = sizeof t->s;
    t->s.in = t->in;
    t->s.out = *t->in;
    t->s.out.dl.shape = t->s.out.shape;
    t->s.out.dl.strides = t->s.out.strides;
    t->s.train_only = 1;
    t->s.target = &b->target;
    t->s.target_out = &b->tout;
    t->s.n_classes = n_classes;
    int rc = t->vt->setup(t->inst.self, &t->s, err);
    if (rc == NN_OK) {
        cr_assert(t->s.train_only, "a batch transform must stay train-only");
        cr_assert(nn_shape_equal(&t->s.out, t->in), "a batch transform keeps the sample");
    }
    return rc;
}

/* allocates a batch of `rows` (x filled by the caller) for a set-up instance */
static inline void tfb_alloc(tfb *b, int64_t rows)
{
    int64_t shape[NN_MAX_DIMS] = {rows};
    b->rows = rows;
    memcpy(shape + 1, b->t.in->shape, (size_t)b->t.in->dl.ndim * sizeof *shape);
    b->x = nn_tensor_new(NN_F32, b->t.in->dl.ndim + 1, shape);
    memcpy(shape + 1, b->target.shape, (size_t)b->target.dl.ndim * sizeof *shape);
    b->y = nn_tensor_new((nn_dtype)nn_tensor_dtype(&b->target), b->target.dl.ndim + 1, shape);
    memcpy(shape + 1, b->tout.shape, (size_t)b->tout.dl.ndim * sizeof *shape);
    b->yout = nn_tensor_new((nn_dtype)nn_tensor_dtype(&b->tout), b->tout.dl.ndim + 1, shape);
    size_t sb = b->t.s.batch_scratch;
    b->scratch = sb ? aligned_alloc(64, (sb + 63) / 64 * 64) : NULL;
    cr_assert(b->x && b->y && b->yout && (!sb || b->scratch));
}

/* apply_batch with the stream of batch `index` of epoch 0 under seed; returns the status */
static inline int tfb_try(tfb *b, uint64_t seed, uint64_t index, nn_error *err)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, index, 2);
    int64_t idx[256];
    for (int64_t i = 0; i < b->rows && i < 256; i++)
        idx[i] = 1000 + i;
    nn_transform_batch tb = {.struct_size = sizeof tb, .rows = b->rows, .x = b->x,
                             .target = b->y, .target_out = b->yout, .indices = idx,
                             .index = (int64_t)index, .scratch = b->scratch};
    return b->t.vt->apply_batch(b->t.inst.self, &tb, &r, err);
}

static inline void tfb_apply(tfb *b, uint64_t seed, uint64_t index)
{
    nn_error e = {0};
    int rc = tfb_try(b, seed, index, &e);
    cr_assert_eq(rc, NN_OK, "apply_batch: %s", e.msg);
}

static inline void tfb_free(tfb *b)
{
    nn_tensor_free(b->x);
    nn_tensor_free(b->y);
    nn_tensor_free(b->yout);
    free(b->scratch);
    tf_free(&b->t);
    memset(b, 0, sizeof *b);
}

/* Beta(a, a) drawn from the stream as the plugins document it, written independently of them:
 * Gamma(a) by Marsaglia and Tsang's method (a normal, then a uniform per try; a try whose
 * 1 + c x is not positive still takes its uniform), Gamma(a) = Gamma(a + 1) U^(1/a) for
 * a < 1; lambda = X / (X + Y), X first. */
static inline double ref_gamma(nn_rng *r, double a)
{
    double boost = 1;
    if (a < 1) {
        double g = ref_gamma(r, a + 1);
        boost = pow(1 - nn_rng_uniform(r), 1 / a);
        return g * boost;
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = nn_rng_normal(r), v = 1 + c * x, u = 1 - nn_rng_uniform(r);
        if (v <= 0)
            continue;
        v = v * v * v;
        if (log(u) < x * x / 2 + d - d * v + d * log(v))
            return d * v;
    }
}

static inline double ref_beta(nn_rng *r, double a)
{
    double x = ref_gamma(r, a), y = ref_gamma(r, a);
    return x / (x + y);
}

#endif
