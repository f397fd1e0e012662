/* transformer_encoder_layer.c: the layer plugin "transformer_encoder_layer", PyTorch's
 * nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
 * layer_norm_eps, batch_first=True, norm_first) with its state-dict names: self-attention
 * (plugins/common/nn_seq_attn.c, shared with multihead_attention), then a feed-forward block
 * linear2(dropout(act(linear1(x)))), each in a residual with dropout, layer norm after
 * (post-norm) or before (pre-norm, norm_first = true) each block.
 * Inputs: x [N, T, E] and an optional padding input. Never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq_attn.h"
#include "nn_seq_export.h"

enum { P_L1W = 0, P_L1B, P_L2W, P_L2B, P_N1W, P_N1B, P_N2W, P_N2B, P_COUNT };

enum { V_XIN, V_A, V_DA, V_DXA, V_LIN1X, V_H, V_G, V_F, V_DH, V_DG, V_DF, V_DLIN1X, V_COUNT };

typedef struct tel {
    nn_seq_attn_cfg acfg;
    int64_t F;
    int act, norm_first;
    double drop, eps;
    const char *name;
    int64_t N, T, E, R; /* R = N * T rows */
    int pad_in;         /* input index of the padding, -1 without */
    int param[P_COUNT];
    uint64_t stream;
    nn_seq_attn attn;
    nn_seq_arena ar;
    /* post-norm: s1 = x + drop(a), x1 = LN1(s1), s2 = x1 + drop(f), out = LN2(s2);
     * pre-norm: n1 = LN1(x), x1 = x + drop(a), n2 = LN2(x1), out = x1 + drop(f) */
    nn_seq_region r_n1, r_s1, r_x1, r_n2, r_s2, r_m1, r_r1, r_m2, r_r2, r_h, r_g, r_a, r_f;
    nn_seq_region r_da, r_dxa, r_dx1, r_ds, r_dh, r_dg, r_df, r_dlin1x;
    nn_seq_view v[V_COUNT];
    nn_seq_lin lin1, lin2;
    nn_seq_act actop;
    int want_dx_attn;
} tel;

static int tel_create(const nn_params *p, void **self, nn_error *err)
{
    tel *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "transformer_encoder_layer: out of memory");
    t->acfg.heads = nn_params_int(p, "nhead");
    t->acfg.bias = 1;
    t->acfg.causal = nn_params_bool(p, "causal");
    t->acfg.dropout = t->drop = nn_params_float(p, "dropout");
    t->acfg.pad_id = nn_params_int(p, "pad_id");
    t->F = nn_params_int(p, "dim_feedforward");
    t->act = nn_params_enum(p, "activation") == 1 ? NN_ACT_GELU : NN_ACT_RELU;
    t->norm_first = nn_params_bool(p, "norm_first");
    t->eps = nn_params_float(p, "layer_norm_eps");
    *self = t;
    return NN_OK;
}

static void tel_destroy(void *self)
{
    tel *t = self;
    nn_seq_attn_destroy(&t->attn);
    nn_seq_lin_destroy(&t->lin1);
    nn_seq_lin_destroy(&t->lin2);
    nn_seq_act_destroy(&t->actop);
    free(t);
}

