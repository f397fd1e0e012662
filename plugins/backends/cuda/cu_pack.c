/* cu_pack.c: the one exported symbol of the CUDA pack: its backend and every kernel plugin,
 * all registered for device "cuda". Nothing else in the pack is visible outside the file. */
#include "cu_pack.h"

NN_PLUGIN_EXPORT(&cu_backend_desc, &cu_dense_desc, &cu_conv1d_desc, &cu_conv2d_desc,
                 &cu_maxpool2d_desc, &cu_avgpool2d_desc, &cu_global_avgpool_desc,
                 &cu_batchnorm_desc, &cu_layernorm_desc, &cu_dropout_desc, &cu_relu_desc,
                 &cu_leaky_relu_desc, &cu_elu_desc, &cu_gelu_desc, &cu_sigmoid_desc,
                 &cu_tanh_desc, &cu_softmax_desc, &cu_flatten_desc, &cu_reshape_desc,
                 &cu_add_desc, &cu_concat_desc, &cu_embedding_desc, &cu_ce_desc, &cu_nll_desc,
                 &cu_mse_desc, &cu_l1_desc, &cu_huber_desc, &cu_bce_desc, &cu_sgd_desc,
                 &cu_adam_desc, &cu_adamw_desc, &cu_rmsprop_desc, &cu_adagrad_desc);
