/* cu_conv.c: conv1d and conv2d on CUDA through cuDNN, with the CPU plugins' keys, shapes,
 * parameters and initialisers. Algorithms are measured once per problem shape (cuDNN's Find,
 * the fastest deterministic one wins) and kept in the device's algorithm cache; bias and
 * activation run as one kernel after the convolution, the bias gradient as a per-channel sum.
 * cuDNN pads symmetrically only: an asymmetric padding ('same' with an odd total) pads the
 * input explicitly into a workspace first. conv1d is conv2d over [N, C, 1, L]. Never
 * allocates per step. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cu_lib.h"

enum { P_WEIGHT = 0, P_BIAS = 1 };
enum { CU_ALGO_CONV_FWD = 10, CU_ALGO_CONV_BWD_DATA, CU_ALGO_CONV_BWD_FILTER };
#define CU_FIND_WORKSPACE ((size_t)64 << 20)

typedef struct cu_conv {
    int sp; /* spatial dims: 1 or 2 */
    const char *kind, *name;
    int64_t filters, groups, kernel[2], stride[2], dilation[2];
    int64_t cfg_pad[2];          /* the 'padding' key's values (unless same) */
    int64_t pad_l[2], pad_r[2];  /* [top, left] and [bottom, right] as setup resolved them */
    int same, bias, act; /* bias: 0 none, 1 fan_in, 2 zeros */
    nn_init winit;
    int training;
    int64_t n, c, h, w, oh, ow; /* [N, C, H, W], conv1d as H = 1 */
    int pad_in;                 /* the input is padded explicitly into x_padded */
    int64_t hp, wp;             /* its padded extents */
    int b_xp, b_dxp, b_z, b_dz; /* buffer indices, -1 when absent */
    cu_dev *dev;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int fwd_algo, bwd_data_algo, bwd_filter_algo;
    int has_bwd_data, has_bwd_filter;
    size_t ws;
    int ready;
} cu_conv;

static int conv_create(int sp, const nn_params *p, void **self, nn_error *err)
{
    cu_conv c = {.sp = sp, .kind = sp == 1 ? "conv1d" : "conv2d"};
    c.filters = nn_params_int(p, "filters");
    c.groups = nn_params_int(p, "groups");
    c.act = nn_params_enum(p, "activation");
    c.winit = nn_stock_weight_init(nn_params_enum(p, "weight_init"));
    c.bias = nn_params_bool(p, "bias") ? (nn_params_enum(p, "bias_init") == 1 ? 2 : 1) : 0;
    int rc;
    if ((rc = nn_stock_int_list(p, "kernel", sp, c.kernel, c.kind, err)) ||
        (rc = nn_stock_int_list(p, "stride", sp, c.stride, c.kind, err)) ||
        (rc = nn_stock_int_list(p, "dilation", sp, c.dilation, c.kind, err)) ||
        (rc = nn_stock_conv_padding(p, sp, c.kind, &c.same, c.cfg_pad, err)))
        return rc;
    if (c.filters % c.groups)
        return nn_error_set(err, NN_EINVAL, "%s: %s: key 'groups' = %lld must divide "
                            "'filters' = %lld", nn_params_origin(p), c.kind,
                            (long long)c.groups, (long long)c.filters);
    cu_conv *cv = malloc(sizeof *cv);
    if (!cv)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", c.kind);
    *cv = c;
    cv->name = cv->kind;
    cv->b_xp = cv->b_dxp = cv->b_z = cv->b_dz = -1;
    *self = cv;
    return NN_OK;
}

static int conv1d_create(const nn_params *p, void **self, nn_error *err)
{
    return conv_create(1, p, self, err);
}

static int conv2d_create(const nn_params *p, void **self, nn_error *err)
{
    return conv_create(2, p, self, err);
}

static void free_descriptors(cu_conv *cv)
{
    if (cv->xd)
        cudnnDestroyTensorDescriptor(cv->xd);
    if (cv->yd)
        cudnnDestroyTensorDescriptor(cv->yd);
    if (cv->wd)
        cudnnDestroyFilterDescriptor(cv->wd);
    if (cv->cd)
        cudnnDestroyConvolutionDescriptor(cv->cd);
    cv->xd = cv->yd = NULL;
    cv->wd = NULL;
    cv->cd = NULL;
    cv->ready = 0;
}

