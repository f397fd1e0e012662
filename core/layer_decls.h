/* layer_decls.h: the one rule for what a layer's setup() may declare. The plan (plan.c) and
 * `nntrain plugins test` (core/plugtest/) both apply it, so the harness refuses exactly what
 * training refuses, with the same sentence naming the layer, its plugin and file. */
#ifndef NN_LAYER_DECLS_H
#define NN_LAYER_DECLS_H

#include "instance.h"
#include "nntrain/layer.h"
#include "nntrain/loss.h"

/* Checks what setup() declared in s for layer `layer` of instance inst (whose origin, plugin
 * and file the messages name): an output was described; the parameter and buffer counts are
 * in range (up to NN_MAX_LAYER_PARAMS_ALL parameters when the host gave params_more); every
 * size fits (sizes.h); each parameter and buffer has a name of its own (checkpoints key them
 * LAYER.NAME); every init is an NN_INIT_* scheme. kvs (may be NULL) name the key behind a huge
 * dimension. returns NN_OK, or NN_EINVAL, NN_ESHAPE or NN_ENOMEM with err set. */
int nn_layer_decls_check(const nn_layer_setup *s, const nn_instance *inst, const char *layer,
                         const nn_kv *kvs, int n_kvs, nn_error *err);

/* Puts parameter k's tensor p and gradient g (NULL in eval plans) where a layer reads them
 * (nn_layer_param): io's fixed slots for the first NN_MAX_LAYER_PARAMS, the caller's arrays
 * more_p / more_g (then io.params_more / io.param_grads_more) past them. */
static inline void nn_layer_io_put_param(nn_layer_io *io, nn_tensor **more_p,
                                         nn_tensor **more_g, int k, nn_tensor *p, nn_tensor *g)
{
    if (k < NN_MAX_LAYER_PARAMS) {
        io->params[k] = p;
        io->param_grads[k] = g;
        return;
    }
    more_p[k - NN_MAX_LAYER_PARAMS] = p;
    more_g[k - NN_MAX_LAYER_PARAMS] = g;
    io->params_more = more_p;
    io->param_grads_more = more_g;
}

/* The same rule for a loss's setup (session, `plugins test`, `devices test`): at most
 * NN_MAX_LAYER_BUFFERS buffers, each NN_BUF_WORKSPACE, of an nn_dtype, with a size that fits.
 * Messages name the loss, its plugin file and inst's origin ("model.ini: [loss]"). */
int nn_loss_decls_check(const nn_loss_setup *s, const nn_instance *inst, nn_error *err);

#endif
