/* nn_seq.c: arena regions, views, the padding input, seeded dropout and row layer norm of
 * libnn_seq.a (see nn_seq.h). Plain C; the per-step functions never allocate. */
#define _POSIX_C_SOURCE 200809L
#include "nn_seq.h"

#include <math.h>
#include <string.h>

#include <nntrain/rng.h>

/* ---- arena ----------------------------------------------------------------------------- */

void nn_seq_arena_init(nn_seq_arena *a, int training)
{
    memset(a, 0, sizeof *a);
    a->training = training;
    a->buf_saved = a->buf_work = -1;
}

static int64_t round16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

nn_seq_region nn_seq_take(nn_seq_arena *a, int phase, int64_t n)
{
    nn_seq_region r = {.saved = 0, .off = 0, .n = n};
    if (phase == NN_SEQ_KEEP && a->training) {
        r.saved = 1;
        r.off = a->saved;
        a->saved += round16(n);
    } else if (phase == NN_SEQ_BWD) {
        r.off = a->bwd;
        a->bwd += round16(n);
    } else { /* forward scratch, and what an eval plan would have kept */
        r.off = a->fwd;
        a->fwd += round16(n);
    }
    return r;
}

int nn_seq_arena_declare(nn_seq_arena *a, nn_layer_setup *s, nn_error *err)
{
    int64_t work = a->fwd > a->bwd ? a->fwd : a->bwd;
    a->buf_saved = a->buf_work = -1;
    if (a->saved > 0 &&
        (a->buf_saved = nn_layer_add_buffer(s, "saved", NN_BUF_SAVED, NN_F32, 1, &a->saved)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': no buffer slot left for 'saved'",
                            s->layer_name);
    if (work > 0 &&
        (a->buf_work = nn_layer_add_buffer(s, "work", NN_BUF_WORKSPACE, NN_F32, 1, &work)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': no buffer slot left for 'work'",
                            s->layer_name);
    return NN_OK;
}

float *nn_seq_at(const nn_seq_arena *a, const nn_layer_io *io, nn_seq_region r)
{
    int b = r.saved ? a->buf_saved : a->buf_work;
    if (b < 0 || !io->buffers[b])
        return NULL;
    return NN_F32P(io->buffers[b]) + r.off;
}

/* ---- views ----------------------------------------------------------------------------- */

void nn_seq_view_set(nn_seq_view *v, const nn_tensor *base, int64_t off, int64_t n)
{
    memset(v, 0, sizeof *v);
    nn_tensor_describe(&v->t, NN_F32, 1, &n);
    v->t.name = base->name;
    v->base = base;
    v->off = off;
    nn_seq_views_sync(v, 1);
}

int nn_seq_view_region(nn_seq_view *v, const nn_seq_arena *a, const nn_layer_io *io,
                       nn_seq_region r, const char *layer, nn_error *err)
{
    int b = r.saved ? a->buf_saved : a->buf_work;
    if (b < 0 || !io->buffers[b])
        return nn_error_set(err, NN_EINTERNAL,
                            "layer '%s': the plan gave no %s buffer for a region of %lld floats",
                            layer, r.saved ? "saved" : "work", (long long)r.n);
    nn_seq_view_set(v, io->buffers[b], r.off, r.n);
    return NN_OK;
}

void nn_seq_views_sync(nn_seq_view *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (!v[i].base)
            continue;
        v[i].t.dl.data = v[i].base->dl.data;
        v[i].t.dl.byte_offset = v[i].base->dl.byte_offset + (uint64_t)v[i].off * sizeof(float);
        v[i].t.dl.device = v[i].base->dl.device;
    }
}

/* ---- padding --------------------------------------------------------------------------- */

int nn_seq_pad_setup(nn_seq_pad *p, const nn_tensor *t, int64_t N, int64_t S, int64_t pad_id,
                     const char *layer, nn_error *err)
{
    char buf[96];
    int dt = nn_tensor_dtype(t);
    memset(p, 0, sizeof *p);
    p->dtype = dt;
    p->pad_id = pad_id;
    p->S = S;
    int integer = dt == NN_I32 || dt == NN_I64;
    if (t->dl.ndim == 2 && t->shape[0] == N && t->shape[1] == S && (integer || dt == NN_F32)) {
        p->kind = integer ? NN_SEQ_PAD_IDS : NN_SEQ_PAD_MASK;
        return NN_OK;
    }
    if (t->dl.ndim == 1 && t->shape[0] == N && (integer || dt == NN_F32)) {
        p->kind = NN_SEQ_PAD_LENGTHS;
        return NN_OK;
    }
    return nn_error_set(err, NN_ESHAPE,
                        "layer '%s': the padding input %s must be [%lld, %lld] token ids "
                        "(I32/I64) or an F32 mask, or [%lld] lengths",
                        layer, nn_shape_str(t, buf, sizeof buf), (long long)N, (long long)S,
                        (long long)N);
}

/* ---- dropout --------------------------------------------------------------------------- */

uint64_t nn_seq_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void nn_seq_dropout(float *y, const float *x, int64_t rows, int64_t per, double p,
                    uint64_t seed, uint64_t stream)
{
    if (p <= 0) {
        if (y != x)
            memmove(y, x, (size_t)(rows * per) * sizeof *y);
        return;
    }
    /* keep when a 32-bit draw >= p * 2^32 (exact to 2^-32), two draws per 64-bit number */
    const uint64_t threshold = (uint64_t)(p * 4294967296.0);
    const float scale = (float)(1.0 / (1.0 - p));
    for (int64_t r = 0; r < rows; r++) {
        nn_rng g;
        nn_rng_init(&g, seed, stream, (uint64_t)r, 0);
        const float *xr = x + r * per;
        float *yr = y + r * per;
        int64_t i = 0;
        for (; i + 1 < per; i += 2) {
            uint64_t u = nn_rng_u64(&g);
            yr[i] = (u & 0xffffffffu) >= threshold ? xr[i] * scale : 0.0f;
            yr[i + 1] = (u >> 32) >= threshold ? xr[i + 1] * scale : 0.0f;
        }
        if (i < per)
            yr[i] = (nn_rng_u64(&g) & 0xffffffffu) >= threshold ? xr[i] * scale : 0.0f;
    }
}

/* ---- layer norm ------------------------------------------------------------------------ */

void nn_seq_ln_forward(const float *x, float *y, const float *g, const float *b, float *mean,
                       float *rstd, int64_t rows, int64_t D, double eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        /* two passes in double: the variance of float rows without cancellation */
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < D; j++)
            s += xr[j];
        double mu = s / (double)D;
        for (int64_t j = 0; j < D; j++)
            s2 += (xr[j] - mu) * (xr[j] - mu);
        double inv = 1.0 / sqrt(s2 / (double)D + eps);
        for (int64_t j = 0; j < D; j++) {
            double v = (xr[j] - mu) * inv;
            yr[j] = (float)(g ? v * g[j] + (b ? b[j] : 0) : v);
        }
        if (mean)
            mean[r] = (float)mu;
        if (rstd)
            rstd[r] = (float)inv;
    }
}

