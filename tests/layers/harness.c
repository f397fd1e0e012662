/* harness.c: runs one layer or loss plugin through the same life cycle as the core graph
 * (find, params, create, setup, allocate, bind, forward, backward) and checks gradients by
 * central finite differences. Test code: it never swallows a plugin's status or message. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "graph.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- shared helpers */

/* Splits "key=value" strings into nn_kv entries; *keep owns the copied text. */
static int kv_split(const char *const *kv, nn_kv **out, int *n, char **keep, nn_error *err)
{
    int count = 0;
    size_t bytes = 0;
    *out = NULL;
    *n = 0;
    *keep = NULL;
    for (; kv && kv[count]; count++)
        bytes += strlen(kv[count]) + 1;
    if (count == 0)
        return NN_OK;
    nn_kv *e = calloc((size_t)count, sizeof *e);
    char *text = malloc(bytes);
    if (!e || !text) {
        free(e);
        free(text);
        return nn_error_set(err, NN_ENOMEM, "harness: out of memory");
    }
    char *p = text;
    for (int i = 0; i < count; i++) {
        size_t l = strlen(kv[i]);
        memcpy(p, kv[i], l + 1);
        char *eq = strchr(p, '=');
        if (!eq) {
            free(e);
            free(text);
            return nn_error_set(err, NN_EINVAL, "harness: '%s' is not key=value", kv[i]);
        }
        *eq = 0;
        e[i] = (nn_kv){.key = p, .value = eq + 1, .file = "test", .line = i + 1};
        p += l + 1;
    }
    *out = e;
    *n = count;
    *keep = text;
    return NN_OK;
}

static int dir_has_plugin(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    while (d && !found && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        found = l > 3 && strcmp(de->d_name + l - 3, ".so") == 0;
    }
    if (d)
        closedir(d);
    return found;
}

/* Drops NNTRAIN_PLUGIN_PATH entries that hold no .so yet (plugin groups still to be written).
 * Workaround: core/registry.c calls qsort(NULL, 0, ...) on an empty directory, which UBSan
 * reports as an error in the sanitizer build. Harmless once every group has a plugin. */
static void plugin_path_drop_empty(void)
{
    const char *env = getenv("NNTRAIN_PLUGIN_PATH");
    if (!env)
        return;
    char *copy = strdup(env), *kept = calloc(strlen(env) + 1, 1), *save = NULL;
    if (copy && kept) {
        for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
            if (!dir_has_plugin(tok))
                continue;
            if (kept[0])
                strcat(kept, ":");
            strcat(kept, tok);
        }
        setenv("NNTRAIN_PLUGIN_PATH", kept, 1);
    }
    free(copy);
    free(kept);
}

/* Scans NNTRAIN_PLUGIN_PATH, finds (kind, name) and creates an instance from kv. */
static int instance_open(nn_registry **reg, nn_instance *inst, int kind, const char *plugin,
                         const char *const *kv, nn_error *err)
{
    plugin_path_drop_empty();
    *reg = nn_registry_new(NULL);
    if (!*reg)
        return nn_error_set(err, NN_ENOMEM, "harness: out of memory");
    int rc = nn_registry_scan(*reg, NULL, 0, NULL, err);
    if (rc)
        return rc;
    const nn_plugin_entry *e = nn_registry_find(*reg, kind, plugin, NULL, err);
    if (!e)
        return err && err->status ? err->status : NN_ENOTFOUND;
    nn_kv *kvs;
    int n;
    char *keep;
    if ((rc = kv_split(kv, &kvs, &n, &keep, err)))
        return rc;
    char origin[96];
    snprintf(origin, sizeof origin, "[%s.%s]", nn_kind_name(kind), plugin);
    rc = nn_instance_create(inst, e->desc, kvs, n, origin, err);
    free(kvs);
    free(keep);
    return rc;
}