static int tel_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    tel *t = self;
    const char *L = t->name = s->layer_name;
    if (s->n_inputs < 1 || s->n_inputs > 2 || (s->n_inputs == 2 && s->inputs[1]->dl.ndim > 2))
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': transformer_encoder_layer takes x [N, T, d_model] and "
                            "optionally a padding input ([N, T] or [N]), got %d input%s",
                            L, s->n_inputs, s->n_inputs == 1 ? "" : "s");
    t->pad_in = s->n_inputs == 2 ? 1 : -1;
    nn_seq_arena_init(&t->ar, s->training);
    s->flops = 0;
    const nn_tensor *x = s->inputs[0];
    int rc = nn_seq_attn_setup(&t->attn, &t->acfg, s, "self_attn.", x, NULL,
                               t->pad_in >= 0 ? s->inputs[1] : NULL, &t->ar, err);
    if (rc)
        return rc;
    int64_t N = t->N = x->shape[0], T = t->T = x->shape[1], E = t->E = x->shape[2], F = t->F;
    int64_t R = t->R = N * T;
    static const char *const names[P_COUNT] = {"linear1.weight", "linear1.bias",
                                               "linear2.weight", "linear2.bias",
                                               "norm1.weight",   "norm1.bias",
                                               "norm2.weight",   "norm2.bias"};
    const int64_t shapes[P_COUNT][2] = {{F, E}, {F, 0}, {E, F}, {E, 0},
                                        {E, 0}, {E, 0}, {E, 0}, {E, 0}};
    for (int k = 0; k < P_COUNT; k++) {
        int lin = k < P_N1W, weight = k % 2 == 0;
        int64_t fan_in = k < P_L2W ? E : F, fan_out = k < P_L2W ? F : E;
        nn_init init = lin ? NN_INIT_FAN_IN_UNIFORM : weight ? NN_INIT_ONES : NN_INIT_ZEROS;
        uint32_t flags = lin ? (weight ? 0 : NN_TENSOR_BIAS) : NN_TENSOR_NORM;
        t->param[k] = nn_layer_add_param(s, names[k], lin && weight ? 2 : 1, shapes[k], init,
                                         lin ? fan_in : E, lin ? fan_out : E, flags);
        if (t->param[k] < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare '%s'", L,
                                names[k]);
    }
    t->stream = nn_seq_hash(L);
    nn_seq_arena *a = &t->ar;
    if (t->norm_first) {
        t->r_n1 = nn_seq_take(a, NN_SEQ_KEEP, R * E);
        t->r_n2 = nn_seq_take(a, NN_SEQ_KEEP, R * E);
    } else {
        t->r_s1 = nn_seq_take(a, NN_SEQ_KEEP, R * E);
        t->r_s2 = nn_seq_take(a, NN_SEQ_KEEP, R * E);
    }
    t->r_x1 = nn_seq_take(a, NN_SEQ_KEEP, R * E);
    t->r_m1 = nn_seq_take(a, NN_SEQ_KEEP, R);
    t->r_r1 = nn_seq_take(a, NN_SEQ_KEEP, R);
    t->r_m2 = nn_seq_take(a, NN_SEQ_KEEP, R);
    t->r_r2 = nn_seq_take(a, NN_SEQ_KEEP, R);
    t->r_h = nn_seq_take(a, NN_SEQ_KEEP, R * F);
    t->r_g = nn_seq_take(a, NN_SEQ_KEEP, R * F);
    t->r_a = nn_seq_take(a, NN_SEQ_FWD, R * E);
    t->r_f = nn_seq_take(a, NN_SEQ_FWD, R * E);
    if (s->training) {
        t->r_da = nn_seq_take(a, NN_SEQ_BWD, R * E);
        t->r_dxa = nn_seq_take(a, NN_SEQ_BWD, R * E);
        t->r_dx1 = nn_seq_take(a, NN_SEQ_BWD, R * E);
        t->r_ds = nn_seq_take(a, NN_SEQ_BWD, R * E);
        t->r_dh = nn_seq_take(a, NN_SEQ_BWD, R * F);
        t->r_dg = nn_seq_take(a, NN_SEQ_BWD, R * F);
        t->r_df = nn_seq_take(a, NN_SEQ_BWD, R * E);
        t->r_dlin1x = nn_seq_take(a, NN_SEQ_BWD, R * E);
    }
    nn_tensor_describe(&s->output, NN_F32, 3, x->shape);
    s->flops += (uint64_t)(4 * R * E * F + 20 * R * E);
    return nn_seq_arena_declare(a, s, err);
}

static int region_view(tel *t, int k, nn_seq_region r, const nn_layer_io *io, nn_error *err)
{
    return nn_seq_view_region(&t->v[k], &t->ar, io, r, t->name, err);
}

