/* test_gru.c: the gru layer, through the tests it shares with lstm (rnn_tests.h) against
 * ref_seq's GRU cell (gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)), PyTorch's
 * formulation). PyTorch's own numbers: test_torch_compat.c. */
#define RNN_SUITE gru
#define RNN_PLUGIN "gru"
#define RNN_GRU 1
#include "rnn_tests.h"
