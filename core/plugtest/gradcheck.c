/* gradcheck.c: analytic gradients of a layer or loss against central finite differences in
 * double around the plugin's float32 forward (see <nntrain/gradcheck.h> for the rule). Steps
 * are exact, the float32 noise of the differences is measured, and kinks are met with
 * one-sided differences, so that rounding cannot fail a correct plugin. Test code: it may
 * allocate; it never hides a plugin's status. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

#define GC_NOISE_SAMPLES 7
/* the analytic gradient is float32 arithmetic too: allow this much of the tensor's largest
 * gradient for its own rounding (100 float32 epsilons, ample for sums of thousands of terms) */
#define GC_FLOAT_FLOOR 2e-5
/* measured noise (one standard deviation of a difference quotient's rounding) times this */
#define GC_NOISE_SAFETY 10.0

typedef int (*gc_eval)(void *ctx, double *value, nn_error *err);

typedef struct gc_target {
    char name[64];
    float *x;
    const nn_tensor *t; /* for coordinates in messages */
    double *ana;        /* analytic gradient, copied before any perturbation */
} gc_target;

/* the power of two above an element: max(|x|, 1) < 2^e */
static int scale_exp(double x)
{
    int e;
    frexp(fmax(fabs(x), 1.0), &e); /* = m 2^e, m in [0.5, 1) */
    return e;
}

/* Rounds to 16 significant bits of its scale, so x +- 2^(e-8), x +- 2^(e-11) are exact. */
static float quantize(float x)
{
    double q = ldexp(1.0, scale_exp(x) - 16);
    return (float)(nearbyint((double)x / q) * q);
}

