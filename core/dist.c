/* dist.c: the processes of a data-parallel run: which launcher started this one, the
 * communicator plugin that joins them, blocking collectives with a timeout, and agreeing on
 * success or failure. It must never wait for another process without a deadline, and never
 * load or initialise a communicator when the run is one process. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist_internal.h"
#include "signals.h"

#define DEFAULT_TIMEOUT_S 300.0

/* Environment variables by which launchers announce the world: Open MPI's mpirun, Hydra
 * (MPICH, Intel MPI) and Slurm's PMI, and PMIx (srun --mpi=pmix, prrte), which has no size */
static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};

int nn_dist_launcher(const char **var)
{
    for (size_t i = 0; i < sizeof size_vars / sizeof *size_vars; i++) {
        const char *v = getenv(size_vars[i]);
        if (v && atoi(v) > 0) {
            if (var)
                *var = size_vars[i];
            return atoi(v);
        }
    }
    if (getenv("PMIX_RANK")) {
        if (var)
            *var = "PMIX_RANK";
        return -1;
    }
    if (var)
        *var = NULL;
    return 0;
}

int nn_dist_local_ranks(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                       "PMIX_LOCAL_SIZE"};
    if (!nn_dist_launcher(NULL))
        return 1;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return 1;
}

double nn_dist_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int nn_dist_open(nn_registry *reg, const nn_dist_opts *o, nn_dist **out, nn_error *err)
{
    *out = NULL;
    const char *name = o->name && strcmp(o->name, "auto") != 0 ? o->name : NULL;
    if (name && strcmp(name, "none") == 0)
        return NN_OK;
    const char *var;
    int world = nn_dist_launcher(&var);
    if (!name && (world == 0 || world == 1))
        return NN_OK; /* one process: nothing to join, and MPI stays unloaded */
    char dtype[64] = "cpu";
    if (o->device && *o->device)
        snprintf(dtype, sizeof dtype, "%.*s", (int)strcspn(o->device, ":"), o->device);
    const char *cname = name ? name : "mpi";
    nn_error ferr = {0};
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_COMMUNICATOR, cname, dtype, &ferr);
    if (!e) {
        if (name)
            return nn_error_set(err, ferr.status ? ferr.status : NN_ENOTFOUND,
                                "--dist %s: %s", name, ferr.msg);
        if (strcmp(dtype, "cpu") != 0)
            return nn_error_set(err, NN_ENOTSUP, "this process was started by a launcher for a "
                                "data-parallel run (%s=%s), but no communicator 'mpi' reduces "
                                "memory of device '%s' (the stock one reduces host memory; a "
                                "device pack brings its own, named with --dist NAME)", var,
                                getenv(var), dtype);
        return nn_error_set(err, ferr.status ? ferr.status : NN_ENOTFOUND,
                            "this process was started by a launcher for a data-parallel run "
                            "(%s=%s) but there is no communicator 'mpi' for device '%s': %s. "
                            "Build nntrain with an MPI library (Debian: libopenmpi-dev; "
                            "scripts/install-deps.sh), or pass --dist none to train one model "
                            "per process", var, getenv(var), dtype, ferr.msg);
    }
    nn_dist *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->timeout_s = o->timeout_s > 0 ? o->timeout_s : DEFAULT_TIMEOUT_S;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    d->spin_s = nn_dist_local_ranks() > cores ? 0 : 0.02;
    d->host = (nn_device){.struct_size = sizeof d->host, .dl = {kDLCPU, 0}, .name = "cpu"};
    snprintf(d->name, sizeof d->name, "%s", e->desc->name);
    char origin[64];
    snprintf(origin, sizeof origin, "communicator '%s'", e->desc->name);
    int rc = nn_instance_create(&d->inst, e->desc, NULL, 0, origin, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->vt = d->inst.vt;
    nn_error ierr = {0};
    if ((rc = d->vt->init(d->inst.self, &ierr))) {
        nn_error_set(err, rc, "communicator '%s' (%s): %s", e->desc->name, e->path, ierr.msg);
        nn_instance_destroy(&d->inst);
        free(d);
        return rc;
    }
    d->rank = d->vt->rank(d->inst.self);
    d->size = d->vt->size(d->inst.self);
    if (d->size < 1 || d->rank < 0 || d->rank >= d->size) {
        rc = nn_error_set(err, NN_EINTERNAL, "communicator '%s' reports rank %d of %d",
                          e->desc->name, d->rank, d->size);
        nn_instance_destroy(&d->inst);
        free(d);
        return rc;
    }
    *out = d;
    return NN_OK;
}

void nn_dist_close(nn_dist *d)
{
    if (!d)
        return;
    nn_dist_grads_free(d);
    nn_instance_destroy(&d->inst);
    free(d);
}

