/* data.c: turns [data] and [transform.NAME] into opened dataset instances, the parts of a run
 * (train/val/test index lists) and a checked transform chain; decodes one sample through it.
 * After nn_data_open everything here is read-only, so loader threads may decode concurrently. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "nntrain/dataset.h"
#include "nntrain/transform.h"
#include "data_internal.h"
#include "instance.h"

typedef struct data_src {
    nn_instance inst;
    const nn_dataset_vtable *vt;
    nn_dataset_info info;
    int created, opened;
    char origin[160];
} data_src;

typedef struct data_tf {
    nn_instance inst;
    const nn_transform_vtable *vt;
    char *name;
    nn_tensor in, out;
    int train_only;
} data_tf;

struct nn_data {
    nn_data_opts o;
    char *base_dir, *state_dir;
    data_src train, val, test;
    data_src *src[3]; /* source of each part */
    int64_t *idx[3];
    int64_t n[3];
    data_tf *tf;
    int ntf;
    nn_dataset_info info; /* described after the chain */
    size_t scratch;
};

static const nn_param_spec data_schema[] = {
    {.name = "type", .type = NN_PARAM_STRING, .required = 1, .doc = "dataset plugin"},
    {.name = "val_split", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",
     .doc = "fraction of the training split held out for validation"},
    {.name = "stratify", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "keep class proportions in the validation split and the folds"},
    {.name = "val_type", .type = NN_PARAM_STRING,
     .doc = "a separate validation dataset plugin, configured by val_* keys"},
    {0}};

/* Creates (without opening) a dataset instance of plugin `type` from kvs. */
static int src_create(data_src *s, nn_registry *reg, const char *type, const nn_kv *kvs, int n,
                      const char *origin, nn_error *err)
{
    snprintf(s->origin, sizeof s->origin, "%s", origin);
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_DATASET, type, NULL, err);
    if (!e) {
        nn_error_prefix(err, "%s type = %s", origin, type);
        return err ? (err->status ? err->status : NN_ENOTFOUND) : NN_ENOTFOUND;
    }
    int rc = nn_instance_create(&s->inst, e->desc, kvs, n, origin, err);
    if (rc)
        return rc;
    s->vt = s->inst.vt;
    s->created = 1;
    return NN_OK;
}

static int src_open(nn_data *d, data_src *s, nn_split split, int fit, nn_error *err)
{
    nn_dataset_open o = {.struct_size = sizeof o, .split = split, .base_dir = d->base_dir,
                         .state_dir = d->state_dir, .fit = fit};
    memset(&s->info, 0, sizeof s->info);
    s->info.struct_size = sizeof s->info;
    int rc = s->vt->open(s->inst.self, &o, &s->info, err);
    if (rc) {
        nn_error_prefix(err, "%s", s->origin);
        return rc < 0 ? rc : NN_EINTERNAL;
    }
    if (s->info.length < 0 || nn_tensor_dtype(&s->info.sample) < 0 ||
        nn_tensor_dtype(&s->info.target) < 0)
        return nn_error_set(err, NN_EINTERNAL, "%s: dataset plugin described an invalid split",
                            s->origin);
    s->opened = 1;
    return NN_OK;
}

static void src_free(data_src *s)
{
    if (s->created)
        nn_instance_destroy(&s->inst);
    memset(s, 0, sizeof *s);
}

static int same_desc(const nn_tensor *a, const nn_tensor *b)
{
    return nn_shape_equal(a, b) && nn_tensor_dtype(a) == nn_tensor_dtype(b);
}

static int64_t *iota(int64_t n)
{
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; v && i < n; i++)
        v[i] = i;
    return v;
}

/* Cuts the training split into train/val index lists from a 0/1 mark per sample. */
static int parts_from_marks(nn_data *d, const uint8_t *is_val, nn_error *err)
{
    int64_t n = d->train.info.length, nv = 0;
    for (int64_t i = 0; i < n; i++)
        nv += is_val[i];
    d->idx[NN_PART_TRAIN] = malloc((size_t)(n - nv ? n - nv : 1) * sizeof(int64_t));
    d->idx[NN_PART_VAL] = malloc((size_t)(nv ? nv : 1) * sizeof(int64_t));
    if (!d->idx[NN_PART_TRAIN] || !d->idx[NN_PART_VAL])
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n[NN_PART_TRAIN] = d->n[NN_PART_VAL] = 0;
    for (int64_t i = 0; i < n; i++) {
        int p = is_val[i] ? NN_PART_VAL : NN_PART_TRAIN;
        d->idx[p][d->n[p]++] = i;
    }
    d->src[NN_PART_TRAIN] = d->src[NN_PART_VAL] = &d->train;
    return NN_OK;
}

