/* nn_seq_rnn.c: stacked (bi)directional LSTM / GRU of libnn_seq.a on oneDNN RNN primitives
 * (see nn_seq_rnn.h). Per step, the parameters are copied into oneDNN's layouts: forward
 * weights ldigo, backward weights ldgoi, one bias per gate (LSTM: b_ih + b_hh; lbr_gru:
 * b_iz + b_hz, b_ir + b_hr, b_in, and b_hn apart); weight gradients come back from ldigo,
 * and each bias gradient goes to both of PyTorch's biases it was the sum of. */
#define _POSIX_C_SOURCE 200809L
#include "nn_seq_rnn.h"

#include <stdio.h>
#include <string.h>

/* oneDNN gate g is PyTorch gate perm[g]: LSTM i,f,g,o both; GRU oneDNN u,r,o = PyTorch z,r,n */
static const int lstm_perm[4] = {0, 1, 2, 3};
static const int gru_perm[3] = {1, 0, 2};

static const int *gate_perm(const nn_seq_rnn *r)
{
    return r->cfg.cell == NN_RNN_LSTM ? lstm_perm : gru_perm;
}

void nn_seq_rnn_destroy(nn_seq_rnn *r)
{
    for (int l = 0; l < NN_RNN_MAX_LAYERS; l++) {
        nn_dnnl_op_destroy(&r->l[l].fwd);
        nn_dnnl_op_destroy(&r->l[l].bwd);
        nn_dnnl_pd_free(&r->l[l].fwd_pd);
        nn_dnnl_pd_free(&r->l[l].bwd_pd);
    }
}

static void md_tag(dnnl_memory_desc_t *md, int nd, const dnnl_dim_t *d, dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = {0};
    for (int i = 0; i < nd; i++)
        dims[i] = d[i];
    (void)dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag);
}

/* the primitive descriptors of layer li: forward, and backward in training plans */
static int make_pds(nn_seq_rnn *r, int li, nn_error *err)
{
    const char *L = r->name;
    nn_rnn_layer *y = &r->l[li];
    dnnl_dim_t sd[3] = {r->T, r->N, y->in}, dd[3] = {r->T, r->N, r->D * r->H};
    dnnl_dim_t wld[5] = {1, r->D, y->in, r->G, r->H}, wid[5] = {1, r->D, r->H, r->G, r->H};
    dnnl_dim_t bd[4] = {1, r->D, r->GB, r->H};
    dnnl_memory_desc_t src, dst, wl, wi, b, wlb, wib;
    md_tag(&src, 3, sd, dnnl_ntc);
    md_tag(&dst, 3, dd, dnnl_ntc);
    md_tag(&wl, 5, wld, dnnl_ldigo);
    md_tag(&wi, 5, wid, dnnl_ldigo);
    md_tag(&b, 4, bd, dnnl_ldgo);
    md_tag(&wlb, 5, wld, dnnl_ldgoi);
    md_tag(&wib, 5, wid, dnnl_ldgoi);
    dnnl_rnn_direction_t dir =
        r->D == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
    dnnl_prop_kind_t prop = r->training ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_rnn_desc_t d;
    if (r->cfg.cell == NN_RNN_LSTM)
        NN_DNNL_TRY(err, L, "LSTM forward descriptor",
                    dnnl_lstm_forward_desc_init(&d, prop, dir, &src, NULL, NULL, &wl, &wi, &b,
                                                &dst, NULL, NULL, 0));
    else
        NN_DNNL_TRY(err, L, "GRU forward descriptor",
                    dnnl_lbr_gru_forward_desc_init(&d, prop, dir, &src, NULL, &wl, &wi, &b, &dst,
                                                   NULL, 0));
    nn_dnnl_pd_free(&y->fwd_pd);
    NN_DNNL_TRY(err, L, "RNN forward",
                nn_dnnl_pd_create(&y->fwd_pd, &d, NULL, NULL));
    if (!r->training)
        return NN_OK;
    if (r->cfg.cell == NN_RNN_LSTM)
        NN_DNNL_TRY(err, L, "LSTM backward descriptor",
                    dnnl_lstm_backward_desc_init(&d, dnnl_backward, dir, &src, NULL, NULL, &wlb,
                                                 &wib, &b, &dst, NULL, NULL, &src, NULL, NULL,
                                                 &wl, &wi, &b, &dst, NULL, NULL, 0));
    else
        NN_DNNL_TRY(err, L, "GRU backward descriptor",
                    dnnl_lbr_gru_backward_desc_init(&d, dnnl_backward, dir, &src, NULL, &wlb,
                                                    &wib, &b, &dst, NULL, &src, NULL, &wl, &wi,
                                                    &b, &dst, NULL, 0));
    nn_dnnl_pd_free(&y->bwd_pd);
    NN_DNNL_TRY(err, L, "RNN backward",
                nn_dnnl_pd_create(&y->bwd_pd, &d, NULL, y->fwd_pd));
    return NN_OK;
}

