/* nn_conv_layer.h: the schema and vtable that conv1d and conv2d share around libnn_dnnl's
 * convolution (nn_dnnl.h); a plugin names its dimensions' docs and gets NAME_params and
 * NAME_vtable. Header-only, for stock plugins; never reached by the core. */
#ifndef NN_CONV_LAYER_H
#define NN_CONV_LAYER_H

#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"
#include "nn_dnnl_export.h"

/* SP spatial dimensions; the *_DOC strings say how many values each list key takes */
#define NN_CONV_LAYER(NAME, SP, KERNEL_DOC, STRIDE_DOC, PADDING_DOC, DILATION_DOC)           \
    static int NAME##_create(const nn_params *p, void **self, nn_error *err)                 \
    {                                                                                        \
        return nn_dnnl_conv_create(SP, p, self, err);                                        \
    }                                                                                        \
    static const nn_param_spec NAME##_params[] = {                                           \
        {.name = "filters", .type = NN_PARAM_INT, .range = "[1, 1048576]", .required = 1,        \
         .doc = "number of output channels"},                                                \
        {.name = "kernel", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .required = 1,    \
         .doc = KERNEL_DOC},                                                                 \
        {.name = "stride", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",       \
         .doc = STRIDE_DOC},                                                                 \
        {.name = "padding", .type = NN_PARAM_STRING, .def = "0",                             \
         .doc = "zeros added on each side: " PADDING_DOC ", or 'valid' (= 0), or 'same' "    \
                "(output size = ceil(input / stride); an odd total puts the extra zero at "  \
                "the end, as PyTorch and TensorFlow)"},                                      \
        {.name = "dilation", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",     \
         .doc = DILATION_DOC},                                                               \
        {.name = "groups", .type = NN_PARAM_INT, .def = "1", .range = "[1, 1048576]",            \
         .doc = "channel groups; must divide both the input channels and 'filters'"},        \
        {.name = "bias", .type = NN_PARAM_BOOL, .def = "true",                               \
         .doc = "add a learned bias per filter"},                                            \
        {.name = "bias_init", .type = NN_PARAM_ENUM, .def = "fan_in",                        \
         .choices = "fan_in|zeros",                                                          \
         .doc = "bias initialisation: fan_in = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as "       \
                "PyTorch, or zeros"},                                                        \
        {.name = "activation", .type = NN_PARAM_ENUM, .def = "none",                         \
         .choices = NN_DNNL_ACT_CHOICES, .doc = NN_DNNL_ACT_DOC},                            \
        {.name = "weight_init", .type = NN_PARAM_ENUM, .def = "torch",                       \
         .choices = NN_DNNL_WEIGHT_INIT_CHOICES, .doc = NN_DNNL_WEIGHT_INIT_DOC},            \
        {.name = NULL},                                                                      \
    };                                                                                       \
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
