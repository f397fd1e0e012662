/* cu_loss.c: the losses of the CUDA pack (cross_entropy with weights, label smoothing and
 * ignore_index; nll; mse; l1; huber; bce_with_logits with pos_weight), with the CPU plugins'
 * keys and refusals. The batch loss goes into the core's loss_out on the device, so the core
 * reads it with the step's other numbers in one synchronisation. A class id out of range is
 * refused at once when nothing else is waiting on the stream (the loss then costs no extra
 * wait), else at the next synchronisation through the error record; the loss is NaN
 * meanwhile, never a silent wrong value. */
#include <stdlib.h>
#include <string.h>

#include "cu_pack.h"

enum { L_CE = 0, L_NLL, L_MSE, L_L1, L_HUBER, L_BCE };
static const char *const loss_names[] = {"cross_entropy", "nll", "mse", "l1", "huber",
                                         "bce_with_logits"};

typedef struct cu_loss {
    int kind, sum, n_w;
    double smoothing, delta, weight_sum;
    int64_t ignore, n, c, classes;
    double *w;          /* class weights or pos_weight, host copy (owned) */
    double *w_dev;      /* on the device, uploaded at the first forward */
    float *scratch_out; /* a device float when the core gives no loss_out */
    int site;
    cu_dev *dev;
} cu_loss;

static int loss_create(int kind, const nn_params *p, const char *wkey, void **self,
                       nn_error *err)
{
    cu_loss *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", loss_names[kind]);
    l->kind = kind;
    l->sum = nn_params_enum(p, "reduction") == 1;
    if (kind == L_CE)
        l->smoothing = nn_params_float(p, "label_smoothing");
    if (kind == L_CE || kind == L_NLL)
        l->ignore = nn_params_int(p, "ignore_index");
    if (kind == L_HUBER)
        l->delta = nn_params_float(p, "delta");
    if (wkey && nn_params_has(p, wkey)) {
        int n = 0;
        const double *w = nn_params_floats(p, wkey, &n);
        if (!(l->w = malloc(sizeof(double) * (size_t)(n ? n : 1)))) {
            free(l);
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", loss_names[kind]);
        }
        memcpy(l->w, w, sizeof(double) * (size_t)n);
        l->n_w = n;
    }
    *self = l;
    return NN_OK;
}

static int ce_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_CE, p, "weight", self, err);
}
static int nll_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_NLL, p, "weight", self, err);
}
static int mse_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_MSE, p, NULL, self, err);
}
static int l1_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_L1, p, NULL, self, err);
}
static int huber_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_HUBER, p, NULL, self, err);
}
static int bce_create(const nn_params *p, void **self, nn_error *err)
{
    return loss_create(L_BCE, p, "pos_weight", self, err);
}

static void loss_destroy(void *self)
{
    cu_loss *l = self;
    if (l->dev) {
        cu_forget_graphs(l->dev);
        cu_alloc_put(&l->dev->alloc, l->w_dev);
        cu_alloc_put(&l->dev->alloc, l->scratch_out);
    }
    free(l->w);
    free(l);
}

static int class_setup(cu_loss *l, nn_loss_setup *s, nn_error *err)
{
    const char *k = loss_names[l->kind];
    char ps[128], ts[128];
    const nn_tensor *p = s->pred, *t = s->target;
    nn_shape_str(p, ps, sizeof ps);
    nn_shape_str(t, ts, sizeof ts);
    if (nn_tensor_dtype(p) != NN_F32 || p->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE, "%s: predictions %s must be F32 %s [N, C]", k, ps,
                            l->kind == L_CE ? "logits" : "log-probabilities");
    if (nn_tensor_dtype(t) == NN_F32 && t->dl.ndim == 2 && t->shape[0] == p->shape[0] &&
        t->shape[1] == p->shape[1])
        return nn_error_set(err, NN_ENOTSUP, "%s: probability targets %s (from mixup or "
                            "cutmix) are not implemented by the CUDA pack yet, only I32 class "
                            "ids [N]; the cpu device takes both", k, ts);
    if (nn_tensor_dtype(t) != NN_I32 || t->dl.ndim != 1 || t->shape[0] != p->shape[0])
        return nn_error_set(err, NN_ESHAPE, "%s: targets %s must be I32 class ids [N] for "
                            "predictions %s", k, ts, ps);
    l->n = p->shape[0];
    l->c = p->shape[1];
    if (l->n_w && l->n_w != l->c)
        return nn_error_set(err, NN_ESHAPE, "%s: key 'weight' has %d values but predictions %s "
                            "have %lld classes", k, l->n_w, ps, (long long)l->c);
    l->weight_sum = 0;
    for (int64_t i = 0; i < l->c; i++)
        l->weight_sum += l->n_w ? l->w[i] : 1.0;
    /* per-row results and the gradient's scale (k_args.h: K_CLASS_WS) */
    nn_buffer_decl *b = &s->buffers[0];
    memset(b, 0, sizeof *b);
    memcpy(b->name, "rows", 5);
    b->kind = NN_BUF_WORKSPACE;
    b->dtype = NN_F64;
    b->ndim = 1;
    b->shape[0] = K_CLASS_WS(l->n);
    s->n_buffers = 1;
    return NN_OK;
}

