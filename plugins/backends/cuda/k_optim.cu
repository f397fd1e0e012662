/* k_optim.cu: every optimizer step of the pack in one launch for all parameters (a table in
 * device memory says which blocks work on which parameter). Compiled with -fmad=false: each
 * update is the CPU plugin's float expression, operation for operation, so values and slots
 * match the CPU plugins to the bit. Slots: sgd s0 = momentum_buffer; adam(w) s0 = exp_avg,
 * s1 = exp_avg_sq, s2 = max_exp_avg_sq; rmsprop s0 = square_avg, s1 = momentum_buffer,
 * s2 = grad_avg (NULL when absent); adagrad s0 = sum. */
#include "k_util.cuh"

__host__ __device__ static void update(const k_optim &a, const k_opt_param *p, int64_t i)
{
    float *w = p->w, *s0 = p->s[0], *s1 = p->s[1], *s2 = p->s[2];
    const float g = p->g[i], wd = p->wd;
    switch (a.kind) {
    case K_OPT_SGD: {
        float lr = (float)(a.lr * p->lr_mult);
        if (!a.momentum) {
            w[i] -= lr * (g + wd * w[i]);
            break;
        }
        float bm = a.first ? 0.0f : a.mu, bd = a.first ? 1.0f : a.damp1;
        float cd = a.nesterov ? 1.0f : 0.0f, cb = a.nesterov ? a.mu : 1.0f;
        float d = g + wd * w[i];
        float nb = bm * s0[i] + bd * d;
        s0[i] = nb;
        w[i] -= lr * (cd * d + cb * nb);
        break;
    }
    case K_OPT_ADAM:
    case K_OPT_ADAMW: {
        double lr = a.lr * p->lr_mult;
        float step = (float)(lr / a.bc1);
        float d = a.kind == K_OPT_ADAM ? g + wd * w[i] : g;
        float mi = a.b1 * s0[i] + a.c1 * d;
        float vi = a.b2 * s1[i] + a.c2 * d * d;
        s0[i] = mi;
        s1[i] = vi;
        if (a.amsgrad) {
            vi = s2[i] > vi ? s2[i] : vi;
            s2[i] = vi;
        }
        if (a.kind == K_OPT_ADAM) {
            w[i] -= step * mi / (sqrtf(vi) * a.inv_bc2_sqrt + a.eps);
        } else {
            float decay = (float)(1.0 - lr * a.weight_decay * p->wd_mult);
            w[i] = w[i] * decay - step * mi / (sqrtf(vi) * a.inv_bc2_sqrt + a.eps);
        }
        break;
    }
    case K_OPT_RMSPROP: {
        float lr = (float)(a.lr * p->lr_mult);
        float d = g + wd * w[i];
        float s = a.b1 * s0[i] + a.c1 * d * d;
        s0[i] = s;
        float var = s;
        if (s2) {
            float gi = a.b1 * s2[i] + a.c1 * d;
            s2[i] = gi;
            var = s - gi * gi;
        }
        float q = d / (sqrtf(var) + a.eps);
        if (s1) {
            q = a.mu * s1[i] + q;
            s1[i] = q;
        }
        w[i] -= lr * q;
        break;
    }
    default: { /* adagrad */
        float clr = (float)(a.lr * p->lr_mult / a.lr_div);
        float keep = a.first ? 0.0f : 1.0f;
        float d = g + wd * w[i];
        float s = (keep * s0[i] + a.base) + d * d;
        s0[i] = s;
        w[i] -= clr * d / (sqrtf(s) + a.eps);
    }
    }
}

__global__ void k_optim_run(k_optim a)
{
    int lo = 0, hi = a.n_params - 1;
    while (lo < hi) { /* the last parameter whose first block is at or before this one */
        int mid = (lo + hi + 1) / 2;
        if (a.params[mid].block0 <= (int64_t)blockIdx.x)
            lo = mid;
        else
            hi = mid - 1;
    }
    const k_opt_param *p = &a.params[lo];
    int64_t start = ((int64_t)blockIdx.x - p->block0) * K_OPT_PER_BLOCK;
    int64_t end = start + K_OPT_PER_BLOCK < p->n ? start + K_OPT_PER_BLOCK : p->n;
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x)
        update(a, p, i);
}

/* the same updates on the host, parameter by parameter (a.params is a host table): the
 * kernel's code checked against the CPU plugins without a GPU */
extern "C" void k_optim_host(const k_optim *a)
{
    for (int k = 0; k < a->n_params; k++)
        for (int64_t i = 0; i < a->params[k].n; i++)
            update(*a, &a->params[k], i);
}

extern "C" const void *k_optim_fn(void)
{
    return (const void *)k_optim_run;
}
