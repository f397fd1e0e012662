/* loader.c: prefetching batch loader. A loader thread runs its own uv loop and queues one
 * uv_work_t per batch on the libuv pool; the consumer takes batches in order. All buffers are
 * made in nn_loader_new: steady state allocates nothing. A batch's bytes depend only on
 * (seed, epoch, sample index), never on which worker decoded it or when. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "data_internal.h"
#include "loader.h"
#include "nntrain/rng.h"

enum { SLOT_FREE, SLOT_QUEUED, SLOT_READY, SLOT_HELD };

typedef struct slot {
    nn_batch b;
    uv_work_t req;
    struct nn_loader *l;
    int64_t *indices;
    void *sa, *sb;
    nn_batch_ws *bw; /* the batch transforms' buffers (training batches), or NULL */
    int state;
    uint64_t gen; /* the loader's generation when it was queued */
    int rc;
    nn_error err;
} slot;

struct nn_loader {
    nn_data *d;
    nn_part part;
    nn_loader_opts o;
    const int64_t *idx;
    int64_t n, nb;
    int64_t *perm; /* dataset indices in this epoch's order */
    slot *slots;
    int nslots;
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    int64_t epoch, next_sched, next_deliver;
    uint64_t gen;
    int queued;   /* slots on the pool */
    int pending;  /* slots queued or ready: at most prefetch */
    int stopping; /* nn_loader_free asked */
    int pausing;  /* nn_loader_start_epoch is draining the pool */
    int started, thread_ok;
    int64_t calls, waits;
    int64_t wakeups;  /* of the loader thread by nn_loader_next and nn_loader_release */
    int wake_pending; /* one of those wake-ups that wake_cb has not taken yet */
    double wait_s;
};

static uv_once_t pool_once = UV_ONCE_INIT;
static int pool_workers = 2;

