/* nntest_comm_self.c: a communicator for a world of one process, without MPI: every
 * collective is complete at once and leaves the buffer as it is. With `--dist self` the core
 * runs all of its data-parallel machinery (buckets, agreements, sums, the checkpoint sent by
 * rank 0, replica checks) in one process, where the sanitizers see all of it. Test fixture. */
#include <stdio.h>
#include <stdlib.h>

#include <nntrain/communicator.h>

struct nn_comm_request {
    int unused;
};

typedef struct self_comm {
    int inited, in_flight;
    nn_comm_request req; /* every collective is complete when started: one request serves */
} self_comm;

static int self_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    self_comm *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    *self = c;
    return NN_OK;
}

static void self_destroy(void *self) { free(self); }

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
    if (count < 0 || (dtype != NN_F32 && dtype != NN_F64))
        return nn_error_set(err, NN_ENOTSUP, "self: allreduce of %lld elements of dtype %d",
                            (long long)count, (int)dtype);
    return self_start(self, req, err);
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
