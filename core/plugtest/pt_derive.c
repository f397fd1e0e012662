/* pt_derive.c: the cases a layer, loss or transform is checked on: its test spec's, or, without
 * one, shapes it accepts found by asking its setup() about a few common structures (with the
 * required keys guessed from the schema), sized at random from the run's seed and kept small
 * so that every later check stays fast. Calls create() and setup() only. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_decls.h"
#include "crash.h"
#include "pt_internal.h"

/* Does setup() accept this case? (create, setup on shapes only, destroy) *broken is set when
 * setup accepted it but declared what the core refuses (layer_decls.h): a bug, not a no. */
static int probe(const pt_ctx *c, const pt_case *k, int *broken, nn_error *err)
{
    *broken = 0;
    nn_instance inst;
    int rc = pt_instance(&inst, c->d, k->params, c->o->params, err);
    if (rc)
        return rc;
    nn_tensor t[NN_MAX_INPUTS + 1];
    memset(t, 0, sizeof t);
    for (int i = 0; i < k->n_inputs; i++)
        nn_tensor_describe(&t[i], k->in[i].dtype, k->in[i].ndim, k->in[i].shape);
    if (k->has_target)
        nn_tensor_describe(&t[NN_MAX_INPUTS], k->target.dtype, k->target.ndim, k->target.shape);
    /* setup sees the device the checks will run on, as the graph would show it */
    const nn_device *dev = nn_dev_public(c->dev ? c->dev : nn_dev_host());
    for (int i = 0; i <= NN_MAX_INPUTS; i++)
        t[i].dl.device = dev->dl;
    switch (c->d->kind) {
    case NN_KIND_LAYER: {
        nn_param_decl more[NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS];
        nn_layer_setup s = {.struct_size = sizeof s, .layer_name = "probe", .training = 1,
                            .n_inputs = k->n_inputs, .device = dev, .params_more = more};
        for (int i = 0; i < k->n_inputs; i++)
            s.inputs[i] = &t[i];
        rc = PT_CALL(&inst, "setup",
                            ((const nn_layer_vtable *)inst.vt)->setup(inst.self, &s, err), err);
        if (rc == NN_OK && (rc = nn_layer_decls_check(&s, &inst, s.layer_name, NULL, 0, err)))
            *broken = 1;
        break;
    }
    case NN_KIND_LOSS: {
        nn_loss_setup s = {.struct_size = sizeof s, .pred = &t[0], .target = &t[NN_MAX_INPUTS],
                           .device = dev};
        rc = PT_CALL(&inst, "setup",
                            ((const nn_loss_vtable *)inst.vt)->setup(inst.self, &s, err), err);
        break;
    }
    case NN_KIND_TRANSFORM: {
        /* targets as a classification dataset gives them (batch transforms read them) */
        nn_tensor cls = {0}, cls_out;
        int64_t ten = 10;
        nn_tensor_describe(&cls, NN_I32, 0, &ten);
        cls_out = cls;
        cls_out.dl.shape = cls_out.shape;
        cls_out.dl.strides = cls_out.strides;
        const nn_transform_vtable *vt = inst.vt;
        int batch = vt->struct_size > offsetof(nn_transform_vtable, apply_batch) &&
                    vt->apply_batch;
        nn_transform_setup s = {.struct_size = sizeof s, .in = &t[0], .out = t[0],
                                .train_only = 1, .target = &cls,
                                .target_out = batch ? &cls_out : NULL, .n_classes = 10};
        s.out.dl.shape = s.out.shape;
        s.out.dl.strides = s.out.strides;
        rc = PT_CALL(&inst, "setup",
                            ((const nn_transform_vtable *)inst.vt)->setup(inst.self, &s, err), err);
        break;
    }
    }
    nn_instance_destroy(&inst);
    return rc;
}

/* the combinations of candidate values of the required keys, as "k=v; k=v" */
static int required_combos(const nn_plugin_desc *d, const char *const *given,
                           char out[][PT_TEXT], int max, char *missing, size_t cap)
{
    const nn_param_spec *req[8];
    char vals[8][4][24];
    int nv[8], nr = 0, total = 1;
    for (const nn_param_spec *s = d->params; s && s->name; s++) {
        if (!s->required || pt_given_key(given, s->name))
            continue;
        if (nr == 8 || (nv[nr] = pt_candidates(s, vals[nr], 4)) == 0) {
            snprintf(missing, cap, "%s", s->name);
            return 0;
        }
        req[nr++] = s;
        total *= nv[nr - 1];
    }
    int n = 0;
    for (int k = 0; k < total && n < max; k++, n++) {
        size_t used = 0;
        out[n][0] = 0;
        for (int i = 0, rest = k; i < nr; i++, rest /= nv[i - 1])
            used += (size_t)snprintf(out[n] + used, PT_TEXT - used, "%s%s=%s", i ? "; " : "",
                                     req[i]->name, vals[i][rest % nv[i]]);
    }
    return n;
}

