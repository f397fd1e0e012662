/* nntest_drift.c: test fixture, a layer y = a * x with one learned scalar a that computes
 * differently on a process where the environment says so, as a plugin with a host-dependent
 * bug would, while the model file and options stay the same everywhere:
 *   NNTEST_DRIFT=start  a starts at 2 instead of 1 (the replicas differ from the start);
 *   NNTEST_DRIFT=step   every training forward nudges a by 1e-3 (they drift apart).
 * The data-parallel checks must catch both. Test code; never installed. */
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

static const char *drift(void)
{
    const char *v = getenv("NNTEST_DRIFT");
    return v ? v : "";
}

static int d_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = NULL;
    return NN_OK;
}

static void d_destroy(void *self)
{
    (void)self;
}

static int d_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    if (s->n_inputs != 1 || nn_tensor_dtype(s->inputs[0]) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (nntest_drift): takes one F32 input",
                            s->layer_name);
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    const int64_t one[1] = {1};
    int k = nn_layer_add_param(s, "a", 1, one, NN_INIT_CONSTANT, 1, 1, 0);
    if (k < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': cannot declare a", s->layer_name);
    nn_layer_param_decl(s, k)->init_arg = strcmp(drift(), "start") == 0 ? 2.0 : 1.0;
    return NN_OK;
}

static int d_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    float *a = NN_F32P(io->params[0]);
    if (io->training && strcmp(drift(), "step") == 0)
        a[0] += 1e-3f;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = a[0] * x[i];
    return NN_OK;
}

static int d_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float a = NN_F32P(io->params[0])[0], *x = NN_F32P(io->inputs[0]);
    const float *dy = NN_F32P(io->grad_output);
    double da = 0;
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++) {
        da += (double)x[i] * dy[i];
        if (io->grad_inputs[0])
            NN_F32P(io->grad_inputs[0])[i] = a * dy[i];
    }
    NN_F32P(io->param_grads[0])[0] = (float)da;
    return NN_OK;
}

static const nn_layer_vtable d_vt = {.struct_size = sizeof(nn_layer_vtable),
                                     .create = d_create, .destroy = d_destroy,
                                     .setup = d_setup, .forward = d_forward,
                                     .backward = d_backward};
static const nn_param_spec d_params[] = {{.name = NULL}};
static const nn_plugin_desc d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_drift", .version = "1.0.0", .license = "MIT",
    .summary = "test layer y = a * x that drifts where NNTEST_DRIFT says", .caps = NN_CAP_BACKWARD,
    .params = d_params, .vtable = &d_vt);

NN_PLUGIN_EXPORT(&d_desc);
