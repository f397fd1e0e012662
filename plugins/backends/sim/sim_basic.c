/* sim_basic.c: the shape-keeping layers of the sim pack: relu, flatten and dropout, with the
 * CPU plugins' keys and exact results (dropout draws the same mask from the same per-step seed
 * with the same nn_rng calls, so a run is identical on every device). Never allocates. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct sbasic {
    double p;        /* dropout */
    uint64_t stream; /* dropout: hash of the layer's name */
    int mask_buf;    /* dropout: SAVED mask, -1 in eval plans */
    const char *name;
} sbasic;

static int basic_create(const nn_params *params, void **self, nn_error *err)
{
    sbasic *b = calloc(1, sizeof *b);
    if (!b)
        return nn_error_set(err, NN_ENOMEM, "sim: out of memory");
    (void)params;
    b->mask_buf = -1;
    *self = b;
    return NN_OK;
}

static int dropout_create(const nn_params *params, void **self, nn_error *err)
{
    int rc = basic_create(params, self, err);
    if (rc == NN_OK)
        ((sbasic *)*self)->p = nn_params_float(params, "p");
    return rc;
}

static void basic_destroy(void *self)
{
    free(self);
}

/* one input, of dtype dt (-1: any known dtype) */
static int one_input(sbasic *b, nn_layer_setup *s, const char *kind, int dt, nn_error *err)
{
    char shape[128];
    b->name = s->layer_name ? s->layer_name : kind;
    if (!sim_dev_from(s->device, b->name, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): takes 1 input, got %d", b->name,
                            kind, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int xdt = nn_tensor_dtype(x);
    if ((dt >= 0 && xdt != dt) || xdt < 0 || x->dl.ndim < 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): input %s must be %s with a batch "
                            "dimension", b->name, kind, nn_shape_str(x, shape, sizeof shape),
                            dt == NN_F32 ? "F32" : "of a known dtype");
    return NN_OK;
}

/* ---- relu: y = max(x, 0); NaN gives 0 as the CPU plugin's comparison does ----------------- */

static int relu_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = one_input(self, s, "relu", NN_F32, err);
    if (rc)
        return rc;
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    s->flops = (uint64_t)nn_tensor_numel(s->inputs[0]);
    return NN_OK;
}

static int relu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbasic *b = self;
    sim_dev *dev = sim_dev_from(io->device, b->name, err);
    if (!dev)
        return NN_EINVAL;
    const float *x;
    float *y;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, b->name, "input", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, b->name, "output", err);
    sim_act_forward(SIM_ACT_RELU, x, y, nn_tensor_numel(io->output));
    return NN_OK;
}

static int relu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbasic *b = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    sim_dev *dev = sim_dev_from(io->device, b->name, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *g;
    float *gx;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, b->name, "input", err);
    SIM_TENSOR(g, dev, io->grad_output, NN_F32, b->name, "output gradient", err);
    SIM_TENSOR(gx, dev, io->grad_inputs[0], NN_F32, b->name, "input gradient", err);
    sim_act_backward(SIM_ACT_RELU, x, g, gx, nn_tensor_numel(io->output));
    return NN_OK;
}

/* ---- flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...], a copy ------------------------------ */

static int flatten_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = one_input(self, s, "flatten", -1, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    const int64_t out[2] = {x->shape[0], nn_shape_numel(x->dl.ndim - 1, x->shape + 1)};
    nn_tensor_describe(&s->output, (nn_dtype)nn_tensor_dtype(x), 2, out);
    s->flops = 0;
    return NN_OK;
}

static int copy_tensor(const sbasic *b, const nn_layer_io *io, const nn_tensor *dst,
                       const nn_tensor *src, nn_error *err)
{
    sim_dev *dev = sim_dev_from(io->device, b->name, err);
    if (!dev)
        return NN_EINVAL;
    void *y;
    const void *x;
    SIM_TENSOR(x, dev, src, -1, b->name, "source", err);
    SIM_TENSOR(y, dev, dst, -1, b->name, "destination", err);
    if (nn_tensor_nbytes(dst) != nn_tensor_nbytes(src))
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %zu bytes do not fit %zu", b->name,
                            nn_tensor_nbytes(src), nn_tensor_nbytes(dst));
    memmove(y, x, nn_tensor_nbytes(dst));
    return NN_OK;
}

static int flatten_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return copy_tensor(self, io, io->output, io->inputs[0], err);
}

static int flatten_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    if (!io->grad_inputs[0])
        return NN_OK;
    return copy_tensor(self, io, io->grad_inputs[0], io->grad_output, err);
}

