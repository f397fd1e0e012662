/* nn_seq_rnn_params.h: the schema keys and the layer vtable functions that the lstm and gru
 * plugins share (they differ only in the cell); implemented in nn_seq_rnn_layer.c. */
#ifndef NN_SEQ_RNN_PARAMS_H
#define NN_SEQ_RNN_PARAMS_H

#include <nntrain/layer.h>
#include <nntrain/params.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_SEQ_RNN_PARAMS                                                                       \
    {.name = "hidden_size", .type = NN_PARAM_INT, .required = 1, .range = "[1, inf)",          \
     .doc = "features H of the hidden state (per direction)"},                                  \
    {.name = "num_layers", .type = NN_PARAM_INT, .def = "1", .range = "[1, 16]",               \
     .doc = "stacked layers; layer l > 0 reads layer l - 1's output (num_layers x directions "  \
            "x 4 parameters must stay <= 64)"},                                                 \
    {.name = "bidirectional", .type = NN_PARAM_BOOL, .def = "false",                            \
     .doc = "also run right to left (parameters ..._reverse) and concatenate: H * 2 outputs"},  \
    {.name = "return_sequences", .type = NN_PARAM_BOOL, .def = "true",                          \
     .doc = "true: every step's output [N, T, H * directions] (PyTorch's output); false: the "  \
            "last step's [N, H * directions], i.e. output[:, -1, :] (for bidirectional, the "   \
            "reverse direction there has seen one step only)"},                                 \
    {.name = "dropout", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",                  \
     .doc = "dropout on the outputs of every layer but the last, in training only"}

/* create for cell NN_RNN_LSTM or NN_RNN_GRU; the rest are the vtable's slots */
int nn_seq_rnn_create(int cell, const nn_params *p, void **self, nn_error *err);
void nn_seq_rnn_free(void *self);
int nn_seq_rnn_layer_setup(void *self, nn_layer_setup *s, nn_error *err);
int nn_seq_rnn_layer_bind(void *self, const nn_layer_io *io, nn_error *err);
int nn_seq_rnn_layer_forward(void *self, const nn_layer_io *io, nn_error *err);
int nn_seq_rnn_layer_backward(void *self, const nn_layer_io *io, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
