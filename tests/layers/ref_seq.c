/* ref_seq.c: the naive references of ref_seq.h, written from the PyTorch documentation's
 * formulas, loop by loop. Test code: it allocates freely. */
#include "ref_seq.h"

#include <math.h>
#include <stdlib.h>

/* y[r, o] = b[o] + sum_i x[r, i] w[o, i] for o in [o0, o0 + O) of w's rows */
static void linear(const double *x, int64_t rows, int64_t in, const float *w, const float *b,
                   int64_t o0, int64_t O, double *y)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < O; o++) {
            double a = b ? b[o0 + o] : 0;
            for (int64_t i = 0; i < in; i++)
                a += x[r * in + i] * w[(o0 + o) * in + i];
            y[r * O + o] = a;
        }
}

void ref_mha(const double *x, const double *kv, int64_t N, int64_t T, int64_t S, int64_t E,
             int64_t H, const float *in_w, const float *in_b, const float *out_w,
             const float *out_b, int causal, const unsigned char *pad, double *out)
{
    int64_t d = E / H;
    double *q = malloc(sizeof *q * (size_t)(N * T * E)), *k = malloc(sizeof *k * (size_t)(N * S * E));
    double *v = malloc(sizeof *v * (size_t)(N * S * E)), *ctx = malloc(sizeof *ctx * (size_t)(N * T * E));
    double *w = malloc(sizeof *w * (size_t)S);
    linear(x, N * T, E, in_w, in_b, 0, E, q);
    linear(kv, N * S, E, in_w, in_b, E, E, k);
    linear(kv, N * S, E, in_w, in_b, 2 * E, E, v);
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t s = 0; s < S; s++) {
                    double a = 0;
                    for (int64_t j = 0; j < d; j++)
                        a += q[(n * T + t) * E + h * d + j] * k[(n * S + s) * E + h * d + j];
                    int masked = (causal && s > t) || (pad && pad[n * S + s]);
                    w[s] = masked ? -INFINITY : a / sqrt((double)d);
                    mx = fmax(mx, w[s]);
                }
                for (int64_t s = 0; s < S; s++)
                    sum += (w[s] = isinf(w[s]) ? 0 : exp(w[s] - mx));
                for (int64_t j = 0; j < d; j++) {
                    double a = 0;
                    for (int64_t s = 0; s < S && sum > 0; s++)
                        a += w[s] / sum * v[(n * S + s) * E + h * d + j];
                    ctx[(n * T + t) * E + h * d + j] = a;
                }
            }
    linear(ctx, N * T, E, out_w, out_b, 0, E, out);
    free(q);
    free(k);
    free(v);
    free(ctx);
    free(w);
}

void ref_ln(const double *x, double *y, int64_t rows, int64_t D, const float *g, const float *b,
            double eps)
{
    for (int64_t r = 0; r < rows; r++) {
        double mu = 0, var = 0;
        for (int64_t j = 0; j < D; j++)
            mu += x[r * D + j];
        mu /= (double)D;
        for (int64_t j = 0; j < D; j++)
            var += (x[r * D + j] - mu) * (x[r * D + j] - mu);
        var /= (double)D;
        for (int64_t j = 0; j < D; j++)
            y[r * D + j] = (x[r * D + j] - mu) / sqrt(var + eps) * g[j] + b[j];
    }
}

static double sigm(double v)
{
    return 1 / (1 + exp(-v));
}

void ref_rnn_dir(int gru, const double *x, int64_t N, int64_t T, int64_t I, int64_t H,
                 const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                 int reverse, double *out, int64_t ow, int64_t off)
{
    int64_t G = gru ? 3 : 4;
    double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c);
    double *gi = malloc(sizeof *gi * (size_t)(G * H)), *gh = malloc(sizeof *gh * (size_t)(G * H));
    for (int64_t n = 0; n < N; n++) {
        for (int64_t j = 0; j < H; j++)
            h[j] = c[j] = 0;
        for (int64_t s = 0; s < T; s++) {
            int64_t t = reverse ? T - 1 - s : s;
            const double *xt = x + (n * T + t) * I;
            for (int64_t r = 0; r < G * H; r++) { /* x and h halves apart: GRU needs them so */
                double a = b_ih[r], b = b_hh[r];
                for (int64_t i = 0; i < I; i++)
                    a += w_ih[r * I + i] * xt[i];
                for (int64_t i = 0; i < H; i++)
                    b += w_hh[r * H + i] * h[i];
                gi[r] = a;
                gh[r] = b;
            }
            for (int64_t j = 0; j < H; j++) {
                if (gru) {
                    double rr = sigm(gi[j] + gh[j]), z = sigm(gi[H + j] + gh[H + j]);
                    double nn = tanh(gi[2 * H + j] + rr * gh[2 * H + j]);
                    gi[j] = (1 - z) * nn + z * h[j]; /* h' kept in gi until every j is done */
                } else {
                    double ig = sigm(gi[j] + gh[j]), fg = sigm(gi[H + j] + gh[H + j]);
                    double gg = tanh(gi[2 * H + j] + gh[2 * H + j]);
                    double og = sigm(gi[3 * H + j] + gh[3 * H + j]);
                    c[j] = fg * c[j] + ig * gg;
                    gi[j] = og * tanh(c[j]);
                }
            }
            for (int64_t j = 0; j < H; j++) {
                h[j] = gi[j];
                out[(n * T + t) * ow + off + j] = h[j];
            }
        }
    }
    free(h);
    free(c);
    free(gi);
    free(gh);
}
