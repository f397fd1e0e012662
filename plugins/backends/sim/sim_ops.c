/* sim_ops.c: the device math the core asks of a backend (nn_device_ops in backend.h): sums,
 * scaling, clamping, norms, the first non-finite element and accuracy counts, on device
 * memory. Each follows the header's contract to the letter, NaN propagation and the CPU's tie
 * rules included, because the core's answers must not depend on the device. */
#include <math.h>

#include "sim.h"

/* the F32 data of x and its element count, or NULL */
static float *f32(sim_dev *d, const nn_tensor *x, const char *op, const char *role,
                  int64_t *n, nn_error *err)
{
    float *p = sim_tensor(d, x, NN_F32, op, role, err);
    *n = p ? nn_tensor_numel(x) : 0;
    return p;
}

static int ops_add(void *self, nn_tensor *y, const nn_tensor *x, nn_error *err)
{
    int64_t ny, nx;
    float *Y = f32(self, y, "add", "y", &ny, err);
    const float *X = Y ? f32(self, x, "add", "x", &nx, err) : NULL;
    if (!X)
        return NN_EINVAL;
    if (ny != nx)
        return nn_error_set(err, NN_ESHAPE, "add: y has %lld elements but x %lld",
                            (long long)ny, (long long)nx);
    for (int64_t i = 0; i < ny; i++)
        Y[i] += X[i];
    return NN_OK;
}

static int ops_scale(void *self, nn_tensor *x, float s, nn_error *err)
{
    int64_t n;
    float *X = f32(self, x, "scale", "x", &n, err);
    if (!X)
        return NN_EINVAL;
    for (int64_t i = 0; i < n; i++)
        X[i] *= s;
    return NN_OK;
}

static int ops_clamp(void *self, nn_tensor *x, float lo, float hi, nn_error *err)
{
    int64_t n;
    float *X = f32(self, x, "clamp", "x", &n, err);
    if (!X)
        return NN_EINVAL;
    /* NaN compares false both ways and so stays NaN, as on the host */
    for (int64_t i = 0; i < n; i++)
        X[i] = X[i] < lo ? lo : (X[i] > hi ? hi : X[i]);
    return NN_OK;
}

static int ops_norm_acc(void *self, const nn_tensor *x, int inf, double *acc, nn_error *err)
{
    sim_dev *d = self;
    int64_t n;
    const float *X = f32(d, x, "norm_acc", "x", &n, err);
    double *A = X ? sim_mem_bytes(d, acc, sizeof *acc, "norm_acc accumulator", err) : NULL;
    if (!A)
        return NN_EINVAL;
    double a = *A;
    for (int64_t i = 0; i < n; i++) {
        double v = X[i];
        if (inf)
            a = (fabs(v) > a || isnan(v)) ? fabs(v) : a;
        else
            a += v * v;
    }
    *A = a;
    return NN_OK;
}

static int ops_find_nonfinite(void *self, const nn_tensor *x, int64_t *index, nn_error *err)
{
    int64_t n;
    const float *X = f32(self, x, "find_nonfinite", "x", &n, err);
    *index = -1;
    if (!X)
        return NN_EINVAL;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(X[i])) {
            *index = i;
            break;
        }
    return NN_OK;
}

static int ops_count_correct(void *self, const nn_tensor *pred, const nn_tensor *target,
                             int64_t rows, int top_k, double *out, nn_error *err)
{
    sim_dev *d = self;
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
    const float *P = sim_tensor(d, pred, NN_F32, "count_correct", "pred", err);
    const void *T = P ? sim_tensor(d, target, -1, "count_correct", "target", err) : NULL;
    double *O = T ? sim_mem_bytes(d, out, 2 * sizeof *out, "count_correct output", err) : NULL;
    if (!O)
        return NN_EINVAL;
    int64_t correct = 0, in_top = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = P + r * C;
        int64_t best = nn_argmax_first(row, C);
        int64_t t = soft ? nn_argmax_first((const float *)T + r * C, C)
                         : ((const int32_t *)T)[r];
        if (t < 0 || t >= C)
            continue;
        correct += best == t;
        /* rank by the scores strictly above the class's own, as the CPU's metrics do */
        int64_t above = 0;
        for (int64_t c = 0; c < C; c++)
            above += row[c] > row[t];
        in_top += above < top_k;
    }
    O[0] = (double)correct;
    if (top_k > 0)
        O[1] = (double)in_top;
    return NN_OK;
}

/* the blocks sim_mem.c holds for this device */
static int ops_mem_live(void *self, int64_t *blocks, int64_t *bytes)
{
    const sim_dev *d = self;
    int64_t sum = 0;
    for (int i = 0; i < d->n_blocks; i++)
        sum += (int64_t)d->blocks[i].size;
    *blocks = d->n_blocks;
    *bytes = sum;
    return NN_OK;
}

const nn_device_ops sim_device_ops = {
    .struct_size = sizeof(nn_device_ops),
    .mem_live = ops_mem_live,
    .add = ops_add,
    .scale = ops_scale,
    .clamp = ops_clamp,
    .norm_acc = ops_norm_acc,
    .find_nonfinite = ops_find_nonfinite,
    .count_correct = ops_count_correct,
    .host_alloc = sim_host_alloc,
    .host_free = sim_host_free,
};
