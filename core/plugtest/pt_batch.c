/* pt_batch.c: the check of a batch transform (ABI 0.5 apply_batch: mixup, cutmix) behind
 * `nntrain plugins test`. On a batch of the case's samples with class-id targets (or, when
 * the plugin refuses those, probabilities) it must give the same batch and targets for the
 * same (seed, epoch, batch) stream, in a second instance too, write every target, leave the
 * targets it reads alone, and take a partial batch of one row. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "pt_internal.h"

#define PTB_ROWS 6
#define PTB_CLASSES 10

typedef struct ptb {
    nn_instance inst;
    const nn_transform_vtable *vt;
    nn_tensor in, target, tout; /* one sample, one target in and out */
    size_t scratch;
} ptb;

/* create + setup with targets of dtype dt (I32 class ids or F32 probabilities) */
static int ptb_open(pt_ctx *c, const pt_case *k, nn_dtype dt, ptb *t, nn_error *err)
{
    memset(t, 0, sizeof *t);
    int rc = pt_instance(&t->inst, c->d, k->params, c->o->params, err);
    if (rc)
        return rc;
    t->vt = t->inst.vt;
    int64_t classes = PTB_CLASSES;
    nn_tensor_describe(&t->in, k->in[0].dtype, k->in[0].ndim, k->in[0].shape);
    nn_tensor_describe(&t->target, dt, dt == NN_I32 ? 0 : 1, &classes);
    t->tout = t->target;
    t->tout.dl.shape = t->tout.shape;
    t->tout.dl.strides = t->tout.strides;
    nn_transform_setup su = {.struct_size = sizeof su, .in = &t->in, .out = t->in,
                             .train_only = 1, .target = &t->target, .target_out = &t->tout,
                             .n_classes = PTB_CLASSES};
    su.out.dl.shape = su.out.shape;
    su.out.dl.strides = su.out.strides;
    if ((rc = PT_CALL(&t->inst, "setup", t->vt->setup(t->inst.self, &su, err), err)))
        return rc;
    char a[96], b[96];
    if (!su.train_only)
        return nn_error_set(err, NN_EINVAL, "setup cleared train_only (a batch transform runs "
                            "on training batches only)");
    if (!nn_shape_equal(&su.out, &t->in) || nn_tensor_dtype(&su.out) != nn_tensor_dtype(&t->in))
        return nn_error_set(err, NN_EINVAL, "setup changed the sample from %s to %s (a batch "
                            "transform rewrites the batch in place)",
                            nn_shape_str(&t->in, a, sizeof a), nn_shape_str(&su.out, b, sizeof b));
    if (nn_tensor_dtype(&t->tout) < 0 || t->tout.dl.ndim >= NN_MAX_DIMS ||
        nn_tensor_numel(&t->tout) < 1)
        return nn_error_set(err, NN_EINVAL, "setup left no valid target_out");
    t->scratch = su.batch_scratch;
    return NN_OK;
}

static nn_tensor *rows_of(const nn_tensor *row, int64_t n)
{
    int64_t shape[NN_MAX_DIMS] = {n};
    memcpy(shape + 1, row->shape, (size_t)row->dl.ndim * sizeof *shape);
    return pt_guarded_new((nn_dtype)nn_tensor_dtype(row), row->dl.ndim + 1, shape);
}

typedef struct ptb_run {
    nn_tensor *x, *tout;
} ptb_run;

/* a fresh copy of the first n rows of x0 and targets t0 through apply_batch of (epoch, index);
 * target_out starts filled with `fill` bytes, so that an element never written shows */
static int ptb_apply(pt_ctx *c, ptb *t, const nn_tensor *x0, const nn_tensor *t0, int64_t n,
                     uint64_t index, int fill, ptb_run *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    out->x = rows_of(&t->in, n);
    out->tout = rows_of(&t->tout, n);
    nn_tensor *tin = rows_of(&t->target, n);
    const int64_t scratch_shape[1] = {(int64_t)t->scratch};
    nn_tensor *scratch_t = t->scratch ? pt_guarded_new(NN_U8, 1, scratch_shape) : NULL;
    void *scratch = scratch_t ? scratch_t->dl.data : NULL;
    int64_t indices[PTB_ROWS];
    int rc = NN_OK;
    if (!out->x || !out->tout || !tin || (t->scratch && !scratch))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK) {
        memcpy(out->x->dl.data, x0->dl.data, nn_tensor_nbytes(out->x));
        memcpy(tin->dl.data, t0->dl.data, nn_tensor_nbytes(tin));
        memset(out->tout->dl.data, fill, nn_tensor_nbytes(out->tout));
        if (scratch)
            memset(scratch, 0xA5 ^ fill, t->scratch);
        for (int64_t i = 0; i < n; i++)
            indices[i] = 100 + i;
        nn_transform_batch b = {.struct_size = sizeof b, .rows = n, .x = out->x, .target = tin,
                                .target_out = out->tout, .indices = indices, .epoch = 3,
                                .index = (int64_t)index, .scratch = scratch};
        nn_rng g;
        nn_rng_init(&g, c->seed, 3, index, 2);
        rc = PT_CALL(&t->inst, "apply_batch", t->vt->apply_batch(t->inst.self, &b, &g, err), err);
        if (rc == NN_OK && memcmp(tin->dl.data, t0->dl.data, nn_tensor_nbytes(tin)) != 0)
            rc = nn_error_set(err, NN_EINVAL, "apply_batch changed the targets it reads (it "
                              "writes target_out only)");
        if (rc == NN_OK)
            rc = pt_guard_check(out->x, "apply_batch", "batch.x", err);
        if (rc == NN_OK)
            rc = pt_guard_check(tin, "apply_batch", "batch.target", err);
        if (rc == NN_OK)
            rc = pt_guard_check(out->tout, "apply_batch", "batch.target_out", err);
        if (rc == NN_OK)
            rc = pt_guard_check(scratch_t, "apply_batch", "batch.scratch", err);
    }
    pt_guarded_free(tin);
    pt_guarded_free(scratch_t);
    return rc;
}

