/* train_dist.c: the trainer's side of a data-parallel run: what its processes agree on (each
 * step's loss, counts and stop signal; validation's stop; the epoch-end figures every decision
 * derives from), the checkpoint rank 0 reads and sends the others, and the replica checks.
 * One-process runs never enter here. It must keep every process issuing the same collectives
 * in the same order, or the run hangs until the timeout. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "dist.h"
#include "hash.h"
#include "trainer_internal.h"

enum { ST_LOSS, ST_SAMPLES, ST_CORRECT, ST_TOPK, ST_SIGINT, ST_SIGTERM, ST_SIGHUP, ST_COUNT };

/* Adopts the stop signal another process received, so that all stop at the same step: the
 * one this agreement carried. A signal that comes after it waits for the next agreement. */
static void adopt_signal(nn_trainer *t, const double *v)
{
    int sig = v[ST_SIGTERM] > 0   ? SIGTERM
              : v[ST_SIGHUP] > 0  ? SIGHUP
              : v[ST_SIGINT] > 0  ? SIGINT
                                  : 0,
        none = 0;
    if (sig)
        atomic_compare_exchange_strong(&t->stop_signal, &none, sig);
    t->agreed_signal = sig;
}

static void local_signal(nn_trainer *t, double *v)
{
    int sig = atomic_load(&t->stop_signal);
    v[ST_SIGINT] = sig == SIGINT;
    v[ST_SIGTERM] = sig == SIGTERM;
    v[ST_SIGHUP] = sig == SIGHUP;
}

/* a hash of every model tensor (parameters and state buffers, host copies) */
static int replica_hash(nn_trainer *t, uint64_t *h, nn_error *err)
{
    nn_session *s = t->s;
    int rc = nn_session_to_host(s, err);
    if (rc)
        return rc;
    *h = NN_HASH_INIT;
    for (int i = 0; i < nn_session_tensor_count(s); i++) {
        const nn_tensor *x = nn_session_host_tensor(s, i);
        *h = nn_hash(*h, x->dl.data, nn_tensor_nbytes(x));
    }
    return NN_OK;
}

/* when: NULL at the start (the processes built different models), else the step */
static int check_replicas(nn_trainer *t, const char *when, nn_error *err)
{
    uint64_t h;
    int first, rc = replica_hash(t, &h, err);
    if (rc == NN_OK)
        rc = nn_dist_compare(t->s->dist, h, &first, err);
    if (rc || first < 0)
        return rc;
    if (!when)
        return nn_error_set(err, NN_EINVAL, "at the start, rank %d holds other parameters than "
                            "rank 0 (the first rank that differs): every process must be "
                            "given the same model file, --seed and --set options", first);
    return nn_error_set(err, NN_EINTERNAL, "%s, the parameters of rank %d differ from rank 0's "
                        "(the first rank that differs): the replicas diverged, which a plugin "
                        "that computes differently on each process would cause", when, first);
}

static int begin_checks(nn_trainer *t, nn_error *err)
{
    nn_session *s = t->s;
    nn_dist *d = s->dist;
    /* every process built the same model from the same seed and fitted the same data
     * artefacts: unless the files differ between hosts */
    int dneed = nn_data_state_save(s->data, NULL, 0);
    char *ds = malloc((size_t)(dneed > 0 ? dneed : 0) + 1);
    if (!ds)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    ds[0] = 0;
    if (dneed > 0)
        nn_data_state_save(s->data, ds, (size_t)dneed + 1);
    int64_t sizes[3] = {nn_data_size(s->data, NN_PART_TRAIN), nn_data_size(s->data, NN_PART_VAL),
                        t->global_step};
    uint64_t h = nn_hash(nn_hash(NN_HASH_INIT, ds, strlen(ds)), sizes, sizeof sizes), fp = 0;
    free(ds);
    /* and the samples themselves: another host's copy at the same path may hold other
     * labels with as many samples (every process reaches the compare, failed or not) */
    nn_error ferr = {0};
    int frc = nn_data_fingerprint(s->data, &fp, &ferr);
    h = nn_hash(h, &fp, sizeof fp);
    int first, rc = nn_dist_compare(d, h, &first, err);
    if (rc == NN_OK && frc)
        return nn_error_set(err, frc, "%s", ferr.msg);
    if (rc == NN_OK && first >= 0)
        return nn_error_set(err, NN_EINVAL, "rank %d sees other data than rank 0 (the number "
                            "of samples, their targets or values, or the statistics fitted on "
                            "them differ): every host must read the same [data] files", first);
    if (rc == NN_OK)
        rc = check_replicas(t, NULL, err);
    if (rc == NN_OK && nn_dist_rank(d) == 0) {
        char where[300];
        nn_dist_describe(d, where, sizeof where);
        int64_t per = (s->tc.batch_size + nn_dist_size(d) - 1) / nn_dist_size(d);
        snprintf(t->placement, sizeof t->placement, "data-parallel on %s; a step of %lld "
                 "samples is %lld per process", where, (long long)s->tc.batch_size,
                 (long long)per);
    }
    return rc;
}