static const nn_tensor *tv(tel *t, int k)
{
    return t->v[k].base ? &t->v[k].t : NULL;
}

static int tel_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    tel *t = self;
    const char *L = t->name;
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    int training = io->grad_output && nn_layer_param_grad(io, t->param[P_L1W]);
    /* attention's input gradient feeds LN1 in pre-norm (its parameters need it); in
     * post-norm only the layer's own input gradient needs it */
    t->want_dx_attn = training && (t->norm_first || io->grad_inputs[0]);
    memset(t->v, 0, sizeof t->v);
    nn_seq_region lin1x = t->norm_first ? t->r_n2 : t->r_x1;
    if ((t->norm_first && (rc = region_view(t, V_XIN, t->r_n1, io, err))) ||
        (rc = region_view(t, V_A, t->r_a, io, err)) ||
        (rc = region_view(t, V_LIN1X, lin1x, io, err)) ||
        (rc = region_view(t, V_H, t->r_h, io, err)) ||
        (rc = region_view(t, V_G, t->r_g, io, err)) ||
        (rc = region_view(t, V_F, t->r_f, io, err)))
        return rc;
    if (training && ((rc = region_view(t, V_DA, t->r_da, io, err)) ||
                     (rc = region_view(t, V_DXA, t->r_dxa, io, err)) ||
                     (rc = region_view(t, V_DH, t->r_dh, io, err)) ||
                     (rc = region_view(t, V_DG, t->r_dg, io, err)) ||
                     (rc = region_view(t, V_DF, t->r_df, io, err)) ||
                     (rc = region_view(t, V_DLIN1X, t->r_dlin1x, io, err))))
        return rc;
    const nn_tensor *xin = t->norm_first ? tv(t, V_XIN) : io->inputs[0];
    if ((rc = nn_seq_attn_bind(&t->attn, io, &t->ar, xin, NULL, tv(t, V_A), tv(t, V_DA),
                               t->want_dx_attn ? tv(t, V_DXA) : NULL, NULL, err)))
        return rc;
#define P(k) nn_layer_param(io, t->param[k])
#define G(k) (training ? nn_layer_param_grad(io, t->param[k]) : NULL)
    if ((rc = nn_seq_lin_bind(&t->lin1, training, t->R, t->E, t->F, tv(t, V_LIN1X), P(P_L1W),
                              P(P_L1B), tv(t, V_H), tv(t, V_DH), tv(t, V_DLIN1X), G(P_L1W),
                              G(P_L1B), L, err)) ||
        (rc = nn_seq_lin_bind(&t->lin2, training, t->R, t->F, t->E, tv(t, V_G), P(P_L2W),
                              P(P_L2B), tv(t, V_F), tv(t, V_DF), tv(t, V_DG), G(P_L2W),
                              G(P_L2B), L, err)))
        return rc;
#undef P
#undef G
    return nn_seq_act_bind(&t->actop, t->act, training, t->R * t->F, tv(t, V_H), tv(t, V_G),
                           tv(t, V_DG), tv(t, V_DH), L, err);
}

static float *at(const tel *t, const nn_layer_io *io, nn_seq_region r)
{
    return nn_seq_at(&t->ar, io, r);
}

static const float *pf(const nn_layer_io *io, const tel *t, int k)
{
    return NN_F32P(nn_layer_param(io, t->param[k]));
}

/* y = x + dropout(f) over N samples of T * E floats (p = 0 outside training forwards); the
 * masks are drawn per sample, as in the dropout layer */
static void residual(const tel *t, float *y, const float *x, float *f, double p, uint64_t seed,
                     uint64_t stream)
{
    int64_t n = t->R * t->E;
    nn_seq_dropout(f, f, t->N, t->T * t->E, p, seed, stream);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] + f[i];
}

