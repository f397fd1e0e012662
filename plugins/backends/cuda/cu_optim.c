/* cu_optim.c: the optimizers of the CUDA pack (sgd, adam, adamw, rmsprop, adagrad) with the
 * CPU plugins' keys and slots. A step is one kernel launch for every parameter: a table of the
 * parameters (pointers, sizes, multipliers) lives in device memory, made at the first step and
 * again only when the parameters change; the step's rate and counters travel as the kernel's
 * argument, so a captured step replays with them patched. Never allocates in the steady state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cu_pack.h"

static const char *const opt_names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};

typedef struct cu_opt {
    int kind; /* K_OPT_* */
    double momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay, init_acc;
    int nesterov, amsgrad, centered;
    int slot_buf, slot_gavg; /* rmsprop: slot index of momentum_buffer / grad_avg, -1 if none */
    k_opt_param *host;       /* the table as last uploaded */
    int n;
    int64_t blocks;
    k_opt_param *table;      /* on the device */
    cu_dev *dev;
} cu_opt;

static int opt_new(int kind, void **self, nn_error *err)
{
    cu_opt *o = calloc(1, sizeof *o);
    if (!o)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", opt_names[kind]);
    o->kind = kind;
    o->slot_buf = o->slot_gavg = -1;
    *self = o;
    return NN_OK;
}

static int sgd_create(const nn_params *p, void **self, nn_error *err)
{
    nn_stock_sgd k = {0};
    int rc = nn_stock_sgd_read(p, &k, err);
    if (rc == NN_OK && (rc = opt_new(K_OPT_SGD, self, err)) == NN_OK) {
        cu_opt *o = *self;
        o->momentum = k.momentum;
        o->dampening = k.dampening;
        o->nesterov = k.nesterov;
        o->weight_decay = k.weight_decay;
    }
    return rc;
}

static int adam_like(int kind, const nn_params *p, void **self, nn_error *err)
{
    nn_stock_adam k = {0};
    int rc = nn_stock_adam_read(p, &k, err);
    if (rc == NN_OK && (rc = opt_new(kind, self, err)) == NN_OK) {
        cu_opt *o = *self;
        o->beta1 = k.beta1;
        o->beta2 = k.beta2;
        o->eps = k.eps;
        o->weight_decay = k.weight_decay;
        o->amsgrad = k.amsgrad;
    }
    return rc;
}

static int adam_create(const nn_params *p, void **self, nn_error *err)
{
    return adam_like(K_OPT_ADAM, p, self, err);
}

static int adamw_create(const nn_params *p, void **self, nn_error *err)
{
    return adam_like(K_OPT_ADAMW, p, self, err);
}

static int rmsprop_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = opt_new(K_OPT_RMSPROP, self, err);
    if (rc == NN_OK) {
        cu_opt *o = *self;
        o->alpha = nn_params_float(p, "alpha");
        o->eps = nn_params_float(p, "eps");
        o->weight_decay = nn_params_float(p, "weight_decay");
        o->momentum = nn_params_float(p, "momentum");
        o->centered = nn_params_bool(p, "centered");
    }
    return rc;
}

static int adagrad_create(const nn_params *p, void **self, nn_error *err)
{
    int rc = opt_new(K_OPT_ADAGRAD, self, err);
    if (rc == NN_OK) {
        cu_opt *o = *self;
        o->lr_decay = nn_params_float(p, "lr_decay");
        o->weight_decay = nn_params_float(p, "weight_decay");
        o->init_acc = nn_params_float(p, "initial_accumulator_value");
        o->eps = nn_params_float(p, "eps");
    }
    return rc;
}

static void opt_destroy(void *self)
{
    cu_opt *o = self;
    if (o->dev) {
        cu_forget_graphs(o->dev); /* they name the table */
        cu_alloc_put(&o->dev->alloc, o->table);
    }
    free(o->host);
    free(o);
}

static int opt_setup(void *self, nn_optim_setup *st, nn_error *err)
{
    cu_opt *o = self;
    if (!cu_dev_of(st->device, 0, opt_names[o->kind], err))
        return NN_EINVAL;
    int n = 0;
    switch (o->kind) {
    case K_OPT_SGD:
        st->slot_names[0] = "momentum_buffer";
        n = o->momentum != 0 ? 1 : 0;
        break;
    case K_OPT_ADAM:
    case K_OPT_ADAMW:
        st->slot_names[0] = "exp_avg";
        st->slot_names[1] = "exp_avg_sq";
        st->slot_names[2] = "max_exp_avg_sq";
        n = o->amsgrad ? 3 : 2;
        break;
    case K_OPT_RMSPROP:
        st->slot_names[n++] = "square_avg";
        o->slot_buf = o->momentum > 0 ? n : -1;
        if (o->momentum > 0)
            st->slot_names[n++] = "momentum_buffer";
        o->slot_gavg = o->centered ? n : -1;
        if (o->centered)
            st->slot_names[n++] = "grad_avg";
        break;
    default:
        st->slot_names[0] = "sum";
        n = 1;
    }
    st->n_slots = n;
    return NN_OK;
}

