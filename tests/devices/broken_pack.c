/* broken_pack.c: test fixture, two deliberately broken device packs made from the real sim
 * pack. Loaded, it opens the built sim.so (NNTEST_SIM_SO) and exports the same descriptors,
 * except one plugin whose vtable it wraps:
 *   BROKEN_WRONG_GRADIENT: dense's backward halves the weight gradient afterwards (through
 *                          the device's own ops, as a pack's buggy kernel would);
 *   BROKEN_HOST_READ:      relu's forward reads its input on the host first, which the sim
 *                          device's PROT_NONE memory turns into a SIGSEGV;
 *   BROKEN_SCHEMA:         dense's schema drifts from the CPU plugin's: a range, a default
 *                          and the choices change, a key goes missing and one is added;
 *   BROKEN_REDUCTION:      cross_entropy's setup declares a mean whatever its reduction
 *                          (a pack written before ABI 0.9), or the value of the environment
 *                          variable NNTEST_BROKEN_REDUCTION where it is set.
 * The conformance run must report both as failures of that plugin and go on. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

#if !defined(BROKEN_WRONG_GRADIENT) && !defined(BROKEN_HOST_READ) &&                       \
    !defined(BROKEN_SCHEMA) && !defined(BROKEN_REDUCTION)
#error "define BROKEN_WRONG_GRADIENT, BROKEN_HOST_READ, BROKEN_SCHEMA or BROKEN_REDUCTION"
#endif
#ifdef BROKEN_HOST_READ
#define BROKEN_NAME "relu"
#define BROKEN_KIND NN_KIND_LAYER
#elif defined(BROKEN_REDUCTION)
#define BROKEN_NAME "cross_entropy"
#define BROKEN_KIND NN_KIND_LOSS
#else
#define BROKEN_NAME "dense"
#define BROKEN_KIND NN_KIND_LAYER
#endif

NN_EXPORT const nn_plugin_desc *nn_plugin_descriptors[32];

static nn_plugin_desc broken_desc;
#ifdef BROKEN_REDUCTION
static nn_loss_vtable broken_vtable;
static const nn_loss_vtable *real;

static int broken_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    int rc = real->setup(self, s, err);
    const char *v = getenv("NNTEST_BROKEN_REDUCTION");
    s->reduction = v ? strtol(v, NULL, 10) : NN_LOSS_MEAN;
    return rc;
}
#else
static nn_layer_vtable broken_vtable;
static const nn_layer_vtable *real;
#endif

#ifdef BROKEN_WRONG_GRADIENT
static int broken_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    int rc = real->backward(self, io, err);
    if (rc)
        return rc;
    const nn_device *d = io->device;
    return d->backend->ops->scale(d->backend_self, io->param_grads[0], 0.5f, err);
}
#elif defined(BROKEN_REDUCTION)
#elif defined(BROKEN_HOST_READ)
static int broken_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    volatile float first = NN_F32P(io->inputs[0])[0]; /* device memory, read on the host */
    (void)first;
    return real->forward(self, io, err);
}
#else
static nn_param_spec drifted[16];

/* units from 2, bias default false, no gelu, no bias_init, an extra key */
static void drift(const nn_param_spec *from)
{
    int n = 0;
    for (; from->name && n < 14; from++) {
        if (strcmp(from->name, "bias_init") == 0)
            continue;
        nn_param_spec *s = &drifted[n++];
        *s = *from;
        if (strcmp(s->name, "units") == 0)
            s->range = "[2, inf)";
        else if (strcmp(s->name, "bias") == 0)
            s->def = "false";
        else if (strcmp(s->name, "activation") == 0)
            s->choices = "none|relu|tanh|sigmoid";
    }
    drifted[n++] = (nn_param_spec){.name = "alpha", .type = NN_PARAM_FLOAT, .def = "1",
                                   .doc = "a key the CPU plugin does not have"};
}
#endif

__attribute__((constructor)) static void broken_load(void)
{
    void *sim = dlopen(NNTEST_SIM_SO, RTLD_NOW | RTLD_LOCAL);
    const nn_plugin_desc *const *list = sim ? dlsym(sim, NN_PLUGIN_SYMBOL_NAME) : NULL;
    for (int i = 0, n = 0; list && list[i] && n < 31; i++) {
        nn_plugin_descriptors[n++] = list[i];
        if (list[i]->kind != BROKEN_KIND || strcmp(list[i]->name, BROKEN_NAME) != 0)
            continue;
        real = list[i]->vtable;
        broken_vtable = *real;
        broken_desc = *list[i];
#ifdef BROKEN_WRONG_GRADIENT
        broken_vtable.backward = broken_backward;
#elif defined(BROKEN_REDUCTION)
        broken_vtable.setup = broken_setup;
#elif defined(BROKEN_HOST_READ)
        broken_vtable.forward = broken_forward;
#else
        drift(list[i]->params);
        broken_desc.params = drifted;
#endif
        broken_desc.vtable = &broken_vtable;
        nn_plugin_descriptors[n - 1] = &broken_desc;
    }
}