static int tel_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    tel *t = self;
    const char *L = t->name;
    int rc;
    if (!t->lin1.fwd.prim && (rc = tel_bind(self, io, err)))
        return rc;
    nn_seq_views_sync(t->v, V_COUNT);
    int64_t E = t->E;
    double p = io->training ? t->drop : 0;
    const float *x = NN_F32P(io->inputs[0]);
    float *out = NN_F32P(io->output), *x1 = at(t, io, t->r_x1);
    const nn_tensor *pad = t->pad_in >= 0 ? io->inputs[t->pad_in] : NULL;
    float *m1 = at(t, io, t->r_m1), *r1 = at(t, io, t->r_r1);
    float *m2 = at(t, io, t->r_m2), *r2 = at(t, io, t->r_r2);
    if (t->norm_first)
        nn_seq_ln_forward(x, at(t, io, t->r_n1), pf(io, t, P_N1W), pf(io, t, P_N1B), m1, r1,
                          t->R, E, t->eps);
    if ((rc = nn_seq_attn_forward(&t->attn, io, pad, io->training, err)))
        return rc;
    float *a = at(t, io, t->r_a);
    if (t->norm_first) {
        residual(t, x1, x, a, p, io->seed, t->stream + 1);
        nn_seq_ln_forward(x1, at(t, io, t->r_n2), pf(io, t, P_N2W), pf(io, t, P_N2B), m2, r2,
                          t->R, E, t->eps);
    } else {
        float *s1 = at(t, io, t->r_s1);
        residual(t, s1, x, a, p, io->seed, t->stream + 1);
        nn_seq_ln_forward(s1, x1, pf(io, t, P_N1W), pf(io, t, P_N1B), m1, r1, t->R, E, t->eps);
    }
    if ((rc = nn_seq_lin_forward(&t->lin1, L, err)) ||
        (rc = nn_dnnl_op_run(&t->actop.fwd, L, err)))
        return rc;
    float *g = at(t, io, t->r_g);
    nn_seq_dropout(g, g, t->N, t->T * t->F, p, io->seed, t->stream + 2);
    if ((rc = nn_seq_lin_forward(&t->lin2, L, err)))
        return rc;
    float *f = at(t, io, t->r_f);
    if (t->norm_first) {
        residual(t, out, x1, f, p, io->seed, t->stream + 3);
    } else {
        float *s2 = at(t, io, t->r_s2);
        residual(t, s2, x1, f, p, io->seed, t->stream + 3);
        nn_seq_ln_forward(s2, out, pf(io, t, P_N2W), pf(io, t, P_N2B), m2, r2, t->R, E, t->eps);
    }
    return NN_OK;
}

static float *gf(const nn_layer_io *io, const tel *t, int k)
{
    return NN_F32P(nn_layer_param_grad(io, t->param[k]));
}