static void conv_destroy(void *self)
{
    cu_conv *cv = self;
    if (cv->dev)
        cu_forget_graphs(cv->dev); /* they name this layer's descriptors */
    free_descriptors(cv);
    free(cv);
}

static int conv_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    cu_conv *cv = self;
    const char *L = cv->name = cu_name(s->layer_name, cv->kind);
    char buf[96];
    int sp = cv->sp;
    cv->training = s->training;
    if (!cu_dev_of(s->device, 0, L, err))
        return NN_EINVAL;
    if (s->n_inputs != 1)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s takes 1 input, got %d", L, cv->kind,
                            s->n_inputs);
    const nn_tensor *x = s->inputs[0];
    if (x->dl.ndim != 2 + sp)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': %s expects a %s input, got %s", L,
                            cv->kind, sp == 1 ? "[N, C, L]" : "[N, C, H, W]",
                            nn_shape_str(x, buf, sizeof buf));
    if (nn_tensor_dtype(x) != NN_F32)
        return nn_error_set(err, NN_EINVAL, "layer '%s': %s supports float32 (F32) input only",
                            L, cv->kind);
    int64_t n = x->shape[0], ci = x->shape[1];
    if (ci % cv->groups)
        return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s has %lld channels, not "
                            "divisible by groups = %lld", L, nn_shape_str(x, buf, sizeof buf),
                            (long long)ci, (long long)cv->groups);
    int64_t oshape[4] = {n, cv->filters, 0, 0}, ksz = 1, pl[2], pr[2];
    for (int i = 0; i < sp; i++) {
        int64_t in = x->shape[2 + i], k = cv->kernel[i], st = cv->stride[i];
        int64_t span = (k - 1) * cv->dilation[i] + 1;
        if (cv->same) {
            int64_t out = (in + st - 1) / st, tot = (out - 1) * st + span - in;
            if (tot < 0)
                tot = 0;
            pl[i] = tot / 2;
            pr[i] = tot - tot / 2;
        } else {
            pl[i] = pr[i] = cv->cfg_pad[i];
        }
        int64_t avail = in + pl[i] + pr[i] - span;
        if (avail < 0)
            return nn_error_set(err, NN_ESHAPE, "layer '%s': input %s is smaller than the %s "
                                "kernel span %lld (kernel %lld, dilation %lld) plus padding "
                                "%lld+%lld", L, nn_shape_str(x, buf, sizeof buf), cv->kind,
                                (long long)span, (long long)k, (long long)cv->dilation[i],
                                (long long)pl[i], (long long)pr[i]);
        oshape[2 + i] = avail / st + 1;
        /* the right padding the output size actually uses */
        int64_t used = (oshape[2 + i] - 1) * st + span - in - pl[i];
        pr[i] = used > 0 ? used : 0;
        ksz *= k;
    }
    nn_tensor_describe(&s->output, NN_F32, 2 + sp, oshape);
    int64_t wshape[4] = {cv->filters, ci / cv->groups, cv->kernel[0], cv->kernel[1]};
    int64_t fan_in = ci / cv->groups * ksz, fan_out = cv->filters * ksz;
    if (nn_layer_add_param(s, "weight", 2 + sp, wshape, cv->winit, fan_in, fan_out, 0) !=
            P_WEIGHT ||
        (cv->bias && nn_layer_add_param(s, "bias", 1, &cv->filters,
                                        cv->bias == 2 ? NN_INIT_ZEROS : NN_INIT_FAN_IN_UNIFORM,
                                        fan_in, fan_out, NN_TENSOR_BIAS) != P_BIAS))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': could not declare parameters", L);
    s->flops = (uint64_t)(2 * nn_shape_numel(2 + sp, oshape) * fan_in);
    /* [N, C, H, W] as cuDNN sees it; conv1d is one row high */
    cv->n = n;
    cv->c = ci;
    cv->h = sp == 2 ? x->shape[2] : 1;
    cv->w = x->shape[1 + sp];
    cv->oh = sp == 2 ? oshape[2] : 1;
    cv->ow = oshape[1 + sp];
    int64_t top = sp == 2 ? pl[0] : 0, left = pl[sp - 1];
    int64_t bottom = sp == 2 ? pr[0] : 0, right = pr[sp - 1];
    cv->pad_in = top != bottom || left != right;
    cv->pad_l[0] = top;
    cv->pad_l[1] = left;
    cv->pad_r[0] = bottom;
    cv->pad_r[1] = right;
    cv->hp = cv->h + top + bottom;
    cv->wp = cv->w + left + right;
    int64_t xp[4] = {n, ci, cv->hp, cv->wp}, y4[4] = {n, cv->filters, cv->oh, cv->ow};
    cv->b_xp = cv->b_dxp = cv->b_z = cv->b_dz = -1;
    if (cv->pad_in) {
        if ((cv->b_xp = nn_layer_add_buffer(s, "x_padded", NN_BUF_WORKSPACE, NN_F32, 4, xp)) < 0 ||
            (s->training && (cv->b_dxp = nn_layer_add_buffer(s, "dx_padded", NN_BUF_WORKSPACE,
                                                             NN_F32, 4, xp)) < 0))
            return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers", L);
    }
    if ((s->training && cv->act == K_ACT_GELU &&
         (cv->b_z = nn_layer_add_buffer(s, "pre_activation", NN_BUF_SAVED, NN_F32, 4, y4)) < 0) ||
        (s->training && cv->act != K_ACT_NONE &&
         (cv->b_dz = nn_layer_add_buffer(s, "grad_pre_activation", NN_BUF_WORKSPACE, NN_F32, 4,
                                         y4)) < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers", L);
    return NN_OK;
}

#define DNN_TRY(err, who, what, call)                                                    \
    do {                                                                                 \
        cudnnStatus_t st_ = (call);                                                      \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                 \
            return cu_cudnn_fail((err), st_, (who), (what));                             \
    } while (0)

static int make_descriptors(cu_conv *cv, nn_error *err)
{
    const char *L = cv->name;
    cudnnMathType_t math = cv->dev->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    DNN_TRY(err, L, "cudnnCreateTensorDescriptor", cudnnCreateTensorDescriptor(&cv->xd));
    DNN_TRY(err, L, "cudnnCreateTensorDescriptor", cudnnCreateTensorDescriptor(&cv->yd));
    DNN_TRY(err, L, "cudnnCreateFilterDescriptor", cudnnCreateFilterDescriptor(&cv->wd));
    DNN_TRY(err, L, "cudnnCreateConvolutionDescriptor",
            cudnnCreateConvolutionDescriptor(&cv->cd));
    int64_t xh = cv->pad_in ? cv->hp : cv->h, xw = cv->pad_in ? cv->wp : cv->w;
    DNN_TRY(err, L, "describing the input",
            cudnnSetTensor4dDescriptor(cv->xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)cv->n,
                                       (int)cv->c, (int)xh, (int)xw));
    DNN_TRY(err, L, "describing the output",
            cudnnSetTensor4dDescriptor(cv->yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)cv->n,
                                       (int)cv->filters, (int)cv->oh, (int)cv->ow));
    int kh = cv->sp == 2 ? (int)cv->kernel[0] : 1, kw = (int)cv->kernel[cv->sp - 1];
    DNN_TRY(err, L, "describing the weights",
            cudnnSetFilter4dDescriptor(cv->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                       (int)cv->filters, (int)(cv->c / cv->groups), kh, kw));
    int ph = cv->pad_in ? 0 : (int)cv->pad_l[0], pw = cv->pad_in ? 0 : (int)cv->pad_l[1];
    int sh = cv->sp == 2 ? (int)cv->stride[0] : 1, sw = (int)cv->stride[cv->sp - 1];
    int dh = cv->sp == 2 ? (int)cv->dilation[0] : 1, dw = (int)cv->dilation[cv->sp - 1];
    DNN_TRY(err, L, "describing the convolution",
            cudnnSetConvolution2dDescriptor(cv->cd, ph, pw, sh, sw, dh, dw,
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_TRY(err, L, "cudnnSetConvolutionGroupCount",
            cudnnSetConvolutionGroupCount(cv->cd, (int)cv->groups));
    DNN_TRY(err, L, "cudnnSetConvolutionMathType", cudnnSetConvolutionMathType(cv->cd, math));
    int on, oc, oh, ow;
    DNN_TRY(err, L, "cudnnGetConvolution2dForwardOutputDim",
            cudnnGetConvolution2dForwardOutputDim(cv->cd, cv->xd, cv->wd, &on, &oc, &oh, &ow));
    if (on != cv->n || oc != cv->filters || oh != cv->oh || ow != cv->ow)
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': cuDNN computes a %dx%dx%dx%d output "
                            "where the layer declared %lldx%lldx%lldx%lld", L, on, oc, oh, ow,
                            (long long)cv->n, (long long)cv->filters, (long long)cv->oh,
                            (long long)cv->ow);
    return NN_OK;
}

