/* avgpool2d.c: 2-D average pooling [N, C, H, W] -> [N, C, H', W'] as PyTorch's AvgPool2d
 * (floor mode). The work is done by libnn_dnnl's shared pooling; never allocates per step. */
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"
#include "nn_dnnl_export.h"

static int avgpool2d_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_dnnl_pool_create(NN_POOL_AVG, p, self, err);
}

static const nn_param_spec avgpool2d_params[] = {NN_STOCK_AVGPOOL2D_PARAMS, {.name = NULL}};

static int avgpool2d_export(void *self, const nn_layer_export *x, nn_error *err)
{
    (void)self;
    return nn_dnnl_pool_export(NN_POOL_AVG, x, err);
}

static const nn_layer_vtable avgpool2d_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = avgpool2d_create,
    .destroy = nn_dnnl_pool_destroy,
    .setup = nn_dnnl_pool_setup,
    .bind = nn_dnnl_pool_bind,
    .forward = nn_dnnl_pool_forward,
    .backward = nn_dnnl_pool_backward,
    .export_as = avgpool2d_export, /* optional: ONNX */
};

static const nn_plugin_desc avgpool2d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "avgpool2d", .version = "1.0.0", .license = "MIT",
    .summary = "2-D average pooling [N, C, H, W] -> [N, C, H', W'] (oneDNN, floor mode)",
    .caps = NN_CAP_BACKWARD, .params = avgpool2d_params, .vtable = &avgpool2d_vtable);

NN_PLUGIN_EXPORT(&avgpool2d_desc);