static void add_into(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

static int tel_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    tel *t = self;
    const char *L = t->name;
    int rc;
    if (!t->lin1.bw.prim)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward on a plan bound without gradients", L);
    nn_seq_views_sync(t->v, V_COUNT);
    if (t->pad_in >= 0 && io->grad_inputs[t->pad_in])
        memset(NN_F32P(io->grad_inputs[t->pad_in]), 0,
               nn_tensor_nbytes(io->grad_inputs[t->pad_in]));
    int64_t RE = t->R * t->E, R = t->R, E = t->E;
    double p = t->drop;
    uint64_t seed = io->seed;
    const float *dout = NN_F32P(io->grad_output), *x = NN_F32P(io->inputs[0]);
    float *dx = io->grad_inputs[0] ? NN_F32P(io->grad_inputs[0]) : NULL;
    float *dx1 = at(t, io, t->r_dx1), *ds = at(t, io, t->r_ds), *df = at(t, io, t->r_df);
    float *dg = at(t, io, t->r_dg), *da = at(t, io, t->r_da), *dxa = at(t, io, t->r_dxa);
    float *dlin1x = at(t, io, t->r_dlin1x), *x1 = at(t, io, t->r_x1);
    const float *m1 = at(t, io, t->r_m1), *r1 = at(t, io, t->r_r1);
    const float *m2 = at(t, io, t->r_m2), *r2 = at(t, io, t->r_r2);
    /* the feed-forward block's output gradient: dout (pre-norm) or through LN2 (post) */
    const float *dres2 = dout;
    if (!t->norm_first) {
        nn_seq_ln_backward(at(t, io, t->r_s2), dout, pf(io, t, P_N2W), m2, r2, ds,
                           gf(io, t, P_N2W), gf(io, t, P_N2B), R, E);
        dres2 = ds;
    }
    nn_seq_dropout(df, dres2, t->N, t->T * E, p, seed, t->stream + 3);
    if ((rc = nn_seq_lin_backward(&t->lin2, 1, L, err)))
        return rc;
    nn_seq_dropout(dg, dg, t->N, t->T * t->F, p, seed, t->stream + 2);
    if ((rc = nn_dnnl_op_run(&t->actop.bwd, L, err)) ||
        (rc = nn_seq_lin_backward(&t->lin1, 1, L, err)))
        return rc;
    if (t->norm_first) { /* dx1 = dout + LN2'(dn2) */
        nn_seq_ln_backward(x1, dlin1x, pf(io, t, P_N2W), m2, r2, dx1, gf(io, t, P_N2W),
                           gf(io, t, P_N2B), R, E);
        add_into(dx1, dout, RE);
        nn_seq_dropout(da, dx1, t->N, t->T * E, p, seed, t->stream + 1);
    } else { /* dx1 = ds2 + dlin1x, then through LN1 into ds1 */
        for (int64_t i = 0; i < RE; i++)
            dx1[i] = ds[i] + dlin1x[i];
        nn_seq_ln_backward(at(t, io, t->r_s1), dx1, pf(io, t, P_N1W), m1, r1, ds,
                           gf(io, t, P_N1W), gf(io, t, P_N1B), R, E);
        nn_seq_dropout(da, ds, t->N, t->T * E, p, seed, t->stream + 1);
    }
    if ((rc = nn_seq_attn_backward(&t->attn, io, err)))
        return rc;
    if (t->norm_first) { /* dx = dx1 + LN1'(dn1) */
        nn_seq_ln_backward(x, dxa, pf(io, t, P_N1W), m1, r1, dx, gf(io, t, P_N1W),
                           gf(io, t, P_N1B), R, E);
        if (dx)
            add_into(dx, dx1, RE);
    } else if (dx) { /* dx = ds1 + attention's input gradient */
        for (int64_t i = 0; i < RE; i++)
            dx[i] = ds[i] + dxa[i];
    }
    return NN_OK;
}

static const nn_param_spec tel_params[] = {
    {.name = "nhead", .type = NN_PARAM_INT, .required = 1, .range = "[1, inf)",
     .doc = "number of attention heads; d_model (the input's last dim) must be divisible by it"},
    {.name = "dim_feedforward", .type = NN_PARAM_INT, .def = "2048", .range = "[1, inf)",
     .doc = "width of the feed-forward block (linear1: d_model -> dim_feedforward)"},
    {.name = "dropout", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, 1)",
     .doc = "dropout on the attention weights, after each block and inside the feed-forward "
            "block, in training only (PyTorch's default 0.1)"},
    {.name = "activation", .type = NN_PARAM_ENUM, .def = "relu", .choices = "relu|gelu",
     .doc = "activation of the feed-forward block; gelu is the exact erf form"},
    {.name = "norm_first", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "pre-norm: x + block(norm(x)); false = post-norm: norm(x + block(x)), PyTorch's "
            "default"},
    {.name = "layer_norm_eps", .type = NN_PARAM_FLOAT, .def = "1e-5", .range = "(0, 1)",
     .doc = "epsilon of both layer norms"},
    {.name = "causal", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "position t attends to positions s <= t only"},
    {.name = "pad_id", .type = NN_PARAM_INT, .def = "0", .range = "(-inf, inf)",
     .doc = "the padding token id, when the padding input holds token ids; " NN_SEQ_PAD_DOC},
    {.name = NULL},
};