/* the problem, as the algorithm cache knows it */
static void conv_key(const cu_conv *cv, int kind, cu_algo_key *k)
{
    int64_t v[] = {cv->n, cv->c, cv->pad_in ? cv->hp : cv->h, cv->pad_in ? cv->wp : cv->w,
                   cv->filters, cv->kernel[0], cv->kernel[cv->sp - 1], cv->pad_in ? 0 : cv->pad_l[0],
                   cv->pad_in ? 0 : cv->pad_l[1], cv->stride[0], cv->stride[cv->sp - 1],
                   cv->dilation[0], cv->dilation[cv->sp - 1], cv->groups, cv->sp, cv->dev->tf32};
    cu_algo_key_make(k, kind, (int)(sizeof v / sizeof *v), v);
}

/* the fastest deterministic result of a Find (the fastest at all when none is) */
#define PICK(perf, n, out_algo, out_mem)                                                 \
    do {                                                                                 \
        int best_ = -1;                                                                  \
        for (int i_ = 0; i_ < (n); i_++)                                                 \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS &&                             \
                (perf)[i_].determinism == CUDNN_DETERMINISTIC) {                         \
                best_ = i_;                                                              \
                break;                                                                   \
            }                                                                            \
        for (int i_ = 0; best_ < 0 && i_ < (n); i_++)                                    \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS)                               \
                best_ = i_;                                                              \
        if (best_ < 0)                                                                   \
            return nn_error_set(err, NN_ENOTSUP, "layer '%s': cuDNN has no algorithm for " \
                                "this convolution", cv->name);                           \
        (out_algo) = (int)(perf)[best_].algo;                                            \
        (out_mem) = (perf)[best_].memory;                                                \
    } while (0)

