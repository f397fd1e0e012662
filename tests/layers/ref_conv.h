/* ref_conv.h: naive double-precision references for a 2-D convolution's weight and bias
 * gradients, shared by test_conv2d.c (through the plugin) and test_conv_bwdw_blk.c (the
 * kernel alone). dLoss/dz may be plain [N][F][OH][OW] (lanes 1) or channel-blocked
 * [N][F/L][OH][OW][L] (lanes L, the channels padded to a multiple of L). */
#ifndef REF_CONV_H
#define REF_CONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_conv {
    int64_t n, c, h, w;         /* the plain input [N][C][H][W] */
    int64_t f, oh, ow;          /* filters and output size */
    int64_t kh, kw, sh, sw, dh, dw, ph, pw;
    int lanes;                  /* dLoss/dz's channel block: 1 = plain */
} ref_conv;

/* the output length of input length `in`, window k, stride s, dilation d, padding p each side */
int64_t ref_conv_out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p);
/* sum over the batch of dLoss/dw[o][ci][u][v] and of dLoss/db[o] */
double ref_conv_dw(const ref_conv *r, const float *x, const float *dy, int64_t o, int64_t ci,
                   int64_t u, int64_t v);
double ref_conv_db(const ref_conv *r, const float *dy, int64_t o);
/* the worst |got - want| / (1 + |want|) over dw [F][C][KH][KW] and db [F] (NULL: none), and
 * where it is, as "dw[o][ci][u][v] = got, want want" */
double ref_conv_worst(const ref_conv *r, const float *x, const float *dy, const float *dw,
                      const float *db, char *where, size_t cap);

#endif