static int n_slots_of(const cu_opt *o)
{
    return o->kind == K_OPT_SGD       ? o->momentum != 0
           : o->kind == K_OPT_RMSPROP ? 1 + (o->slot_buf >= 0) + (o->slot_gavg >= 0)
           : o->kind == K_OPT_ADAGRAD ? 1
                                      : 2 + o->amsgrad;
}

/* the slots as the kernel takes them (k_optim.cu's order), as host-visible addresses */
static void slot_ptrs(const cu_opt *o, const nn_optim_param *p, float *s[3])
{
    float *slot[NN_MAX_OPTIM_SLOTS] = {NULL};
    for (int k = 0; k < n_slots_of(o); k++)
        slot[k] = p->slots[k] ? NN_F32P(p->slots[k]) : NULL;
    s[0] = slot[0];
    s[1] = o->kind == K_OPT_RMSPROP ? (o->slot_buf >= 0 ? slot[o->slot_buf] : NULL) : slot[1];
    s[2] = o->kind == K_OPT_RMSPROP ? (o->slot_gavg >= 0 ? slot[o->slot_gavg] : NULL) : slot[2];
}

/* one parameter's row of the table (block0 aside) */
static void fill_row(const cu_opt *o, const nn_optim_param *p, k_opt_param *r)
{
    memset(r, 0, sizeof *r);
    r->w = NN_F32P(p->value);
    r->g = NN_F32P(p->grad);
    slot_ptrs(o, p, r->s);
    r->n = nn_tensor_numel(p->value);
    r->lr_mult = p->lr_mult;
    r->wd_mult = p->weight_decay_mult;
    r->wd = (float)(o->weight_decay * p->weight_decay_mult);
}

/* the row, its tensors checked to be this device's */
static int table_row(cu_opt *o, cu_dev *d, const nn_optim_param *p, k_opt_param *r,
                     nn_error *err)
{
    const char *who = p->name ? p->name : opt_names[o->kind];
    if (!cu_tensor(d, p->value, NN_F32, who, "value", err) ||
        !cu_tensor(d, p->grad, NN_F32, who, "gradient", err))
        return err && err->status ? err->status : NN_EINVAL;
    for (int k = 0; k < n_slots_of(o); k++)
        if (!cu_tensor(d, p->slots[k], NN_F32, who, "optimizer slot", err))
            return err && err->status ? err->status : NN_EINVAL;
    if (!nn_shape_equal(p->value, p->grad))
        return nn_error_set(err, NN_ESHAPE, "%s: the gradient's shape differs from the value's",
                            who);
    fill_row(o, p, r);
    return NN_OK;
}

/* the table for st's parameters on the device: kept while they stay the same */
static int ensure_table(cu_opt *o, cu_dev *d, const nn_optim_step *st, nn_error *err)
{
    k_opt_param row;
    int same = o->table && o->n == st->n_params && o->dev == d;
    for (int i = 0; same && i < st->n_params; i++) {
        fill_row(o, &st->params[i], &row);
        row.block0 = o->host[i].block0;
        same = !memcmp(&row, &o->host[i], sizeof row);
    }
    if (same)
        return NN_OK;
    k_opt_param *host = calloc((size_t)st->n_params + 1, sizeof *host);
    if (!host)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", opt_names[o->kind]);
    int64_t blocks = 0;
    for (int i = 0; i < st->n_params; i++) {
        int rc = table_row(o, d, &st->params[i], &row, err);
        if (rc) {
            free(host);
            return rc;
        }
        row.block0 = blocks;
        blocks += (row.n + K_OPT_PER_BLOCK - 1) / K_OPT_PER_BLOCK;
        host[i] = row;
    }
    if (blocks > 0x7fffffff) {
        free(host);
        return nn_error_set(err, NN_ENOTSUP, "%s: %lld blocks of parameters exceed a launch",
                            opt_names[o->kind], (long long)blocks);
    }
    /* the old table may be named by pending work and graphs: put those behind us first */
    cu_forget_graphs(d);
    if (o->dev)
        cu_alloc_put(&o->dev->alloc, o->table);
    size_t bytes = sizeof *host * (size_t)(st->n_params ? st->n_params : 1);
    o->table = cu_alloc_get(&d->alloc, bytes, 256);
    o->dev = d;
    if (!o->table) {
        free(host);
        return nn_error_set(err, NN_ENOMEM, "%s: out of device memory for its table",
                            opt_names[o->kind]);
    }
    cudaError_t e = cudaMemcpyAsync(o->table, host, bytes, cudaMemcpyHostToDevice, d->stream);
    int rc = e ? cu_fail(err, e, opt_names[o->kind], "uploading its table") : cu_sync(d, err);
    free(o->host);
    o->host = host;
    o->n = st->n_params;
    o->blocks = blocks;
    return rc;
}

