/* nn_seq_attn.c: multi-head attention of libnn_seq.a (see nn_seq_attn.h), as PyTorch's
 * nn.MultiheadAttention: q, k, v = x Wq^T + bq, kv Wk^T + bk, kv Wv^T + bv; per head
 * P = softmax(q k^T / sqrt(d) + mask), dropout(P) v; heads concatenated, then out_proj.
 * A query row whose every key is masked gets zero weights (PyTorch gives NaN there). */
#define _POSIX_C_SOURCE 200809L
#include "nn_seq_attn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void nn_seq_attn_destroy(nn_seq_attn *a)
{
    nn_seq_lin_destroy(&a->in_q);
    nn_seq_lin_destroy(&a->in_kv);
    nn_seq_lin_destroy(&a->out);
    nn_dnnl_op_destroy(&a->scores);
    nn_dnnl_op_destroy(&a->ctx);
    nn_dnnl_op_destroy(&a->b_dpd);
    nn_dnnl_op_destroy(&a->b_dv);
    nn_dnnl_op_destroy(&a->b_dq);
    nn_dnnl_op_destroy(&a->b_dk);
}

static int check_seq(const nn_tensor *t, const char *L, const char *what, nn_error *err)
{
    char buf[96];
    if (t->dl.ndim != 3 || nn_tensor_dtype(t) != NN_F32)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': the %s must be F32 [batch, sequence, embed_dim], got %s",
                            L, what, nn_shape_str(t, buf, sizeof buf));
    return NN_OK;
}

static int add_param(nn_layer_setup *s, const char *prefix, const char *name, int ndim,
                     const int64_t *shape, nn_init init, int64_t fan_in, int64_t fan_out,
                     uint32_t flags, nn_error *err)
{
    char full[NN_NAME_MAX];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int k = nn_layer_add_param(s, full, ndim, shape, init, fan_in, fan_out, flags);
    if (k < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameter '%s'",
                            s->layer_name, full);
    return k;
}

