/* cu_dense.c: "dense" on CUDA, y = act(x W^T + b), [N, in] -> [N, units], with the CPU
 * plugin's keys, parameters and initialisers (weight [units, in]). Products run on cuBLASLt
 * with the bias (and relu) fused as an epilogue and the bias gradient fused into the weight
 * gradient's product; where cuBLASLt has no algorithm for an epilogue, the same work runs as
 * a separate kernel. Never allocates per step. */
#include <stdlib.h>

#include "cu_gemm.h"

enum { P_WEIGHT = NN_STOCK_DENSE_WEIGHT, P_BIAS = NN_STOCK_DENSE_BIAS };

typedef struct cu_dense {
    nn_stock_dense k; /* the keys; k.activation is a K_ACT_* */
    int64_t n, in;
    const char *name;
    int training;
    int b_z, b_dz;          /* SAVED pre-activation (gelu), WORKSPACE dLoss/dz; -1 when absent */
    cu_mm fwd, dx, dw;
    int fused_bias, fused_relu, fused_bgrad;
    cu_dev *dev;            /* where the plans were made (to free them) */
} cu_dense;

static int dense_create(const nn_params *p, void **self, nn_error *err)
{
    cu_dense *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "dense: out of memory");
    nn_stock_dense_read(p, &d->k); /* activation: none|relu|tanh|sigmoid|gelu = K_ACT_* */
    d->name = "dense";
    d->b_z = d->b_dz = -1;
    *self = d;
    return NN_OK;
}

static void dense_destroy(void *self)
{
    cu_dense *d = self;
    if (d->dev) {
        cu_forget_graphs(d->dev); /* they name this layer's cuBLASLt descriptors */
        cu_mm_free(d->dev, &d->fwd);
        cu_mm_free(d->dev, &d->dx);
        cu_mm_free(d->dev, &d->dw);
    }
    free(d);
}

