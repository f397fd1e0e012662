/* lstm.c: the layer plugin "lstm", PyTorch's nn.LSTM(input_size, hidden_size, num_layers,
 * bidirectional, dropout, batch_first=True) on oneDNN's RNN primitives, with PyTorch's
 * state-dict names and layouts (weight_ih_l0 [4H, C], weight_hh_l0 [4H, H], bias_ih_l0,
 * bias_hh_l0, ..._reverse; gates i, f, g, o). Zero initial states. The work is in
 * plugins/common/nn_seq_rnn.c (shared with gru); forward/backward never allocate. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq_rnn.h"
#include "nn_seq_export.h"
#include "nn_seq_rnn_params.h"

static int lstm_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_seq_rnn_create(NN_RNN_LSTM, p, self, err);
}

static const nn_param_spec lstm_params[] = {NN_SEQ_RNN_PARAMS, {.name = NULL}};

static const nn_layer_vtable lstm_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = lstm_create,
    .destroy = nn_seq_rnn_free,
    .setup = nn_seq_rnn_layer_setup,
    .bind = nn_seq_rnn_layer_bind,
    .forward = nn_seq_rnn_layer_forward,
    .backward = nn_seq_rnn_layer_backward,
    .export_as = nn_seq_rnn_layer_export, /* optional: ONNX */
};

static const nn_plugin_desc lstm_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "lstm", .version = "1.0.0", .license = "MIT",
    .summary = "LSTM over batch-first [N, T, C] as PyTorch's nn.LSTM(batch_first=True): "
               "stacked, bidirectional, PyTorch weight names (oneDNN RNN)",
    .caps = NN_CAP_BACKWARD, .params = lstm_params, .vtable = &lstm_vtable);

NN_PLUGIN_EXPORT(&lstm_desc);
