/* loader.h: batches of a data part, decoded ahead of the consumer on the libuv thread pool by
 * a loader thread that runs its own uv loop. Order and contents are a pure function of
 * (seed, epoch): never of the number of workers or of thread timing. Core-only. */
#ifndef NN_LOADER_H
#define NN_LOADER_H

#include "data.h"
#include "nntrain/tensor.h"

typedef struct nn_batch {
    nn_tensor *x;           /* [B, sample...]; rows past n are zero */
    nn_tensor *y;           /* [B, target...]; rows past n are zero */
    int64_t n;              /* valid rows: B, or fewer in the last partial batch */
    const int64_t *indices; /* n dataset indices (as nn_dataset_info.labels is indexed) */
    int64_t epoch, index;   /* which epoch, and the batch's number within it */
    /* a sharded loader's batch is one process's slice of a global batch: global_n rows in
     * all, this slice being rows [row0, row0 + n) of it (n may be 0). Unsharded: n and 0. */
    int64_t global_n, row0;
} nn_batch;

/* The slice of a global batch of `global` rows that process `rank` of `size` takes: rows in
 * order, the first global % size processes one more. */
static inline void nn_batch_slice(int64_t global, int rank, int size, int64_t *row0,
                                  int64_t *rows)
{
    int64_t base = global / size, extra = global % size;
    *rows = base + (rank < extra);
    *row0 = rank * base + (rank < extra ? rank : extra);
}

typedef struct nn_loader_opts {
    int64_t batch_size; /* B >= 1 */
    int shuffle;        /* permute the part each epoch from (seed, epoch) */
    int drop_last;      /* skip the last partial batch */
    int prefetch;       /* batches decoded ahead (0 = 2) */
    int workers;        /* batches decoding at once on the uv pool (0 = 2) */
    int augment;        /* run train-only transforms */
    /* optional: where batch buffers come from (a device's page-locked host memory, so that
     * their copies to it are fast and truly asynchronous); NULL = aligned host memory */
    void *(*host_alloc)(void *ctx, size_t bytes);
    void (*host_free)(void *ctx, void *p);
    void *alloc_ctx;
    /* data-parallel runs: every process permutes the part alike and takes slice shard_rank
     * of shard_count of each global batch of batch_size rows (nn_batch_slice); batch buffers
     * hold ceil(batch_size / shard_count) rows. 0 or 1 = not sharded. */
    int shard_rank, shard_count;
} nn_loader_opts;

typedef struct nn_loader nn_loader;

/* Preallocates prefetch + 1 batch buffers and starts the loader thread; opens the test split
 * if part is NN_PART_TEST and it is not open. Sets UV_THREADPOOL_SIZE = workers when unset,
 * before the process's first uv_queue_work. *out is owned (nn_loader_free). d must outlive l. */
int nn_loader_new(nn_data *d, nn_part part, const nn_loader_opts *o, nn_loader **out,
                  nn_error *err);
/* Cancels queued work, waits for running work, joins the thread; NULL is allowed. */
void nn_loader_free(nn_loader *l);
/* batches per epoch */
int64_t nn_loader_batches(const nn_loader *l);
/* Starts (or restarts) an epoch at batch skip_batches (exact resume mid-epoch); abandons what
 * was prefetched for the previous one. Batches still held by the caller stay valid until
 * released. */
int nn_loader_start_epoch(nn_loader *l, int64_t epoch, int64_t skip_batches, nn_error *err);
/* Blocks until the next batch in order is ready: 1 with *b (borrowed until
 * nn_loader_release), 0 at the end of the epoch, < 0 on error (err names the file/record). */
int nn_loader_next(nn_loader *l, nn_batch **b, nn_error *err);
/* hands a batch's buffers back for prefetching */
void nn_loader_release(nn_loader *l, nn_batch *b);
/* fraction of nn_loader_next calls that had to wait for decoding, and the total seconds */
double nn_loader_wait_fraction(const nn_loader *l);
double nn_loader_wait_seconds(const nn_loader *l);
/* how often nn_loader_next and nn_loader_release woke the loader thread: only when it can
 * queue a batch then (each wake-up costs the caller tens of microseconds in a VM) */
int64_t nn_loader_wakeups(const nn_loader *l);

#endif