/* ---- dropout: the CPU plugin's mask, bit for bit ----------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int dropout_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    sbasic *b = self;
    int rc = one_input(b, s, "dropout", NN_F32, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    b->stream = fnv1a(s->layer_name);
    b->mask_buf = -1;
    if (s->training &&
        (b->mask_buf = nn_layer_add_buffer(s, "mask", NN_BUF_SAVED, NN_F32, x->dl.ndim,
                                           x->shape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s' (dropout): no buffer slot left",
                            b->name);
    s->flops = (uint64_t)nn_tensor_numel(x);
    return NN_OK;
}

static int dropout_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbasic *b = self;
    if (!io->training)
        return copy_tensor(b, io, io->output, io->inputs[0], err);
    sim_dev *dev = sim_dev_from(io->device, b->name, err);
    if (!dev)
        return NN_EINVAL;
    if (b->mask_buf < 0 || !io->buffers[b->mask_buf])
        return nn_error_set(err, NN_EINVAL, "dropout: a training forward needs the mask "
                            "buffer, which an evaluation plan does not have");
    const float *x;
    float *y, *m;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, b->name, "input", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, b->name, "output", err);
    SIM_TENSOR(m, dev, io->buffers[b->mask_buf], NN_F32, b->name, "mask", err);
    int64_t n = nn_tensor_numel(io->output);
    int64_t batch = io->inputs[0]->shape[0], per = batch ? n / batch : 0;
    /* keep when a 32-bit draw >= p * 2^32, two draws per 64-bit number (as dropout.c) */
    const uint64_t threshold = (uint64_t)(b->p * 4294967296.0);
    const float scale = (float)(1.0 / (1.0 - b->p));
    for (int64_t r = 0; r < batch; r++) {
        nn_rng g;
        nn_rng_init(&g, io->seed, b->stream, (uint64_t)r, 0);
        float *mb = m + r * per;
        int64_t i = 0;
        for (; i + 1 < per; i += 2) {
            uint64_t u = nn_rng_u64(&g);
            mb[i] = (u & 0xffffffffu) >= threshold ? scale : 0.0f;
            mb[i + 1] = (u >> 32) >= threshold ? scale : 0.0f;
        }
        if (i < per)
            mb[i] = (nn_rng_u64(&g) & 0xffffffffu) >= threshold ? scale : 0.0f;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * m[i];
    return NN_OK;
}

static int dropout_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sbasic *b = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    sim_dev *dev = sim_dev_from(io->device, b->name, err);
    if (!dev)
        return NN_EINVAL;
    if (b->mask_buf < 0 || !io->buffers[b->mask_buf])
        return nn_error_set(err, NN_EINVAL, "dropout: backward needs the saved mask buffer");
    const float *m, *g;
    float *gx;
    SIM_TENSOR(m, dev, io->buffers[b->mask_buf], NN_F32, b->name, "mask", err);
    SIM_TENSOR(g, dev, io->grad_output, NN_F32, b->name, "output gradient", err);
    SIM_TENSOR(gx, dev, io->grad_inputs[0], NN_F32, b->name, "input gradient", err);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        gx[i] = g[i] * m[i];
    return NN_OK;
}

static const nn_param_spec no_params[] = {{.name = NULL}};
static const nn_param_spec dropout_params[] = {NN_STOCK_DROPOUT_PARAMS, {.name = NULL}};

#define BASIC_VTABLE(kind, make)                                                          \
    static const nn_layer_vtable kind##_vtable = {                                        \
        .struct_size = sizeof(nn_layer_vtable),                                           \
        .create = make,                                                                   \
        .destroy = basic_destroy,                                                         \
        .setup = kind##_setup,                                                            \
        .forward = kind##_forward,                                                        \
        .backward = kind##_backward,                                                      \
    }
BASIC_VTABLE(relu, basic_create);
BASIC_VTABLE(flatten, basic_create);
BASIC_VTABLE(dropout, dropout_create);

const nn_plugin_desc sim_relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "relu", .version = "1.0.0", .license = "MIT",
    .device = "sim", .summary = "Rectified linear unit on the sim device: y = max(x, 0)",
    .caps = NN_CAP_BACKWARD, .params = no_params, .vtable = &relu_vtable);

const nn_plugin_desc sim_flatten_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "flatten", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "Flattens every dimension but the batch on the sim device: [N, ...] -> "
               "[N, product]",
    .caps = NN_CAP_BACKWARD, .params = no_params, .vtable = &flatten_vtable);

const nn_plugin_desc sim_dropout_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "dropout", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "Inverted dropout on the sim device, the CPU plugin's masks",
    .caps = NN_CAP_BACKWARD, .params = dropout_params, .vtable = &dropout_vtable);
