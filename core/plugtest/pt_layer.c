/* pt_layer.c: the checks of layers and losses: gradients against finite differences on every
 * case, bit-identical results run after run (and from a fresh instance, and whatever the
 * output buffers held before), grad_inputs[i] == NULL honoured, and no heap allocation per
 * step. Each runs in a child of the runner. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "pt_internal.h"

static int no_cases(pt_ctx *c, pt_report *r, const char *check)
{
    if (c->n_cases)
        return 0;
    pt_add(r, PT_SKIP, check, NULL, NULL, "no case to run (see 'cases')");
    return 1;
}

static pt_gc_opts gc_opts(const pt_ctx *c)
{
    return (pt_gc_opts){.rtol = c->rtol, .atol = c->atol, .seed = c->seed, .max_elements = 0};
}

void pt_check_gradient(pt_ctx *c, pt_report *r)
{
    if (no_cases(c, r, "gradient"))
        return;
    if (c->d->kind == NN_KIND_LAYER && !(c->d->caps & NN_CAP_BACKWARD)) {
        pt_add(r, PT_SKIP, "gradient", NULL, NULL, "inference-only layer (no NN_CAP_BACKWARD)");
        return;
    }
    if (c->tol_refused[0]) {
        pt_add(r, PT_SKIP, "gradient", NULL, NULL, "skipped (because %s; see 'schema'): no "
               "gradient is judged under tolerances that are refused", c->tol_refused);
        return;
    }
    char loosened[200];
    pt_gc_tol_loosened(c->rtol, c->atol, loosened, sizeof loosened);
    for (int i = 0; i < c->n_cases; i++) {
        const pt_case *k = &c->cases[i];
        nn_error err = {0};
        nn_gradcheck_result res;
        memset(&res, 0, sizeof res);
        pt_gc_opts o = gc_opts(c);
        int rc;
        if (c->d->kind == NN_KIND_LAYER) {
            pt_layer L;
            rc = pt_layer_open(&L, c->dev, c->d, k, c->o->params, 1, ~0u, c->seed, &err);
            if (rc == NN_OK)
                rc = pt_gradcheck_layer(&L, &o, &res, &err);
            pt_layer_close(&L);
        } else {
            pt_loss L;
            rc = pt_loss_open(&L, c->dev, c->d, k, c->o->params, c->seed, &err);
            if (rc == NN_OK)
                rc = pt_gradcheck_loss(&L, &o, &res, &err);
            pt_loss_close(&L);
        }
        if (rc != NN_OK && res.n_checked == 0) {
            pt_add(r, PT_FAIL, "gradient", NULL, NULL, "[%s] %s", k->label, err.msg);
            continue;
        }
        char worst[24], limit[24];
        double lim = res.worst > 0 ? res.worst_rel / res.worst : res.tolerance;
        snprintf(worst, sizeof worst, "%.2e", res.worst_rel);
        snprintf(limit, sizeof limit, "%.2e", lim);
        pt_add(r, rc == NN_OK ? PT_PASS : PT_FAIL, "gradient", worst, limit,
               "[%s] %lld elements%s, tolerance rtol %.0e + measured float32 noise%s%s%s%s"
               "\nworst: %s", k->label, (long long)res.n_checked,
               res.n_one_sided ? " (some next to a kink, matched one-sided)" : "", res.rtol,
               c->atol > 0 ? " + atol from the test spec" : "",
               rc == NN_OK ? "" : " -- MISMATCH", loosened[0] ? "; " : "", loosened,
               res.where);
    }
}

/* ---- runs compared bit for bit ---- */

typedef struct snapshot {
    int n;
    nn_tensor *t[2 + NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL];
    const char *name[2 + NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL];
    double loss;
} snapshot;

static void snap_free(snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        nn_tensor_free(s->t[i]);
    memset(s, 0, sizeof *s);
}

