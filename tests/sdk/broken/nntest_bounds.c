/* nntest_bounds.c: plugins that write where they must not: layers y = x * x that write one
 * element past the end of grad_inputs[0] (right after it, 16 and 4096 elements on), past
 * output in forward, far past (beyond any canary: a crash), before the start, or into
 * grad_output and their input, which they must only read; a loss past grad_pred; an optimizer
 * past a slot and into a gradient. `plugins test` must name the call, the buffer and how far.
 * Test code; never installed. */
#include <stdint.h>
#include <stdlib.h>

#include "nntest_square.h"

/* backward, then one element written at dx[n + off] */
static int past_grad(const nn_layer_io *io, int64_t off)
{
    int rc = sq_backward(NULL, io, NULL);
    if (io->grad_inputs[0])
        NN_F32P(io->grad_inputs[0])[nn_tensor_numel(io->output) + off] = 123.0f;
    return rc;
}

static int past0_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return past_grad(io, 0);
}

static int past16_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return past_grad(io, 16);
}

static int past4096_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return past_grad(io, 4096);
}

/* 1 MiB on: past any canary, into memory it may not touch */
static int far_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return past_grad(io, 1 << 18);
}

static int before_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return past_grad(io, -nn_tensor_numel(io->output) - 2);
}

static int past_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sq_forward(self, io, err);
    NN_F32P(io->output)[nn_tensor_numel(io->output)] = 55.0f;
    return rc;
}

/* grad_output is read-only here (the runner's plans leave grad_output_scratch 0) */
static int gout_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sq_backward(self, io, err);
    float *g = (float *)NN_F32P(io->grad_output);
    for (int64_t i = 0, n = nn_tensor_numel(io->grad_output); i < n; i++)
        g[i] = 0;
    return rc;
}

static int input_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sq_backward(self, io, err);
    ((float *)NN_F32P(io->inputs[0]))[1] = 7.0f;
    return rc;
}

#define BOUNDS_LAYER(NAME, FORWARD, BACKWARD, SUMMARY)                                     \
    static const nn_layer_vtable NAME##_vt = {                                             \
        .struct_size = sizeof(nn_layer_vtable), .create = one_create,                      \
        .destroy = one_destroy, .setup = sq_setup, .forward = FORWARD,                     \
        .backward = BACKWARD};                                                             \
    static const nn_plugin_desc NAME##_desc = NN_DESCRIPTOR(                               \
        .kind = NN_KIND_LAYER, .name = #NAME, .version = "1.0.0", .license = "MIT",       \
        .summary = SUMMARY, .caps = NN_CAP_BACKWARD, .vtable = &NAME##_vt)

BOUNDS_LAYER(past_grad0, sq_forward, past0_backward, "writes dx[n]");
BOUNDS_LAYER(past_grad16, sq_forward, past16_backward, "writes dx[n + 16]");
BOUNDS_LAYER(past_grad4096, sq_forward, past4096_backward, "writes dx[n + 4096]");
BOUNDS_LAYER(past_grad_far, sq_forward, far_backward, "writes dx[n + 2^18]");
BOUNDS_LAYER(before_grad, sq_forward, before_backward, "writes dx[-2]");
BOUNDS_LAYER(past_output, past_forward, sq_backward, "writes y[n] in forward");
BOUNDS_LAYER(writes_gout, sq_forward, gout_backward, "zeroes grad_output in backward");
BOUNDS_LAYER(writes_input, sq_forward, input_backward, "writes its input in backward");

/* ---- a squared-error sum that writes grad_pred[n] ---- */

static int se_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    if (!nn_shape_equal(s->pred, s->target) || nn_tensor_dtype(s->target) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "pred and target must match");
    s->reduction = NN_LOSS_SUM;
    return NN_OK;
}

static int se_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *p = NN_F32P(io->pred), *t = NN_F32P(io->target);
    int64_t n = nn_tensor_numel(io->pred);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        s += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
        if (io->grad_pred)
            NN_F32P(io->grad_pred)[i] = 2 * (p[i] - t[i]);
    }
    if (io->grad_pred)
        NN_F32P(io->grad_pred)[n + 3] = 1.0f;
    io->loss = s;
    return NN_OK;
}

static const nn_loss_vtable se_vt = {.struct_size = sizeof(nn_loss_vtable),
                                     .create = one_create, .destroy = one_destroy,
                                     .setup = se_setup, .forward = se_forward};
static const nn_plugin_desc se_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "past_grad_pred", .version = "1.0.0", .license = "MIT",
    .summary = "squared error that writes grad_pred[n + 3]", .vtable = &se_vt);

/* ---- sgd with a momentum slot, writing past the slot or into the gradient ---- */

static int mom_setup(void *self, nn_optim_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->n_slots = 1;
    s->slot_names[0] = "momentum";
    return NN_OK;
}

static int mom_step(const nn_optim_step *s, int past_slot, int into_grad)
{
    for (int k = 0; k < s->n_params; k++) {
        float *w = NN_F32P(s->params[k].value), *m = NN_F32P(s->params[k].slots[0]);
        float *g = (float *)NN_F32P(s->params[k].grad);
        int64_t n = nn_tensor_numel(s->params[k].value);
        for (int64_t i = 0; i < n; i++) {
            m[i] = 0.9f * m[i] + g[i];
            w[i] -= (float)s->lr * m[i];
        }
        if (past_slot && k == 1)
            m[n + 1] = 1.0f;
        if (into_grad)
            g[0] = 0.0f; /* "clipping" in place */
    }
    return NN_OK;
}

static int past_slot_step(void *self, const nn_optim_step *s, nn_error *err)
{
    (void)self;
    (void)err;
    return mom_step(s, 1, 0);
}

static int grad_step(void *self, const nn_optim_step *s, nn_error *err)
{
    (void)self;
    (void)err;
    return mom_step(s, 0, 1);
}

static const nn_param_spec lr_only[] = {
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, inf)", .doc = "rate"},
    {.name = NULL},
};
static const nn_optimizer_vtable past_slot_vt = {
    .struct_size = sizeof(nn_optimizer_vtable), .create = one_create, .destroy = one_destroy,
    .setup = mom_setup, .step = past_slot_step};
static const nn_optimizer_vtable grad_vt = {
    .struct_size = sizeof(nn_optimizer_vtable), .create = one_create, .destroy = one_destroy,
    .setup = mom_setup, .step = grad_step};
static const nn_plugin_desc past_slot_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "past_slot", .version = "1.0.0", .license = "MIT",
    .summary = "momentum sgd that writes past its slot", .params = lr_only,
    .vtable = &past_slot_vt);
static const nn_plugin_desc writes_grad_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "writes_grad", .version = "1.0.0", .license = "MIT",
    .summary = "momentum sgd that zeroes a gradient element", .params = lr_only,
    .vtable = &grad_vt);

NN_PLUGIN_EXPORT(&past_grad0_desc, &past_grad16_desc, &past_grad4096_desc, &past_grad_far_desc,
                 &before_grad_desc, &past_output_desc, &writes_gout_desc, &writes_input_desc,
                 &se_desc, &past_slot_desc, &writes_grad_desc);