static void set_pool_size(void)
{
    if (!getenv("UV_THREADPOOL_SIZE")) {
        char v[16];
        snprintf(v, sizeof v, "%d", pool_workers);
        setenv("UV_THREADPOOL_SIZE", v, 0);
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* pool thread: decode one batch into its slot, which no one else touches meanwhile */
static void work_cb(uv_work_t *req)
{
    slot *s = req->data;
    nn_loader *l = s->l;
    const nn_dataset_info *info = nn_data_info(l->d);
    nn_tensor *x = s->b.x, *y = s->b.y;
    size_t xrow = nn_tensor_nbytes(x) / (size_t)x->shape[0];
    size_t yrow = nn_tensor_nbytes(y) / (size_t)y->shape[0];
    s->rc = NN_OK;
    for (int64_t j = 0; j < s->b.n && !s->rc; j++) {
        nn_tensor xs = info->sample, ys = info->target;
        xs.dl.shape = xs.shape;
        xs.dl.strides = xs.strides;
        ys.dl.shape = ys.shape;
        ys.dl.strides = ys.strides;
        xs.dl.data = (char *)x->dl.data + (size_t)j * xrow;
        ys.dl.data = s->bw ? nn_batch_ws_target(s->bw, j) : (char *)y->dl.data + (size_t)j * yrow;
        s->rc = nn_data_decode(l->d, l->part, s->indices[j], l->o.augment, s->b.epoch, s->sa,
                               s->sb, &xs, &ys, &s->err);
    }
    if (s->bw && !s->rc && s->b.n > 0)
        s->rc = nn_data_batch_apply(l->d, s->bw, x, y, s->b.n, s->indices, s->b.epoch,
                                    s->b.index, &s->err);
    int64_t B = x->shape[0];
    if (s->b.n < B) {
        memset((char *)x->dl.data + (size_t)s->b.n * xrow, 0, (size_t)(B - s->b.n) * xrow);
        memset((char *)y->dl.data + (size_t)s->b.n * yrow, 0, (size_t)(B - s->b.n) * yrow);
    }
}

static void after_cb(uv_work_t *req, int status);

/* lock held: the free slot pump() would queue the next batch into now, or NULL. The
 * caller's wake-up of the loop thread (a write to an eventfd, and a thread woken on the other
 * core: tens of microseconds in a VM, once per step) is skipped when there is none, or when
 * one is already on its way: whatever changes that later (a worker done, a slot freed) pumps
 * or wakes itself. */
static slot *pumpable(nn_loader *l)
{
    if (l->stopping || l->pausing || !l->started || l->next_sched >= l->nb ||
        l->queued >= l->o.workers || l->pending >= l->o.prefetch)
        return NULL;
    for (int i = 0; i < l->nslots; i++)
        if (l->slots[i].state == SLOT_FREE)
            return &l->slots[i];
    return NULL;
}

/* loop thread, lock held: queue batches while a slot is free and the limits allow */
static void pump(nn_loader *l)
{
    for (slot *s; (s = pumpable(l));) {
        int64_t k = l->next_sched++, B = l->o.batch_size;
        int64_t first = k * B, cnt = l->n - first < B ? l->n - first : B, row0 = 0, take = cnt;
        if (l->o.shard_count > 1)
            nn_batch_slice(cnt, l->o.shard_rank, l->o.shard_count, &row0, &take);
        memcpy(s->indices, l->perm + first + row0, (size_t)take * sizeof *s->indices);
        s->b.n = take;
        s->b.global_n = cnt;
        s->b.row0 = row0;
        s->b.index = k;
        s->b.epoch = l->epoch;
        s->gen = l->gen;
        s->state = SLOT_QUEUED;
        s->err.status = 0;
        s->err.msg[0] = 0;
        l->queued++;
        l->pending++;
        if (uv_queue_work(&l->loop, &s->req, work_cb, after_cb)) {
            /* cannot happen with a valid loop and callback; report it as the batch's error */
            s->rc = nn_error_set(&s->err, NN_EINTERNAL, "uv_queue_work failed");
            s->state = SLOT_READY;
            l->queued--;
            uv_cond_broadcast(&l->cv);
        }
    }
}

static void after_cb(uv_work_t *req, int status)
{
    slot *s = req->data;
    nn_loader *l = s->l;
    uv_mutex_lock(&l->mu);
    l->queued--;
    if (status == UV_ECANCELED || s->gen != l->gen || l->stopping) {
        s->state = SLOT_FREE;
        l->pending--;
    } else {
        s->state = SLOT_READY;
    }
    uv_cond_broadcast(&l->cv);
    if (l->stopping && l->queued == 0 && !uv_is_closing((uv_handle_t *)&l->wake))
        uv_close((uv_handle_t *)&l->wake, NULL);
    else
        pump(l);
    uv_mutex_unlock(&l->mu);
}

static void wake_cb(uv_async_t *a)
{
    nn_loader *l = a->data;
    uv_mutex_lock(&l->mu);
    l->wake_pending = 0;
    if (l->stopping || l->pausing)
        for (int i = 0; i < l->nslots; i++)
            if (l->slots[i].state == SLOT_QUEUED)
                uv_cancel((uv_req_t *)&l->slots[i].req); /* fails harmlessly once running */
    if (l->stopping && l->queued == 0 && !uv_is_closing((uv_handle_t *)&l->wake))
        uv_close((uv_handle_t *)&l->wake, NULL);
    else
        pump(l);
    uv_mutex_unlock(&l->mu);
}

static void loop_main(void *arg)
{
    nn_loader *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

/* a batch tensor whose bytes come from the caller's allocator (zeroed) */
static nn_tensor *batch_tensor(const nn_loader_opts *o, nn_dtype dt, int ndim,
                               const int64_t *shape)
{
    nn_tensor *t = nn_tensor_new(dt, ndim, shape);
    if (!t || !o->host_alloc)
        return t;
    free(t->dl.data);
    size_t bytes = nn_tensor_nbytes(t);
    t->dl.data = o->host_alloc(o->alloc_ctx, bytes ? bytes : 1);
    if (!t->dl.data) {
        free(t);
        return NULL;
    }
    memset(t->dl.data, 0, bytes);
    return t;
}

static void batch_tensor_free(const nn_loader_opts *o, nn_tensor *t)
{
    if (t && o->host_alloc) {
        o->host_free(o->alloc_ctx, t->dl.data);
        t->dl.data = NULL;
    }
    nn_tensor_free(t);
}

static void free_buffers(nn_loader *l)
{
    for (int i = 0; l->slots && i < l->nslots; i++) {
        batch_tensor_free(&l->o, l->slots[i].b.x);
        batch_tensor_free(&l->o, l->slots[i].b.y);
        free(l->slots[i].indices);
        free(l->slots[i].sa);
        free(l->slots[i].sb);
        nn_batch_ws_free(l->slots[i].bw);
    }
    free(l->slots);
    free(l->perm);
    free(l);
}

int nn_loader_new(nn_data *d, nn_part part, const nn_loader_opts *o, nn_loader **out,
                  nn_error *err)
{
    *out = NULL;
    if (o->batch_size < 1)
        return nn_error_set(err, NN_EINVAL, "batch_size %lld must be at least 1",
                            (long long)o->batch_size);
    if (o->prefetch < 0 || o->workers < 0 || o->prefetch > 1024 || o->workers > 1024)
        return nn_error_set(err, NN_EINVAL, "prefetch (%d) and workers (%d) must be in [0, 1024]",
                            o->prefetch, o->workers);
    if (part == NN_PART_TEST) {
        int rc = nn_data_open_test(d, err);
        if (rc)
            return rc;
    }
    int64_t n;
    const int64_t *idx = nn_data_indices(d, part, &n);
    if (!idx)
        return nn_error_set(err, NN_EINVAL, "data part %d does not exist%s", (int)part,
                            part == NN_PART_PREDICT ? " (open the inputs with "
                                                      "nn_data_open_predict first)" : "");
    nn_loader *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    l->d = d;
    l->part = part;
    l->o = *o;
    if (!l->o.prefetch)
        l->o.prefetch = 2;
    if (!l->o.workers)
        l->o.workers = 2;
    l->idx = idx;
    l->n = n;
    int64_t B = o->batch_size;
    l->nb = o->drop_last ? n / B : (n + B - 1) / B;
    if (l->o.shard_count < 2) {
        l->o.shard_count = 1;
        l->o.shard_rank = 0;
    } else if (l->o.shard_rank < 0 || l->o.shard_rank >= l->o.shard_count) {
        free(l);
        return nn_error_set(err, NN_EINVAL, "shard %d of %d does not exist", o->shard_rank,
                            o->shard_count);
    }
    /* a slice of a global batch: the largest has ceil(B / shards) rows; and no batch holds
     * more rows than the part (batch_size 1048576 on 2000 samples allocated for a million) */
    B = (B + l->o.shard_count - 1) / l->o.shard_count;
    if (n > 0 && B > n)
        B = n;
    l->nslots = l->o.prefetch + 1;
    l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
    l->perm = malloc((size_t)(n ? n : 1) * sizeof *l->perm);
    if (!l->slots || !l->perm) {
        free_buffers(l);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    const nn_dataset_info *info = nn_data_info(d);
    int64_t xs[NN_MAX_DIMS + 1] = {B}, ys[NN_MAX_DIMS + 1] = {B};
    memcpy(xs + 1, info->sample.shape, (size_t)info->sample.dl.ndim * sizeof *xs);
    const nn_tensor *target = nn_data_target(d, o->augment); /* after batch transforms */
    memcpy(ys + 1, target->shape, (size_t)target->dl.ndim * sizeof *ys);
    size_t scratch = nn_data_scratch_bytes(d);
    if (info->sample.dl.ndim >= NN_MAX_DIMS || target->dl.ndim >= NN_MAX_DIMS) {
        free_buffers(l);
        return nn_error_set(err, NN_ESHAPE, "a sample or target has %d dimensions: no room for "
                            "the batch dimension", NN_MAX_DIMS);
    }
    for (int i = 0; i < l->nslots; i++) {
        slot *s = &l->slots[i];
        s->l = l;
        s->req.data = s;
        s->b.x = batch_tensor(&l->o, (nn_dtype)nn_tensor_dtype(&info->sample),
                              info->sample.dl.ndim + 1, xs);
        s->b.y = batch_tensor(&l->o, (nn_dtype)nn_tensor_dtype(target), target->dl.ndim + 1,
                              ys);
        s->indices = malloc((size_t)B * sizeof *s->indices);
        s->b.indices = s->indices;
        if (scratch) {
            s->sa = aligned_alloc(64, scratch);
            s->sb = aligned_alloc(64, scratch);
        }
        if (!s->b.x || !s->b.y || !s->indices || (scratch && (!s->sa || !s->sb))) {
            free_buffers(l);
            return nn_error_set(err, NN_ENOMEM, "out of memory for %d batch buffers of %lld "
                                "samples", l->nslots, (long long)B);
        }
        int rc = nn_batch_ws_new(d, B, o->augment, &s->bw, err);
        if (rc) {
            free_buffers(l);
            return rc;
        }
    }
    pool_workers = l->o.workers;
    uv_once(&pool_once, set_pool_size);
    if (uv_loop_init(&l->loop)) {
        free_buffers(l);
        return nn_error_set(err, NN_EINTERNAL, "uv_loop_init failed");
    }
    uv_async_init(&l->loop, &l->wake, wake_cb);
    l->wake.data = l;
    uv_mutex_init(&l->mu);
    uv_cond_init(&l->cv);
    int rc = uv_thread_create(&l->thread, loop_main, l);
    if (rc) {
        uv_close((uv_handle_t *)&l->wake, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
        uv_mutex_destroy(&l->mu);
        uv_cond_destroy(&l->cv);
        free_buffers(l);
        return nn_error_set(err, NN_EINTERNAL, "cannot start the loader thread: %s",
                            uv_strerror(rc));
    }
    l->thread_ok = 1;
    *out = l;
    return NN_OK;
}

void nn_loader_free(nn_loader *l)
{
    if (!l)
        return;
    uv_mutex_lock(&l->mu);
    l->stopping = 1;
    uv_mutex_unlock(&l->mu);
    uv_async_send(&l->wake);
    uv_thread_join(&l->thread);
    /* A pool worker signals the loop that its work is done while it holds the loop's queue
     * mutex, and unlocks it after: taking the mutex here waits for that last unlock, so the
     * loop is never closed (and freed) under a worker's feet (helgrind saw the race). */
    uv_mutex_lock(&l->loop.wq_mutex);
    uv_mutex_unlock(&l->loop.wq_mutex);
    int rc = uv_loop_close(&l->loop);
    if (rc)
        fprintf(stderr, "nntrain: loader: uv_loop_close: %s (a handle or request leaked)\n",
                uv_strerror(rc));
    uv_mutex_destroy(&l->mu);
    uv_cond_destroy(&l->cv);
    free_buffers(l);
}

int64_t nn_loader_batches(const nn_loader *l)
{
    return l->nb;
}

int nn_loader_start_epoch(nn_loader *l, int64_t epoch, int64_t skip_batches, nn_error *err)
{
    if (epoch < 0 || skip_batches < 0 || skip_batches > l->nb)
        return nn_error_set(err, NN_EINVAL, "epoch %lld / skip %lld: expected epoch >= 0 and "
                            "skip in [0, %lld]", (long long)epoch, (long long)skip_batches,
                            (long long)l->nb);
    uv_mutex_lock(&l->mu);
    l->pausing = 1;
    l->gen++;
    uv_mutex_unlock(&l->mu);
    uv_async_send(&l->wake);
    uv_mutex_lock(&l->mu);
    while (l->queued > 0)
        uv_cond_wait(&l->cv, &l->mu);
    for (int i = 0; i < l->nslots; i++)
        if (l->slots[i].state == SLOT_READY) {
            l->slots[i].state = SLOT_FREE;
            l->pending--;
        }
    for (int64_t i = 0; i < l->n; i++)
        l->perm[i] = l->idx[i];
    if (l->o.shuffle) {
        nn_rng r;
        /* a = epoch and b = UINT64_MAX: no sample index uses that stream */
        nn_rng_init(&r, nn_data_seed(l->d), (uint64_t)epoch, UINT64_MAX, 1);
        for (int64_t i = l->n - 1; i > 0; i--) {
            int64_t j = (int64_t)nn_rng_below(&r, (uint64_t)i + 1), t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->next_sched = l->next_deliver = skip_batches;
    l->pausing = 0;
    l->started = 1;
    uv_mutex_unlock(&l->mu);
    uv_async_send(&l->wake);
    return NN_OK;
}

int nn_loader_next(nn_loader *l, nn_batch **b, nn_error *err)
{
    *b = NULL;
    uv_mutex_lock(&l->mu);
    if (!l->started) {
        uv_mutex_unlock(&l->mu);
        return nn_error_set(err, NN_EINVAL, "nn_loader_next before nn_loader_start_epoch");
    }
    if (l->next_deliver >= l->nb) {
        uv_mutex_unlock(&l->mu);
        return 0;
    }
    slot *s = NULL;
    int waited = 0;
    double t0 = 0;
    for (;;) {
        int usable = 0;
        for (int i = 0; i < l->nslots && !s; i++) {
            slot *c = &l->slots[i];
            if (c->state == SLOT_READY && c->b.index == l->next_deliver && c->gen == l->gen)
                s = c;
            usable += c->state != SLOT_HELD;
        }
        if (s)
            break;
        if (!usable) {
            uv_mutex_unlock(&l->mu);
            return nn_error_set(err, NN_EINVAL, "all %d batch buffers are held by the caller: "
                                "release a batch before asking for the next", l->nslots);
        }
        if (!waited) {
            waited = 1;
            t0 = now_s();
        }
        uv_cond_wait(&l->cv, &l->mu);
    }
    l->calls++;
    if (waited) {
        l->waits++;
        l->wait_s += now_s() - t0;
    }
    l->next_deliver++;
    l->pending--;
    int rc = s->rc;
    if (rc) {
        if (err)
            *err = s->err;
        s->state = SLOT_FREE;
    } else {
        s->state = SLOT_HELD;
        *b = &s->b;
    }
    int wake = !l->wake_pending && pumpable(l);
    l->wake_pending |= wake;
    l->wakeups += wake;
    uv_mutex_unlock(&l->mu);
    if (wake)
        uv_async_send(&l->wake);
    return rc ? (rc < 0 ? rc : NN_EINTERNAL) : 1;
}

void nn_loader_release(nn_loader *l, nn_batch *b)
{
    if (!b)
        return;
    slot *s = (slot *)((char *)b - offsetof(slot, b));
    uv_mutex_lock(&l->mu);
    s->state = SLOT_FREE;
    int wake = !l->wake_pending && pumpable(l);
    l->wake_pending |= wake;
    l->wakeups += wake;
    uv_mutex_unlock(&l->mu);
    if (wake)
        uv_async_send(&l->wake);
}

int64_t nn_loader_wakeups(const nn_loader *l)
{
    return l->wakeups;
}

double nn_loader_wait_fraction(const nn_loader *l)
{
    return l->calls ? (double)l->waits / (double)l->calls : 0.0;
}

double nn_loader_wait_seconds(const nn_loader *l)
{
    return l->wait_s;
}
