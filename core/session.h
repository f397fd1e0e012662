/* session.h: everything one run is made of, built from a model file: the [train] settings,
 * the data, the model, the loss bound to each plan, and (for training) the optimizer.
 * Shared by train, eval, predict and cv so that they agree on every setting. */
#ifndef NN_SESSION_H
#define NN_SESSION_H

#include <limits.h>

#include "config.h"
#include "data/data.h"
#include "data/loader.h"
#include "graph.h"
#include "instance.h"
#include "nntrain/loss.h"
#include "metrics.h"
#include "optim/optim.h"
#include "registry.h"

typedef struct nn_train_cfg {
    int64_t epochs, batch_size, seed, prefetch, workers, checkpoint_every, top_k;
    int64_t check_replicas, bucket_kb; /* data-parallel runs (dist.h) */
    int64_t replicas;                  /* in-process data parallelism (replicas.h) */
    int replica_split;                 /* 0 auto, 1 rows, 2 units (replica_head.h) */
    int64_t patience, plateau_hint, accumulate;
    double checkpoint_minutes, min_delta;
    int shuffle, drop_last, early_stopping, restore_best, monitor_max, strict_loggers;
    int bf16;             /* [train] precision = bf16 */
    const char *monitor;  /* "val_loss", "val_accuracy", ... */
    const char *run_dir;  /* [train] run_dir: the run directory itself, or NULL */
    const char *name;     /* run name: runs/NAME by default */
    const char *init_from, *init_map; /* a fresh run's starting weights (init_from.h) */
    int init_strict;
} nn_train_cfg;

typedef enum nn_session_mode {
    NN_SESSION_TRAIN,   /* run directory, fitted data artefacts, training plan */
    NN_SESSION_EVAL,    /* test split, artefacts from state_dir, eval plan */
    NN_SESSION_SUMMARY, /* shapes only: no run directory, nothing written */
} nn_session_mode;

typedef struct nn_session_opts {
    nn_session_mode mode;
    long long seed;        /* -1: [train] seed */
    int folds, fold;       /* cross-validation */
    const char *run_dir;   /* NULL: runs/NAME (train) */
    const char *run_subdir; /* appended to the run directory (cross-validation folds) */
    const char *state_dir; /* eval/predict: where the run's artefacts are (vocabulary) */
    const char *device;
    int threads;           /* compute threads; 0 = chosen from the model's size */
    int resume;            /* train: the run continues from a checkpoint */
    const char *resume_path; /* train: --resume's value ("auto": the run directory's own
                                checkpoint, or a file, checked with nn_rundir_check_resume),
                                or NULL; with seed -1 the checkpoint's seed is the run's */
    int overwrite;         /* train: replace a run already in the run directory */
    int eval_val;          /* eval: the validation part of the training data, split exactly
                              as training split it, instead of the test split */
    const char *const *inputs; /* eval mode: predict these user files instead of the test
                                  split (part NN_PART_PREDICT); n_inputs = 0: none */
    int n_inputs;
    struct nn_dist *dist;  /* train: one process of a data-parallel run (dist.h), or NULL;
                              only rank 0 touches the run directory */
} nn_session_opts;

/* the loss bound to one plan */
typedef struct nn_loss_bind {
    nn_plan *plan;
    nn_instance inst;
    nn_loss_setup setup;
    nn_loss_io io;
    nn_tensor target; /* the batch targets, rows = plan batch: a view of the batch on the host,
                         device memory of its own elsewhere */
    nn_tensor bufs[NN_MAX_LAYER_BUFFERS];
    nn_tensor host_out; /* the plan output's host copy (device runs) */
    nn_tensor loss_out; /* device runs: where the loss writes its value */
    double correct, topk; /* device runs: the last step's counts */
    int training;         /* the last step was a training step */
    /* [train] replicas > 1: on replica 0's binding after a step split over gang_n > 1
     * replicas, the bindings of the step's slices (rows gang_row0.. of the batch, in order)
     * and each slice's own loss (io.loss then holds the batch's) */
    int gang_n;
    struct nn_loss_bind *gang[NN_MAX_REPLICAS];
    int64_t gang_row0[NN_MAX_REPLICAS];
    double gang_loss[NN_MAX_REPLICAS];
    nn_tensor gang_out;     /* the slices' outputs side by side (nn_session_output) */
    size_t gang_out_bytes;  /* what gang_out.dl.data holds */
} nn_loss_bind;

/* The step's results on a device, read back in one copy: doubles, and the loss as a float */
enum { NN_STATUS_CORRECT, NN_STATUS_TOPK, NN_STATUS_NORM, NN_STATUS_LOSS, NN_STATUS_SLOTS };