static void fill_init(nn_tensor *t, nn_init init, double arg, uint64_t seed)
{
    int64_t n = nn_tensor_numel(t);
    if (nn_tensor_dtype(t) != NN_F32)
        return; /* integer buffers stay zero */
    float *p = NN_F32P(t);
    nn_rng r;
    nn_rng_init(&r, seed, 7, 0, 0);
    for (int64_t i = 0; i < n; i++) {
        switch (init) {
        case NN_INIT_ONES: p[i] = 1.0f; break;
        case NN_INIT_NORMAL: p[i] = (float)(arg * nn_rng_normal(&r)); break;
        case NN_INIT_UNIFORM: p[i] = (float)(arg * (2.0 * nn_rng_uniform(&r) - 1.0)); break;
        default: p[i] = 0.0f; break; /* zeros; STATE buffers use no fan-based inits */
        }
    }
}

void nnt_fill_uniform(nn_tensor *t, uint64_t seed, double lo, double hi)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    int64_t n = nn_tensor_numel(t);
    switch (nn_tensor_dtype(t)) {
    case NN_F32:
        for (int64_t i = 0; i < n; i++)
            NN_F32P(t)[i] = (float)(lo + (hi - lo) * nn_rng_uniform(&r));
        break;
    case NN_I32: {
        int64_t a = (int64_t)lo, span = (int64_t)hi - (int64_t)lo;
        for (int64_t i = 0; i < n; i++)
            NN_I32P(t)[i] =
                (int32_t)(a + (span > 0 ? (int64_t)nn_rng_below(&r, (uint64_t)span) : 0));
        break;
    }
    default:
        break;
    }
}

/* One relative error, folded into the running worst. */
static void compare(double ana, double num, double floor, double *worst_err, char *worst,
                    size_t cap, const char *what, int64_t idx)
{
    double scale = fmax(fmax(fabs(ana), fabs(num)), floor);
    double e = fabs(ana - num) / scale;
    if (isnan(e))
        e = INFINITY;
    if (e > *worst_err || (worst && cap && !worst[0])) {
        if (e > *worst_err)
            *worst_err = e;
        if (worst && cap)
            snprintf(worst, cap, "%s element %lld: analytic %.8g, numeric %.8g (rel. error %.3g)",
                     what, (long long)idx, ana, num, e);
    }
}

/* ---------------------------------------------------------------- layers */

void nnt_layer_close(nnt_layer *L)
{
    if (L->inst.desc)
        nn_instance_destroy(&L->inst);
    for (int i = 0; i < NN_MAX_INPUTS; i++) {
        nn_tensor_free(L->inputs[i]);
        nn_tensor_free(L->grad_inputs[i]);
    }
    for (int i = 0; i < NN_MAX_LAYER_PARAMS_ALL; i++) {
        nn_tensor_free(L->params[i]);
        nn_tensor_free(L->param_grads[i]);
    }
    for (int i = 0; i < NN_MAX_LAYER_BUFFERS; i++)
        nn_tensor_free(L->buffers[i]);
    nn_tensor_free(L->output);
    nn_tensor_free(L->grad_output);
    if (L->reg)
        nn_registry_free(L->reg);
    memset(L, 0, sizeof *L);
}

static int oom(nn_error *err)
{
    return nn_error_set(err, NN_ENOMEM, "harness: out of memory");
}

