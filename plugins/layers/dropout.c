/* dropout.c: the layer plugin "dropout" (inverted dropout): in training each element is zeroed
 * with probability p and the rest are scaled by 1 / (1 - p); in evaluation it is the identity.
 * The mask is a pure function of (io->seed, layer, sample, element), never of thread timing;
 * forward saves it for backward in a SAVED buffer. Never allocates in forward/backward. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct dropout {
    double p;
    uint64_t stream; /* hash of the layer's name: two dropout layers draw different masks */
    int mask_buf;    /* index of the SAVED mask in io->buffers, -1 in eval plans */
} dropout;

static int dropout_create(const nn_params *params, void **self, nn_error *err)
{
    dropout *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "dropout: out of memory");
    d->p = nn_params_float(params, "p");
    d->mask_buf = -1;
    *self = d;
    return NN_OK;
}

static void dropout_destroy(void *self)
{
    free(self);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int dropout_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    dropout *d = self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (dropout): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (nn_tensor_dtype(x) != NN_F32 || x->dl.ndim < 1)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s' (dropout): input %s must be F32 with a batch dimension",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape));
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    d->stream = fnv1a(s->layer_name);
    d->mask_buf = -1;
    if (s->training) {
        /* the mask holds 0 or 1 / (1 - p) per element, so both passes are one multiply */
        d->mask_buf = nn_layer_add_buffer(s, "mask", NN_BUF_SAVED, NN_F32, x->dl.ndim, x->shape);
        if (d->mask_buf < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s' (dropout): no buffer slot left",
                                s->layer_name);
    }
    s->flops = (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

static int dropout_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const dropout *d = self;
    const float *restrict x = NN_F32P(io->inputs[0]);
    float *restrict y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    if (!io->training) {
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof *y);
        return NN_OK;
    }
    if (d->mask_buf < 0 || !io->buffers[d->mask_buf])
        return nn_error_set(err, NN_EINVAL,
                            "dropout: a training forward needs the mask buffer, which an "
                            "evaluation plan does not have");
    float *restrict m = NN_F32P(io->buffers[d->mask_buf]);
    int64_t batch = io->inputs[0]->shape[0], per = batch ? n / batch : 0;
    /* keep when a 32-bit draw >= p * 2^32: exact to 2^-32, two draws per 64-bit number */
    const uint64_t threshold = (uint64_t)(d->p * 4294967296.0);
    const float scale = (float)(1.0 / (1.0 - d->p));
    /* a process of a data-parallel run holds rows from row_offset of the global batch on:
     * keyed by the global row, N processes draw the masks one process would */
    int64_t row0 = io->dist ? io->dist->row_offset : 0;
    for (int64_t b = 0; b < batch; b++) {
        nn_rng r;
        nn_rng_init(&r, io->seed, d->stream, (uint64_t)(row0 + b), 0);
        float *mb = m + b * per;
        int64_t i = 0;
        for (; i + 1 < per; i += 2) {
            uint64_t u = nn_rng_u64(&r);
            mb[i] = (u & 0xffffffffu) >= threshold ? scale : 0.0f;
            mb[i + 1] = (u >> 32) >= threshold ? scale : 0.0f;
        }
        if (i < per)
            mb[i] = (nn_rng_u64(&r) & 0xffffffffu) >= threshold ? scale : 0.0f;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * m[i];
    return NN_OK;
}

static int dropout_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const dropout *d = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    if (d->mask_buf < 0 || !io->buffers[d->mask_buf])
        return nn_error_set(err, NN_EINVAL, "dropout: backward needs the saved mask buffer");
    const float *restrict m = NN_F32P(io->buffers[d->mask_buf]);
    const float *restrict g = NN_F32P(io->grad_output);
    float *restrict gx = NN_F32P(io->grad_inputs[0]);
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        gx[i] = g[i] * m[i];
    return NN_OK;
}

/* ONNX: evaluation is the identity */
static int dropout_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export_op1(x->out, "Identity", x->inputs[0], x->output);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable dropout_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = dropout_create,
    .destroy = dropout_destroy,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .export_as = dropout_export, /* optional: ONNX */
};

static const nn_param_spec dropout_params[] = {NN_STOCK_DROPOUT_PARAMS, {.name = NULL}};

static const nn_plugin_desc dropout_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "dropout", .version = "1.0.0", .license = "MIT",
    .summary = "Inverted dropout: zeroes elements with probability p in training only",
    .caps = NN_CAP_BACKWARD, .params = dropout_params, .vtable = &dropout_vtable);

NN_PLUGIN_EXPORT(&dropout_desc);
