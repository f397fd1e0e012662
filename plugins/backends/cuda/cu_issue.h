/* cu_issue.h: how the CUDA pack puts work on its stream, and how it turns the repeating
 * training step into CUDA graphs without help from the core (ABI 0.4 has no step protocol).
 *
 * Every kernel launch, memset, device-to-device copy and library call of the pack is a
 * `cu_call`. With graphs on, calls are deferred into a "run" until something needs the
 * stream in order (a host copy, an event, a blocking call, a direct library call): then the
 * run is flushed. A run is known by its position since the last blocking point and by its
 * shape (the kernels, their launch sizes, the library calls and their arguments); the first
 * time a shape is seen it is issued eagerly, the second time it is captured into a graph, and
 * from then on the graph is replayed, with the arguments that may change from step to step
 * (kernel arguments such as the learning rate or the dropout seed, and copy addresses) patched
 * into the instantiated graph. A run whose shape differs runs eagerly, so results never depend
 * on whether a graph was used. Plain C over cu_exec_ops, so the logic is tested without a GPU;
 * cu_exec.c holds the CUDA side. One thread (the backend contract). */
#ifndef NN_CU_ISSUE_H
#define NN_CU_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include <nntrain/status.h>

typedef enum cu_call_kind {
    CU_CALL_KERNEL = 1, /* payload: the kernel's one by-value argument; patchable */
    CU_CALL_MEMSET,     /* dst, value, bytes: must match to replay */
    CU_CALL_COPY,       /* device-to-device dst, src, bytes: addresses patchable */
    CU_CALL_LIB,        /* a library call: lib(ctx, payload); the payload must match */
} cu_call_kind;

/* runs a library call (cuBLASLt, cuDNN) on the stream, with everything it needs in payload */
typedef int (*cu_lib_fn)(void *ctx, const void *payload, nn_error *err);

typedef struct cu_call {
    int kind;
    const char *who;      /* what issued it, for messages (borrowed: a layer's name) */
    const void *fn;       /* kernel: the __global__ function's host address */
    cu_lib_fn lib;        /* library call */
    uint32_t grid[3], block[3], smem;
    void *dst;            /* memset, copy */
    const void *src;      /* copy */
    size_t bytes;         /* memset, copy */
    int value;            /* memset */
    uint32_t off, size;   /* payload bytes in the run's arena */
} cu_call;

/* What the issuer needs from the device (cu_exec.c), or from a test's fake. */
typedef struct cu_exec_ops {
    /* puts one call on the stream now: eagerly, or into the capture in progress */
    int (*issue)(void *ctx, const cu_call *c, const void *payload, nn_error *err);
    int (*capture_begin)(void *ctx, nn_error *err);
    /* ends the capture begun last; on success *exec is an instantiated graph. Called even
     * when an issue failed during the capture, to leave the stream usable. */
    int (*capture_end)(void *ctx, void **exec, nn_error *err);
    /* during a capture: the graph node the call issued last became (NULL when unknown) */
    void *(*captured_node)(void *ctx);
    /* sets the arguments of a kernel node, or the addresses of a copy node, of exec */
    int (*patch)(void *ctx, void *exec, void *node, const cu_call *c, const void *payload,
                 nn_error *err);
    int (*launch)(void *ctx, void *exec, nn_error *err);
    void (*destroy)(void *ctx, void *exec);
} cu_exec_ops;

#define CU_GRAPH_CACHE 16

enum { CU_RUN_SEEN = 1, CU_RUN_GRAPH, CU_RUN_EAGER };

typedef struct cu_run_entry {
    int state;            /* CU_RUN_*; 0 = free slot */
    int index;            /* position of the run since the last blocking point */
    uint64_t hash;        /* of the run's shape */
    int n;
    cu_call *calls;       /* the calls as captured (payload offsets into payload) */
    unsigned char *payload;
    void **nodes;         /* graph node of each call (NULL for unpatched kinds) */
    void *exec;
    uint64_t used;        /* LRU clock */
} cu_run_entry;

typedef struct cu_issue_stats {
    uint64_t calls;      /* calls issued through the issuer */
    uint64_t eager;      /* calls put on the stream one by one */
    uint64_t runs;       /* non-empty runs flushed */
    uint64_t captures;   /* runs captured into a graph */
    uint64_t replays;    /* graph launches of earlier captures */
    uint64_t patches;    /* nodes whose arguments were changed before a replay */
    uint64_t failed;     /* captures or replays that failed and ran eagerly instead */
} cu_issue_stats;

typedef struct cu_issue {
    const cu_exec_ops *ops;
    void *ctx;
    int defer;     /* 0: every call is issued at once (no graphs) */
    int min_calls; /* runs shorter than this are issued eagerly */
    cu_call *calls;
    int n, cap;
    unsigned char *arena;
    size_t used, arena_cap;
    int run_index;
    int busy;      /* something was issued since the last sync point */
    uint64_t clock;
    cu_run_entry entries[CU_GRAPH_CACHE];
    cu_issue_stats stats;
} cu_issue;

void cu_issue_init(cu_issue *q, const cu_exec_ops *ops, void *ctx, int defer);
/* drops every graph (and the pending run, which must have been flushed) */
void cu_issue_destroy(cu_issue *q);

/* Each returns NN_OK, or a status with err naming `who` (when the call could not be
 * recorded, or, without deferral, issued). args/payload are copied. */
int cu_issue_kernel(cu_issue *q, const char *who, const void *fn, const uint32_t grid[3],
                    const uint32_t block[3], uint32_t smem, const void *args, size_t size,
                    nn_error *err);
int cu_issue_memset(cu_issue *q, const char *who, void *dst, int value, size_t bytes,
                    nn_error *err);
int cu_issue_copy(cu_issue *q, const char *who, void *dst, const void *src, size_t bytes,
                  nn_error *err);
int cu_issue_lib(cu_issue *q, const char *who, cu_lib_fn lib, const void *payload, size_t size,
                 nn_error *err);

/* Puts the pending run on the stream (graph or eager); before any other use of the stream. */
int cu_issue_flush(cu_issue *q, nn_error *err);
/* After a call that waited for the whole stream: the next run is the first of a new step. */
void cu_issue_sync_point(cu_issue *q);
/* Forgets every graph: the objects they were captured from may be gone (a plan or layer was
 * made or freed, a workspace moved). The pending run must have been flushed. */
void cu_issue_forget(cu_issue *q);
/* 1 when nothing was issued since the last sync point and nothing is pending */
int cu_issue_idle(const cu_issue *q);

#endif
