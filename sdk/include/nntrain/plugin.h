/* plugin.h: the descriptor every plugin exports, and the one macro that exports it.
 * The registry validates a descriptor (ABI version, sizes, required fields, schema) before it
 * calls any function of the plugin. Never change the layout of a released struct: grow it. */
#ifndef NNTRAIN_PLUGIN_H
#define NNTRAIN_PLUGIN_H

#include <stdint.h>
#include "params.h"
#include "status.h"
#include "test_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* major: must equal the host's; minor: must be <= the host's.
 * 0.5: communicator plugins, nn_layer_io.dist, more layer parameters, batch transforms,
 *      export slots (<nntrain/export.h>);
 * 0.6: opaque layouts (nn_tensor.layout, nn_layer_setup.layout_accept and
 * output_layout_taken) and nn_layer_setup.precision;
 * 0.7: nn_layer_setup.input_grad_unused and grad_output_scratch;
 * 0.8: nn_layout.props (NN_LAYOUT_RELU), nn_layer_setup.grad_input_masked and
 *      output_grad_masked: a ReLU's derivative applied by the layer after it */
#define NN_ABI_MAJOR 0
#define NN_ABI_MINOR 11

typedef enum nn_kind {
    NN_KIND_LAYER = 1,
    NN_KIND_LOSS,
    NN_KIND_OPTIMIZER,
    NN_KIND_SCHEDULER,
    NN_KIND_DATASET,
    NN_KIND_TRANSFORM,
    NN_KIND_LOGGER,
    NN_KIND_BACKEND,
    NN_KIND_COMMUNICATOR, /* ABI 0.5: <nntrain/communicator.h> */
    NN_KIND_COUNT_ /* not a kind */
} nn_kind;

/* capability flags (descriptor .caps) */
#define NN_CAP_BACKWARD (1u << 0)     /* layer: implements backward */
#define NN_CAP_THREAD_SAFE (1u << 1)  /* dataset/transform: get/apply may run concurrently */
#define NN_CAP_STATEFUL (1u << 2)     /* has state to save in checkpoints (state_save/load) */
/* optimizer: step updates each element from that element's value, gradient and slots alone
 * (and the step's lr and t, the parameter's multipliers), and step may run on several threads
 * at once: the core may then pass it 1-D slices of parameters ([train] replicas) */
#define NN_CAP_ELEMENTWISE (1u << 3)
/* layer (ABI 0.11 cores use it, older ones ignore it): one input [N, in], output [N, units]
 * where `units` is the layer's integer key of that name, and output column u depends on row u
 * of every parameter alone (each parameter's first dimension is units). An instance made with
 * units = k then computes k columns from k rows of each parameter: [train] replicas give each
 * replica its own rows of such a first layer (core/replica_head.c) */
#define NN_CAP_SPLIT_UNITS (1u << 4)

/* the longest plugin (and device) name, in bytes: what a model file's `type =` can name */
#define NN_PLUGIN_NAME_MAX 64
/* the largest descriptor or vtable struct_size the registry believes (a larger one is a
 * corrupt or hostile descriptor, refused before anything past the header is read) */
#define NN_STRUCT_SIZE_MAX 65536

typedef struct nn_plugin_desc {
    uint16_t abi_major;          /* NN_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;          /* NN_ABI_MINOR the plugin was built with */
    uint32_t struct_size;        /* sizeof(nn_plugin_desc) the plugin was built with */
    int32_t kind;                /* nn_kind */
    uint32_t caps;               /* NN_CAP_* */
    const char *name;            /* required: [a-z0-9_], 1 to NN_PLUGIN_NAME_MAX bytes,
                                    unique per (kind, device) */
    const char *version;         /* required: the plugin's own version, e.g. "1.0.0" */
    const char *license;         /* required: SPDX identifier */
    const char *summary;         /* required: one line for `nntrain plugins` */
    /* version, license and summary are one line each: a control character (LF, CR, TAB,
     * ESC...) or DEL in any of them makes the registry refuse the descriptor */
    const char *device;          /* optional: "cpu" when NULL; as name */
    const nn_param_spec *params; /* optional: NULL-name-terminated schema */
    const void *vtable;          /* required: the kind's vtable (nn_layer_vtable, ...) */
    /* optional, ABI 0.4 (took reserved[0]): the cases `nntrain plugins test` checks (see
     * test_spec.h); NULL = derived from the schema's defaults */
    const struct nn_test_spec *test;
    const void *reserved[7];     /* zero */
} nn_plugin_desc;

/* Every kind's vtable starts with these slots, so the registry checks them alike.
 * create: parse nothing (params are already valid), allocate the instance, return NN_OK.
 * destroy: free what create made; never NULL-checked by the plugin's caller. */
#define NN_VTABLE_COMMON                                                       \
    uint32_t struct_size; /* sizeof the vtable the plugin was built with */    \
    int (*create)(const nn_params *params, void **self, nn_error *err);        \
    void (*destroy)(void *self)

typedef struct nn_vtable_common {
    NN_VTABLE_COMMON;
} nn_vtable_common;

/* The exported symbol: a NULL-terminated array of descriptor pointers. Its name is fixed. */
#define NN_PLUGIN_SYMBOL nn_plugin_descriptors
#define NN_PLUGIN_SYMBOL_NAME "nn_plugin_descriptors"

#if defined(__GNUC__)
#define NN_EXPORT __attribute__((visibility("default")))
#else
#define NN_EXPORT
#endif

/* A descriptor with the ABI fields filled: NN_DESCRIPTOR(.kind = NN_KIND_LAYER, .name = ...) */
#define NN_DESCRIPTOR(...)                                                     \
    {.abi_major = NN_ABI_MAJOR, .abi_minor = NN_ABI_MINOR,                     \
     .struct_size = sizeof(nn_plugin_desc), __VA_ARGS__}

/* The one export of a plugin file: NN_PLUGIN_EXPORT(&desc_a, &desc_b); */
#define NN_PLUGIN_EXPORT(...)                                                  \
    NN_EXPORT const nn_plugin_desc *const NN_PLUGIN_SYMBOL[] = {__VA_ARGS__, NULL}

/* returns "layer", "loss", ... or "?"; static string */
const char *nn_kind_name(int kind);

#ifdef __cplusplus
}
#endif
#endif
