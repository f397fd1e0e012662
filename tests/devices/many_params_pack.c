/* many_params_pack.c: test fixture, a device pack whose layer declares more parameters than
 * the fixed arrays of nn_layer_setup / nn_layer_io hold (ABI 0.5 allows 64). Loaded, it opens
 * the built sim pack (NNTEST_SIM_SO) and exports its descriptors, plus a layer "bias_stack"
 * twice: for the CPU (host loops) and for the sim device (the backend's copy and add):
 *   y = x + b0 + ... + b9, every b_k shaped like the input; dx = dy, db_k = dy.
 * With NNTEST_BIAS_STACK_SKIP=K in the environment the sim kernel leaves the gradient of b_K
 * alone, a bug `nntrain devices test` must name, also past the first 8 parameters. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <nntrain/nntrain.h>

#define N_BIAS 10

NN_EXPORT const nn_plugin_desc *nn_plugin_descriptors[32];

static int bs_create(const nn_params *params, void **self, nn_error *err)
{
    (void)params;
    (void)err;
    *self = NULL;
    return NN_OK;
}

static void bs_destroy(void *self)
{
    (void)self;
}

static int bs_setup(void *self, nn_layer_setup *su, nn_error *err)
{
    (void)self;
    if (su->n_inputs != 1 || nn_tensor_dtype(su->inputs[0]) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (bias_stack): takes one F32 input",
                            su->layer_name);
    const nn_tensor *x = su->inputs[0];
    nn_tensor_describe(&su->output, NN_F32, x->dl.ndim, x->shape);
    su->output.dl.device = x->dl.device;
    for (int k = 0; k < N_BIAS; k++) {
        char name[8];
        snprintf(name, sizeof name, "b%d", k);
        int i = nn_layer_add_param(su, name, x->dl.ndim, x->shape, NN_INIT_CONSTANT, 1, 1,
                                   NN_TENSOR_BIAS);
        if (i < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s' (bias_stack): cannot declare "
                                "%s", su->layer_name, name);
        nn_layer_param_decl(su, i)->init_arg = 0.01 * (k + 1);
    }
    return NN_OK;
}

static int cpu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++) {
        float v = x[i];
        for (int k = 0; k < N_BIAS; k++)
            v += NN_F32P(nn_layer_param(io, k))[i];
        y[i] = v;
    }
    return NN_OK;
}

static int cpu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *dy = NN_F32P(io->grad_output);
    for (int64_t i = 0, n = nn_tensor_numel(io->grad_output); i < n; i++) {
        for (int k = 0; k < N_BIAS; k++)
            NN_F32P(nn_layer_param_grad(io, k))[i] = dy[i];
        if (io->grad_inputs[0])
            NN_F32P(io->grad_inputs[0])[i] = dy[i];
    }
    return NN_OK;
}

static int dev_copy(const nn_device *d, nn_tensor *dst, const nn_tensor *src, nn_error *err)
{
    return d->backend->copy(d->backend_self, dst->dl.data, src->dl.data, nn_tensor_nbytes(src),
                            NN_COPY_DEVICE_TO_DEVICE, err);
}

static int sim_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    const nn_device *d = io->device;
    int rc = dev_copy(d, io->output, io->inputs[0], err);
    for (int k = 0; !rc && k < N_BIAS; k++)
        rc = d->backend->ops->add(d->backend_self, io->output, nn_layer_param(io, k), err);
    return rc;
}

static int sim_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    const nn_device *d = io->device;
    const char *skip = getenv("NNTEST_BIAS_STACK_SKIP");
    int rc = io->grad_inputs[0] ? dev_copy(d, io->grad_inputs[0], io->grad_output, err) : NN_OK;
    for (int k = 0; !rc && k < N_BIAS; k++)
        if (!skip || atoi(skip) != k)
            rc = dev_copy(d, nn_layer_param_grad(io, k), io->grad_output, err);
    return rc;
}

static const nn_layer_vtable cpu_vtable = {
    .struct_size = sizeof(nn_layer_vtable), .create = bs_create, .destroy = bs_destroy,
    .setup = bs_setup, .forward = cpu_forward, .backward = cpu_backward};
static const nn_layer_vtable sim_vtable = {
    .struct_size = sizeof(nn_layer_vtable), .create = bs_create, .destroy = bs_destroy,
    .setup = bs_setup, .forward = sim_forward, .backward = sim_backward};
static const nn_param_spec no_params[] = {{.name = NULL}};

static const nn_plugin_desc cpu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "bias_stack", .version = "1.0.0", .license = "MIT",
    .summary = "test fixture: y = x plus ten biases shaped like x", .caps = NN_CAP_BACKWARD,
    .params = no_params, .vtable = &cpu_vtable);
static const nn_plugin_desc sim_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "bias_stack", .version = "1.0.0", .license = "MIT",
    .summary = "test fixture: y = x plus ten biases shaped like x, on the sim device",
    .device = "sim", .caps = NN_CAP_BACKWARD, .params = no_params, .vtable = &sim_vtable);

__attribute__((constructor)) static void many_params_load(void)
{
    void *sim = dlopen(NNTEST_SIM_SO, RTLD_NOW | RTLD_LOCAL);
    const nn_plugin_desc *const *list = sim ? dlsym(sim, NN_PLUGIN_SYMBOL_NAME) : NULL;
    int n = 0;
    for (int i = 0; list && list[i] && n < 29; i++)
        nn_plugin_descriptors[n++] = list[i];
    nn_plugin_descriptors[n++] = &cpu_desc;
    nn_plugin_descriptors[n++] = &sim_desc;
}