static int same(const nn_tensor *a, const nn_tensor *b)
{
    return nn_tensor_nbytes(a) == nn_tensor_nbytes(b) &&
           memcmp(a->dl.data, b->dl.data, nn_tensor_nbytes(a)) == 0;
}

static void run_free(ptb_run *r, int n)
{
    for (int i = 0; i < n; i++) {
        pt_guarded_free(r[i].x);
        pt_guarded_free(r[i].tout);
    }
}

void pt_batch_transform_case(pt_ctx *c, const pt_case *k, pt_report *r)
{
    ptb A, B;
    memset(&B, 0, sizeof B);
    nn_error err = {0}, first = {0};
    char why[400] = "", sh[96];
    nn_dtype dt = NN_I32;
    int rc = ptb_open(c, k, dt, &A, &first);
    if (rc && A.inst.desc) { /* refused class ids: probabilities, as after another one */
        nn_instance_destroy(&A.inst);
        dt = NN_F32;
        rc = ptb_open(c, k, dt, &A, &err);
    } else {
        err = first;
    }
    nn_tensor *x0 = rc ? NULL : rows_of(&A.in, PTB_ROWS);
    nn_tensor *t0 = rc ? NULL : rows_of(&A.target, PTB_ROWS);
    ptb_run o[5];
    memset(o, 0, sizeof o);
    if (rc == NN_OK && (!x0 || !t0))
        rc = nn_error_set(&err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK) {
        pt_fill(x0, k->in[0].lo, k->in[0].hi, c->seed, 499);
        if (dt == NN_I32) {
            pt_fill(t0, 0, PTB_CLASSES, c->seed, 498);
        } else { /* each row a distribution */
            float *p = NN_F32P(t0);
            pt_fill(t0, 0.05, 1, c->seed, 498);
            for (int64_t i = 0; i < PTB_ROWS; i++) {
                double s = 0;
                for (int64_t j = 0; j < PTB_CLASSES; j++)
                    s += p[i * PTB_CLASSES + j];
                for (int64_t j = 0; j < PTB_CLASSES; j++)
                    p[i * PTB_CLASSES + j] = (float)(p[i * PTB_CLASSES + j] / s);
            }
        }
        if ((rc = ptb_apply(c, &A, x0, t0, PTB_ROWS, 7, 0x00, &o[0], &err)) == NN_OK &&
            (rc = ptb_apply(c, &A, x0, t0, PTB_ROWS, 7, 0xA5, &o[1], &err)) == NN_OK &&
            (rc = ptb_apply(c, &A, x0, t0, PTB_ROWS, 8, 0x00, &o[2], &err)) == NN_OK)
            rc = ptb_apply(c, &A, x0, t0, 1, 7, 0x00, &o[3], &err);
        if (rc)
            nn_error_prefix(&err, "apply_batch");
    }
    if (rc == NN_OK && !same(o[0].tout, o[1].tout))
        snprintf(why, sizeof why, "two applies with the same (seed, epoch, batch) stream gave "
                 "different targets, or some target_out element was never written");
    else if (rc == NN_OK && !same(o[0].x, o[1].x))
        snprintf(why, sizeof why, "two applies with the same (seed, epoch, batch) stream gave "
                 "different batches");
    if (rc == NN_OK && !why[0] && (rc = ptb_open(c, k, dt, &B, &err)) == NN_OK &&
        (rc = ptb_apply(c, &B, x0, t0, PTB_ROWS, 7, 0x00, &o[4], &err)) == NN_OK &&
        !(same(o[0].x, o[4].x) && same(o[0].tout, o[4].tout)))
        snprintf(why, sizeof why, "a second instance gave another batch for the same stream");
    int varies = rc == NN_OK && o[2].x && !(same(o[0].x, o[2].x) && same(o[0].tout, o[2].tout));
    if (rc)
        pt_add(r, PT_FAIL, "transform", NULL, NULL, "[%s] batch transform: %s%s%s", k->label,
               err.msg, dt == NN_F32 ? "; with class ids: " : "", dt == NN_F32 ? first.msg : "");
    else if (why[0])
        pt_add(r, PT_FAIL, "transform", "differs", "identical", "[%s] batch transform: %s",
               k->label, why);
    else
        pt_add(r, PT_PASS, "transform", "0 bits", "identical", "[%s] batch transform on %d "
               "rows, %s targets of %d classes -> %s: same (seed, epoch, batch), same batch and "
               "targets, in a second instance too; every target written, targets read left "
               "alone; a 1-row batch runs; %s", k->label, PTB_ROWS,
               dt == NN_I32 ? "I32 class-id" : "F32 probability", PTB_CLASSES,
               nn_shape_str(&A.tout, sh, sizeof sh),
               varies ? "another batch index gives another result (random)"
                      : "the same for another batch index (deterministic)");
    run_free(o, 5);
    pt_guarded_free(x0);
    pt_guarded_free(t0);
    if (A.inst.desc)
        nn_instance_destroy(&A.inst);
    if (B.inst.desc)
        nn_instance_destroy(&B.inst);
}
