/* nntest_badsplit.c: a layer y = x W[0:units]^T on [N, in] -> [N, units] that declares
 * NN_CAP_SPLIT_UNITS but breaks its promise: its weight has 32 rows whatever `units` says, so a
 * copy made with fewer units declares the same weight, not its rows of it. [train] replicas
 * must notice: replica_split = auto keeps the rows' split, units refuses. Test code only. */
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

#define ROWS 32

typedef struct bs {
    int64_t units;
} bs;

static int bs_create(const nn_params *p, void **self, nn_error *err)
{
    bs *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->units = nn_params_int(p, "units");
    *self = s;
    return NN_OK;
}

static void bs_destroy(void *self) { free(self); }

static int bs_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    bs *b = self;
    const nn_tensor *x = s->inputs[0];
    if (s->n_inputs != 1 || x->dl.ndim != 2 || nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "takes one F32 input [N, in]");
    int64_t out[2] = {x->shape[0], b->units}, w[2] = {ROWS, x->shape[1]};
    nn_tensor_describe(&s->output, NN_F32, 2, out);
    return nn_layer_add_param(s, "weight", 2, w, NN_INIT_FAN_IN_UNIFORM, x->shape[1], ROWS, 0) < 0
               ? nn_error_set(err, NN_EINTERNAL, "cannot declare weight")
               : NN_OK;
}

static int bs_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const bs *b = self;
    const nn_tensor *x = io->inputs[0];
    int64_t n = x->shape[0], in = x->shape[1];
    const float *X = NN_F32P(x), *W = NN_F32P(io->params[0]);
    float *Y = NN_F32P(io->output);
    for (int64_t i = 0; i < n; i++)
        for (int64_t u = 0; u < b->units; u++) {
            double acc = 0;
            for (int64_t k = 0; k < in; k++)
                acc += (double)X[i * in + k] * W[u * in + k];
            Y[i * b->units + u] = (float)acc;
        }
    return NN_OK;
}

static int bs_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const bs *b = self;
    const nn_tensor *x = io->inputs[0];
    int64_t n = x->shape[0], in = x->shape[1];
    const float *X = NN_F32P(x), *W = NN_F32P(io->params[0]), *G = NN_F32P(io->grad_output);
    float *GW = NN_F32P(io->param_grads[0]);
    memset(GW, 0, nn_tensor_nbytes(io->param_grads[0]));
    for (int64_t u = 0; u < b->units; u++)
        for (int64_t k = 0; k < in; k++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++)
                acc += (double)G[i * b->units + u] * X[i * in + k];
            GW[u * in + k] = (float)acc;
        }
    if (io->grad_inputs[0]) {
        float *GX = NN_F32P(io->grad_inputs[0]);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < in; k++) {
                double acc = 0;
                for (int64_t u = 0; u < b->units; u++)
                    acc += (double)G[i * b->units + u] * W[u * in + k];
                GX[i * in + k] = (float)acc;
            }
    }
    return NN_OK;
}

static const nn_param_spec bs_params[] = {
    {.name = "units", .type = NN_PARAM_INT, .required = 1, .range = "[1, 32]",
     .doc = "outputs, the first `units` of the weight's 32 rows"},
    {.name = NULL}};
static const nn_layer_vtable bs_vt = {.struct_size = sizeof(nn_layer_vtable),
                                      .create = bs_create, .destroy = bs_destroy,
                                      .setup = bs_setup, .forward = bs_forward,
                                      .backward = bs_backward};
static const nn_plugin_desc bs_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_badsplit", .version = "1.0.0", .license = "MIT",
    .summary = "test layer that declares NN_CAP_SPLIT_UNITS with a weight that ignores units",
    .caps = NN_CAP_BACKWARD | NN_CAP_SPLIT_UNITS, .params = bs_params, .vtable = &bs_vt);
NN_PLUGIN_EXPORT(&bs_desc);
