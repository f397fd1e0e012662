/* patch_embedding.c: the layer plugin "patch_embedding", an image [N, C, H, W] cut into
 * p x p patches, each projected to embed_dim: tokens [N, (H/p)(W/p), E] in row-major patch
 * order, optionally after a learned class token (then [N, 1 + (H/p)(W/p), E]). It equals
 * PyTorch's Conv2d(C, E, kernel_size=p, stride=p) flattened and transposed (ViT's
 * patch_embed), with the same weight layout "proj.weight" [E, C, p, p] and "proj.bias" [E];
 * computed as non-overlapping patches (a plain-C gather, no im2col overlap) times a oneDNN
 * inner product. Built in bind; forward/backward never allocate. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <nntrain/export.h>
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq.h"

enum { V_PATCH, V_Y, V_DY, V_DPATCH, V_COUNT };

typedef struct patchemb {
    int64_t p, E;
    int bias, cls;
    nn_init winit;
    const char *name;
    int64_t N, C, H, W, gh, gw, P, K; /* P patches of K = C p p values */
    int p_w, p_b, p_cls;
    nn_seq_arena ar;
    nn_seq_region r_patch, r_y, r_dy, r_dpatch;
    nn_seq_view v[V_COUNT];
    nn_seq_lin lin;
} patchemb;

static int patchemb_create(const nn_params *p, void **self, nn_error *err)
{
    patchemb *e = calloc(1, sizeof *e);
    if (!e)
        return nn_error_set(err, NN_ENOMEM, "patch_embedding: out of memory");
    e->p = nn_params_int(p, "patch_size");
    e->E = nn_params_int(p, "embed_dim");
    e->bias = nn_params_bool(p, "bias");
    e->cls = nn_params_bool(p, "class_token");
    e->winit = nn_stock_weight_init(nn_params_enum(p, "weight_init"));
    *self = e;
    return NN_OK;
}

static void patchemb_destroy(void *self)
{
    patchemb *e = self;
    nn_seq_lin_destroy(&e->lin);
    free(e);
}

static int patchemb_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    patchemb *e = self;
    const char *L = e->name = s->layer_name;
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': patch_embedding takes 1 input, got %d",
                            L, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 4 || nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': patch_embedding expects an F32 image [N, C, H, W], got "
                            "%s",
                            L, nn_shape_str(x, buf, sizeof buf));
    e->N = x->shape[0], e->C = x->shape[1], e->H = x->shape[2], e->W = x->shape[3];
    if (e->H % e->p || e->W % e->p)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': the image %s is not a whole number of %lld x %lld "
                            "patches (crop or pad it, or pick a patch_size dividing H and W)",
                            L, nn_shape_str(x, buf, sizeof buf), (long long)e->p,
                            (long long)e->p);
    e->gh = e->H / e->p, e->gw = e->W / e->p;
    e->P = e->gh * e->gw;
    e->K = e->C * e->p * e->p;
    int64_t w[4] = {e->E, e->C, e->p, e->p}, cls[3] = {1, 1, e->E};
    e->p_b = e->p_cls = -1;
    if ((e->p_w = nn_layer_add_param(s, "proj.weight", 4, w, e->winit, e->K, e->E * e->p * e->p,
                                     0)) < 0 ||
        (e->bias && (e->p_b = nn_layer_add_param(s, "proj.bias", 1, &e->E, NN_INIT_FAN_IN_UNIFORM,
                                                 e->K, e->E, NN_TENSOR_BIAS)) < 0) ||
        (e->cls && (e->p_cls = nn_layer_add_param(s, "cls_token", 3, cls, NN_INIT_NORMAL, e->E,
                                                  e->E, 0)) < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    if (e->cls)
        nn_layer_param_decl(s, e->p_cls)->init_arg = 0.02;
    int64_t rows = e->N * e->P;
    nn_seq_arena_init(&e->ar, s->training);
    e->r_patch = nn_seq_take(&e->ar, NN_SEQ_KEEP, rows * e->K);
    if (e->cls) /* the projection cannot write between class tokens: it writes here */
        e->r_y = nn_seq_take(&e->ar, NN_SEQ_FWD, rows * e->E);
    if (s->training) {
        if (e->cls)
            e->r_dy = nn_seq_take(&e->ar, NN_SEQ_BWD, rows * e->E);
        e->r_dpatch = nn_seq_take(&e->ar, NN_SEQ_BWD, rows * e->K);
    }
    int64_t out[3] = {e->N, e->P + (e->cls ? 1 : 0), e->E};
    nn_tensor_describe(&s->output, NN_F32, 3, out);
    s->flops = (uint64_t)(2 * rows * e->K * e->E);
    return nn_seq_arena_declare(&e->ar, s, err);
}

static int patchemb_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    patchemb *e = self;
    int rc = nn_dnnl_init(e->name, err);
    if (rc)
        return rc;
    int training = io->grad_output && nn_layer_param_grad(io, e->p_w);
    memset(e->v, 0, sizeof e->v);
    if ((rc = nn_seq_view_region(&e->v[V_PATCH], &e->ar, io, e->r_patch, e->name, err)) ||
        (e->cls && (rc = nn_seq_view_region(&e->v[V_Y], &e->ar, io, e->r_y, e->name, err))))
        return rc;
    if (training && ((e->cls && (rc = nn_seq_view_region(&e->v[V_DY], &e->ar, io, e->r_dy,
                                                         e->name, err))) ||
                     (io->grad_inputs[0] &&
                      (rc = nn_seq_view_region(&e->v[V_DPATCH], &e->ar, io, e->r_dpatch, e->name,
                                               err)))))
        return rc;
    const nn_tensor *y = e->cls ? &e->v[V_Y].t : io->output;
    const nn_tensor *dy = !training ? NULL : e->cls ? &e->v[V_DY].t : io->grad_output;
    return nn_seq_lin_bind(&e->lin, training, e->N * e->P, e->K, e->E, &e->v[V_PATCH].t,
                           nn_layer_param(io, e->p_w), e->bias ? nn_layer_param(io, e->p_b) : NULL,
                           y, dy, io->grad_inputs[0] && training ? &e->v[V_DPATCH].t : NULL,
                           training ? nn_layer_param_grad(io, e->p_w) : NULL,
                           training && e->bias ? nn_layer_param_grad(io, e->p_b) : NULL, e->name,
                           err);
}

