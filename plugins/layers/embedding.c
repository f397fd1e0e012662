/* embedding.c: the layer plugin "embedding", I32 token ids [N, ...] -> F32 rows of a learned
 * table [N, ..., embedding_dim]. An id outside [0, num_embeddings) is an error naming the batch
 * row and position, never a silent read. Ids get no gradient; the table's gradient is a
 * scatter-add. Forward and backward never allocate. */
#include <nntrain/nntrain.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct embedding {
    int64_t num, dim;
    int64_t padding_idx; /* -1: none */
    int64_t per_row;     /* ids per batch row, for messages */
    char name[NN_NAME_MAX]; /* the layer's name, for messages */
} embedding;

static int embedding_create(const nn_params *params, void **self, nn_error *err)
{
    int64_t num = nn_params_int(params, "num_embeddings");
    int64_t pad = nn_params_int(params, "padding_idx");
    if (pad >= num)
        return nn_error_set(err, NN_EINVAL,
                            "key 'padding_idx' = %lld must be -1 (none) or below "
                            "num_embeddings = %lld",
                            (long long)pad, (long long)num);
    embedding *e = calloc(1, sizeof *e);
    if (!e)
        return nn_error_set(err, NN_ENOMEM, "embedding: out of memory");
    e->num = num;
    e->dim = nn_params_int(params, "embedding_dim");
    e->padding_idx = pad;
    *self = e;
    return NN_OK;
}

static void embedding_destroy(void *self)
{
    free(self);
}

static int embedding_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    embedding *e = self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (embedding): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nn_tensor_dtype(x) != NN_I32 || nd < 1 || nd >= NN_MAX_DIMS)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (embedding): input %s must be I32 token ids [N, L] (or "
                            "[N]), with fewer than %d dimensions",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape), NN_MAX_DIMS);
    int64_t out[NN_MAX_DIMS];
    memcpy(out, x->shape, sizeof(int64_t) * (size_t)nd);
    out[nd] = e->dim;
    nn_tensor_describe(&s->output, NN_F32, nd + 1, out);
    e->per_row = nn_shape_numel(nd - 1, x->shape + 1);
    snprintf(e->name, sizeof e->name, "%s", s->layer_name ? s->layer_name : "?");
    const int64_t w[2] = {e->num, e->dim};
    int i = nn_layer_add_param(s, "weight", 2, w, NN_INIT_NORMAL, e->dim, e->num, 0);
    if (i < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (embedding): no parameter slot left",
                            s->layer_name);
    s->params[i].init_arg = 1.0; /* N(0, 1), PyTorch's nn.Embedding default */
    s->flops = 0;
    return NN_OK;
}

static int bad_id(const embedding *e, int64_t flat, int32_t id, nn_error *err)
{
    int64_t row = e->per_row ? flat / e->per_row : 0, pos = e->per_row ? flat % e->per_row : 0;
    return nn_error_set(err, NN_EINVAL,
                        "layer '%s' (embedding): token id %d at batch row %lld, position %lld "
                        "is outside [0, %lld) (num_embeddings)",
                        e->name, (int)id, (long long)row, (long long)pos, (long long)e->num);
}

static int embedding_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const embedding *e = self;
    const int32_t *ids = NN_I32P(io->inputs[0]);
    const float *w = NN_F32P(io->params[0]);
    float *y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->inputs[0]);
    const size_t row = sizeof(float) * (size_t)e->dim;
    for (int64_t t = 0; t < n; t++) {
        int32_t id = ids[t];
        if (id < 0 || id >= e->num)
            return bad_id(e, t, id, err);
        /* the padding row reads as zeros whatever the table holds there, as PyTorch's
         * zero-initialised, never-updated padding row does */
        if (id == e->padding_idx)
            memset(y + t * e->dim, 0, row);
        else
            memcpy(y + t * e->dim, w + (int64_t)id * e->dim, row);
    }
    return NN_OK;
}

static int embedding_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const embedding *e = self;
    const int32_t *ids = NN_I32P(io->inputs[0]);
    const float *g = NN_F32P(io->grad_output);
    float *gw = NN_F32P(io->param_grads[0]);
    int64_t n = nn_tensor_numel(io->inputs[0]), d = e->dim;
    memset(gw, 0, nn_tensor_nbytes(io->param_grads[0]));
    for (int64_t t = 0; t < n; t++) {
        int32_t id = ids[t];
        if (id < 0 || id >= e->num)
            return bad_id(e, t, id, err);
        if (id == e->padding_idx)
            continue;
        float *restrict dst = gw + (int64_t)id * d;
        const float *restrict src = g + t * d;
        for (int64_t j = 0; j < d; j++)
            dst[j] += src[j];
    }
    return NN_OK;
}

/* ONNX: Gather rows of the table (its padding row written as the zeros forward returns) */
static int embedding_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const embedding *e = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const char *table;
    if (e->padding_idx >= 0) {
        size_t n = (size_t)(e->num * e->dim);
        float *w = malloc(sizeof *w * n);
        if (!w)
            return nn_error_set(err, NN_ENOMEM, "layer '%s': out of memory", e->name);
        memcpy(w, NN_F32P(x->params[0]), sizeof *w * n);
        memset(w + e->padding_idx * e->dim, 0, sizeof *w * (size_t)e->dim);
        table = nn_export_const_f32(x->out, "weight", 2, (const int64_t[]){e->num, e->dim}, w);
        free(w);
    } else {
        table = nn_export_const(x->out, "weight", x->params[0]);
    }
    int node = nn_export_op2(x->out, "Gather", table, x->inputs[0], x->output);
    if (node >= 0)
        nn_export_attr_int(x->out, node, "axis", 0);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable embedding_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = embedding_create,
    .destroy = embedding_destroy,
    .setup = embedding_setup,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .export_as = embedding_export, /* optional: ONNX */
};

static const nn_param_spec embedding_params[] = {NN_STOCK_EMBEDDING_PARAMS, {.name = NULL}};

static const nn_plugin_desc embedding_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "embedding", .version = "1.0.0", .license = "MIT",
    .summary = "Lookup table: I32 token ids [N, L] -> F32 vectors [N, L, embedding_dim]",
    .caps = NN_CAP_BACKWARD, .params = embedding_params, .vtable = &embedding_vtable);

NN_PLUGIN_EXPORT(&embedding_desc);
