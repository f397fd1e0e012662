/* cu_norm.c: batchnorm and layernorm on CUDA with the CPU plugins' keys, parameters and state
 * (running_mean and running_var are the same checkpointed buffers, updated PyTorch's way with
 * the unbiased variance). One kernel per pass (k_norm.cu); never allocates per step. */
#include <stdlib.h>

#include "cu_pack.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };

typedef struct cu_norm {
    int ln;                 /* 0: batchnorm, 1: layernorm */
    double momentum, eps;
    int affine, training, sync;
    const char *name;
    int64_t channels, inner, count; /* batchnorm: [N, channels, inner], count = N * inner */
    int64_t rows, d;                /* layernorm */
    int b_rmean, b_rvar, b_mean, b_var; /* buffer indices, -1 when absent */
} cu_norm;

static int norm_new(void **self, nn_error *err)
{
    cu_norm *n = calloc(1, sizeof *n);
    if (!n)
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    n->b_rmean = n->b_rvar = n->b_mean = n->b_var = -1;
    *self = n;
    return NN_OK;
}

static int batchnorm_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = norm_new(self, err);
    if (rc == NN_OK) {
        cu_norm *b = *self;
        b->momentum = nn_params_float(p, "momentum");
        b->eps = nn_params_float(p, "eps");
        b->affine = nn_params_bool(p, "affine");
        b->sync = nn_params_bool(p, "sync");
    }
    return rc;
}

static int layernorm_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = norm_new(self, err);
    if (rc == NN_OK) {
        cu_norm *l = *self;
        l->ln = 1;
        l->eps = nn_params_float(p, "eps");
        l->affine = nn_params_bool(p, "elementwise_affine");
    }
    return rc;
}

static void norm_destroy(void *self)
{
    free(self);
}

/* the shape checks both share; *kind names the plugin */
static int norm_input(cu_norm *b, nn_layer_setup *s, const char *kind, nn_error *err)
{
    char buf[96];
    const char *L = b->name = cu_name(s->layer_name, kind);
    b->training = s->training;
    if (!cu_dev_of(s->device, 0, L, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim < 2 || x->dl.ndim > 5)
        return nn_error_set(err, NN_ESHAPE, b->ln ? "layer '%s': layernorm expects 2 to 5 dims "
                                                    "[N, ..., D], got %s"
                                                  : "layer '%s': batchnorm expects [N, C], "
                                                    "[N, C, L] or [N, C, H, W], got %s",
                            L, nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': %s supports float32 (F32) only", L,
                            kind);
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    return NN_OK;
}

static int affine_params(cu_norm *b, nn_layer_setup *s, int64_t c, nn_error *err)
{
    if (b->affine &&
        (nn_layer_add_param(s, "weight", 1, &c, NN_INIT_ONES, c, c, NN_TENSOR_NORM) != P_WEIGHT ||
         nn_layer_add_param(s, "bias", 1, &c, NN_INIT_ZEROS, c, c, NN_TENSOR_NORM) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters",
                            b->name);
    return NN_OK;
}

static int batchnorm_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_norm *b = self;
    char buf[96];
    int rc = norm_input(b, s, "batchnorm", err);
    if (rc)
        return rc;
    /* one process's statistics are the global batch's: sync only matters across processes,
     * where the sums would have to travel through the pack's own communicator */
    if (b->sync && s->dist && s->dist->size > 1)
        return nn_error_set(err, NN_ENOTSUP, "layer '%s': sync = true across %d processes is "
                            "not implemented by the CUDA pack yet", b->name, s->dist->size);
    const nn_tensor *x = s->inputs[0];
    b->channels = x->shape[1];
    b->count = nn_tensor_numel(x) / b->channels;
    b->inner = nn_shape_numel(x->dl.ndim - 2, x->shape + 2);
    if (s->training && b->count < 2)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': batchnorm needs more than 1 value per "
                            "channel to train, input %s has 1 (use a batch larger than 1)",
                            b->name, nn_shape_str(x, buf, sizeof buf));
    int64_t c = b->channels;
    if ((rc = affine_params(b, s, c, err)))
        return rc;
    b->b_rmean = nn_layer_add_buffer(s, "running_mean", NN_BUF_STATE, NN_F32, 1, &c);
    b->b_rvar = nn_layer_add_buffer(s, "running_var", NN_BUF_STATE, NN_F32, 1, &c);
    if (b->b_rvar >= 0)
        s->buffers[b->b_rvar].init = NN_INIT_ONES;
    b->b_mean = b->b_var = -1;
    if (s->training) {
        b->b_mean = nn_layer_add_buffer(s, "batch_mean", NN_BUF_SAVED, NN_F32, 1, &c);
        b->b_var = nn_layer_add_buffer(s, "batch_var", NN_BUF_SAVED, NN_F32, 1, &c);
    }
    if (b->b_rmean < 0 || b->b_rvar < 0 || (s->training && (b->b_mean < 0 || b->b_var < 0)))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers", b->name);
    s->flops = (uint64_t)(4 * nn_tensor_numel(x));
    return NN_OK;
}