/* a batch on its way to the device while the step before it computes */
typedef struct nn_stage {
    void *x, *y;         /* device memory for a whole batch */
    size_t x_bytes, y_bytes;
    const nn_batch *b;   /* the batch in flight here, or NULL */
    int64_t epoch, index; /* which batch of the run it was */
    void *event;         /* completes when the copies have read the batch */
} nn_stage;

/* training and evaluation, each with a full and a last partial batch; a data-parallel run's
 * slices add one row more or less to each; in-process replicas have plans of their own */
#define NN_SESSION_MAX_PLANS 64

typedef struct nn_session {
    nn_registry *reg;
    nn_config *cfg;
    nn_train_cfg tc;
    nn_params *train_params;
    nn_data *data;
    nn_model *model;
    nn_optim *optim;
    const nn_plugin_entry *loss_entry;
    nn_kv *loss_kvs;
    int n_loss_kvs;
    char loss_origin[300];
    nn_loss_bind binds[NN_SESSION_MAX_PLANS];
    int n_binds;
    char run_dir[512]; /* longer paths are refused with a message */
    char run_base[512]; /* run_dir without the run_subdir (cv: the folds' parent, locked) */
    int replace_run;    /* --overwrite: the run in run_dir goes when this one starts writing */
    int lock_fd;       /* the run directory's lock (training), or -1 */
    int made_run_dir;  /* this session created run_base: removed at close if left empty */
    /* nn_train_load_weights: the checkpoint's epoch and global step, -1 when it has none */
    int64_t weights_epoch, weights_step;
    char base_dir[PATH_MAX];
    uint64_t seed;
    int n_classes;
    int threads;           /* compute threads in use */
    const char *device_type; /* "cpu", "sim": the device key of every plugin looked up */
    struct nn_dev *dev;      /* the run's device (owned) */
    double *status;          /* device runs: NN_STATUS_SLOTS doubles of device memory */
    nn_stage stage[2];       /* device runs: double-buffered batch copies */
    int next_stage;
    struct nn_dist *dist;    /* data-parallel runs: borrowed from the options, or NULL */
    struct nn_gang *gang;    /* [train] replicas > 1: the replicas' threads (owned), or NULL */
    struct nn_head *head;    /* the first layer split by units over them (owned), or NULL */
    int loss_sums;           /* the loss reduces rows by a sum (NN_LOSS_SUM), not a mean */
    int seed_resumed;        /* the seed is the resumed checkpoint's (no --seed was given) */
} nn_session;

/* What the loss of `rows` rows of a batch of `total` weighs in the batch's (a replica's slice,
 * a process's, a micro-batch): its share of the rows for a mean, 1 for a sum */
static inline double nn_session_share(const nn_session *s, int64_t rows, int64_t total)
{
    return s->loss_sums ? 1.0 : (double)rows / (double)total;
}

/* The rows of the largest batch the session can see: batch_size, or fewer when no part of
 * the data holds that many (a batch never has more rows than its part): what the plans and
 * buffers made before any batch are sized for */
int64_t nn_session_full_rows(const nn_session *s);

/* Builds the session. On failure err names the file:line or section. */
int nn_session_open(nn_session *s, nn_registry *reg, nn_config *cfg, const nn_session_opts *o,
                    nn_error *err);
void nn_session_close(nn_session *s);

/* The plan and its bound loss for a batch of `rows` (compiled on first use). */
int nn_session_bind(nn_session *s, int64_t rows, int training, nn_loss_bind **out, nn_error *err);
/* The same for replica r's plan ([train] replicas) */
int nn_session_bind_replica(nn_session *s, int64_t rows, int training, int replica,
                            nn_loss_bind **out, nn_error *err);

/* Runs one batch: copy b into the plan, forward (train or eval), loss (with gradient when
 * training), backward. A slice of a global batch (b->global_n > b->n, data-parallel runs)
 * scales the loss gradient by its share (nn_session_share), so that the slices' gradients
 * sum to the global batch's; an empty slice runs one zero row with weight 0 (the processes'
 * collectives must match) and reports loss 0 and no metrics. *lb gets the binding used (for
 * metrics on its output). On a device the step ends with its one synchronisation: the loss, the
 * classification counts and (with an optimizer) the gradient norm come back together. */
int nn_session_step(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                    nn_loss_bind **lb, double *loss, nn_error *err);
/* The same in two halves, so that the next batch can be staged in between: begin issues the
 * step (on a device, without waiting for it), finish waits for it and returns its loss. */
