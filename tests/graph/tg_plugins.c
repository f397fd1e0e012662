/* tg_plugins.c: tiny plain-C layers that let the graph tests run without the stock plugins:
 * tg_linear (y = x W^T + b), tg_relu, tg_add (sum of inputs), tg_nan (emits NaN when asked),
 * tg_many (y = x * prod of `count` scalar parameters: more than NN_MAX_LAYER_PARAMS, ABI 0.5),
 * tg_offer and tg_take (a ReLU offering its output in a layout of a pretend family, and the
 * identity taking it and applying the ReLU's derivative to its input gradient: ABI 0.8).
 * Deliberately naive: the graph, not these, is under test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

typedef struct lin {
    int64_t units;
} lin;

static int lin_create(const nn_params *p, void **self, nn_error *err)
{
    lin *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "oom");
    l->units = nn_params_int(p, "units");
    *self = l;
    return NN_OK;
}

static void generic_destroy(void *self) { free(self); }

static int lin_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    lin *l = self;
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE, "expected [N, features]");
    int64_t in = x->shape[1];
    int64_t out_shape[2] = {x->shape[0], l->units}, w[2] = {l->units, in}, b[1] = {l->units};
    nn_tensor_describe(&s->output, NN_F32, 2, out_shape);
    nn_layer_add_param(s, "weight", 2, w, NN_INIT_FAN_IN_UNIFORM, in, l->units, 0);
    nn_layer_add_param(s, "bias", 1, b, NN_INIT_FAN_IN_UNIFORM, in, l->units, NN_TENSOR_BIAS);
    s->flops = (uint64_t)(2 * x->shape[0] * in * l->units);
    return NN_OK;
}

static int lin_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const nn_tensor *x = io->inputs[0];
    int64_t n = x->shape[0], in = x->shape[1], out = io->output->shape[1];
    const float *X = NN_F32P(x), *W = NN_F32P(io->params[0]), *B = NN_F32P(io->params[1]);
    float *Y = NN_F32P(io->output);
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double acc = B[o];
            for (int64_t i = 0; i < in; i++)
                acc += (double)X[r * in + i] * W[o * in + i];
            Y[r * out + o] = (float)acc;
        }
    return NN_OK;
}

static int lin_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const nn_tensor *x = io->inputs[0];
    int64_t n = x->shape[0], in = x->shape[1], out = io->output->shape[1];
    const float *X = NN_F32P(x), *W = NN_F32P(io->params[0]), *G = NN_F32P(io->grad_output);
    float *dW = NN_F32P(io->param_grads[0]), *dB = NN_F32P(io->param_grads[1]);
    for (int64_t o = 0; o < out; o++) {
        double gb = 0;
        for (int64_t r = 0; r < n; r++)
            gb += G[r * out + o];
        dB[o] = (float)gb;
        for (int64_t i = 0; i < in; i++) {
            double g = 0;
            for (int64_t r = 0; r < n; r++)
                g += (double)G[r * out + o] * X[r * in + i];
            dW[o * in + i] = (float)g;
        }
    }
    if (io->grad_inputs[0]) {
        float *dX = NN_F32P(io->grad_inputs[0]);
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < in; i++) {
                double g = 0;
                for (int64_t o = 0; o < out; o++)
                    g += (double)G[r * out + o] * W[o * in + i];
                dX[r * in + i] = (float)g;
            }
    }
    return NN_OK;
}

static const nn_param_spec lin_params[] = {
    {.name = "units", .type = NN_PARAM_INT, .required = 1, .range = "[1, 65536]",
     .doc = "output features"},
    {0},
};
static const nn_layer_vtable lin_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = lin_create,
    .destroy = generic_destroy,
    .setup = lin_setup,
    .forward = lin_forward,
    .backward = lin_backward,
};
static const nn_plugin_desc lin_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_linear", .version = "1.0",
    .license = "MIT", .summary = "naive linear layer for graph tests", .params = lin_params,
    .vtable = &lin_vt);

static int nop_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = malloc(1);
    return *self ? NN_OK : NN_ENOMEM;
}

static int same_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    char a[64], b[64];
    for (int k = 1; k < s->n_inputs; k++)
        if (!nn_shape_equal(s->inputs[0], s->inputs[k]))
            return nn_error_set(err, NN_ESHAPE, "input shapes differ: %s vs %s",
                                nn_shape_str(s->inputs[0], a, sizeof a),
                                nn_shape_str(s->inputs[k], b, sizeof b));
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    return NN_OK;
}

static int relu_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    const float *x = NN_F32P(io->inputs[0]);
    float *y = NN_F32P(io->output);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
    return NN_OK;
}

static int relu_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    if (!io->grad_inputs[0])
        return NN_OK;
    const float *x = NN_F32P(io->inputs[0]), *g = NN_F32P(io->grad_output);
    float *d = NN_F32P(io->grad_inputs[0]);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        d[i] = x[i] > 0 ? g[i] : 0;
    return NN_OK;
}

static const nn_layer_vtable relu_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = nop_create,
    .destroy = generic_destroy,
    .setup = same_setup,
    .forward = relu_forward,
    .backward = relu_backward,
};
static const nn_plugin_desc relu_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_relu", .version = "1.0",
    .license = "MIT", .summary = "naive relu for graph tests", .vtable = &relu_vt);

static int add_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    float *y = NN_F32P(io->output);
    int64_t n = nn_tensor_numel(io->output);
    memset(y, 0, (size_t)n * sizeof *y);
    for (int k = 0; k < io->n_inputs; k++) {
        const float *x = NN_F32P(io->inputs[k]);
        for (int64_t i = 0; i < n; i++)
            y[i] += x[i];
    }
    return NN_OK;
}

static int add_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    int64_t n = nn_tensor_numel(io->output);
    for (int k = 0; k < io->n_inputs; k++)
        if (io->grad_inputs[k])
            memcpy(NN_F32P(io->grad_inputs[k]), NN_F32P(io->grad_output),
                   (size_t)n * sizeof(float));
    return NN_OK;
}

static const nn_layer_vtable add_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = nop_create,
    .destroy = generic_destroy,
    .setup = same_setup,
    .forward = add_forward,
    .backward = add_backward,
};
static const nn_plugin_desc add_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_add", .version = "1.0",
    .license = "MIT", .summary = "sum of inputs for graph tests", .vtable = &add_vt);

/* tg_nan: the identity, except that it writes NaN into element 0 when `poison` is set */
static int nan_create(const nn_params *p, void **self, nn_error *err)
{
    (void)err;
    int *v = malloc(sizeof *v);
    if (!v)
        return NN_ENOMEM;
    *v = nn_params_bool(p, "poison");
    *self = v;
    return NN_OK;
}

