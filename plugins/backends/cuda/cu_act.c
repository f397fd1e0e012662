/* cu_act.c: the activation layers of the CUDA pack (relu, leaky_relu, elu, gelu, sigmoid,
 * tanh) and softmax, with the CPU plugins' keys, shapes and formulas: backward reads the input
 * where the CPU plugin does (relu, leaky_relu, gelu) and the output where it does (sigmoid,
 * tanh; elu reads both). One kernel launch per pass; never allocates. */
#include <stdlib.h>

#include "cu_pack.h"

typedef struct cu_elt {
    int act;      /* K_ACT_* */
    float alpha;  /* leaky_relu's slope, elu's alpha */
    int64_t axis; /* softmax: as given */
    int64_t outer, len, inner;
    const char *name;
} cu_elt;

static int elt_new(void **self, int act, float alpha, nn_error *err)
{
    cu_elt *e = calloc(1, sizeof *e);
    if (!e)
        return nn_error_set(err, NN_ENOMEM, "cuda: out of memory");
    e->act = act;
    e->alpha = alpha;
    *self = e;
    return NN_OK;
}

static int relu_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    return elt_new(self, K_ACT_RELU, 0, err);
}

static int leaky_relu_create(const nn_params *p, void **self, nn_error *err)
{
    return elt_new(self, K_ACT_LEAKY, (float)nn_params_float(p, "negative_slope"), err);
}

static int elu_create(const nn_params *p, void **self, nn_error *err)
{
    return elt_new(self, K_ACT_ELU, (float)nn_params_float(p, "alpha"), err);
}

static int gelu_create(const nn_params *p, void **self, nn_error *err)
{
    return elt_new(self, nn_params_enum(p, "approximate") == 1 ? K_ACT_GELU_TANH : K_ACT_GELU,
                   0, err);
}

static int sigmoid_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    return elt_new(self, K_ACT_SIGMOID, 0, err);
}

static int tanh_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    return elt_new(self, K_ACT_TANH, 0, err);
}

static int softmax_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = elt_new(self, K_ACT_NONE, 0, err);
    if (rc == NN_OK)
        ((cu_elt *)*self)->axis = nn_params_int(p, "axis");
    return rc;
}

static void elt_destroy(void *self)
{
    free(self);
}

static const char *act_kind(int act)
{
    static const char *const k[] = {"softmax", "relu", "tanh", "sigmoid", "gelu", "gelu",
                                    "leaky_relu", "elu"};
    return act >= 0 && act <= K_ACT_ELU ? k[act] : "activation";
}

/* the CPU plugins' FLOPs per element, for summaries */
static uint64_t act_flops(int act)
{
    switch (act) {
    case K_ACT_RELU: return 1;
    case K_ACT_LEAKY: return 2;
    case K_ACT_GELU:
    case K_ACT_GELU_TANH: return 10;
    case K_ACT_TANH: return 6;
    default: return 4;
    }
}

static int elt_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_elt *e = self;
    int rc = cu_one_input(s, act_kind(e->act), NN_F32, &e->name, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    nn_tensor_describe(&s->output, NN_F32, x->dl.ndim, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * act_flops(e->act);
    return NN_OK;
}

static int elt_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_elt *e = self;
    cu_dev *d = cu_dev_of(io->device, 1, e->name, err);
    if (!d)
        return NN_EINVAL;
    k_act a = {.act = e->act, .alpha = e->alpha, .n = nn_tensor_numel(io->output)};
    CU_TENSOR(a.x, d, io->inputs[0], NN_F32, e->name, "input", err);
    CU_TENSOR(a.out, d, io->output, NN_F32, e->name, "output", err);
    return cu_act(d, e->name, &a, err);
}

static int elt_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const cu_elt *e = self;
    if (!io->grad_inputs[0])
        return NN_OK;
    cu_dev *d = cu_dev_of(io->device, 1, e->name, err);
    if (!d)
        return NN_EINVAL;
    k_act a = {.act = e->act, .alpha = e->alpha, .backward = 1, .n = nn_tensor_numel(io->output)};
    if (e->act != K_ACT_TANH && e->act != K_ACT_SIGMOID)
        CU_TENSOR(a.x, d, io->inputs[0], NN_F32, e->name, "input", err);
    if (e->act == K_ACT_TANH || e->act == K_ACT_SIGMOID || e->act == K_ACT_ELU)
        CU_TENSOR(a.y, d, io->output, NN_F32, e->name, "output", err);
    CU_TENSOR(a.g, d, io->grad_output, NN_F32, e->name, "output gradient", err);
    CU_TENSOR(a.out, d, io->grad_inputs[0], NN_F32, e->name, "input gradient", err);
    return cu_act(d, e->name, &a, err);
}

/* ---- softmax: along one non-batch axis, as [outer, len, inner] ----------------------------- */

