/* nntest_broken.c: deliberately broken plugins that `nntrain plugins test` must fail, each
 * with a clear line, next to one that is correct and declares a test spec. Each layer computes
 * y = x * x (so the gradient is 2 x dy) and breaks one rule. Test code; never installed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nntest_square.h"

typedef struct sq {
    int calls;      /* bad_nondet: changes the output on every call */
    void *leak;     /* bad_leak: allocated by create, never freed */
} sq;

static int sq_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    sq *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    *self = s;
    return NN_OK;
}

static void sq_destroy(void *self)
{
    free(self);
}

static int leak_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = sq_create(p, self, err);
    if (rc == NN_OK)
        ((sq *)*self)->leak = malloc(24); /* forgotten by destroy */
    return rc;
}

/* dx = 2 x dy into dx (which the caller checked), or added to it */
static void sq_grad(const nn_layer_io *io, float *dx, int accumulate)
{
    const float *x = NN_F32P(io->inputs[0]), *dy = NN_F32P(io->grad_output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        dx[i] = (accumulate ? dx[i] : 0.0f) + 2 * x[i] * dy[i];
}

/* the derivative of x^2 taken as 3x: wrong */
static int bad_grad_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sq_backward(self, io, err);
    float *dx = NN_F32P(io->grad_inputs[0]);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); rc == NN_OK && i < n; i++)
        dx[i] *= 1.5f;
    return rc;
}

/* a scratch buffer malloc'ed in every forward */
static int bad_alloc_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    float *tmp = malloc(sizeof(float) * (size_t)nn_tensor_numel(io->output));
    if (!tmp)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = sq_forward(self, io, err);
    memcpy(tmp, NN_F32P(io->output), sizeof(float) * (size_t)nn_tensor_numel(io->output));
    free(tmp);
    return rc;
}

/* state that changes the result from call to call */
static int bad_nondet_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    sq *s = self;
    int rc = sq_forward(self, io, err);
    NN_F32P(io->output)[0] += 1e-3f * (float)(s->calls++);
    return rc;
}

/* backward writes to an unmapped address (not NULL, so that UBSan's null check stays out of
 * it and the fault is a plain SIGSEGV in every build) */
static int bad_crash_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    volatile uintptr_t unmapped = io->training ? 64 : 128;
    *(volatile float *)unmapped = 1.0f;
    return NN_OK;
}

/* uses grad_inputs[0] without looking whether it is there: with NULL, its first read (of the
 * extents, past the start of the struct, so a plain SIGSEGV rather than UBSan's null check)
 * faults */
static int bad_null_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    uintptr_t t = (uintptr_t)io->grad_inputs[0];
    volatile int64_t rows = *(volatile const int64_t *)(t + offsetof(nn_tensor, shape));
    (void)rows;
    sq_grad(io, NN_F32P(io->grad_inputs[0]), 0);
    return NN_OK;
}

/* adds to grad_inputs instead of overwriting it */
static int bad_accum_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    if (io->grad_inputs[0])
        sq_grad(io, NN_F32P(io->grad_inputs[0]), 1);
    return NN_OK;
}

/* never returns */
static int bad_hang_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)io;
    (void)err;
    for (volatile int spin = 1; spin;)
        ;
    return NN_OK;
}

/* fails with a status of its own (positive, unknown to nntrain) and no message */
static int bad_silent_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)io;
    (void)err;
    return 7;
}

#define SQ_VTABLE(NAME, CREATE, FORWARD, BACKWARD)                                         \
    static const nn_layer_vtable NAME##_vt = {                                             \
        .struct_size = sizeof(nn_layer_vtable), .create = CREATE, .destroy = sq_destroy,   \
        .setup = sq_setup, .forward = FORWARD, .backward = BACKWARD};                      \
    static const nn_plugin_desc NAME##_desc = NN_DESCRIPTOR(                               \
        .kind = NN_KIND_LAYER, .name = #NAME, .version = "1.0.0", .license = "MIT",       \
        .summary = "test layer y = x * x, " #NAME, .caps = NN_CAP_BACKWARD,               \
        .vtable = &NAME##_vt)

