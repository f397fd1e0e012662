/* metrics.h: running classification metrics over batches: loss, accuracy, top-k, confusion.
 * Accumulates in double and int64 so that epoch figures do not drift with the batch count. */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <stdint.h>

#include "nntrain/tensor.h"

typedef struct nn_metrics {
    double loss_sum;    /* sum over batches of batch-mean loss x batch rows */
    int64_t samples;
    int64_t correct;
    int64_t topk_correct;
    int top_k;          /* 0 = off */
    int n_classes;      /* 0 = not classification */
    int64_t *confusion; /* n_classes^2 (row = true class), or NULL */
} nn_metrics;

/* n_classes > 0 with confusion = 1 allocates the matrix. returns 0 or -1 (out of memory) */
int nn_metrics_init(nn_metrics *m, int n_classes, int top_k, int confusion);
void nn_metrics_reset(nn_metrics *m);
void nn_metrics_free(nn_metrics *m);
/* pred [N, C] logits; target I32 [N] class ids, or F32 [N, C] probabilities whose first
 * maximum is the class (as nn_device_ops.count_correct); rows n <= N. loss is the batch mean. */
void nn_metrics_add(nn_metrics *m, const nn_tensor *pred, const nn_tensor *target, int64_t n,
                    double loss);
/* the same from counts made elsewhere (on a device): n rows, correct and top-k hits */
void nn_metrics_add_counts(nn_metrics *m, int64_t n, double loss, int64_t correct,
                           int64_t topk_correct);
double nn_metrics_loss(const nn_metrics *m);
double nn_metrics_accuracy(const nn_metrics *m); /* NAN when not classification */
double nn_metrics_topk(const nn_metrics *m);

/* Batches that count as one: the micro-batches of an accumulated step ([train] accumulate),
 * or as many evaluation batches, so that a loss that sums its rows reports what the one batch
 * of all their rows would (the sum of the sums), and a mean the rows-weighted mean. Their
 * figures go into m batch by batch as usual; the group then counts their loss once. */
typedef struct nn_metrics_group {
    int sums;        /* the loss reduces rows by a sum (NN_LOSS_SUM) */
    int64_t batches; /* added so far */
    double loss;     /* sums: the batches' losses added; means: each x its rows, added */
    int64_t rows;
    nn_metrics start; /* m's counters when the group began (its confusion is not used) */
} nn_metrics_group;

void nn_metrics_group_begin(nn_metrics_group *g, const nn_metrics *m, int sums);
/* one batch of the group, after its figures went into m: its loss and the rows it added */
void nn_metrics_group_add(nn_metrics_group *g, double loss, int64_t rows);
/* Ends the group: m counts the group's loss once for all its rows (a group of one batch is
 * left as it was added); *loss and *accuracy (NAN when not classification, or no rows) get
 * the group's own figures. Either may be NULL. */
void nn_metrics_group_end(nn_metrics_group *g, nn_metrics *m, double *loss, double *accuracy);

#endif