static int find_algos(cu_conv *cv, const nn_layer_io *io, const void *x, const void *w,
                      void *y, void *dx, const void *dy, void *dw, nn_error *err)
{
    cu_dev *d = cv->dev;
    cudnnHandle_t h = cu_cudnn(d, err);
    if (!h)
        return err->status;
    (void)io;
    void *ws = cu_workspace(d, CU_FIND_WORKSPACE, err);
    if (!ws)
        return err->status;
    int rc = cu_issue_flush(&d->issue, err); /* Find runs on the stream, after what is pending */
    if (rc)
        return rc;
    cu_algo_key k;
    const cu_algo_entry *e;
    int n;
    size_t mem = 0, need = 0;
    conv_key(cv, CU_ALGO_CONV_FWD, &k);
    if ((e = cu_algo_find(&d->algos, &k))) {
        memcpy(&cv->fwd_algo, e->value, sizeof cv->fwd_algo);
        mem = e->workspace;
    } else {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        DNN_TRY(err, cv->name, "cudnnFindConvolutionForwardAlgorithmEx",
                cudnnFindConvolutionForwardAlgorithmEx(h, cv->xd, x, cv->wd, w, cv->cd, cv->yd,
                                                       y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                                       perf, ws, CU_FIND_WORKSPACE));
        PICK(perf, n, cv->fwd_algo, mem);
        cu_algo_put(&d->algos, &k, &cv->fwd_algo, sizeof cv->fwd_algo, mem);
    }
    need = mem;
    if (cv->has_bwd_filter) {
        conv_key(cv, CU_ALGO_CONV_BWD_FILTER, &k);
        if ((e = cu_algo_find(&d->algos, &k))) {
            memcpy(&cv->bwd_filter_algo, e->value, sizeof cv->bwd_filter_algo);
            mem = e->workspace;
        } else {
            cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
            DNN_TRY(err, cv->name, "cudnnFindConvolutionBackwardFilterAlgorithmEx",
                    cudnnFindConvolutionBackwardFilterAlgorithmEx(
                        h, cv->xd, x, cv->yd, dy, cv->cd, cv->wd, dw,
                        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, ws,
                        CU_FIND_WORKSPACE));
            PICK(perf, n, cv->bwd_filter_algo, mem);
            cu_algo_put(&d->algos, &k, &cv->bwd_filter_algo, sizeof cv->bwd_filter_algo, mem);
        }
        need = mem > need ? mem : need;
    }
    if (cv->has_bwd_data) {
        conv_key(cv, CU_ALGO_CONV_BWD_DATA, &k);
        if ((e = cu_algo_find(&d->algos, &k))) {
            memcpy(&cv->bwd_data_algo, e->value, sizeof cv->bwd_data_algo);
            mem = e->workspace;
        } else {
            cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
            DNN_TRY(err, cv->name, "cudnnFindConvolutionBackwardDataAlgorithmEx",
                    cudnnFindConvolutionBackwardDataAlgorithmEx(
                        h, cv->wd, w, cv->yd, dy, cv->cd, cv->xd, dx,
                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, ws, CU_FIND_WORKSPACE));
            PICK(perf, n, cv->bwd_data_algo, mem);
            cu_algo_put(&d->algos, &k, &cv->bwd_data_algo, sizeof cv->bwd_data_algo, mem);
        }
        need = mem > need ? mem : need;
    }
    cv->ws = need;
    /* Find left the stream busy with its trial runs */
    cudaError_t ce = cudaStreamSynchronize(d->stream);
    cu_issue_sync_point(&d->issue);
    return ce ? cu_fail(err, ce, cv->name, "waiting for cuDNN's algorithm search") : NN_OK;
}