static int batchnorm_pass(const cu_norm *b, const nn_layer_io *io, int mode, nn_error *err)
{
    const char *L = b->name;
    cu_dev *d = cu_dev_of(io->device, 1, L, err);
    if (!d)
        return NN_EINVAL;
    float m = (float)b->momentum;
    k_bn a = {.n = io->inputs[0]->shape[0], .channels = b->channels, .inner = b->inner,
              .eps = (float)b->eps, .momentum = m, .keep = 1.0f - m,
              .unbias = b->count > 1 ? (float)((double)b->count / (double)(b->count - 1)) : 1.0f,
              .mode = mode};
    CU_TENSOR(a.x, d, io->inputs[0], NN_F32, L, "input", err);
    if (b->affine) {
        CU_TENSOR(a.w, d, io->params[P_WEIGHT], NN_F32, L, "weight", err);
        CU_TENSOR(a.b, d, io->params[P_BIAS], NN_F32, L, "bias", err);
    }
    if (mode != K_BN_EVAL) {
        if (b->b_mean < 0 || !io->buffers[b->b_mean] || !io->buffers[b->b_var])
            return nn_error_set(err, NN_EINVAL, "layer '%s': %s needs the batch statistics "
                                "of a training plan", L, mode == K_BN_TRAIN
                                                             ? "a training forward"
                                                             : "backward");
        CU_TENSOR(a.mean, d, io->buffers[b->b_mean], NN_F32, L, "batch_mean", err);
        CU_TENSOR(a.var, d, io->buffers[b->b_var], NN_F32, L, "batch_var", err);
    }
    if (mode == K_BN_BACKWARD) {
        CU_TENSOR(a.g, d, io->grad_output, NN_F32, L, "output gradient", err);
        if (io->grad_inputs[0])
            CU_TENSOR(a.gx, d, io->grad_inputs[0], NN_F32, L, "input gradient", err);
        if (b->affine) {
            CU_TENSOR(a.gw, d, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
            CU_TENSOR(a.gb, d, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
        }
    } else {
        CU_TENSOR(a.y, d, io->output, NN_F32, L, "output", err);
        CU_TENSOR(a.rmean, d, io->buffers[b->b_rmean], NN_F32, L, "running_mean", err);
        CU_TENSOR(a.rvar, d, io->buffers[b->b_rvar], NN_F32, L, "running_var", err);
    }
    return cu_launch(d, L, k_norm_fn(K_NORM_BN), (uint32_t)b->channels, K_REDUCE, &a, sizeof a,
                     err);
}

static int batchnorm_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_norm *b = self;
    return batchnorm_pass(b, io, io->training && b->training ? K_BN_TRAIN : K_BN_EVAL, err);
}

static int batchnorm_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_norm *b = self;
    if (!b->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", b->name);
    return batchnorm_pass(b, io, K_BN_BACKWARD, err);
}

/* ---- layernorm over the last dim --------------------------------------------------------- */

static int layernorm_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_norm *l = self;
    int rc = norm_input(l, s, "layernorm", err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    l->d = x->shape[x->dl.ndim - 1];
    l->rows = nn_tensor_numel(x) / l->d;
    if ((rc = affine_params(l, s, l->d, err)))
        return rc;
    l->b_mean = l->b_var = -1;
    if (s->training) {
        l->b_mean = nn_layer_add_buffer(s, "mean", NN_BUF_SAVED, NN_F32, 1, &l->rows);
        l->b_var = nn_layer_add_buffer(s, "var", NN_BUF_SAVED, NN_F32, 1, &l->rows);
        if (l->b_mean < 0 || l->b_var < 0)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare buffers",
                                l->name);
    }
    s->flops = (uint64_t)(5 * nn_tensor_numel(x));
    return NN_OK;
}

