/* cu_exec.c: the CUDA side of cu_issue: a call on the stream (kernel, memset, device copy,
 * library call), stream capture into a graph, the node each captured call became, patching
 * kernel arguments and copy addresses of an instantiated graph, and launching it. With
 * NNTRAIN_CUDA_DEBUG=1 every eager call is followed by a synchronisation and a check, so a
 * failing kernel is named at once. */
#include <stdlib.h>

#include "cu_pack.h"

typedef struct cu_graph {
    cudaGraph_t graph; /* kept: node handles belong to it */
    cudaGraphExec_t exec;
} cu_graph;

static int exec_issue(void *ctx, const cu_call *c, const void *payload, nn_error *err)
{
    cu_dev *d = ctx;
    cudaError_t e = cudaSuccess;
    const char *what = "kernel launch";
    switch (c->kind) {
    case CU_CALL_KERNEL: {
        void *args[1] = {(void *)payload};
        dim3 g = {c->grid[0], c->grid[1], c->grid[2]}, b = {c->block[0], c->block[1], c->block[2]};
        e = cudaLaunchKernel(c->fn, g, b, args, c->smem, d->stream);
        break;
    }
    case CU_CALL_MEMSET:
        what = "cudaMemsetAsync";
        e = cudaMemsetAsync(c->dst, c->value, c->bytes, d->stream);
        break;
    case CU_CALL_COPY:
        what = "cudaMemcpyAsync (device to device)";
        e = cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, d->stream);
        break;
    default: {
        int rc = c->lib(d, payload, err);
        if (rc)
            return rc;
    }
    }
    if (e != cudaSuccess)
        return cu_fail(err, e, c->who, what);
    if (d->debug) {
        enum cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
        cudaStreamIsCapturing(d->stream, &st);
        if (st == cudaStreamCaptureStatusNone && (e = cudaStreamSynchronize(d->stream)))
            return cu_fail(err, e, c->who, "a kernel (NNTRAIN_CUDA_DEBUG=1 synchronised after it)");
    }
    return NN_OK;
}

static int exec_capture_begin(void *ctx, nn_error *err)
{
    cu_dev *d = ctx;
    cudaError_t e = cudaStreamBeginCapture(d->stream, cudaStreamCaptureModeThreadLocal);
    return e ? cu_fail(err, e, d->name, "cudaStreamBeginCapture") : NN_OK;
}

static int exec_capture_end(void *ctx, void **out, nn_error *err)
{
    cu_dev *d = ctx;
    *out = NULL;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(d->stream, &g);
    if (e || !g) {
        (void)cudaGetLastError();
        if (g)
            cudaGraphDestroy(g);
        return cu_fail(err, e ? e : cudaErrorStreamCaptureInvalidated, d->name,
                       "cudaStreamEndCapture");
    }
    cu_graph *cg = calloc(1, sizeof *cg);
    if (!cg) {
        cudaGraphDestroy(g);
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory for a graph", d->name);
    }
    cg->graph = g;
    if ((e = cudaGraphInstantiate(&cg->exec, g, 0))) {
        (void)cudaGetLastError();
        cudaGraphDestroy(g);
        free(cg);
        return cu_fail(err, e, d->name, "cudaGraphInstantiate");
    }
    *out = cg;
    return NN_OK;
}

static void *exec_captured_node(void *ctx)
{
    cu_dev *d = ctx;
    enum cudaStreamCaptureStatus st;
    const cudaGraphNode_t *deps = NULL;
    size_t n = 0;
    if (cudaStreamGetCaptureInfo(d->stream, &st, NULL, NULL, &deps, NULL, &n) ||
        st != cudaStreamCaptureStatusActive || n != 1)
        return NULL;
    return deps[0];
}

static int exec_patch(void *ctx, void *exec, void *node, const cu_call *c, const void *payload,
                      nn_error *err)
{
    cu_dev *d = ctx;
    cu_graph *cg = exec;
    cudaError_t e;
    if (c->kind == CU_CALL_KERNEL) {
        void *args[1] = {(void *)payload};
        struct cudaKernelNodeParams p = {
            .func = (void *)c->fn,
            .gridDim = {c->grid[0], c->grid[1], c->grid[2]},
            .blockDim = {c->block[0], c->block[1], c->block[2]},
            .sharedMemBytes = c->smem,
            .kernelParams = args,
        };
        e = cudaGraphExecKernelNodeSetParams(cg->exec, (cudaGraphNode_t)node, &p);
    } else {
        e = cudaGraphExecMemcpyNodeSetParams1D(cg->exec, (cudaGraphNode_t)node, c->dst, c->src,
                                               c->bytes, cudaMemcpyDeviceToDevice);
    }
    if (e) {
        (void)cudaGetLastError();
        return cu_fail(err, e, d->name, "updating a graph node");
    }
    return NN_OK;
}

static int exec_launch(void *ctx, void *exec, nn_error *err)
{
    cu_dev *d = ctx;
    cudaError_t e = cudaGraphLaunch(((cu_graph *)exec)->exec, d->stream);
    if (e)
        return cu_fail(err, e, d->name, "cudaGraphLaunch");
    if (d->debug && (e = cudaStreamSynchronize(d->stream)))
        return cu_fail(err, e, d->name, "a graph (NNTRAIN_CUDA_DEBUG=1 synchronised after it)");
    return NN_OK;
}

static void exec_destroy(void *ctx, void *exec)
{
    (void)ctx;
    cu_graph *cg = exec;
    if (!cg)
        return;
    cudaGraphExecDestroy(cg->exec);
    cudaGraphDestroy(cg->graph);
    free(cg);
}

const cu_exec_ops cu_exec_cuda = {
    .issue = exec_issue,
    .capture_begin = exec_capture_begin,
    .capture_end = exec_capture_end,
    .captured_node = exec_captured_node,
    .patch = exec_patch,
    .launch = exec_launch,
    .destroy = exec_destroy,
};