/* the step's kernel argument (params, n_params aside), as the CPU plugins compute the same
 * numbers: in double on the host, then cast */
static void step_args(const cu_opt *o, const nn_optim_step *st, k_optim *a)
{
    memset(a, 0, sizeof *a);
    a->kind = o->kind;
    a->lr = st->lr;
    a->first = st->t == 1;
    switch (o->kind) {
    case K_OPT_SGD:
        a->momentum = o->momentum != 0;
        a->nesterov = o->nesterov;
        a->mu = (float)o->momentum;
        a->damp1 = (float)(1 - o->dampening);
        break;
    case K_OPT_ADAM:
    case K_OPT_ADAMW: {
        double bc2 = 1.0 - pow(o->beta2, (double)st->t);
        a->bc1 = 1.0 - pow(o->beta1, (double)st->t);
        a->inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
        a->b1 = (float)o->beta1;
        a->c1 = (float)(1.0 - o->beta1);
        a->b2 = (float)o->beta2;
        a->c2 = (float)(1.0 - o->beta2);
        a->eps = (float)o->eps;
        a->amsgrad = o->amsgrad;
        a->weight_decay = o->weight_decay;
        break;
    }
    case K_OPT_RMSPROP:
        a->b1 = (float)o->alpha;
        a->c1 = (float)(1.0 - o->alpha);
        a->eps = (float)o->eps;
        a->mu = (float)o->momentum;
        a->centered = o->centered;
        break;
    default:
        a->lr_div = 1.0 + (double)(st->t - 1) * o->lr_decay;
        a->eps = (float)o->eps;
        a->base = st->t == 1 ? (float)o->init_acc : 0.0f;
    }
}

static int opt_step(void *self, const nn_optim_step *st, nn_error *err)
{
    cu_opt *o = self;
    const char *who = opt_names[o->kind];
    cu_dev *d = cu_dev_of(st->device, 1, who, err);
    if (!d)
        return NN_EINVAL;
    int rc = ensure_table(o, d, st, err);
    if (rc || o->blocks == 0)
        return rc;
    k_optim a;
    step_args(o, st, &a);
    a.params = o->table;
    a.n_params = o->n;
    return cu_launch(d, who, k_optim_fn(), (uint32_t)o->blocks, K_BLOCK, &a, sizeof a, err);
}

int cu_optim_host_step(void *self, const nn_optim_step *st, nn_error *err)
{
    cu_opt *o = self;
    k_opt_param *rows = calloc((size_t)st->n_params + 1, sizeof *rows);
    if (!rows)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; i < st->n_params; i++)
        fill_row(o, &st->params[i], &rows[i]);
    k_optim a;
    step_args(o, st, &a);
    a.params = rows;
    a.n_params = st->n_params;
    k_optim_host(&a);
    free(rows);
    return NN_OK;
}

/* ---- schemas: the stock keys (<nntrain/stock_params.h>), as the CPU plugins' ---------------- */

static const nn_param_spec sgd_params[] = {NN_STOCK_SGD_PARAMS, {.name = NULL}};
static const nn_param_spec adam_params[] = {NN_STOCK_ADAM_PARAMS, {.name = NULL}};
static const nn_param_spec adamw_params[] = {NN_STOCK_ADAMW_PARAMS, {.name = NULL}};
static const nn_param_spec rmsprop_params[] = {NN_STOCK_RMSPROP_PARAMS, {.name = NULL}};
static const nn_param_spec adagrad_params[] = {NN_STOCK_ADAGRAD_PARAMS, {.name = NULL}};

#define CU_OPTIM(nm, sum)                                                                \
    static const nn_optimizer_vtable nm##_vtable = {                                     \
        .struct_size = sizeof(nn_optimizer_vtable),                                      \
        .create = nm##_create,                                                           \
        .destroy = opt_destroy,                                                          \
        .setup = opt_setup,                                                              \
        .step = opt_step,                                                                \
    };                                                                                   \
    const nn_plugin_desc cu_##nm##_desc = NN_DESCRIPTOR(                                 \
        .kind = NN_KIND_OPTIMIZER, .name = #nm, .version = "1.0.0", .license = "MIT",     \
        .device = "cuda", .summary = sum, .params = nm##_params, .vtable = &nm##_vtable)

CU_OPTIM(sgd, "SGD with momentum, Nesterov and L2 decay on CUDA (torch.optim.SGD), one launch "
              "for all parameters");
CU_OPTIM(adam, "Adam with bias correction, L2 decay and AMSGrad on CUDA (torch.optim.Adam), one "
               "launch for all parameters");
CU_OPTIM(adamw, "AdamW on CUDA (torch.optim.AdamW), one launch for all parameters");
CU_OPTIM(rmsprop, "RMSprop with momentum and the centered variant on CUDA "
                  "(torch.optim.RMSprop), one launch for all parameters");
CU_OPTIM(adagrad, "Adagrad with lr decay, L2 decay and initial accumulator on CUDA "
                  "(torch.optim.Adagrad), one launch for all parameters");