static int layernorm_pass(const cu_norm *l, const nn_layer_io *io, int backward, nn_error *err)
{
    const char *L = l->name;
    cu_dev *d = cu_dev_of(io->device, 1, L, err);
    if (!d)
        return NN_EINVAL;
    k_ln a = {.rows = l->rows, .d = l->d, .eps = (float)l->eps, .training = l->training,
              .mode = backward ? K_LN_BACKWARD : K_LN_FORWARD};
    CU_TENSOR(a.x, d, io->inputs[0], NN_F32, L, "input", err);
    if (l->affine) {
        CU_TENSOR(a.w, d, io->params[P_WEIGHT], NN_F32, L, "weight", err);
        CU_TENSOR(a.b, d, io->params[P_BIAS], NN_F32, L, "bias", err);
    }
    if (l->b_mean >= 0 && io->buffers[l->b_mean]) {
        CU_TENSOR(a.mean, d, io->buffers[l->b_mean], NN_F32, L, "mean", err);
        CU_TENSOR(a.var, d, io->buffers[l->b_var], NN_F32, L, "var", err);
    } else if (backward) {
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward needs the row statistics of "
                            "a training forward", L);
    }
    uint32_t blocks = l->rows < 65535 ? (uint32_t)l->rows : 65535;
    if (!backward) {
        CU_TENSOR(a.y, d, io->output, NN_F32, L, "output", err);
        return cu_launch(d, L, k_norm_fn(K_NORM_LN), blocks ? blocks : 1, K_REDUCE, &a,
                         sizeof a, err);
    }
    CU_TENSOR(a.g, d, io->grad_output, NN_F32, L, "output gradient", err);
    int rc;
    if (io->grad_inputs[0]) {
        CU_TENSOR(a.gx, d, io->grad_inputs[0], NN_F32, L, "input gradient", err);
        if ((rc = cu_launch(d, L, k_norm_fn(K_NORM_LN), blocks ? blocks : 1, K_REDUCE, &a,
                            sizeof a, err)))
            return rc;
    }
    if (!l->affine)
        return NN_OK;
    CU_TENSOR(a.gw, d, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    CU_TENSOR(a.gb, d, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    a.mode = K_LN_PARAM_GRAD;
    return cu_launch_n(d, L, k_norm_fn(K_NORM_LN), l->d, &a, sizeof a, err);
}

static int layernorm_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return layernorm_pass(self, io, 0, err);
}

static int layernorm_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_norm *l = self;
    if (!l->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", l->name);
    return layernorm_pass(l, io, 1, err);
}

static const nn_param_spec batchnorm_params[] = {NN_STOCK_BATCHNORM_PARAMS, {.name = NULL}};
static const nn_param_spec layernorm_params[] = {NN_STOCK_LAYERNORM_PARAMS, {.name = NULL}};

static const nn_layer_vtable batchnorm_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = batchnorm_create,
    .destroy = norm_destroy,
    .setup = batchnorm_setup,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
};
static const nn_layer_vtable layernorm_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = layernorm_create,
    .destroy = norm_destroy,
    .setup = layernorm_setup,
    .forward = layernorm_forward,
    .backward = layernorm_backward,
};

CU_LAYER_DESC(batchnorm, "batch normalisation over dim 1 of [N, C], [N, C, L] or [N, C, H, W] "
                         "on CUDA, running statistics for eval", batchnorm_params);
CU_LAYER_DESC(layernorm, "layer normalisation over the last dim of [N, ..., D] on CUDA",
              layernorm_params);