static int make_parts(nn_data *d, const nn_params *dp, nn_error *err)
{
    int64_t n = d->train.info.length;
    const int32_t *labels = nn_params_bool(dp, "stratify") ? d->train.info.labels : NULL;
    double frac = nn_params_float(dp, "val_split");
    if (d->o.folds > 0) {
        if (d->o.fold < 0 || d->o.fold >= d->o.folds)
            return nn_error_set(err, NN_EINVAL, "fold %d is not in [0, %d)", d->o.fold,
                                d->o.folds);
        if (d->o.folds > n)
            return nn_error_set(err, NN_EINVAL, "%d folds need at least %d samples; the "
                                "training split has %lld", d->o.folds, d->o.folds, (long long)n);
        int32_t *fold_of = malloc((size_t)n * sizeof *fold_of);
        uint8_t *mark = malloc((size_t)n);
        int rc = fold_of && mark ? nn_kfold_assign(n, labels, d->o.folds, d->o.seed, fold_of)
                                 : NN_ENOMEM;
        for (int64_t i = 0; !rc && i < n; i++)
            mark[i] = fold_of[i] == d->o.fold;
        if (!rc)
            rc = parts_from_marks(d, mark, err);
        else
            nn_error_set(err, rc, "cannot assign %d folds (negative labels?)", d->o.folds);
        free(fold_of);
        free(mark);
        return rc;
    }
    if (d->val.created) {
        d->idx[NN_PART_TRAIN] = iota(n);
        d->n[NN_PART_TRAIN] = n;
        d->idx[NN_PART_VAL] = iota(d->val.info.length);
        d->n[NN_PART_VAL] = d->val.info.length;
        d->src[NN_PART_TRAIN] = &d->train;
        d->src[NN_PART_VAL] = &d->val;
        if (!d->idx[NN_PART_TRAIN] || !d->idx[NN_PART_VAL])
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        return NN_OK;
    }
    uint8_t *mark = malloc((size_t)(n ? n : 1));
    if (!mark)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int64_t nv = nn_split_assign(n, labels, frac, d->o.seed, mark);
    int rc = nv < 0 ? nn_error_set(err, NN_ENOMEM, "out of memory") : NN_OK;
    if (!rc && frac > 0 && (nv == 0 || nv == n))
        rc = nn_error_set(err, NN_EINVAL, "[data] val_split = %g of %lld samples leaves an "
                          "empty %s part", frac, (long long)n, nv ? "training" : "validation");
    if (!rc)
        rc = parts_from_marks(d, mark, err);
    free(mark);
    return rc;
}