int nn_seq_rnn_setup(nn_seq_rnn *r, const nn_seq_rnn_cfg *cfg, nn_layer_setup *s,
                     nn_error *err)
{
    char buf[96];
    const char *L = s->layer_name;
    nn_seq_rnn_destroy(r);
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->name = L;
    r->training = s->training;
    const char *kind = cfg->cell == NN_RNN_LSTM ? "lstm" : "gru";
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 3 || nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': %s expects F32 [batch, time, features] (batch first), "
                            "got %s",
                            L, kind, nn_shape_str(x, buf, sizeof buf));
    r->N = x->shape[0], r->T = x->shape[1], r->C = x->shape[2];
    r->H = cfg->hidden;
    r->D = cfg->bidirectional ? 2 : 1;
    r->G = cfg->cell == NN_RNN_LSTM ? 4 : 3;
    r->GB = 4; /* LSTM: one bias per gate; lbr_gru: three plus the recurrent candidate's */
    int64_t NL = cfg->layers, DH = r->D * r->H, G = r->G, H = r->H;
    if (NL > NN_RNN_MAX_LAYERS || NL * r->D * 4 > NN_MAX_LAYER_PARAMS_ALL)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': %lld layers x %lld directions need %lld parameters; "
                            "a layer holds at most %d",
                            L, (long long)NL, (long long)r->D, (long long)(NL * r->D * 4),
                            NN_MAX_LAYER_PARAMS_ALL);
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    nn_seq_arena_init(&r->ar, s->training);
    nn_seq_arena *a = &r->ar;
    s->flops = 0;
    for (int li = 0; li < NL; li++) {
        nn_rnn_layer *y = &r->l[li];
        int last = li == NL - 1;
        y->in = li ? DH : r->C;
        /* PyTorch initialises every weight and bias U(-1/sqrt(H), 1/sqrt(H)) */
        for (int d = 0; d < r->D; d++) {
            static const char *const fmt[4] = {"weight_ih_l%d%s", "weight_hh_l%d%s",
                                               "bias_ih_l%d%s", "bias_hh_l%d%s"};
            int64_t shapes[4][2] = {{G * H, y->in}, {G * H, H}, {G * H, 0}, {G * H, 0}};
            for (int k = 0; k < 4; k++) {
                char name[NN_NAME_MAX];
                snprintf(name, sizeof name, fmt[k], li, d ? "_reverse" : "");
                int idx = nn_layer_add_param(s, name, k < 2 ? 2 : 1, shapes[k],
                                             NN_INIT_FAN_IN_UNIFORM, H, G * H,
                                             k < 2 ? 0 : NN_TENSOR_BIAS);
                if (idx < 0)
                    return nn_error_set(err, NN_EINTERNAL,
                                        "layer '%s': could not declare '%s'", L, name);
                if (d == 0 && k == 0)
                    y->param = idx;
            }
        }
        if ((rc = make_pds(r, li, err)))
            return rc;
        int64_t NTD = r->N * r->T * DH;
        if (!(last && cfg->return_sequences))
            y->dst = nn_seq_take(a, NN_SEQ_KEEP, NTD);
        if (!last && cfg->dropout > 0)
            y->drop = nn_seq_take(a, NN_SEQ_KEEP, NTD);
        if (s->training)
            y->ws = nn_seq_take(a, NN_SEQ_KEEP,
                                ((int64_t)nn_dnnl_arg_size(y->fwd_pd, DNNL_ARG_WORKSPACE) + 3) / 4);
        int64_t wl = r->D * y->in * G * H, wi = r->D * H * G * H, b = r->D * r->GB * H;
        y->wl = nn_seq_take(a, NN_SEQ_FWD, wl);
        y->wi = nn_seq_take(a, NN_SEQ_FWD, wi);
        y->b = nn_seq_take(a, NN_SEQ_FWD, b);
        if (s->training) {
            y->bwl = nn_seq_take(a, NN_SEQ_BWD, wl);
            y->bwi = nn_seq_take(a, NN_SEQ_BWD, wi);
            y->bb = nn_seq_take(a, NN_SEQ_BWD, b);
            y->dwl = nn_seq_take(a, NN_SEQ_BWD, wl);
            y->dwi = nn_seq_take(a, NN_SEQ_BWD, wi);
            y->db = nn_seq_take(a, NN_SEQ_BWD, b);
            if (!last)
                y->gdst = nn_seq_take(a, NN_SEQ_BWD, NTD);
            if (li == 0)
                y->dsrc = nn_seq_take(a, NN_SEQ_BWD, r->N * r->T * r->C);
        }
        s->flops += (uint64_t)(2 * r->N * r->T * r->D * G * H * (y->in + H));
    }
    if (s->training && !cfg->return_sequences)
        r->r_gout = nn_seq_take(a, NN_SEQ_BWD, r->N * r->T * DH);
    r->stream = nn_seq_hash(L);
    if (cfg->return_sequences)
        nn_tensor_describe(&s->output, NN_F32, 3, (const int64_t[]){r->N, r->T, DH});
    else
        nn_tensor_describe(&s->output, NN_F32, 2, (const int64_t[]){r->N, DH});
    return nn_seq_arena_declare(a, s, err);
}

