/* nntest_fakedev.c: a pretend device for `plugins test --device`: the backend "fakedev" hands
 * out addresses the host cannot dereference (a high bit set: any host access faults), and the
 * layer "fd_scale" (y = alpha * x) registered for it decodes them, as a device kernel would.
 * A runner that touched device memory itself would crash here. fd_overrun and fd_inplace are
 * fd_scale with a fault the runner must find in device memory, fd_leak with device memory it
 * never frees (the backend counts its live blocks: mem_live). Test code; never installed. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

#define FD_BIT ((uintptr_t)1 << 62) /* non-canonical on x86-64: the host faults on it */

static void *enc(void *p)
{
    return (void *)((uintptr_t)p | FD_BIT);
}

static void *dec(const void *p)
{
    return (void *)((uintptr_t)p & ~FD_BIT);
}

static int fd_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = malloc(1);
    return *self ? NN_OK : NN_ENOMEM;
}

static void fd_destroy(void *self)
{
    free(self);
}

static int fd_open(void *self, int index, nn_error *err)
{
    (void)self;
    (void)index;
    (void)err;
    return NN_OK;
}

static int64_t g_live; /* device blocks alive (one device per process) */

static void *fd_alloc(void *self, size_t bytes, size_t align, nn_error *err)
{
    (void)self;
    void *p = aligned_alloc(align, (bytes + align - 1) / align * align);
    if (!p)
        nn_error_set(err, NN_ENOMEM, "fakedev: out of memory");
    g_live += p != NULL;
    return p ? enc(p) : NULL;
}

static void fd_free(void *self, void *p)
{
    (void)self;
    g_live -= p != NULL;
    if (p)
        free(dec(p));
}

static int fd_mem_live(void *self, int64_t *blocks, int64_t *bytes)
{
    (void)self;
    *blocks = g_live;
    *bytes = 64 * g_live; /* the fixture does not keep sizes */
    return NN_OK;
}

static int fd_copy(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                   nn_error *err)
{
    (void)self;
    (void)err;
    void *d = kind == NN_COPY_DEVICE_TO_HOST ? dst : dec(dst);
    const void *s = kind == NN_COPY_HOST_TO_DEVICE ? src : dec(src);
    memmove(d, s, bytes);
    return NN_OK;
}

static int fd_sync(void *self, nn_error *err)
{
    (void)self;
    (void)err;
    return NN_OK;
}

static int fd_count(void *self, nn_error *err)
{
    (void)self;
    (void)err;
    return 1;
}

static int fd_memset(void *self, void *dst, int value, size_t bytes, nn_error *err)
{
    (void)self;
    (void)err;
    memset(dec(dst), value, bytes);
    return NN_OK;
}

/* ---- the device math the core needs (backend.h requires every slot), on decoded memory ---- */

static float *fdata(const nn_tensor *t)
{
    return dec((const char *)t->dl.data + t->dl.byte_offset);
}

static int fd_add(void *self, nn_tensor *y, const nn_tensor *x, nn_error *err)
{
    (void)self;
    (void)err;
    float *Y = fdata(y), *X = fdata(x);
    for (int64_t i = 0, n = nn_tensor_numel(y); i < n; i++)
        Y[i] += X[i];
    return NN_OK;
}

static int fd_scale(void *self, nn_tensor *x, float s, nn_error *err)
{
    (void)self;
    (void)err;
    float *X = fdata(x);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        X[i] *= s;
    return NN_OK;
}

static int fd_clamp(void *self, nn_tensor *x, float lo, float hi, nn_error *err)
{
    (void)self;
    (void)err;
    float *X = fdata(x);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        X[i] = X[i] < lo ? lo : X[i] > hi ? hi : X[i];
    return NN_OK;
}

static int fd_norm_acc(void *self, const nn_tensor *x, int inf, double *acc, nn_error *err)
{
    (void)self;
    (void)err;
    const float *X = fdata(x);
    double a = *(double *)dec(acc);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        a = inf ? ((X[i] != X[i] || fabs(X[i]) > a) ? fabs(X[i]) : a) : a + (double)X[i] * X[i];
    *(double *)dec(acc) = a;
    return NN_OK;
}

static int fd_find_nonfinite(void *self, const nn_tensor *x, int64_t *index, nn_error *err)
{
    (void)self;
    (void)err;
    const float *X = fdata(x);
    *index = -1;
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n && *index < 0; i++)
        if (!isfinite(X[i]))
            *index = i;
    return NN_OK;
}

static int fd_count_correct(void *self, const nn_tensor *pred, const nn_tensor *target,
                            int64_t rows, int top_k, double *out, nn_error *err)
{
    (void)self;
    (void)err;
    int64_t C = pred->shape[1];
    const float *P = fdata(pred);
    int soft = nn_tensor_dtype(target) == NN_F32;
    double *o = dec(out), correct = 0, in_top = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = P + r * C;
        int64_t t = soft ? nn_argmax_first(fdata(target) + r * C, C) : ((int32_t *)fdata(target))[r];
        if (t < 0 || t >= C)
            continue;
        correct += nn_argmax_first(row, C) == t;
        int64_t above = 0;
        for (int64_t c = 0; c < C; c++)
            above += row[c] > row[t];
        in_top += above < top_k;
    }
    o[0] = correct;
    if (top_k > 0)
        o[1] = in_top;
    return NN_OK;
}