static int snap_add(snapshot *s, const nn_tensor *t, const char *name)
{
    if (!t)
        return NN_OK;
    nn_tensor *c = nn_tensor_new((nn_dtype)nn_tensor_dtype(t), t->dl.ndim, t->shape);
    if (!c)
        return NN_ENOMEM;
    memcpy(c->dl.data, t->dl.data, nn_tensor_nbytes(t));
    s->name[s->n] = name;
    s->t[s->n++] = c;
    return NN_OK;
}

/* first difference between two snapshots, "" when bit-identical */
static void snap_diff(const snapshot *a, const snapshot *b, char *why, size_t cap)
{
    why[0] = 0;
    if (memcmp(&a->loss, &b->loss, sizeof a->loss) != 0) {
        snprintf(why, cap, "the loss differs: %.17g vs %.17g", a->loss, b->loss);
        return;
    }
    for (int i = 0; i < a->n && i < b->n; i++) {
        const unsigned char *x = a->t[i]->dl.data, *y = b->t[i]->dl.data;
        size_t bytes = nn_tensor_nbytes(a->t[i]), es = a->t[i]->dl.dtype.bits / 8u;
        for (size_t k = 0; k < bytes; k++)
            if (x[k] != y[k]) {
                size_t e = k / es;
                if (nn_tensor_dtype(a->t[i]) == NN_F32)
                    snprintf(why, cap, "%s element %zu differs: %.9g vs %.9g", a->name[i], e,
                             NN_F32P(a->t[i])[e], NN_F32P(b->t[i])[e]);
                else
                    snprintf(why, cap, "%s element %zu differs", a->name[i], e);
                return;
            }
    }
}

static void fill_nan(pt_t *t)
{
    if (t->h && nn_tensor_dtype(t->h) == NN_F32)
        for (int64_t i = 0, n = nn_tensor_numel(t->h); i < n; i++)
            NN_F32P(t->h)[i] = NAN;
}

/* One training step of a layer (forward, backward with fixed output weights), snapshotted.
 * poison: the output and gradient buffers hold NaN first, so a plugin that reads them
 * (accumulating into them, say) shows. */
static int layer_step(pt_layer *L, int poison, snapshot *s, nn_error *err)
{
    memset(s, 0, sizeof *s);
    if (poison) {
        fill_nan(&L->out);
        for (int i = 0; i < L->n_inputs; i++)
            fill_nan(&L->gin[i]);
        for (int i = 0; i < L->su.n_params; i++)
            fill_nan(&L->gpar[i]);
        /* the device copies get the NaN too */
        nn_dev *d = L->dev;
        if (!nn_dev_is_host(d)) {
            int rc = nn_dev_upload(d, &L->out.dev, L->out.h, err);
            for (int i = 0; rc == NN_OK && i < L->n_inputs; i++)
                if (L->gin[i].h)
                    rc = nn_dev_upload(d, &L->gin[i].dev, L->gin[i].h, err);
            for (int i = 0; rc == NN_OK && i < L->su.n_params; i++)
                if (L->gpar[i].h)
                    rc = nn_dev_upload(d, &L->gpar[i].dev, L->gpar[i].h, err);
            if (rc)
                return rc;
        }
    }
    if (L->gout.h)
        pt_fill(L->gout.h, -1, 1, 77, 1);
    int rc = pt_layer_forward(L, L->training, err);
    if (rc == NN_OK && L->training && L->vt->backward)
        rc = pt_layer_backward(L, err);
    if (rc)
        return rc;
    if (snap_add(s, L->out.h, "output"))
        return NN_ENOMEM;
    static const char *const gin_names[NN_MAX_INPUTS] = {
        "grad_inputs[0]", "grad_inputs[1]", "grad_inputs[2]", "grad_inputs[3]",
        "grad_inputs[4]", "grad_inputs[5]", "grad_inputs[6]", "grad_inputs[7]"};
    for (int i = 0; i < L->n_inputs; i++)
        if (snap_add(s, L->gin[i].h, gin_names[i]))
            return NN_ENOMEM;
    for (int i = 0; i < L->su.n_params; i++)
        if (snap_add(s, L->gpar[i].h, nn_layer_param_decl(&L->su, i)->name))
            return NN_ENOMEM;
    return NN_OK;
}

