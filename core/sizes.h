/* sizes.h: the sizes a layer's setup declared, checked before anything is allocated: no
 * multiplication may overflow, and nothing may need more than the machine's memory. A
 * refusal names the layer, its file:line, the tensor, its shape, its size and, when a key of
 * the layer holds one of the dimensions, that key and its line. */
#ifndef NN_SIZES_H
#define NN_SIZES_H

#include <stddef.h>

#include "nntrain/layer.h"
#include "params_internal.h"

/* Bytes of a tensor of `bits`-bit elements and this shape into *out; returns 0, or -1 when
 * a dimension is negative or the product does not fit in size_t. */
int nn_shape_bytes(int ndim, const int64_t *shape, unsigned bits, size_t *out);

/* The machine's physical memory in bytes (SIZE_MAX when unknown). */
size_t nn_memory_bytes(void);

/* Checks the output, parameters and buffers that setup() declared in s. origin is the
 * layer's "file:line: [layer.NAME]"; kvs are its keys (to name the one behind a huge
 * dimension). returns NN_OK, NN_ESHAPE (negative dimension) or NN_ENOMEM with err set. */
int nn_layer_sizes_check(const nn_layer_setup *s, const char *origin, const char *name,
                         const char *type, const nn_kv *kvs, int n_kvs, nn_error *err);

/* The same for n buffer declarations of subject ("loss 'mse'", "layer 'fc1' (dense)"). */
int nn_buffer_sizes_check(const nn_buffer_decl *b, int n, const char *origin,
                          const char *subject, const nn_kv *kvs, int n_kvs, nn_error *err);

/* NN_OK when total fits in the machine's memory, else NN_ENOMEM: "WHAT need 1.2 TB (... bytes),
 * more than this machine's 64 GB of memory; ADVICE". */
int nn_total_bytes_check(size_t total, const char *what, const char *advice, nn_error *err);

/* "6.27 TB": bytes for people */
void nn_bytes_str(size_t bytes, char *buf, size_t cap);

#endif