int nn_seq_attn_setup(nn_seq_attn *a, const nn_seq_attn_cfg *cfg, nn_layer_setup *s,
                      const char *prefix, const nn_tensor *x, const nn_tensor *kv,
                      const nn_tensor *pad, nn_seq_arena *ar, nn_error *err)
{
    char b1[96], b2[96];
    const char *L = s->layer_name;
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    a->name = L;
    int rc = check_seq(x, L, "query input", err);
    if (rc || (kv && (rc = check_seq(kv, L, "key/value input", err))))
        return rc;
    int64_t N = x->shape[0], T = x->shape[1], E = x->shape[2], H = cfg->heads;
    if (kv && (kv->shape[0] != N || kv->shape[2] != E))
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': keys/values %s must have the query's batch and "
                            "embed_dim, as the query %s",
                            L, nn_shape_str(kv, b1, sizeof b1), nn_shape_str(x, b2, sizeof b2));
    if (E % H)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': embed_dim %lld (the input's last dim) is not divisible "
                            "by num_heads %lld",
                            L, (long long)E, (long long)H);
    a->self = kv == NULL;
    a->N = N, a->T = T, a->E = E, a->H = H, a->d = E / H;
    a->S = kv ? kv->shape[1] : T;
    if (pad && (rc = nn_seq_pad_setup(&a->pad, pad, N, a->S, cfg->pad_id, L, err)))
        return rc;
    int64_t in_w[2] = {3 * E, E}, in_b = 3 * E, out_w[2] = {E, E};
    a->param[NN_ATTN_IN_B] = a->param[NN_ATTN_OUT_B] = -1;
    /* PyTorch's _reset_parameters: xavier_uniform_ on in_proj_weight (fans E and 3E),
     * biases zero, out_proj.weight keeps Linear's U(-1/sqrt(E), 1/sqrt(E)) */
    if ((rc = a->param[NN_ATTN_IN_W] = add_param(s, prefix, "in_proj_weight", 2, in_w,
                                                 NN_INIT_XAVIER_UNIFORM, E, 3 * E, 0, err)) < 0)
        return rc;
    if (cfg->bias && (rc = a->param[NN_ATTN_IN_B] = add_param(s, prefix, "in_proj_bias", 1,
                                                              &in_b, NN_INIT_ZEROS, E, 3 * E,
                                                              NN_TENSOR_BIAS, err)) < 0)
        return rc;
    if ((rc = a->param[NN_ATTN_OUT_W] = add_param(s, prefix, "out_proj.weight", 2, out_w,
                                                  NN_INIT_FAN_IN_UNIFORM, E, E, 0, err)) < 0)
        return rc;
    if (cfg->bias && (rc = a->param[NN_ATTN_OUT_B] = add_param(s, prefix, "out_proj.bias", 1,
                                                               &E, NN_INIT_ZEROS, E, E,
                                                               NN_TENSOR_BIAS, err)) < 0)
        return rc;
    a->stream = nn_seq_hash(L) * 31u + nn_seq_hash(prefix);

    int64_t NT = N * T, NS = N * a->S, P = N * H * T * a->S;
    a->r_qkv = nn_seq_take(ar, NN_SEQ_FWD, NT * (a->self ? 3 : 1) * E);
    if (!a->self)
        a->r_kvp = nn_seq_take(ar, NN_SEQ_FWD, NS * 2 * E);
    a->r_qh = nn_seq_take(ar, NN_SEQ_KEEP, NT * E);
    a->r_kh = nn_seq_take(ar, NN_SEQ_KEEP, NS * E);
    a->r_vh = nn_seq_take(ar, NN_SEQ_KEEP, NS * E);
    a->r_p = nn_seq_take(ar, NN_SEQ_KEEP, P);
    if (cfg->dropout > 0)
        a->r_pd = nn_seq_take(ar, NN_SEQ_FWD, P);
    a->r_ctxh = nn_seq_take(ar, NN_SEQ_FWD, NT * E);
    a->r_ctx = nn_seq_take(ar, NN_SEQ_KEEP, NT * E);
    if (s->training) {
        a->r_dctx = nn_seq_take(ar, NN_SEQ_BWD, NT * E);
        a->r_dctxh = nn_seq_take(ar, NN_SEQ_BWD, NT * E);
        a->r_dp = nn_seq_take(ar, NN_SEQ_BWD, P);
        if (cfg->dropout > 0)
            a->r_pdb = nn_seq_take(ar, NN_SEQ_BWD, P);
        a->r_dqh = nn_seq_take(ar, NN_SEQ_BWD, NT * E);
        a->r_dkh = nn_seq_take(ar, NN_SEQ_BWD, NS * E);
        a->r_dvh = nn_seq_take(ar, NN_SEQ_BWD, NS * E);
        a->r_dqkv = nn_seq_take(ar, NN_SEQ_BWD, NT * (a->self ? 3 : 1) * E);
        if (!a->self)
            a->r_dkvp = nn_seq_take(ar, NN_SEQ_BWD, NS * 2 * E);
    }
    s->flops += (uint64_t)(2 * NT * E * E * (a->self ? 3 : 1) + (a->self ? 0 : 4 * NS * E * E) +
                           4 * P * a->d + 2 * NT * E * E);
    return NN_OK;
}

/* a view of n floats of tensor t from float offset off; t may be NULL (view left empty) */
static void view_of(nn_seq_view *v, const nn_tensor *t, int64_t off, int64_t n)
{
    if (t)
        nn_seq_view_set(v, t, off, n);
    else
        memset(v, 0, sizeof *v);
}

static const nn_tensor *vt(nn_seq_attn *a, int k)
{
    return a->v[k].base ? &a->v[k].t : NULL;
}