static void spec(pt_tensor_spec *t, nn_dtype dt, int ndim, const int64_t *shape, double lo,
                 double hi)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->lo = lo;
    t->hi = hi;
}

static int64_t pick(nn_rng *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)nn_rng_below(g, (uint64_t)(hi - lo + 1));
}

/* A structure to try: the inputs (or the prediction) and, for a loss, the target. make()
 * fills a case of that structure; random = 0 gives the nominal sizes. */
typedef struct shape_kind {
    const char *what;
    void (*make)(pt_case *k, nn_rng *g, int random);
} shape_kind;

#define R(lo, hi, nominal) (random ? pick(g, lo, hi) : (nominal))

static void l_mat(pt_case *k, nn_rng *g, int random)
{
    int64_t s[2] = {R(2, 3, 2), R(2, 7, 6)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 2, s, -1, 1);
}
static void l_seq(pt_case *k, nn_rng *g, int random)
{
    int64_t s[3] = {R(2, 3, 2), R(1, 3, 3), R(6, 10, 8)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 3, s, -1, 1);
}
static void l_img(pt_case *k, nn_rng *g, int random)
{
    int64_t s[4] = {R(2, 3, 2), R(1, 3, 3), R(4, 7, 6), R(4, 7, 6)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 4, s, -1, 1);
}
static void l_two_mat(pt_case *k, nn_rng *g, int random)
{
    l_mat(k, g, random);
    k->n_inputs = 2;
    k->in[1] = k->in[0];
}
static void l_two_img(pt_case *k, nn_rng *g, int random)
{
    l_img(k, g, random);
    k->n_inputs = 2;
    k->in[1] = k->in[0];
}
static void l_ids(pt_case *k, nn_rng *g, int random)
{
    int64_t s[2] = {R(2, 3, 2), R(2, 6, 5)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_I32, 2, s, 0, 2);
}
static const shape_kind layer_kinds[] = {
    {"[N, F]", l_mat},          {"[N, C, H, W]", l_img},     {"[N, C, L]", l_seq},
    {"2 x [N, F]", l_two_mat},  {"2 x [N, C, H, W]", l_two_img}, {"I32 ids [N, L]", l_ids},
};

static void s_class(pt_case *k, nn_rng *g, int random)
{
    int64_t p[2] = {R(2, 4, 4), R(2, 5, 5)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 2, p, -1, 1);
    spec(&k->target, NN_I32, 1, p, 0, (double)p[1]);
    k->has_target = 1;
}
static void s_same(pt_case *k, nn_rng *g, int random)
{
    int64_t p[2] = {R(2, 4, 4), R(2, 5, 5)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 2, p, -1, 1);
    spec(&k->target, NN_F32, 2, p, 0, 1);
    k->has_target = 1;
}
static void s_same3(pt_case *k, nn_rng *g, int random)
{
    int64_t p[3] = {R(2, 3, 2), R(2, 4, 3), R(2, 4, 4)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 3, p, -1, 1);
    spec(&k->target, NN_F32, 3, p, 0, 1);
    k->has_target = 1;
}
static const shape_kind loss_kinds[] = {
    {"[N, C] with class ids [N]", s_class},
    {"[N, C] with [N, C] targets", s_same},
    {"[N, C, L] with [N, C, L] targets", s_same3},
};

static void t_img(pt_case *k, nn_rng *g, int random)
{
    int64_t s[3] = {R(1, 3, 3), R(6, 10, 8), R(6, 10, 8)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 3, s, 0, 1);
}
static void t_img_u8(pt_case *k, nn_rng *g, int random)
{
    t_img(k, g, random);
    k->in[0].dtype = NN_U8;
    k->in[0].hi = 256;
}
static void t_signal(pt_case *k, nn_rng *g, int random)
{
    int64_t s[1] = {R(32, 64, 64)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 1, s, -1, 1);
}
static void t_wave(pt_case *k, nn_rng *g, int random)
{
    int64_t s[2] = {R(1, 2, 1), R(64, 128, 96)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_F32, 2, s, -1, 1);
}
static void t_tokens(pt_case *k, nn_rng *g, int random)
{
    int64_t s[1] = {R(8, 16, 12)};
    k->n_inputs = 1;
    spec(&k->in[0], NN_I32, 1, s, 0, 20);
}
static const shape_kind transform_kinds[] = {
    {"image [C, H, W]", t_img},
    {"u8 image [C, H, W]", t_img_u8},
    {"signal [L]", t_signal},
    {"waveform [C, T]", t_wave},
    {"tokens [L]", t_tokens},
};