static int loss_step(pt_loss *L, int poison, int with_grad, snapshot *s, nn_error *err)
{
    memset(s, 0, sizeof *s);
    if (poison) {
        fill_nan(&L->grad);
        if (!nn_dev_is_host(L->dev)) {
            int rc = nn_dev_upload(L->dev, &L->grad.dev, L->grad.h, err);
            if (rc)
                return rc;
        }
    }
    int rc = pt_loss_forward(L, with_grad, &s->loss, err);
    if (rc)
        return rc;
    if (with_grad && snap_add(s, L->grad.h, "grad_pred"))
        return NN_ENOMEM;
    return NN_OK;
}

static void determinism_layer(pt_ctx *c, pt_report *r)
{
    const pt_case *k = &c->cases[0];
    int training = (c->d->caps & NN_CAP_BACKWARD) != 0;
    pt_layer A, B;
    snapshot s[4];
    memset(s, 0, sizeof s);
    nn_error err = {0};
    char why[300] = "", what[64] = "";
    int rc = pt_layer_open(&A, c->dev, c->d, k, c->o->params, training, ~0u, c->seed, &err);
    if (rc == NN_OK) {
        rc = layer_step(&A, 0, &s[0], &err);
        if (rc == NN_OK && (rc = layer_step(&A, 1, &s[1], &err)) == NN_OK) {
            snap_diff(&s[0], &s[1], why, sizeof why);
            snprintf(what, sizeof what, "a second step of the same plan");
        }
        pt_layer_close(&A);
    }
    if (rc == NN_OK && !why[0] &&
        (rc = pt_layer_open(&B, c->dev, c->d, k, c->o->params, training, ~0u, c->seed, &err)) ==
            NN_OK) {
        if ((rc = layer_step(&B, 1, &s[2], &err)) == NN_OK) {
            snap_diff(&s[0], &s[2], why, sizeof why);
            snprintf(what, sizeof what, "a fresh instance");
        }
        pt_layer_close(&B);
    }
    /* eval plans: no SAVED buffers, forward only */
    if (rc == NN_OK && !why[0] &&
        (rc = pt_layer_open(&B, c->dev, c->d, k, c->o->params, 0, 0, c->seed, &err)) == NN_OK) {
        snapshot e1;
        if ((rc = layer_step(&B, 0, &e1, &err)) == NN_OK &&
            (rc = layer_step(&B, 1, &s[3], &err)) == NN_OK) {
            snap_diff(&e1, &s[3], why, sizeof why);
            snprintf(what, sizeof what, "a second forward of an eval plan");
        }
        snap_free(&e1);
        pt_layer_close(&B);
    }
    for (int i = 0; i < 4; i++)
        snap_free(&s[i]);
    if (rc)
        pt_add(r, PT_FAIL, "determinism", NULL, NULL, "[%s] %s", k->label, err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "determinism", "differs", "identical", "[%s] %s than the first: %s "
               "(results must depend only on the inputs, parameters and io->seed, and overwrite "
               "the output and gradients, never read them)", k->label, what, why);
    else
        pt_add(r, PT_PASS, "determinism", "0 bits", "identical", "[%s] output%s bit-identical: "
               "re-run, fresh instance, NaN-filled outputs%s, eval plan", k->label,
               training ? " and gradients" : "", training ? " and gradients" : "");
}