/* Creates every [transform.NAME] in file order and chains their setup. */
static int make_chain(nn_data *d, nn_registry *reg, const nn_config *cfg, const nn_tensor *in,
                      nn_error *err)
{
    int nsec = nn_config_count(cfg), cap = 0;
    for (int i = 0; i < nsec; i++)
        cap += !strncmp(nn_config_at(cfg, i)->name, "transform.", 10);
    d->tf = calloc((size_t)(cap ? cap : 1), sizeof *d->tf);
    if (!d->tf)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    nn_tensor cur = *in;
    cur.dl.shape = cur.shape;
    cur.dl.strides = cur.strides;
    d->scratch = nn_tensor_nbytes(&cur);
    for (int i = 0; i < nsec; i++) {
        const nn_config_section *s = nn_config_at(cfg, i);
        if (strncmp(s->name, "transform.", 10))
            continue;
        char origin[200];
        snprintf(origin, sizeof origin, "%s [%s]", nn_config_path(cfg), s->name);
        const char *type = NULL;
        nn_kv *kvs = malloc((size_t)(s->n ? s->n : 1) * sizeof *kvs);
        if (!kvs)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        int n = 0;
        for (int k = 0; k < s->n; k++)
            if (!strcmp(s->kvs[k].key, "type"))
                type = s->kvs[k].value;
            else
                kvs[n++] = s->kvs[k];
        if (!type) {
            free(kvs);
            return nn_error_set(err, NN_EINVAL, "%s: missing key 'type' (the transform plugin)",
                                origin);
        }
        const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_TRANSFORM, type, NULL, err);
        if (!e) {
            free(kvs);
            nn_error_prefix(err, "%s type = %s", origin, type);
            return err && err->status ? err->status : NN_ENOTFOUND;
        }
        data_tf *t = &d->tf[d->ntf];
        int rc = nn_instance_create(&t->inst, e->desc, kvs, n, origin, err);
        free(kvs);
        if (rc)
            return rc;
        d->ntf++;
        t->vt = t->inst.vt;
        t->name = strdup(s->name + 10);
        if (!t->name)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        t->in = cur;
        t->in.dl.shape = t->in.shape;
        t->in.dl.strides = t->in.strides;
        nn_transform_setup st = {.struct_size = sizeof st, .in = &t->in, .out = cur,
                                 .train_only = 1};
        st.out.dl.shape = st.out.shape;
        st.out.dl.strides = st.out.strides;
        rc = t->vt->setup(t->inst.self, &st, err);
        if (rc) {
            nn_error_prefix(err, "%s", origin);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
        t->out = st.out;
        t->out.dl.shape = t->out.shape;
        t->out.dl.strides = t->out.strides;
        t->train_only = st.train_only;
        char a[96], b[96];
        if (nn_tensor_dtype(&t->out) < 0)
            return nn_error_set(err, NN_EINTERNAL, "%s: setup gave an unknown dtype", origin);
        if (t->train_only && !same_desc(&t->in, &t->out))
            return nn_error_set(err, NN_ESHAPE,
                                "%s: a train-only transform must keep the sample shape (eval "
                                "skips it), but it maps %s to %s", origin,
                                nn_shape_str(&t->in, a, sizeof a),
                                nn_shape_str(&t->out, b, sizeof b));
        if (nn_tensor_nbytes(&t->out) > d->scratch)
            d->scratch = nn_tensor_nbytes(&t->out);
        cur = t->out;
        cur.dl.shape = cur.shape;
        cur.dl.strides = cur.strides;
    }
    d->info.sample = cur;
    d->info.sample.dl.shape = d->info.sample.shape;
    d->info.sample.dl.strides = d->info.sample.strides;
    d->info.sample.dl.data = NULL;
    if (d->ntf == 0)
        d->scratch = 0;
    d->scratch = (d->scratch + 63) / 64 * 64;
    return NN_OK;
}

/* The sample source a fitting transform reads: training-part samples through the transforms
 * before it that also run at eval time (augmentations are skipped while fitting). */
typedef struct fit_ctx {
    nn_data *d;
    int upto;
    void *a, *b, *tgt;
} fit_ctx;

static int decode_upto(const nn_data *d, nn_part part, int64_t index, int upto, int augment,
                       int64_t epoch, void *sa, void *sb, nn_tensor *sample, nn_tensor *target,
                       nn_error *err);

static int fit_get(void *ctx, int64_t i, nn_tensor *sample, nn_error *err)
{
    fit_ctx *c = ctx;
    if (i < 0 || i >= c->d->n[NN_PART_TRAIN])
        return nn_error_set(err, NN_EINVAL, "fit: sample %lld out of range", (long long)i);
    nn_tensor tgt = c->d->train.info.target;
    tgt.dl.shape = tgt.shape;
    tgt.dl.strides = tgt.strides;
    tgt.dl.data = c->tgt;
    return decode_upto(c->d, NN_PART_TRAIN, c->d->idx[NN_PART_TRAIN][i], c->upto, 0, 0, c->a,
                       c->b, sample, &tgt, err);
}

