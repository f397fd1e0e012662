/* trainer_internal.h: the trainer's state, shared by the files that make up the training loop:
 * trainer.c (the steps and epochs), train_events.c (the loop thread and logger delivery),
 * train_state.c (checkpoints and resume) and train_callbacks.c (best weights, early stopping,
 * hints, the non-finite diagnosis). Nothing outside those files includes it. */
#ifndef NN_TRAINER_INTERNAL_H
#define NN_TRAINER_INTERNAL_H

#include <stdatomic.h>
#include <time.h>
#include <uv.h>

#include "loggers.h"
#include "trainer.h"

/* records on their way to the loop thread (1.3 KB each, touched before the first step): a
 * fast model posts ~150 step records between two progress ticks, and a quarter full ring
 * wakes the loop at once */
#define NN_TR_RING 1024
#define NN_TR_MAX_METRICS 12
#define NN_CKPT_FORMAT "nntrain.checkpoint.1"

/* one event on its way from compute to the loop thread */
typedef struct nn_tr_rec {
    nn_event_kind kind;
    int64_t epoch, step, global_step, seq;
    double elapsed, sps, lr, grad_norm;
    int n_metrics;
    nn_metric metrics[NN_TR_MAX_METRICS];
    char names[NN_TR_MAX_METRICS][24];
    char text[700];
    int with_params, with_confusion, ack;
    int flush; /* no event: every record before it is delivered, then the loggers flush */
} nn_tr_rec;

typedef struct nn_trainer {
    nn_session *s;
    const nn_train_opts *o;
    nn_train_result *r;
    /* loop side (train_events.c) */
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t progress, ckpt_timer;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    int loop_running;
    nn_tr_rec *ring;
    int64_t head, tail, seq, acked, dropped;
    int64_t wakeups; /* of the loop thread by nn_tr_post */
    atomic_int stop_signal; /* > 0: the signal to stop for; < 0: a logger failed (strict) */
    int agreed_signal; /* data-parallel runs: the signal the last agreement carried, or 0 */
    atomic_int ckpt_due;
    atomic_int done;
    nn_tr_rec last_batch;
    int have_batch, batch_shown;
    nn_loggers *loggers;
    /* compute side */
    nn_loader *train_l, *val_l;
    nn_metrics tm, vm;
    int64_t epoch, step_in_epoch, global_step, steps_per_epoch;
    int64_t batches_seen; /* training forward passes (micro-batches), as PyTorch's
                             num_batches_tracked counts them; global_step counts updates */
    double epoch_lr; /* the rate the epoch's last step applied */
    double resumed_lr; /* the checkpoint's epoch_lr (NAN: an older checkpoint) */
    double best;
    int64_t best_epoch, bad_epochs;
    double best_figures[4]; /* the best epoch's loss, accuracy, val_loss, val_accuracy */
    double best_train_loss;
    int64_t train_stall;
    double prev_train_loss, prev_val_loss;
    int64_t rising;
    int hint_plateau, hint_overfit;
    void *best_copy;
    int best_held; /* best_copy holds the weights of best_epoch */
    int64_t best_global_step; /* the optimizer steps behind best_epoch's weights; -1 unknown */
    int best_restored; /* the model holds best_epoch's weights again (restore_best) */
    size_t best_bytes;
    struct timespec t0, epoch_t0;
    double elapsed_before; /* wall seconds of earlier sessions of a resumed run */
    int64_t epoch_samples;
    const nn_tensor **hist_params, **hist_grads;
    int n_hist;
    int rc;
    nn_error err;
    char placement[400]; /* data-parallel runs and replicas: how they share, for TRAIN_BEGIN */
    int gate_failed, gate_report; /* nn_tr_dist_gate's outcome */
} nn_trainer;

double nn_tr_seconds(const struct timespec *since);

/* The optimizer steps that `batches` batches of an epoch make: [train] accumulate batches
 * make one, and the epoch's last step may take fewer. Events count steps so. */
static inline int64_t nn_tr_steps(const nn_trainer *t, int64_t batches)
{
    const int64_t k = t->s->tc.accumulate > 0 ? t->s->tc.accumulate : 1;
    return (batches + k - 1) / k;
}