int nn_tr_dist_step(nn_trainer *t, const nn_metrics *before, double *loss, nn_error *err)
{
    nn_dist *d = t->s->dist;
    nn_metrics *m = &t->tm;
    /* the loss sum from the step's own figures: a difference of running sums would round */
    int64_t rows = m->samples - before->samples;
    int sums = t->s->loss_sums; /* the global batch's loss: the processes' sums added */
    double v[ST_COUNT] = {
        [ST_LOSS] = rows ? *loss * (sums ? 1.0 : (double)rows) : 0,
        [ST_SAMPLES] = (double)rows,
        [ST_CORRECT] = (double)(m->correct - before->correct),
        [ST_TOPK] = (double)(m->topk_correct - before->topk_correct),
    };
    local_signal(t, v);
    int rc = nn_dist_step_end(d, v, ST_COUNT, err);
    if (rc)
        return rc;
    /* as one process's metrics: the step's loss weighted by its rows */
    m->loss_sum = before->loss_sum + v[ST_LOSS] * (sums ? v[ST_SAMPLES] : 1.0);
    m->samples = before->samples + (int64_t)v[ST_SAMPLES];
    m->correct = before->correct + (int64_t)v[ST_CORRECT];
    m->topk_correct = before->topk_correct + (int64_t)v[ST_TOPK];
    *loss = sums ? v[ST_LOSS] : v[ST_SAMPLES] > 0 ? v[ST_LOSS] / v[ST_SAMPLES] : 0;
    adopt_signal(t, v);
    int64_t every = t->s->tc.check_replicas;
    if (every > 0 && (t->global_step + 1) % every == 0) {
        char when[80];
        snprintf(when, sizeof when, "before the update of step %lld",
                 (long long)t->global_step + 1);
        rc = check_replicas(t, when, err);
    }
    return rc;
}

int nn_tr_dist_stop(nn_trainer *t, nn_error *err)
{
    double v[ST_COUNT] = {0};
    local_signal(t, v);
    int rc = nn_dist_allreduce(t->s->dist, v, ST_COUNT, NN_F64, NN_REDUCE_SUM,
                               "agreeing on a stop", err);
    if (rc)
        return rc;
    adopt_signal(t, v);
    return v[ST_SIGINT] > 0 || v[ST_SIGTERM] > 0 || v[ST_SIGHUP] > 0;
}

int nn_tr_dist_epoch(nn_trainer *t, double *vals, int n, nn_error *err)
{
    return nn_dist_broadcast(t->s->dist, vals, (size_t)n * sizeof *vals,
                             "sharing the epoch's metrics", err);
}

int nn_tr_dist_exists(nn_trainer *t, const char *path, int *exists, nn_error *err)
{
    struct stat st;
    int e = nn_dist_rank(t->s->dist) == 0 && stat(path, &st) == 0;
    int rc = nn_dist_broadcast(t->s->dist, &e, sizeof e, "looking for a checkpoint", err);
    *exists = e;
    return rc;
}

int nn_tr_checkpoint_read(nn_trainer *t, const char *path, nn_checkpoint **out, nn_error *err)
{
    nn_dist *d = t->s->dist;
    if (!d)
        return nn_checkpoint_read(path, out, err);
    /* rank 0 reads (the run directory need not be shared) and sends the bytes: a header
     * with the size or rank 0's failure, then the file */
    struct {
        uint64_t len;
        nn_error err;
    } head = {0};
    const uint8_t *bytes = NULL;
    size_t len = 0;
    *out = NULL;
    if (nn_dist_rank(d) == 0) {
        int rc = nn_checkpoint_read(path, out, &head.err);
        if (rc == NN_OK) {
            nn_checkpoint_bytes(*out, &bytes, &len);
            head.len = len;
        } else {
            head.err.status = rc;
        }
    }
    int rc = nn_dist_broadcast(d, &head, sizeof head, "sending the checkpoint", err);
    if (rc)
        return rc;
    if (head.err.status) {
        if (nn_dist_rank(d) == 0)
            *err = head.err;
        else
            nn_error_set(err, head.err.status, "rank 0: %s", head.err.msg);
        return head.err.status;
    }
    uint8_t *buf = nn_dist_rank(d) == 0 ? (uint8_t *)bytes : malloc(head.len ? head.len : 1);
    if (!buf)
        return nn_error_set(err, NN_ENOMEM, "out of memory for a %llu-byte checkpoint",
                            (unsigned long long)head.len);
    /* in pieces: a collective counts in int */
    for (uint64_t off = 0; off < head.len && rc == NN_OK; off += 1u << 30) {
        size_t n = head.len - off < (1u << 30) ? (size_t)(head.len - off) : (size_t)1 << 30;
        rc = nn_dist_broadcast(d, buf + off, n, "sending the checkpoint", err);
    }
    if (nn_dist_rank(d) != 0) {
        if (rc == NN_OK)
            rc = nn_checkpoint_parse(buf, head.len, path, out, err);
        free(buf);
    }
    return rc;
}

int nn_tr_dist_gate(nn_trainer *t, int rc, nn_error *err)
{
    rc = nn_dist_agree(t->s->dist, rc, err, &t->gate_report);
    t->gate_failed = rc != NN_OK;
    return rc;
}

int nn_tr_dist_setup(nn_trainer *t, int rc, int *elsewhere, nn_error *err)
{
    nn_dist *d = t->s->dist;
    int report = t->gate_report;
    if (!t->gate_failed) /* else every process knows already */
        rc = nn_dist_agree(d, rc, err, &report);
    if (rc == NN_OK) {
        rc = begin_checks(t, err);
        /* the checks end alike everywhere: one process says why */
        rc = nn_dist_agree(d, rc, err, &report);
    }
    *elsewhere = rc != NN_OK && !report;
    return rc;
}
