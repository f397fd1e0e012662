/* multihead_attention.c: the layer plugin "multihead_attention", PyTorch's
 * nn.MultiheadAttention(embed_dim, num_heads, batch_first=True) with its parameter names
 * and layouts. Inputs: the query [N, T, E]; optionally keys/values [N, S, E] (cross
 * attention; without it, self attention); optionally a padding input (any rank-1/2 input
 * last, see NN_SEQ_PAD_DOC). The work is in plugins/common/nn_seq_attn.c; this file wires
 * inputs to it. Never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_seq_attn.h"
#include "nn_seq_export.h"

typedef struct mha {
    nn_seq_attn_cfg cfg;
    nn_seq_attn a;
    nn_seq_arena ar;
    int kv_in, pad_in; /* input index of keys/values and of the padding, -1 when absent */
} mha;

static int mha_create(const nn_params *p, void **self, nn_error *err)
{
    mha *m = calloc(1, sizeof *m);
    if (!m)
        return nn_error_set(err, NN_ENOMEM, "multihead_attention: out of memory");
    m->cfg.heads = nn_params_int(p, "num_heads");
    m->cfg.bias = nn_params_bool(p, "bias");
    m->cfg.causal = nn_params_bool(p, "causal");
    m->cfg.dropout = nn_params_float(p, "dropout");
    m->cfg.pad_id = nn_params_int(p, "pad_id");
    *self = m;
    return NN_OK;
}

static void mha_destroy(void *self)
{
    mha *m = self;
    nn_seq_attn_destroy(&m->a);
    free(m);
}

static int mha_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    mha *m = self;
    const char *L = s->layer_name;
    if (s->n_inputs < 1 || s->n_inputs > 3)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': multihead_attention takes the query, optionally "
                            "keys/values [N, S, E] and optionally a padding input (1 to 3 "
                            "inputs), got %d",
                            L, s->n_inputs);
    m->kv_in = m->pad_in = -1;
    for (int k = 1; k < s->n_inputs; k++) {
        int rank3 = s->inputs[k]->dl.ndim == 3;
        if (rank3 && k == 1)
            m->kv_in = k;
        else if (!rank3 && k == s->n_inputs - 1)
            m->pad_in = k;
        else
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s': input %d must be %s: the order is query, "
                                "keys/values [N, S, E], padding ([N, S] or [N])",
                                L, k + 1, rank3 ? "the padding input" : "keys/values");
    }
    nn_seq_arena_init(&m->ar, s->training);
    s->flops = 0;
    int rc = nn_seq_attn_setup(&m->a, &m->cfg, s, "", s->inputs[0],
                               m->kv_in >= 0 ? s->inputs[m->kv_in] : NULL,
                               m->pad_in >= 0 ? s->inputs[m->pad_in] : NULL, &m->ar, err);
    if (rc)
        return rc;
    nn_tensor_describe(&s->output, NN_F32, 3, s->inputs[0]->shape);
    return nn_seq_arena_declare(&m->ar, s, err);
}

static int mha_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    mha *m = self;
    int rc = nn_dnnl_init(m->a.name, err);
    if (rc)
        return rc;
    return nn_seq_attn_bind(&m->a, io, &m->ar, io->inputs[0],
                            m->kv_in >= 0 ? io->inputs[m->kv_in] : NULL, io->output,
                            io->grad_output, io->grad_inputs[0],
                            m->kv_in >= 0 ? io->grad_inputs[m->kv_in] : NULL, err);
}

static int mha_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    mha *m = self;
    int rc;
    if (!m->a.scores.prim && (rc = mha_bind(self, io, err)))
        return rc;
    return nn_seq_attn_forward(&m->a, io, m->pad_in >= 0 ? io->inputs[m->pad_in] : NULL,
                               io->training, err);
}

static int mha_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    mha *m = self;
    /* a mask made by a layer gets a zero gradient: it only selects */
    if (m->pad_in >= 0 && io->grad_inputs[m->pad_in])
        memset(NN_F32P(io->grad_inputs[m->pad_in]), 0,
               nn_tensor_nbytes(io->grad_inputs[m->pad_in]));
    return nn_seq_attn_backward(&m->a, io, err);
}

static const nn_param_spec mha_params[] = {
    {.name = "num_heads", .type = NN_PARAM_INT, .required = 1, .range = "[1, inf)",
     .doc = "number of heads; embed_dim (the query's last dim) must be divisible by it"},
    {.name = "bias", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "learn in_proj_bias [3E] and out_proj.bias [E] (PyTorch's bias=True)"},
    {.name = "dropout", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",
     .doc = "dropout on the attention weights in training, drawn from the step seed"},
    {.name = "causal", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "query position t attends to key positions s <= t only (PyTorch's "
            "generate_square_subsequent_mask)"},
    {.name = "pad_id", .type = NN_PARAM_INT, .def = "0", .range = "(-inf, inf)",
     .doc = "the padding token id, when the padding input holds token ids; " NN_SEQ_PAD_DOC
            "; a query whose keys are all padding gets zero weights"},
    {.name = NULL},
};

/* ONNX: the attention subgraph of nn_seq_export.c */
static int mha_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const mha *m = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_seq_attn_export(&m->a, x, "", x->inputs[0], m->kv_in >= 0 ? x->inputs[m->kv_in] : NULL,
                       m->pad_in >= 0 ? x->inputs[m->pad_in] : NULL, x->output);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable mha_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = mha_create,
    .destroy = mha_destroy,
    .setup = mha_setup,
    .bind = mha_bind,
    .forward = mha_forward,
    .backward = mha_backward,
    .export_as = mha_export, /* optional: ONNX */
};

static const nn_plugin_desc mha_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "multihead_attention", .version = "1.0.0", .license = "MIT",
    .summary = "multi-head attention as PyTorch's nn.MultiheadAttention(batch_first=True): "
               "self or cross (inputs = query, keys/values), causal and padding masks",
    .caps = NN_CAP_BACKWARD, .params = mha_params, .vtable = &mha_vtable);

NN_PLUGIN_EXPORT(&mha_desc);
