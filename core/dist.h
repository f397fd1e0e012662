/* dist.h: data-parallel runs (core only): whether this process is one of several started by
 * a launcher, the communicator plugin that connects them, collectives with a timeout, and the
 * gradient buckets reduced while backward runs. Without a launcher or --dist, nothing here is
 * created and no communicator is loaded. docs/distributed.md tells the whole design. */
#ifndef NN_DIST_H
#define NN_DIST_H

#include <stdint.h>

#include "graph.h"
#include "metrics.h"
#include "nntrain/communicator.h"
#include "registry.h"

typedef struct nn_dist nn_dist;

/* The launcher that started this process, from its environment: returns the world size it
 * announced (> 0), -1 when it announced none (PMIx), 0 when no launcher is seen; *var (may
 * be NULL) gets the variable it was read from. */
int nn_dist_launcher(const char **var);
/* processes of this job on this host (1 without a launcher): they share its cores */
int nn_dist_local_ranks(void);

typedef struct nn_dist_opts {
    const char *name;    /* --dist: NULL or "auto" (the launcher decides), "none", or the name
                            of a communicator plugin ("mpi") */
    const char *device;  /* --device: the communicator is looked up for its type */
    double timeout_s;    /* longest wait for the other processes; 0 = 300 s */
} nn_dist_opts;

/* *out = NULL (and NN_OK) when the run is one process: no launcher and no --dist, --dist
 * none, or a launcher that started one process. Otherwise the communicator is created and
 * joined (MPI_Init) on the calling thread, which must be the compute thread. */
int nn_dist_open(nn_registry *reg, const nn_dist_opts *o, nn_dist **out, nn_error *err);
/* leaves the job (MPI_Finalize); NULL is allowed */
void nn_dist_close(nn_dist *d);

int nn_dist_rank(const nn_dist *d); /* 0 when d is NULL */
int nn_dist_size(const nn_dist *d); /* 1 when d is NULL */
/* "4 processes (mpi: Open MPI v4.1.4, 4 processes on 1 host)" */
void nn_dist_describe(const nn_dist *d, char *buf, size_t cap);

/* Every process reports how its part of a phase went (rc). returns NN_OK when all succeeded;
 * otherwise the status of the lowest failing rank, with err holding that rank's message
 * (prefixed "rank R: " unless R is 0), and *report = 1 on the processes that should print
 * their own err: the lowest failing rank, and any other failing rank whose message differs. */
int nn_dist_agree(nn_dist *d, int rc, nn_error *err, int *report);
/* Every process must have been given the same text (the model file as --set left it and
 * the options that shape the run): rank 0 sends its own; a process whose text differs
 * returns NN_EINVAL naming the first line that differs, its section ("[optimizer]") and
 * both versions. `what` names the text ("run"). Follow with nn_dist_agree. */
int nn_dist_same_text(nn_dist *d, const char *text, const char *what, nn_error *err);
/* Ends every process of the job with `code` after printing "nntrain: rank R of N: message".
 * Does not return. */
void nn_dist_fail(nn_dist *d, int code, const char *message);

/* Blocking collectives (in place), with the run's timeout; a timeout is an error naming the
 * operation, after which the job can only be ended with nn_dist_fail. */
int nn_dist_allreduce(nn_dist *d, void *buf, int64_t count, nn_dtype dt, nn_reduce_op op,
                      const char *what, nn_error *err);
int nn_dist_broadcast(nn_dist *d, void *buf, size_t bytes, const char *what, nn_error *err);

/* What the layers of the run are told (nn_layer_setup/io.dist): give it to the model before
 * its first plan is compiled (nn_model_set_dist). Borrowed, valid until nn_dist_close. */
const nn_dist_info *nn_dist_layer_info(nn_dist *d);
/* Gradients, once the model has its parameters: buckets of whole layers' gradients, about
 * bucket_bytes each, in reverse layer order; each starts reducing (non-blocking) as soon as
 * backward finished its last layer. */
int nn_dist_attach(nn_dist *d, nn_model *m, int64_t bucket_bytes, nn_error *err);
/* The batch slice the next step runs on (for the layers' nn_dist_info). */
void nn_dist_set_rows(nn_dist *d, int64_t rows, int64_t global_rows, int64_t row_offset);
/* The end of a training step: sums stats[0..n) (F64) over all processes, averages the
 * model's F32 state buffers (running statistics) so that every replica holds the same, and
 * waits until every gradient bucket backward started is summed. */
int nn_dist_step_end(nn_dist *d, double *stats, int n, nn_error *err);

/* Sums a metrics accumulator over all processes (each evaluated its slice). */
int nn_dist_metrics_sum(nn_dist *d, nn_metrics *m, nn_error *err);

/* Compares h with rank 0's: *first gets the lowest rank whose h differs, or -1. */
int nn_dist_compare(nn_dist *d, uint64_t h, int *first, nn_error *err);

/* Seconds this process waited at step ends for gradient buckets, and steps that waited */
void nn_dist_wait_stats(const nn_dist *d, double *wait_s, double *flight_s, int64_t *steps);

#endif
