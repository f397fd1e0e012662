/* nn_resize.c: separable-weight resampling of an image window (see nn_resize.h). The taps of
 * each axis follow PyTorch's interpolate (classic, antialias off) and Pillow's resampling
 * (antialias on); it must never allocate or read outside the window. */
#include "nn_resize.h"

#include <math.h>

/* Keys' cubic convolution kernel */
static double cubic(double x, double a)
{
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static int64_t clampi(int64_t i, int64_t len)
{
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

int64_t nn_rs_taps_needed(nn_rs_filter f, int antialias, int64_t in, int64_t out)
{
    double scale = (double)in / (double)out;
    if (f == NN_RS_NEAREST)
        return 1;
    if (f == NN_RS_AREA)
        return (int64_t)ceil(scale) + 1;
    if (!antialias)
        return f == NN_RS_BILINEAR ? 2 : 4;
    double support = (f == NN_RS_BILINEAR ? 1.0 : 2.0) * (scale > 1.0 ? scale : 1.0);
    return 2 * (int64_t)ceil(support) + 1;
}

/* The taps of output coordinate x along an axis of len window pixels resized to out: source
 * indices (window-relative) in idx, weights summing to 1 in w. returns their count. */
static int axis_taps(nn_rs_filter f, int aa, int64_t len, int64_t out, int64_t x, int64_t *idx,
                     float *w)
{
    double scale = (double)len / (double)out, center = ((double)x + 0.5) * scale;
    double wt[NN_RS_MAX_TAPS], sum = 0.0;
    int n = 0;
    if (f == NN_RS_NEAREST) {
        idx[0] = clampi((int64_t)floor(center), len);
        w[0] = 1.0f;
        return 1;
    }
    if (f == NN_RS_AREA) { /* the footprint [x, x + 1) * scale, by covered length */
        double lo = (double)x * scale, hi = (double)(x + 1) * scale;
        for (int64_t i = (int64_t)floor(lo); i < len && (double)i < hi; i++) {
            double cover = (hi < (double)(i + 1) ? hi : (double)(i + 1)) -
                           (lo > (double)i ? lo : (double)i);
            if (cover > 0.0) {
                idx[n] = i;
                sum += wt[n++] = cover;
            }
        }
    } else if (!aa) { /* PyTorch: the source point, its 2 or 4 neighbours, edges repeated */
        double s = center - 0.5;
        if (f == NN_RS_BILINEAR && s < 0.0)
            s = 0.0;
        double fl = floor(s), t = s - fl;
        int64_t i0 = (int64_t)fl;
        if (f == NN_RS_BILINEAR) {
            idx[0] = clampi(i0, len);
            idx[1] = clampi(i0 + 1, len);
            wt[0] = 1.0 - t;
            wt[1] = t;
            n = 2;
        } else {
            for (int k = 0; k < 4; k++) {
                idx[k] = clampi(i0 - 1 + k, len);
                wt[k] = cubic(t + 1.0 - k, -0.75);
            }
            n = 4;
        }
        sum = 1.0;
    } else { /* Pillow: the kernel stretched by the shrink factor, cut at the edges */
        double ss = scale > 1.0 ? scale : 1.0;
        double support = (f == NN_RS_BILINEAR ? 1.0 : 2.0) * ss;
        int64_t lo = (int64_t)floor(center - support + 0.5);
        int64_t hi = (int64_t)floor(center + support + 0.5);
        for (int64_t i = lo < 0 ? 0 : lo; i < (hi > len ? len : hi); i++) {
            double d = ((double)i - center + 0.5) / ss;
            double k = f == NN_RS_BICUBIC ? cubic(d, -0.5) : fabs(d) < 1.0 ? 1.0 - fabs(d) : 0.0;
            idx[n] = i;
            sum += wt[n++] = k;
        }
    }
    for (int k = 0; k < n; k++)
        w[k] = (float)(sum != 0.0 ? wt[k] / sum : 0.0);
    return n;
}

/* One output pixel of every channel from its taps, for source element type T. */
#define RS_PIXEL(T)                                                                            \
    do {                                                                                       \
        const T *b_ = (const T *)src->base;                                                    \
        for (int c = 0; c < src->c; c++) {                                                     \
            float acc = 0.0f;                                                                  \
            for (int a = 0; a < ny; a++) {                                                     \
                const T *row = b_ + c * src->cs + (y0 + yi[a]) * src->ys + x0 * src->xs;       \
                float r = 0.0f;                                                                \
                for (int k = 0; k < nx; k++)                                                   \
                    r += wx[k] * (float)row[xi[k] * src->xs];                                  \
                acc += wy[a] * r;                                                              \
            }                                                                                  \
            if (src->u8)                                                                       \
                acc = acc < 0.0f ? 0.0f : acc > 255.0f ? 255.0f : acc;                         \
            dst[(c * oh + y) * ow + x] = acc * mul;                                            \
        }                                                                                      \
    } while (0)

int nn_resize(const nn_rs_src *src, int64_t y0, int64_t x0, int64_t h, int64_t w, float *dst,
              int64_t oh, int64_t ow, nn_rs_filter f, int antialias, float mul)
{
    if (nn_rs_taps_needed(f, antialias, h, oh) > NN_RS_MAX_TAPS ||
        nn_rs_taps_needed(f, antialias, w, ow) > NN_RS_MAX_TAPS)
        return -1;
    int64_t yi[NN_RS_MAX_TAPS], xi[NN_RS_MAX_TAPS];
    float wy[NN_RS_MAX_TAPS], wx[NN_RS_MAX_TAPS];
    for (int64_t y = 0; y < oh; y++) {
        int ny = axis_taps(f, antialias, h, oh, y, yi, wy);
        for (int64_t x = 0; x < ow; x++) {
            int nx = axis_taps(f, antialias, w, ow, x, xi, wx);
            if (src->u8)
                RS_PIXEL(uint8_t);
            else
                RS_PIXEL(float);
        }
    }
    return 0;
}