void nn_seq_ln_backward(const float *x, const float *dy, const float *g, const float *mean,
                        const float *rstd, float *dx, float *dg, float *db, int64_t rows,
                        int64_t D)
{
    if (dg)
        memset(dg, 0, (size_t)D * sizeof *dg);
    if (db)
        memset(db, 0, (size_t)D * sizeof *db);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D, *dyr = dy + r * D;
        double mu = mean[r], inv = rstd[r];
        double sum_d = 0, sum_dx = 0; /* sums of dxhat and dxhat * xhat */
        for (int64_t j = 0; j < D; j++) {
            double xh = (xr[j] - mu) * inv;
            double dxh = dyr[j] * (g ? g[j] : 1.0);
            sum_d += dxh;
            sum_dx += dxh * xh;
            if (dg)
                dg[j] += (float)(dyr[j] * xh);
            if (db)
                db[j] += dyr[j];
        }
        if (!dx)
            continue;
        float *dxr = dx + r * D;
        double md = sum_d / (double)D, mdx = sum_dx / (double)D;
        for (int64_t j = 0; j < D; j++) {
            double xh = (xr[j] - mu) * inv;
            double dxh = dyr[j] * (g ? g[j] : 1.0);
            dxr[j] = (float)(inv * (dxh - md - xh * mdx));
        }
    }
}