int nn_seq_attn_bind(nn_seq_attn *a, const nn_layer_io *io, const nn_seq_arena *ar,
                     const nn_tensor *x, const nn_tensor *kv, const nn_tensor *out,
                     const nn_tensor *dout, const nn_tensor *dx, const nn_tensor *dkv,
                     nn_error *err)
{
    const char *L = a->name;
    int64_t E = a->E, NT = a->N * a->T, NS = a->N * a->S, B = a->N * a->H;
    const nn_tensor *w_in = nn_layer_param(io, a->param[NN_ATTN_IN_W]);
    const nn_tensor *w_out = nn_layer_param(io, a->param[NN_ATTN_OUT_W]);
    const nn_tensor *b_in = a->cfg.bias ? nn_layer_param(io, a->param[NN_ATTN_IN_B]) : NULL;
    const nn_tensor *b_out = a->cfg.bias ? nn_layer_param(io, a->param[NN_ATTN_OUT_B]) : NULL;
    const nn_tensor *dw_in = nn_layer_param_grad(io, a->param[NN_ATTN_IN_W]);
    const nn_tensor *dw_out = nn_layer_param_grad(io, a->param[NN_ATTN_OUT_W]);
    const nn_tensor *db_in = a->cfg.bias ? nn_layer_param_grad(io, a->param[NN_ATTN_IN_B]) : NULL;
    const nn_tensor *db_out =
        a->cfg.bias ? nn_layer_param_grad(io, a->param[NN_ATTN_OUT_B]) : NULL;
    int training = dout && dw_in && dw_out;
    a->has_backward = training;
    if (!training)
        dout = dx = dkv = NULL;
    memset(a->v, 0, sizeof a->v);

    const struct {
        int view;
        const nn_seq_region *r;
        int bwd;
    } regions[] = {
        {NN_AV_QKV, &a->r_qkv, 0},     {NN_AV_KVP, &a->r_kvp, 0},   {NN_AV_QH, &a->r_qh, 0},
        {NN_AV_KH, &a->r_kh, 0},       {NN_AV_VH, &a->r_vh, 0},     {NN_AV_P, &a->r_p, 0},
        {NN_AV_PD, &a->r_pd, 0},       {NN_AV_CTXH, &a->r_ctxh, 0}, {NN_AV_CTX, &a->r_ctx, 0},
        {NN_AV_DCTX, &a->r_dctx, 1},   {NN_AV_DCTXH, &a->r_dctxh, 1}, {NN_AV_DP, &a->r_dp, 1},
        {NN_AV_PDB, &a->r_pdb, 1},     {NN_AV_DQH, &a->r_dqh, 1},   {NN_AV_DKH, &a->r_dkh, 1},
        {NN_AV_DVH, &a->r_dvh, 1},     {NN_AV_DQKV, &a->r_dqkv, 1}, {NN_AV_DKVP, &a->r_dkvp, 1},
    };
    int rc;
    for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++) {
        const nn_seq_region *r = regions[i].r;
        if (r->n == 0 || (regions[i].bwd && !training))
            continue;
        if ((rc = nn_seq_view_region(&a->v[regions[i].view], ar, io, *r, L, err)))
            return rc;
    }
    /* cross attention: the q rows and the k/v rows of in_proj are two linears */
    if (!a->self) {
        view_of(&a->v[NN_AV_WQ], w_in, 0, E * E);
        view_of(&a->v[NN_AV_WKV], w_in, E * E, 2 * E * E);
        view_of(&a->v[NN_AV_BQ], b_in, 0, E);
        view_of(&a->v[NN_AV_BKV], b_in, E, 2 * E);
        view_of(&a->v[NN_AV_DWQ], training ? dw_in : NULL, 0, E * E);
        view_of(&a->v[NN_AV_DWKV], training ? dw_in : NULL, E * E, 2 * E * E);
        view_of(&a->v[NN_AV_DBQ], training ? db_in : NULL, 0, E);
        view_of(&a->v[NN_AV_DBKV], training ? db_in : NULL, E, 2 * E);
        if ((rc = nn_seq_lin_bind(&a->in_q, training, NT, E, E, x, vt(a, NN_AV_WQ),
                                  vt(a, NN_AV_BQ), vt(a, NN_AV_QKV), vt(a, NN_AV_DQKV), dx,
                                  vt(a, NN_AV_DWQ), vt(a, NN_AV_DBQ), L, err)) ||
            (rc = nn_seq_lin_bind(&a->in_kv, training, NS, E, 2 * E, kv, vt(a, NN_AV_WKV),
                                  vt(a, NN_AV_BKV), vt(a, NN_AV_KVP), vt(a, NN_AV_DKVP), dkv,
                                  vt(a, NN_AV_DWKV), vt(a, NN_AV_DBKV), L, err)))
            return rc;
    } else if ((rc = nn_seq_lin_bind(&a->in_q, training, NT, E, 3 * E, x, w_in, b_in,
                                     vt(a, NN_AV_QKV), vt(a, NN_AV_DQKV), dx, dw_in, db_in, L,
                                     err))) {
        return rc;
    }
    const nn_tensor *probs = vt(a, a->cfg.dropout > 0 ? NN_AV_PD : NN_AV_P);
    float scale = (float)(1.0 / sqrt((double)a->d));
    if ((rc = nn_seq_bmm_bind(&a->scores, B, a->T, a->d, a->S, vt(a, NN_AV_QH), 0,
                              vt(a, NN_AV_KH), 1, 1, vt(a, NN_AV_P), 1.0f, 0, L, err)) ||
        (rc = nn_seq_bmm_bind(&a->ctx, B, a->T, a->S, a->d, probs, 0, vt(a, NN_AV_VH), 0, 1,
                              vt(a, NN_AV_CTXH), 1.0f, 0, L, err)) ||
        (rc = nn_seq_lin_bind(&a->out, training, NT, E, E, vt(a, NN_AV_CTX), w_out, b_out, out,
                              dout, vt(a, NN_AV_DCTX), dw_out, db_out, L, err)))
        return rc;
    if (!training)
        return NN_OK;
    const nn_tensor *probs_b = vt(a, a->cfg.dropout > 0 ? NN_AV_PDB : NN_AV_P);
    if ((rc = nn_seq_bmm_bind(&a->b_dpd, B, a->T, a->d, a->S, vt(a, NN_AV_DCTXH), 0,
                              vt(a, NN_AV_VH), 1, 1, vt(a, NN_AV_DP), 1.0f, 0, L, err)) ||
        (rc = nn_seq_bmm_bind(&a->b_dv, B, a->S, a->T, a->d, probs_b, 1, vt(a, NN_AV_DCTXH), 0,
                              1, vt(a, NN_AV_DVH), 1.0f, 0, L, err)) ||
        (rc = nn_seq_bmm_bind(&a->b_dq, B, a->T, a->S, a->d, vt(a, NN_AV_DP), 0,
                              vt(a, NN_AV_KH), 0, 1, vt(a, NN_AV_DQH), scale, 0, L, err)) ||
        (rc = nn_seq_bmm_bind(&a->b_dk, B, a->S, a->T, a->d, vt(a, NN_AV_DP), 1,
                              vt(a, NN_AV_QH), 0, 1, vt(a, NN_AV_DKH), 1.0f, 0, L, err)))
        return rc;
    return NN_OK;
}

