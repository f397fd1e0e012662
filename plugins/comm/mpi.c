/* mpi.c: the `mpi` communicator: the collectives of a data-parallel run over MPI (Open MPI
 * from Debian's libopenmpi-dev; any MPI-3 library builds). Non-blocking collectives on a
 * duplicate of MPI_COMM_WORLD, errors returned as values, and a progress thread that moves
 * transfers on while the compute thread computes (MPI progresses only inside its calls). It
 * never exits, except in abort(), and never allocates per collective once its request pool
 * has grown to the run's needs. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nntrain/communicator.h>

struct nn_comm_request {
    MPI_Request r;
    int active, done; /* handed out; completed (by test or by the progress thread) */
    struct nn_comm_request *next_free;
};

enum { BLOCK = 64 };

typedef struct mpi_comm {
    MPI_Comm comm; /* MPI_COMM_NULL until init */
    int rank, size, hosts;
    int init_here; /* we called MPI_Init_thread, so we finalize */
    /* requests come from blocks of BLOCK that live until destroy: none is malloc'ed per call */
    nn_comm_request *free_list;
    nn_comm_request **blocks;
    int n_blocks;
    /* the progress thread: every MPI call of this plugin holds mu, so the two threads call
     * MPI one at a time (MPI_THREAD_SERIALIZED) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_on, stop, in_flight;
    long tick_ns;
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
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *self = c;
    return NN_OK;
}

/* Tests the requests in flight every tick while there are some; sleeps otherwise. Takes the
 * lock for one round of tests at a time, so the compute thread's calls wait at most that. */
static void *progress_main(void *arg)
{
    mpi_comm *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (c->in_flight == 0) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        for (int b = 0; b < c->n_blocks; b++)
            for (int i = 0; i < BLOCK; i++) {
                nn_comm_request *q = &c->blocks[b][i];
                int flag = 0;
                if (q->active && !q->done && MPI_Test(&q->r, &flag, MPI_STATUS_IGNORE) ==
                                                 MPI_SUCCESS && flag) {
                    q->done = 1;
                    c->in_flight--;
                }
            }
        pthread_mutex_unlock(&c->mu);
        struct timespec ts = {0, c->tick_ns};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void mpi_destroy(void *self)
{
    mpi_comm *c = self;
    if (c->thread_on) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && c->comm != MPI_COMM_NULL)
        MPI_Comm_free(&c->comm);
    if (!finalized && c->init_here)
        MPI_Finalize();
    for (int i = 0; i < c->n_blocks; i++)
        free(c->blocks[i]);
    free(c->blocks);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static int mpi_init(void *self, nn_error *err)
{
    mpi_comm *c = self;
    int inited = 0, provided = MPI_THREAD_SINGLE, rc;
    /* NNTRAIN_MPI_PROGRESS_US: the progress thread's tick (default 100 us; 0: no thread) */
    const char *tick = getenv("NNTRAIN_MPI_PROGRESS_US");
    long us = tick && *tick ? atol(tick) : 100;
    MPI_Initialized(&inited);
    if (!inited) {
        /* every call comes from the compute thread that makes this one (communicator.h) or,
         * one at a time, from the progress thread; the loader's and the event loop's threads
         * never call MPI */
        rc = MPI_Init_thread(NULL, NULL, us > 0 ? MPI_THREAD_SERIALIZED : MPI_THREAD_FUNNELED,
                             &provided);
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
    /* without a second thread allowed to call MPI, transfers move only inside test() */
    c->tick_ns = (us > 0 && us < 1000000 ? us : 100) * 1000;
    if (us > 0 && provided >= MPI_THREAD_SERIALIZED &&
        pthread_create(&c->thread, NULL, progress_main, c) == 0)
        c->thread_on = 1;
    return NN_OK;
}

static int mpi_rank(void *self) { return ((mpi_comm *)self)->rank; }
static int mpi_size(void *self) { return ((mpi_comm *)self)->size; }

/* lock held by the caller, as for everything below that touches requests or calls MPI */
static nn_comm_request *req_get(mpi_comm *c, nn_error *err)
{
    if (!c->free_list) {
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
    q->active = q->done = 0;
    return q;
}

static void req_put(mpi_comm *c, nn_comm_request *q)
{
    q->active = 0;
    q->next_free = c->free_list;
    c->free_list = q;
}

/* a collective started on q: the progress thread tests it from now on */
static void req_started(mpi_comm *c, nn_comm_request *q)
{
    q->active = 1;
    c->in_flight++;
    pthread_cond_signal(&c->cv);
}

static int mpi_check_dev(const nn_device *dev, nn_error *err)
{
    if (!nn_device_is_host(dev))
        return nn_error_set(err, NN_ENOTSUP, "mpi: buffers on device '%s': this communicator "
                            "reduces host memory only", dev->name ? dev->name : "?");
    return NN_OK;
}

enum { START_ALLREDUCE, START_BROADCAST, START_BARRIER };

/* starts one non-blocking collective on a request of the pool */
static int start(mpi_comm *c, int what, void *buf, int count, MPI_Datatype t, MPI_Op o,
                 int root, nn_comm_request **out, nn_error *err)
{
    static const char *const names[] = {"MPI_Iallreduce", "MPI_Ibcast", "MPI_Ibarrier"};
    pthread_mutex_lock(&c->mu);
    nn_comm_request *q = req_get(c, err);
    int rc = NN_OK;
    if (q) {
        int mrc = what == START_ALLREDUCE
                      ? MPI_Iallreduce(MPI_IN_PLACE, buf, count, t, o, c->comm, &q->r)
                  : what == START_BROADCAST
                      ? MPI_Ibcast(buf, count, MPI_BYTE, root, c->comm, &q->r)
                      : MPI_Ibarrier(c->comm, &q->r);
        if (mrc == MPI_SUCCESS) {
            req_started(c, q);
            *out = q;
        } else {
            req_put(c, q);
            rc = mpi_fail(err, mrc, names[what]);
        }
    } else {
        rc = err->status;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int mpi_allreduce(void *self, void *buf, int64_t count, nn_dtype dtype, nn_reduce_op op,
                         const nn_device *dev, nn_comm_request **out, nn_error *err)
{
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
    return rc ? rc : start(self, START_ALLREDUCE, buf, (int)count, t, o, 0, out, err);
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
    return rc ? rc : start(c, START_BROADCAST, buf, (int)bytes, MPI_BYTE, MPI_OP_NULL, root,
                           out, err);
}

static int mpi_barrier(void *self, nn_comm_request **out, nn_error *err)
{
    return start(self, START_BARRIER, NULL, 0, MPI_BYTE, MPI_OP_NULL, 0, out, err);
}

static int mpi_test(void *self, nn_comm_request *q, int *done, nn_error *err)
{
    mpi_comm *c = self;
    int flag = 0, rc = MPI_SUCCESS;
    pthread_mutex_lock(&c->mu);
    if (!q->done && (rc = MPI_Test(&q->r, &flag, MPI_STATUS_IGNORE)) == MPI_SUCCESS && flag) {
        q->done = 1;
        c->in_flight--;
    }
    *done = q->done;
    if (q->done)
        req_put(c, q);
    if (rc != MPI_SUCCESS)
        rc = mpi_fail(err, rc, "MPI_Test");
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void mpi_abort(void *self, int code, const char *message)
{
    mpi_comm *c = self;
    if (message && *message) {
        fprintf(stderr, "%s\n", message);
        fflush(stderr);
    }
    pthread_mutex_lock(&c->mu); /* never released: this process ends here */
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
    pthread_mutex_lock(&c->mu);
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS)
        snprintf(lib, sizeof lib, "MPI");
    pthread_mutex_unlock(&c->mu);
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
