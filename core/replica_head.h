/* replica_head.h: [train] replicas with the model's first layer split by units (replica_head.c).
 * Used by session_replicas.c only. */
#ifndef NN_REPLICA_HEAD_H
#define NN_REPLICA_HEAD_H

#include "graph.h"
#include "optim/split.h"
#include "replicas.h"

typedef struct nn_head nn_head;

/* [train] replica_split (how = 0 auto, 1 rows, 2 units) for a training run of model m (its
 * plugins from reg) on the
 * replicas of gang, whose full-batch plans plans[0..n) are compiled. *out gets the split, or
 * NULL when the run splits every layer by rows: always for rows, for auto unless the first
 * layer with parameters can be split (NN_CAP_SPLIT_UNITS, at least 16 units per replica, plain
 * tensors in and out) and holds at least half of the parameters. For units, a layer that cannot
 * be split is an error saying why (origin names the key). Marks the layer's parameters owned
 * (nn_model_replica_owned). */
int nn_head_open(nn_model *m, nn_registry *reg, nn_gang *gang, nn_plan *const *plans, int n,
                 nn_dtype precision, int how, const char *origin, nn_head **out, nn_error *err);
void nn_head_free(nn_head *h); /* NULL is allowed */
/* the layer split, for messages */
int nn_head_layer(const nn_head *h);

/* Before a training step of replicas 0..n-1 running plans[r] on rows[r] rows from row0[r] of a
 * batch of `batch` rows: their layer calls go through the split (compiling its plans for a new
 * batch size). disarm after the step. */
int nn_head_arm(nn_head *h, nn_plan *const *plans, const int64_t *rows, const int64_t *row0,
                int n, int64_t batch, nn_error *err);
void nn_head_disarm(nn_head *h, nn_plan *const *plans, int n);

/* the split layer's parameters, each cut as the replicas compute them (for the optimizer):
 * returns how many were written into own[0..max) */
int nn_head_owned(const nn_head *h, int parts, nn_optim_owned *own, int max);

#endif
