/* mpi.c: the `mpi` communicator: the collectives of a data-parallel run over MPI (Open MPI
 * from Debian's libopenmpi-dev; any MPI-3 library builds). Non-blocking collectives on a
 * duplicate of MPI_COMM_WORLD, errors returned as values. It never exits, except in abort(),
 * and never allocates per collective once its request pool has grown to the run's needs. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nntrain/communicator.h>

struct nn_comm_request {
    MPI_Request r;
    struct nn_comm_request *next_free;
};

typedef struct mpi_comm {
    MPI_Comm comm; /* MPI_COMM_NULL until init */
    int rank, size, hosts;
    int init_here; /* we called MPI_Init_thread, so we finalize */
    /* requests come from blocks that live until destroy: none is malloc'ed per call */
    nn_comm_request *free_list;
    nn_comm_request **blocks;
    int n_blocks;
} mpi_comm;

static int mpi_fail(nn_error *err, int code, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", code);
    return nn_error_set(err, NN_EIO, "mpi: %s failed: %s", what, msg);
}

static int mpi_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    mpi_comm *c = calloc(1, sizeof *c);
    if (!c)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    c->comm = MPI_COMM_NULL;
    *self = c;
    return NN_OK;
}

static void mpi_destroy(void *self)
{
    mpi_comm *c = self;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && c->comm != MPI_COMM_NULL)
        MPI_Comm_free(&c->comm);
    if (!finalized && c->init_here)
        MPI_Finalize();
    for (int i = 0; i < c->n_blocks; i++)
        free(c->blocks[i]);
    free(c->blocks);
    free(c);
}

static int mpi_init(void *self, nn_error *err)
{
    mpi_comm *c = self;
    int inited = 0, provided = MPI_THREAD_SINGLE, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        /* every call comes from the compute thread that makes this one (communicator.h);
         * the loader's and the event loop's threads never call MPI */
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "MPI_Init_thread");
        c->init_here = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_FUNNELED)
        return nn_error_set(err, NN_ENOTSUP, "mpi: the MPI library offers thread level %d; "
                            "nntrain needs MPI_THREAD_FUNNELED (its loader runs threads that "
                            "never call MPI)", provided);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    /* hosts: the processes that share memory with this one form one host */
    MPI_Comm local;
    int lrank = 0, first;
    if ((rc = MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                  &local)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_split_type");
    MPI_Comm_rank(local, &lrank);
    MPI_Comm_free(&local);
    first = lrank == 0;
    if ((rc = MPI_Allreduce(&first, &c->hosts, 1, MPI_INT, MPI_SUM, c->comm)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Allreduce");
    return NN_OK;
}

static int mpi_rank(void *self) { return ((mpi_comm *)self)->rank; }
static int mpi_size(void *self) { return ((mpi_comm *)self)->size; }

static nn_comm_request *req_get(mpi_comm *c, nn_error *err)
{
    if (!c->free_list) {
        enum { BLOCK = 64 };
        nn_comm_request **nb = realloc(c->blocks, (size_t)(c->n_blocks + 1) * sizeof *nb);
        nn_comm_request *b = calloc(BLOCK, sizeof *b);
        if (nb)
            c->blocks = nb;
        if (!nb || !b) {
            free(b);
            nn_error_set(err, NN_ENOMEM, "out of memory");
            return NULL;
        }
        c->blocks[c->n_blocks++] = b;
        for (int i = 0; i < BLOCK; i++) {
            b[i].next_free = c->free_list;
            c->free_list = &b[i];
        }
    }
    nn_comm_request *q = c->free_list;
    c->free_list = q->next_free;
    q->r = MPI_REQUEST_NULL;
    return q;
}

static void req_put(mpi_comm *c, nn_comm_request *q)
{
    q->next_free = c->free_list;
    c->free_list = q;
}

static int mpi_check_dev(const nn_device *dev, nn_error *err)
{
    if (!nn_device_is_host(dev))
        return nn_error_set(err, NN_ENOTSUP, "mpi: buffers on device '%s': this communicator "
                            "reduces host memory only", dev->name ? dev->name : "?");
    return NN_OK;
}

static int mpi_allreduce(void *self, void *buf, int64_t count, nn_dtype dtype, nn_reduce_op op,
                         const nn_device *dev, nn_comm_request **out, nn_error *err)
{
    mpi_comm *c = self;
    MPI_Datatype t = dtype == NN_F32 ? MPI_FLOAT : dtype == NN_F64 ? MPI_DOUBLE
                   : dtype == NN_I32 ? MPI_INT32_T : dtype == NN_I64 ? MPI_INT64_T
                                                                       : MPI_DATATYPE_NULL;
    MPI_Op o = op == NN_REDUCE_SUM ? MPI_SUM : op == NN_REDUCE_MAX ? MPI_MAX
             : op == NN_REDUCE_MIN ? MPI_MIN : MPI_OP_NULL;
    if (t == MPI_DATATYPE_NULL || o == MPI_OP_NULL)
        return nn_error_set(err, NN_ENOTSUP, "mpi: allreduce of dtype %d with op %d",
                            (int)dtype, (int)op);
    if (count < 0 || count > INT32_MAX)
        return nn_error_set(err, NN_EINVAL, "mpi: allreduce of %lld elements: MPI counts are "
                            "int (split the buffer)", (long long)count);
    int rc = mpi_check_dev(dev, err);
    if (rc)
        return rc;
    nn_comm_request *q = req_get(c, err);
    if (!q)
        return err->status;
    rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, t, o, c->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        req_put(c, q);
        return mpi_fail(err, rc, "MPI_Iallreduce");
    }
    *out = q;
    return NN_OK;
}

static int mpi_broadcast(void *self, void *buf, size_t bytes, int root, const nn_device *dev,
                         nn_comm_request **out, nn_error *err)
{
    mpi_comm *c = self;
    if (bytes > INT32_MAX)
        return nn_error_set(err, NN_EINVAL, "mpi: broadcast of %zu bytes: MPI counts are int",
                            bytes);
    if (root < 0 || root >= c->size)
        return nn_error_set(err, NN_EINVAL, "mpi: broadcast from rank %d of %d", root,
                            c->size);
    int rc = mpi_check_dev(dev, err);
    if (rc)
        return rc;
    nn_comm_request *q = req_get(c, err);
    if (!q)
        return err->status;
    rc = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, c->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        req_put(c, q);
        return mpi_fail(err, rc, "MPI_Ibcast");
    }
    *out = q;
    return NN_OK;
}

