/* sim_pack.c: the one exported symbol of the sim pack: its backend and every kernel plugin,
 * all registered for device "sim". Nothing else in the pack is visible outside the file. */
#include "sim.h"

NN_PLUGIN_EXPORT(&sim_backend_desc, &sim_dense_desc, &sim_conv2d_desc, &sim_maxpool2d_desc,
                 &sim_relu_desc, &sim_flatten_desc, &sim_dropout_desc, &sim_batchnorm_desc,
                 &sim_cross_entropy_desc, &sim_sgd_desc, &sim_adam_desc);
