/* logger.h: the vtable of a logger plugin and the events the trainer sends it.
 * Events arrive on the trainer's loop thread, never on the compute path, in the order they
 * happened. Steps' BATCH_END events come in bunches, at the progress timer's tick or just
 * before the next event of another kind (waking the loop thread at every step cost a fast
 * model's steps a few percent), so a logger sees a step within one progress period.
 * A logger that fails returns an error; the core reports it once and goes on (unless the
 * run is strict). */
#ifndef NNTRAIN_LOGGER_H
#define NNTRAIN_LOGGER_H

#include <stdint.h>
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_event_kind {
    NN_EV_TRAIN_BEGIN = 1,
    NN_EV_EPOCH_BEGIN,
    NN_EV_BATCH_END,      /* every optimizer step: that step's own loss and accuracy (over
                             its batch, all its micro-batches with [train] accumulate; never
                             a running epoch figure), lr, grad_norm */
    NN_EV_PROGRESS,       /* the progress timer ticked (at most 10 Hz) */
    NN_EV_EPOCH_END,      /* training metrics of the epoch; params/grads for histograms */
    NN_EV_VALIDATION_END, /* val_* metrics; confusion matrix */
    NN_EV_CHECKPOINT,     /* path = the file written */
    NN_EV_NONFINITE,      /* message says where */
    NN_EV_HINT,           /* message: advice for the user (plateau, overfitting) */
    NN_EV_TRAIN_END,      /* message: why it ended ("completed", "interrupted", ...) */
    NN_EV_EVAL_END,       /* `nntrain eval`: test metrics and confusion matrix */
} nn_event_kind;

typedef struct nn_metric {
    const char *name; /* "loss", "accuracy", "val_loss", "top5", ... */
    double value;
} nn_metric;

typedef struct nn_event {
    uint32_t struct_size;
    nn_event_kind kind;
    int64_t epoch, epochs;          /* 0-based current epoch; total */
    int64_t step, steps_per_epoch;  /* 0-based optimizer step within the epoch; total per
                                       epoch ([train] accumulate batches make one step) */
    int64_t global_step;            /* optimizer steps since the start of training */
    double elapsed_s;               /* since train begin */
    double samples_per_s;           /* recent throughput; 0 if unknown */
    double lr;                      /* current learning rate */
    double grad_norm;               /* pre-clip global gradient norm; NAN if not computed */
    int n_metrics;
    const nn_metric *metrics;
    const char *path;               /* CHECKPOINT: file written */
    const char *message;            /* NONFINITE, HINT, TRAIN_END; TRAIN_BEGIN (ABI 0.5): how
                                       the run is placed ("data-parallel on 4 processes ..."),
                                       or NULL */
    int n_params;                   /* EPOCH_END: parameters and their gradients */
    const nn_tensor *const *params;
    const nn_tensor *const *grads;
    int n_classes;                  /* VALIDATION_END, EVAL_END: row = true, column = predicted */
    const int64_t *confusion;       /* n_classes * n_classes counts, or NULL */
    const char *const *class_names; /* NULL = "0", "1", ... */
    const void *reserved[8];
} nn_event;

/* Where a logger writes: a string parameter named "path" (a file) or "dir" (a directory),
 * relative to run_dir. Before open, the core refuses (naming the key's line) a value that is
 * absolute, has a ".." component, goes through a symbolic link below run_dir, names run_dir
 * itself (path), or names one of the run's own files (.lock, model.ini, last.safetensors,
 * best.safetensors, cv_fold.txt, NAME.tmp.PID, also by hard link), and two loggers naming
 * one file; a logger that writes elsewhere gets none of these checks. */
typedef struct nn_logger_open {
    uint32_t struct_size;
    const char *run_dir;     /* directory of this run; exists */
    const char *run_name;
    const char *config_path; /* model file */
    const char *config_text; /* its full text after --set overrides */
    int is_tty;              /* stdout is a terminal */
    int verbosity;           /* -1 quiet, 0 normal, 1 verbose */
    /* ABI 0.4: 0 for a fresh run (start its files anew). > 0: this run resumes one whose
     * history is already in run_dir: keep (append to) what was logged up to this global step,
     * drop what was logged after it (those steps are trained again), never truncate earlier
     * history. `nntrain eval` of a run passes INT64_MAX: keep everything, append. */
    int64_t resume_step;
    const void *reserved[7];
} nn_logger_open;

typedef struct nn_logger_vtable {
    NN_VTABLE_COMMON;
    int (*open)(void *self, const nn_logger_open *o, nn_error *err);   /* required */
    int (*event)(void *self, const nn_event *ev, nn_error *err);       /* required */
    int (*flush)(void *self, nn_error *err);                           /* optional */
    int (*close)(void *self, nn_error *err);                           /* optional */
    const void *reserved[8];
} nn_logger_vtable;

#ifdef __cplusplus
}
#endif
#endif
