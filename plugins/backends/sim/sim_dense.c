/* sim_dense.c: "dense" on the sim device: y = act(x W^T + b), [N, in] -> [N, units], with the
 * keys, parameters and initialisers of the CPU plugin (weight [units, in] as PyTorch's Linear).
 * The products run in sim_gemm, the bias gradient sums in double; never allocates. */
#include <stdlib.h>

#include "sim.h"

enum { P_WEIGHT = NN_STOCK_DENSE_WEIGHT, P_BIAS = NN_STOCK_DENSE_BIAS };

typedef struct sdense {
    nn_stock_dense k; /* the keys */
    const char *name;
    int training;
    int b_act, b_grad; /* buffers: pre-activation z (SAVED) and dLoss/dz, -1 when absent */
} sdense;

static int dense_create(const nn_params *p, void **self, nn_error *err)
{
    sdense *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "dense: out of memory");
    nn_stock_dense_read(p, &d->k);
    d->name = "dense";
    *self = d;
    return NN_OK;
}

static void dense_destroy(void *self)
{
    free(self);
}

static int dense_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    sdense *d = self;
    d->name = s->layer_name ? s->layer_name : "dense";
    d->training = s->training;
    if (!sim_dev_from(s->device, d->name, err))
        return NN_EINVAL;
    int rc = nn_stock_dense_setup(&d->k, d->name, s, err);
    if (rc)
        return rc;
    const int64_t *oshape = s->output.shape;
    d->b_act = d->b_grad = -1;
    if (d->k.activation != SIM_ACT_NONE && s->training) {
        d->b_act = nn_layer_add_buffer(s, "act", NN_BUF_SAVED, NN_F32, 2, oshape);
        d->b_grad = nn_layer_add_buffer(s, "act_grad", NN_BUF_WORKSPACE, NN_F32, 2, oshape);
        if (d->b_act < 0 || d->b_grad < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared",
                                d->name);
    }
    return NN_OK;
}

static int dense_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sdense *d = self;
    const char *L = d->name;
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *b = NULL;
    float *y, *z;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    if (d->k.bias)
        SIM_TENSOR(b, dev, io->params[P_BIAS], NN_F32, L, "bias", err);
    SIM_TENSOR(y, dev, io->output, NN_F32, L, "output", err);
    z = y;
    if (d->b_act >= 0 && io->buffers[d->b_act])
        SIM_TENSOR(z, dev, io->buffers[d->b_act], NN_F32, L, "act", err);
    int64_t n = io->inputs[0]->shape[0], in = io->inputs[0]->shape[1], u = d->k.units;
    sim_gemm(dev, 0, 1, n, u, in, x, in, w, in, 0, z, u);
    for (int64_t r = 0; b && r < n; r++)
        for (int64_t j = 0; j < u; j++)
            z[r * u + j] += b[j];
    if (d->k.activation != SIM_ACT_NONE)
        sim_act_forward(d->k.activation, z, y, n * u);
    return NN_OK;
}

static int dense_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const sdense *d = self;
    const char *L = d->name;
    if (!d->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", L);
    sim_dev *dev = sim_dev_from(io->device, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *dy, *dz;
    float *dw, *db = NULL, *dx = NULL;
    SIM_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    SIM_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    SIM_TENSOR(dy, dev, io->grad_output, NN_F32, L, "output gradient", err);
    SIM_TENSOR(dw, dev, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    if (d->k.bias)
        SIM_TENSOR(db, dev, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    if (io->grad_inputs[0])
        SIM_TENSOR(dx, dev, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    int64_t n = io->inputs[0]->shape[0], in = io->inputs[0]->shape[1], u = d->k.units;
    dz = dy;
    if (d->k.activation != SIM_ACT_NONE) {
        const float *z;
        float *g;
        if (d->b_act < 0 || !io->buffers[d->b_act] || !io->buffers[d->b_grad])
            return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan built "
                                "without training buffers", L);
        SIM_TENSOR(z, dev, io->buffers[d->b_act], NN_F32, L, "act", err);
        SIM_TENSOR(g, dev, io->buffers[d->b_grad], NN_F32, L, "act_grad", err);
        sim_act_backward(d->k.activation, z, dy, g, n * u);
        dz = g;
    }
    if (dx)
        sim_gemm(dev, 0, 0, n, in, u, dz, u, w, in, 0, dx, in);
    sim_gemm(dev, 1, 0, u, in, n, dz, u, x, in, 0, dw, in);
    for (int64_t j = 0; db && j < u; j++) {
        double s = 0;
        for (int64_t r = 0; r < n; r++)
            s += dz[r * u + j];
        db[j] = (float)s;
    }
    return NN_OK;
}

static const nn_param_spec dense_params[] = {NN_STOCK_DENSE_PARAMS, {.name = NULL}};

static const nn_layer_vtable dense_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = dense_create,
    .destroy = dense_destroy,
    .setup = dense_setup,
    .forward = dense_forward,
    .backward = dense_backward,
};

const nn_plugin_desc sim_dense_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "dense", .version = "1.0.0", .license = "MIT",
    .device = "sim",
    .summary = "fully connected layer [N, in] -> [N, units] on the sim device, weight "
               "[units, in], optional activation",
    .caps = NN_CAP_BACKWARD, .params = dense_params, .vtable = &dense_vtable);
