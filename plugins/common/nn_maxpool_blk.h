/* nn_maxpool_blk.h: max pooling on oneDNN's channel-blocked and channels-last layouts, f32 or
 * bf16, forward and backward. A tensor is `planes` planes of [H][W][pix] elements, a pixel's
 * channels `pix` apart from the next pixel's (the loops take them 8 at a time):
 *   nChw8c / nChw16c ([N][C/L][H][W][L], channels zero-padded to a multiple of L):
 *     planes = N * C/L, pix = lanes = L;
 *   nhwc ([N][H][W][C], what oneDNN's bf16 and brgconv kernels pick), C a multiple of lanes:
 *     planes = N, pix = C, lanes = 16 (8 where C is not a multiple of 16).
 * Private to libnn_dnnl (nn_dnnl_pool.c uses it where it applies). */
#ifndef NN_MAXPOOL_BLK_H
#define NN_MAXPOOL_BLK_H

#include <stdint.h>

typedef struct nn_maxpool_geom {
    int64_t planes;          /* one [H][W][pix] plane each */
    int64_t ih, iw, oh, ow;  /* input and output sizes */
    int64_t kh, kw, sh, sw;  /* window and stride */
    int64_t ph, pw;          /* top and left padding (never more than half the window) */
    int lanes;               /* L of the layout: 8 or 16 */
    int64_t pix;             /* elements from one pixel to the next: a multiple of L; 0 = L */
    int bf16;                /* elements are bf16 (else f32) */
} nn_maxpool_geom;

/* whether the loops take g: lanes 8 or 16, pix a positive multiple of them (or 0) */
int nn_maxpool_blk_fits(const nn_maxpool_geom *g);

/* y = the maximum of each window; padding never wins, and a NaN never does either (as in
 * oneDNN's kernels). bf16 values are compared as the floats they are, and stored unchanged */
void nn_maxpool_blk_forward(const nn_maxpool_geom *g, const void *x, void *y);

/* dx = dy scattered to each window's argmax, the first maximum in window order (row by row),
 * recomputed from the forward's input x, so that no argmax is kept between the passes;
 * overlapping windows add up (in float, then rounded to nearest even under bf16). A window
 * with no maximum (all NaN) sends its gradient to its first element, as oneDNN's does.
 * relu: x is a ReLU's output and dx gets its derivative too (dx = 0 where x <= 0 or is NaN):
 * a window whose maximum is not positive sends nothing. */
void nn_maxpool_blk_backward(const nn_maxpool_geom *g, const void *x, const void *dy, void *dx,
                             int relu);

#endif