static const nn_tensor *rv(nn_seq_rnn *r, int li, int k)
{
    return r->v[li][k].base ? &r->v[li][k].t : NULL;
}

static int bind_layer(nn_seq_rnn *r, const nn_layer_io *io, int li, nn_error *err)
{
    const char *L = r->name;
    nn_rnn_layer *y = &r->l[li];
    int64_t NL = r->cfg.layers;
    int last = li == NL - 1, rc;
    const struct {
        int k;
        nn_seq_region reg;
    } regs[] = {{NN_RV_DST, y->dst},   {NN_RV_DROP, y->drop}, {NN_RV_WS, y->ws},
                {NN_RV_WL, y->wl},     {NN_RV_WI, y->wi},     {NN_RV_B, y->b},
                {NN_RV_BWL, y->bwl},   {NN_RV_BWI, y->bwi},   {NN_RV_BB, y->bb},
                {NN_RV_DWL, y->dwl},   {NN_RV_DWI, y->dwi},   {NN_RV_DB, y->db},
                {NN_RV_GDST, y->gdst}, {NN_RV_DSRC, y->dsrc}};
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        if (regs[i].reg.n == 0 || (regs[i].k >= NN_RV_BWL && !r->has_backward))
            continue;
        if ((rc = nn_seq_view_region(&r->v[li][regs[i].k], &r->ar, io, regs[i].reg, L, err)))
            return rc;
    }
    const nn_tensor *src = li == 0                  ? io->inputs[0]
                           : r->cfg.dropout > 0     ? rv(r, li - 1, NN_RV_DROP)
                                                    : rv(r, li - 1, NN_RV_DST);
    const nn_tensor *dst = last && r->cfg.return_sequences ? io->output : rv(r, li, NN_RV_DST);
    if ((rc = nn_dnnl_op_create(&y->fwd, y->fwd_pd, "RNN forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_SRC_LAYER, src, L, err)) ||
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_WEIGHTS_LAYER, rv(r, li, NN_RV_WL),
                                L, err)) ||
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_WEIGHTS_ITER, rv(r, li, NN_RV_WI),
                                L, err)) ||
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_BIAS, rv(r, li, NN_RV_B), L, err)) ||
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_DST_LAYER, dst, L, err)))
        return rc;
    if (r->training &&
        (rc = nn_dnnl_op_tensor(&y->fwd, y->fwd_pd, DNNL_ARG_WORKSPACE, rv(r, li, NN_RV_WS), L,
                                err)))
        return rc;
    if (!r->has_backward)
        return NN_OK;
    const nn_tensor *ddst = !last                    ? rv(r, li, NN_RV_GDST)
                            : r->cfg.return_sequences ? io->grad_output
                                                      : &r->v_gout.t;
    const nn_tensor *dsrc = li > 0             ? rv(r, li - 1, NN_RV_GDST)
                            : io->grad_inputs[0] ? io->grad_inputs[0]
                                                 : rv(r, 0, NN_RV_DSRC);
    const struct {
        int arg;
        const nn_tensor *t;
    } args[] = {{DNNL_ARG_SRC_LAYER, src},
                {DNNL_ARG_WEIGHTS_LAYER, rv(r, li, NN_RV_BWL)},
                {DNNL_ARG_WEIGHTS_ITER, rv(r, li, NN_RV_BWI)},
                {DNNL_ARG_BIAS, rv(r, li, NN_RV_BB)},
                {DNNL_ARG_DST_LAYER, dst},
                {DNNL_ARG_WORKSPACE, rv(r, li, NN_RV_WS)},
                {DNNL_ARG_DIFF_SRC_LAYER, dsrc},
                {DNNL_ARG_DIFF_WEIGHTS_LAYER, rv(r, li, NN_RV_DWL)},
                {DNNL_ARG_DIFF_WEIGHTS_ITER, rv(r, li, NN_RV_DWI)},
                {DNNL_ARG_DIFF_BIAS, rv(r, li, NN_RV_DB)},
                {DNNL_ARG_DIFF_DST_LAYER, ddst}};
    if ((rc = nn_dnnl_op_create(&y->bwd, y->bwd_pd, "RNN backward", L, err)))
        return rc;
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        if ((rc = nn_dnnl_op_tensor(&y->bwd, y->bwd_pd, args[i].arg, args[i].t, L, err)))
            return rc;
    return NN_OK;
}

