/* conv2d.c: the 2-D convolution layer [N, C, H, W] -> [N, filters, H', W'] for images, weight
 * [filters, C/groups, kH, kW] as PyTorch's Conv2d. The work is done by libnn_dnnl's shared
 * convolution (oneDNN primitives built once in bind, bias and activation fused); never
 * allocates per step. Its test cases cover strides, dilation, groups, 'same' padding, fused
 * activations and 16 channels (oneDNN's blocked layouts). */
#include "nn_conv_layer.h"

NN_CONV_LAYER(conv2d, 2, NN_STOCK_CONV2D_PARAMS);

static const nn_test_case conv2d_cases[] = {
    {.params = "filters=4; kernel=3,2; stride=2,2; dilation=1,1; groups=2; padding=1; "
               "activation=tanh", .inputs = "2x4x5x6"},
    {.params = "filters=3; kernel=3,2; stride=1,2; padding=same; activation=gelu",
     .inputs = "1x2x6x5"},
    {.params = "filters=2; kernel=2; dilation=2,1; padding=0,1; activation=sigmoid; bias=false",
     .inputs = "2x3x5x5"},
    {.params = "filters=16; kernel=3; padding=1", .inputs = "1x16x4x4"},
    {.params = "filters=16; kernel=3; stride=2,1; padding=same", .inputs = "2x16x3x5"},
};

static const nn_test_spec conv2d_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof conv2d_cases / sizeof *conv2d_cases),
    .cases = conv2d_cases,
};

static const nn_plugin_desc conv2d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "conv2d", .version = "1.0.0", .license = "MIT",
    .summary = "2-D convolution [N, C, H, W] -> [N, filters, H', W'] (oneDNN), optional fused "
               "activation",
    .caps = NN_CAP_BACKWARD, .params = conv2d_params, .vtable = &conv2d_vtable,
    .test = &conv2d_test);

NN_PLUGIN_EXPORT(&conv2d_desc);
