/* nn_dnnl_export.h: the ONNX export slots of the layers built on libnn_dnnl's shared
 * convolution and pooling (conv1d, conv2d, maxpool2d, avgpool2d, global_avgpool), in
 * libnn_dnnl.so beside them. They read the layer's keys and set-up shapes; never oneDNN. */
#ifndef NN_DNNL_EXPORT_H
#define NN_DNNL_EXPORT_H

#include <nntrain/export.h>

#include "nn_dnnl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conv (kernel, strides, dilations, group, the resolved pads), then the fused activation */
NN_DNNL_API int nn_dnnl_conv_export(void *self, const nn_layer_export *x, nn_error *err);
/* MaxPool / AveragePool (floor mode) or GlobalAveragePool + Flatten, by mode (NN_POOL_*) */
NN_DNNL_API int nn_dnnl_pool_export(int mode, const nn_layer_export *x, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