static const nn_device_ops fd_ops = {
    .struct_size = sizeof(nn_device_ops), .add = fd_add, .scale = fd_scale, .clamp = fd_clamp,
    .norm_acc = fd_norm_acc, .find_nonfinite = fd_find_nonfinite,
    .count_correct = fd_count_correct, .mem_live = fd_mem_live};

static const nn_backend_vtable fd_backend = {
    .struct_size = sizeof(nn_backend_vtable), .create = fd_create, .destroy = fd_destroy,
    .device_type = kDLExtDev, .open = fd_open, .alloc = fd_alloc, .free = fd_free,
    .copy = fd_copy, .sync = fd_sync, .device_count = fd_count, .memset = fd_memset,
    .ops = &fd_ops};

/* ---- y = alpha * x on the pretend device ---- */

static int sc_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    if (s->n_inputs != 1 || s->device->dl.device_type != kDLExtDev)
        return nn_error_set(err, NN_EINVAL, "fd_scale: one input, on fakedev");
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    const int64_t one[1] = {1};
    nn_layer_add_param(s, "alpha", 1, one, NN_INIT_ONES, 1, 1, 0);
    return NN_OK;
}

static int sc_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *x = dec(io->inputs[0]->dl.data), a = *(const float *)dec(io->params[0]->dl.data);
    float *y = dec(io->output->dl.data);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = a * x[i];
    return NN_OK;
}

static int sc_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *x = dec(io->inputs[0]->dl.data), *dy = dec(io->grad_output->dl.data);
    const float a = *(const float *)dec(io->params[0]->dl.data);
    double da = 0;
    int64_t n = nn_tensor_numel(io->output);
    for (int64_t i = 0; i < n; i++)
        da += (double)x[i] * dy[i];
    *(float *)dec(io->param_grads[0]->dl.data) = (float)da;
    if (io->grad_inputs[0]) {
        float *dx = dec(io->grad_inputs[0]->dl.data);
        for (int64_t i = 0; i < n; i++)
            dx[i] = a * dy[i];
    }
    return NN_OK;
}

/* fd_overrun: forward writes one element past the end of its output (a kernel whose grid is
 * one block too large); fd_inplace: forward writes its input, which it must only read */
static int overrun_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sc_forward(self, io, err);
    ((float *)dec(io->output->dl.data))[nn_tensor_numel(io->output)] = 1.0f;
    return rc;
}

static int inplace_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = sc_forward(self, io, err);
    ((float *)dec(io->inputs[0]->dl.data))[0] += 1.0f;
    return rc;
}

/* fd_leak: setup takes a device block for a workspace that destroy never gives back */
static int leak_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int rc = sc_setup(self, s, err);
    const nn_device *d = s->device;
    void *ws = rc ? NULL : d->backend->alloc(d->backend_self, 256, 64, err);
    return rc ? rc : ws ? NN_OK : NN_ENOMEM;
}

/* fd_scale's vtable with another setup or forward */
#define FD_LAYER_VT(setup_fn, forward_fn)                                                      \
    {.struct_size = sizeof(nn_layer_vtable), .create = fd_create, .destroy = fd_destroy,       \
     .setup = setup_fn, .forward = forward_fn, .backward = sc_backward}

static const nn_layer_vtable sc_vt = FD_LAYER_VT(sc_setup, sc_forward);
static const nn_layer_vtable leak_vt = FD_LAYER_VT(leak_setup, sc_forward);
static const nn_layer_vtable overrun_vt = FD_LAYER_VT(sc_setup, overrun_forward);
static const nn_layer_vtable inplace_vt = FD_LAYER_VT(sc_setup, inplace_forward);

static const nn_plugin_desc backend_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_BACKEND, .name = "fakedev", .version = "1.0.0", .license = "MIT",
    .summary = "pretend device whose memory the host cannot touch", .device = "fakedev",
    .vtable = &fd_backend);
static const nn_plugin_desc scale_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "fd_scale", .version = "1.0.0", .license = "MIT",
    .summary = "y = alpha * x on fakedev", .device = "fakedev", .caps = NN_CAP_BACKWARD,
    .vtable = &sc_vt);

static const nn_plugin_desc overrun_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "fd_overrun", .version = "1.0.0", .license = "MIT",
    .summary = "fd_scale that writes one element past its output", .device = "fakedev",
    .caps = NN_CAP_BACKWARD, .vtable = &overrun_vt);
static const nn_plugin_desc inplace_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "fd_inplace", .version = "1.0.0", .license = "MIT",
    .summary = "fd_scale that writes its input", .device = "fakedev", .caps = NN_CAP_BACKWARD,
    .vtable = &inplace_vt);

static const nn_plugin_desc leak_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "fd_leak", .version = "1.0.0", .license = "MIT",
    .summary = "fd_scale whose setup takes device memory it never frees", .device = "fakedev",
    .caps = NN_CAP_BACKWARD, .vtable = &leak_vt);

NN_PLUGIN_EXPORT(&backend_desc, &scale_desc, &overrun_desc, &inplace_desc, &leak_desc);
