/* replica_head.c: [train] replicas with the model's first layer split by units. Split by rows,
 * every replica reads all of that layer's weights each step, and the optimizer's thread that
 * updated a part of them last is another core: each step moves those weights between the cores'
 * caches twice (measured on the Fashion-MNIST MLP: its 784x256 layer's forward 227 us for 64
 * rows against 157 us for half of one thread's 128 rows, SGD's halves 2-4x slower per element).
 * Split by units, replica r computes rows cut[r]..cut[r+1] of the layer's parameters for the
 * whole batch, with a copy of the plugin made with units = cut[r+1] - cut[r] whose parameters
 * and gradients are those rows of the model's (a one-layer model per replica, nn_param_source):
 *   forward:  every replica's input rows -> replica r's copy over the whole batch -> its columns
 *             of every row -> each replica's own rows of the layer's output, all columns;
 *   backward: each replica's rows of dLoss/doutput, replica r's columns -> r's copy's backward,
 *             which writes the model's gradient rows itself (nothing to sum, nn_model_replica_
 *             owned) and which the optimizer's part r then steps on the same core (split.h).
 * The layer's input must need no gradient (it is the first with parameters) and the plugin
 * declares that its output columns are independent (NN_CAP_SPLIT_UNITS). */
#define _POSIX_C_SOURCE 200809L
#include "replica_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct head_src {
    struct nn_head *h;
    int r, n; /* replica r of a step of n */
} head_src;

/* the layer's copies for steps of n replicas */
typedef struct head_set {
    nn_model *m[NN_MAX_REPLICAS];
    head_src src[NN_MAX_REPLICAS];
} head_set;

struct nn_head {
    nn_model *model; /* borrowed */
    nn_registry *reg;
    nn_gang *gang;
    int layer;
    int64_t units;
    int n_par, par[NN_MAX_LAYER_PARAMS_ALL]; /* the layer's parameters in the model's table */
    nn_dtype precision, in_dtype;
    int in_ndim;
    int64_t in_shape[NN_MAX_DIMS]; /* a sample of the layer's input */
    head_set sets[NN_MAX_REPLICAS + 1]; /* by the step's replica count */
    /* the armed step */
    int n;
    nn_plan *main[NN_MAX_REPLICAS], *cur[NN_MAX_REPLICAS];
    int64_t rows[NN_MAX_REPLICAS], row0[NN_MAX_REPLICAS];
};

int nn_head_layer(const nn_head *h) { return h->layer; }

/* parameter k of replica r's copy: rows cut[r]..cut[r+1] of the model's parameter */
static int slice_of(void *ctx, int k, const nn_tensor *decl, float **value, float **grad,
                    nn_error *err)
{
    const head_src *hs = ctx;
    const nn_head *h = hs->h;
    nn_tensor *g = NULL, *v = k < h->n_par ? nn_model_param(h->model, h->par[k], &g, NULL,
                                                            NULL, NULL)
                                           : NULL;
    int64_t a = nn_unit_cut(h->units, hs->r, hs->n), b = nn_unit_cut(h->units, hs->r + 1, hs->n);
    int same = v && decl->dl.ndim == v->dl.ndim && decl->shape[0] == b - a;
    for (int d = 1; same && d < decl->dl.ndim; d++)
        same = decl->shape[d] == v->shape[d];
    if (!same)
        return nn_error_set(err, NN_EINVAL, "its copy with %lld units declares parameter %d "
                            "unlike rows %lld to %lld of the layer's (NN_CAP_SPLIT_UNITS)",
                            (long long)(b - a), k, (long long)a, (long long)b - 1);
    int64_t row = nn_tensor_numel(v) / h->units;
    *value = (float *)v->dl.data + a * row;
    *grad = (float *)g->dl.data + a * row;
    return NN_OK;
}

/* the copies' plans for a step of n replicas on `batch` rows (made at the first such step) */
static int head_plans(nn_head *h, int n, int64_t batch, nn_error *err)
{
    head_set *s = &h->sets[n];
    for (int r = 0; r < n; r++) {
        int rc = NN_OK;
        if (!s->m[r]) {
            char units[32];
            snprintf(units, sizeof units, "%lld",
                     (long long)(nn_unit_cut(h->units, r + 1, n) - nn_unit_cut(h->units, r, n)));
            if (!(s->m[r] = nn_model_new(h->reg, NULL)))
                return nn_error_set(err, NN_ENOMEM, "out of memory");
            nn_model_set_precision(s->m[r], h->precision);
            s->src[r] = (head_src){.h = h, .r = r, .n = n};
            nn_model_set_param_source(s->m[r], slice_of, &s->src[r]);
            rc = nn_model_add_copy(s->m[r], h->model, h->layer, "units", units, err);
        }
        if (rc == NN_OK)
            rc = nn_model_plan(s->m[r], h->in_ndim, h->in_shape, h->in_dtype, batch, 1, 0,
                               &h->cur[r], err);
        if (rc) {
            nn_error_prefix(err, "layer '%s' split by units over %d replicas (replica %d)",
                            nn_model_layer_name(h->model, h->layer), n, r);
            return rc;
        }
    }
    return NN_OK;
}