static int layer_open(nnt_layer *L, const char *plugin, const char *const *kv, int n_inputs,
                      const int *ndims, const int64_t shapes[][NN_MAX_DIMS],
                      const nn_dtype *dtypes, int training, unsigned need_grad, nn_error *err)
{
    int rc = instance_open(&L->reg, &L->inst, NN_KIND_LAYER, plugin, kv, err);
    if (rc)
        return rc;
    L->vt = L->inst.vt;
    if (n_inputs < 1 || n_inputs > NN_MAX_INPUTS)
        return nn_error_set(err, NN_EINVAL, "harness: %d inputs", n_inputs);
    L->n_inputs = n_inputs;

    /* setup sees shapes and dtypes only, as in the graph: data is NULL */
    nn_tensor desc[NN_MAX_INPUTS];
    memset(desc, 0, sizeof desc);
    L->setup.struct_size = sizeof L->setup;
    L->setup.layer_name = "test_layer";
    L->setup.training = training;
    L->setup.params_more = L->decls_more;
    L->setup.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        nn_tensor_describe(&desc[i], dtypes ? dtypes[i] : NN_F32, ndims[i], shapes[i]);
        L->setup.inputs[i] = &desc[i];
    }
    if ((rc = L->vt->setup(L->inst.self, &L->setup, err)))
        return rc;
    for (int i = 0; i < n_inputs; i++)
        L->setup.inputs[i] = NULL; /* desc[] dies with this frame */

    const nn_tensor *o = &L->setup.output;
    int odt = nn_tensor_dtype(o);
    if (odt < 0 || o->dl.ndim < 1)
        return nn_error_set(err, NN_EINTERNAL, "harness: setup left no valid output");
    if (!(L->output = nn_tensor_new((nn_dtype)odt, o->dl.ndim, o->shape)))
        return oom(err);
    for (int i = 0; i < n_inputs; i++) {
        if (!(L->inputs[i] = nn_tensor_new(dtypes ? dtypes[i] : NN_F32, ndims[i], shapes[i])))
            return oom(err);
        if (nn_tensor_dtype(L->inputs[i]) == NN_F32)
            nnt_fill_uniform(L->inputs[i], 2 + (uint64_t)i, -1.0, 1.0);
        if (training && (need_grad >> i & 1u)) {
            if (!(L->grad_inputs[i] = nn_tensor_new(NN_F32, ndims[i], shapes[i])))
                return oom(err);
        }
    }
    for (int i = 0; i < L->setup.n_params; i++) {
        const nn_param_decl *d = nn_layer_param_decl(&L->setup, i);
        if (!(L->params[i] = nn_tensor_new(NN_F32, d->ndim, d->shape)))
            return oom(err);
        L->params[i]->name = d->name;
        nnt_fill_uniform(L->params[i], 1 + 100 * (uint64_t)i, -0.5, 0.5);
        if (training && !(L->param_grads[i] = nn_tensor_new(NN_F32, d->ndim, d->shape)))
            return oom(err);
    }
    for (int i = 0; i < L->setup.n_buffers; i++) {
        const nn_buffer_decl *d = &L->setup.buffers[i];
        if (d->kind == NN_BUF_SAVED && !training)
            continue; /* absent in eval plans */
        if (!(L->buffers[i] = nn_tensor_new(d->dtype, d->ndim, d->shape)))
            return oom(err);
        L->buffers[i]->name = d->name;
        if (d->kind == NN_BUF_STATE)
            fill_init(L->buffers[i], d->init, d->init_arg, 3 + (uint64_t)i);
    }
    if (training && !(L->grad_output = nn_tensor_new((nn_dtype)odt, o->dl.ndim, o->shape)))
        return oom(err);

    nn_layer_io *io = &L->io;
    io->struct_size = sizeof *io;
    io->training = training;
    io->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        io->inputs[i] = L->inputs[i];
        io->grad_inputs[i] = L->grad_inputs[i];
    }
    io->output = L->output;
    for (int i = 0; i < L->setup.n_params && i < NN_MAX_LAYER_PARAMS; i++) {
        io->params[i] = L->params[i];
        io->param_grads[i] = L->param_grads[i];
    }
    if (L->setup.n_params > NN_MAX_LAYER_PARAMS) {
        io->params_more = &L->params[NN_MAX_LAYER_PARAMS];
        io->param_grads_more = &L->param_grads[NN_MAX_LAYER_PARAMS];
    }
    for (int i = 0; i < L->setup.n_buffers; i++)
        io->buffers[i] = L->buffers[i];
    io->grad_output = L->grad_output;
    io->seed = 42;
    if (L->vt->bind && (rc = L->vt->bind(L->inst.self, io, err)))
        return rc;
    return NN_OK;
}

int nnt_layer_open(nnt_layer *L, const char *plugin, const char *const *kv, int n_inputs,
                   const int *ndims, const int64_t shapes[][NN_MAX_DIMS], const nn_dtype *dtypes,
                   int training, unsigned need_grad, nn_error *err)
{
    memset(L, 0, sizeof *L);
    int rc = layer_open(L, plugin, kv, n_inputs, ndims, shapes, dtypes, training, need_grad, err);
    if (rc)
        nnt_layer_close(L);
    return rc;
}

int nnt_forward(nnt_layer *L, int training, nn_error *err)
{
    L->io.training = training;
    return L->vt->forward(L->inst.self, &L->io, err);
}