/* [N, L, *] rows (stride rs, from column co) <-> [N, H, L, d] heads, times scale */
static void split_heads(const float *src, int64_t rs, int64_t co, float *dst, int64_t N,
                        int64_t Lq, int64_t H, int64_t d, float scale)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < Lq; t++) {
                const float *s = src + (n * Lq + t) * rs + co + h * d;
                float *o = dst + ((n * H + h) * Lq + t) * d;
                for (int64_t j = 0; j < d; j++)
                    o[j] = s[j] * scale;
            }
}

static void merge_heads(const float *src, float *dst, int64_t rs, int64_t co, int64_t N,
                        int64_t Lq, int64_t H, int64_t d)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < Lq; t++)
                memcpy(dst + (n * Lq + t) * rs + co + h * d, src + ((n * H + h) * Lq + t) * d,
                       (size_t)d * sizeof *dst);
}

static float *vp(nn_seq_attn *a, int k)
{
    return NN_F32P(&a->v[k].t);
}

/* softmax over the unmasked keys of each row of P; masked and all-masked rows get zeros */
static void masked_softmax(const nn_seq_attn *a, float *P, const nn_tensor *pad)
{
    int64_t T = a->T, S = a->S;
    for (int64_t n = 0; n < a->N; n++)
        for (int64_t h = 0; h < a->H; h++)
            for (int64_t t = 0; t < T; t++) {
                float *row = P + ((n * a->H + h) * T + t) * S;
                int64_t end = a->cfg.causal && t + 1 < S ? t + 1 : S;
                float mx = -INFINITY;
                for (int64_t s = 0; s < end; s++)
                    if (!nn_seq_pad_at(&a->pad, pad, n, s) && row[s] > mx)
                        mx = row[s];
                double sum = 0;
                for (int64_t s = 0; s < S; s++) {
                    int masked = s >= end || nn_seq_pad_at(&a->pad, pad, n, s);
                    row[s] = masked ? 0.0f : expf(row[s] - mx);
                    sum += row[s];
                }
                float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
                for (int64_t s = 0; s < S; s++)
                    row[s] *= inv;
            }
}

