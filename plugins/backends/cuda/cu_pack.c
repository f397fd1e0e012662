/* cu_pack.c: the one exported symbol of the CUDA pack: its backend and every kernel plugin,
 * all registered for device "cuda". Nothing else in the pack is visible outside the file. */
#include "cu_pack.h"

NN_PLUGIN_EXPORT(&cu_backend_desc);