static int fit_chain(nn_data *d, nn_error *err)
{
    for (int i = 0; i < d->ntf; i++) {
        data_tf *t = &d->tf[i];
        if (!t->vt->fit)
            continue;
        fit_ctx c = {.d = d, .upto = i};
        size_t sb = d->scratch ? d->scratch : 64;
        c.a = aligned_alloc(64, sb);
        c.b = aligned_alloc(64, sb);
        c.tgt = aligned_alloc(64, (nn_tensor_nbytes(&d->train.info.target) + 63) / 64 * 64 + 64);
        nn_sample_source src = {.length = d->n[NN_PART_TRAIN], .ctx = &c, .get = fit_get};
        int rc = c.a && c.b && c.tgt ? t->vt->fit(t->inst.self, &src, err) : NN_ENOMEM;
        free(c.a);
        free(c.b);
        free(c.tgt);
        if (rc) {
            if (rc == NN_ENOMEM)
                nn_error_set(err, rc, "out of memory");
            nn_error_prefix(err, "[transform.%s] fit", t->name);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
    }
    return NN_OK;
}

int nn_data_open(nn_registry *reg, const nn_config *cfg, const nn_data_opts *o, nn_data **out,
                 nn_error *err)
{
    *out = NULL;
    const nn_config_section *sec = nn_config_find(cfg, "data");
    if (!sec)
        return nn_error_set(err, NN_EINVAL, "%s: no [data] section", nn_config_path(cfg));
    nn_data *d = calloc(1, sizeof *d);
    nn_kv *core = calloc((size_t)sec->n + 1, sizeof *core);
    nn_kv *plug = calloc((size_t)sec->n + 1, sizeof *plug);
    nn_kv *val = calloc((size_t)sec->n + 1, sizeof *val);
    nn_params *dp = NULL;
    int nc = 0, np = 0, nv = 0, rc = NN_OK;
    if (!d || !core || !plug || !val) {
        rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        goto done;
    }
    d->o = *o;
    d->base_dir = o->base_dir ? strdup(o->base_dir) : NULL;
    d->state_dir = o->state_dir ? strdup(o->state_dir) : NULL;
    d->o.base_dir = d->base_dir;
    d->o.state_dir = d->state_dir;
    for (int i = 0; i < sec->n; i++) {
        const nn_kv *kv = &sec->kvs[i];
        int is_core = 0;
        for (const nn_param_spec *s = data_schema; s->name; s++)
            is_core |= !strcmp(kv->key, s->name);
        if (is_core)
            core[nc++] = *kv;
        else if (!strncmp(kv->key, "val_", 4)) {
            val[nv] = *kv;
            val[nv++].key = kv->key + 4;
        } else {
            plug[np++] = *kv;
        }
    }
    char origin[200], vorigin[220];
    snprintf(origin, sizeof origin, "%s [data]", nn_config_path(cfg));
    snprintf(vorigin, sizeof vorigin, "%s [data] val_*", nn_config_path(cfg));
    if ((rc = nn_params_parse(data_schema, core, nc, origin, &dp, err)))
        goto done;
    const char *type = nn_params_str(dp, "type"), *vtype = nn_params_str(dp, "val_type");
    if (nv && !vtype) {
        rc = nn_error_set(err, NN_EINVAL, "%s:%d: %s key '%s' needs val_type (the validation "
                          "dataset plugin)", val[0].file ? val[0].file : "", val[0].line,
                          origin, val[0].key - 4);
        goto done;
    }
    if (vtype && nn_params_float(dp, "val_split") > 0) {
        rc = nn_error_set(err, NN_EINVAL, "%s: give val_split or val_type, not both", origin);
        goto done;
    }
    if ((rc = src_create(&d->train, reg, type, plug, np, origin, err)) ||
        (rc = src_create(&d->test, reg, type, plug, np, origin, err)))
        goto done;
    const nn_dataset_info *base;
    if (o->for_eval) {
        if ((rc = src_open(d, &d->test, NN_SPLIT_TEST, 0, err)))
            goto done;
        d->idx[NN_PART_TEST] = iota(d->test.info.length);
        d->n[NN_PART_TEST] = d->test.info.length;
        d->src[NN_PART_TEST] = &d->test;
        base = &d->test.info;
    } else {
        if ((rc = src_open(d, &d->train, NN_SPLIT_TRAIN, o->fit, err)))
            goto done;
        if (vtype && !o->folds &&
            ((rc = src_create(&d->val, reg, vtype, val, nv, vorigin, err)) ||
             (rc = src_open(d, &d->val, NN_SPLIT_TRAIN, 0, err))))
            goto done;
        if (d->val.opened && d->val.info.n_classes != d->train.info.n_classes) {
            rc = nn_error_set(err, NN_EINVAL, "%s: the validation dataset has %d classes, the "
                              "training dataset %d (fix the class list, e.g. val_classes)",
                              vorigin, d->val.info.n_classes, d->train.info.n_classes);
            goto done;
        }
        for (int c = 0; d->val.opened && d->val.info.class_names && d->train.info.class_names &&
                        c < d->train.info.n_classes; c++)
            if (strcmp(d->val.info.class_names[c], d->train.info.class_names[c])) {
                rc = nn_error_set(err, NN_EINVAL, "%s: validation class %d is '%s' but training "
                                  "class %d is '%s'", vorigin, c, d->val.info.class_names[c], c,
                                  d->train.info.class_names[c]);
                goto done;
            }
        if (d->val.opened && !(same_desc(&d->val.info.sample, &d->train.info.sample) &&
                               same_desc(&d->val.info.target, &d->train.info.target))) {
            rc = nn_error_set(err, NN_ESHAPE, "%s: the validation dataset's samples or targets "
                              "differ in shape or type from the training dataset's", vorigin);
            goto done;
        }
        if ((rc = make_parts(d, dp, err)))
            goto done;
        base = &d->train.info;
    }
    d->info = *base;
    nn_tensor_describe(&d->info.target, (nn_dtype)nn_tensor_dtype(&base->target),
                       base->target.dl.ndim, base->target.shape);
    if ((rc = make_chain(d, reg, cfg, &base->sample, err)))
        goto done;
    if (o->fit && !o->for_eval)
        rc = fit_chain(d, err);
done:
    nn_params_free(dp);
    free(core);
    free(plug);
    free(val);
    if (rc)
        nn_data_free(d);
    else
        *out = d;
    return rc;
}

void nn_data_free(nn_data *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->ntf; i++) {
        nn_instance_destroy(&d->tf[i].inst);
        free(d->tf[i].name);
    }
    free(d->tf);
    src_free(&d->train);
    src_free(&d->val);
    src_free(&d->test);
    for (int p = 0; p < 3; p++)
        free(d->idx[p]);
    free(d->base_dir);
    free(d->state_dir);
    free(d);
}