static int elem_setup(cu_loss *l, nn_loss_setup *s, nn_error *err)
{
    const char *k = loss_names[l->kind];
    char ps[128], ts[128];
    nn_shape_str(s->pred, ps, sizeof ps);
    nn_shape_str(s->target, ts, sizeof ts);
    if (nn_tensor_dtype(s->pred) != NN_F32 || nn_tensor_dtype(s->target) != NN_F32 ||
        !nn_shape_equal(s->pred, s->target) || (l->kind == L_BCE && s->pred->dl.ndim < 1))
        return nn_error_set(err, NN_ESHAPE, "%s: predictions %s and targets %s must be F32 of "
                            "the same shape", k, ps, ts);
    l->n = nn_tensor_numel(s->pred);
    l->classes = s->pred->dl.ndim ? s->pred->shape[s->pred->dl.ndim - 1] : 1;
    if (l->kind == L_BCE && l->n_w > 1 && l->n_w != l->classes)
        return nn_error_set(err, NN_ESHAPE, "bce_with_logits: key 'pos_weight' has %d values but "
                            "predictions %s have %lld classes in their last dimension (give 1 or "
                            "%lld values)", l->n_w, ps, (long long)l->classes,
                            (long long)l->classes);
    return NN_OK;
}

static int loss_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    cu_loss *l = self;
    s->reduction = l->sum ? NN_LOSS_SUM : NN_LOSS_MEAN;
    cu_dev *d = cu_dev_of(s->device, 0, loss_names[l->kind], err);
    if (!d)
        return NN_EINVAL;
    l->site = cu_site(d, "%s", loss_names[l->kind]);
    int rc = l->kind == L_NLL ? nn_stock_nll_check_input(s->pred_layer, s->pred_layer_type, err)
                              : NN_OK;
    if (rc)
        return rc;
    return l->kind <= L_NLL ? class_setup(l, s, err) : elem_setup(l, s, err);
}

/* the device copy of the host doubles (class weights, pos_weight), made once */
static int upload_weights(cu_loss *l, cu_dev *d, nn_error *err)
{
    if (!l->n_w || l->w_dev)
        return NN_OK;
    size_t bytes = sizeof(double) * (size_t)l->n_w;
    int rc = cu_issue_flush(&d->issue, err);
    if (rc)
        return rc;
    if (!(l->w_dev = cu_alloc_get(&d->alloc, bytes, 256)))
        return nn_error_set(err, NN_ENOMEM, "%s: out of device memory for its weights",
                            loss_names[l->kind]);
    cudaError_t e = cudaMemcpyAsync(l->w_dev, l->w, bytes, cudaMemcpyHostToDevice, d->stream);
    if (e)
        return cu_fail(err, e, loss_names[l->kind], "uploading its weights");
    return cu_sync(d, err);
}

static int class_forward(cu_loss *l, cu_dev *d, nn_loss_io *io, float *out, nn_error *err)
{
    const char *k = loss_names[l->kind];
    k_class_loss a = {.rows = l->n, .classes = l->c, .ignore = l->ignore,
                      .smoothing = l->smoothing, .weight_sum = l->weight_sum,
                      .kind = l->kind == L_CE ? K_LOSS_CE : K_LOSS_NLL, .sum = l->sum,
                      .site = l->site, .weight = l->w_dev, .loss_out = out, .err = d->err_dev};
    CU_TENSOR(a.x, d, io->pred, NN_F32, k, "prediction", err);
    CU_TENSOR(a.y, d, io->target, NN_I32, k, "target", err);
    CU_TENSOR(a.ws, d, io->buffers[0], NN_F64, k, "rows", err);
    if (io->grad_pred)
        CU_TENSOR(a.grad, d, io->grad_pred, NN_F32, k, "prediction gradient", err);
    int rc;
    if ((rc = cu_launch_n(d, k, k_loss_fn(K_LOSS_CLASS_ROWS), l->n, &a, sizeof a, err)) ||
        (rc = cu_launch(d, k, k_loss_fn(K_LOSS_CLASS_REDUCE), 1, K_REDUCE, &a, sizeof a, err)))
        return rc;
    return a.grad ? cu_launch_n(d, k, k_loss_fn(K_LOSS_CLASS_GRAD), l->n * l->c, &a, sizeof a,
                                err)
                  : NN_OK;
}

