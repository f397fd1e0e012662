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

/* a parameter named like a path: it would be saved as the checkpoint key "LAYER.../../etc/x" */
static int pathname_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    const int64_t one[1] = {1};
    nn_layer_add_param(s, "../../etc/x", 1, one, NN_INIT_ONES, 1, 1, 0);
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

/* a scratch buffer of kind 9, which is none of nn_buffer_kind's */
static int badkind_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = scale_setup(self, s, err);
    const int64_t four[1] = {4};
    int b = nn_layer_add_buffer(s, "scratch", NN_BUF_WORKSPACE, NN_F32, 1, four);
    if (b >= 0)
        s->buffers[b].kind = (nn_buffer_kind)9;
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
SCALE_LAYER(path_param, scale_create, pathname_setup, scale_forward);
SCALE_LAYER(bad_init, scale_create, badinit_setup, scale_forward);
SCALE_LAYER(neg_param, scale_create, negparam_setup, scale_forward);
SCALE_LAYER(huge_output, scale_create, huge_setup, scale_forward);
SCALE_LAYER(no_output, scale_create, noout_setup, scale_forward);
SCALE_LAYER(nan_output, scale_create, scale_setup, nan_forward);
SCALE_LAYER(refusing, refusing_create, scale_setup, scale_forward);
SCALE_LAYER(crash_create, crashing_create, scale_setup, scale_forward);
SCALE_LAYER(crash_setup, scale_create, crashing_setup, scale_forward);

SCALE_LAYER(bad_buffer_kind, scale_create, badkind_setup, scale_forward);

/* losses: sum over rows of sum(pred^2) / 2 (target unused), whose setups declare too many
 * buffers (9; the arrays hold 8: a host trusting the count writes past them) or a buffer of
 * a dtype nn_dtype does not have */
static int loss_setup_many(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->reduction = NN_LOSS_SUM;
    s->n_buffers = 9;
    return NN_OK;
}

static int loss_setup_dtype(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->reduction = NN_LOSS_SUM;
    s->n_buffers = 1;
    memset(&s->buffers[0], 0, sizeof s->buffers[0]);
    memcpy(s->buffers[0].name, "rows", 5);
    s->buffers[0].kind = NN_BUF_WORKSPACE;
    s->buffers[0].dtype = (nn_dtype)42;
    s->buffers[0].ndim = 1;
    s->buffers[0].shape[0] = s->pred->shape[0];
    return NN_OK;
}

static int loss_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *p = NN_F32P(io->pred);
    double sum = 0;
    for (int64_t i = 0, n = nn_tensor_numel(io->pred); i < n; i++) {
        sum += 0.5 * (double)p[i] * p[i];
        if (io->grad_pred)
            NN_F32P(io->grad_pred)[i] = p[i];
    }
    io->loss = sum;
    return NN_OK;
}

#define BAD_LOSS(NAME, SETUP)                                                                \
    static const nn_loss_vtable NAME##_vt = {.struct_size = sizeof(nn_loss_vtable),          \
                                             .create = scale_create, .destroy = scale_destroy, \
                                             .setup = SETUP, .forward = loss_forward};        \
    static const nn_plugin_desc NAME##_desc = NN_DESCRIPTOR(                                 \
        .kind = NN_KIND_LOSS, .name = #NAME, .version = "1.0.0", .license = "MIT",          \
        .summary = "test loss sum(pred^2) / 2, " #NAME, .vtable = &NAME##_vt)

BAD_LOSS(many_buffers_loss, loss_setup_many);
BAD_LOSS(bad_dtype_loss, loss_setup_dtype);

NN_PLUGIN_EXPORT(&bad_buffer_kind_desc, &many_buffers_loss_desc, &bad_dtype_loss_desc,
                 &good_scale_desc, &dup_param_desc, &path_param_desc, &bad_init_desc, &neg_param_desc,
                 &huge_output_desc, &no_output_desc, &nan_output_desc, &refusing_desc,
                 &crash_create_desc, &crash_setup_desc);