/* the input cuDNN reads: x itself, or x padded into the workspace (padded now) */
static int conv_input(cu_conv *cv, const nn_layer_io *io, const float **x, nn_error *err)
{
    cu_dev *d = cv->dev;
    CU_TENSOR(*x, d, io->inputs[0], NN_F32, cv->name, "input", err);
    if (!cv->pad_in)
        return NN_OK;
    float *xp;
    CU_TENSOR(xp, d, io->buffers[cv->b_xp], NN_F32, cv->name, "x_padded", err);
    k_pad a = {.src = *x, .dst = xp, .planes = cv->n * cv->c, .h = cv->h, .w = cv->w,
               .hp = cv->hp, .wp = cv->wp, .top = cv->pad_l[0], .left = cv->pad_l[1]};
    *x = xp;
    return cu_launch_n(d, cv->name, k_eltwise_fn(K_ELT_PAD), a.planes * cv->hp * cv->wp, &a,
                       sizeof a, err);
}

static int conv_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_conv *cv = self;
    const char *L = cv->name;
    cu_dev *d = cu_dev_of(io->device, 1, L, err);
    if (!d)
        return NN_EINVAL;
    cu_forget_graphs(d);
    free_descriptors(cv);
    cv->dev = d;
    int rc = make_descriptors(cv, err);
    if (rc)
        return rc;
    const float *x, *w, *dy = NULL;
    float *y, *dw = NULL, *dx = NULL;
    if ((rc = conv_input(cv, io, &x, err)))
        return rc;
    CU_TENSOR(w, d, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    CU_TENSOR(y, d, io->output, NN_F32, L, "output", err);
    cv->has_bwd_filter = cv->training && io->grad_output && io->param_grads[P_WEIGHT];
    cv->has_bwd_data = cv->has_bwd_filter && io->grad_inputs[0];
    if (cv->has_bwd_filter) {
        CU_TENSOR(dy, d, io->grad_output, NN_F32, L, "output gradient", err);
        CU_TENSOR(dw, d, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    }
    if (cv->has_bwd_data)
        CU_TENSOR(dx, d, cv->pad_in ? io->buffers[cv->b_dxp] : io->grad_inputs[0], NN_F32, L,
                  "input gradient", err);
    if ((rc = find_algos(cv, io, x, w, y, dx, dy, dw, err)))
        return rc;
    if (cv->ws && !cu_workspace(d, cv->ws, err))
        return err->status;
    cv->ready = 1;
    return NN_OK;
}

/* one cuDNN convolution call, deferred with everything it needs */
enum { CONV_FWD = 0, CONV_BWD_DATA, CONV_BWD_FILTER };
typedef struct conv_call {
    int32_t dir, algo;
    cudnnHandle_t h;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    const void *in0, *in1; /* fwd: x, w; bwd data: w, dy; bwd filter: x, dy */
    void *out;             /* y, dx, dw */
    void *ws;
    size_t ws_bytes;
    float alpha, beta;
} conv_call;

static int conv_exec(void *ctx, const void *payload, nn_error *err)
{
    cu_dev *d = ctx;
    const conv_call *c = payload;
    cudnnStatus_t st;
    if (c->dir == CONV_FWD)
        st = cudnnConvolutionForward(c->h, &c->alpha, c->xd, c->in0, c->wd, c->in1, c->cd,
                                     (cudnnConvolutionFwdAlgo_t)c->algo, c->ws, c->ws_bytes,
                                     &c->beta, c->yd, c->out);
    else if (c->dir == CONV_BWD_DATA)
        st = cudnnConvolutionBackwardData(c->h, &c->alpha, c->wd, c->in0, c->yd, c->in1, c->cd,
                                          (cudnnConvolutionBwdDataAlgo_t)c->algo, c->ws,
                                          c->ws_bytes, &c->beta, c->xd, c->out);
    else
        st = cudnnConvolutionBackwardFilter(c->h, &c->alpha, c->xd, c->in0, c->yd, c->in1, c->cd,
                                            (cudnnConvolutionBwdFilterAlgo_t)c->algo, c->ws,
                                            c->ws_bytes, &c->beta, c->wd, c->out);
    return st == CUDNN_STATUS_SUCCESS ? NN_OK : cu_cudnn_fail(err, st, d->name, "a convolution");
}

static int conv_run(cu_conv *cv, int dir, int algo, const void *in0, const void *in1, void *out,
                    nn_error *err)
{
    cu_dev *d = cv->dev;
    conv_call c;
    memset(&c, 0, sizeof c); /* every byte is compared to recognise the call in a graph */
    c.dir = dir;
    c.algo = algo;
    c.h = d->cudnn;
    c.xd = cv->xd;
    c.yd = cv->yd;
    c.wd = cv->wd;
    c.cd = cv->cd;
    c.in0 = in0;
    c.in1 = in1;
    c.out = out;
    c.ws = cv->ws ? d->ws : NULL;
    c.ws_bytes = cv->ws;
    c.alpha = 1.0f;
    c.beta = 0.0f;
    return cu_issue_lib(&d->issue, cv->name, conv_exec, &c, sizeof c, err);
}

static int conv_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_conv *cv = self;
    const char *L = cv->name;
    int rc;
    if (!cv->ready && (rc = conv_bind(self, io, err)))
        return rc;
    cu_dev *d = cv->dev;
    const float *x, *w, *b = NULL;
    float *y, *z = NULL;
    if ((rc = conv_input(cv, io, &x, err)))
        return rc;
    CU_TENSOR(w, d, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    CU_TENSOR(y, d, io->output, NN_F32, L, "output", err);
    if (cv->bias)
        CU_TENSOR(b, d, io->params[P_BIAS], NN_F32, L, "bias", err);
    if (cv->b_z >= 0 && io->buffers[cv->b_z])
        CU_TENSOR(z, d, io->buffers[cv->b_z], NN_F32, L, "pre_activation", err);
    float *dst = z ? z : y;
    if ((rc = conv_run(cv, CONV_FWD, cv->fwd_algo, x, w, dst, err)))
        return rc;
    if (!b && cv->act == K_ACT_NONE)
        return NN_OK;
    k_act a = {.x = dst, .out = y, .z = z, .bias = b, .n = nn_tensor_numel(io->output),
               .inner = cv->oh * cv->ow, .channels = cv->filters, .act = cv->act};
    return cu_act(d, L, &a, err);
}

static int conv_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    cu_conv *cv = self;
    const char *L = cv->name;
    if (!cv->training)
        return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan set up for "
                            "inference", L);
    int rc;
    if ((!cv->ready || !cv->has_bwd_filter) && (rc = conv_bind(self, io, err)))
        return rc;
    if (io->grad_inputs[0] && !cv->has_bwd_data)
        return nn_error_set(err, NN_EINVAL, "layer '%s': an input gradient was asked for but "
                            "the plan bound none", L);
    cu_dev *d = cv->dev;
    const float *x, *w, *dy;
    float *dw, *db = NULL;
    CU_TENSOR(w, d, io->params[P_WEIGHT], NN_F32, L, "weight", err);
    CU_TENSOR(dy, d, io->grad_output, NN_F32, L, "output gradient", err);
    CU_TENSOR(dw, d, io->param_grads[P_WEIGHT], NN_F32, L, "weight gradient", err);
    if (cv->bias)
        CU_TENSOR(db, d, io->param_grads[P_BIAS], NN_F32, L, "bias gradient", err);
    const float *dz = dy;
    if (cv->act != K_ACT_NONE) {
        float *g;
        if (cv->b_dz < 0 || !io->buffers[cv->b_dz])
            return nn_error_set(err, NN_EINVAL, "layer '%s': backward called on a plan built "
                                "without training buffers", L);
        CU_TENSOR(g, d, io->buffers[cv->b_dz], NN_F32, L, "grad_pre_activation", err);
        k_act a = {.g = dy, .out = g, .n = nn_tensor_numel(io->output), .act = cv->act,
                   .backward = 1};
        if (cv->act == K_ACT_GELU)
            CU_TENSOR(a.x, d, io->buffers[cv->b_z], NN_F32, L, "pre_activation", err);
        else
            CU_TENSOR(a.y, d, io->output, NN_F32, L, "output", err);
        if (cv->act == K_ACT_RELU)
            a.x = a.y;
        if ((rc = cu_act(d, L, &a, err)))
            return rc;
        dz = g;
    }
    if (db) {
        k_chansum c = {.x = dz, .out = db, .n = cv->n, .channels = cv->filters,
                       .inner = cv->oh * cv->ow};
        if ((rc = cu_launch(d, L, k_eltwise_fn(K_ELT_CHANSUM), (uint32_t)cv->filters, K_REDUCE,
                            &c, sizeof c, err)))
            return rc;
    }
    if ((rc = conv_input(cv, io, &x, err)) ||
        (rc = conv_run(cv, CONV_BWD_FILTER, cv->bwd_filter_algo, x, dz, dw, err)))
        return rc;
    if (!io->grad_inputs[0])
        return NN_OK;
    float *dx;
    CU_TENSOR(dx, d, io->grad_inputs[0], NN_F32, L, "input gradient", err);
    if (!cv->pad_in)
        return conv_run(cv, CONV_BWD_DATA, cv->bwd_data_algo, w, dz, dx, err);
    float *dxp;
    CU_TENSOR(dxp, d, io->buffers[cv->b_dxp], NN_F32, L, "dx_padded", err);
    if ((rc = conv_run(cv, CONV_BWD_DATA, cv->bwd_data_algo, w, dz, dxp, err)))
        return rc;
    k_pad a = {.src = dxp, .dst = dx, .planes = cv->n * cv->c, .h = cv->h, .w = cv->w,
               .hp = cv->hp, .wp = cv->wp, .top = cv->pad_l[0], .left = cv->pad_l[1], .crop = 1};
    return cu_launch_n(d, L, k_eltwise_fn(K_ELT_PAD), a.planes * cv->h * cv->w, &a, sizeof a,
                       err);
}

