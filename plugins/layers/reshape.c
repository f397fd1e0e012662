/* reshape.c: the layer plugin "reshape", [N, ...] -> [N, shape...] with the same number of
 * elements per sample; the batch dimension is never part of `shape`, and one entry may be -1
 * (inferred). The data is contiguous, so both passes are plain copies that never allocate. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

#include "nn_view.h"

typedef struct reshape {
    int n;
    int64_t shape[NN_MAX_DIMS - 1];
} reshape;

static int reshape_create(const nn_params *params, void **self, nn_error *err)
{
    int n = 0, infer = 0;
    const int64_t *v = nn_params_ints(params, "shape", &n);
    if (n < 1 || n > NN_MAX_DIMS - 1)
        return nn_error_set(err, NN_EINVAL,
                            "key 'shape' has %d entries; give 1 to %d (the batch dimension is "
                            "not part of it)",
                            n, NN_MAX_DIMS - 1);
    for (int i = 0; i < n; i++) {
        if (v[i] == 0)
            return nn_error_set(err, NN_EINVAL, "key 'shape': entry %d is 0; extents are >= 1 "
                                                "or -1 (inferred)", i);
        if (v[i] == -1 && infer++)
            return nn_error_set(err, NN_EINVAL, "key 'shape': more than one entry is -1; at "
                                                "most one extent can be inferred");
    }
    reshape *r = calloc(1, sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "reshape: out of memory");
    r->n = n;
    memcpy(r->shape, v, sizeof(int64_t) * (size_t)n);
    *self = r;
    return NN_OK;
}

static void reshape_destroy(void *self)
{
    free(self);
}

static int reshape_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    const reshape *r = self;
    char shape[128], want[128];
    nn_dtype dt;
    int rc = nn_view_input(s, "reshape", &dt, err);
    if (rc)
        return rc;
    const nn_tensor *x = s->inputs[0];
    int64_t per = nn_shape_numel(x->dl.ndim - 1, x->shape + 1), known = 1, out[NN_MAX_DIMS];
    int infer = -1;
    out[0] = x->shape[0];
    size_t w = (size_t)snprintf(want, sizeof want, "[N");
    for (int i = 0; i < r->n; i++) {
        out[i + 1] = r->shape[i];
        if (r->shape[i] < 0)
            infer = i + 1;
        else
            known *= r->shape[i];
        if (w < sizeof want)
            w += (size_t)snprintf(want + w, sizeof want - w, ", %lld", (long long)r->shape[i]);
    }
    if (w < sizeof want)
        snprintf(want + w, sizeof want - w, "]");
    if (infer > 0 && known > 0 && per % known == 0)
        out[infer] = per / known;
    else if (infer > 0 || known != per)
        return nn_error_set(err, NN_ESHAPE,
                            "layer '%s' (reshape): input %s has %lld elements per sample, which "
                            "key 'shape' %s cannot hold",
                            s->layer_name, nn_shape_str(x, shape, sizeof shape), (long long)per,
                            want);
    nn_tensor_describe(&s->output, dt, r->n + 1, out);
    s->flops = 0;
    return NN_OK;
}

/* ONNX: Reshape to the extents setup() resolved, the batch kept dynamic */
static int reshape_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    const nn_tensor *o = x->output_desc;
    nn_export_reshape(x->out, x->inputs[0], o->dl.ndim - 1, o->shape + 1, x->output);
    return nn_export_status(x->out, err);
}

static const nn_layer_vtable reshape_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = reshape_create,
    .destroy = reshape_destroy,
    .setup = reshape_setup,
    .forward = nn_view_forward,
    .backward = nn_view_backward,
    .export_as = reshape_export, /* optional: ONNX */
};

static const nn_param_spec reshape_params[] = {
    {.name = "shape", .type = NN_PARAM_INT_LIST, .range = "[-1, inf)", .required = 1,
     .doc = "extents of one sample after the reshape, without the batch dimension, e.g. "
            "\"4, 7, 7\"; one entry may be -1 to infer it"},
    {.name = NULL},
};

static const nn_plugin_desc reshape_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "reshape", .version = "1.0.0", .license = "MIT",
    .summary = "Reshapes each sample to `shape` (batch dimension kept; one -1 is inferred)",
    .caps = NN_CAP_BACKWARD, .params = reshape_params, .vtable = &reshape_vtable);

NN_PLUGIN_EXPORT(&reshape_desc);
