/* gru.c: the layer plugin "gru", PyTorch's nn.GRU(input_size, hidden_size, num_layers,
 * bidirectional, dropout, batch_first=True) on oneDNN's linear-before-reset GRU primitive
 * (lbr_gru: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), which is PyTorch's GRU; oneDNN's
 * plain gru is not), with PyTorch's state-dict names and layouts (weight_ih_l0 [3H, C] in
 * gate order r, z, n, ...). Zero initial states. The work is in plugins/common/nn_seq_rnn.c
 * (shared with lstm); forward/backward never allocate. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq_rnn.h"
#include "nn_seq_export.h"
#include "nn_seq_rnn_params.h"

static int gru_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_seq_rnn_create(NN_RNN_GRU, p, self, err);
}

static const nn_param_spec gru_params[] = {NN_SEQ_RNN_PARAMS, {.name = NULL}};

static const nn_layer_vtable gru_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = gru_create,
    .destroy = nn_seq_rnn_free,
    .setup = nn_seq_rnn_layer_setup,
    .bind = nn_seq_rnn_layer_bind,
    .forward = nn_seq_rnn_layer_forward,
    .backward = nn_seq_rnn_layer_backward,
    .export_as = nn_seq_rnn_layer_export, /* optional: ONNX */
};

static const nn_plugin_desc gru_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "gru", .version = "1.0.0", .license = "MIT",
    .summary = "GRU over batch-first [N, T, C] as PyTorch's nn.GRU(batch_first=True): stacked, "
               "bidirectional, PyTorch weight names (oneDNN lbr_gru)",
    .caps = NN_CAP_BACKWARD, .params = gru_params, .vtable = &gru_vtable);

NN_PLUGIN_EXPORT(&gru_desc);
