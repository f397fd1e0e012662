/* nn_dnnl_export.c: ONNX nodes for the convolution and pooling layers of libnn_dnnl (see
 * nn_dnnl_export.h). Pads are written as the layer computes its output: the left ones as
 * configured (or as 'same' resolved them), the right ones as far as a window reaches, so
 * ONNX's floor-mode output has the layer's extent and the same values. */
#include "nn_dnnl_export.h"

int nn_dnnl_conv_export(void *self, const nn_layer_export *x, nn_error *err)
{
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_dnnl_conv_cfg c;
    nn_dnnl_conv_geometry(self, &c);
    nn_export *g = x->out;
    int sp = c.sp;
    int64_t pads[4];
    for (int i = 0; i < sp; i++) {
        pads[i] = c.pad_l[i];
        pads[sp + i] = c.pad_r[i];
    }
    const char *in[3] = {x->inputs[0], nn_export_const(g, "weight", x->params[0]),
                         c.bias ? nn_export_const(g, "bias", x->params[1]) : ""};
    const char *z = c.act == NN_ACT_NONE ? x->output : nn_export_value(g, "conv");
    int node = nn_export_node(g, "Conv", c.bias ? 3 : 2, in, 1, &z);
    if (node >= 0) {
        nn_export_attr_ints(g, node, "kernel_shape", sp, c.kernel);
        nn_export_attr_ints(g, node, "strides", sp, c.stride);
        nn_export_attr_ints(g, node, "dilations", sp, c.dilation);
        nn_export_attr_ints(g, node, "pads", 2 * sp, pads);
        nn_export_attr_int(g, node, "group", c.groups);
    }
    if (c.act != NN_ACT_NONE)
        nn_export_activation(g, nn_params_str(x->keys, "activation"), 0, NULL, z, x->output);
    return nn_export_status(g, err);
}

int nn_dnnl_pool_export(int mode, const nn_layer_export *x, nn_error *err)
{
    if (x->format != NN_EXPORT_ONNX)
        return NN_OK;
    nn_export *g = x->out;
    if (mode == NN_POOL_GLOBAL_AVG) {
        const char *pooled = nn_export_value(g, "pooled");
        nn_export_op1(g, "GlobalAveragePool", x->inputs[0], pooled);
        int node = nn_export_op1(g, "Flatten", pooled, x->output); /* [N, C, 1, 1] -> [N, C] */
        if (node >= 0)
            nn_export_attr_int(g, node, "axis", 1);
        return nn_export_status(g, err);
    }
    const char *kind = mode == NN_POOL_MAX ? "maxpool2d" : "avgpool2d";
    int64_t k[2], st[2], pad[2], pads[4];
    int rc;
    if ((rc = nn_stock_int_list(x->keys, "kernel", 2, k, kind, err)) ||
        (rc = nn_stock_int_list(x->keys, "padding", 2, pad, kind, err)))
        return rc;
    if (nn_params_has(x->keys, "stride")) {
        if ((rc = nn_stock_int_list(x->keys, "stride", 2, st, kind, err)))
            return rc;
    } else {
        st[0] = k[0];
        st[1] = k[1];
    }
    for (int i = 0; i < 2; i++) {
        int64_t in = x->input_descs[0]->shape[2 + i], out = x->output_desc->shape[2 + i];
        int64_t used = (out - 1) * st[i] + k[i] - in - pad[i];
        pads[i] = pad[i];
        pads[2 + i] = used > 0 ? used : 0;
    }
    int node = nn_export_op1(g, mode == NN_POOL_MAX ? "MaxPool" : "AveragePool", x->inputs[0],
                             x->output);
    if (node >= 0) {
        nn_export_attr_ints(g, node, "kernel_shape", 2, k);
        nn_export_attr_ints(g, node, "strides", 2, st);
        nn_export_attr_ints(g, node, "pads", 4, pads);
        if (mode == NN_POOL_AVG)
            nn_export_attr_int(g, node, "count_include_pad",
                               nn_params_bool(x->keys, "count_include_pad"));
    }
    return nn_export_status(g, err);
}
