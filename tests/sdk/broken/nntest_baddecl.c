/* nntest_baddecl.c: layers y = a * x (one parameter a) that each break one rule of what setup()
 * may declare, or of what a check needs to run at all. `nntrain plugins test` must fail each
 * with a line naming the problem, and training must refuse the declarations as the harness
 * does (the same rule, core/layer_decls.c). Test code; never installed. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <nntrain/nntrain.h>

static int scale_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = NULL;
    return NN_OK;
}

static void scale_destroy(void *self)
{
    (void)self;
}

/* the output like the input, and the parameter a */
static int scale_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    if (s->n_inputs != 1 || nn_tensor_dtype(s->inputs[0]) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "takes one F32 input");
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    const int64_t one[1] = {1};
    nn_layer_add_param(s, "alpha", 1, one, NN_INIT_ONES, 1, 1, 0);
    return NN_OK;
}

static int scale_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float a = NN_F32P(io->params[0])[0], *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = a * x[i];
    return NN_OK;
}

static int scale_backward(void *self, const nn_layer_io *io, nn_error *err)
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

/* a second parameter of the same name: a checkpoint that can never be read back */
static int dupname_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    const int64_t one[1] = {1};
    nn_layer_add_param(s, "alpha", 1, one, NN_INIT_ONES, 1, 1, 0);
    return rc;
}

static int badinit_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    s->params[0].init = (nn_init)77;
    return rc;
}

static int negparam_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    s->params[0].shape[0] = -1;
    return rc;
}

/* [N, 2^40, 2^40, 2^40]: an element count no 64-bit size holds */
static int huge_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    const int64_t sh[4] = {s->inputs[0]->shape[0], INT64_C(1) << 40, INT64_C(1) << 40,
                           INT64_C(1) << 40};
    nn_tensor_describe(&s->output, NN_F32, 4, sh);
    return rc;
}

static int noout_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    memset(&s->output, 0, sizeof s->output);
    return rc;
}

static int nan_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = scale_forward(self, io, err);
    NN_F32P(io->output)[1] = NAN;
    return rc;
}

static int refusing_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)self;
    (void)err;
    return NN_EINVAL; /* and no message */
}

/* writes to an unmapped address that is not NULL (see nntest_broken.c) */
static void crash(void)
{
    volatile uintptr_t unmapped = 64;
    *(volatile float *)unmapped = 1.0f;
}

static int crashing_create(const nn_params *p, void **self, nn_error *err)
{
    crash();
    return scale_create(p, self, err);
}

static int crashing_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    crash();
    return scale_setup(self, s, err);
}

#define SCALE_LAYER(NAME, CREATE, SETUP, FORWARD)                                          \
    static const nn_layer_vtable NAME##_vt = {                                             \
        .struct_size = sizeof(nn_layer_vtable), .create = CREATE, .destroy = scale_destroy, \
        .setup = SETUP, .forward = FORWARD, .backward = scale_backward};                   \
    static const nn_plugin_desc NAME##_desc = NN_DESCRIPTOR(                               \
        .kind = NN_KIND_LAYER, .name = #NAME, .version = "1.0.0", .license = "MIT",       \
        .summary = "test layer y = a * x, " #NAME, .caps = NN_CAP_BACKWARD,               \
        .vtable = &NAME##_vt)

SCALE_LAYER(good_scale, scale_create, scale_setup, scale_forward);
SCALE_LAYER(dup_param, scale_create, dupname_setup, scale_forward);
SCALE_LAYER(bad_init, scale_create, badinit_setup, scale_forward);
SCALE_LAYER(neg_param, scale_create, negparam_setup, scale_forward);
SCALE_LAYER(huge_output, scale_create, huge_setup, scale_forward);
SCALE_LAYER(no_output, scale_create, noout_setup, scale_forward);
SCALE_LAYER(nan_output, scale_create, scale_setup, nan_forward);
SCALE_LAYER(refusing, refusing_create, scale_setup, scale_forward);
SCALE_LAYER(crash_create, crashing_create, scale_setup, scale_forward);
SCALE_LAYER(crash_setup, scale_create, crashing_setup, scale_forward);

NN_PLUGIN_EXPORT(&good_scale_desc, &dup_param_desc, &bad_init_desc, &neg_param_desc,
                 &huge_output_desc, &no_output_desc, &nan_output_desc, &refusing_desc,
                 &crash_create_desc, &crash_setup_desc);