/* y = x, and its backward: dx = dy */
static int identity_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    memcpy(NN_F32P(io->output), NN_F32P(io->inputs[0]),
           (size_t)nn_tensor_numel(io->output) * sizeof(float));
    return NN_OK;
}

static int identity_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    if (io->grad_inputs[0])
        memcpy(NN_F32P(io->grad_inputs[0]), NN_F32P(io->grad_output),
               (size_t)nn_tensor_numel(io->output) * sizeof(float));
    return NN_OK;
}

static int nan_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    identity_forward(self, io, err);
    if (*(int *)self)
        NN_F32P(io->output)[0] = NAN;
    return NN_OK;
}

static const nn_param_spec nan_params[] = {
    {.name = "poison", .type = NN_PARAM_BOOL, .def = "false", .doc = "emit a NaN"},
    {0},
};
static const nn_layer_vtable nan_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = nan_create,
    .destroy = generic_destroy,
    .setup = same_setup,
    .forward = nan_forward,
    .backward = identity_backward,
};
static const nn_plugin_desc nan_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_nan", .version = "1.0",
    .license = "MIT", .summary = "identity that can emit NaN, for diagnosis tests",
    .params = nan_params, .vtable = &nan_vt);

/* tg_many: y = x * p_0 * p_1 * ... * p_{count-1}, each p_k a learned scalar named "p<k>" */
static int many_create(const nn_params *p, void **self, nn_error *err)
{
    (void)err;
    int *v = malloc(sizeof *v);
    if (!v)
        return NN_ENOMEM;
    *v = (int)nn_params_int(p, "count");
    *self = v;
    return NN_OK;
}

static int many_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    int count = *(int *)self;
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    for (int k = 0; k < count; k++) {
        char name[16];
        int64_t one = 1;
        snprintf(name, sizeof name, "p%d", k);
        if (nn_layer_add_param(s, name, 1, &one, NN_INIT_UNIFORM, 1, 1, 0) != k)
            return nn_error_set(err, NN_EINVAL, "could not declare parameter %d", k);
        nn_layer_param_decl(s, k)->init_arg = 1.0;
    }
    return NN_OK;
}

static double many_prod(int count, const nn_layer_io *io, int skip)
{
    double p = 1;
    for (int k = 0; k < count; k++)
        if (k != skip)
            p *= NN_F32P(nn_layer_param(io, k))[0];
    return p;
}

static int many_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    double p = many_prod(*(int *)self, io, -1);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        NN_F32P(io->output)[i] = (float)(NN_F32P(io->inputs[0])[i] * p);
    return NN_OK;
}

static int many_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    int count = *(int *)self;
    int64_t n = nn_tensor_numel(io->output);
    const float *x = NN_F32P(io->inputs[0]), *g = NN_F32P(io->grad_output);
    double gx = 0;
    for (int64_t i = 0; i < n; i++)
        gx += (double)g[i] * x[i];
    for (int k = 0; k < count; k++)
        NN_F32P(nn_layer_param_grad(io, k))[0] = (float)(gx * many_prod(count, io, k));
    if (io->grad_inputs[0]) {
        double p = many_prod(count, io, -1);
        for (int64_t i = 0; i < n; i++)
            NN_F32P(io->grad_inputs[0])[i] = (float)(g[i] * p);
    }
    return NN_OK;
}

