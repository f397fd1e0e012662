/* trainer.h: the training loop: compute on the calling thread, and a libuv loop on a thread of
 * its own for signals, the progress and checkpoint timers, and event delivery to loggers. */
#ifndef NN_TRAINER_H
#define NN_TRAINER_H

#include <limits.h>

#include "session.h"

typedef struct nn_train_opts {
    const char *resume;  /* checkpoint path, "auto" (RUN/last.safetensors if present), NULL */
    const char *resume_option; /* the option as the user gave it, for messages; NULL: the
                                  "--resume auto" of train (cv's is "--resume") */
    int handle_signals;  /* 1: SIGINT/SIGTERM stop the run with a checkpoint */
    int verbosity;       /* -1 quiet, 0, 1 verbose */
    int progress_hz;     /* progress events per second (default 10) */
    int allow_nonfinite; /* resume from a checkpoint holding NaN/Inf (forensics) */
    int test;            /* evaluate the test split after a completed run (EVAL_END) */
    /* optional: called on the training thread right after every optimizer step (step
     * 0-based within the epoch), for what cannot wait for the event loop, which gets the
     * steps' events in bunches (bench_train's allocation window); NULL: none */
    void (*on_step)(void *ctx, int64_t epoch, int64_t step, int64_t steps_per_epoch);
    void *on_step_ctx;
} nn_train_opts;

typedef enum nn_train_end {
    NN_END_COMPLETED = 0,
    NN_END_EARLY_STOP,
    NN_END_SIGNAL,
    NN_END_NONFINITE,
    NN_END_ERROR,
} nn_train_end;

typedef struct nn_train_result {
    nn_train_end end;
    int signal;              /* with NN_END_SIGNAL */
    int64_t epochs_done;     /* of the whole run, a resumed run's earlier sessions included */
    int64_t epochs_before;   /* of a resumed run: the epochs done when this session began */
    double train_loss, train_acc, val_loss, val_acc;
    double best_metric;
    int64_t best_epoch;      /* 1-based; 0 when none */
    double wall_s;           /* this session, set-up, test and tear-down included */
    double train_s;          /* training seconds of the whole run, earlier sessions included,
                                as TRAIN_END reports them (the test split's evaluation after) */
    double earlier_s;        /* training seconds of a resumed run's earlier sessions */
    double wait_fraction;    /* steps that waited for data */
    double wait_s;           /* seconds those steps waited, in total */
    int64_t wakeups;         /* times training woke the loader's and the event loop's threads
                                (this session): about one per step, not one per call */
    int64_t dropped;         /* steps' BATCH_END records the loggers never got: they fell a
                                whole ring behind (said on stderr unless quiet) */
    char last_ckpt[600];
    char best_ckpt[600];
    int tested;              /* the test split was evaluated into `test` */
    int setup_failed;        /* data-parallel runs: the run failed before its first step,
                                and every process knows it */
    int error_elsewhere;     /* ... and another process reports why */
    nn_metrics test;         /* with tested: free with nn_metrics_free */
} nn_train_result;

/* Trains the session to its configured epochs (or until stopped), then, with o->test, evaluates
 * the test split. returns NN_OK when the run ended as planned, by early stopping or by a
 * signal (see r->end); an error otherwise, including NN_ENONFINITE (with the diagnosis in
 * err) and a test split that cannot be read. With handle_signals, SIGINT/SIGTERM (see
 * signals.h) finish the step and write a checkpoint. */
int nn_train_run(nn_session *s, const nn_train_opts *o, nn_train_result *r, nn_error *err);

/* Loads a checkpoint's model tensors (parameters and state) into the session's model, after
 * checking that it was trained on samples of this shape, holds no tensor the model lacks and
 * (unless allow_nonfinite) only finite values. s->weights_epoch and weights_step get the
 * checkpoint's counters (-1 when it has none). */
int nn_train_load_weights(nn_session *s, const char *path, int allow_nonfinite, nn_error *err);

#endif
