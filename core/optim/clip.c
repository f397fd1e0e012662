/* clip.c: gradient clipping by global norm and by value, as torch.nn.utils does it.
 * The norm is summed in float blocks folded into a double so it vectorises and stays exact
 * enough for 10^8 elements. Never allocates; never touches anything but the gradients. */
#include <math.h>
#include <string.h>

#include "clip_internal.h"
#include "optim.h"

/* built for AVX-512, AVX2 and baseline x86-64, picked at load time */
#if defined(__x86_64__) && defined(__GNUC__)
#define CLIP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLIP_CLONES
#endif

#define CLIP_BLOCK 4096 /* floats summed in float before the block's sum joins the double */
#define CLIP_VEC 16     /* floats per vector */
#define CLIP_ACC 4      /* independent sums: one alone waits on its add's latency */

#pragma GCC diagnostic ignored "-Wpsabi" /* vectors pass between always-inlined functions only */
typedef float clip_vec __attribute__((vector_size(CLIP_VEC * sizeof(float))));
#define CLIP_INLINE static inline __attribute__((always_inline))

CLIP_INLINE clip_vec clip_load(const float *p)
{
    clip_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* one block [i, e) of sum_squares_into, but the tail; with_src a constant once inlined, so
 * the loop without sources neither tests nor stores */
CLIP_INLINE int64_t sum_block(clip_vec *acc, float *x, const float *const *src, int n_src,
                              int64_t i, int64_t e, int with_src)
{
    for (; i + CLIP_VEC * CLIP_ACC <= e; i += CLIP_VEC * CLIP_ACC)
        for (int a = 0; a < CLIP_ACC; a++) {
            int64_t at = i + a * CLIP_VEC;
            clip_vec v = clip_load(x + at);
            if (with_src) {
                for (int s = 0; s < n_src; s++)
                    v += clip_load(src[s] + at);
                memcpy(x + at, &v, sizeof v);
            }
            acc[a] += v * v;
        }
    return i;
}

/* the sum of x's squares; with n_src sources, x[i] += src[0][i], then src[1][i], ... first
 * (in that order), the sum being the results' */
CLIP_CLONES
static double sum_squares_into(float *x, const float *const *src, int n_src, int64_t n)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += CLIP_BLOCK) {
        int64_t e = b + CLIP_BLOCK < n ? b + CLIP_BLOCK : n;
        clip_vec acc[CLIP_ACC] = {{0}};
        int64_t i = n_src > 0 ? sum_block(acc, x, src, n_src, b, e, 1)
                              : sum_block(acc, x, src, 0, b, e, 0);
        float tail = 0;
        for (; i < e; i++) {
            for (int s = 0; s < n_src; s++)
                x[i] += src[s][i];
            tail += x[i] * x[i];
        }
        for (int a = 1; a < CLIP_ACC; a++)
            acc[0] += acc[a];
        double part = tail;
        for (int j = 0; j < CLIP_VEC; j++)
            part += acc[0][j];
        total += part;
    }
    return total;
}

double nn_grad_sum_into(float *dst, const float *const *src, int n_src, int64_t n)
{
    return sum_squares_into(dst, src, n_src, n);
}

CLIP_CLONES
static double max_abs(const float *x, int64_t n)
{
    float m = 0;
    int nan = 0;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
        nan |= a != a;
    }
    return nan ? NAN : (double)m;
}

static double total_norm(nn_tensor *const *grads, int n, int norm_type_inf)
{
    double acc = 0;
    for (int k = 0; k < n; k++) {
        float *g = NN_F32P(grads[k]);
        int64_t len = nn_tensor_numel(grads[k]);
        if (norm_type_inf) {
            double m = max_abs(g, len);
            acc = (m > acc || isnan(m)) ? m : acc;
            if (isnan(acc))
                break;
        } else {
            acc += sum_squares_into(g, NULL, 0, len);
        }
    }
    return norm_type_inf ? acc : sqrt(acc);
}

CLIP_CLONES
static void scale(nn_tensor *const *grads, int n, float c)
{
    for (int k = 0; k < n; k++) {
        float *g = NN_F32P(grads[k]);
        int64_t len = nn_tensor_numel(grads[k]);
        for (int64_t i = 0; i < len; i++)
            g[i] *= c;
    }
}

double nn_grad_norm(nn_tensor *const *grads, int n, int norm_type_inf)
{
    return total_norm(grads, n, norm_type_inf);
}

void nn_grad_clip_scale(nn_tensor *const *grads, int n, double norm, double max_norm)
{
    double coef = max_norm / (norm + 1e-6);
    if (max_norm > 0 && coef < 1.0)
        scale(grads, n, (float)coef);
}

double nn_clip_grad_norm(nn_tensor *const *grads, int n, double max_norm, int norm_type_inf)
{
    double norm = total_norm(grads, n, norm_type_inf);
    nn_grad_clip_scale(grads, n, norm, max_norm);
    return norm;
}

CLIP_CLONES
static void clamp(float *g, int64_t len, float lo, float hi)
{
    for (int64_t i = 0; i < len; i++)
        g[i] = g[i] < lo ? lo : (g[i] > hi ? hi : g[i]);
}

void nn_clip_grad_value(nn_tensor *const *grads, int n, double clip)
{
    for (int k = 0; k < n; k++)
        clamp(NN_F32P(grads[k]), nn_tensor_numel(grads[k]), (float)-clip, (float)clip);
}
