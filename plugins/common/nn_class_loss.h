/* nn_class_loss.h: what the classification losses share (cross_entropy, nll): predictions
 * [N, C] with I32 class ids [N] or F32 probabilities [N, C] (mixup, cutmix), PyTorch's class
 * weights, ignore_index and means, and the checks of every target. The loss itself stays in its
 * plugin. Static helper library (libnn_kit.a) for plugins only; never part of the core. */
#ifndef NN_CLASS_LOSS_H
#define NN_CLASS_LOSS_H

#include <nntrain/nntrain.h>

typedef struct nn_class_loss {
    const char *name;     /* the plugin, for messages */
    int sum;              /* reduction: 0 mean, 1 sum */
    int64_t ignore_index;
    int n_weights;        /* 0: unweighted */
    double *weight;       /* [n_weights], owned */
    double weight_sum;    /* sum of the class weights (C when unweighted) */
    int64_t n, c;         /* from setup */
    int soft;             /* from setup: targets are F32 probabilities [N, C] */
} nn_class_loss;

/* Cases with class ids of the prediction's classes, weighted and with an ignored sample. */
extern const nn_test_spec nn_class_loss_test;

/* reads reduction, weight and ignore_index */
int nn_class_loss_init(nn_class_loss *l, const char *name, const nn_params *p, nn_error *err);
void nn_class_loss_free(nn_class_loss *l);
/* predictions F32 [N, C] (what: "logits", "log-probabilities"), targets I32 class ids [N]
 * or F32 probabilities [N, C] (sets l->soft; refuses a non-default ignore_index then) */
int nn_class_loss_setup(nn_class_loss *l, nn_loss_setup *s, const char *what,
                        nn_error *err);
/* Checks every target; *scale = 1 (sum) or 1 / the summed weights of the samples not ignored
 * (0 when there is none: loss 0 and no gradient rather than PyTorch's NaN). */
int nn_class_loss_scale(const nn_class_loss *l, const int32_t *y, double *scale, nn_error *err);
/* The same for probability targets [N, C]: every one finite and >= 0 (rows need not sum to
 * 1, as in PyTorch); *scale = 1 (sum) or 1 / N (PyTorch's mean for probabilities). */
int nn_class_loss_soft_scale(const nn_class_loss *l, const float *t, double *scale,
                             nn_error *err);

static inline double nn_class_loss_w(const nn_class_loss *l, int64_t k)
{
    return l->n_weights ? l->weight[k] : 1.0;
}

#endif
