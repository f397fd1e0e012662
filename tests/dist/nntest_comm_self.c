/* nntest_comm_self.c: a communicator for a world of one process, without MPI: every
 * collective is complete at once and leaves the buffer as it is. With `--dist self` the core
 * runs all of its data-parallel machinery (buckets, agreements, sums, the checkpoint sent by
 * rank 0, replica checks) in one process, where the sanitizers see all of it. Test fixture.
 *
 * NNTEST_SELF_SIGNAL_AFTER=N sends the process SIGTERM when its Nth collective completes and
 * waits for the signal's watcher to take it: a signal that lands right after an agreement,
 * where a process of a real world could stop a step before the others. At the end it prints
 * how many double-precision sums (the agreements) started after the signal. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <nntrain/communicator.h>

struct nn_comm_request {
    int unused;
};

typedef struct self_comm {
    int inited, in_flight;
    nn_comm_request req; /* every collective is complete when started: one request serves */
    long signal_after, completed, sums_after; /* NNTEST_SELF_SIGNAL_AFTER */
} self_comm;

static int self_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    self_comm *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    const char *after = getenv("NNTEST_SELF_SIGNAL_AFTER");
    c->signal_after = after ? atol(after) : 0;
    *self = c;
    return NN_OK;
}

static void self_destroy(void *self)
{
    self_comm *c = self;
    if (c->signal_after > 0 && c->completed >= c->signal_after)
        fprintf(stderr, "self: %ld double-precision sums after the signal\n", c->sums_after);
    free(c);
}

static int self_init(void *self, nn_error *err)
{
    self_comm *c = self;
    if (c->inited++)
        return nn_error_set(err, NN_EINVAL, "self: init called twice");
    return NN_OK;
}

static int self_rank(void *self)
{
    (void)self;
    return 0;
}

static int self_size(void *self)
{
    (void)self;
    return 1;
}

static int self_start(self_comm *c, nn_comm_request **req, nn_error *err)
{
    if (!c->inited)
        return nn_error_set(err, NN_EINVAL, "self: a collective before init");
    c->in_flight++;
    *req = &c->req;
    return NN_OK;
}

static int self_allreduce(void *self, void *buf, int64_t count, nn_dtype dtype,
                          nn_reduce_op op, const nn_device *dev, nn_comm_request **req,
                          nn_error *err)
{
    (void)buf;
    (void)op;
    (void)dev;
    self_comm *c = self;
    if (count < 0 || (dtype != NN_F32 && dtype != NN_F64))
        return nn_error_set(err, NN_ENOTSUP, "self: allreduce of %lld elements of dtype %d",
                            (long long)count, (int)dtype);
    if (dtype == NN_F64 && c->signal_after > 0 && c->completed >= c->signal_after)
        c->sums_after++;
    return self_start(c, req, err);
}

static int self_broadcast(void *self, void *buf, size_t bytes, int root, const nn_device *dev,
                          nn_comm_request **req, nn_error *err)
{
    (void)buf;
    (void)bytes;
    (void)dev;
    if (root != 0)
        return nn_error_set(err, NN_EINVAL, "self: broadcast from rank %d of 1", root);
    return self_start(self, req, err);
}

static int self_barrier(void *self, nn_comm_request **req, nn_error *err)
{
    return self_start(self, req, err);
}

static int self_test(void *self, nn_comm_request *req, int *done, nn_error *err)
{
    self_comm *c = self;
    if (req != &c->req || c->in_flight <= 0)
        return nn_error_set(err, NN_EINVAL, "self: test of a request not in flight");
    c->in_flight--;
    *done = 1;
    if (++c->completed == c->signal_after) {
        kill(getpid(), SIGTERM);
        /* the watcher thread raises the trainer's flag and says so: long before this */
        nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
    }
    return NN_OK;
}

static void self_abort(void *self, int code, const char *message)
{
    (void)self;
    if (message)
        fprintf(stderr, "%s\n", message);
    exit(code); /* a test fixture: the one process of the world ends */
}

static const nn_communicator_vtable self_vtable = {
    .struct_size = sizeof(nn_communicator_vtable),
    .create = self_create,
    .destroy = self_destroy,
    .init = self_init,
    .rank = self_rank,
    .size = self_size,
    .allreduce = self_allreduce,
    .broadcast = self_broadcast,
    .barrier = self_barrier,
    .test = self_test,
    .abort = self_abort,
};

static const nn_plugin_desc self_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_COMMUNICATOR, .name = "self", .version = "0.1.0", .license = "MIT",
    .summary = "a world of one process, without MPI (test fixture)", .vtable = &self_vtable);
NN_PLUGIN_EXPORT(&self_desc);
