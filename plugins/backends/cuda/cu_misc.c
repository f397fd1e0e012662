/* cu_misc.c: dropout and embedding on CUDA, with the CPU plugins' keys. Dropout draws the CPU
 * plugin's masks from io->seed (bit for bit, so runs are identical on every device); embedding
 * refuses ids out of range: synchronously when that costs no extra wait, else through the
 * error record at the next synchronisation, with NaN rows meanwhile. Never allocates. */
#include <stdlib.h>
#include <string.h>

#include "cu_pack.h"

typedef struct cu_misc {
    double p;          /* dropout */
    uint64_t stream;   /* dropout: hash of the layer's name, as the CPU plugin */
    int mask_buf;      /* dropout: SAVED mask, -1 in eval plans */
    int64_t num, dim, padding, per_row; /* embedding */
    int site;          /* embedding: its name in kernel error records */
    const char *name;
} cu_misc;

static int dropout_create(const nn_params *params, void **self, nn_error *err)
{
    cu_misc *m = calloc(1, sizeof *m);
    if (!m)
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    m->p = nn_params_float(params, "p");
    m->mask_buf = -1;
    *self = m;
    return NN_OK;
}

static int embedding_create(const nn_params *params, void **self, nn_error *err)
{
    int64_t num = nn_params_int(params, "num_embeddings");
    int64_t pad = nn_params_int(params, "padding_idx");
    if (pad >= num)
        return nn_error_set(err, NN_EINVAL, "key 'padding_idx' = %lld must be -1 (none) or "
                            "below num_embeddings = %lld", (long long)pad, (long long)num);
    cu_misc *m = calloc(1, sizeof *m);
    if (!m)
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    m->num = num;
    m->dim = nn_params_int(params, "embedding_dim");
    m->padding = pad;
    *self = m;
    return NN_OK;
}

static void misc_destroy(void *self)
{
    free(self);
}

/* ---- dropout ------------------------------------------------------------------------------ */

/* FNV-1a of the name, as plugins/layers/dropout.c: two dropout layers draw different masks */
uint64_t cu_dropout_stream(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void cu_dropout_args(k_dropout *a, double p, uint64_t stream, uint64_t seed, int64_t rows,
                     int64_t per)
{
    memset(a, 0, sizeof *a);
    a->rows = rows;
    a->per = per;
    a->seed = seed;
    a->stream = stream;
    /* keep when a 32-bit draw >= p * 2^32, two draws per 64-bit number (as dropout.c) */
    a->threshold = (uint64_t)(p * 4294967296.0);
    a->scale = (float)(1.0 / (1.0 - p));
}

static int dropout_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_misc *m = self;
    int rc = cu_one_input(s, "dropout", NN_F32, &m->name, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    m->stream = cu_dropout_stream(s->layer_name);
    m->mask_buf = -1;
    if (s->training &&
        (m->mask_buf = nn_layer_add_buffer(s, "mask", NN_BUF_SAVED, NN_F32, x->dl.ndim,
                                           x->shape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (dropout): no buffer slot left",
                            m->name);
    s->flops = (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

static int dropout_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_misc *m = self;
    cu_dev *d = cu_dev_of(io->device, 1, m->name, err);
    if (!d)
        return NN_EINVAL;
    int64_t n = nn_tensor_numel(io->output), batch = io->inputs[0]->shape[0];
    k_dropout a;
    cu_dropout_args(&a, m->p, m->stream, io->seed, batch, batch ? n / batch : 0);
    CU_TENSOR(a.x, d, io->inputs[0], NN_F32, m->name, "input", err);
    CU_TENSOR(a.y, d, io->output, NN_F32, m->name, "output", err);
    if (!io->training)
        return cu_copy(d, m->name, a.y, a.x, nn_tensor_nbytes(io->output), err);
    if (m->mask_buf < 0 || !io->buffers[m->mask_buf])
        return nn_error_set(err, NN_EINVAL, "dropout: a training forward needs the mask "
                            "buffer, which an evaluation plan does not have");
    CU_TENSOR(a.mask, d, io->buffers[m->mask_buf], NN_F32, m->name, "mask", err);
    /* one thread per row: each row's stream is sequential, as on the CPU */
    return cu_launch_n(d, m->name, k_misc_fn(K_MISC_DROPOUT), batch, &a, sizeof a, err);
}

static int dropout_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_misc *m = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    cu_dev *d = cu_dev_of(io->device, 1, m->name, err);
    if (!d)
        return NN_EINVAL;
    if (m->mask_buf < 0 || !io->buffers[m->mask_buf])
        return nn_error_set(err, NN_EINVAL, "dropout: backward needs the saved mask buffer");
    k_multi a = {.n = nn_tensor_numel(io->output), .n_in = 2, .op = K_MULTI_MUL};
    CU_TENSOR(a.x[0], d, io->grad_output, NN_F32, m->name, "output gradient", err);
    CU_TENSOR(a.x[1], d, io->buffers[m->mask_buf], NN_F32, m->name, "mask", err);
    CU_TENSOR(a.out[0], d, io->grad_inputs[0], NN_F32, m->name, "input gradient", err);
    return cu_launch_n(d, m->name, k_eltwise_fn(K_ELT_MULTI), a.n, &a, sizeof a, err);
}

/* ---- embedding ---------------------------------------------------------------------------- */

static int embedding_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_misc *e = self;
    char shape[128];
    e->name = cu_name(s->layer_name, "embedding");
    cu_dev *d = cu_dev_of(s->device, 0, e->name, err);
    if (!d)
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (embedding): takes 1 input, got %d",
                            e->name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nn_tensor_dtype(x) != NN_I32 || nd < 1 || nd >= NN_MAX_DIMS)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (embedding): input %s must be I32 token "
                            "ids [N, L] (or [N]), with fewer than %d dimensions", e->name,
                            nn_shape_str(x, shape, sizeof shape), NN_MAX_DIMS);
    int64_t out[NN_MAX_DIMS];
    memcpy(out, x->shape, sizeof(int64_t) * (size_t)nd);
    out[nd] = e->dim;
    nn_tensor_describe(&s->output, NN_F32, nd + 1, out);
    e->per_row = nn_shape_numel(nd - 1, x->shape + 1);
    e->site = cu_site(d, "layer '%s' (embedding)", e->name);
    const int64_t w[2] = {e->num, e->dim};
    int i = nn_layer_add_param(s, "weight", 2, w, NN_INIT_NORMAL, e->dim, e->num, 0);
    if (i < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (embedding): no parameter slot left",
                            e->name);
    s->params[i].init_arg = 1.0; /* N(0, 1), PyTorch's nn.Embedding default */
    s->flops = 0;
    return NN_OK;
}