static int dense_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_dense *d = self;
    d->name = cu_name(s->layer_name, "dense");
    d->training = s->training;
    if (!cu_dev_of(s->device, 0, d->name, err))
        return NN_EINVAL;
    int rc = nn_stock_dense_setup(&d->k, d->name, s, err);
    if (rc)
        return rc;
    d->n = s->inputs[0]->shape[0];
    d->in = s->inputs[0]->shape[1];
    const int64_t *oshape = s->output.shape;
    d->b_z = d->b_dz = -1;
    if (d->training && d->k.activation == K_ACT_GELU &&
        (d->b_z = nn_layer_add_buffer(s, "act", NN_BUF_SAVED, NN_F32, 2, oshape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers", d->name);
    if (d->training && d->k.activation != K_ACT_NONE &&
        (d->b_dz = nn_layer_add_buffer(s, "act_grad", NN_BUF_WORKSPACE, NN_F32, 2, oshape)) < 0)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers", d->name);
    return NN_OK;
}

/* plans a product with the epilogue, or without it when cuBLASLt has none (*fused says) */
static int plan(cu_dev *dev, cu_mm *mm, const char *who, int64_t M, int64_t N, int64_t K,
                int ta, int tb, int epi, void *bias, int *fused, nn_error *err)
{
    int rc = cu_mm_plan(dev, mm, who, M, N, K, ta, tb, epi, bias, err);
    *fused = rc == NN_OK && epi != CUBLASLT_EPILOGUE_DEFAULT;
    /* any refusal of an epilogue (not only "not supported") leaves the plain product, whose
     * own failure is then the real one */
    if (rc != NN_OK && rc != NN_EDLOPEN && epi != CUBLASLT_EPILOGUE_DEFAULT)
        rc = cu_mm_plan(dev, mm, who, M, N, K, ta, tb, CUBLASLT_EPILOGUE_DEFAULT, NULL, err);
    return rc;
}

static int dense_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_dense *d = self;
    const char *L = d->name;
    cu_dev *dev = cu_dev_of(io->device, 1, L, err);
    if (!dev)
        return NN_EINVAL;
    if (dev != d->dev && d->dev) {
        cu_mm_free(d->dev, &d->fwd);
        cu_mm_free(d->dev, &d->dx);
        cu_mm_free(d->dev, &d->dw);
    }
    d->dev = dev;
    cu_forget_graphs(dev);
    void *b = NULL, *db = NULL;
    if (d->k.bias)
        CU_TENSOR(b, dev, io->params[P_BIAS], NN_F32, L, "bias", err);
    int relu = d->k.activation == K_ACT_RELU;
    int epi = relu ? (d->k.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                   : (d->k.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    int fused, rc;
    /* y[n, units] = x[n, in] W[units, in]^T */
    if ((rc = plan(dev, &d->fwd, L, d->n, d->k.units, d->in, 0, 1, epi, b, &fused, err)))
        return rc;
    d->fused_bias = fused && d->k.bias;
    d->fused_relu = fused && relu;
    d->fused_bgrad = 0;
    if (!d->training)
        return NN_OK;
    /* dx[n, in] = dz[n, units] W[units, in] */
    if (io->grad_inputs[0] &&
        (rc = cu_mm_plan(dev, &d->dx, L, d->n, d->in, d->k.units, 0, 0,
                         CUBLASLT_EPILOGUE_DEFAULT, NULL, err)))
        return rc;
    /* dW[units, in] = dz^T x, and db = the column sums of dz in the same pass */
    if (d->k.bias && io->param_grads[P_BIAS])
        CU_TENSOR(db, dev, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    if ((rc = plan(dev, &d->dw, L, d->k.units, d->in, d->n, 1, 0,
                   db ? CUBLASLT_EPILOGUE_BGRADB : CUBLASLT_EPILOGUE_DEFAULT, db, &fused, err)))
        return rc;
    d->fused_bgrad = fused;
    return NN_OK;
}

static int dense_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_dense *d = self;
    const char *L = d->name;
    int rc;
    if (!d->fwd.ready && (rc = dense_bind(self, io, err)))
        return rc;
    cu_dev *dev = cu_dev_of(io->device, 1, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *b = NULL;
    float *y, *z = NULL;
    CU_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    CU_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    if (d->k.bias)
        CU_TENSOR(b, dev, io->params[P_BIAS], NN_F32, L, "bias", err);
    CU_TENSOR(y, dev, io->output, NN_F32, L, "output", err);
    if (d->b_z >= 0 && io->buffers[d->b_z])
        CU_TENSOR(z, dev, io->buffers[d->b_z], NN_F32, L, "act", err);
    float *dst = z ? z : y;
    if ((rc = cu_mm_run(dev, &d->fwd, L, x, w, dst, err)))
        return rc;
    int bias_left = d->k.bias && !d->fused_bias;
    int act_left = d->k.activation != K_ACT_NONE && !d->fused_relu;
    if (!bias_left && !act_left)
        return NN_OK;
    /* the rest in one pass over the output, in place (z keeps z + b for gelu's backward) */
    k_act a = {.x = dst, .out = y, .z = z, .bias = bias_left ? b : NULL, .n = d->n * d->k.units,
               .inner = 1, .channels = d->k.units, .act = d->k.activation};
    return cu_act(dev, L, &a, err);
}

static int dense_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_dense *d = self;
    const char *L = d->name;
    if (!d->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", L);
    int rc;
    if (!d->dw.ready && (rc = dense_bind(self, io, err)))
        return rc;
    cu_dev *dev = cu_dev_of(io->device, 1, L, err);
    if (!dev)
        return NN_EINVAL;
    const float *x, *w, *dy;
    float *dw, *db = NULL, *dx = NULL;
    CU_TENSOR(x, dev, io->inputs[0], NN_F32, L, "input", err);
    CU_TENSOR(w, dev, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    CU_TENSOR(dy, dev, io->grad_output, NN_F32, L, "output gradient", err);
    CU_TENSOR(dw, dev, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    if (d->k.bias)
        CU_TENSOR(db, dev, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    if (io->grad_inputs[0])
        CU_TENSOR(dx, dev, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    const float *dz = dy;
    if (d->k.activation != K_ACT_NONE) {
        float *g;
        if (d->b_dz < 0 || !io->buffers[d->b_dz])
            return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan built "
                                "without training buffers", L);
        CU_TENSOR(g, dev, io->buffers[d->b_dz], NN_F32, L, "act_grad", err);
        /* relu, tanh and sigmoid take the derivative from the output, gelu from z */
        k_act a = {.g = dy, .out = g, .n = d->n * d->k.units, .act = d->k.activation,
                   .backward = 1};
        if (d->k.activation == K_ACT_GELU)
            CU_TENSOR(a.x, dev, io->buffers[d->b_z], NN_F32, L, "act", err);
        else
            CU_TENSOR(a.y, dev, io->output, NN_F32, L, "output", err);
        if (d->k.activation == K_ACT_RELU)
            a.x = a.y;
        if ((rc = cu_act(dev, L, &a, err)))
            return rc;
        dz = g;
    }
    if (dx && (rc = cu_mm_run(dev, &d->dx, L, dz, w, dx, err)))
        return rc;
    if ((rc = cu_mm_run(dev, &d->dw, L, dz, x, dw, err)))
        return rc;
    if (!db || d->fused_bgrad)
        return NN_OK;
    k_chansum c = {.x = dz, .out = db, .n = d->n, .channels = d->k.units, .inner = 1};
    return cu_launch(dev, L, k_eltwise_fn(K_ELT_CHANSUM), (uint32_t)d->k.units, K_REDUCE, &c,
                     sizeof c, err);
}

static const nn_param_spec dense_params[] = {NN_STOCK_DENSE_PARAMS, {.name = NULL}};

static const nn_layer_vtable dense_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = dense_create,
    .destroy = dense_destroy,
    .setup = dense_setup,
    .bind = dense_bind,
    .forward = dense_forward,
    .backward = dense_backward,
};

CU_LAYER_DESC(dense, "fully connected layer [N, in] -> [N, units] on CUDA (cuBLASLt, bias and "
                     "relu fused), weight [units, in], optional activation", dense_params);
