/* ref_seq.h: naive double-precision references shared by the attention and transformer
 * tests (multi-head attention as torch.nn.MultiheadAttention, layer norm). Test code. */
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

#endif