int nn_seq_rnn_bind(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err)
{
    int rc = nn_dnnl_init(r->name, err);
    if (rc)
        return rc;
    r->has_backward = r->training && io->grad_output && nn_layer_param_grad(io, r->l[0].param);
    memset(r->v, 0, sizeof r->v);
    memset(&r->v_gout, 0, sizeof r->v_gout);
    if (r->has_backward && !r->cfg.return_sequences &&
        (rc = nn_seq_view_region(&r->v_gout, &r->ar, io, r->r_gout, r->name, err)))
        return rc;
    for (int li = 0; li < r->cfg.layers; li++)
        if ((rc = bind_layer(r, io, li, err)))
            return rc;
    return NN_OK;
}

static const float *param_f(const nn_seq_rnn *r, const nn_layer_io *io, int li, int d, int k)
{
    return NN_F32P(nn_layer_param(io, r->l[li].param + d * 4 + k));
}

static float *grad_f(const nn_seq_rnn *r, const nn_layer_io *io, int li, int d, int k)
{
    return NN_F32P(nn_layer_param_grad(io, r->l[li].param + d * 4 + k));
}

/* PyTorch [G*H, I] (its gate order) -> ldigo [D][I][G][H] at direction d, or back (to_pt) */
static void ldigo_copy(const nn_seq_rnn *r, float *ldigo, float *pt, int64_t I, int d,
                       int to_pt)
{
    const int *perm = gate_perm(r);
    int64_t G = r->G, H = r->H;
    float *blk = ldigo + d * I * G * H;
    for (int64_t i = 0; i < I; i++)
        for (int64_t g = 0; g < G; g++)
            for (int64_t o = 0; o < H; o++) {
                float *a = blk + (i * G + g) * H + o, *b = pt + (perm[g] * H + o) * I + i;
                if (to_pt)
                    *b = *a;
                else
                    *a = *b;
            }
}