static void determinism_loss(pt_ctx *c, pt_report *r)
{
    const pt_case *k = &c->cases[0];
    pt_loss A, B;
    snapshot s[4];
    memset(s, 0, sizeof s);
    nn_error err = {0};
    char why[300] = "", what[80] = "";
    int rc = pt_loss_open(&A, c->dev, c->d, k, c->o->params, c->seed, &err);
    if (rc == NN_OK) {
        if ((rc = loss_step(&A, 0, 1, &s[0], &err)) == NN_OK &&
            (rc = loss_step(&A, 1, 1, &s[1], &err)) == NN_OK) {
            snap_diff(&s[0], &s[1], why, sizeof why);
            snprintf(what, sizeof what, "a second call");
        }
        if (rc == NN_OK && !why[0] && (rc = loss_step(&A, 0, 0, &s[2], &err)) == NN_OK &&
            memcmp(&s[0].loss, &s[2].loss, sizeof s[0].loss) != 0) {
            snprintf(why, sizeof why, "the loss differs: %.17g with grad_pred, %.17g without",
                     s[0].loss, s[2].loss);
            snprintf(what, sizeof what, "a call without grad_pred (evaluation)");
        }
        pt_loss_close(&A);
    }
    if (rc == NN_OK && !why[0] &&
        (rc = pt_loss_open(&B, c->dev, c->d, k, c->o->params, c->seed, &err)) == NN_OK) {
        if ((rc = loss_step(&B, 1, 1, &s[3], &err)) == NN_OK) {
            snap_diff(&s[0], &s[3], why, sizeof why);
            snprintf(what, sizeof what, "a fresh instance");
        }
        pt_loss_close(&B);
    }
    for (int i = 0; i < 4; i++)
        snap_free(&s[i]);
    if (rc)
        pt_add(r, PT_FAIL, "determinism", NULL, NULL, "[%s] %s", k->label, err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "determinism", "differs", "identical", "[%s] %s than the first: %s",
               k->label, what, why);
    else
        pt_add(r, PT_PASS, "determinism", "0 bits", "identical", "[%s] loss and grad_pred "
               "bit-identical: re-run, NaN-filled grad_pred, fresh instance; the same loss "
               "without grad_pred", k->label);
}

void pt_check_determinism(pt_ctx *c, pt_report *r)
{
    if (no_cases(c, r, "determinism"))
        return;
    if (c->d->kind == NN_KIND_LAYER)
        determinism_layer(c, r);
    else
        determinism_loss(c, r);
}

/* ---- grad_inputs[i] == NULL ---- */

void pt_check_null_grads(pt_ctx *c, pt_report *r)
{
    if (no_cases(c, r, "null grads"))
        return;
    if (!(c->d->caps & NN_CAP_BACKWARD)) {
        pt_add(r, PT_SKIP, "null grads", NULL, NULL, "inference-only layer");
        return;
    }
    const pt_case *k = &c->cases[0];
    pt_layer L;
    snapshot ref, s;
    memset(&ref, 0, sizeof ref);
    nn_error err = {0};
    int rc = pt_layer_open(&L, c->dev, c->d, k, c->o->params, 1, ~0u, c->seed, &err);
    if (rc == NN_OK) {
        rc = layer_step(&L, 0, &ref, &err);
        pt_layer_close(&L);
    }
    char why[300] = "";
    int n = k->n_inputs;
    /* each input alone without a gradient, then all of them (the first layer of a model) */
    for (int i = 0; rc == NN_OK && !why[0] && i <= n; i++) {
        if (i == n && n == 1)
            break;
        unsigned mask = i == n ? 0u : ~(1u << i);
        if ((rc = pt_layer_open(&L, c->dev, c->d, k, c->o->params, 1, mask, c->seed, &err)))
            break;
        if ((rc = layer_step(&L, 1, &s, &err)) == NN_OK) {
            /* compare what this plan has: the same gradients must come out */
            for (int a = 0, b = 0; a < ref.n && b < s.n && !why[0]; a++) {
                if (strcmp(ref.name[a], s.name[b]) != 0)
                    continue; /* the gradient this plan does not ask for */
                if (memcmp(ref.t[a]->dl.data, s.t[b]->dl.data, nn_tensor_nbytes(ref.t[a])))
                    snprintf(why, sizeof why, "with %s: %s differs from the plan that asks "
                             "for every input gradient",
                             i == n ? "every grad_inputs[i] NULL" : "grad_inputs[i] NULL",
                             s.name[b]);
                b++;
            }
            snap_free(&s);
        }
        pt_layer_close(&L);
    }
    snap_free(&ref);
    if (rc)
        pt_add(r, PT_FAIL, "null grads", NULL, NULL, "[%s] %s", k->label, err.msg);
    else if (why[0])
        pt_add(r, PT_FAIL, "null grads", NULL, NULL, "[%s] %s", k->label, why);
    else
        pt_add(r, PT_PASS, "null grads", NULL, NULL, "[%s] backward with grad_inputs[i] == NULL "
               "(each input%s): nothing written there, the other gradients unchanged",
               k->label, n > 1 ? ", then all" : "");
}

