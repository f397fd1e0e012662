/* k_loss.cu: the losses. Class losses (cross-entropy with weights and label smoothing, NLL)
 * work per row in double as the CPU plugins do, then one block reduces the batch in a fixed
 * order and writes the F32 loss into loss_out; elementwise losses (mse, l1, huber,
 * bce_with_logits) sum per block, then one block adds the partials. A class id out of range
 * makes the loss NaN and is recorded for the host (never a silent wrong value). */
#include "k_util.cuh"

__device__ static double class_w(const k_class_loss *a, int64_t k)
{
    return a->weight ? a->weight[k] : 1.0;
}

__global__ void k_class_rows(k_class_loss a)
{
    double *lse_ = a.ws, *wy_ = a.ws + a.rows, *loss_ = a.ws + 2 * a.rows,
           *state = a.ws + 3 * a.rows;
    K_FOR(r, a.rows)
    {
        int64_t y = a.y[r], c = a.classes;
        const float *x = a.x + r * c;
        lse_[r] = wy_[r] = loss_[r] = 0;
        if (y == a.ignore) {
            state[r] = 1;
            continue;
        }
        if (y < 0 || y >= c) {
            k_report(a.err, a.site, K_ERR_CLASS, (int32_t)y, r, c, 0);
            state[r] = 2;
            loss_[r] = __longlong_as_double(0x7ff8000000000000ll);
            continue;
        }
        state[r] = 0;
        double wy = class_w(&a, y);
        wy_[r] = wy;
        if (a.kind == K_LOSS_NLL) {
            loss_[r] = -wy * x[y];
            continue;
        }
        double m = x[0], s = 0;
        for (int64_t k = 1; k < c; k++)
            m = x[k] > m ? x[k] : m;
        for (int64_t k = 0; k < c; k++)
            s += exp(x[k] - m);
        double lse = m + log(s), e = a.smoothing, smooth = 0;
        if (e > 0)
            for (int64_t k = 0; k < c; k++)
                smooth += class_w(&a, k) * (lse - x[k]);
        lse_[r] = lse;
        loss_[r] = (1 - e) * wy * (lse - x[y]) + e / (double)c * smooth;
    }
}

/* one block: the batch's weighted mean (or sum) into loss_out, the gradient's scale into ws */
__global__ void k_class_reduce(k_class_loss a)
{
    double denom = 0, total = 0;
    for (int64_t r = threadIdx.x; r < a.rows; r += blockDim.x) {
        double st = a.ws[3 * a.rows + r];
        if (st == 1)
            continue;
        denom += a.ws[a.rows + r];
        total += a.ws[2 * a.rows + r];
    }
    denom = k_block_sum(denom);
    total = k_block_sum(total);
    if (threadIdx.x == 0) {
        /* every sample ignored (or weighted 0): loss 0 and no gradient, as the CPU plugins */
        double scale = a.sum ? 1.0 : (denom > 0 ? 1.0 / denom : 0.0);
        a.ws[4 * a.rows] = scale;
        *a.loss_out = (float)(total * scale);
    }
}

__global__ void k_class_grad(k_class_loss a)
{
    const double scale = a.ws[4 * a.rows], e = a.smoothing;
    K_FOR(i, a.rows * a.classes)
    {
        int64_t r = i / a.classes, k = i % a.classes, y = a.y[r];
        double st = a.ws[3 * a.rows + r], wy = a.ws[a.rows + r];
        if (st == 1) {
            a.grad[i] = 0.0f;
            continue;
        }
        if (st == 2) {
            a.grad[i] = __int_as_float(0x7fc00000);
            continue;
        }
        if (a.kind == K_LOSS_NLL) {
            a.grad[i] = k == y ? (float)(-wy * scale) : 0.0f;
            continue;
        }
        double c = (double)a.classes;
        double ca = (1 - e) * wy + e / c * a.weight_sum, cb = e / c;
        double pk = exp(a.x[i] - a.ws[r]);
        float g = (float)(scale * (ca * pk - cb * class_w(&a, k)));
        if (k == y)
            g -= (float)(scale * (1 - e) * wy);
        a.grad[i] = g;
    }
}

__device__ static double softplus(double v)
{
    return (v > 0 ? v : 0) + log1p(exp(-fabs(v)));
}

/* K_REDUCE threads per block; block b's sum into partial[b], the gradient on the way */
__global__ void k_elem_run(k_elem_loss a)
{
    const float s = (float)a.scale, fdelta = (float)a.delta;
    double acc = 0;
    K_FOR(i, a.n)
    {
        double d = (double)a.p[i] - (double)a.t[i];
        float fd = a.p[i] - a.t[i];
        float g;
        switch (a.kind) {
        case K_LOSS_MSE:
            acc += d * d;
            g = 2.0f * s * fd;
            break;
        case K_LOSS_L1:
            acc += fabs(d);
            g = fd > 0.0f ? s : (fd < 0.0f ? -s : 0.0f);
            break;
        case K_LOSS_HUBER: {
            double ad = fabs(d);
            acc += ad <= a.delta ? 0.5 * d * d : a.delta * (ad - 0.5 * a.delta);
            g = s * (fd > fdelta ? fdelta : (fd < -fdelta ? -fdelta : fd));
            break;
        }
        default: {
            double pw = a.n_pos == 0 ? 1.0 : a.pos_weight[a.n_pos == 1 ? 0 : i % a.classes];
            double xi = a.p[i], yi = a.t[i];
            acc += pw * yi * softplus(-xi) + (1 - yi) * softplus(xi);
            double sig = xi >= 0 ? 1.0 / (1.0 + exp(-xi)) : exp(xi) / (1.0 + exp(xi));
            g = (float)(a.scale * (pw * yi * (sig - 1.0) + (1 - yi) * sig));
        }
        }
        if (a.grad)
            a.grad[i] = g;
    }
    double r = k_block_sum(acc);
    if (threadIdx.x == 0)
        a.partial[blockIdx.x] = r;
}

__global__ void k_elem_reduce(k_elem_loss a)
{
    double acc = 0;
    for (int b = threadIdx.x; b < a.blocks; b += blockDim.x)
        acc += a.partial[b];
    double r = k_block_sum(acc);
    if (threadIdx.x == 0)
        *a.loss_out = (float)(r * a.scale);
}

extern "C" const void *k_loss_fn(int which)
{
    switch (which) {
    case K_LOSS_CLASS_ROWS: return (const void *)k_class_rows;
    case K_LOSS_CLASS_REDUCE: return (const void *)k_class_reduce;
    case K_LOSS_CLASS_GRAD: return (const void *)k_class_grad;
    case K_LOSS_ELEM: return (const void *)k_elem_run;
    case K_LOSS_ELEM_REDUCE: return (const void *)k_elem_reduce;
    default: return 0;
    }
}