int nnt_backward(nnt_layer *L, nn_error *err)
{
    if (!L->vt->backward || !L->grad_output)
        return nn_error_set(err, NN_ENOTSUP, "harness: no backward (plugin or eval plan)");
    return L->vt->backward(L->inst.self, &L->io, err);
}

typedef struct thread_pass {
    nnt_layer *L;
    nn_error err;
    int rc;
} thread_pass;

static int forward_backward(nnt_layer *L, nn_error *err)
{
    int rc = nnt_forward(L, 1, err);
    if (rc == NN_OK && L->grad_output)
        rc = nnt_backward(L, err);
    return rc;
}

static void *pass_on_thread(void *arg)
{
    thread_pass *t = arg;
    t->rc = forward_backward(t->L, &t->err);
    return NULL;
}

/* the tensors one pass writes: output, input gradients, parameter gradients */
static int written(nnt_layer *L, nn_tensor **t, const char **what, int cap)
{
    int n = 0;
    t[n] = L->output, what[n++] = "the output";
    for (int i = 0; i < L->n_inputs && n < cap; i++)
        if (L->grad_inputs[i])
            t[n] = L->grad_inputs[i], what[n++] = "an input gradient";
    for (int k = 0; k < NN_MAX_LAYER_PARAMS_ALL && n < cap; k++)
        if (L->param_grads[k])
            t[n] = L->param_grads[k], what[n++] = "a parameter gradient";
    return n;
}

int nnt_same_on_another_thread(nnt_layer *L, nn_error *err)
{
    nn_tensor *t[NN_MAX_LAYER_PARAMS_ALL + NN_MAX_INPUTS + 1];
    const char *what[NN_MAX_LAYER_PARAMS_ALL + NN_MAX_INPUTS + 1];
    int n = written(L, t, what, (int)(sizeof t / sizeof t[0])), rc;
    if (L->grad_output)
        nnt_fill_uniform(L->grad_output, 77, -1, 1);
    if ((rc = forward_backward(L, err)))
        return rc;
    void *here[sizeof t / sizeof t[0]];
    for (int i = 0; i < n; i++) {
        here[i] = malloc(nn_tensor_nbytes(t[i]));
        memcpy(here[i], t[i]->dl.data, nn_tensor_nbytes(t[i]));
        memset(t[i]->dl.data, 0, nn_tensor_nbytes(t[i]));
    }
    thread_pass tp = {.L = L};
    pthread_t th;
    if (pthread_create(&th, NULL, pass_on_thread, &tp) != 0)
        rc = nn_error_set(err, NN_EINTERNAL, "harness: no thread");
    else if (pthread_join(th, NULL), tp.rc)
        rc = nn_error_set(err, tp.rc, "on another thread: %s", tp.err.msg);
    for (int i = 0; i < n; i++) {
        if (rc == NN_OK && memcmp(here[i], t[i]->dl.data, nn_tensor_nbytes(t[i])) != 0)
            rc = nn_error_set(err, NN_EINTERNAL, "%s ('%s') differs on another thread",
                              what[i], t[i]->name ? t[i]->name : "?");
        free(here[i]);
    }
    return rc;
}

