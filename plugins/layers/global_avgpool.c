/* global_avgpool.c: the mean over the spatial dims, [N, C, H, W] -> [N, C], as PyTorch's
 * AdaptiveAvgPool2d(1) followed by flatten. The work is done by libnn_dnnl's shared pooling;
 * never allocates per step. */
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"
#include "nn_dnnl_export.h"

static int global_avgpool_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_dnnl_pool_create(NN_POOL_GLOBAL_AVG, p, self, err);
}

static int global_avgpool_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    return nn_dnnl_pool_export(NN_POOL_GLOBAL_AVG, x, err);
}

static const nn_layer_vtable global_avgpool_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = global_avgpool_create,
    .destroy = nn_dnnl_pool_destroy,
    .setup = nn_dnnl_pool_setup,
    .bind = nn_dnnl_pool_bind,
    .forward = nn_dnnl_pool_forward,
    .backward = nn_dnnl_pool_backward,
    .export_as = global_avgpool_export, /* optional: ONNX */
};

static const nn_plugin_desc global_avgpool_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "global_avgpool", .version = "1.0.0", .license = "MIT",
    .summary = "mean over height and width, [N, C, H, W] -> [N, C] (oneDNN pooling); no keys",
    .caps = NN_CAP_BACKWARD, .params = NULL, .vtable = &global_avgpool_vtable);

NN_PLUGIN_EXPORT(&global_avgpool_desc);
