/* cu_pack.h: what the C files of the CUDA pack share: the opened device (stream, allocator,
 * issuer, library handles, error record), the checks every kernel plugin starts with, and the
 * launch helpers. Private to the pack: the core and other plugins see only the SDK vtables.
 * Nothing here may dereference device memory on the host. */
#ifndef NN_CU_PACK_H
#define NN_CU_PACK_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>
#include <nntrain/nntrain.h>

#include "cu_algo.h"
#include "cu_alloc.h"
#include "cu_issue.h"
#include "k_args.h"

#define CU_DEVICE_TYPE kDLCUDA
#define CU_MAX_SITES 256
#define CU_SITE_LEN 96

typedef struct cu_lt cu_lt; /* cuBLASLt, loaded on first use (cu_lt.c) */

typedef struct cu_dev {
    int index;          /* -1 until open() */
    char name[24];      /* "cuda:0" */
    cudaStream_t stream;
    int sm_count;
    char gpu[256];      /* the device's name */
    size_t total_mem;
    int cc_major, cc_minor;
    cu_alloc alloc;
    cu_issue issue;
    cu_algo_cache algos;
    void *cudnn;        /* cudnnHandle_t, made on first use (cu_cudnn.c) */
    cu_lt *lt;
    void *ws;           /* the libraries' workspace, shared (one call runs at a time) */
    size_t ws_bytes;
    double *partial;    /* reduction scratch: CU_PARTIALS doubles */
    unsigned long long *first; /* find_nonfinite's answer */
    k_err *err_dev;     /* the kernels' error record (device memory: atomics stay on the GPU) */
    k_err *err_host;    /* its page-locked copy, refreshed by every synchronisation */
    char sites[CU_MAX_SITES][CU_SITE_LEN];
    int n_sites;
    int tf32;           /* NNTRAIN_CUDA_TF32=1: TF32 tensor cores for products */
    int debug;          /* NNTRAIN_CUDA_DEBUG=1: synchronise and check after every call */
    uint64_t generation; /* bumped when graphs must be forgotten */
} cu_dev;

#define CU_PARTIALS 1024 /* the most blocks a two-stage reduction uses */

extern const nn_backend_vtable cu_backend_vtable;
extern const nn_device_ops cu_device_ops;

/* ---- errors (cu_err.c) ------------------------------------------------------------------- */

/* "cudaErrorMemoryAllocation (out of memory)" for messages */
const char *cu_strerror(cudaError_t e, char *buf, size_t cap);
/* fills err with "WHO: WHAT failed: cudaError... (...)" and returns the matching status */
int cu_fail(nn_error *err, cudaError_t e, const char *who, const char *what);
/* the error a kernel recorded, as the last synchronisation copied it back: a sentence
 * (NN_EINVAL, and the record is cleared), or NN_OK */