static int embedding_pass(const cu_misc *e, const nn_layer_io *io, int backward, nn_error *err)
{
    cu_dev *d = cu_dev_of(io->device, 1, e->name, err);
    if (!d)
        return NN_EINVAL;
    int idle = cu_issue_idle(&d->issue);
    k_embed a = {.tokens = nn_tensor_numel(io->inputs[0]), .dim = e->dim, .num = e->num,
                 .padding = e->padding, .per_row = e->per_row, .err = d->err_dev,
                 .site = e->site, .backward = backward};
    CU_TENSOR(a.ids, d, io->inputs[0], NN_I32, e->name, "input", err);
    CU_TENSOR(a.w, d, io->params[0], NN_F32, e->name, "weight", err);
    int rc;
    if (backward) {
        CU_TENSOR(a.g, d, io->grad_output, NN_F32, e->name, "output gradient", err);
        CU_TENSOR(a.gw, d, io->param_grads[0], NN_F32, e->name, "weight gradient", err);
        if ((rc = cu_memset(d, e->name, a.gw, 0, nn_tensor_nbytes(io->param_grads[0]), err)) ||
            (rc = cu_launch_n(d, e->name, k_misc_fn(K_MISC_EMBED), e->dim, &a, sizeof a, err)))
            return rc;
    } else {
        CU_TENSOR(a.y, d, io->output, NN_F32, e->name, "output", err);
        if ((rc = cu_launch_n(d, e->name, k_misc_fn(K_MISC_EMBED), a.tokens * e->dim, &a,
                              sizeof a, err)))
            return rc;
    }
    /* nothing else was waiting on the stream: a bad id can be refused here and now */
    return idle ? cu_sync(d, err) : NN_OK;
}

static int embedding_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return embedding_pass(self, io, 0, err);
}

static int embedding_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    return embedding_pass(self, io, 1, err);
}

static const nn_param_spec dropout_params[] = {NN_STOCK_DROPOUT_PARAMS, {.name = NULL}};
static const nn_param_spec embedding_params[] = {NN_STOCK_EMBEDDING_PARAMS, {.name = NULL}};

static const nn_layer_vtable dropout_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = dropout_create,
    .destroy = misc_destroy,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
static const nn_layer_vtable embedding_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = embedding_create,
    .destroy = misc_destroy,
    .setup = embedding_setup,
    .forward = embedding_forward,
    .backward = embedding_backward,
};

CU_LAYER_DESC(dropout, "Inverted dropout on CUDA, the CPU plugin's masks (the same draws from "
                       "the same per-step seed)", dropout_params);
CU_LAYER_DESC(embedding, "Lookup table on CUDA: I32 token ids [N, L] -> F32 vectors [N, L, "
                         "embedding_dim]", embedding_params);
