/* ref_seq.h: naive double-precision references shared by the sequence layers' tests
 * (multi-head attention as torch.nn.MultiheadAttention, layer norm, PyTorch's LSTM and GRU
 * cells). Test code. */
#ifndef NNT_REF_SEQ_H
#define NNT_REF_SEQ_H

#include <stdint.h>

/* out[N, T, E] = MHA(x [N, T, E], kv [N, S, E]) without dropout; in_b/out_b may be NULL;
 * pad [N * S] marks padded keys (NULL: none); a row with every key masked gets zeros */
void ref_mha(const double *x, const double *kv, int64_t N, int64_t T, int64_t S, int64_t E,
             int64_t H, const float *in_w, const float *in_b, const float *out_w,
             const float *out_b, int causal, const unsigned char *pad, double *out);

/* y = LayerNorm(x) over rows of D with scale g and shift b */
void ref_ln(const double *x, double *y, int64_t rows, int64_t D, const float *g, const float *b,
            double eps);

/* One direction of one recurrent layer over x [N, T, I] from zero states, as torch.nn.LSTM
 * (gru = 0; gates i, f, g, o) or torch.nn.GRU (gru = 1; gates r, z, n): w_ih [G*H, I],
 * w_hh [G*H, H]. Writes h_t into out[n, t, off .. off + H) of rows of width ow;
 * reverse runs t = T-1 .. 0. */
void ref_rnn_dir(int gru, const double *x, int64_t N, int64_t T, int64_t I, int64_t H,
                 const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                 int reverse, double *out, int64_t ow, int64_t off);

#endif
