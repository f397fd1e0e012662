/* positional_embedding.c: the layer plugin "positional_embedding", y[n, t] = x[n, t] + P[t]
 * on [N, T, E]: P learned (parameter "weight" [max_len, E], as an nn.Embedding(max_len, E)
 * of positions) or the fixed sinusoids of "Attention Is All You Need" (no parameters:
 * P[t, 2i] = sin(t / 10000^(2i/E)), P[t, 2i+1] = cos(t / 10000^(2i/E))).
 * The sinusoid table is computed once in setup; forward/backward never allocate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

enum { MODE_LEARNED = 0, MODE_SINUSOIDAL };

typedef struct posemb {
    int mode;
    int64_t max_len;
    double init_std;
    int64_t T, E;
    float *table; /* sinusoidal: [T, E] */
} posemb;

static int posemb_create(const nn_params *p, void **self, nn_error *err)
{
    posemb *e = calloc(1, sizeof *e);
    if (!e)
        return nn_error_set(err, NN_ENOMEM, "positional_embedding: out of memory");
    e->mode = nn_params_enum(p, "mode");
    e->max_len = nn_params_int(p, "max_len");
    e->init_std = nn_params_float(p, "init_std");
    *self = e;
    return NN_OK;
}

static void posemb_destroy(void *self)
{
    posemb *e = self;
    free(e->table);
    free(e);
}

static int posemb_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    posemb *e = self;
    char buf[96];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': positional_embedding takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 3 || nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s': positional_embedding expects F32 [batch, sequence, "
                            "embed_dim], got %s",
                            s->layer_name, nn_shape_str(x, buf, sizeof buf));
    e->T = x->shape[1];
    e->E = x->shape[2];
    nn_tensor_describe(&s->output, NN_F32, 3, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x);
    if (e->mode == MODE_LEARNED) {
        if (e->T > e->max_len)
            return nn_error_set(err, NN_ESHAPE,
                                "layer '%s': the input has %lld positions but max_len is %lld "
                                "(raise max_len)",
                                s->layer_name, (long long)e->T, (long long)e->max_len);
        int64_t shape[2] = {e->max_len, e->E};
        int k = nn_layer_add_param(s, "weight", 2, shape, NN_INIT_NORMAL, e->E, e->E, 0);
        if (k != 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare weight",
                                s->layer_name);
        s->params[0].init_arg = e->init_std;
        return NN_OK;
    }
    free(e->table);
    e->table = malloc(sizeof *e->table * (size_t)(e->T * e->E));
    if (!e->table)
        return nn_error_set(err, NN_ENOMEM, "layer '%s': out of memory", s->layer_name);
    for (int64_t t = 0; t < e->T; t++)
        for (int64_t j = 0; j < e->E; j++) {
            double freq = pow(10000.0, -(double)(j - j % 2) / (double)e->E);
            e->table[t * e->E + j] = (float)(j % 2 ? cos((double)t * freq) : sin((double)t * freq));
        }
    return NN_OK;
}

static int posemb_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const posemb *e = self;
    const float *x = NN_F32P(io->inputs[0]);
    const float *p = e->mode == MODE_LEARNED ? NN_F32P(io->params[0]) : e->table;
    float *y = NN_F32P(io->output);
    int64_t per = e->T * e->E, N = io->inputs[0]->shape[0];
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < per; i++)
            y[n * per + i] = x[n * per + i] + p[i];
    return NN_OK;
}

static int posemb_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const posemb *e = self;
    const float *dy = NN_F32P(io->grad_output);
    int64_t per = e->T * e->E, N = io->inputs[0]->shape[0];
    if (io->grad_inputs[0])
        memcpy(NN_F32P(io->grad_inputs[0]), dy, (size_t)(N * per) * sizeof *dy);
    if (e->mode != MODE_LEARNED)
        return NN_OK;
    /* rows past the sequence length get no gradient */
    float *dp = NN_F32P(io->param_grads[0]);
    memset(dp, 0, nn_tensor_nbytes(io->param_grads[0]));
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < per; i++)
            dp[i] += dy[n * per + i];
    return NN_OK;
}

static const nn_param_spec posemb_params[] = {
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "learned", .choices = "learned|sinusoidal",
     .doc = "learned: a parameter 'weight' [max_len, E]; sinusoidal: the fixed sin/cos table "
            "of Vaswani et al. (no parameters, any sequence length)"},
    {.name = "max_len", .type = NN_PARAM_INT, .def = "512", .range = "[1, inf)",
     .doc = "learned mode: rows of the table, the longest sequence it can embed"},
    {.name = "init_std", .type = NN_PARAM_FLOAT, .def = "0.02", .range = "[0, inf)",
     .doc = "learned mode: the table starts N(0, init_std^2), as ViT's position embedding"},
    {.name = NULL},
};

/* ONNX: Add the table's first T rows [T, E] (broadcast over the batch) */
static int posemb_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const posemb *e = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const float *rows = e->mode == MODE_LEARNED ? NN_F32P(x->params[0]) : e->table;
    const char *p = nn_export_const_f32(x->out, "positions", 2, (const int64_t[]){e->T, e->E},
                                        rows);
    nn_export_op2(x->out, "Add", x->inputs[0], p, x->output);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable posemb_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = posemb_create,
    .destroy = posemb_destroy,
    .setup = posemb_setup,
    .forward = posemb_forward,
    .backward = posemb_backward,
    .export_as = posemb_export, /* optional: ONNX */
};

static const nn_plugin_desc posemb_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "positional_embedding", .version = "1.0.0", .license = "MIT",
    .summary = "adds a position embedding to [N, T, E]: learned [max_len, E] or fixed sinusoids",
    .caps = NN_CAP_BACKWARD, .params = posemb_params, .vtable = &posemb_vtable);

NN_PLUGIN_EXPORT(&posemb_desc);