int cu_check_async(cu_dev *d, nn_error *err);
/* a site name for kernel error records ("loss 'cross_entropy'"); returns its index */
int cu_site(cu_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* why cudaGetDeviceCount found no device, for messages; fills buf, returns the count or < 0 */
int cu_count_devices(char *buf, size_t cap);

/* ---- what kernel plugins start with (cu_kernel.c) ---------------------------------------- */

/* This pack's device behind dev (setup: any instance of this backend; other calls: an
 * opened one), or NULL with err naming who. */
cu_dev *cu_dev_of(const nn_device *dev, int need_open, const char *who, nn_error *err);
/* The device address of a contiguous tensor of dtype dt (-1: any) that lives on d, or NULL
 * with err naming who and the tensor's role. */
void *cu_tensor(cu_dev *d, const nn_tensor *t, int dt, const char *who, const char *role,
                nn_error *err);
#define CU_TENSOR(var, d, t, dt, who, role, err)                                        \
    do {                                                                                \
        if (!((var) = cu_tensor((d), (t), (dt), (who), (role), (err))))                 \
            return (err) && (err)->status ? (err)->status : NN_EINVAL;                  \
    } while (0)

/* grid size of a grid-stride kernel over n items */
uint32_t cu_grid(const cu_dev *d, int64_t n, uint32_t block);
/* launches (or defers) kernel fn with its one argument */
int cu_launch(cu_dev *d, const char *who, const void *fn, uint32_t grid, uint32_t block,
              const void *args, size_t size, nn_error *err);
/* a grid-stride kernel over n items (nothing when n is 0) */
int cu_launch_n(cu_dev *d, const char *who, const void *fn, int64_t n, const void *args,
                size_t size, nn_error *err);
int cu_memset(cu_dev *d, const char *who, void *dst, int value, size_t bytes, nn_error *err);
int cu_copy(cu_dev *d, const char *who, void *dst, const void *src, size_t bytes,
            nn_error *err);
/* page-locked host memory (cudaHostAlloc): in the backend vtable up to ABI 0.4, in the ops
 * table from 0.5 (cu_backend.c) */
void *cu_host_alloc(void *self, size_t bytes, nn_error *err);
void cu_host_free(void *self, void *ptr);
/* the pending run on the stream, then synchronise: for code that must see results now */
int cu_sync(cu_dev *d, nn_error *err);
/* graphs captured so far are dropped at the next chance (plans or layers changed) */
void cu_forget_graphs(cu_dev *d);
/* the libraries' shared workspace, at least bytes (grown only outside the steady state) */
void *cu_workspace(cu_dev *d, size_t bytes, nn_error *err);

/* the layer's name, or kind when it has none; for messages */
const char *cu_name(const char *layer_name, const char *kind);

/* ---- what the layer plugins share (cu_layer.c) ------------------------------------------- */

/* setup's common start: this pack's device, one input of dtype dt (-1: any known one) with a
 * batch dimension; *name gets the layer's name. The sentences and statuses are the CPU
 * plugins' ("layer 'x' (relu): takes 1 input, got 2"). */
int cu_one_input(nn_layer_setup *s, const char *kind, int dt, const char **name, nn_error *err);
/* launches k_act over n elements */
int cu_act(cu_dev *d, const char *who, const k_act *a, nn_error *err);


/* ---- what tests reach without a GPU ------------------------------------------------------ */

/* dropout's stream (a hash of the layer's name) and a forward's kernel argument, as
 * cu_misc.c makes them */
uint64_t cu_dropout_stream(const char *layer_name);
void cu_dropout_args(k_dropout *a, double p, uint64_t stream, uint64_t seed, int64_t rows,
                     int64_t per);
/* an optimizer step of the pack on host memory, with the kernel's code (k_optim_host) and the
 * arguments opt_step makes: what the device computes, checked against the CPU plugins */
int cu_optim_host_step(void *self, const nn_optim_step *st, nn_error *err);

/* ---- the execution side of cu_issue (cu_exec.c) ------------------------------------------ */

extern const cu_exec_ops cu_exec_cuda;

/* ---- descriptors, exported together by cu_pack.c ---------------------------------------- */

/* a layer descriptor of the pack: cu_NAME_desc over NAME_vtable */
#define CU_LAYER_DESC(nm, sum, schema)                                                   \
    const nn_plugin_desc cu_##nm##_desc = NN_DESCRIPTOR(                                 \
        .kind = NN_KIND_LAYER, .name = #nm, .version = "1.0.0", .license = "MIT",         \
        .device = "cuda", .summary = sum, .caps = NN_CAP_BACKWARD, .params = schema,      \
        .vtable = &nm##_vtable)

extern const nn_plugin_desc cu_backend_desc, cu_dense_desc, cu_conv1d_desc, cu_conv2d_desc,
    cu_maxpool2d_desc, cu_avgpool2d_desc, cu_global_avgpool_desc, cu_batchnorm_desc,
    cu_layernorm_desc, cu_dropout_desc, cu_relu_desc, cu_leaky_relu_desc, cu_elu_desc,
    cu_gelu_desc, cu_sigmoid_desc, cu_tanh_desc, cu_softmax_desc, cu_flatten_desc,
    cu_reshape_desc, cu_add_desc, cu_concat_desc, cu_embedding_desc, cu_ce_desc, cu_nll_desc,
    cu_mse_desc, cu_l1_desc, cu_huber_desc, cu_bce_desc, cu_sgd_desc, cu_adam_desc,
    cu_adamw_desc, cu_rmsprop_desc, cu_adagrad_desc;

#endif