static double weighted_sum(const nn_tensor *out, const double *r)
{
    const float *y = NN_F32P(out);
    int64_t n = nn_tensor_numel(out);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* d(sum(out .* R))/dx[j] by central differences; NAN when forward fails. */
static double numeric_grad(nnt_layer *L, float *x, int64_t j, double eps, const double *r)
{
    nn_error err = {0};
    float x0 = x[j];
    float xp = (float)(x0 + eps), xm = (float)(x0 - eps);
    x[j] = xp;
    int rc = nnt_forward(L, 1, &err);
    double lp = weighted_sum(L->output, r);
    x[j] = xm;
    rc |= nnt_forward(L, 1, &err);
    double lm = weighted_sum(L->output, r);
    x[j] = x0;
    if (rc)
        return NAN;
    return (lp - lm) / ((double)xp - (double)xm);
}

double nnt_gradcheck(nnt_layer *L, double eps, double floor, char *worst, size_t cap)
{
    nn_error err = {0};
    if (worst && cap)
        worst[0] = 0;
    if (!L->grad_output || nn_tensor_dtype(L->output) != NN_F32) {
        if (worst && cap)
            snprintf(worst, cap, "gradcheck needs a training plan with an F32 output");
        return INFINITY;
    }
    int64_t n_out = nn_tensor_numel(L->output);
    double *r = malloc(sizeof *r * (size_t)(n_out ? n_out : 1));
    if (!r)
        return INFINITY;
    nn_rng g;
    nn_rng_init(&g, 12345, 0, 0, 0);
    for (int64_t i = 0; i < n_out; i++) {
        r[i] = 2.0 * nn_rng_uniform(&g) - 1.0;
        NN_F32P(L->grad_output)[i] = (float)r[i];
    }

    /* analytic gradients of the unperturbed point, copied before any re-run */
    double result = INFINITY;
    int n_checked = 0;
    double *ana[NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL] = {0};
    nn_tensor *target[NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL] = {0};
    char names[NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL][64];
    if (nnt_forward(L, 1, &err) || nnt_backward(L, &err)) {
        if (worst && cap)
            snprintf(worst, cap, "forward/backward failed: %s", err.msg);
        goto done;
    }
    if (L->after_backward)
        L->after_backward(L, L->after_backward_ctx);
    for (int i = 0; i < L->n_inputs; i++) {
        if (!L->grad_inputs[i] || nn_tensor_dtype(L->inputs[i]) != NN_F32)
            continue;
        target[n_checked] = L->inputs[i];
        snprintf(names[n_checked], sizeof names[0], "input %d", i);
        const nn_tensor *gt = L->grad_inputs[i];
        int64_t n = nn_tensor_numel(gt);
        if (!(ana[n_checked] = malloc(sizeof(double) * (size_t)(n ? n : 1))))
            goto done;
        for (int64_t j = 0; j < n; j++)
            ana[n_checked][j] = NN_F32P(gt)[j];
        n_checked++;
    }
    for (int i = 0; i < L->setup.n_params; i++) {
        target[n_checked] = L->params[i];
        snprintf(names[n_checked], sizeof names[0], "param '%s'",
                 nn_layer_param_decl(&L->setup, i)->name);
        const nn_tensor *gt = L->param_grads[i];
        int64_t n = nn_tensor_numel(gt);
        if (!(ana[n_checked] = malloc(sizeof(double) * (size_t)(n ? n : 1))))
            goto done;
        for (int64_t j = 0; j < n; j++)
            ana[n_checked][j] = NN_F32P(gt)[j];
        n_checked++;
    }
    if (n_checked == 0) {
        if (worst && cap)
            snprintf(worst, cap, "nothing to check: no grad_inputs and no parameters");
        goto done;
    }
    result = 0;
    for (int k = 0; k < n_checked; k++) {
        float *x = NN_F32P(target[k]);
        int64_t n = nn_tensor_numel(target[k]);
        for (int64_t j = 0; j < n; j++) {
            double num = numeric_grad(L, x, j, eps, r);
            compare(ana[k][j], num, floor, &result, worst, cap, names[k], j);
        }
    }
    /* leave the SAVED buffers consistent with the restored inputs */
    if (nnt_forward(L, 1, &err))
        result = INFINITY;
done:
    for (int k = 0; k < NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL; k++)
        free(ana[k]);
    free(r);
    return result;
}

/* ---------------------------------------------------------------- losses */

void nnt_loss_close(nnt_loss *L)
{
    if (L->inst.desc)
        nn_instance_destroy(&L->inst);
    nn_tensor_free(L->pred);
    nn_tensor_free(L->target);
    nn_tensor_free(L->grad_pred);
    for (int i = 0; i < NN_MAX_LAYER_BUFFERS; i++)
        nn_tensor_free(L->buffers[i]);
    if (L->reg)
        nn_registry_free(L->reg);
    memset(L, 0, sizeof *L);
}

static int loss_open(nnt_loss *L, const char *plugin, const char *const *kv, int pred_ndim,
                     const int64_t *pred_shape, nn_dtype target_dtype, int target_ndim,
                     const int64_t *target_shape, nn_error *err)
{
    int rc = instance_open(&L->reg, &L->inst, NN_KIND_LOSS, plugin, kv, err);
    if (rc)
        return rc;
    L->vt = L->inst.vt;
    nn_tensor pd, td;
    memset(&pd, 0, sizeof pd);
    memset(&td, 0, sizeof td);
    nn_tensor_describe(&pd, NN_F32, pred_ndim, pred_shape);
    nn_tensor_describe(&td, target_dtype, target_ndim, target_shape);
    L->setup.struct_size = sizeof L->setup;
    L->setup.pred = &pd;
    L->setup.target = &td;
    if ((rc = L->vt->setup(L->inst.self, &L->setup, err)))
        return rc;
    L->setup.pred = L->setup.target = NULL;
    if (!(L->pred = nn_tensor_new(NN_F32, pred_ndim, pred_shape)) ||
        !(L->grad_pred = nn_tensor_new(NN_F32, pred_ndim, pred_shape)) ||
        !(L->target = nn_tensor_new(target_dtype, target_ndim, target_shape)))
        return oom(err);
    nnt_fill_uniform(L->pred, 2, -1.0, 1.0);
    for (int i = 0; i < L->setup.n_buffers; i++) {
        const nn_buffer_decl *d = &L->setup.buffers[i];
        if (!(L->buffers[i] = nn_tensor_new(d->dtype, d->ndim, d->shape)))
            return oom(err);
        L->io.buffers[i] = L->buffers[i];
    }
    L->io.struct_size = sizeof L->io;
    L->io.pred = L->pred;
    L->io.target = L->target;
    return NN_OK;
}

int nnt_loss_open(nnt_loss *L, const char *plugin, const char *const *kv, int pred_ndim,
                  const int64_t *pred_shape, nn_dtype target_dtype, int target_ndim,
                  const int64_t *target_shape, nn_error *err)
{
    memset(L, 0, sizeof *L);
    int rc = loss_open(L, plugin, kv, pred_ndim, pred_shape, target_dtype, target_ndim,
                       target_shape, err);
    if (rc)
        nnt_loss_close(L);
    return rc;
}

int nnt_loss_forward(nnt_loss *L, int with_grad, nn_error *err)
{
    L->io.grad_pred = with_grad ? L->grad_pred : NULL;
    L->io.loss = NAN;
    return L->vt->forward(L->inst.self, &L->io, err);
}

double nnt_loss_gradcheck(nnt_loss *L, double eps, double floor, char *worst, size_t cap)
{
    nn_error err = {0};
    if (worst && cap)
        worst[0] = 0;
    int64_t n = nn_tensor_numel(L->pred);
    double *ana = malloc(sizeof *ana * (size_t)(n ? n : 1));
    if (!ana)
        return INFINITY;
    if (nnt_loss_forward(L, 1, &err)) {
        if (worst && cap)
            snprintf(worst, cap, "forward failed: %s", err.msg);
        free(ana);
        return INFINITY;
    }
    for (int64_t j = 0; j < n; j++)
        ana[j] = NN_F32P(L->grad_pred)[j];
    double result = 0;
    float *x = NN_F32P(L->pred);
    for (int64_t j = 0; j < n; j++) {
        float x0 = x[j], xp = (float)(x0 + eps), xm = (float)(x0 - eps);
        x[j] = xp;
        int rc = nnt_loss_forward(L, 0, &err);
        double lp = L->io.loss;
        x[j] = xm;
        rc |= nnt_loss_forward(L, 0, &err);
        double lm = L->io.loss;
        x[j] = x0;
        double num = rc ? NAN : (lp - lm) / ((double)xp - (double)xm);
        compare(ana[j], num, floor, &result, worst, cap, "pred", j);
    }
    free(ana);
    return result;
}

/* ---------------------------------------------------------------- docs and messages */

int nnt_plugins_show_lists_docs(int kind, const char *name, char *why, size_t cap)
{
    nn_error err = {0};
    const char *exe = getenv("NNTRAIN_EXE");
    if (!exe) {
        snprintf(why, cap, "NNTRAIN_EXE is not set");
        return 0;
    }
    plugin_path_drop_empty();
    nn_registry *reg = nn_registry_new(NULL);
    const nn_plugin_entry *e = NULL;
    if (!reg || nn_registry_scan(reg, NULL, 0, NULL, &err) ||
        !(e = nn_registry_find(reg, kind, name, NULL, &err))) {
        snprintf(why, cap, "plugin not found: %s", err.msg);
        nn_registry_free(reg);
        return 0;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' plugins show %s --kind %s 2>&1", exe, name, nn_kind_name(kind));
    FILE *f = popen(cmd, "r");
    size_t len = 0, capbuf = 1 << 16;
    char *out = calloc(capbuf, 1);
    int ok = 0;
    if (!f || !out) {
        snprintf(why, cap, "cannot run %s", cmd);
        goto done;
    }
    size_t got;
    while (len < capbuf - 1 && (got = fread(out + len, 1, capbuf - 1 - len, f)) > 0)
        len += got;
    out[len] = 0;
    int status = pclose(f);
    f = NULL;
    if (status != 0) {
        snprintf(why, cap, "`%s` exited with status %d: %.300s", cmd, status, out);
        goto done;
    }
    if (!strstr(out, e->desc->summary)) {
        snprintf(why, cap, "summary \"%s\" missing from `plugins show %s`", e->desc->summary,
                 name);
        goto done;
    }
    for (const nn_param_spec *s = e->desc->params; s && s->name; s++) {
        if (!strstr(out, s->name) || !strstr(out, s->doc)) {
            snprintf(why, cap, "parameter '%s' or its doc \"%s\" missing from `plugins show %s`",
                     s->name, s->doc, name);
            goto done;
        }
    }
    ok = 1;
done:
    if (f)
        pclose(f);
    free(out);
    nn_registry_free(reg);
    return ok;
}

int nnt_msg_has(const nn_error *err, const char *const *needles)
{
    for (; *needles; needles++)
        if (!strstr(err->msg, *needles))
            return 0;
    return 1;
}

/* sum(output .* R) after a training forward; NAN when the forward fails */
static double plan_loss(nn_plan *p, const float *R, nn_error *err)
{
    if (nn_plan_forward(p, 1, err) != NN_OK)
        return NAN;
    const nn_tensor *y = nn_plan_output(p);
    double s = 0;
    for (int64_t i = 0; i < nn_tensor_numel(y); i++)
        s += (double)NN_F32P(y)[i] * R[i];
    return s;
}

double nnt_plan_gradcheck(nn_model *m, nn_plan *p, const float *R, double eps, double floor,
                          int64_t samples, char *worst_at, size_t cap, nn_error *err)
{
    if (isnan(plan_loss(p, R, err)))
        return -1;
    memcpy(NN_F32P(nn_plan_grad_output(p)), R, nn_tensor_nbytes(nn_plan_grad_output(p)));
    if (nn_plan_backward(p, err) != NN_OK)
        return -1;
    double worst = 0;
    for (int k = 0; k < nn_model_param_count(m); k++) {
        nn_tensor *g;
        nn_tensor *w = nn_model_param(m, k, &g, NULL, NULL, NULL);
        int64_t n = nn_tensor_numel(w), step = samples > 0 && n > samples ? n / samples : 1;
        float *analytic = malloc((size_t)n * sizeof *analytic);
        if (!analytic)
            return nn_error_set(err, NN_ENOMEM, "out of memory"), -1;
        memcpy(analytic, NN_F32P(g), (size_t)n * sizeof *analytic);
        for (int64_t i = 0; i < n; i += step) {
            float keep = NN_F32P(w)[i];
            NN_F32P(w)[i] = keep + (float)eps;
            double up = plan_loss(p, R, err);
            NN_F32P(w)[i] = keep - (float)eps;
            double down = plan_loss(p, R, err);
            NN_F32P(w)[i] = keep;
            if (isnan(up) || isnan(down)) {
                free(analytic);
                return -1;
            }
            double num = (up - down) / (2 * eps);
            double e = fabs(num - analytic[i]) / fmax(floor, fabs(num) + fabs(analytic[i]));
            if (e > worst) {
                worst = e;
                snprintf(worst_at, cap, "%s[%lld]: %g against %g", w->name, (long long)i,
                         analytic[i], num);
            }
        }
        free(analytic);
    }
    return worst;
}
