/* nn_conv_bwdw_blk.h: the weight and bias gradients of a 2-D convolution with few input
 * channels (an image's 1 or 3), from a plain f32 input [N][IC][H][W] and dLoss/dz in oneDNN's
 * channel-blocked layout (nChw8c or nChw16c), on CPUs with AVX2 and FMA. oneDNN 2.6 has only
 * its reference kernel for this case on AVX2, or a jit one on a copy of the input padded to 8
 * channels: 8x the work for one channel. Private to libnn_dnnl (nn_dnnl_conv.c uses it). */
#ifndef NN_CONV_BWDW_BLK_H
#define NN_CONV_BWDW_BLK_H

#include <stdint.h>

typedef struct nn_conv_bwdw_geom {
    int64_t n, ic, ih, iw;         /* the input */
    int64_t oc, oh, ow;            /* the output (its channels padded to `lanes` in dy) */
    int64_t kh, kw, sh, sw, dh, dw; /* window, stride, dilation (1: none) */
    int64_t ph, pw;                /* top and left padding */
    int lanes;                     /* dy's channel block: 8 or 16 */
} nn_conv_bwdw_geom;

/* what both of libnn_dnnl's weight-gradient kernels (this one and nn_conv_bwdw_nchwc.h) need:
 * a CPU with AVX2 and FMA, dy's channel block 8 or 16, and sizes that are all positive */
static inline int nn_conv_bwdw_geom_ok(const nn_conv_bwdw_geom *g)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           (g->lanes == 8 || g->lanes == 16) && g->n > 0 && g->ic > 0 && g->ih > 0 &&
           g->iw > 0 && g->oc > 0 && g->oh > 0 && g->ow > 0 && g->kh > 0 && g->kw > 0 &&
           g->sh > 0 && g->sw > 0 && g->dh > 0 && g->dw > 0;
#else
    (void)g;
    return 0;
#endif
}

/* 1 when nn_conv_bwdw_blk() runs g on this CPU (AVX2 and FMA, a window and a padded row that
 * fit its stack buffers), else 0: use oneDNN */
int nn_conv_bwdw_blk_fits(const nn_conv_bwdw_geom *g);

/* dw [OC][IC][KH][KW] and db [OC] (NULL: no bias) overwritten with the sums over the batch */
void nn_conv_bwdw_blk(const nn_conv_bwdw_geom *g, const float *x, const float *dy, float *dw,
                      float *db);

#endif