/* train_events.c: records, delivery, the loop thread */
void nn_tr_rec_base(nn_trainer *t, nn_tr_rec *x, nn_event_kind kind);
void nn_tr_rec_metric(nn_tr_rec *x, const char *name, double v);
/* Posts a record; batch records are dropped when the loop falls behind (a slow logger never
 * stalls training), others wait for room. With x->ack, waits until it was delivered. */
void nn_tr_post(nn_trainer *t, const nn_tr_rec *x);
/* delivers at once on the calling thread (before the loop thread runs, or after it ended) */
void nn_tr_deliver(nn_trainer *t, nn_tr_rec *x);
/* Delivers every record posted so far and flushes the loggers; returns when they did (called
 * before each checkpoint is written, so the logs reach at least as far as it) */
void nn_tr_flush_loggers(nn_trainer *t);
int nn_tr_loop_start(nn_trainer *t, nn_error *err);
/* posts nothing; makes the loop thread deliver what is queued, close its handles and exit */
void nn_tr_loop_stop(nn_trainer *t);

/* train_open.c: the loaders, the set-up checks, resume or init_from, the loggers and the run's
 * model file; a run that fails here has touched no checkpoint but --overwrite's */
int nn_tr_open_run(nn_trainer *t, nn_error *err);

/* train_state.c: checkpoints */
/* Writes RUN/file (last.safetensors, best.safetensors) from the current state and tells the
 * loggers; out_path gets the path written. */
int nn_tr_save(nn_trainer *t, const char *file, char *out_path, nn_error *err);
/* Restores every piece of training state from a checkpoint of this run. */
int nn_tr_resume(nn_trainer *t, const char *path, nn_error *err);

/* train_callbacks.c */
double nn_tr_metric_value(const nn_trainer *t, const char *name, double tl, double ta,
                          double vl, double va);
/* Best-metric bookkeeping after an epoch; sets *improved and *stop (early stopping). */
void nn_tr_track_best(nn_trainer *t, double mv, int *improved, int *stop);
/* Copies every model tensor into the best-weights buffer (save = 1) or back; back without
 * weights held is an error that names the best epoch. */
int nn_tr_best_weights(nn_trainer *t, int save, nn_error *err);
/* Plateau and overfitting advice after an epoch. */
void nn_tr_hints(nn_trainer *t, double tl, double vl);
/* Names the first bad layer or gradient; returns NN_ENONFINITE with the sentence. */
int nn_tr_diagnose(nn_trainer *t, nn_loss_bind *lb, double loss, double gnorm, nn_error *err);

/* train_dist.c: data-parallel runs (t->s->dist set); see dist.h */
struct nn_checkpoint;
/* Before set-up steps that take collectives: agrees on how set-up went so far (rc), so that
 * a process that failed does not leave the others waiting in a collective. */
int nn_tr_dist_gate(nn_trainer *t, int rc, nn_error *err);
/* After the run is opened on every process: agrees on success (a process that failed makes
 * every one stop; *elsewhere = 1 where another process reports the error), then checks that
 * the processes hold the same data and parameters. */
int nn_tr_dist_setup(nn_trainer *t, int rc, int *elsewhere, nn_error *err);
/* A training step's end: sums the step's loss and counts into t->tm (before = t->tm before
 * the step's metrics), makes *loss the global batch's, waits for the gradient sums and agrees
 * on a stop signal; every check_replicas steps compares the replicas. */
int nn_tr_dist_step(nn_trainer *t, const nn_metrics *before, double *loss, nn_error *err);
/* 1 when any process received a stop signal (all adopt it), 0 if none, < 0 on error */
int nn_tr_dist_stop(nn_trainer *t, nn_error *err);
/* rank 0's epoch-end figures overwrite vals on every process */
int nn_tr_dist_epoch(nn_trainer *t, double *vals, int n, nn_error *err);
/* whether path exists on rank 0 */
int nn_tr_dist_exists(nn_trainer *t, const char *path, int *exists, nn_error *err);
/* reads a checkpoint (on rank 0, sent to the others in a data-parallel run) */
int nn_tr_checkpoint_read(nn_trainer *t, const char *path, struct nn_checkpoint **out,
                          nn_error *err);

#endif
