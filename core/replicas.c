/* replicas.c: a gang of threads that runs the replicas of one step at once. The threads
 * live as long as the session, so a step costs two hand-overs (start, end) and the barriers
 * its replicas ask for, instead of the dozens of parallel regions of one step split over the
 * cores. A thread waiting for the others spins for some tens of microseconds, then sleeps
 * on a condition variable: a step is a millisecond or more. */
#define _POSIX_C_SOURCE 200809L
#include "replicas.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "threads.h"

#define SPINS 4000 /* pause instructions: tens of microseconds, more on CPUs with a slow pause */

typedef struct worker {
    struct nn_gang *g;
    int r;
} worker;

struct nn_gang {
    int size, started;
    pthread_t th[NN_MAX_REPLICAS];
    worker w[NN_MAX_REPLICAS];
    pthread_mutex_t mu;
    pthread_cond_t go, done, bar;
    atomic_uint gen, done_gen, bar_gen;
    atomic_int pending, bar_count, broken;
    int quit;
    /* the run in progress */
    int n_run;
    nn_gang_fn fn;
    void *ctx;
    int rc[NN_MAX_REPLICAS], released[NN_MAX_REPLICAS];
    nn_error errs[NN_MAX_REPLICAS];
    nn_dist_info info[NN_MAX_REPLICAS];
    /* allreduce_sum */
    void *bufs[NN_MAX_REPLICAS];
    void *scratch;
    size_t scratch_bytes;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* waits until *word is no longer old (or, with stop, until *stop is set) */
static void wait_change(nn_gang *g, atomic_uint *word, unsigned old, pthread_cond_t *cv,
                        atomic_int *stop)
{
    for (int i = 0; i < SPINS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != old ||
            (stop && atomic_load(stop)))
            return;
        relax();
    }
    pthread_mutex_lock(&g->mu);
    while (atomic_load(word) == old && !(stop && atomic_load(stop)))
        pthread_cond_wait(cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void bump(nn_gang *g, atomic_uint *word, pthread_cond_t *cv)
{
    pthread_mutex_lock(&g->mu);
    atomic_fetch_add(word, 1);
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(&g->mu);
}

static void run_one(nn_gang *g, int r)
{
    nn_error *e = &g->errs[r];
    e->status = 0;
    e->msg[0] = 0;
    g->released[r] = 0;
    g->rc[r] = g->fn(g->ctx, r, e);
    if (g->rc[r]) {
        pthread_mutex_lock(&g->mu);
        atomic_store(&g->broken, 1);
        pthread_cond_broadcast(&g->bar);
        pthread_mutex_unlock(&g->mu);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    nn_gang *g = w->g;
    nn_threads_apply(1); /* this thread's OpenMP team: the replicas are the parallelism */
    unsigned seen = 0;
    for (;;) {
        wait_change(g, &g->gen, seen, &g->go, NULL);
        seen = atomic_load(&g->gen);
        if (g->quit)
            break;
        if (w->r < g->n_run)
            run_one(g, w->r);
        if (atomic_fetch_sub(&g->pending, 1) == 1)
            bump(g, &g->done_gen, &g->done);
    }
    return NULL;
}

static int allreduce_sum(const nn_dist_info *d, void *buf, int64_t count, nn_dtype dt,
                         nn_error *err)
{
    nn_gang *g = d->core;
    int r = d->rank, n = g->n_run;
    if (dt != NN_F32 && dt != NN_F64)
        return nn_error_set(err, NN_EINVAL, "allreduce_sum over replicas: F32 or F64 only");
    size_t es = dt == NN_F64 ? 8 : 4, bytes = (size_t)count * es;
    if (r == 0 && g->scratch_bytes < bytes) {
        /* only while the replicas meet a new count: a step's calls repeat their counts */
        void *p = realloc(g->scratch, bytes);
        if (!p)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        g->scratch = p;
        g->scratch_bytes = bytes;
    }
    g->bufs[r] = buf;
    int rc = nn_gang_barrier(g, r, err);
    if (rc)
        return rc;
    /* replica r sums its part of the elements over all replicas, in replica order */
    int64_t part = (count + n - 1) / n, lo = r * part, hi = lo + part < count ? lo + part : count;
    for (int64_t i = lo; i < hi; i++) {
        if (dt == NN_F64) {
            double s = 0;
            for (int q = 0; q < n; q++)
                s += ((const double *)g->bufs[q])[i];
            ((double *)g->scratch)[i] = s;
        } else {
            float s = 0;
            for (int q = 0; q < n; q++)
                s += ((const float *)g->bufs[q])[i];
            ((float *)g->scratch)[i] = s;
        }
    }
    if ((rc = nn_gang_barrier(g, r, err)))
        return rc;
    memcpy(buf, g->scratch, bytes);
    return nn_gang_barrier(g, r, err); /* the scratch is free again */
}

int nn_gang_new(int n, nn_gang **out, nn_error *err)
{
    *out = NULL;
    if (n < 2 || n > NN_MAX_REPLICAS)
        return nn_error_set(err, NN_EINVAL, "%d replicas: expected 2 to %d", n,
                            NN_MAX_REPLICAS);
    nn_gang *g = calloc(1, sizeof *g);
    if (!g)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    g->size = n;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->go, NULL);
    pthread_cond_init(&g->done, NULL);
    pthread_cond_init(&g->bar, NULL);
    for (int r = 0; r < n; r++) {
        g->info[r] = (nn_dist_info){.struct_size = sizeof g->info[r], .rank = r, .size = n,
                                    .allreduce_sum = allreduce_sum, .core = g};
        g->w[r] = (worker){g, r};
    }
    for (int r = 1; r < n; r++) {
        int e = pthread_create(&g->th[r], NULL, work, &g->w[r]);
        if (e) {
            nn_gang_free(g);
            return nn_error_set(err, NN_EIO, "starting the thread of replica %d: %s", r,
                                strerror(e));
        }
        g->started = r;
    }
    *out = g;
    return NN_OK;
}

void nn_gang_free(nn_gang *g)
{
    if (!g)
        return;
    g->quit = 1;
    bump(g, &g->gen, &g->go);
    for (int r = 1; r <= g->started; r++)
        pthread_join(g->th[r], NULL);
    pthread_cond_destroy(&g->go);
    pthread_cond_destroy(&g->done);
    pthread_cond_destroy(&g->bar);
    pthread_mutex_destroy(&g->mu);
    free(g->scratch);
    free(g);
}

int nn_gang_size(const nn_gang *g) { return g->size; }

const nn_dist_info *nn_gang_info(nn_gang *g, int r) { return &g->info[r]; }

void nn_gang_set_rows(nn_gang *g, int r, int n, int64_t rows, int64_t global_rows,
                      int64_t row_offset)
{
    g->info[r].size = n;
    g->info[r].rows = rows;
    g->info[r].global_rows = global_rows;
    g->info[r].row_offset = row_offset;
}

int nn_gang_run(nn_gang *g, int n, nn_gang_fn fn, void *ctx, nn_error *err)
{
    if (n < 2 || n > g->size)
        return nn_error_set(err, NN_EINTERNAL, "a run of %d replicas in a gang of %d", n,
                            g->size);
    g->n_run = n;
    g->fn = fn;
    g->ctx = ctx;
    atomic_store(&g->broken, 0);
    atomic_store(&g->bar_count, 0);
    atomic_store(&g->pending, g->size - 1);
    unsigned done = atomic_load(&g->done_gen);
    bump(g, &g->gen, &g->go);
    run_one(g, 0);
    wait_change(g, &g->done_gen, done, &g->done, NULL);
    /* the first replica that failed of itself, not one released by another's failure */
    int bad = -1;
    for (int r = 0; r < n; r++)
        if (g->rc[r] && (bad < 0 || (g->released[bad] && !g->released[r])))
            bad = r;
    if (bad < 0)
        return NN_OK;
    *err = g->errs[bad];
    return g->rc[bad];
}

int nn_gang_barrier(nn_gang *g, int r, nn_error *err)
{
    unsigned gen = atomic_load(&g->bar_gen);
    if (!atomic_load(&g->broken)) {
        if (atomic_fetch_add(&g->bar_count, 1) + 1 == g->n_run) {
            atomic_store(&g->bar_count, 0);
            bump(g, &g->bar_gen, &g->bar);
            return NN_OK;
        }
        wait_change(g, &g->bar_gen, gen, &g->bar, &g->broken);
        if (atomic_load(&g->bar_gen) != gen)
            return NN_OK;
    }
    g->released[r] = 1; /* the run reports the replica that failed of itself */
    return nn_error_set(err, NN_EINTERNAL, "stopped because another replica failed");
}