/* ---- heap allocation per step ---- */

void pt_check_alloc(pt_ctx *c, pt_report *r)
{
    if (no_cases(c, r, "allocation"))
        return;
    const nn_alloc_counter *a = c->o->alloc;
    if (!a) {
        pt_add(r, PT_SKIP, "allocation", NULL, NULL, "this build cannot count heap "
               "allocations (a sanitizer owns malloc)");
        return;
    }
    const pt_case *k = &c->cases[0];
    nn_error err = {0};
    int layer = c->d->kind == NN_KIND_LAYER;
    int training = !layer || (c->d->caps & NN_CAP_BACKWARD);
    pt_layer L;
    pt_loss S;
    int rc = layer ? pt_layer_open(&L, c->dev, c->d, k, c->o->params, training, ~0u, c->seed,
                                   &err)
                   : pt_loss_open(&S, c->dev, c->d, k, c->o->params, c->seed, &err);
    if (rc) {
        pt_add(r, PT_FAIL, "allocation", NULL, NULL, "[%s] %s", k->label, err.msg);
        return;
    }
    const int steps = 3;
    long total = 0, exempt = 0;
    char site[300] = "";
    for (int i = 0; rc == NN_OK && i <= steps; i++) {
        if (i == 1)
            a->start(); /* the first step may set up lazily; steady state is what counts */
        /* the fences are checked after each call (this allocates nothing) */
        if (layer) {
            rc = PT_CALL(&L.inst, "forward", L.vt->forward(L.inst.self, &L.io, &err), &err);
            if (rc == NN_OK)
                rc = pt_layer_check_call(&L, "forward", 0, &err);
            if (rc == NN_OK && training)
                rc = PT_CALL(&L.inst, "backward", L.vt->backward(L.inst.self, &L.io, &err), &err);
            if (rc == NN_OK && training)
                rc = pt_layer_check_call(&L, "backward", 0, &err);
        } else {
            S.io.grad_pred = &S.grad.dev;
            rc = PT_CALL(&S.inst, "forward", S.vt->forward(S.inst.self, &S.io, &err), &err);
            if (rc == NN_OK)
                rc = pt_loss_check_call(&S, "forward", 0, &err);
        }
    }
    a->stop(&total, &exempt, site, sizeof site);
    if (layer)
        pt_layer_close(&L);
    else
        pt_loss_close(&S);
    const char *what = layer ? (training ? "forward+backward" : "forward") : "forward with gradient";
    char worst[24];
    snprintf(worst, sizeof worst, "%ld", total - exempt);
    if (rc)
        pt_add(r, PT_FAIL, "allocation", NULL, NULL, "[%s] %s", k->label, err.msg);
    else if (total - exempt > 0)
        pt_add(r, PT_FAIL, "allocation", worst, "0", "[%s] %ld heap allocations in %d %s steps "
               "(first: %s); ask for memory in setup (nn_layer_add_buffer) instead",
               k->label, total - exempt, steps, what, site);
    else if (exempt)
        pt_add(r, PT_PASS, "allocation", worst, "0", "[%s] %d %s steps: none by the plugin (%ld "
               "inside oneDNN's primitive execution, reported, not counted)", k->label, steps,
               what, exempt);
    else
        pt_add(r, PT_PASS, "allocation", worst, "0", "[%s] %d %s steps: no heap allocation",
               k->label, steps, what);
}
