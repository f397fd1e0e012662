/* cu_pool.c: maxpool2d, avgpool2d and global_avgpool on CUDA, [N, C, H, W] in floor mode with
 * the CPU plugins' keys and refusals. Max pooling keeps the index each output took in a SAVED
 * buffer for backward; the kernels are k_pool.cu's. Never allocates per step. */
#include <stdlib.h>

#include "cu_pack.h"

typedef struct cu_pool {
    int mode; /* 0 max, 1 avg, 2 global average */
    const char *kind, *name;
    int64_t kernel[2], stride[2], pad[2];
    int include_pad;
    int64_t c, h, w, oh, ow;
    int b_arg; /* max: SAVED argmax, -1 when absent */
} cu_pool;

static int pool_create(int mode, const nn_params *p, void **self, nn_error *err)
{
    static const char *const kinds[] = {"maxpool2d", "avgpool2d", "global_avgpool"};
    cu_pool pl = {.mode = mode, .kind = kinds[mode], .b_arg = -1};
    if (mode != 2) {
        int rc;
        if ((rc = nn_stock_int_list(p, "kernel", 2, pl.kernel, pl.kind, err)) ||
            (rc = nn_stock_int_list(p, "padding", 2, pl.pad, pl.kind, err)))
            return rc;
        if (nn_params_has(p, "stride")) {
            if ((rc = nn_stock_int_list(p, "stride", 2, pl.stride, pl.kind, err)))
                return rc;
        } else {
            pl.stride[0] = pl.kernel[0];
            pl.stride[1] = pl.kernel[1];
        }
        for (int i = 0; i < 2; i++)
            if (pl.pad[i] * 2 > pl.kernel[i])
                return nn_error_set(err, NN_EINVAL, "%s: %s: key 'padding' = %lld is more than "
                                    "half the kernel (%lld): a window could lie entirely in "
                                    "the padding", nn_params_origin(p), pl.kind,
                                    (long long)pl.pad[i], (long long)pl.kernel[i]);
        if (mode == 1)
            pl.include_pad = nn_params_bool(p, "count_include_pad");
    }
    cu_pool *s = malloc(sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", pl.kind);
    *s = pl;
    s->name = s->kind;
    *self = s;
    return NN_OK;
}

static int maxpool2d_create(const nn_params *p, void **self, nn_error *err)
{
    return pool_create(0, p, self, err);
}

static int avgpool2d_create(const nn_params *p, void **self, nn_error *err)
{
    return pool_create(1, p, self, err);
}

static int global_avgpool_create(const nn_params *p, void **self, nn_error *err)
{
    return pool_create(2, p, self, err);
}

static void pool_destroy(void *self)
{
    free(self);
}

static int pool_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_pool *pl = self;
    const char *L = pl->name = cu_name(s->layer_name, pl->kind);
    char buf[96];
    if (!cu_dev_of(s->device, 0, L, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, pl->kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 4)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s expects an [N, C, H, W] input, got "
                            "%s", L, pl->kind, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': %s supports float32 (F32) input only",
                            L, pl->kind);
    if (pl->mode == 2) {
        pl->kernel[0] = x->shape[2];
        pl->kernel[1] = x->shape[3];
        pl->stride[0] = pl->stride[1] = 1;
    }
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        int64_t avail = x->shape[2 + i] + 2 * pl->pad[i] - pl->kernel[i];
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s is smaller than the %s "
                                "kernel %lldx%lld plus padding %lld", L,
                                nn_shape_str(x, buf, sizeof buf), pl->kind,
                                (long long)pl->kernel[0], (long long)pl->kernel[1],
                                (long long)pl->pad[i]);
        out[i] = avail / pl->stride[i] + 1;
    }
    pl->c = x->shape[1];
    pl->h = x->shape[2];
    pl->w = x->shape[3];
    pl->oh = out[0];
    pl->ow = out[1];
    int64_t oshape[4] = {x->shape[0], pl->c, out[0], out[1]};
    nn_tensor_describe(&s->output, NN_F32, pl->mode == 2 ? 2 : 4, oshape);
    s->flops = (uint64_t)(nn_shape_numel(4, oshape) * pl->kernel[0] * pl->kernel[1]);
    pl->b_arg = -1;
    if (pl->mode == 0 && s->training &&
        (pl->b_arg = nn_layer_add_buffer(s, "argmax", NN_BUF_SAVED, NN_I32, 4, oshape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare a buffer", L);
    return NN_OK;
}

static k_pool pool_args(const cu_pool *pl, int64_t batch, int backward)
{
    return (k_pool){.planes = batch * pl->c, .h = pl->h, .w = pl->w, .oh = pl->oh, .ow = pl->ow,
                    .kh = (int32_t)pl->kernel[0], .kw = (int32_t)pl->kernel[1],
                    .sh = (int32_t)pl->stride[0], .sw = (int32_t)pl->stride[1],
                    .ph = (int32_t)pl->pad[0], .pw = (int32_t)pl->pad[1],
                    .mode = pl->mode == 0 ? K_POOL_MAX : K_POOL_AVG,
                    .include_pad = pl->include_pad, .backward = backward};
}

static int pool_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_pool *pl = self;
    const char *L = pl->name;
    cu_dev *d = cu_dev_of(io->device, 1, L, err);
    if (!d)
        return NN_EINVAL;
    int64_t batch = io->inputs[0]->shape[0];
    if (pl->mode == 2) {
        k_gap g = {.planes = batch * pl->c, .hw = pl->h * pl->w};
        CU_TENSOR(g.x, d, io->inputs[0], NN_F32, L, "input", err);
        CU_TENSOR(g.y, d, io->output, NN_F32, L, "output", err);
        uint32_t blocks = g.planes < 65535 ? (uint32_t)g.planes : 65535;
        return cu_launch(d, L, k_pool_fn(K_POOL_GLOBAL), blocks ? blocks : 1, K_REDUCE, &g,
                         sizeof g, err);
    }
    k_pool a = pool_args(pl, batch, 0);
    CU_TENSOR(a.x, d, io->inputs[0], NN_F32, L, "input", err);
    CU_TENSOR(a.y, d, io->output, NN_F32, L, "output", err);
    if (pl->b_arg >= 0 && io->buffers[pl->b_arg])
        CU_TENSOR(a.arg, d, io->buffers[pl->b_arg], NN_I32, L, "argmax", err);
    return cu_launch_n(d, L, k_pool_fn(K_POOL_FWD), a.planes * pl->oh * pl->ow, &a, sizeof a,
                       err);
}

static int pool_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_pool *pl = self;
    const char *L = pl->name;
    if (!io->grad_inputs[0])
        return NN_OK; /* no parameters: nothing else to compute */
    cu_dev *d = cu_dev_of(io->device, 1, L, err);
    if (!d)
        return NN_EINVAL;
    int64_t batch = io->inputs[0]->shape[0];
    if (pl->mode == 2) {
        k_gap g = {.planes = batch * pl->c, .hw = pl->h * pl->w, .backward = 1};
        CU_TENSOR(g.g, d, io->grad_output, NN_F32, L, "output gradient", err);
        CU_TENSOR(g.gx, d, io->grad_inputs[0], NN_F32, L, "input gradient", err);
        return cu_launch_n(d, L, k_pool_fn(K_POOL_GLOBAL), g.planes * g.hw, &g, sizeof g, err);
    }
    k_pool a = pool_args(pl, batch, 1);
    if (pl->mode == 0) {
        if (pl->b_arg < 0 || !io->buffers[pl->b_arg])
            return nn_error_set(err, NN_EINVAL, "layer '%s': backward needs the argmax of a "
                                "training forward, which this plan does not keep", L);
        CU_TENSOR(a.arg, d, io->buffers[pl->b_arg], NN_I32, L, "argmax", err);
    }
    CU_TENSOR(a.g, d, io->grad_output, NN_F32, L, "output gradient", err);
    CU_TENSOR(a.gx, d, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    return cu_launch_n(d, L, k_pool_fn(K_POOL_BWD), a.planes * pl->h * pl->w, &a, sizeof a,
                       err);
}

static const nn_param_spec maxpool2d_params[] = {NN_STOCK_MAXPOOL2D_PARAMS, {.name = NULL}};
static const nn_param_spec avgpool2d_params[] = {NN_STOCK_AVGPOOL2D_PARAMS, {.name = NULL}};

#define CU_POOL_VTABLE(nm)                                                               \
    static const nn_layer_vtable nm##_vtable = {                                         \
        .struct_size = sizeof(nn_layer_vtable),                                          \
        .create = nm##_create,                                                           \
        .destroy = pool_destroy,                                                         \
        .setup = pool_setup,                                                             \
        .forward = pool_forward,                                                         \
        .backward = pool_backward,                                                       \
    }
CU_POOL_VTABLE(maxpool2d);
CU_POOL_VTABLE(avgpool2d);
CU_POOL_VTABLE(global_avgpool);

CU_LAYER_DESC(maxpool2d, "2-D max pooling [N, C, H, W] -> [N, C, H', W'] on CUDA (floor mode)",
              maxpool2d_params);
CU_LAYER_DESC(avgpool2d, "2-D average pooling [N, C, H, W] -> [N, C, H', W'] on CUDA (floor "
                         "mode)", avgpool2d_params);
CU_LAYER_DESC(global_avgpool, "mean over height and width on CUDA, [N, C, H, W] -> [N, C]; no "
                              "keys", NULL);
