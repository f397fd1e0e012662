/* loss.h: the vtable of a loss plugin. A loss sits after the last layer: it reduces the
 * model's output and the batch's targets to one number and, in training, writes
 * dLoss/dPrediction. Accuracy and other metrics are the core's, not the loss's. */
#ifndef NNTRAIN_LOSS_H
#define NNTRAIN_LOSS_H

#include "layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_loss_setup {
    uint32_t struct_size;
    /* in */
    const nn_tensor *pred;   /* shape/dtype of the model output, dim 0 = batch */
    const nn_tensor *target; /* shape/dtype of the batch's targets (class ids: I32 [N]) */
    /* out: scratch the loss needs (NN_BUF_WORKSPACE only) */
    int n_buffers;
    nn_buffer_decl buffers[NN_MAX_LAYER_BUFFERS];
    const nn_device *device; /* in, ABI 0.4: where the tensors will live (never NULL) */
    /* out, ABI 0.9: how forward reduces the rows, NN_LOSS_MEAN (0, what an older plugin
     * leaves) or NN_LOSS_SUM. The core combines the parts of a batch with it ([train]
     * replicas, mpirun processes, [train] accumulate micro-batches): means weighted by their
     * rows, sums added as they are. */
    intptr_t reduction;
    /* in, ABI 0.10: the layer whose output pred is, as the model file names it, and its
     * plugin's name ("softmax"), for a loss that needs a certain kind of input (nll takes
     * log-probabilities); either may be NULL (a harness without a model, an older core) */
    const char *pred_layer;
    const char *pred_layer_type;
    const void *reserved[4];
} nn_loss_setup;

/* nn_loss_setup.reduction */
enum {
    NN_LOSS_MEAN = 0, /* the batch's loss is a mean over its rows (or its elements) */
    NN_LOSS_SUM = 1   /* the batch's loss is a sum over its rows */
};

typedef struct nn_loss_io {
    uint32_t struct_size;
    const nn_tensor *pred;
    const nn_tensor *target;
    nn_tensor *grad_pred; /* NULL: compute the value only (evaluation) */
    nn_tensor *buffers[NN_MAX_LAYER_BUFFERS];
    double loss;          /* out: the reduced loss of the batch (host devices) */
    const nn_device *device; /* ABI 0.4: as in setup; never NULL */
    /* ABI 0.4, NULL on the host: on another device the loss goes into this F32 [1] device
     * tensor instead of `loss`, so the core can read it without a synchronisation of its own */
    nn_tensor *loss_out;
    const void *reserved[6];
} nn_loss_io;

typedef struct nn_loss_vtable {
    NN_VTABLE_COMMON;
    /* required: check that pred and target fit (NN_ESHAPE naming both shapes otherwise) */
    int (*setup)(void *self, nn_loss_setup *s, nn_error *err);
    /* required: io->loss, and io->grad_pred when not NULL. A target out of range (a class id
     * >= classes) is NN_EINVAL naming the sample index, never a silent wrong value. */
    int (*forward)(void *self, nn_loss_io *io, nn_error *err);
    const void *reserved[8];
} nn_loss_vtable;

#ifdef __cplusplus
}
#endif
#endif