static void coords(const nn_tensor *t, int64_t j, char *buf, size_t cap)
{
    int64_t idx[NN_MAX_DIMS];
    for (int d = t->dl.ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? j % t->shape[d] : 0;
        j = t->shape[d] ? j / t->shape[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->dl.ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "",
                                 (long long)idx[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* NN_OK when every element of F32 tensor t (named `what`) is finite; the values checked come
 * from finite inputs and parameters, so a NaN or infinity is the plugin's */
static int finite(const nn_tensor *t, const char *what, nn_error *err)
{
    if (!t || nn_tensor_dtype(t) != NN_F32)
        return NN_OK;
    for (int64_t j = 0, n = nn_tensor_numel(t); j < n; j++) {
        float v = NN_F32P(t)[j];
        if (isfinite(v))
            continue;
        char at_[96];
        coords(t, j, at_, sizeof at_);
        return nn_error_set(err, NN_EINVAL, "%s %s is %g on finite inputs and parameters (a "
                            "forward or backward must give finite values there)", what, at_,
                            (double)v);
    }
    return NN_OK;
}

/* value at x[j] = v; x[j] is restored by the caller */
static int at(gc_eval f, void *ctx, float *x, int64_t j, double v, double *out, nn_error *err)
{
    x[j] = (float)v;
    return f(ctx, out, err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One standard deviation of the objective's float32 rounding noise when elements of this
 * tensor move: third differences at steps of 2^(e-11) have a smooth part below 1e-9 of the
 * third derivative, so what they show is rounding. The median resists a sample that met a
 * kink. */
static int noise_of(gc_eval f, void *ctx, float *x, const int64_t *sel, int64_t m, double l0,
                    double *sigma, nn_error *err)
{
    double s[GC_NOISE_SAMPLES];
    int ns = 0;
    for (int k = 0; k < GC_NOISE_SAMPLES && k < m; k++) {
        int64_t j = sel[(int64_t)k * m / (m < GC_NOISE_SAMPLES ? m : GC_NOISE_SAMPLES)];
        float x0 = x[j];
        double d = ldexp(1.0, scale_exp(x0) - 11), l[4] = {l0, 0, 0, 0};
        int rc = NN_OK;
        for (int i = 1; i < 4 && rc == NN_OK; i++)
            rc = at(f, ctx, x, j, (double)x0 + i * d, &l[i], err);
        x[j] = x0;
        if (rc)
            return rc;
        s[ns++] = fabs(l[3] - 3 * l[2] + 3 * l[1] - l[0]) / sqrt(20.0);
    }
    qsort(s, (size_t)ns, sizeof *s, cmp_double);
    *sigma = ns ? s[ns / 2] : 0;
    return NN_OK;
}

/* Differences at step h around x[j]: central Richardson, forward and backward one-sided. */
static int estimates(gc_eval f, void *ctx, float *x, int64_t j, double h, double l0,
                     double est[3], nn_error *err)
{
    float x0 = x[j];
    double lp, lm, lp2, lm2;
    int rc = at(f, ctx, x, j, (double)x0 + h, &lp, err);
    if (rc == NN_OK)
        rc = at(f, ctx, x, j, (double)x0 - h, &lm, err);
    if (rc == NN_OK)
        rc = at(f, ctx, x, j, (double)x0 + h / 2, &lp2, err);
    if (rc == NN_OK)
        rc = at(f, ctx, x, j, (double)x0 - h / 2, &lm2, err);
    x[j] = x0;
    if (rc)
        return rc;
    double d1 = (lp - lm) / (2 * h), d2 = (lp2 - lm2) / h;
    est[0] = (4 * d2 - d1) / 3;
    est[1] = 2 * (lp2 - l0) / (h / 2) - (lp - l0) / h;
    est[2] = 2 * (l0 - lm2) / (h / 2) - (l0 - lm) / h;
    return NN_OK;
}

typedef struct judged {
    double e, rel, tol, num;
    int one_sided;
} judged;

/* How far analytic a is from the estimates, in tolerances: the central difference decides,
 * unless it misses and a one-sided difference (the smooth side of a kink) agrees. */
static judged judge(double a, const double est[3], double fixed, double noise, double rtol)
{
    judged best = {INFINITY, 0, 0, est[0], 0};
    for (int k = 0; k < 3; k++) {
        double scale = fmax(fabs(a), fabs(est[k]));
        double tol = rtol * scale + fixed + noise, diff = fabs(a - est[k]);
        double e = tol > 0 ? diff / tol : (diff > 0 ? INFINITY : 0);
        if (isnan(e) || isnan(diff) || isnan(tol))
            e = INFINITY; /* NaN compares false: it must never read as a match */
        if (k == 0 || (e <= 1 && e < best.e))
            best = (judged){e, scale > 0 ? diff / scale : 0, tol, est[k], k > 0};
        if (best.e <= 1)
            break;
    }
    return best;
}

static int check_targets(gc_eval f, void *ctx, gc_target *tg, int nt, const pt_gc_opts *o,
                         nn_gradcheck_result *res, nn_error *err)
{
    double rtol = o->rtol > 0 ? o->rtol : PT_GC_DEFAULT_RTOL;
    int64_t cap = o->max_elements > 0 ? o->max_elements : 1024;
    memset(res, 0, sizeof *res);
    res->rtol = rtol;
    double l0;
    int rc = f(ctx, &l0, err);
    if (rc)
        return rc;
    int failed = 0;
    for (int k = 0; k < nt; k++) {
        gc_target *t = &tg[k];
        int64_t n = nn_tensor_numel(t->t), m = n < cap ? n : cap;
        if (m == 0)
            continue;
        int64_t *sel = malloc(sizeof *sel * (size_t)m);
        if (!sel)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (int64_t i = 0; i < m; i++)
            sel[i] = i * n / m;
        double sigma = 0, gmax = 0;
        for (int64_t i = 0; i < m; i++)
            gmax = fmax(gmax, fabs(t->ana[sel[i]]));
        rc = noise_of(f, ctx, t->x, sel, m, l0, &sigma, err);
        double fixed = (o->atol > 0 ? o->atol : 0) + GC_FLOAT_FLOOR * gmax;
        for (int64_t i = 0; rc == NN_OK && i < m; i++) {
            int64_t j = sel[i];
            double h = ldexp(1.0, scale_exp(t->x[j]) - 8), est[3];
            /* the one-sided estimate combines 3 values with weights (4, 3, 1) / h: the
             * worst of the three for rounding */
            double noise = GC_NOISE_SAFETY * sqrt(26.0) * sigma;
            if ((rc = estimates(f, ctx, t->x, j, h, l0, est, err)))
                break;
            judged jd = judge(t->ana[j], est, fixed, noise / h, rtol);
            if (jd.e > 1) {
                /* a kink inside the step, most likely: look closer */
                double est2[3];
                if ((rc = estimates(f, ctx, t->x, j, h / 8, l0, est2, err)))
                    break;
                judged j2 = judge(t->ana[j], est2, fixed, noise / (h / 8), rtol);
                if (j2.e <= 1)
                    jd = (judged){j2.e, j2.rel, j2.tol, j2.num, 1};
            }
            res->n_checked++;
            res->n_one_sided += jd.one_sided;
            failed |= jd.e > 1;
            if (jd.e > res->worst || res->where[0] == 0) {
                char at_[96];
                coords(t->t, j, at_, sizeof at_);
                res->worst = fmax(res->worst, jd.e);
                res->worst_rel = jd.rel;
                res->tolerance = jd.tol;
                snprintf(res->where, sizeof res->where,
                         "%.63s %.95s: analytic %.7g, numeric %.7g (|diff| %.2g, tolerance %.2g)",
                         t->name, at_, t->ana[j], jd.num, fabs(t->ana[j] - jd.num), jd.tol);
            }
        }
        free(sel);
        if (rc)
            return rc;
    }
    if (res->n_checked == 0)
        return nn_error_set(err, NN_EINVAL, "nothing to check: no F32 input with a gradient "
                            "and no parameter");
    if (failed)
        return nn_error_set(err, NN_EINVAL, "gradient mismatch: %s", res->where);
    return NN_OK;
}

/* ---- layers ---- */

typedef struct layer_ctx {
    pt_layer *L;
    const double *r;
} layer_ctx;

/* sum(output .* r) after a training forward */
static int layer_eval(void *ctx, double *value, nn_error *err)
{
    layer_ctx *c = ctx;
    int rc = pt_layer_forward(c->L, 1, err);
    if (rc)
        return rc;
    const float *y = NN_F32P(c->L->out.h);
    double s = 0;
    for (int64_t i = 0, n = nn_tensor_numel(c->L->out.h); i < n; i++)
        s += (double)y[i] * c->r[i];
    *value = s;
    return NN_OK;
}

static double *copy_grad(const nn_tensor *g)
{
    int64_t n = nn_tensor_numel(g);
    double *a = malloc(sizeof *a * (size_t)(n ? n : 1));
    for (int64_t i = 0; a && i < n; i++)
        a[i] = NN_F32P(g)[i];
    return a;
}

int pt_gradcheck_layer(pt_layer *L, const pt_gc_opts *o, nn_gradcheck_result *res,
                       nn_error *err)
{
    nn_gradcheck_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (!L->gout.h || nn_tensor_dtype(L->out.h) != NN_F32)
        return nn_error_set(err, NN_ENOTSUP, "the gradient check needs a training plan with "
                            "an F32 output");
    gc_target tg[NN_MAX_INPUTS + NN_MAX_LAYER_PARAMS_ALL];
    int nt = 0, rc = NN_OK;
    for (int i = 0; i < L->n_inputs; i++)
        if (L->gin[i].h && nn_tensor_dtype(L->in[i].h) == NN_F32) {
            tg[nt] = (gc_target){.x = NN_F32P(L->in[i].h), .t = L->in[i].h};
            snprintf(tg[nt++].name, sizeof tg[0].name, "input %d", i);
        }
    for (int i = 0; i < L->su.n_params; i++) {
        tg[nt] = (gc_target){.x = NN_F32P(L->par[i].h), .t = L->par[i].h};
        snprintf(tg[nt++].name, sizeof tg[0].name, "parameter '%s'",
                 nn_layer_param_decl(&L->su, i)->name);
    }
    for (int k = 0; k < nt; k++)
        for (int64_t j = 0, n = nn_tensor_numel(tg[k].t); j < n; j++)
            tg[k].x[j] = quantize(tg[k].x[j]);
    int64_t n_out = nn_tensor_numel(L->out.h);
    double *r = malloc(sizeof *r * (size_t)(n_out ? n_out : 1));
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    nn_rng g;
    nn_rng_init(&g, o->seed, 0x9c, 0, 0);
    for (int64_t i = 0; i < n_out; i++) {
        float v = (float)(2.0 * nn_rng_uniform(&g) - 1.0);
        NN_F32P(L->gout.h)[i] = v;
        r[i] = v;
    }
    rc = pt_layer_forward(L, 1, err);
    if (rc == NN_OK)
        rc = finite(L->out.h, "output", err);
    if (rc == NN_OK)
        rc = pt_layer_backward(L, err);
    for (int i = 0, k = 0; rc == NN_OK && i < L->n_inputs + L->su.n_params; i++) {
        const pt_t *g = i < L->n_inputs ? &L->gin[i] : &L->gpar[i - L->n_inputs];
        if (i < L->n_inputs && !(g->h && nn_tensor_dtype(L->in[i].h) == NN_F32))
            continue; /* not a target: no gradient asked, or integer data */
        char what[96];
        snprintf(what, sizeof what, "the gradient of %s", tg[k++].name);
        rc = finite(g->h, what, err);
    }
    int k = 0;
    for (int i = 0; rc == NN_OK && i < L->n_inputs; i++)
        if (L->gin[i].h && nn_tensor_dtype(L->in[i].h) == NN_F32 &&
            !(tg[k++].ana = copy_grad(L->gin[i].h)))
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int i = 0; rc == NN_OK && i < L->su.n_params; i++)
        if (!(tg[k++].ana = copy_grad(L->gpar[i].h)))
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    layer_ctx ctx = {L, r};
    if (rc == NN_OK)
        rc = check_targets(layer_eval, &ctx, tg, nt, o, res, err);
    for (int i = 0; i < k; i++)
        free(tg[i].ana);
    free(r);
    /* leave SAVED buffers consistent with the unperturbed point */
    nn_error ferr = {0};
    if (pt_layer_forward(L, 1, &ferr) && rc == NN_OK)
        rc = nn_error_set(err, ferr.status, "%s", ferr.msg);
    return rc;
}

/* ---- losses ---- */

static int loss_eval(void *ctx, double *value, nn_error *err)
{
    return pt_loss_forward(ctx, 0, value, err);
}

int pt_gradcheck_loss(pt_loss *L, const pt_gc_opts *o, nn_gradcheck_result *res, nn_error *err)
{
    nn_gradcheck_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (nn_tensor_dtype(L->pred.h) != NN_F32)
        return nn_error_set(err, NN_ENOTSUP, "the gradient check needs F32 predictions");
    gc_target t = {.name = "prediction", .x = NN_F32P(L->pred.h), .t = L->pred.h};
    for (int64_t j = 0, n = nn_tensor_numel(t.t); j < n; j++)
        t.x[j] = quantize(t.x[j]);
    double v;
    int rc = pt_loss_forward(L, 1, &v, err);
    if (rc == NN_OK && !isfinite(v))
        rc = nn_error_set(err, NN_EINVAL, "the loss is %g on finite predictions and targets",
                          v);
    if (rc == NN_OK)
        rc = finite(L->grad.h, "the gradient of the prediction", err);
    if (rc == NN_OK && !(t.ana = copy_grad(L->grad.h)))
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
    if (rc == NN_OK)
        rc = check_targets(loss_eval, L, &t, 1, o, res, err);
    free(t.ana);
    return rc;
}

/* ---- the SDK's entry points (gradcheck.h) ---- */

int pt_gc_tol_problem(double rtol, double atol, const char *whose, char *why, size_t cap)
{
    /* written so that NaN fails too */
    if (!(rtol >= 0 && rtol < PT_GC_TOL_MAX) || !(atol >= 0 && atol < PT_GC_TOL_MAX)) {
        snprintf(why, cap, "%s: rtol %g and atol %g must each lie in [0, %g) (0 = the default: "
                 "rtol %g, atol 0)", whose, rtol, atol, PT_GC_TOL_MAX, PT_GC_DEFAULT_RTOL);
        return 1;
    }
    return 0;
}

int pt_gc_tol_loosened(double rtol, double atol, char *note, size_t cap)
{
    char r[64] = "", a[64] = "";
    if (rtol > PT_GC_DEFAULT_RTOL)
        snprintf(r, sizeof r, "rtol %.2g (default %.0e)", rtol, PT_GC_DEFAULT_RTOL);
    if (atol > 0)
        snprintf(a, sizeof a, "atol %.2g (default 0)", atol);
    note[0] = 0;
    if (r[0] || a[0])
        snprintf(note, cap, "the test spec loosens the default tolerance: %s%s%s", r,
                 r[0] && a[0] ? ", " : "", a);
    return note[0] != 0;
}

/* the options in effect: the test spec's tolerances, then what opts sets; refuses what the
 * header says is refused rather than putting a default in its place */
static int gc_opts(const nn_plugin_desc *desc, const nn_gradcheck_opts *opts, pt_gc_opts *o,
                   nn_error *err)
{
    *o = (pt_gc_opts){0, 0, 1, 0};
    char why[300];
    const nn_test_spec *spec = desc->abi_minor >= 4 ? desc->test : NULL;
    if (spec && spec->struct_size >= offsetof(nn_test_spec, reserved)) {
        char whose[160];
        snprintf(whose, sizeof whose, "%.63s: its test spec", desc->name ? desc->name : "?");
        if (pt_gc_tol_problem(spec->rtol, spec->atol, whose, why, sizeof why))
            return nn_error_set(err, NN_EINVAL, "%s", why);
        o->rtol = spec->rtol;
        o->atol = spec->atol;
    }
    if (!opts)
        return NN_OK;
    if (opts->struct_size < offsetof(nn_gradcheck_opts, reserved))
        return nn_error_set(err, NN_EINVAL, "nn_gradcheck_opts.struct_size is %u, expected "
                            "sizeof(nn_gradcheck_opts) (%zu)", opts->struct_size,
                            sizeof(nn_gradcheck_opts));
    if (pt_gc_tol_problem(opts->rtol, opts->atol, "nn_gradcheck_opts", why, sizeof why))
        return nn_error_set(err, NN_EINVAL, "%s", why);
    if (opts->max_elements < 0)
        return nn_error_set(err, NN_EINVAL, "nn_gradcheck_opts.max_elements is %d, expected "
                            ">= 0 (0 = 1024)", opts->max_elements);
    if (opts->rtol > 0)
        o->rtol = opts->rtol;
    if (opts->atol > 0)
        o->atol = opts->atol;
    if (opts->seed)
        o->seed = opts->seed;
    o->max_elements = opts->max_elements;
    return NN_OK;
}

static int check_kind(const nn_plugin_desc *desc, int kind, nn_error *err)
{
    if (!desc || desc->kind != kind)
        return nn_error_set(err, NN_EINVAL, "%s: the descriptor is not a %s",
                            desc && desc->name ? desc->name : "(NULL)", nn_kind_name(kind));
    return NN_OK;
}

int nn_gradcheck_layer(const nn_plugin_desc *desc, const char *const *kv, const char *inputs,
                       const nn_gradcheck_opts *opts, nn_gradcheck_result *res, nn_error *err)
{
    if (res)
        memset(res, 0, sizeof *res);
    int rc = check_kind(desc, NN_KIND_LAYER, err);
    if (rc)
        return rc;
    pt_case c;
    memset(&c, 0, sizeof c);
    if ((rc = pt_parse_tensors(inputs, c.in, NN_MAX_INPUTS, &c.n_inputs, err)))
        return rc;
    pt_gc_opts o;
    if ((rc = gc_opts(desc, opts, &o, err)))
        return rc;
    pt_layer L;
    if ((rc = pt_layer_open(&L, NULL, desc, &c, kv, 1, ~0u, o.seed, err)))
        return rc;
    rc = pt_gradcheck_layer(&L, &o, res, err);
    pt_layer_close(&L);
    return rc;
}

int nn_gradcheck_loss(const nn_plugin_desc *desc, const char *const *kv, const char *pred,
                      const char *target, const nn_gradcheck_opts *opts,
                      nn_gradcheck_result *res, nn_error *err)
{
    if (res)
        memset(res, 0, sizeof *res);
    int rc = check_kind(desc, NN_KIND_LOSS, err);
    if (rc)
        return rc;
    nn_test_case tc = {.inputs = pred, .target = target};
    pt_case c;
    if ((rc = pt_case_from_test(&tc, NN_KIND_LOSS, &c, err)))
        return rc;
    pt_gc_opts o;
    if ((rc = gc_opts(desc, opts, &o, err)))
        return rc;
    pt_loss L;
    if ((rc = pt_loss_open(&L, NULL, desc, &c, kv, o.seed, err)))
        return rc;
    rc = pt_gradcheck_loss(&L, &o, res, err);
    pt_loss_close(&L);
    return rc;
}
