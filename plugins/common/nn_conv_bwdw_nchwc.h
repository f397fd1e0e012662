/* nn_conv_bwdw_nchwc.h: the weight and bias gradients of a 2-D convolution whose input and
 * dLoss/dz are both in oneDNN's channel-blocked layout (nChw8c or nChw16c, the same block),
 * f32, on CPUs with AVX2 and FMA. On the Fashion-MNIST CNN's second layer (32->64, 5x5,
 * 128x14x14) oneDNN 2.6's AVX2 jit kernel took 33.6-36.4 ms at one thread and 16.9 ms at
 * two, this one 31.5-31.7 ms (81 GFLOP/s, ~88% of one core's FMA peak) and 12.9 ms.
 * Private to libnn_dnnl (nn_dnnl_conv.c uses it). */
#ifndef NN_CONV_BWDW_NCHWC_H
#define NN_CONV_BWDW_NCHWC_H

#include "nn_conv_bwdw_blk.h" /* nn_conv_bwdw_geom: lanes is the block of x and of dy */

/* 1 when nn_conv_bwdw_nchwc() runs g on this CPU (AVX2 and FMA, a window of at most
 * NN_CONV_BWDW_NCHWC_TAPS taps), else 0: use oneDNN */
#define NN_CONV_BWDW_NCHWC_TAPS 64
int nn_conv_bwdw_nchwc_fits(const nn_conv_bwdw_geom *g);

/* dw [OC][IC][KH][KW] and db [OC] (NULL: no bias) overwritten with the sums over the batch;
 * x [N][IC/lanes][IH][IW][lanes], dy [N][OC/lanes][OH][OW][lanes] (channels rounded up to
 * whole blocks; what the padded channels hold is never read into dw or db) */
void nn_conv_bwdw_nchwc(const nn_conv_bwdw_geom *g, const float *x, const float *dy, float *dw,
                        float *db);

#endif