static const nn_param_spec many_params[] = {
    {.name = "count", .type = NN_PARAM_INT, .def = "12", .range = "[1, 64]",
     .doc = "number of scalar parameters"},
    {0},
};
static const nn_layer_vtable many_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = many_create,
    .destroy = generic_destroy,
    .setup = many_setup,
    .forward = many_forward,
    .backward = many_backward,
};
static const nn_plugin_desc many_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_many", .version = "1.0",
    .license = "MIT", .summary = "x times many scalar parameters, for the ABI 0.5 overflow",
    .params = many_params, .vtable = &many_vt);

/* the pretend layout family "tg_plain": the output's bytes stored as plain row-major */
static nn_layout *tg_plain_layout(nn_layout *lo, const nn_tensor *out, uint32_t props)
{
    *lo = (nn_layout){.struct_size = sizeof *lo, .family = "tg_plain",
                      .bytes = (size_t)nn_tensor_numel(out) * sizeof(float),
                      .stored_dtype = NN_F32, .props = props};
    return lo;
}

/* tg_offer: y = max(x, 0) (or x when relu = false), offered in the pretend layout family
 * "tg_plain" (bytes stored as plain row-major), saying NN_LAYOUT_RELU when it is a ReLU.
 * Its backward skips the ReLU's derivative when the core says the consumer applies it. */
typedef struct offer {
    int relu, masked;
    nn_layout lo;
} offer;

static int offer_create(const nn_params *p, void **self, nn_error *err)
{
    offer *o = calloc(1, sizeof *o);
    if (!o)
        return nn_error_set(err, NN_ENOMEM, "oom");
    o->relu = nn_params_bool(p, "relu");
    *self = o;
    return NN_OK;
}

static int offer_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    offer *o = self;
    int rc = same_setup(self, s, err);
    if (rc)
        return rc;
    s->output.layout = tg_plain_layout(&o->lo, &s->output, o->relu ? NN_LAYOUT_RELU : 0);
    o->masked = (int)s->output_grad_masked;
    return NN_OK;
}

static int offer_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    const offer *o = self;
    return o->relu ? relu_forward(self, io, err) : identity_forward(self, io, err);
}

static int offer_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const offer *o = self;
    return o->relu && !o->masked ? relu_backward(self, io, err)
                                 : identity_backward(self, io, err);
}

static const nn_param_spec offer_params[] = {
    {.name = "relu", .type = NN_PARAM_BOOL, .def = "true", .doc = "max(x, 0), else the identity"},
    {0},
};
static const nn_layer_vtable offer_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = offer_create,
    .destroy = generic_destroy,
    .setup = offer_setup,
    .forward = offer_forward,
    .backward = offer_backward,
};
static const nn_plugin_desc offer_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_offer", .version = "1.0",
    .license = "MIT", .summary = "a ReLU offering a pretend layout, for ABI 0.8 tests",
    .params = offer_params, .vtable = &offer_vt);

/* tg_take: y = x; takes a "tg_plain" input when accept = true and, when mask = true, says it
 * applies the ReLU's derivative to its input gradient (whatever was offered: the core must
 * refuse that where the offer is no ReLU's) and does. fickle = true: offers its own output
 * in "tg_plain" too, and takes no input layout when set up again for that offer (which the
 * core must refuse: it acted on the first answer) */
typedef struct take {
    int mask, accept, fickle;
    nn_layout lo;
} take;

static int take_create(const nn_params *p, void **self, nn_error *err)
{
    take *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, "oom");
    t->mask = nn_params_bool(p, "mask");
    t->accept = nn_params_bool(p, "accept");
    t->fickle = nn_params_bool(p, "fickle");
    *self = t;
    return NN_OK;
}

static int take_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    take *t = self;
    const nn_layout *lo = s->inputs[0]->layout;
    int again = t->fickle && s->output_layout_taken;
    if (t->accept && !again && lo && strcmp(lo->family, "tg_plain") == 0)
        s->layout_accept |= 1u;
    if (t->mask && !again)
        s->grad_input_masked |= 1u;
    int rc = same_setup(self, s, err);
    if (rc == NN_OK && t->fickle)
        s->output.layout = tg_plain_layout(&t->lo, &s->output, 0);
    return rc;
}

static int take_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const take *t = self;
    return t->mask ? relu_backward(self, io, err) : identity_backward(self, io, err);
}

static const nn_param_spec take_params[] = {
    {.name = "mask", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "apply the ReLU's derivative to the input gradient"},
    {.name = "accept", .type = NN_PARAM_BOOL, .def = "true", .doc = "take the offered layout"},
    {.name = "fickle", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "offer the output, then take no input layout when that offer is taken"},
    {0},
};
static const nn_layer_vtable take_vt = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = take_create,
    .destroy = generic_destroy,
    .setup = take_setup,
    .forward = identity_forward,
    .backward = take_backward,
};
static const nn_plugin_desc take_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = "tg_take", .version = "1.0",
    .license = "MIT", .summary = "the identity taking a pretend layout, for ABI 0.8 tests",
    .params = take_params, .vtable = &take_vt);

NN_PLUGIN_EXPORT(&lin_desc, &relu_desc, &add_desc, &nan_desc, &many_desc, &offer_desc,
                 &take_desc);