int nn_dist_rank(const nn_dist *d) { return d ? d->rank : 0; }
int nn_dist_size(const nn_dist *d) { return d ? d->size : 1; }

void nn_dist_describe(const nn_dist *d, char *buf, size_t cap)
{
    char line[256] = "";
    if (d->vt->describe)
        d->vt->describe(d->inst.self, line, sizeof line);
    snprintf(buf, cap, "%d process%s (%s%s%s)", d->size, d->size == 1 ? "" : "es", d->name,
             line[0] ? ": " : "", line);
}

void nn_dist_fail(nn_dist *d, int code, const char *message)
{
    if (d->failed_together && d->rank != 0) {
        /* rank 0 found the same failure and ends every process: two processes aborting at
         * once crash Open MPI's mpirun while it gathers their messages. Should rank 0 not
         * end this one within 5 s, this one ends the run itself. Ended by it, this one says
         * nothing: rank 0 says why */
        nn_signals_quiet_exit(code);
        struct timespec nap = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        for (int i = 0; i < 100; i++)
            nanosleep(&nap, NULL);
    }
    char line[NN_ERROR_MSG_MAX + 64];
    snprintf(line, sizeof line, "nntrain: rank %d of %d: %s (ending every process of the run)",
             d->rank, d->size, message);
    d->vt->abort(d->inst.self, code, line);
}

/* One pause of a wait loop. Measured with 2 processes on a busy 2-core host: a 1 MiB sum
 * takes 0.3-0.5 ms when both poll without pause, 12-16 ms when they yield between polls
 * (the scheduler hands a yielding process's core to other work for a whole slice). So a
 * process polls without pause for the first 20 ms, unless the host has more processes than
 * cores: then a waiting process must leave its core to the one it waits for, and yields at
 * once. Longer waits (a slower process, rank 0 writing a checkpoint) sleep a little longer
 * each time, up to 200 us, which bounds the latency a sleep adds. */
int nn_dist_pause(nn_dist *d, nn_dist_waiter *w, const char *what, nn_error *err)
{
    double waited = nn_dist_now() - w->t0;
    if (waited < d->spin_s)
        return NN_OK;
    if (waited < d->spin_s + 1e-3) {
        sched_yield();
        return NN_OK;
    }
    if (waited > d->timeout_s)
        return nn_error_set(err, NN_EIO, "%s: no answer from the other processes after %.0f s: "
                            "one of them stopped, hung or is far slower (--dist-timeout sets "
                            "the limit)", what, waited);
    w->sleep_ns = w->sleep_ns < 200000 ? w->sleep_ns + 20000 : w->sleep_ns;
    struct timespec ts = {0, w->sleep_ns};
    nanosleep(&ts, NULL);
    return NN_OK;
}

/* Polls a request to completion. Gradient buckets in flight move on meanwhile (the engine
 * progresses inside test), and the ones that completed are collected. */
int nn_dist_wait(nn_dist *d, nn_comm_request *q, const char *what, nn_error *err)
{
    nn_dist_waiter w = {.t0 = nn_dist_now()};
    for (;;) {
        int done = 0;
        nn_error terr = {0};
        int rc = d->vt->test(d->inst.self, q, &done, &terr);
        if (rc)
            return nn_error_set(err, rc, "%s: %s", what, terr.msg);
        if (done)
            return NN_OK;
        if ((rc = nn_dist_grads_poll(d, err)) || (rc = nn_dist_pause(d, &w, what, err)))
            return rc;
    }
}

int nn_dist_allreduce(nn_dist *d, void *buf, int64_t count, nn_dtype dt, nn_reduce_op op,
                      const char *what, nn_error *err)
{
    nn_comm_request *q = NULL;
    nn_error cerr = {0};
    int rc = d->vt->allreduce(d->inst.self, buf, count, dt, op, &d->host, &q, &cerr);
    if (rc)
        return nn_error_set(err, rc, "%s: %s", what, cerr.msg);
    return nn_dist_wait(d, q, what, err);
}

int nn_dist_broadcast(nn_dist *d, void *buf, size_t bytes, const char *what, nn_error *err)
{
    nn_comm_request *q = NULL;
    nn_error cerr = {0};
    int rc = d->vt->broadcast(d->inst.self, buf, bytes, 0, &d->host, &q, &cerr);
    if (rc)
        return nn_error_set(err, rc, "%s: %s", what, cerr.msg);
    return nn_dist_wait(d, q, what, err);
}

