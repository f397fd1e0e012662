/* conv1d.c: the 1-D convolution layer [N, C, L] -> [N, filters, L'] for audio and other 1-D
 * signals, weight [filters, C/groups, k] as PyTorch's Conv1d. The work is done by libnn_dnnl's
 * shared convolution (oneDNN primitives built once in bind, bias and activation fused); never
 * allocates per step. */
#include "nn_conv_layer.h"

NN_CONV_LAYER(conv1d, 1, NN_STOCK_CONV1D_PARAMS);

static const nn_test_case conv1d_cases[] = {
    {.params = "filters=4; kernel=3; stride=2; groups=2; padding=1; activation=tanh",
     .inputs = "2x4x9"},
    {.params = "filters=3; kernel=4; dilation=2; padding=same; activation=gelu",
     .inputs = "1x2x11"},
    {.params = "filters=16; kernel=3; bias=false", .inputs = "2x16x6"},
};

static const nn_test_spec conv1d_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof conv1d_cases / sizeof *conv1d_cases),
    .cases = conv1d_cases,
};

static const nn_plugin_desc conv1d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "conv1d", .version = "1.0.0", .license = "MIT",
    .summary = "1-D convolution [N, C, L] -> [N, filters, L'] (oneDNN), optional fused activation",
    .caps = NN_CAP_BACKWARD, .params = conv1d_params, .vtable = &conv1d_vtable,
    .test = &conv1d_test);

NN_PLUGIN_EXPORT(&conv1d_desc);
