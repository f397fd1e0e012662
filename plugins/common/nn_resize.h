/* nn_resize.h: resampling a window of an image to a fixed size, shared by image_folder (8-bit
 * decoded pixels) and the resizing transforms (F32 [C, H, W]). Part of libnn_datautil.a.
 * It never allocates: the taps of each output pixel are computed on the fly into stack arrays,
 * so a transform may call it from apply() on any thread. */
#ifndef NN_RESIZE_H
#define NN_RESIZE_H

#include <stdint.h>

typedef enum nn_rs_filter {
    NN_RS_NEAREST,  /* the source pixel under the output pixel's centre */
    NN_RS_BILINEAR, /* 2x2 taps, half-pixel centres (PyTorch align_corners = false, OpenCV) */
    NN_RS_BICUBIC,  /* 4x4 taps, Keys a = -0.75 as PyTorch and OpenCV (a = -0.5 antialiased) */
    NN_RS_AREA,     /* the source pixels the output pixel's footprint covers, each weighted by
                       the area covered (OpenCV's INTER_AREA when shrinking) */
} nn_rs_filter;

/* The names of the filters in schema order, for an enum key. */
#define NN_RS_CHOICES "nearest|bilinear|bicubic|area"

#define NN_RS_MAX_TAPS 1024 /* source pixels one output pixel may read along an axis */

/* How to read the source: element (c, y, x) is at base[c * cs + y * ys + x * xs]. */
typedef struct nn_rs_src {
    const void *base;
    int u8; /* 1: uint8_t elements, 0: float */
    int64_t cs, ys, xs;
    int c;  /* channels */
} nn_rs_src;

/* The window [y0, y0 + h) x [x0, x0 + w) of the source, in whole pixels, resized to dst
 * [c, oh, ow] (F32, contiguous) times mul. antialias (bilinear and bicubic): when shrinking,
 * the filter is widened by the shrink factor as Pillow and torchvision's antialias = True do,
 * with taps cut at the window's edges; otherwise edge pixels repeat. An 8-bit source is
 * clamped to [0, 255] before mul (bicubic overshoots). Edges never read outside the window.
 * returns 0, or -1 when an axis would need more than NN_RS_MAX_TAPS taps (see
 * nn_rs_taps_needed). */
int nn_resize(const nn_rs_src *src, int64_t y0, int64_t x0, int64_t h, int64_t w, float *dst,
              int64_t oh, int64_t ow, nn_rs_filter f, int antialias, float mul);

/* The most taps one axis of in -> out pixels reads (for a check before resizing). */
int64_t nn_rs_taps_needed(nn_rs_filter f, int antialias, int64_t in, int64_t out);

#endif