int nn_dist_agree(nn_dist *d, int rc, nn_error *err, int *report)
{
    *report = rc != NN_OK;
    if (!d)
        return rc;
    /* the lowest failing rank, then its status and message */
    double lowest = rc != NN_OK ? d->rank : d->size;
    nn_error cerr = {0};
    int crc = nn_dist_allreduce(d, &lowest, 1, NN_F64, NN_REDUCE_MIN, "agreeing on the set-up",
                                &cerr);
    if (crc) {
        *err = cerr;
        *report = 1;
        return crc;
    }
    int first = (int)lowest;
    if (first >= d->size)
        return NN_OK;
    nn_error theirs = {0};
    if (d->rank == first)
        theirs = *err;
    if ((crc = nn_dist_broadcast_from(d, &theirs, sizeof theirs, first, &cerr))) {
        *err = cerr;
        *report = 1;
        return crc;
    }
    *report = rc != NN_OK && (d->rank == first || strcmp(theirs.msg, err->msg) != 0);
    if (rc == NN_OK || d->rank == first) {
        *err = theirs;
        if (first != 0)
            nn_error_prefix(err, "rank %d", first);
    } else if (*report) {
        nn_error_prefix(err, "rank %d", d->rank);
    }
    return theirs.status ? theirs.status : NN_EINTERNAL;
}

int nn_dist_broadcast_from(nn_dist *d, void *buf, size_t bytes, int root, nn_error *err)
{
    nn_comm_request *q = NULL;
    nn_error cerr = {0};
    int rc = d->vt->broadcast(d->inst.self, buf, bytes, root, &d->host, &q, &cerr);
    if (rc)
        return nn_error_set(err, rc, "broadcast: %s", cerr.msg);
    return nn_dist_wait(d, q, "broadcast", err);
}

int nn_dist_compare(nn_dist *d, uint64_t h, int *first, nn_error *err)
{
    uint64_t h0 = h;
    int rc = nn_dist_broadcast(d, &h0, sizeof h0, "comparing replicas", err);
    if (rc)
        return rc;
    double lowest = h0 != h ? d->rank : d->size;
    if ((rc = nn_dist_allreduce(d, &lowest, 1, NN_F64, NN_REDUCE_MIN, "comparing replicas",
                                err)))
        return rc;
    *first = (int)lowest < d->size ? (int)lowest : -1;
    d->failed_together = *first >= 0;
    return NN_OK;
}

/* the line at p (up to its newline) into buf, for a message */
static void line_of(const char *p, char *buf, size_t cap)
{
    size_t n = strcspn(p, "\n");
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

int nn_dist_same_text(nn_dist *d, const char *text, const char *what, nn_error *err)
{
    if (!d)
        return NN_OK;
    uint64_t len = strlen(text);
    int rc = nn_dist_broadcast(d, &len, sizeof len, what, err);
    if (rc)
        return rc;
    char *theirs = d->rank == 0 ? (char *)text : calloc(1, (size_t)len + 1);
    if (!theirs)
        return nn_error_set(err, NN_ENOMEM, "out of memory for rank 0's %s", what);
    for (uint64_t off = 0; off < len && rc == NN_OK; off += 1u << 30) {
        size_t n = len - off < (1u << 30) ? (size_t)(len - off) : (size_t)1 << 30;
        rc = nn_dist_broadcast(d, theirs + off, n, what, err);
    }
    if (rc || d->rank == 0)
        return rc;
    /* the first line that differs, and the section it is in */
    const char *a = text, *b = theirs, *sec_a = *text == '[' ? text : NULL;
    while (*a && *a == *b) {
        if (*a == '\n' && a[1] == '[')
            sec_a = a + 1;
        a++;
        b++;
    }
    if (!*a && !*b) {
        free(theirs);
        return NN_OK;
    }
    while (a > text && a[-1] != '\n') { /* back to the starts of the lines */
        a--;
        b--;
    }
    char mine[200] = "(nothing)", zero[200] = "(nothing)", sec[120] = "";
    if (*a)
        line_of(a, mine, sizeof mine);
    if (*b)
        line_of(b, zero, sizeof zero);
    if (!mine[0]) /* a blank line: the section ends here, and goes on on rank 0 */
        snprintf(mine, sizeof mine, "(the end of the section)");
    if (!zero[0])
        snprintf(zero, sizeof zero, "(the end of the section)");
    if (sec_a && sec_a != a)
        line_of(sec_a, sec, sizeof sec);
    free(theirs);
    return nn_error_set(err, NN_EINVAL, "this process was given another %s than rank 0: %s%s"
                        "'%s' here, '%s' on rank 0; every process of a job must be "
                        "given the same model file and the same options (--set, --unset, "
                        "--seed, --resume, --no-test, --init-from, --allow-nonfinite, --device)", what, sec, sec[0] ? ": " : "",
                        mine, zero);
}