/* image <-> patches [N * P, K], K in (c, i, j) order as the conv weight's (C, kh, kw) */
static void gather(const patchemb *e, const float *x, float *patches)
{
    int64_t p = e->p;
    for (int64_t n = 0; n < e->N; n++)
        for (int64_t gy = 0; gy < e->gh; gy++)
            for (int64_t gx = 0; gx < e->gw; gx++) {
                float *row = patches + ((n * e->gh + gy) * e->gw + gx) * e->K;
                for (int64_t c = 0; c < e->C; c++)
                    for (int64_t i = 0; i < p; i++)
                        memcpy(row + (c * p + i) * p,
                               x + ((n * e->C + c) * e->H + gy * p + i) * e->W + gx * p,
                               sizeof *row * (size_t)p);
            }
}

static void scatter(const patchemb *e, const float *patches, float *x)
{
    int64_t p = e->p;
    for (int64_t n = 0; n < e->N; n++)
        for (int64_t gy = 0; gy < e->gh; gy++)
            for (int64_t gx = 0; gx < e->gw; gx++) {
                const float *row = patches + ((n * e->gh + gy) * e->gw + gx) * e->K;
                for (int64_t c = 0; c < e->C; c++)
                    for (int64_t i = 0; i < p; i++)
                        memcpy(x + ((n * e->C + c) * e->H + gy * p + i) * e->W + gx * p,
                               row + (c * p + i) * p, sizeof *row * (size_t)p);
            }
}

static int patchemb_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    patchemb *e = self;
    int rc;
    if (!e->lin.fwd.prim && (rc = patchemb_bind(self, io, err)))
        return rc;
    nn_seq_views_sync(e->v, V_COUNT);
    gather(e, NN_F32P(io->inputs[0]), NN_F32P(&e->v[V_PATCH].t));
    if ((rc = nn_seq_lin_forward(&e->lin, e->name, err)) || !e->cls)
        return rc;
    const float *cls = NN_F32P(nn_layer_param(io, e->p_cls)), *y = NN_F32P(&e->v[V_Y].t);
    float *out = NN_F32P(io->output);
    size_t row = sizeof *out * (size_t)e->E;
    for (int64_t n = 0; n < e->N; n++) {
        float *o = out + n * (e->P + 1) * e->E;
        memcpy(o, cls, row);
        memcpy(o + e->E, y + n * e->P * e->E, row * (size_t)e->P);
    }
    return NN_OK;
}