/* why plan p cannot feed the layer's copies, or NULL */
static const char *plan_refuses(const nn_head *h, const nn_plan *p)
{
    const nn_layer_io *io = nn_plan_layer_io(p, h->layer);
    if (io->n_inputs != 1)
        return "it has several inputs";
    if (io->inputs[0]->layout || io->output->layout)
        return "its input or output is in an opaque layout agreed with a neighbour";
    return NULL;
}

int nn_head_open(nn_model *m, nn_registry *reg, nn_gang *gang, nn_plan *const *plans, int n,
                 nn_dtype precision, int how, const char *origin, nn_head **out, nn_error *err)
{
    *out = NULL;
    if (how == 1 || nn_model_param_count(m) == 0)
        return how == 2 ? nn_error_set(err, NN_EINVAL, "%s: the model has no parameters to "
                                       "split", origin)
                        : NN_OK;
    nn_head h0 = {.model = m, .reg = reg, .gang = gang, .precision = precision};
    nn_head *h = &h0;
    h->layer = nn_model_param_layer(m, 0);
    const char *name = nn_model_layer_name(m, h->layer), *why = NULL;
    int64_t numel = 0, total = nn_model_numel(m);
    char buf[200];
    for (int k = 0; k < nn_model_param_count(m) && h->n_par < NN_MAX_LAYER_PARAMS_ALL; k++) {
        if (nn_model_param_layer(m, k) != h->layer)
            continue;
        const nn_tensor *v = nn_model_param(m, k, NULL, NULL, NULL, NULL);
        if (!h->n_par)
            h->units = v->shape[0];
        if (v->shape[0] != h->units)
            why = "its parameters' first dimensions differ";
        h->par[h->n_par++] = k;
        numel += nn_tensor_numel(v);
    }
    if (!(nn_model_layer_desc(m, h->layer)->caps & NN_CAP_SPLIT_UNITS))
        why = "its plugin does not declare NN_CAP_SPLIT_UNITS";
    if (!why && h->units < 16 * (int64_t)nn_gang_size(gang)) {
        snprintf(buf, sizeof buf, "it has %lld units, and a split needs 16 per replica",
                 (long long)h->units);
        why = buf;
    }
    for (int r = 0; r < n && !why; r++)
        why = plan_refuses(h, plans[r]);
    if (why)
        return how == 2 ? nn_error_set(err, NN_EINVAL, "%s: the first layer with parameters, "
                                       "'%s' (%s), cannot be split by units: %s; use "
                                       "replica_split = rows", origin, name,
                                       nn_model_layer_type(m, h->layer), why)
                        : NN_OK;
    if (how == 0 && 2 * numel < total)
        return NN_OK; /* a small first layer: the rows' split costs less than the exchange */
    const nn_tensor *x = nn_plan_layer_io(plans[0], h->layer)->inputs[0];
    h->in_dtype = (nn_dtype)nn_tensor_dtype(x);
    h->in_ndim = x->dl.ndim - 1;
    memcpy(h->in_shape, x->shape + 1, sizeof(int64_t) * (size_t)h->in_ndim);
    int64_t batch = 0;
    for (int r = 0; r < n; r++)
        batch += nn_plan_input(plans[r])->shape[0];
    if (!(h = malloc(sizeof *h)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    *h = h0;
    int rc = head_plans(h, n, batch, err); /* the full batch's, before the first step */
    if (rc) {
        nn_head_free(h);
        if (how == 0) /* auto: the rows' split, which needs none of this */
            return NN_OK;
        nn_error_prefix(err, "%s", origin);
        return rc;
    }
    for (int k = 0; k < h->n_par; k++)
        nn_model_replica_owned(m, h->par[k]);
    *out = h;
    return NN_OK;
}

void nn_head_free(nn_head *h)
{
    if (!h)
        return;
    for (int n = 0; n <= NN_MAX_REPLICAS; n++)
        for (int r = 0; r < NN_MAX_REPLICAS; r++)
            nn_model_free(h->sets[n].m[r]);
    free(h);
}

/* copies `rows` rows of `bytes` each, from src with pitch sp to dst with pitch dp */
static void rows_copy(char *dst, size_t dp, const char *src, size_t sp, int64_t rows,
                      size_t bytes)
{
    for (int64_t i = 0; i < rows; i++)
        memcpy(dst + (size_t)i * dp, src + (size_t)i * sp, bytes);
}

/* in place of the layer's forward (backward = 0) or backward in replica r's plan p */
static int head_hook(void *ctx, nn_plan *p, int backward, nn_error *err)
{
    nn_head *h = ctx;
    int r = nn_plan_replica(p), n = h->n, rc;
    /* every replica's input (forward) or output gradient (backward) is written */
    if ((rc = nn_gang_barrier(h->gang, r, err)))
        return rc;
    const nn_layer_io *own = nn_plan_layer_io(p, h->layer);
    size_t es = nn_tensor_nbytes(own->output) / (size_t)nn_tensor_numel(own->output);
    size_t pitch = (size_t)h->units * es; /* a row of the layer's output */
    int64_t a = nn_unit_cut(h->units, r, n);
    size_t width = (size_t)(nn_unit_cut(h->units, r + 1, n) - a) * es; /* a row of r's copy */
    if (backward) {
        /* every replica's rows of dLoss/doutput, r's columns, into r's copy */
        char *g = nn_plan_grad_output(h->cur[r])->dl.data;
        for (int q = 0; q < n; q++)
            rows_copy(g + (size_t)h->row0[q] * width, width,
                      (const char *)nn_plan_layer_io(h->main[q], h->layer)->grad_output->dl.data +
                          (size_t)a * es,
                      pitch, h->rows[q], width);
        return nn_plan_backward(h->cur[r], err);
    }
    char *in = nn_plan_input(h->cur[r])->dl.data;
    for (int q = 0; q < n; q++) {
        const nn_tensor *x = nn_plan_layer_io(h->main[q], h->layer)->inputs[0];
        memcpy(in, x->dl.data, nn_tensor_nbytes(x));
        in += nn_tensor_nbytes(x);
    }
    if ((rc = nn_plan_forward(h->cur[r], 1, err)) || (rc = nn_gang_barrier(h->gang, r, err)))
        return rc;
    /* this replica's rows of every copy's output, side by side */
    for (int q = 0; q < n; q++) {
        int64_t qa = nn_unit_cut(h->units, q, n);
        size_t qw = (size_t)(nn_unit_cut(h->units, q + 1, n) - qa) * es;
        rows_copy((char *)own->output->dl.data + (size_t)qa * es, pitch,
                  (const char *)nn_plan_output(h->cur[q])->dl.data + (size_t)h->row0[r] * qw, qw,
                  h->rows[r], qw);
    }
    return NN_OK;
}

int nn_head_arm(nn_head *h, nn_plan *const *plans, const int64_t *rows, const int64_t *row0,
                int n, int64_t batch, nn_error *err)
{
    int rc = head_plans(h, n, batch, err);
    for (int r = 0; r < n && rc == NN_OK; r++) {
        const char *why = plan_refuses(h, plans[r]);
        if (why)
            return nn_error_set(err, NN_EINTERNAL, "layer '%s' split by units: the plan of "
                                "replica %d for %lld rows differs from the first: %s",
                                nn_model_layer_name(h->model, h->layer), r, (long long)rows[r],
                                why);
    }
    if (rc)
        return rc;
    h->n = n;
    for (int r = 0; r < n; r++) {
        h->main[r] = plans[r];
        h->rows[r] = rows[r];
        h->row0[r] = row0[r];
        nn_plan_set_layer_hook(plans[r], h->layer, head_hook, h);
    }
    return NN_OK;
}

void nn_head_disarm(nn_head *h, nn_plan *const *plans, int n)
{
    (void)h;
    for (int r = 0; r < n; r++)
        nn_plan_set_layer_hook(plans[r], -1, NULL, NULL);
}

int nn_head_owned(const nn_head *h, int parts, nn_optim_owned *own, int max)
{
    int n = 0;
    for (int k = 0; k < h->n_par && n < max; k++, n++) {
        const nn_tensor *v = nn_model_param(h->model, h->par[k], NULL, NULL, NULL, NULL);
        int64_t row = nn_tensor_numel(v) / h->units;
        own[n].param = h->par[k];
        for (int i = 0; i <= parts; i++)
            own[n].cut[i] = nn_unit_cut(h->units, i, parts) * row;
    }
    return n;
}