int nn_data_open_test(nn_data *d, nn_error *err)
{
    if (d->src[NN_PART_TEST])
        return NN_OK;
    int rc = src_open(d, &d->test, NN_SPLIT_TEST, 0, err);
    if (rc)
        return rc;
    if (!same_desc(&d->test.info.sample, &d->train.info.sample))
        return nn_error_set(err, NN_ESHAPE, "%s: test samples differ in shape or type from the "
                            "training samples", d->test.origin);
    if (!(d->idx[NN_PART_TEST] = iota(d->test.info.length)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n[NN_PART_TEST] = d->test.info.length;
    d->src[NN_PART_TEST] = &d->test;
    return NN_OK;
}

int64_t nn_data_size(const nn_data *d, nn_part part)
{
    if ((unsigned)part > NN_PART_TEST)
        return NN_EINVAL;
    if (part == NN_PART_TEST && !d->src[NN_PART_TEST])
        return NN_ENOTFOUND;
    return d->n[part];
}

const int64_t *nn_data_indices(const nn_data *d, nn_part part, int64_t *n)
{
    *n = 0;
    if ((unsigned)part > NN_PART_TEST || !d->src[part])
        return NULL;
    *n = d->n[part];
    return d->idx[part];
}

const nn_dataset_info *nn_data_info(const nn_data *d)
{
    return &d->info;
}

uint64_t nn_data_seed(const nn_data *d)
{
    return d->o.seed;
}

size_t nn_data_scratch_bytes(const nn_data *d)
{
    return d->scratch;
}

static int decode_upto(const nn_data *d, nn_part part, int64_t index, int upto, int augment,
                       int64_t epoch, void *sa, void *sb, nn_tensor *sample, nn_tensor *target,
                       nn_error *err)
{
    const data_src *s = d->src[part];
    int last = -1;
    for (int i = 0; i < upto; i++)
        if (augment || !d->tf[i].train_only)
            last = i;
    nn_tensor cur = s->info.sample;
    cur.dl.shape = cur.shape;
    cur.dl.strides = cur.strides;
    cur.dl.data = last < 0 ? sample->dl.data : sa;
    int rc = s->vt->get(s->inst.self, index, &cur, target, err);
    if (rc) {
        nn_error_prefix(err, "%s sample %lld", s->origin, (long long)index);
        return rc < 0 ? rc : NN_EINTERNAL;
    }
    nn_rng r;
    nn_rng_init(&r, d->o.seed, (uint64_t)epoch, (uint64_t)index, 0);
    for (int i = 0; i <= last; i++) {
        const data_tf *t = &d->tf[i];
        if (t->train_only && !augment)
            continue;
        nn_tensor o = t->out;
        o.dl.shape = o.shape;
        o.dl.strides = o.strides;
        o.dl.data = i == last ? sample->dl.data : (cur.dl.data == sa ? sb : sa);
        rc = t->vt->apply(t->inst.self, &cur, &o, &r, err);
        if (rc) {
            nn_error_prefix(err, "[transform.%s] on sample %lld", t->name, (long long)index);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
        cur = o;
        cur.dl.shape = cur.shape;
        cur.dl.strides = cur.strides;
    }
    return NN_OK;
}

int nn_data_decode(const nn_data *d, nn_part part, int64_t index, int augment, int64_t epoch,
                   void *scratch_a, void *scratch_b, nn_tensor *sample, nn_tensor *target,
                   nn_error *err)
{
    return decode_upto(d, part, index, d->ntf, augment, epoch, scratch_a, scratch_b, sample,
                       target, err);
}

/* Checkpoint text: for each transform with state, "transform NAME BYTES\n" + BYTES + "\n". */
int nn_data_state_save(const nn_data *d, char *buf, size_t cap)
{
    size_t used = 0;
    for (int i = 0; i < d->ntf; i++) {
        const data_tf *t = &d->tf[i];
        if (!t->vt->state_save)
            continue;
        nn_error e = {0};
        int need = t->vt->state_save(t->inst.self, NULL, 0, &e);
        if (need < 0)
            return need;
        char head[256];
        int hl = snprintf(head, sizeof head, "transform %s %d\n", t->name, need);
        if (used + (size_t)hl + (size_t)need + 2 <= cap) {
            memcpy(buf + used, head, (size_t)hl);
            int got = t->vt->state_save(t->inst.self, buf + used + hl, cap - used - hl, &e);
            if (got != need)
                return NN_EINTERNAL;
            buf[used + hl + need] = '\n';
        }
        used += (size_t)hl + (size_t)need + 1;
    }
    if (used + 1 <= cap)
        buf[used] = 0;
    return (int)used + 1;
}

int nn_data_state_load(nn_data *d, const char *text, nn_error *err)
{
    const char *p = text;
    while (*p) {
        char name[128];
        int len = -1;
        const char *nl = strchr(p, '\n');
        size_t used = nl ? (size_t)(nl - p) + 1 : 0;
        if (!nl || sscanf(p, "transform %127s %d", name, &len) != 2 || len < 0 ||
            strlen(p + used) < (size_t)len)
            return nn_error_set(err, NN_EFORMAT, "transform state: malformed entry at offset %td",
                                p - text);
        data_tf *t = NULL;
        for (int i = 0; i < d->ntf && !t; i++)
            if (!strcmp(d->tf[i].name, name))
                t = &d->tf[i];
        if (!t || !t->vt->state_load)
            return nn_error_set(err, NN_EINVAL, "transform state: the checkpoint has state for "
                                "[transform.%s], which this model %s", name,
                                t ? "cannot load state into" : "does not have");
        char *copy = malloc((size_t)len + 1);
        if (!copy)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        memcpy(copy, p + used, (size_t)len);
        copy[len] = 0;
        int rc = t->vt->state_load(t->inst.self, copy, err);
        free(copy);
        if (rc) {
            nn_error_prefix(err, "[transform.%s] state", name);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
        p += used + len;
        if (*p == '\n')
            p++;
    }
    return NN_OK;
}
