/* bad_backend_pack.c: test fixture, the built sim pack's backend (NNTEST_SIM_SO) exported with
 * one thing about its descriptor wrong, which the registry must refuse at load, naming it:
 *   BAD_OPS_NULL:     the ops table lacks norm_acc;
 *   BAD_OPS_SMALL:    the ops table says struct_size 4;
 *   BAD_VTABLE_SIZE:  the backend vtable says struct_size 16;
 *   BAD_DEVICE_CPU:   the backend claims device "cpu", the host's;
 *   BAD_LISTED_TWICE: the (good) backend descriptor is listed twice in this one file;
 *   BAD_WITH_KERNELS: the ops table lacks norm_acc, and sim's kernels are exported too.
 * Only the backend is exported (and, with kernels, sim's): sim's functions, never called when
 * the registry refuses. */
#define _GNU_SOURCE
#include <dlfcn.h>

#include <nntrain/nntrain.h>

#if !defined(BAD_OPS_NULL) && !defined(BAD_OPS_SMALL) && !defined(BAD_VTABLE_SIZE) &&      \
    !defined(BAD_DEVICE_CPU) && !defined(BAD_LISTED_TWICE) && !defined(BAD_WITH_KERNELS)
#error "define one of the BAD_ cases above"
#endif

NN_EXPORT const nn_plugin_desc *nn_plugin_descriptors[64];

static nn_plugin_desc bad_desc;
static nn_backend_vtable bad_vtable;
static nn_device_ops bad_ops;

__attribute__((constructor)) static void bad_load(void)
{
    void *sim = dlopen(NNTEST_SIM_SO, RTLD_NOW | RTLD_LOCAL);
    const nn_plugin_desc *const *list = sim ? dlsym(sim, NN_PLUGIN_SYMBOL_NAME) : NULL;
#ifdef BAD_WITH_KERNELS
    int n = 1; /* [0]: the backend */
#endif
    for (int i = 0; list && list[i]; i++) {
        if (list[i]->kind != NN_KIND_BACKEND) {
#ifdef BAD_WITH_KERNELS
            if (n < 63)
                nn_plugin_descriptors[n++] = list[i];
#endif
            continue;
        }
        bad_desc = *list[i];
        bad_vtable = *(const nn_backend_vtable *)bad_desc.vtable;
        bad_ops = *bad_vtable.ops;
#if defined(BAD_OPS_NULL) || defined(BAD_WITH_KERNELS)
        bad_ops.norm_acc = NULL;
#elif defined(BAD_OPS_SMALL)
        bad_ops.struct_size = 4;
#elif defined(BAD_VTABLE_SIZE)
        bad_vtable.struct_size = 16;
#elif defined(BAD_DEVICE_CPU)
        bad_desc.device = "cpu";
#endif
        bad_vtable.ops = &bad_ops;
        bad_desc.vtable = &bad_vtable;
        nn_plugin_descriptors[0] = &bad_desc;
#ifdef BAD_LISTED_TWICE
        nn_plugin_descriptors[1] = &bad_desc;
#endif
    }
}
