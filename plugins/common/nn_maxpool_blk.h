/* nn_maxpool_blk.h: max pooling in f32 on oneDNN's channel-blocked layouts (nChw8c, nChw16c:
 * [N][C/L][H][W][L], the channels zero-padded to a multiple of L), forward and backward.
 * Private to libnn_dnnl (nn_dnnl_pool.c uses it where it applies). */
#ifndef NN_MAXPOOL_BLK_H
#define NN_MAXPOOL_BLK_H

#include <stdint.h>

typedef struct nn_maxpool_geom {
    int64_t planes;          /* N * C/L: one [H][W][L] plane each */
    int64_t ih, iw, oh, ow;  /* input and output sizes */
    int64_t kh, kw, sh, sw;  /* window and stride */
    int64_t ph, pw;          /* top and left padding (never more than half the window) */
    int lanes;               /* L: 8 or 16 */
} nn_maxpool_geom;

/* y = the maximum of each window; padding never wins, and a NaN never does either (as in
 * oneDNN's kernels) */
void nn_maxpool_blk_forward(const nn_maxpool_geom *g, const float *x, float *y);

/* dx = dy scattered to each window's argmax, the first maximum in window order (row by row),
 * recomputed from the forward's input x, so that no argmax is kept between the passes;
 * overlapping windows add up. A window with no maximum (all NaN) sends its gradient to its
 * first element, as oneDNN's does. relu: x is a ReLU's output and dx gets its derivative too
 * (dx = 0 where x <= 0 or is NaN): a window whose maximum is not positive sends nothing. */
void nn_maxpool_blk_backward(const nn_maxpool_geom *g, const float *x, const float *dy,
                             float *dx, int relu);

#endif