/* ONNX: the blocks as tel_forward composes them in evaluation (no dropout) */
static const char *tel_ff(const tel *t, const nn_layer_export *x, const char *in)
{
    nn_export *g = x->out;
    const char *h = nn_export_value(g, "linear1"), *a = nn_export_value(g, "act");
    const char *f = nn_export_value(g, "linear2");
    nn_export_linear(g, "linear1", in, 3, x->params[t->param[P_L1W]], x->params[t->param[P_L1B]],
                     h);
    nn_export_activation(g, t->act == NN_ACT_GELU ? "gelu" : "relu", 0, NULL, h, a);
    nn_export_linear(g, "linear2", a, 3, x->params[t->param[P_L2W]], x->params[t->param[P_L2B]],
                     f);
    return f;
}

static const char *tel_norm(const tel *t, const nn_layer_export *x, int k, const char *in,
                            const char *y)
{
    const char *out = y ? y : nn_export_value(x->out, k ? "norm2" : "norm1");
    nn_export_layernorm(x->out, k ? "norm2" : "norm1", in, t->E,
                        x->params[t->param[k ? P_N2W : P_N1W]],
                        x->params[t->param[k ? P_N2B : P_N1B]], t->eps, out);
    return out;
}

static int tel_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const tel *t = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    const char *in = x->inputs[0], *pad = t->pad_in >= 0 ? x->inputs[t->pad_in] : NULL;
    const char *a = nn_export_value(g, "attn"), *x1 = nn_export_value(g, "x1");
    if (t->norm_first) { /* x1 = x + attn(LN1(x)); out = x1 + ff(LN2(x1)) */
        nn_seq_attn_export(&t->attn, x, "self_attn.", tel_norm(t, x, 0, in, NULL), NULL, pad,
                           a);
        nn_export_op2(g, "Add", in, a, x1);
        nn_export_op2(g, "Add", x1, tel_ff(t, x, tel_norm(t, x, 1, x1, NULL)), x->output);
    } else { /* x1 = LN1(x + attn(x)); out = LN2(x1 + ff(x1)) */
        const char *s1 = nn_export_value(g, "sum1"), *s2 = nn_export_value(g, "sum2");
        nn_seq_attn_export(&t->attn, x, "self_attn.", in, NULL, pad, a);
        nn_export_op2(g, "Add", in, a, s1);
        tel_norm(t, x, 0, s1, x1);
        nn_export_op2(g, "Add", x1, tel_ff(t, x, x1), s2);
        tel_norm(t, x, 1, s2, x->output);
    }
    return nn_export_status(g, err);
}

static const nn_layer_vtable tel_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = tel_create,
    .destroy = tel_destroy,
    .setup = tel_setup,
    .bind = tel_bind,
    .forward = tel_forward,
    .backward = tel_backward,
    .export_as = tel_export, /* optional: ONNX */
};

/* the cases `nntrain plugins test transformer_encoder_layer` checks (the schema's defaults,
 * dim_feedforward 2048 on an unknown width, give none): both norm orders, causal, gelu (no
 * kink), and dropout 0 so that the finite differences see one function */
static const nn_test_case tel_cases[] = {
    {.params = "nhead=2; dim_feedforward=6; dropout=0; activation=gelu", .inputs = "2x3x4"},
    {.params = "nhead=1; dim_feedforward=5; dropout=0; activation=gelu; norm_first=true; "
               "causal=true",
     .inputs = "1x4x6"},
};

static const nn_test_spec tel_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof tel_cases / sizeof *tel_cases),
    .cases = tel_cases,
};

static const nn_plugin_desc tel_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "transformer_encoder_layer", .version = "1.0.0",
    .license = "MIT",
    .summary = "transformer encoder block as PyTorch's nn.TransformerEncoderLayer("
               "batch_first=True): self-attention and feed-forward, pre- or post-norm",
    .caps = NN_CAP_BACKWARD, .params = tel_params, .vtable = &tel_vtable, .test = &tel_test);

NN_PLUGIN_EXPORT(&tel_desc);