/* ---- schemas: the stock keys (<nntrain/stock_params.h>), as the CPU plugins' ---------------- */

static const nn_param_spec conv1d_params[] = {NN_STOCK_CONV1D_PARAMS, {.name = NULL}};
static const nn_param_spec conv2d_params[] = {NN_STOCK_CONV2D_PARAMS, {.name = NULL}};

#define CU_CONV_VTABLE(nm)                                                               \
    static const nn_layer_vtable nm##_vtable = {                                         \
        .struct_size = sizeof(nn_layer_vtable),                                          \
        .create = nm##_create,                                                           \
        .destroy = conv_destroy,                                                         \
        .setup = conv_setup,                                                             \
        .bind = conv_bind,                                                               \
        .forward = conv_forward,                                                         \
        .backward = conv_backward,                                                       \
    }
CU_CONV_VTABLE(conv1d);
CU_CONV_VTABLE(conv2d);

CU_LAYER_DESC(conv1d, "1-D convolution [N, C, L] -> [N, filters, L'] on CUDA (cuDNN), optional "
                      "fused activation", conv1d_params);
CU_LAYER_DESC(conv2d, "2-D convolution [N, C, H, W] -> [N, filters, H', W'] on CUDA (cuDNN), "
                      "optional fused activation", conv2d_params);