static int patchemb_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    patchemb *e = self;
    int rc;
    nn_seq_views_sync(e->v, V_COUNT);
    if (e->cls) {
        const float *dout = NN_F32P(io->grad_output);
        float *dy = NN_F32P(&e->v[V_DY].t), *dcls = NN_F32P(nn_layer_param_grad(io, e->p_cls));
        size_t row = sizeof *dy * (size_t)e->E;
        memset(dcls, 0, row);
        for (int64_t n = 0; n < e->N; n++) {
            const float *g = dout + n * (e->P + 1) * e->E;
            for (int64_t j = 0; j < e->E; j++)
                dcls[j] += g[j];
            memcpy(dy + n * e->P * e->E, g + e->E, row * (size_t)e->P);
        }
    }
    if ((rc = nn_seq_lin_backward(&e->lin, io->grad_inputs[0] != NULL, e->name, err)))
        return rc;
    if (io->grad_inputs[0])
        scatter(e, NN_F32P(&e->v[V_DPATCH].t), NN_F32P(io->grad_inputs[0]));
    return NN_OK;
}

static const nn_param_spec patchemb_params[] = {
    {.name = "patch_size", .type = NN_PARAM_INT, .required = 1, .range = "[1, inf)",
     .doc = "side p of the square patches (the conv's kernel and stride); H and W must be "
            "multiples of it"},
    {.name = "embed_dim", .type = NN_PARAM_INT, .required = 1, .range = "[1, inf)",
     .doc = "size E of each token"},
    {.name = "class_token", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "prepend a learned token 'cls_token' [1, 1, E] (init N(0, 0.02^2)) at position 0, "
            "as ViT; pool it with sequence_pool mode = first"},
    {.name = "bias", .type = NN_PARAM_BOOL, .def = "true", .doc = "learn proj.bias [E]"},
    {.name = "weight_init", .type = NN_PARAM_ENUM, .def = "torch",
     .choices = NN_STOCK_WEIGHT_INIT_CHOICES, .doc = NN_STOCK_WEIGHT_INIT_DOC},
    {.name = NULL},
};

/* ONNX: the stride-p p x p Conv, [N, E, gh, gw] -> [N, P, E], after the class token */
static int patchemb_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const patchemb *e = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    const char *conv = nn_export_value(g, "conv"), *flat = nn_export_value(g, "flat");
    const char *tokens = e->cls ? nn_export_value(g, "tokens") : x->output;
    const char *in[3] = {x->inputs[0], nn_export_const(g, "proj.weight", x->params[e->p_w]),
                         e->bias ? nn_export_const(g, "proj.bias", x->params[e->p_b]) : ""};
    int node = nn_export_node(g, "Conv", e->bias ? 3 : 2, in, 1, &conv);
    if (node >= 0) {
        nn_export_attr_ints(g, node, "kernel_shape", 2, (const int64_t[]){e->p, e->p});
        nn_export_attr_ints(g, node, "strides", 2, (const int64_t[]){e->p, e->p});
    }
    nn_export_reshape(g, conv, 2, (const int64_t[]){e->E, e->P}, flat);
    node = nn_export_op1(g, "Transpose", flat, tokens);
    if (node >= 0)
        nn_export_attr_ints(g, node, "perm", 3, (const int64_t[]){0, 2, 1});
    if (e->cls) { /* the token [1, 1, E] expanded to [N, 1, E] */
        const char *cls = nn_export_value(g, "cls");
        const char *shape = nn_export_batch_shape(g, x->inputs[0], 2, (const int64_t[]){1, e->E});
        nn_export_op2(g, "Expand", nn_export_const(g, "cls_token", x->params[e->p_cls]), shape,
                      cls);
        const char *cat[2] = {cls, tokens};
        node = nn_export_node(g, "Concat", 2, cat, 1, &x->output);
        if (node >= 0)
            nn_export_attr_int(g, node, "axis", 1);
    }
    return nn_export_status(g, err);
}

static const nn_layer_vtable patchemb_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = patchemb_create,
    .destroy = patchemb_destroy,
    .setup = patchemb_setup,
    .bind = patchemb_bind,
    .forward = patchemb_forward,
    .backward = patchemb_backward,
    .export_as = patchemb_export, /* optional: ONNX */
};

static const nn_plugin_desc patchemb_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "patch_embedding", .version = "1.0.0", .license = "MIT",
    .summary = "image [N, C, H, W] -> patch tokens [N, (H/p)(W/p), E] (a stride-p p x p conv, "
               "as ViT), optional class token",
    .caps = NN_CAP_BACKWARD, .params = patchemb_params, .vtable = &patchemb_vtable);

NN_PLUGIN_EXPORT(&patchemb_desc);
