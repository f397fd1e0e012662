/* test_gang.c: the threads of in-process replicas (core/replicas.c): every replica runs once
 * per run, barriers hold them together, allreduce_sum sums in replica order, and a replica
 * that fails releases the others from the barrier they wait at instead of hanging the run. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "replicas.h"

typedef struct probe {
    nn_gang *g;
    atomic_int ran[16];
    atomic_int arrived;
    int order_ok;
    int fail_rank; /* -1: none */
    int64_t count;
} probe;

static int count_runs(void *ctx, int r, nn_error *err)
{
    (void)err;
    probe *p = ctx;
    atomic_fetch_add(&p->ran[r], 1);
    return NN_OK;
}

Test(gang, every_replica_runs_once_per_run_and_idle_ones_not_at_all)
{
    nn_gang *g;
    nn_error err = {0};
    cr_assert_eq(nn_gang_new(4, &g, &err), NN_OK, "%s", err.msg);
    probe p = {.g = g};
    for (int i = 0; i < 200; i++)
        cr_assert_eq(nn_gang_run(g, i % 2 ? 4 : 3, count_runs, &p, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(p.ran[0], 200);
    cr_assert_eq(p.ran[1], 200);
    cr_assert_eq(p.ran[2], 200);
    cr_assert_eq(p.ran[3], 100, "replica 3 ran %d times in 100 runs of 4", p.ran[3]);
    nn_gang_free(g);
}

static int barrier_phases(void *ctx, int r, nn_error *err)
{
    probe *p = ctx;
    for (int phase = 1; phase <= 50; phase++) {
        atomic_fetch_add(&p->arrived, 1);
        int rc = nn_gang_barrier(p->g, r, err);
        if (rc)
            return rc;
        /* everybody arrived at this phase before anybody left it */
        if (atomic_load(&p->arrived) < phase * 3)
            p->order_ok = 0;
        rc = nn_gang_barrier(p->g, r, err);
        if (rc)
            return rc;
    }
    return NN_OK;
}

Test(gang, a_barrier_lets_nobody_through_before_everybody_arrived)
{
    nn_gang *g;
    nn_error err = {0};
    cr_assert_eq(nn_gang_new(3, &g, &err), NN_OK);
    probe p = {.g = g, .order_ok = 1};
    cr_assert_eq(nn_gang_run(g, 3, barrier_phases, &p, &err), NN_OK, "%s", err.msg);
    cr_assert(p.order_ok);
    cr_assert_eq(p.arrived, 150);
    nn_gang_free(g);
}

static int sum_ranks(void *ctx, int r, nn_error *err)
{
    probe *p = ctx;
    const nn_dist_info *d = nn_gang_info(p->g, r);
    if (d->rank != r || d->size != 3)
        return nn_error_set(err, NN_EINTERNAL, "info of replica %d says rank %d of %d", r,
                            d->rank, d->size);
    float f[37];
    double x[5];
    for (int i = 0; i < 37; i++)
        f[i] = (float)(r + 1) * (float)i;
    for (int i = 0; i < 5; i++)
        x[i] = 0.1 * (r + 1) + i;
    int rc = d->allreduce_sum(d, f, p->count, NN_F32, err);
    if (rc == NN_OK)
        rc = d->allreduce_sum(d, x, 5, NN_F64, err);
    if (rc)
        return rc;
    for (int i = 0; i < 37; i++) {
        float want = i < p->count ? 6.0f * (float)i : (float)(r + 1) * (float)i;
        if (f[i] != want)
            return nn_error_set(err, NN_EINTERNAL, "replica %d: f[%d] = %g, want %g", r, i,
                                f[i], want);
    }
    for (int i = 0; i < 5; i++) {
        double want = ((0.1 * 1 + i) + (0.1 * 2 + i)) + (0.1 * 3 + i); /* replica order */
        if (x[i] != want)
            return nn_error_set(err, NN_EINTERNAL, "replica %d: x[%d] = %.17g, want %.17g", r,
                                i, x[i], want);
    }
    return NN_OK;
}

Test(gang, allreduce_sum_gives_every_replica_the_sum_in_replica_order)
{
    nn_gang *g;
    nn_error err = {0};
    cr_assert_eq(nn_gang_new(3, &g, &err), NN_OK);
    probe p = {.g = g, .count = 37};
    for (int r = 0; r < 3; r++)
        nn_gang_set_rows(g, r, 3, 1, 3, r);
    cr_assert_eq(nn_gang_run(g, 3, sum_ranks, &p, &err), NN_OK, "%s", err.msg);
    p.count = 11; /* a smaller count after a larger one, and parts of unequal length */
    cr_assert_eq(nn_gang_run(g, 3, sum_ranks, &p, &err), NN_OK, "%s", err.msg);
    const nn_dist_info *d = nn_gang_info(g, 1);
    cr_assert_eq(d->allreduce_sum(d, &p, 1, NN_I64, &err), NN_EINVAL);
    nn_gang_free(g);
}

static int one_fails(void *ctx, int r, nn_error *err)
{
    probe *p = ctx;
    if (r == p->fail_rank)
        return nn_error_set(err, NN_ESHAPE, "replica %d's own failure", r);
    /* the others wait for it: the failure must release them */
    int rc = nn_gang_barrier(p->g, r, err);
    if (rc == NN_OK)
        rc = nn_gang_barrier(p->g, r, err);
    return rc;
}

Test(gang, a_failing_replica_releases_the_others_and_its_error_is_the_runs)
{
    nn_gang *g;
    nn_error err = {0};
    cr_assert_eq(nn_gang_new(3, &g, &err), NN_OK);
    for (int bad = 0; bad < 3; bad++) {
        probe p = {.g = g, .fail_rank = bad};
        memset(&err, 0, sizeof err);
        cr_assert_eq(nn_gang_run(g, 3, one_fails, &p, &err), NN_ESHAPE, "%s", err.msg);
        char want[64];
        snprintf(want, sizeof want, "replica %d's own failure", bad);
        cr_assert_str_eq(err.msg, want);
    }
    /* and the gang works again afterwards */
    probe p = {.g = g, .order_ok = 1};
    cr_assert_eq(nn_gang_run(g, 3, barrier_phases, &p, &err), NN_OK, "%s", err.msg);
    cr_assert(p.order_ok);
    nn_gang_free(g);
}

Test(gang, refuses_sizes_it_cannot_run)
{
    nn_gang *g;
    nn_error err = {0};
    cr_assert_eq(nn_gang_new(1, &g, &err), NN_EINVAL);
    cr_assert_eq(nn_gang_new(17, &g, &err), NN_EINVAL);
    cr_assert_eq(nn_gang_new(2, &g, &err), NN_OK);
    probe p = {.g = g};
    cr_assert_eq(nn_gang_run(g, 3, count_runs, &p, &err), NN_EINTERNAL);
    nn_gang_free(g);
}
