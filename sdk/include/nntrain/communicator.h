/* communicator.h: the vtable of a communicator plugin (ABI 0.5): collectives between the
 * processes of a data-parallel run, and what a layer of such a run is told about it.
 * A communicator wraps an existing engine (MPI; NCCL in a CUDA pack), never a protocol of its
 * own. The stock one is `mpi` (plugins/comm/mpi.c, Open MPI).
 *
 * What the core guarantees:
 * - Selection. The core creates one instance when the process was started by a launcher
 *   (mpirun, srun) or with `--dist NAME`, looked up as (communicator, NAME, the run's device
 *   type). Without either, no communicator is created and init() never runs.
 * - Threads. init() and every later call come from one thread, the run's compute thread, in
 *   the same order on every process (the rule MPI imposes on collectives); destroy() too,
 *   after every request completed. A communicator may run threads of its own.
 * - Requests. A collective returns at once with a request; the buffer belongs to the
 *   communicator until test() reported the request done (which frees it). The core polls
 *   test() with its own timeout and calls abort() when a request never completes.
 * - Memory. Buffers live on `dev` (nn_device_is_host(dev): host memory). A communicator that
 *   cannot reduce a device's memory is registered for another device type and never gets it.
 * - Failure. abort() is the one call of the ABI that does not return: it ends every process
 *   of the job with the message. The core calls it when a process of the run failed, so
 *   that no other process waits forever; everything else reports errors as values. */
#ifndef NNTRAIN_COMMUNICATOR_H
#define NNTRAIN_COMMUNICATOR_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_reduce_op {
    NN_REDUCE_SUM = 1,
    NN_REDUCE_MAX,
    NN_REDUCE_MIN,
} nn_reduce_op;

/* one collective in flight; the communicator's own type */
typedef struct nn_comm_request nn_comm_request;

typedef struct nn_communicator_vtable {
    NN_VTABLE_COMMON;
    /* required: joins the job (MPI_Init_thread). Called once, before any other call. */
    int (*init)(void *self, nn_error *err);
    /* required, after init: this process's rank in [0, size) and the number of processes */
    int (*rank)(void *self);
    int (*size)(void *self);
    /* required: reduces count elements of buf over every process, in place, so that every
     * process ends with the same result. dtype: NN_F32 and NN_F64 at least (NN_ENOTSUP
     * otherwise); op: sum at least. Every process passes the same count, dtype and op. */
    int (*allreduce)(void *self, void *buf, int64_t count, nn_dtype dtype, nn_reduce_op op,
                     const nn_device *dev, nn_comm_request **req, nn_error *err);
    /* required: bytes of buf on process root overwrite buf on every other process */
    int (*broadcast)(void *self, void *buf, size_t bytes, int root, const nn_device *dev,
                     nn_comm_request **req, nn_error *err);
    /* required: done once every process has entered it */
    int (*barrier)(void *self, nn_comm_request **req, nn_error *err);
    /* required: never blocks. Sets *done = 1 (and frees req) when the collective completed,
     * 0 when it is still in flight; it also moves pending transfers on (communicators
     * without a progress thread of their own progress only inside their calls). */
    int (*test)(void *self, nn_comm_request *req, int *done, nn_error *err);
    /* required: ends every process of the job, with `code` as the job's exit status, after
     * printing `message` (one line naming this process); does not return */
    void (*abort)(void *self, int code, const char *message);
    /* optional: one line for the console ("Open MPI 4.1.4, 4 processes on 2 hosts") */
    int (*describe)(void *self, char *buf, size_t cap);
    const void *reserved[8];
} nn_communicator_vtable;

/* What the layers of a data-parallel run see (nn_layer_io.dist; NULL when the run is one
 * process). Every process runs the same model on its own slice of each global batch: the
 * rows of the global batch are split in order, process r taking `rows` of them from
 * `row_offset` on. The core updates the three counts before each step. */
typedef struct nn_dist_info {
    uint32_t struct_size;
    int rank, size;
    int64_t global_rows; /* rows of this step's global batch, summed over the processes */
    int64_t row_offset;  /* index in the global batch of this process's first row */
    int64_t rows;        /* valid rows of this process: the first `rows` of the plan's batch
                            (0 when the global batch had no row left for it: the process then
                            runs one zero row that must not count in any statistic) */
    /* Blocking in-place sum over every process (NN_F32 or NN_F64), for layers whose
     * statistics span the global batch (batchnorm with sync = true). Every process must call
     * it the same number of times, in the same order, with the same count: so a layer calls
     * it whenever it runs, also with rows == 0. The core applies its timeout and keeps the
     * gradient transfers in flight moving meanwhile. */
    int (*allreduce_sum)(const struct nn_dist_info *d, void *buf, int64_t count,
                         nn_dtype dtype, nn_error *err);
    void *core; /* the core's; opaque */
    const void *reserved[8];
} nn_dist_info;

#ifdef __cplusplus
}
#endif
#endif
