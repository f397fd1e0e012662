/* dist_internal.h: the state of a data-parallel run, shared by dist.c (processes, collectives,
 * agreement) and dist_grads.c (gradient buckets, the layers' view, metric sums). Nothing
 * outside those two files includes it. */
#ifndef NN_DIST_INTERNAL_H
#define NN_DIST_INTERNAL_H

#include "dist.h"
#include "instance.h"

/* a run of consecutive layers whose gradients are summed as one F32 range of the model's
 * gradient memory (64-byte gaps between tensors included: they stay zero) */
#define NN_DIST_MAX_STATE_RANGES 64

typedef struct nn_bucket {
    float *data;
    int64_t count;
    int layers, pending;     /* layers in it; of those, still in backward this step */
    nn_comm_request *req;    /* in flight, or NULL */
    double t_start;
} nn_bucket;

struct nn_dist {
    nn_instance inst;
    const nn_communicator_vtable *vt;
    char name[48];
    int rank, size;
    double timeout_s;
    double spin_s; /* waits poll without pause this long (0: more processes than cores) */
    nn_device host; /* what the buffers of the core's collectives are on */
    /* gradients */
    nn_model *model;
    nn_bucket *buckets;
    int n_buckets;
    int *bucket_of; /* per layer: its bucket, or -1 */
    int n_layers;
    int started;    /* buckets started this step */
    nn_tensor *states; /* F32 ranges of the model's state buffers, averaged every step */
    int n_states;
    nn_dist_info info;
    /* what the step ends waited for */
    double wait_s, flight_s, flight_t0, flight_t1;
    int64_t wait_steps;
    /* a failure every process found in the same collective result (replicas that differ):
     * rank 0 alone reports it and ends the run (nn_dist_fail) */
    int failed_together;
};

double nn_dist_now(void);
typedef struct nn_dist_waiter {
    double t0;
    long sleep_ns;
} nn_dist_waiter;
/* one pause of a loop waiting for other processes; an error once the timeout is over */
int nn_dist_pause(nn_dist *d, nn_dist_waiter *w, const char *what, nn_error *err);
/* polls q to completion within the run's timeout (dist.c) */
int nn_dist_wait(nn_dist *d, nn_comm_request *q, const char *what, nn_error *err);
int nn_dist_broadcast_from(nn_dist *d, void *buf, size_t bytes, int root, nn_error *err);
/* dist_grads.c: collects buckets that completed (moves transfers on); frees the buckets */
int nn_dist_grads_poll(nn_dist *d, nn_error *err);
void nn_dist_grads_free(nn_dist *d);

#endif
