/* cu_layer.c: the setup checks and key parsing the CUDA pack's layer plugins share, worded as
 * the CPU plugins word them (the same refusals for the same inputs), and the activation
 * launcher. Host code only. */
#include <stdio.h>

#include "cu_pack.h"

int cu_one_input(nn_layer_setup *s, const char *kind, int dt, const char **name, nn_error *err)
{
    char shape[128];
    *name = cu_name(s->layer_name, kind);
    if (!cu_dev_of(s->device, 0, *name, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): takes 1 input, got %d", *name,
                            kind, s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    int xdt = nn_tensor_dtype(x);
    if (dt >= 0 && xdt != dt)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): input %s must be F32", *name,
                            kind, nn_shape_str(x, shape, sizeof shape));
    if (xdt < 0 || x->dl.ndim < 1)
        return nn_error_set(err, NN_EINVAL, "layer '%s' (%s): input %s needs a known dtype and "
                            "a batch dimension", *name, kind,
                            nn_shape_str(x, shape, sizeof shape));
    return NN_OK;
}

int cu_act(cu_dev *d, const char *who, const k_act *a, nn_error *err)
{
    return cu_launch_n(d, who, k_eltwise_fn(K_ELT_ACT), a->n, a, sizeof *a, err);
}