static int elem_forward(cu_loss *l, cu_dev *d, nn_loss_io *io, float *out, nn_error *err)
{
    static const int kinds[] = {[L_MSE] = K_LOSS_MSE, [L_L1] = K_LOSS_L1,
                                [L_HUBER] = K_LOSS_HUBER, [L_BCE] = K_LOSS_BCE};
    const char *k = loss_names[l->kind];
    k_elem_loss a = {.n = l->n, .classes = l->classes ? l->classes : 1, .kind = kinds[l->kind],
                     .scale = l->sum || l->n == 0 ? 1.0 : 1.0 / (double)l->n,
                     .delta = l->delta, .pos_weight = l->w_dev, .n_pos = l->n_w,
                     .loss_out = out, .partial = d->partial};
    CU_TENSOR(a.p, d, io->pred, NN_F32, k, "prediction", err);
    CU_TENSOR(a.t, d, io->target, NN_F32, k, "target", err);
    if (io->grad_pred)
        CU_TENSOR(a.grad, d, io->grad_pred, NN_F32, k, "prediction gradient", err);
    uint32_t g = cu_grid(d, l->n, K_REDUCE);
    a.blocks = (int32_t)(g < CU_PARTIALS ? g : CU_PARTIALS);
    int rc = cu_launch(d, k, k_loss_fn(K_LOSS_ELEM), (uint32_t)a.blocks, K_REDUCE, &a, sizeof a,
                       err);
    return rc ? rc : cu_launch(d, k, k_loss_fn(K_LOSS_ELEM_REDUCE), 1, K_REDUCE, &a, sizeof a,
                               err);
}

static int loss_forward(void *self, nn_loss_io *io, nn_error *err)
{
    cu_loss *l = self;
    const char *k = loss_names[l->kind];
    cu_dev *d = cu_dev_of(io->device, 1, k, err);
    if (!d)
        return NN_EINVAL;
    l->dev = d;
    int rc = upload_weights(l, d, err);
    if (rc)
        return rc;
    int idle = cu_issue_idle(&d->issue);
    float *out;
    if (io->loss_out) {
        CU_TENSOR(out, d, io->loss_out, NN_F32, k, "loss_out", err);
    } else {
        if (!l->scratch_out && !(l->scratch_out = cu_alloc_get(&d->alloc, sizeof(float), 256)))
            return nn_error_set(err, NN_ENOMEM, "%s: out of device memory", k);
        out = l->scratch_out;
    }
    rc = l->kind <= L_NLL ? class_forward(l, d, io, out, err) : elem_forward(l, d, io, out, err);
    if (rc)
        return rc;
    if (io->loss_out) {
        /* nothing else was waiting on the stream: a bad class id can be refused now */
        return idle && l->kind <= L_NLL ? cu_sync(d, err) : NN_OK;
    }
    /* no loss_out (a caller of ABI 0.3's habits): the value must come back now */
    float v = 0;
    if ((rc = cu_issue_flush(&d->issue, err)))
        return rc;
    cudaError_t e = cudaMemcpyAsync(&v, out, sizeof v, cudaMemcpyDeviceToHost, d->stream);
    if (e)
        return cu_fail(err, e, k, "reading the loss back");
    if ((rc = cu_sync(d, err)))
        return rc;
    io->loss = v;
    return NN_OK;
}

/* ---- schemas: the stock keys (<nntrain/stock_params.h>), as the CPU plugins' ---------------- */

static const nn_param_spec ce_params[] = {NN_STOCK_CROSS_ENTROPY_PARAMS, {.name = NULL}};
static const nn_param_spec nll_params[] = {NN_STOCK_NLL_PARAMS, {.name = NULL}};
static const nn_param_spec elem_params[] = {NN_STOCK_POINTWISE_REDUCTION, {.name = NULL}};
static const nn_param_spec huber_params[] = {NN_STOCK_HUBER_PARAMS, {.name = NULL}};
static const nn_param_spec bce_params[] = {NN_STOCK_BCE_WITH_LOGITS_PARAMS, {.name = NULL}};

#define CU_LOSS(nm, id, schema, sum)                                                     \
    static const nn_loss_vtable nm##_vtable = {                                          \
        .struct_size = sizeof(nn_loss_vtable),                                           \
        .create = nm##_create,                                                           \
        .destroy = loss_destroy,                                                         \
        .setup = loss_setup,                                                             \
        .forward = loss_forward,                                                         \
    };                                                                                   \
    const nn_plugin_desc cu_##nm##_desc = NN_DESCRIPTOR(                                 \
        .kind = NN_KIND_LOSS, .name = id, .version = "1.0.0", .license = "MIT",           \
        .device = "cuda", .summary = sum, .params = schema, .vtable = &nm##_vtable)

CU_LOSS(ce, "cross_entropy", ce_params,
        "Softmax cross-entropy on CUDA from logits [N, C] and class ids [N] (PyTorch semantics)");
CU_LOSS(nll, "nll", nll_params,
        "Negative log-likelihood on CUDA from log-probabilities [N, C] (a log_softmax "
        "layer's; straight after a softmax layer it is refused) and class ids [N]");
CU_LOSS(mse, "mse", elem_params, "Mean squared error on CUDA between predictions and targets "
                                 "of one shape");
CU_LOSS(l1, "l1", elem_params, "Mean absolute error (L1) on CUDA between predictions and "
                               "targets of one shape");
CU_LOSS(huber, "huber", huber_params, "Huber loss on CUDA: squared error near 0, absolute "
                                      "error beyond delta");
CU_LOSS(bce, "bce_with_logits", bce_params, "Binary cross-entropy on logits on CUDA, "
                                            "numerically stable, optional pos_weight");