#undef R

static void add_case(pt_report *r, const pt_case *k)
{
    if (r->n_cases < PT_MAX_CASES)
        r->cases[r->n_cases++] = *k;
}

static void derive(pt_ctx *c, pt_report *r)
{
    const shape_kind *kinds = c->d->kind == NN_KIND_LAYER ? layer_kinds
                              : c->d->kind == NN_KIND_LOSS ? loss_kinds : transform_kinds;
    int nk = c->d->kind == NN_KIND_LAYER ? (int)(sizeof layer_kinds / sizeof *layer_kinds)
             : c->d->kind == NN_KIND_LOSS ? (int)(sizeof loss_kinds / sizeof *loss_kinds)
                                          : (int)(sizeof transform_kinds / sizeof *transform_kinds);
    static char combos[16][PT_TEXT];
    char missing[64] = "", tried[600] = "";
    int nc = required_combos(c->d, c->o->params, combos, 16, missing, sizeof missing);
    if (missing[0]) {
        pt_add(r, PT_SKIP, "cases", NULL, NULL, "cannot guess the required key '%s': give it "
               "with --param %s=VALUE, or declare cases in the descriptor's test spec",
               missing, missing);
        return;
    }
    nn_rng g;
    nn_rng_init(&g, c->seed, 0xca5e, 0, 0);
    nn_error last = {0};
    size_t used = 0;
    for (int s = 0; s < nk && r->n_cases < 3; s++) {
        for (int p = 0; p < nc; p++) {
            pt_case k;
            memset(&k, 0, sizeof k);
            memcpy(k.params, combos[p], sizeof k.params);
            kinds[s].make(&k, &g, 0);
            nn_error err = {0};
            int broken = 0;
            if (probe(c, &k, &broken, &err) != NN_OK && !broken) {
                last = err;
                continue;
            }
            /* accepted: now a random size of the same structure, if it takes one */
            for (int t = 0; t < 8 && !broken; t++) {
                pt_case rk = k;
                kinds[s].make(&rk, &g, 1);
                if (probe(c, &rk, &broken, &err) == NN_OK) {
                    k = rk;
                    break;
                }
            }
            if (broken) {
                pt_case_label(&k);
                pt_add(r, PT_FAIL, "cases", NULL, NULL, "[%s] setup accepted it but %s",
                       k.label, err.msg);
                r->n_cases = 0;
                return;
            }
            pt_case_label(&k);
            add_case(r, &k);
            break;
        }
        if (used < sizeof tried)
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", s ? ", " : "",
                                     kinds[s].what);
    }
    if (r->n_cases == 0) {
        pt_add(r, PT_SKIP, "cases", NULL, NULL, "setup accepted none of %s (last: %s); declare "
               "cases in the descriptor's test spec", tried, last.msg);
        return;
    }
    char list[1000];
    used = 0;
    list[0] = 0;
    for (int i = 0; i < r->n_cases && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "\n%s", r->cases[i].label);
    pt_add(r, PT_PASS, "cases", NULL, NULL, "%d derived from the schema (no test spec):%s",
           r->n_cases, list);
}

void pt_check_cases(pt_ctx *c, pt_report *r)
{
    const nn_test_spec *t = c->d->abi_minor >= 4 ? c->d->test : NULL;
    if (!t || t->n_cases == 0) {
        derive(c, r);
        return;
    }
    char list[1000];
    size_t used = 0;
    list[0] = 0;
    for (int i = 0; i < t->n_cases && i < PT_MAX_CASES; i++) {
        pt_case k;
        nn_error err = {0};
        int broken;
        if (pt_case_from_test(&t->cases[i], c->d->kind, &k, &err) != NN_OK ||
            probe(c, &k, &broken, &err) != NN_OK) {
            pt_add(r, PT_FAIL, "cases", NULL, NULL, "test spec case %d: %s", i, err.msg);
            r->n_cases = 0;
            return;
        }
        add_case(r, &k);
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "\n%s", k.label);
    }
    pt_add(r, PT_PASS, "cases", NULL, NULL, "%d from the test spec%s:%s", r->n_cases,
           t->n_cases > PT_MAX_CASES ? " (the first ones)" : "", list);
}