/* PyTorch [G*H, I] -> ldgoi [D][G][H][I] at direction d: whole gate blocks */
static void ldgoi_copy(const nn_seq_rnn *r, float *ldgoi, const float *pt, int64_t I, int d)
{
    const int *perm = gate_perm(r);
    int64_t G = r->G, H = r->H;
    for (int64_t g = 0; g < G; g++)
        memcpy(ldgoi + ((d * G + g) * H) * I, pt + perm[g] * H * I, sizeof *pt * (size_t)(H * I));
}

/* the oneDNN bias [D][GB][H] of direction d from PyTorch's b_ih, b_hh */
static void bias_in(const nn_seq_rnn *r, float *b, const float *bih, const float *bhh, int d)
{
    const int *perm = gate_perm(r);
    int64_t H = r->H;
    float *o = b + d * r->GB * H;
    for (int64_t g = 0; g < r->G; g++) {
        int64_t pg = perm[g];
        /* lbr_gru keeps the candidate's recurrent bias b_hn apart, in the fourth slot */
        int split = r->cfg.cell == NN_RNN_GRU && g == 2;
        for (int64_t j = 0; j < H; j++)
            o[g * H + j] = bih[pg * H + j] + (split ? 0.0f : bhh[pg * H + j]);
    }
    if (r->cfg.cell == NN_RNN_GRU)
        memcpy(o + 3 * H, bhh + 2 * H, sizeof *o * (size_t)H);
}

static void bias_grad_out(const nn_seq_rnn *r, const float *db, float *dbih, float *dbhh, int d)
{
    const int *perm = gate_perm(r);
    int64_t H = r->H;
    const float *o = db + d * r->GB * H;
    for (int64_t g = 0; g < r->G; g++) {
        int64_t pg = perm[g];
        int split = r->cfg.cell == NN_RNN_GRU && g == 2;
        for (int64_t j = 0; j < H; j++) {
            dbih[pg * H + j] = o[g * H + j];
            dbhh[pg * H + j] = split ? o[3 * H + j] : o[g * H + j];
        }
    }
}

static float *vf(nn_seq_rnn *r, int li, int k)
{
    return NN_F32P(&r->v[li][k].t);
}

