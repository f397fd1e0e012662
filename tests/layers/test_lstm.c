/* test_lstm.c: the lstm layer, through the tests it shares with gru (rnn_tests.h) against
 * ref_seq's LSTM cell (gates i, f, g, o). PyTorch's own numbers: test_torch_compat.c. */
#define RNN_SUITE lstm
#define RNN_PLUGIN "lstm"
#define RNN_GRU 0
#include "rnn_tests.h"