static int mpi_barrier(void *self, nn_comm_request **out, nn_error *err)
{
    mpi_comm *c = self;
    nn_comm_request *q = req_get(c, err);
    if (!q)
        return err->status;
    int rc = MPI_Ibarrier(c->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        req_put(c, q);
        return mpi_fail(err, rc, "MPI_Ibarrier");
    }
    *out = q;
    return NN_OK;
}

static int mpi_test(void *self, nn_comm_request *q, int *done, nn_error *err)
{
    mpi_comm *c = self;
    int flag = 0;
    int rc = MPI_Test(&q->r, &flag, MPI_STATUS_IGNORE);
    *done = 0;
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Test");
    if (flag) {
        *done = 1;
        req_put(c, q);
    }
    return NN_OK;
}

static void mpi_abort(void *self, int code, const char *message)
{
    (void)self;
    if (message && *message) {
        fprintf(stderr, "%s\n", message);
        fflush(stderr);
    }
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized)
        MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code); /* MPI_Abort returned, or MPI is not running: this process at least ends */
}

static int mpi_describe(void *self, char *buf, size_t cap)
{
    mpi_comm *c = self;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS)
        snprintf(lib, sizeof lib, "MPI");
    lib[strcspn(lib, ",\n")] = 0; /* "Open MPI v4.1.4, package: ..." */
    snprintf(buf, cap, "%s, %d process%s on %d host%s", lib, c->size, c->size == 1 ? "" : "es",
             c->hosts, c->hosts == 1 ? "" : "s");
    return NN_OK;
}

static const nn_communicator_vtable mpi_vtable = {
    .struct_size = sizeof(nn_communicator_vtable),
    .create = mpi_create,
    .destroy = mpi_destroy,
    .init = mpi_init,
    .rank = mpi_rank,
    .size = mpi_size,
    .allreduce = mpi_allreduce,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .test = mpi_test,
    .abort = mpi_abort,
    .describe = mpi_describe, /* optional */
};

static const nn_plugin_desc mpi_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_COMMUNICATOR, .name = "mpi", .version = "1.0.0", .license = "MIT",
    .summary = "data-parallel collectives over MPI (mpirun, srun): non-blocking allreduce, "
               "broadcast, barrier",
    .vtable = &mpi_vtable);
NN_PLUGIN_EXPORT(&mpi_desc);
