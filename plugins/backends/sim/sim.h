/* sim.h: what the files of the sim pack share: the pretend device (memory the host cannot
 * touch, translated here), its deferred copies, the GEMM and activations its kernels use.
 * Private to the pack: the core and other plugins only ever see the SDK's vtables. */
#ifndef NN_SIM_H
#define NN_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <nntrain/nntrain.h>

#define SIM_DEVICE_TYPE kDLExtDev
#define SIM_MAX_DEVICES 8
#define SIM_QUEUE 64 /* deferred copies held before they are forced */

typedef struct sim_block {
    size_t off, size; /* a live allocation: [off, off + size) of the device's address range */
} sim_block;

typedef struct sim_queued_copy {
    void *dst;
    const void *src;
    size_t bytes;
} sim_queued_copy;

/* One opened device. Its addresses [base, base + cap) are a PROT_NONE reservation, so any
 * host code that dereferences them faults; the contents live at the same offsets in `mem`,
 * a second mapping made readable page by page as allocations reach further. */
typedef struct sim_dev {
    int index; /* -1 until open() */
    char name[16];
    char *base, *mem;
    size_t cap, committed;
    sim_block *blocks; /* sorted by off */
    int n_blocks, cap_blocks;
    size_t in_use, peak;
    /* copy_async work not yet done: it runs, in order, before the next device call */
    sim_queued_copy queue[SIM_QUEUE];
    int n_queued;
    uint64_t issued, done; /* sequence numbers of async copies */
    float *pack_a, *pack_b; /* GEMM packing scratch, the device's own working memory */
} sim_dev;

extern const nn_backend_vtable sim_backend_vtable;
extern const nn_device_ops sim_device_ops;
/* page-mapped host buffers (sim_backend.c), offered through sim_device_ops */
void *sim_host_alloc(void *self, size_t bytes, nn_error *err);
void sim_host_free(void *self, void *ptr);

/* ---- device memory (sim_mem.c) -------------------------------------------------------- */

int sim_mem_open(sim_dev *d, int index, nn_error *err);
void sim_mem_close(sim_dev *d);
void *sim_mem_alloc(sim_dev *d, size_t bytes, size_t align, nn_error *err);
void sim_mem_free(sim_dev *d, void *p);
/* The bytes behind device address p, checked to lie in one live allocation of this device;
 * NULL with a sentence naming `what` (and the device p belongs to, if another) otherwise. */
void *sim_mem_bytes(sim_dev *d, const void *p, size_t bytes, const char *what, nn_error *err);
/* 1 when p lies in the address range of any open sim device (to refuse it as host memory) */
int sim_mem_is_device(const void *p, char *owner, size_t cap);
/* Runs the deferred copies: every entry point of the device calls it first. */
void sim_flush(sim_dev *d);

/* ---- what the pack's plugins use (sim_kernel.c) --------------------------------------- */

/* The sim device a plugin was given, or NULL with err filled (who names the plugin). */
sim_dev *sim_dev_from(const nn_device *dev, const char *who, nn_error *err);
/* The contiguous data of a device tensor of dtype dt (-1: any), flushed and bounds-checked;
 * NULL with err naming the layer and the tensor's role. */
void *sim_tensor(sim_dev *d, const nn_tensor *t, int dt, const char *who, const char *role,
                 nn_error *err);

/* sets var to sim_tensor(...) or returns the error from the enclosing function */
#define SIM_TENSOR(var, d, t, dt, who, role, err)                                       \
    do {                                                                                \
        if (!((var) = sim_tensor((d), (t), (dt), (who), (role), (err))))                \
            return (err) && (err)->status ? (err)->status : NN_EINVAL;                  \
    } while (0)

/* C[M, N] = op(A) op(B) (+ C when accumulate), row-major; op(A) is A^T when ta, and A is
 * then stored [K, M] with leading dimension lda (likewise B). Cache-blocked and packed. */
void sim_gemm(sim_dev *d, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
              int64_t lda, const float *B, int64_t ldb, int accumulate, float *C, int64_t ldc);
#define SIM_GEMM_MC 96
#define SIM_GEMM_KC 256
#define SIM_GEMM_NC 2048

/* the `activation` key's choices (NN_STOCK_ACT_CHOICES), in order: oneDNN's relu, tanh,
 * logistic and erf-gelu */
enum { SIM_ACT_NONE = 0, SIM_ACT_RELU, SIM_ACT_TANH, SIM_ACT_SIGMOID, SIM_ACT_GELU };
void sim_act_forward(int kind, const float *z, float *y, int64_t n);
/* dz = dy * act'(z) */
void sim_act_backward(int kind, const float *z, const float *dy, float *dz, int64_t n);


/* the pack's descriptors, exported together by sim_pack.c */
extern const nn_plugin_desc sim_backend_desc, sim_dense_desc, sim_conv2d_desc,
    sim_maxpool2d_desc, sim_relu_desc, sim_flatten_desc, sim_dropout_desc, sim_batchnorm_desc,
    sim_cross_entropy_desc, sim_sgd_desc, sim_adam_desc;

#endif
