/* ref_conv.c: see ref_conv.h */
#include "ref_conv.h"

#include <math.h>
#include <stdio.h>

int64_t ref_conv_out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p)
{
    return (in + 2 * p - ((k - 1) * d + 1)) / s + 1;
}

/* element (n, o, i, j) of dLoss/dz */
static float dz(const ref_conv *r, const float *dy, int64_t n, int64_t o, int64_t i, int64_t j)
{
    int64_t L = r->lanes, blocks = (r->f + L - 1) / L;
    return dy[((n * blocks + o / L) * r->oh * r->ow + i * r->ow + j) * L + o % L];
}

double ref_conv_dw(const ref_conv *r, const float *x, const float *dy, int64_t o, int64_t ci,
                   int64_t u, int64_t v)
{
    double s = 0;
    for (int64_t n = 0; n < r->n; n++)
        for (int64_t i = 0; i < r->oh; i++)
            for (int64_t j = 0; j < r->ow; j++) {
                int64_t hi = i * r->sh - r->ph + u * r->dh, wi = j * r->sw - r->pw + v * r->dw;
                if (hi >= 0 && hi < r->h && wi >= 0 && wi < r->w)
                    s += (double)dz(r, dy, n, o, i, j) *
                         x[((n * r->c + ci) * r->h + hi) * r->w + wi];
            }
    return s;
}

double ref_conv_db(const ref_conv *r, const float *dy, int64_t o)
{
    double s = 0;
    for (int64_t n = 0; n < r->n; n++)
        for (int64_t i = 0; i < r->oh; i++)
            for (int64_t j = 0; j < r->ow; j++)
                s += dz(r, dy, n, o, i, j);
    return s;
}

double ref_conv_worst(const ref_conv *r, const float *x, const float *dy, const float *dw,
                      const float *db, char *where, size_t cap)
{
    double worst = 0;
    for (int64_t o = 0; o < r->f; o++) {
        if (db) {
            double want = ref_conv_db(r, dy, o), e = fabs(db[o] - want) / (1 + fabs(want));
            if (e > worst) {
                worst = e;
                snprintf(where, cap, "db[%lld] = %g, want %g", (long long)o, db[o], want);
            }
        }
        for (int64_t ci = 0; ci < r->c; ci++)
            for (int64_t u = 0; u < r->kh; u++)
                for (int64_t v = 0; v < r->kw; v++) {
                    double want = ref_conv_dw(r, x, dy, o, ci, u, v);
                    float got = dw[((o * r->c + ci) * r->kh + u) * r->kw + v];
                    double e = fabs(got - want) / (1 + fabs(want));
                    if (!(e <= worst)) { /* NaN counts as worst */
                        worst = isnan(e) ? INFINITY : e;
                        snprintf(where, cap, "dw[%lld][%lld][%lld][%lld] = %g, want %g",
                                 (long long)o, (long long)ci, (long long)u, (long long)v, got,
                                 want);
                    }
                }
    }
    return worst;
}