static int softmax_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_elt *e = self;
    char shape[128];
    e->name = cu_name(s->layer_name, "softmax");
    if (!cu_dev_of(s->device, 0, e->name, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (softmax): takes 1 input, got %d",
                            e->name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int nd = x->dl.ndim;
    if (nn_tensor_dtype(x) != NN_F32 || nd < 2)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (softmax): input %s must be F32 with at "
                            "least 2 dimensions (batch first)", e->name,
                            nn_shape_str(x, shape, sizeof shape));
    int64_t axis = e->axis < 0 ? e->axis + nd : e->axis;
    if (axis < 1 || axis >= nd)
        return nn_error_set(err, NN_ESHAPE, "layer '%s' (softmax): key 'axis' = %lld does not "
                            "name a non-batch axis of input %s (valid: 1..%d or -1..-%d)",
                            e->name, (long long)e->axis, nn_shape_str(x, shape, sizeof shape),
                            nd - 1, nd - 1);
    e->outer = nn_shape_numel((int)axis, x->shape);
    e->len = x->shape[axis];
    e->inner = nn_shape_numel(nd - (int)axis - 1, x->shape + axis + 1);
    nn_tensor_describe(&s->output, NN_F32, nd, x->shape);
    s->flops = (uint64_t)nn_tensor_numel(x) * 5;
    return NN_OK;
}

static int softmax_pass(const cu_elt *e, const nn_layer_io *io, int backward, nn_error *err)
{
    cu_dev *d = cu_dev_of(io->device, 1, e->name, err);
    if (!d)
        return NN_EINVAL;
    k_softmax a = {.outer = e->outer, .len = e->len, .inner = e->inner, .backward = backward};
    if (backward) {
        CU_TENSOR(a.y, d, io->output, NN_F32, e->name, "output", err);
        CU_TENSOR(a.g, d, io->grad_output, NN_F32, e->name, "output gradient", err);
        CU_TENSOR(a.out, d, io->grad_inputs[0], NN_F32, e->name, "input gradient", err);
    } else {
        CU_TENSOR(a.x, d, io->inputs[0], NN_F32, e->name, "input", err);
        CU_TENSOR(a.out, d, io->output, NN_F32, e->name, "output", err);
    }
    return cu_launch_n(d, e->name, k_eltwise_fn(K_ELT_SOFTMAX), e->outer * e->inner, &a,
                       sizeof a, err);
}

static int softmax_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    return softmax_pass(self, io, 0, err);
}

static int softmax_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    return io->grad_inputs[0] ? softmax_pass(self, io, 1, err) : NN_OK;
}

/* ---- schemas (the CPU plugins' keys, word for word) and descriptors ------------------------ */

static const nn_param_spec no_params[] = {{.name = NULL}};
static const nn_param_spec leaky_relu_params[] = {NN_STOCK_LEAKY_RELU_PARAMS, {.name = NULL}};
static const nn_param_spec elu_params[] = {NN_STOCK_ELU_PARAMS, {.name = NULL}};
static const nn_param_spec gelu_params[] = {NN_STOCK_GELU_PARAMS, {.name = NULL}};
static const nn_param_spec softmax_params[] = {
    {.name = "axis", .type = NN_PARAM_INT, .def = "-1", .range = "[-8, 7]",
     .doc = "axis along which the outputs sum to 1; negative counts from the last (-1); the "
            "batch axis 0 is not allowed"},
    {.name = NULL},
};

#define CU_ELT_VTABLE(kind, setup_fn, fwd, bwd)                                          \
    static const nn_layer_vtable kind##_vtable = {                                       \
        .struct_size = sizeof(nn_layer_vtable),                                          \
        .create = kind##_create,                                                         \
        .destroy = elt_destroy,                                                          \
        .setup = setup_fn,                                                               \
        .forward = fwd,                                                                  \
        .backward = bwd,                                                                 \
    }
CU_ELT_VTABLE(relu, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(leaky_relu, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(elu, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(gelu, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(sigmoid, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(tanh, elt_setup, elt_forward, elt_backward);
CU_ELT_VTABLE(softmax, softmax_setup, softmax_forward, softmax_backward);

CU_LAYER_DESC(relu, "Rectified linear unit on CUDA: y = max(x, 0), elementwise", no_params);
CU_LAYER_DESC(leaky_relu, "Leaky ReLU on CUDA: y = x if x > 0 else negative_slope * x",
              leaky_relu_params);
CU_LAYER_DESC(elu, "Exponential linear unit on CUDA: y = x if x > 0 else alpha * (exp(x) - 1)",
              elu_params);
CU_LAYER_DESC(gelu, "Gaussian error linear unit on CUDA: y = x * Phi(x), exact (erf) or "
                    "tanh-approximated", gelu_params);
CU_LAYER_DESC(sigmoid, "Logistic sigmoid on CUDA: y = 1 / (1 + exp(-x)), elementwise",
              no_params);
CU_LAYER_DESC(tanh, "Hyperbolic tangent on CUDA: y = tanh(x), elementwise", no_params);
CU_LAYER_DESC(softmax, "Softmax on CUDA along one axis (the last by default), numerically "
                       "stable", softmax_params);
