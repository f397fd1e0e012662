/* conv1d.c: the 1-D convolution layer [N, C, L] -> [N, filters, L'] for audio and other 1-D signals, weight [filters, C/groups, k]
 * as PyTorch's Conv1d. The work is done by libnn_dnnl's shared convolution (oneDNN
 * primitives built once in bind, bias and activation fused); never allocates per step. */
#include <nntrain/layer.h>
#include <nntrain/plugin.h>

#include "nn_dnnl.h"

static int conv1d_create(const nn_params *p, void **self, nn_error *err)
{
    return nn_dnnl_conv_create(1, p, self, err);
}

static const nn_param_spec conv1d_params[] = {
    {.name = "filters", .type = NN_PARAM_INT, .range = "[1, 1048576]", .required = 1,
     .doc = "number of output channels"},
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .required = 1,
     .doc = "kernel length"},
    {.name = "stride", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",
     .doc = "step between windows: 1 value"},
    {.name = "padding", .type = NN_PARAM_STRING, .def = "0",
     .doc = "zeros added on each side: 1 value, or 'valid' (= 0), or 'same' (output size = "
            "ceil(input / stride); an odd total puts the extra zero at the end, as PyTorch "
            "and TensorFlow)"},
    {.name = "dilation", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",
     .doc = "spacing between kernel taps: 1 value"},
    {.name = "groups", .type = NN_PARAM_INT, .def = "1", .range = "[1, 1048576]",
     .doc = "channel groups; must divide both the input channels and 'filters'"},
    {.name = "bias", .type = NN_PARAM_BOOL, .def = "true", .doc = "add a learned bias per filter"},
    {.name = "bias_init", .type = NN_PARAM_ENUM, .def = "fan_in", .choices = "fan_in|zeros",
     .doc = "bias initialisation: fan_in = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch, or "
            "zeros"},
    {.name = "activation", .type = NN_PARAM_ENUM, .def = "none", .choices = NN_DNNL_ACT_CHOICES,
     .doc = NN_DNNL_ACT_DOC},
    {.name = "weight_init", .type = NN_PARAM_ENUM, .def = "torch",
     .choices = NN_DNNL_WEIGHT_INIT_CHOICES, .doc = NN_DNNL_WEIGHT_INIT_DOC},
    {.name = NULL},
};

static const nn_layer_vtable conv1d_vtable = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = conv1d_create,
    .destroy = nn_dnnl_conv_destroy,
    .setup = nn_dnnl_conv_setup,
    .bind = nn_dnnl_conv_bind,
    .forward = nn_dnnl_conv_forward,
    .backward = nn_dnnl_conv_backward,
};

static const nn_plugin_desc conv1d_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "conv1d", .version = "1.0.0", .license = "MIT",
    .summary = "1-D convolution [N, C, L] -> [N, filters, L'] (oneDNN), optional fused activation",
    .caps = NN_CAP_BACKWARD, .params = conv1d_params, .vtable = &conv1d_vtable);

NN_PLUGIN_EXPORT(&conv1d_desc);
