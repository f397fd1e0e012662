/* permute.c: the layer plugin "permute", PyTorch's x.permute(order) for any order that keeps
 * the batch axis first ([N, T, C] -> [N, C, T], say). Any dtype is copied; backward (F32)
 * applies the inverse permutation to the gradient. Plain C strided copies that never
 * allocate. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct permute {
    int nd;
    int order[NN_MAX_DIMS];
    int inverse[NN_MAX_DIMS];
} permute;

static int permute_create(const nn_params *params, void **self, nn_error *err)
{
    int n = 0;
    const int64_t *v = nn_params_ints(params, "order", &n);
    if (n < 2 || n > NN_MAX_DIMS)
        return nn_error_set(err, NN_EINVAL,
                            "%s: key 'order' has %d entries; give one per input axis, batch "
                            "axis 0 first (2 to %d)",
                            nn_params_origin(params), n, NN_MAX_DIMS);
    int seen[NN_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] >= n || seen[v[i]]++)
            return nn_error_set(err, NN_EINVAL,
                                "%s: key 'order' (%d entries) is not a permutation of 0..%d: "
                                "entry %d is %lld",
                                nn_params_origin(params), n, n - 1, i, (long long)v[i]);
    }
    if (v[0] != 0)
        return nn_error_set(err, NN_EINVAL,
                            "%s: key 'order' must keep the batch axis first (order[0] = 0), got "
                            "%lld: a layer cannot move samples across the batch",
                            nn_params_origin(params), (long long)v[0]);
    permute *p = calloc(1, sizeof *p);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "permute: out of memory");
    p->nd = n;
    for (int i = 0; i < n; i++) {
        p->order[i] = (int)v[i];
        p->inverse[v[i]] = i;
    }
    *self = p;
    return NN_OK;
}

static void permute_destroy(void *self)
{
    free(self);
}

static int permute_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    const permute *p = self;
    char shape[128];
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (permute): takes 1 input, got %d",
                            s->layer_name, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int dt = nn_tensor_dtype(x);
    if (dt < 0 || x->dl.ndim != p->nd)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s' (permute): 'order' has %d axes but the input is %s",
                            s->layer_name, p->nd, nn_shape_str(x, shape, sizeof shape));
    int64_t out[NN_MAX_DIMS];
    for (int i = 0; i < p->nd; i++)
        out[i] = x->shape[p->order[i]];
    nn_tensor_describe(&s->output, (nn_dtype)dt, p->nd, out);
    s->flops = 0;
    return NN_OK;
}

/* dst (contiguous, shape oshape) [i...] = src[sum i_k * sstr[k]]: sstr are the source
 * strides seen from each destination axis */
static void gather(char *dst, const char *src, int nd, const int64_t *oshape,
                   const int64_t *sstr, size_t es)
{
    int64_t idx[NN_MAX_DIMS] = {0};
    int64_t inner = oshape[nd - 1], is = sstr[nd - 1], total = nn_shape_numel(nd, oshape);
    int64_t off = 0;
    for (int64_t o = 0; o < total; o += inner) {
        if (es == 4) {
            uint32_t *d = (uint32_t *)dst + o;
            const uint32_t *sp = (const uint32_t *)src + off;
            for (int64_t j = 0; j < inner; j++)
                d[j] = sp[j * is];
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + (size_t)(o + j) * es, src + (size_t)(off + j * is) * es, es);
        }
        for (int ax = nd - 2; ax >= 0; ax--) {
            off += sstr[ax];
            if (++idx[ax] < oshape[ax])
                break;
            off -= sstr[ax] * oshape[ax];
            idx[ax] = 0;
        }
    }
}

static int permute_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    const permute *p = self;
    const nn_tensor *x = io->inputs[0];
    int64_t sstr[NN_MAX_DIMS] = {0};
    for (int i = 0; i < p->nd; i++)
        sstr[i] = x->strides[p->order[i]];
    gather((char *)io->output->dl.data + io->output->dl.byte_offset,
           (const char *)x->dl.data + x->dl.byte_offset, p->nd, io->output->shape, sstr,
           nn_tensor_nbytes(x) / (size_t)(nn_tensor_numel(x) ? nn_tensor_numel(x) : 1));
    return NN_OK;
}

static int permute_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    const permute *p = self;
    nn_tensor *dx = io->grad_inputs[0];
    if (!dx)
        return NN_OK;
    if (nn_tensor_dtype(dx) != NN_F32 || nn_tensor_dtype(io->grad_output) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "permute: gradients must be F32");
    /* dx = dy permuted back: destination axis k of dx reads axis inverse[k] of dy */
    const nn_tensor *dy = io->grad_output;
    int64_t sstr[NN_MAX_DIMS] = {0};
    for (int k = 0; k < p->nd; k++)
        sstr[k] = dy->strides[p->inverse[k]];
    gather((char *)NN_F32P(dx), (const char *)NN_F32P(dy), p->nd, dx->shape, sstr,
           sizeof(float));
    return NN_OK;
}

/* ONNX: Transpose with the same order */
static int permute_export(void *self, const nn_layer_export *x, nn_error *err)
{
    const permute *p = self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    int64_t perm[NN_MAX_DIMS];
    for (int i = 0; i < p->nd; i++)
        perm[i] = p->order[i];
    int node = nn_export_op1(x->out, "Transpose", x->inputs[0], x->output);
    if (node >= 0)
        nn_export_attr_ints(x->out, node, "perm", p->nd, perm);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable permute_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = permute_create,
    .destroy = permute_destroy,
    .setup = permute_setup,
    .forward = permute_forward,
    .backward = permute_backward,
    .export_as = permute_export, /* optional: ONNX */
};

static const nn_param_spec permute_params[] = {
    {.name = "order", .type = NN_PARAM_INT_LIST, .required = 1, .range = "[0, 7]",
     .doc = "the input axis each output axis takes, batch axis 0 included and first, as "
            "PyTorch's x.permute(order): 0, 2, 1 turns [N, T, C] into [N, C, T]"},
    {.name = NULL},
};

/* the cases `nntrain plugins test permute` checks: its schema alone gives it none (order is
 * required and depends on the input's rank) */
static const nn_test_case permute_cases[] = {
    {.params = "order=0,3,1,2", .inputs = "2x3x4x2"},
    {.params = "order=0,2,1", .inputs = "2x5x3"},
};

static const nn_test_spec permute_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof permute_cases / sizeof *permute_cases),
    .cases = permute_cases,
};

static const nn_plugin_desc permute_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "permute", .version = "1.0.0", .license = "MIT",
    .summary = "reorders the axes of a tensor (PyTorch's permute), the batch axis staying first",
    .caps = NN_CAP_BACKWARD, .params = permute_params, .vtable = &permute_vtable,
    .test = &permute_test);

NN_PLUGIN_EXPORT(&permute_desc);
