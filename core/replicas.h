/* replicas.h: data parallelism inside one process. A gang of n threads (the calling thread
 * and n - 1 of its own) runs one function for every replica at once, each replica on one
 * compute thread; barriers between the replicas, and the nn_dist_info the replicas' layers
 * see (allreduce_sum over the replicas, for batchnorm with sync = true). What a replica
 * computes is the session's (session_replicas.c); this file knows only threads. */
#ifndef NN_REPLICAS_H
#define NN_REPLICAS_H

#include <stdint.h>

#include "nntrain/communicator.h"

typedef struct nn_gang nn_gang;

/* n in [2, NN_MAX_REPLICAS]; starts n - 1 threads, each with one OpenMP thread */
int nn_gang_new(int n, nn_gang **out, nn_error *err);
/* stops and joins the threads; NULL is allowed */
void nn_gang_free(nn_gang *g);
int nn_gang_size(const nn_gang *g);

/* What replica r's layers are told: rank r of the replicas of the current run. */
const nn_dist_info *nn_gang_info(nn_gang *g, int r);
/* What replica r's layers are told of its next step: n replicas run it (1: replica r alone,
 * which then must not wait for the others), and replica r's rows of the batch. */
void nn_gang_set_rows(nn_gang *g, int r, int n, int64_t rows, int64_t global_rows,
                      int64_t row_offset);

/* Runs fn(ctx, r, err) for every r < n (2 <= n <= size) at once, r = 0 on the calling thread,
 * and returns when all have returned: NN_OK, or the status and message of the lowest replica
 * that failed. A failure releases the other replicas from the barriers they wait at. */
typedef int (*nn_gang_fn)(void *ctx, int r, nn_error *err);
int nn_gang_run(nn_gang *g, int n, nn_gang_fn fn, void *ctx, nn_error *err);
/* Inside fn of replica r: waits until every replica of the run has reached it; fails when
 * one of them failed meanwhile. */
int nn_gang_barrier(nn_gang *g, int r, nn_error *err);

#endif