SQ_VTABLE(bad_grad, sq_create, sq_forward, bad_grad_backward);
SQ_VTABLE(bad_alloc, sq_create, bad_alloc_forward, sq_backward);
SQ_VTABLE(bad_nondet, sq_create, bad_nondet_forward, sq_backward);
SQ_VTABLE(bad_crash, sq_create, sq_forward, bad_crash_backward);
SQ_VTABLE(bad_null, sq_create, sq_forward, bad_null_backward);
SQ_VTABLE(bad_accum, sq_create, sq_forward, bad_accum_backward);
SQ_VTABLE(bad_leak, leak_create, sq_forward, sq_backward);
SQ_VTABLE(bad_hang, sq_create, bad_hang_forward, sq_backward);
SQ_VTABLE(bad_silent, sq_create, bad_silent_forward, sq_backward);

/* a number key declared without a range: every value passes (plugins test notes it) */
static const nn_param_spec open_range_params[] = {
    {.name = "gain", .type = NN_PARAM_FLOAT, .def = "1", .doc = "unused; declared without a range"},
    {.name = NULL}};
static const nn_layer_vtable open_range_vt = {
    .struct_size = sizeof(nn_layer_vtable), .create = sq_create, .destroy = sq_destroy,
    .setup = sq_setup, .forward = sq_forward, .backward = sq_backward};
static const nn_plugin_desc open_range_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "open_range", .version = "1.0.0", .license = "MIT",
    .summary = "test layer y = x * x with a float key that declares no range",
    .caps = NN_CAP_BACKWARD, .params = open_range_params, .vtable = &open_range_vt);

/* the correct one, with its own cases */
static const nn_layer_vtable good_square_vt = {
    .struct_size = sizeof(nn_layer_vtable), .create = sq_create, .destroy = sq_destroy,
    .setup = sq_setup, .forward = sq_forward, .backward = sq_backward};
static const nn_test_case good_square_cases[] = {
    {.inputs = "3x4 f32 [0.5, 2]"},
    {.inputs = "2x1x5x3"},
};
static const nn_test_spec good_square_test = {
    .struct_size = sizeof(nn_test_spec), .n_cases = 2, .cases = good_square_cases};
static const nn_plugin_desc good_square_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "good_square", .version = "1.0.0", .license = "MIT",
    .summary = "test layer y = x * x, correct", .caps = NN_CAP_BACKWARD,
    .vtable = &good_square_vt, .test = &good_square_test);

/* ---- a loss whose gradient has the wrong sign: L = mean((p - t)^2) ---- */

static int sqerr_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)self;
    if (!nn_shape_equal(s->pred, s->target) || nn_tensor_dtype(s->target) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "pred and target must match");
    return NN_OK;
}

/* sum((p - t)^2), and grad_pred = c (p - t) when asked */
static double sq_sum(const nn_loss_io *io, double c)
{
    const float *p = NN_F32P(io->pred), *t = NN_F32P(io->target);
    int64_t n = nn_tensor_numel(io->pred);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        s += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
        if (io->grad_pred)
            NN_F32P(io->grad_pred)[i] = (float)(c * (p[i] - t[i]));
    }
    return s;
}

static int sqerr_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    double n = (double)nn_tensor_numel(io->pred);
    io->loss = sq_sum(io, -2.0 / n) / n;
    return NN_OK;
}

static const nn_loss_vtable bad_loss_vt = {.struct_size = sizeof(nn_loss_vtable),
                                           .create = sq_create, .destroy = sq_destroy,
                                           .setup = sqerr_setup, .forward = sqerr_forward};
static const nn_plugin_desc bad_loss_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "bad_loss", .version = "1.0.0", .license = "MIT",
    .summary = "test loss: squared error with the gradient's sign flipped",
    .vtable = &bad_loss_vt);

/* ---- a sum that setup does not declare: L = sum((p - t)^2), a right gradient ---- */

static int sqsum_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    io->loss = sq_sum(io, 2.0);
    return NN_OK;
}

static const nn_loss_vtable undeclared_sum_vt = {.struct_size = sizeof(nn_loss_vtable),
                                                 .create = sq_create, .destroy = sq_destroy,
                                                 .setup = sqerr_setup, .forward = sqsum_forward};
static const nn_plugin_desc undeclared_sum_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "undeclared_sum", .version = "1.0.0", .license = "MIT",
    .summary = "test loss: a sum of squared errors whose setup leaves NN_LOSS_MEAN",
    .vtable = &undeclared_sum_vt);

NN_PLUGIN_EXPORT(&bad_grad_desc, &bad_alloc_desc, &bad_nondet_desc, &bad_crash_desc,
                 &bad_null_desc, &bad_accum_desc, &bad_leak_desc, &bad_hang_desc,
                 &bad_silent_desc, &open_range_desc, &good_square_desc, &bad_loss_desc, &undeclared_sum_desc);
