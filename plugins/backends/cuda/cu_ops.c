/* cu_ops.c: the device math the core asks of the CUDA backend (nn_device_ops): shapes are
 * checked here on the host, the work is done by k_ops.cu's kernels on the stream. Only
 * find_nonfinite returns a host value (and so synchronises); the others are asynchronous. */
#include <string.h>

#include "cu_pack.h"

/* the F32 device data of x and its element count, or NULL */
static float *f32(cu_dev *d, const nn_tensor *x, const char *op, const char *role, int64_t *n,
                  nn_error *err)
{
    float *p = cu_tensor(d, x, NN_F32, op, role, err);
    *n = p ? nn_tensor_numel(x) : 0;
    return p;
}

static int vec(cu_dev *d, const char *op, int code, nn_tensor *y, const nn_tensor *x, float s,
               float lo, float hi, nn_error *err)
{
    int64_t ny, nx = 0;
    k_vec a = {.op = code, .s = s, .lo = lo, .hi = hi};
    if (!(a.y = f32(d, y, op, code == K_VEC_ADD ? "y" : "x", &ny, err)))
        return NN_EINVAL;
    if (x && !(a.x = f32(d, x, op, "x", &nx, err)))
        return NN_EINVAL;
    if (x && nx != ny)
        return nn_error_set(err, NN_ESHAPE, "%s: y has %lld elements but x %lld", op,
                            (long long)ny, (long long)nx);
    a.n = ny;
    return cu_launch_n(d, op, k_ops_fn(K_OPS_VEC), ny, &a, sizeof a, err);
}

static int ops_add(void *self, nn_tensor *y, const nn_tensor *x, nn_error *err)
{
    return vec(self, "add", K_VEC_ADD, y, x, 0, 0, 0, err);
}

static int ops_scale(void *self, nn_tensor *x, float s, nn_error *err)
{
    return vec(self, "scale", K_VEC_SCALE, x, NULL, s, 0, 0, err);
}

static int ops_clamp(void *self, nn_tensor *x, float lo, float hi, nn_error *err)
{
    return vec(self, "clamp", K_VEC_CLAMP, x, NULL, 0, lo, hi, err);
}

static int ops_norm_acc(void *self, const nn_tensor *x, int inf, double *acc, nn_error *err)
{
    cu_dev *d = self;
    int64_t n;
    k_norm a = {.inf = inf, .acc = acc, .partial = d->partial};
    if (!(a.x = f32(d, x, "norm_acc", "x", &n, err)))
        return NN_EINVAL;
    if (!cu_alloc_find(&d->alloc, acc, sizeof *acc))
        return nn_error_set(err, NN_EINVAL, "norm_acc: the accumulator %p is not memory of %s",
                            (void *)acc, d->name);
    a.n = n;
    uint32_t g = cu_grid(d, n, K_REDUCE);
    a.blocks = (int32_t)(g < CU_PARTIALS ? g : CU_PARTIALS);
    int rc = cu_launch(d, "norm_acc", k_ops_fn(K_OPS_NORM_PARTIAL), (uint32_t)a.blocks,
                       K_REDUCE, &a, sizeof a, err);
    return rc ? rc : cu_launch(d, "norm_acc", k_ops_fn(K_OPS_NORM_FINAL), 1, K_REDUCE, &a,
                               sizeof a, err);
}

static int ops_find_nonfinite(void *self, const nn_tensor *x, int64_t *index, nn_error *err)
{
    cu_dev *d = self;
    int64_t n;
    *index = -1;
    k_nonfinite a = {.first = d->first};
    if (!(a.x = f32(d, x, "find_nonfinite", "x", &n, err)))
        return NN_EINVAL;
    a.n = n;
    unsigned long long first = 0;
    int rc;
    if ((rc = cu_memset(d, "find_nonfinite", d->first, 0xff, sizeof *d->first, err)) ||
        (rc = cu_launch_n(d, "find_nonfinite", k_ops_fn(K_OPS_NONFINITE), n, &a, sizeof a,
                          err)) ||
        (rc = cu_issue_flush(&d->issue, err)))
        return rc;
    cudaError_t e = cudaMemcpyAsync(&first, d->first, sizeof first, cudaMemcpyDeviceToHost,
                                    d->stream);
    if (e)
        return cu_fail(err, e, d->name, "find_nonfinite: reading the answer");
    if ((rc = cu_sync(d, err)))
        return rc;
    *index = first == ~0ull ? -1 : (int64_t)first;
    return NN_OK;
}

static int ops_count_correct(void *self, const nn_tensor *pred, const nn_tensor *target,
                             int64_t rows, int top_k, double *out, nn_error *err)
{
    cu_dev *d = self;
    char a[64], b[64];
    if (pred->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE, "count_correct: pred %s must be [N, C]",
                            nn_shape_str(pred, a, sizeof a));
    int64_t N = pred->shape[0], C = pred->shape[1];
    int soft = nn_tensor_dtype(target) == NN_F32;
    int ok = soft ? target->dl.ndim == 2 && target->shape[0] == N && target->shape[1] == C
                  : nn_tensor_dtype(target) == NN_I32 && target->dl.ndim == 1 &&
                        target->shape[0] == N;
    if (!ok)
        return nn_error_set(err, NN_ESHAPE, "count_correct: target %s must be I32 [%lld] class "
                            "ids or F32 [%lld, %lld] probabilities for pred %s",
                            nn_shape_str(target, a, sizeof a), (long long)N, (long long)N,
                            (long long)C, nn_shape_str(pred, b, sizeof b));
    if (rows < 0 || rows > N || top_k < 0)
        return nn_error_set(err, NN_EINVAL, "count_correct: rows %lld outside [0, %lld] or "
                            "top_k %d < 0", (long long)rows, (long long)N, top_k);
    k_count k = {.rows = rows, .classes = C, .soft = soft, .top_k = top_k, .out = out};
    if (!(k.pred = cu_tensor(d, pred, NN_F32, "count_correct", "pred", err)) ||
        !(k.target = cu_tensor(d, target, -1, "count_correct", "target", err)))
        return NN_EINVAL;
    if (!cu_alloc_find(&d->alloc, out, 2 * sizeof *out))
        return nn_error_set(err, NN_EINVAL, "count_correct: the output %p is not two doubles "
                            "of %s", (void *)out, d->name);
    return cu_launch(d, "count_correct", k_ops_fn(K_OPS_COUNT), 1, K_REDUCE, &k, sizeof k, err);
}

#if NN_ABI_MINOR >= 11
/* the caching allocator's live blocks (its free lists do not count) */
static int ops_mem_live(void *self, int64_t *blocks, int64_t *bytes)
{
    const cu_dev *d = self;
    *blocks = d->alloc.stats.live;
    *bytes = (int64_t)d->alloc.stats.requested;
    return NN_OK;
}
#endif

const nn_device_ops cu_device_ops = {
    .struct_size = sizeof(nn_device_ops),
    .add = ops_add,
    .scale = ops_scale,
    .clamp = ops_clamp,
    .norm_acc = ops_norm_acc,
    .find_nonfinite = ops_find_nonfinite,
    .count_correct = ops_count_correct,
#if NN_ABI_MINOR >= 5 /* the pack builds against SDK 0.4 and 0.5 alike */
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
#endif
#if NN_ABI_MINOR >= 11
    .mem_live = ops_mem_live,
#endif
};
