/* nn_seq_rnn_layer.c: the layer vtable functions that lstm.c and gru.c both export (see
 * nn_seq_rnn_params.h): keys parsed into an nn_seq_rnn_cfg, then nn_seq_rnn does the work. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "nn_seq_rnn.h"
#include "nn_seq_rnn_params.h"

int nn_seq_rnn_create(int cell, const nn_params *p, void **self, nn_error *err)
{
    nn_seq_rnn *r = calloc(1, sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory",
                            cell == NN_RNN_LSTM ? "lstm" : "gru");
    r->cfg.cell = cell;
    r->cfg.hidden = nn_params_int(p, "hidden_size");
    r->cfg.layers = nn_params_int(p, "num_layers");
    r->cfg.bidirectional = nn_params_bool(p, "bidirectional");
    r->cfg.return_sequences = nn_params_bool(p, "return_sequences");
    r->cfg.dropout = nn_params_float(p, "dropout");
    *self = r;
    return NN_OK;
}

void nn_seq_rnn_free(void *self)
{
    nn_seq_rnn_destroy(self);
    free(self);
}

int nn_seq_rnn_layer_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    nn_seq_rnn *r = self;
    nn_seq_rnn_cfg cfg = r->cfg;
    return nn_seq_rnn_setup(r, &cfg, s, err);
}

int nn_seq_rnn_layer_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    return nn_seq_rnn_bind(self, io, err);
}

int nn_seq_rnn_layer_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    nn_seq_rnn *r = self;
    int rc;
    if (!r->l[0].fwd.prim && (rc = nn_seq_rnn_bind(r, io, err)))
        return rc;
    return nn_seq_rnn_forward(r, io, err);
}

int nn_seq_rnn_layer_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    return nn_seq_rnn_backward(self, io, err);
}