int nn_session_step_begin(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                          nn_loss_bind **lb, nn_error *err);
int nn_session_step_finish(nn_session *s, nn_loss_bind *lb, const nn_batch *b, double *loss,
                           nn_error *err);
/* Starts copying b to the device (asynchronously when the backend can) while the current step
 * runs; the step of b then takes the staged copy. A no-op on the host. b's buffers must stay
 * untouched until b's own step has finished. */
int nn_session_stage(nn_session *s, const nn_batch *b, nn_error *err);
/* Host buffers for batches: page-locked memory of the device when it has some. */
void *nn_session_host_alloc(void *session, size_t bytes);
void nn_session_host_free(void *session, void *p);

/* The plan's forward, then the loss's, and (training) the loss gradient scaled by share, the
 * part of the batch the plan's rows are (1: the whole batch). The plan's input and the
 * binding's targets are loaded. */
int nn_session_forward_loss(nn_session *s, nn_loss_bind *lb, int training, double share,
                            nn_error *err);
/* Runs the last step's forward again (training mode), checking every layer's output, to name
 * the first non-finite one (nn_plan_forward_checked, over every replica of a split step). */
int nn_session_forward_checked(nn_session *s, nn_loss_bind *lb, nn_error *err);

/* session_replicas.c: [train] replicas = N > 1 (host runs of one process). open starts the
 * replicas' threads and gives the model its replicas; step splits a batch of n >= 2 rows into
 * min(N, n) slices of consecutive rows, runs them at once (forward, loss scaled by the slice's
 * share of the batch, backward), sums their gradients into the model's and averages their
 * running statistics (training), and returns replica 0's binding with the others in its gang.
 * solo: lb, a binding of replica 0, runs the next step of `rows` rows alone (one-row batches,
 * predictions); a no-op on a session without replicas but for marking lb unsplit. */
int nn_session_replicas_open(nn_session *s, int training, nn_error *err);
int nn_session_replicas_step(nn_session *s, const nn_batch *b, int training, uint64_t step_seed,
                             nn_loss_bind **lb, nn_error *err);
void nn_session_replicas_solo(nn_session *s, nn_loss_bind *lb, int64_t rows);
/* how the replicas share a step, for the start of training ("2 replicas, ...") */
void nn_session_replicas_placement(const nn_session *s, char *buf, size_t size);
/* the optimizer steps slices of the parameters on the replicas' threads when it can
 * (NN_CAP_ELEMENTWISE) */
int nn_session_replicas_optim(nn_session *s, nn_error *err);
/* the outputs of a split step's slices as one batch (host memory of the binding) */
const nn_tensor *nn_session_replicas_output(nn_loss_bind *lb, nn_error *err);

/* Forward only, without the loss (predictions for inputs whose targets are unknown). */
int nn_session_forward(nn_session *s, const nn_batch *b, nn_loss_bind **lb, nn_error *err);
/* The plan output of the last step as host memory (copied back from a device); NULL with err
 * on failure. Borrowed, valid until the next step. */
const nn_tensor *nn_session_output(nn_session *s, nn_loss_bind *lb, nn_error *err);

/* Adds a finished step's batch to m: its loss and, for classification, the correct and top-k
 * counts from the plan's output (computed on the device, read back with the step's status). */
int nn_session_metrics(nn_session *s, nn_loss_bind *lb, const nn_batch *b, double loss,
                       nn_metrics *m, nn_error *err);

/* Creates the optimizer over the model's parameters (training sessions). */
int nn_session_optim(nn_session *s, int64_t steps_per_epoch, nn_error *err);

/* The model's tensors that checkpoints hold: parameters, then state buffers. Each tensor's
 * name is its checkpoint name ("fc1.weight"); borrowed from the model. */
int nn_session_tensor_count(const nn_session *s);
nn_tensor *nn_session_tensor(const nn_session *s, int i);
/* Host copies of those tensors (the tensors themselves on the CPU): nn_session_to_host
 * refreshes them from the device, nn_session_to_device writes them back. Checkpoints, best
 * weights and loggers read and write only these. */
int nn_session_to_host(nn_session *s, nn_error *err);
int nn_session_to_device(nn_session *s, nn_error *err);
nn_tensor *nn_session_host_tensor(const nn_session *s, int i);
/* the i-th parameter's host copy and its gradient's (refreshed by nn_session_to_host) */
const nn_tensor *nn_session_host_param(const nn_session *s, int i, const nn_tensor **grad);

/* The [train] schema, for `nntrain help train`. */
const nn_param_spec *nn_train_schema(void);

#endif