int nn_seq_attn_forward(nn_seq_attn *a, const nn_layer_io *io, const nn_tensor *pad, int train,
                        nn_error *err)
{
    const char *L = a->name;
    int rc;
    nn_seq_views_sync(a->v, NN_AV_COUNT);
    int64_t E = a->E, N = a->N, T = a->T, S = a->S, H = a->H, d = a->d;
    if ((rc = nn_seq_lin_forward(&a->in_q, L, err)) ||
        (!a->self && (rc = nn_seq_lin_forward(&a->in_kv, L, err))))
        return rc;
    float scale = (float)(1.0 / sqrt((double)d));
    if (a->self) {
        const float *qkv = vp(a, NN_AV_QKV);
        split_heads(qkv, 3 * E, 0, vp(a, NN_AV_QH), N, T, H, d, scale);
        split_heads(qkv, 3 * E, E, vp(a, NN_AV_KH), N, S, H, d, 1.0f);
        split_heads(qkv, 3 * E, 2 * E, vp(a, NN_AV_VH), N, S, H, d, 1.0f);
    } else {
        split_heads(vp(a, NN_AV_QKV), E, 0, vp(a, NN_AV_QH), N, T, H, d, scale);
        split_heads(vp(a, NN_AV_KVP), 2 * E, 0, vp(a, NN_AV_KH), N, S, H, d, 1.0f);
        split_heads(vp(a, NN_AV_KVP), 2 * E, E, vp(a, NN_AV_VH), N, S, H, d, 1.0f);
    }
    if ((rc = nn_dnnl_op_run(&a->scores, L, err)))
        return rc;
    masked_softmax(a, vp(a, NN_AV_P), pad);
    if (a->cfg.dropout > 0) /* eval forwards copy: the product reads the dropped buffer */
        nn_seq_dropout(vp(a, NN_AV_PD), vp(a, NN_AV_P), N * H * T, S, train ? a->cfg.dropout : 0,
                       io->seed, a->stream);
    if ((rc = nn_dnnl_op_run(&a->ctx, L, err)))
        return rc;
    merge_heads(vp(a, NN_AV_CTXH), vp(a, NN_AV_CTX), E, 0, N, T, H, d);
    return nn_seq_lin_forward(&a->out, L, err);
}

int nn_seq_attn_backward(nn_seq_attn *a, const nn_layer_io *io, nn_error *err)
{
    const char *L = a->name;
    int rc;
    if (!a->has_backward)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': attention backward on a plan bound without gradients",
                            L);
    nn_seq_views_sync(a->v, NN_AV_COUNT);
    int64_t E = a->E, N = a->N, T = a->T, S = a->S, H = a->H, d = a->d;
    if ((rc = nn_seq_lin_backward(&a->out, 1, L, err)))
        return rc;
    split_heads(vp(a, NN_AV_DCTX), E, 0, vp(a, NN_AV_DCTXH), N, T, H, d, 1.0f);
    if ((rc = nn_dnnl_op_run(&a->b_dpd, L, err)))
        return rc;
    float *P = vp(a, NN_AV_P), *dP = vp(a, NN_AV_DP);
    if (a->cfg.dropout > 0) { /* the forward's masks, drawn again from the same seed */
        nn_seq_dropout(vp(a, NN_AV_PDB), P, N * H * T, S, a->cfg.dropout, io->seed, a->stream);
        nn_seq_dropout(dP, dP, N * H * T, S, a->cfg.dropout, io->seed, a->stream);
    }
    if ((rc = nn_dnnl_op_run(&a->b_dv, L, err)))
        return rc;
    /* softmax backward: dS = P (dP - sum_s P dP); masked keys have P = 0, so dS = 0 */
    for (int64_t r = 0; r < N * H * T; r++) {
        const float *p = P + r * S;
        float *g = dP + r * S;
        double dot = 0;
        for (int64_t s = 0; s < S; s++)
            dot += (double)p[s] * g[s];
        for (int64_t s = 0; s < S; s++)
            g[s] = (float)(p[s] * (g[s] - dot));
    }
    if ((rc = nn_dnnl_op_run(&a->b_dq, L, err)) || (rc = nn_dnnl_op_run(&a->b_dk, L, err)))
        return rc;
    if (a->self) {
        float *dqkv = vp(a, NN_AV_DQKV);
        merge_heads(vp(a, NN_AV_DQH), dqkv, 3 * E, 0, N, T, H, d);
        merge_heads(vp(a, NN_AV_DKH), dqkv, 3 * E, E, N, S, H, d);
        merge_heads(vp(a, NN_AV_DVH), dqkv, 3 * E, 2 * E, N, S, H, d);
        return nn_seq_lin_backward(&a->in_q, 1, L, err);
    }
    merge_heads(vp(a, NN_AV_DQH), vp(a, NN_AV_DQKV), E, 0, N, T, H, d);
    merge_heads(vp(a, NN_AV_DKH), vp(a, NN_AV_DKVP), 2 * E, 0, N, S, H, d);
    merge_heads(vp(a, NN_AV_DVH), vp(a, NN_AV_DKVP), 2 * E, E, N, S, H, d);
    if ((rc = nn_seq_lin_backward(&a->in_q, 1, L, err)))
        return rc;
    return nn_seq_lin_backward(&a->in_kv, 1, L, err);
}
