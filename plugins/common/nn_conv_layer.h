/* nn_conv_layer.h: the schema and vtable that conv1d and conv2d share around libnn_dnnl's
 * convolution (nn_dnnl.h); a plugin names its dimensions' docs and gets NAME_params and
 * NAME_vtable. Header-only, for stock plugins; never reached by the core. */
#ifndef NN_CONV_LAYER_H
#define NN_CONV_LAYER_H

#include <nntrain/layer.h>
#include <nntrain/plugin.h>
#include <nntrain/stock_params.h>

#include "nn_dnnl.h"
#include "nn_dnnl_export.h"

/* SP spatial dimensions; PARAMS: NN_STOCK_CONV1D_PARAMS or NN_STOCK_CONV2D_PARAMS */
#define NN_CONV_LAYER(NAME, SP, PARAMS)                                                       \
    static int NAME##_create(const nn_params *p, void **self, nn_error *err)                 \
    {                                                                                        \
        return nn_dnnl_conv_create(SP, p, self, err);                                        \
    }                                                                                        \
    static const nn_param_spec NAME##_params[] = {PARAMS, {.name = NULL}};                  \
    static const nn_layer_vtable NAME##_vtable = {                                           \
        .struct_size = sizeof(nn_layer_vtable),                                              \
        .create = NAME##_create,                                                             \
        .destroy = nn_dnnl_conv_destroy,                                                     \
        .setup = nn_dnnl_conv_setup,                                                         \
        .bind = nn_dnnl_conv_bind,                                                           \
        .forward = nn_dnnl_conv_forward,                                                     \
        .backward = nn_dnnl_conv_backward,                                                   \
        .export_as = nn_dnnl_conv_export, /* optional: ONNX */                               \
    }

#endif
