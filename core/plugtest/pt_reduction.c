/* pt_reduction.c: `nntrain plugins test` for a loss: does its value reduce the batch's rows
 * as its setup declares (nn_loss_setup.reduction, ABI 0.9)? The core combines the parts of a
 * batch by it ([train] replicas, mpirun processes, [train] accumulate), so a sum declared as
 * a mean trains those with 1/N of the gradient, and nothing else would show it. Each case's
 * batch is run, then the batch written twice over (2N rows): a mean gives the same value, a
 * sum twice the value. */
#include <math.h>
#include <string.h>

#include "loss_reduction.h"
#include "pt_internal.h"

/* rows [n, 2n) of t become a copy of rows [0, n) */
static void repeat_rows(nn_tensor *t)
{
    size_t half = nn_tensor_nbytes(t) / 2;
    memcpy((char *)t->dl.data + half, t->dl.data, half);
}

/* one case; 1 when it agrees, 0 with why filled, -1 with err on a failed run */
static int one_case(pt_ctx *c, const pt_case *k, intptr_t *declared_out, double *worst,
                    char *why, size_t cap, nn_error *err)
{
    pt_case twice = *k;
    twice.in[0].shape[0] *= 2;
    twice.target.shape[0] *= 2;
    pt_loss A, B;
    double v1 = NAN, v2 = NAN;
    int rc = pt_loss_open(&A, c->dev, c->d, k, c->o->params, c->seed, err);
    if (rc)
        return -1;
    if ((rc = pt_loss_open(&B, c->dev, c->d, &twice, c->o->params, c->seed, err))) {
        pt_loss_close(&A);
        return -1;
    }
    intptr_t declared = *declared_out = A.su.reduction;
    memcpy(B.pred.h->dl.data, A.pred.h->dl.data, nn_tensor_nbytes(A.pred.h));
    memcpy(B.target.h->dl.data, A.target.h->dl.data, nn_tensor_nbytes(A.target.h));
    repeat_rows(B.pred.h);
    repeat_rows(B.target.h);
    if ((rc = pt_loss_forward(&A, 0, &v1, err)) == NN_OK &&
        (rc = pt_t_up(B.dev, &B.target, err)) == NN_OK)
        rc = pt_loss_forward(&B, 0, &v2, err);
    pt_loss_close(&A);
    pt_loss_close(&B);
    if (rc)
        return -1;
    /* float sums over twice the rows: a few ulps of the value */
    double scale = fabs(v1) > 1e-30 ? fabs(v1) : 1.0;
    double as_mean = fabs(v2 - v1) / scale, as_sum = fabs(v2 - 2 * v1) / scale;
    double e = declared == NN_LOSS_SUM ? as_sum : as_mean;
    if (e > *worst)
        *worst = e;
    if (!nn_loss_reduction_name(declared))
        snprintf(why, cap, "setup declares reduction %lld: " NN_LOSS_REDUCTION_RULE,
                 (long long)declared);
    else if (e <= 1e-5)
        return 1;
    else
        snprintf(why, cap, "setup declares %s, but the batch written twice over gives %.9g "
                 "against %.9g for the batch: %s; the core splits batches over replicas, "
                 "processes and micro-batches by the declaration",
                 nn_loss_reduction_name(declared), v2, v1,
                 as_sum <= 1e-5 ? "a sum (set s->reduction = NN_LOSS_SUM in setup)"
                 : as_mean <= 1e-5 ? "a mean (leave s->reduction NN_LOSS_MEAN)"
                                   : "neither a mean (the same) nor a sum (twice)");
    return 0;
}

void pt_check_reduction(pt_ctx *c, pt_report *r)
{
    if (!c->n_cases) {
        pt_add(r, PT_SKIP, "reduction", NULL, NULL, "no case to run (see 'cases')");
        return;
    }
    int ran = 0;
    for (int i = 0; i < c->n_cases; i++) {
        const pt_case *k = &c->cases[i];
        if (k->fixture || !k->has_target || k->in[0].ndim < 1 || k->in[0].shape[0] < 1 ||
            k->target.ndim < 1 || k->target.shape[0] != k->in[0].shape[0])
            continue;
        nn_error err = {0};
        char why[600] = "", worst_s[32];
        double worst = 0;
        intptr_t declared = NN_LOSS_MEAN;
        int ok = one_case(c, k, &declared, &worst, why, sizeof why, &err);
        snprintf(worst_s, sizeof worst_s, "%.3g", worst);
        if (ok < 0)
            pt_add(r, PT_FAIL, "reduction", NULL, NULL, "[%s] %s", k->label, err.msg);
        else if (!ok)
            pt_add(r, PT_FAIL, "reduction", worst_s, "1e-05", "[%s] %s", k->label, why);
        else
            pt_add(r, PT_PASS, "reduction", worst_s, "1e-05", "[%s] declares %s: the batch "
                   "written twice over gives %s", k->label, nn_loss_reduction_name(declared),
                   declared == NN_LOSS_SUM ? "twice its value" : "its value");
        ran++;
    }
    if (!ran)
        pt_add(r, PT_SKIP, "reduction", NULL, NULL, "no case with one target row per "
               "prediction row");
}