int nn_seq_rnn_forward(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err)
{
    const char *L = r->name;
    int rc;
    nn_seq_views_sync(&r->v[0][0], (int)(sizeof r->v / sizeof r->v[0][0]));
    nn_seq_views_sync(&r->v_gout, 1);
    int64_t NL = r->cfg.layers, DH = r->D * r->H;
    double p = io->training ? r->cfg.dropout : 0;
    for (int li = 0; li < NL; li++) {
        nn_rnn_layer *y = &r->l[li];
        for (int d = 0; d < r->D; d++) {
            ldigo_copy(r, vf(r, li, NN_RV_WL), (float *)param_f(r, io, li, d, 0), y->in, d, 0);
            ldigo_copy(r, vf(r, li, NN_RV_WI), (float *)param_f(r, io, li, d, 1), r->H, d, 0);
            bias_in(r, vf(r, li, NN_RV_B), param_f(r, io, li, d, 2), param_f(r, io, li, d, 3), d);
        }
        if ((rc = nn_dnnl_op_run(&y->fwd, L, err)))
            return rc;
        if (li < NL - 1 && r->cfg.dropout > 0) /* p = 0 outside training: a copy */
            nn_seq_dropout(vf(r, li, NN_RV_DROP), vf(r, li, NN_RV_DST), r->N, r->T * DH, p,
                           io->seed, r->stream + (uint64_t)li);
    }
    if (!r->cfg.return_sequences) { /* output[n] = dst[n, T - 1] */
        const float *dst = vf(r, (int)NL - 1, NN_RV_DST);
        float *out = NN_F32P(io->output);
        for (int64_t n = 0; n < r->N; n++)
            memcpy(out + n * DH, dst + (n * r->T + r->T - 1) * DH, sizeof *out * (size_t)DH);
    }
    return NN_OK;
}

int nn_seq_rnn_backward(nn_seq_rnn *r, const nn_layer_io *io, nn_error *err)
{
    const char *L = r->name;
    int rc;
    if (!r->has_backward)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward on a plan bound without gradients", L);
    nn_seq_views_sync(&r->v[0][0], (int)(sizeof r->v / sizeof r->v[0][0]));
    nn_seq_views_sync(&r->v_gout, 1);
    int64_t NL = r->cfg.layers, DH = r->D * r->H;
    if (!r->cfg.return_sequences) {
        float *g = NN_F32P(&r->v_gout.t);
        const float *dy = NN_F32P(io->grad_output);
        memset(g, 0, sizeof *g * (size_t)(r->N * r->T * DH));
        for (int64_t n = 0; n < r->N; n++)
            memcpy(g + (n * r->T + r->T - 1) * DH, dy + n * DH, sizeof *g * (size_t)DH);
    }
    for (int li = (int)NL - 1; li >= 0; li--) {
        nn_rnn_layer *y = &r->l[li];
        for (int d = 0; d < r->D; d++) {
            ldgoi_copy(r, vf(r, li, NN_RV_BWL), param_f(r, io, li, d, 0), y->in, d);
            ldgoi_copy(r, vf(r, li, NN_RV_BWI), param_f(r, io, li, d, 1), r->H, d);
            bias_in(r, vf(r, li, NN_RV_BB), param_f(r, io, li, d, 2), param_f(r, io, li, d, 3),
                    d);
        }
        /* oneDNN adds into the weight gradients */
        memset(vf(r, li, NN_RV_DWL), 0, sizeof(float) * (size_t)y->dwl.n);
        memset(vf(r, li, NN_RV_DWI), 0, sizeof(float) * (size_t)y->dwi.n);
        memset(vf(r, li, NN_RV_DB), 0, sizeof(float) * (size_t)y->db.n);
        if ((rc = nn_dnnl_op_run(&y->bwd, L, err)))
            return rc;
        for (int d = 0; d < r->D; d++) {
            ldigo_copy(r, vf(r, li, NN_RV_DWL), grad_f(r, io, li, d, 0), y->in, d, 1);
            ldigo_copy(r, vf(r, li, NN_RV_DWI), grad_f(r, io, li, d, 1), r->H, d, 1);
            bias_grad_out(r, vf(r, li, NN_RV_DB), grad_f(r, io, li, d, 2),
                          grad_f(r, io, li, d, 3), d);
        }
        if (li > 0 && r->cfg.dropout > 0) { /* through the mask between li - 1 and li */
            float *g = vf(r, li - 1, NN_RV_GDST);
            nn_seq_dropout(g, g, r->N, r->T * DH, r->cfg.dropout, io->seed,
                           r->stream + (uint64_t)(li - 1));
        }
    }
    return NN_OK;
}
