/* scheduler.h: the vtable of a learning-rate scheduler plugin. The core calls step() after
 * every batch or every epoch, as the scheduler says, and composes linear warm-up on top.
 * State that is not a function of (epoch, step) must round-trip through state_save/load. */
#ifndef NNTRAIN_SCHEDULER_H
#define NNTRAIN_SCHEDULER_H

#include <stddef.h>
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_sched_ctx {
    uint32_t struct_size;
    double base_lr;          /* the optimizer's configured lr */
    int64_t epoch;           /* epochs completed */
    int64_t step;            /* batches completed since the start of training */
    int64_t steps_per_epoch;
    int64_t total_epochs;
    double metric;           /* last validation value of the monitored metric, NAN if none */
    const char *metric_name; /* e.g. "val_loss"; NULL if none */
    const void *reserved[8];
} nn_sched_ctx;

typedef struct nn_sched_info {
    uint32_t struct_size;
    int per_batch;           /* out: 1 = step() after every batch, 0 = after every epoch */
    const char *monitor;     /* out: metric it needs ("val_loss"), NULL if none */
    const void *reserved[8];
} nn_sched_info;

typedef struct nn_scheduler_vtable {
    NN_VTABLE_COMMON;
    /* required: say the unit, and give the learning rate to start with */
    int (*start)(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                 nn_error *err);
    /* required: the learning rate after the batch/epoch that c describes */
    int (*step)(void *self, const nn_sched_ctx *c, double *lr, nn_error *err);
    /* optional: text state for checkpoints (returns bytes needed, or < 0) */
    int (*state_save)(void *self, char *buf, size_t cap, nn_error *err);
    int (*state_load)(void *self, const char *text, nn_error *err);
    const void *reserved[8];
} nn_scheduler_vtable;

#ifdef __cplusplus
}
#endif
#endif
