/* data.c: turns [data] into opened dataset instances and the parts of a run (train/val/test
 * index lists from val_split, K-fold or a val_type dataset), then hands the transforms to
 * chain.c. After nn_data_open nothing here changes, so loader threads may read it freely. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "data_private.h"
#include "params_internal.h"

static const nn_param_spec data_schema[] = {
    {.name = "type", .type = NN_PARAM_STRING, .required = 1,
     .doc = "the dataset plugin; every [data] key not listed here is its (`nntrain plugins "
            "show TYPE` lists them)"},
    {.name = "val_split", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",
     .doc = "fraction of the training split held out for validation (0 = no validation); "
            "not with val_type; cv, whose folds are the validation, leaves it out with a warning"},
    {.name = "stratify", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "keep class proportions in the validation split and the folds"},
    {.name = "val_type", .type = NN_PARAM_STRING,
     .doc = "a separate validation dataset plugin instead of val_split; each key val_KEY sets "
            "that plugin's KEY (val_type = csv, val_path = val.csv); without val_type a val_ "
            "key is an error; cv leaves it out with a warning"},
    {.name = "limit", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "use only the first N samples of the training split (0 = all); val_split then "
            "takes its part of those N"},
    {.name = "test_limit", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "use only the first N samples of the test split (0 = all)"},
    {0}};

const nn_param_spec *nn_data_schema(void) { return data_schema; }

/* Creates (without opening) a dataset instance of plugin `type` from kvs. */
static int src_create(data_src *s, nn_registry *reg, const char *type, const nn_kv *kvs, int n,
                      const char *origin, nn_error *err)
{
    size_t ol = strnlen(origin, sizeof s->origin - 1); /* a long origin is cut */
    memcpy(s->origin, origin, ol);
    s->origin[ol] = 0;
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

static int src_open_files(nn_data *d, data_src *s, nn_split split, int fit,
                          const char *const *inputs, int n_inputs, nn_error *err)
{
    nn_dataset_open o = {.struct_size = sizeof o, .split = split, .base_dir = d->base_dir,
                         .state_dir = d->state_dir, .fit = fit, .inputs = inputs,
                         .n_inputs = n_inputs};
    memset(&s->info, 0, sizeof s->info);
    s->info.struct_size = sizeof s->info;
    int rc = NN_PLUGIN_CALL(&s->inst, "open", s->vt->open(s->inst.self, &o, &s->info, err));
    if (rc) {
        nn_error_prefix(err, "%s", s->origin);
        return rc < 0 ? rc : NN_EINTERNAL;
    }
    if (s->info.length < 0 || nn_tensor_dtype(&s->info.sample) < 0 ||
        nn_tensor_dtype(&s->info.target) < 0)
        return nn_error_set(err, NN_EINTERNAL, "%s: dataset plugin described an invalid split",
                            s->origin);
    if (s->info.n_classes < 0)
        return nn_error_set(err, NN_EINTERNAL, "%s: dataset plugin described n_classes = %d; "
                            "expected 0 (no classes: regression) or more", s->origin,
                            s->info.n_classes);
    int64_t lim = s == &d->train ? d->limit : s == &d->test ? d->test_limit : 0;
    if (lim > 0 && lim < s->info.length)
        s->info.length = lim; /* labels stay indexed by dataset index: a prefix is valid */
    for (int64_t i = 0; split != NN_SPLIT_PREDICT && s->info.labels && i < s->info.length; i++)
        if (s->info.labels[i] >= s->info.n_classes) /* negative: an ignore_index, the loss's */
            return nn_error_set(err, NN_EINVAL, "%s: sample %lld has class id %d, but the "
                                "dataset plugin declared %d classes (ids 0 to %d)", s->origin,
                                (long long)i, (int)s->info.labels[i], s->info.n_classes,
                                s->info.n_classes - 1);
    s->opened = 1;
    if (s->info.notice && s->info.notice[0]) /* a plugin never prints; the core shows it */
        fprintf(stderr, "nntrain: warning: %s: %s\n", s->origin, s->info.notice);
    return NN_OK;
}

static int src_open(nn_data *d, data_src *s, nn_split split, int fit, nn_error *err)
{
    return src_open_files(d, s, split, fit, NULL, 0, err);
}

static int64_t *iota(int64_t n)
{
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; v && i < n; i++)
        v[i] = i;
    return v;
}

/* Opens the user's files as the predict source and part (src created beforehand). */
static int open_predict_part(nn_data *d, const char *const *inputs, int n, nn_error *err)
{
    if (n < 1 || !inputs)
        return nn_error_set(err, NN_EINVAL, "predict: no input files given");
    const nn_plugin_desc *desc = d->predict.inst.desc;
    if (desc->abi_major == 0 && desc->abi_minor < 2) /* NN_SPLIT_PREDICT is new in ABI 0.2 */
        return nn_error_set(err, NN_ENOTSUP, "%s: dataset plugin '%s' was built for ABI %d.%d, "
                            "which cannot predict from files (rebuild it against ABI 0.2 or "
                            "newer)", d->predict.origin, desc->name, desc->abi_major,
                            desc->abi_minor);
    int rc = src_open_files(d, &d->predict, NN_SPLIT_PREDICT, 0, inputs, n, err);
    if (rc)
        return rc;
    if (d->predict.info.labels)
        d->predict.info.labels = NULL; /* targets are unknown whatever the plugin says */
    if (!(d->idx[NN_PART_PREDICT] = iota(d->predict.info.length)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n[NN_PART_PREDICT] = d->predict.info.length;
    d->src[NN_PART_PREDICT] = &d->predict;
    return NN_OK;
}

static void src_free(data_src *s)
{
    if (s->created)
        nn_instance_destroy(&s->inst);
    memset(s, 0, sizeof *s);
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
    int nc = d->train.info.n_classes;
    if (!rc && frac > 0 && nv == 0 && labels && nc > 0)
        /* stratified: each class gives its share, rounded; one-sample classes give none */
        rc = nn_error_set(err, NN_EINVAL, "%s: val_split = %g of %lld samples leaves an empty "
                          "validation part: stratify = true takes that share of each of the %d "
                          "classes, and %s; check the label column, or set stratify = false or "
                          "a larger val_split", d->train.origin, frac, (long long)n, nc,
                          n < 4 * (int64_t)nc ? "they hold under 4 samples each on average "
                          "(one class per sample looks like the wrong label column)"
                                              : "no class holds enough samples for one");
    else if (!rc && frac > 0 && (nv == 0 || nv == n))
        rc = nn_error_set(err, NN_EINVAL, "%s: val_split = %g of %lld samples leaves an empty "
                          "%s part", d->train.origin, frac, (long long)n,
                          nv ? "training" : "validation");
    if (!rc)
        rc = parts_from_marks(d, mark, err);
    free(mark);
    return rc;
}


static int in_schema(const nn_param_spec *schema, const char *key)
{
    for (const nn_param_spec *s = schema; s && s->name; s++)
        if (!strcmp(s->name, key))
            return 1;
    return 0;
}

/* Every [data] key that is neither nntrain's own nor the dataset plugin's, before any plugin
 * sees its keys: a misspelling is answered with the closest of nntrain's keys, the plugin's
 * and their val_ forms (a plugin alone knows only its own, and any val_ key was taken for
 * the validation dataset's), and a val_ key without val_type gets the rule explained. */
static int check_keys(nn_registry *reg, const char *type, const char *vtype, const nn_kv *plug,
                      int np, const nn_kv *val, int nv, const char *origin, nn_error *err)
{
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_DATASET, type, NULL, NULL);
    const nn_plugin_entry *ve = vtype ? nn_registry_find(reg, NN_KIND_DATASET, vtype, NULL, NULL)
                                      : e;
    if (!e || (vtype && !ve))
        return NN_OK; /* src_create says the plugin is missing */
    const nn_param_spec *ps = e->desc->params, *vs = ve->desc->params;
    int n = 0, cap = 2;
    for (const nn_param_spec *s = data_schema; s->name; s++)
        cap++;
    for (const nn_param_spec *s = ps; s && s->name; s++)
        cap++;
    for (const nn_param_spec *s = vs; s && s->name; s++)
        cap++;
    const char **cands = calloc((size_t)cap, sizeof *cands);
    char (*vnames)[72] = calloc((size_t)cap, sizeof *vnames);
    if (!cands || !vnames) {
        free(cands);
        free(vnames);
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    for (const nn_param_spec *s = data_schema; s->name; s++)
        cands[n++] = s->name;
    for (const nn_param_spec *s = ps; s && s->name; s++)
        cands[n++] = s->name;
    for (const nn_param_spec *s = vs; s && s->name; s++) {
        snprintf(vnames[n], sizeof vnames[n], "val_%s", s->name);
        cands[n] = vnames[n];
        n++;
    }
    int rc = NN_OK;
    char loc[300], key[160];
    for (int i = 0; i < np + nv && rc == NN_OK; i++) {
        const nn_kv *kv = i < np ? &plug[i] : &val[i - np];
        const char *full = i < np ? kv->key : kv->key - 4; /* val[] keys lost their "val_" */
        if (i < np ? in_schema(ps, kv->key) : in_schema(vs, kv->key) && vtype)
            continue;
        nn_kv_where(loc, sizeof loc, kv, origin);
        nn_text_escape(full, key, sizeof key, 0);
        const char *near = i < np || !in_schema(vs, kv->key) ? nn_closest(full, cands, n) : NULL;
        if (near)
            rc = nn_error_set(err, NN_EINVAL, "%s unknown key '%s' (did you mean '%s'?)", loc,
                              key, near);
        else if (i >= np && !vtype)
            rc = nn_error_set(err, NN_EINVAL, "%s key '%s': a key val_KEY sets KEY of a separate "
                              "validation dataset, whose plugin val_type names (e.g. val_type = "
                              "%s, val_%s = ...), and there is no val_type; to hold out part of "
                              "the training data instead, set val_split (`nntrain help train` "
                              "lists the [data] keys nntrain reads itself)", loc, key, type,
                              ps && ps->name ? ps->name : "path");
        else
            rc = nn_error_set(err, NN_EINVAL, "%s unknown key '%s'; [data] takes the keys "
                              "nntrain reads itself (`nntrain help train`), the %s plugin's "
                              "(`nntrain plugins show %s`) and, with val_type, val_ + the "
                              "validation plugin's", loc, key, type, type);
    }
    free(cands);
    free(vnames);
    return rc;
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
    d->limit = nn_params_int(dp, "limit");
    d->test_limit = nn_params_int(dp, "test_limit");
    if ((rc = check_keys(reg, type, vtype, plug, np, val, nv, origin, err)))
        goto done;
    if (vtype && nn_params_float(dp, "val_split") > 0) {
        rc = nn_error_set(err, NN_EINVAL, "%s: give val_split or val_type, not both", origin);
        goto done;
    }
    if ((rc = src_create(&d->train, reg, type, plug, np, origin, err)) ||
        (rc = src_create(&d->test, reg, type, plug, np, origin, err)) ||
        (rc = src_create(&d->predict, reg, type, plug, np, origin, err)))
        goto done;
    const nn_dataset_info *base;
    if (o->for_eval && o->n_inputs > 0) {
        if ((rc = open_predict_part(d, o->inputs, o->n_inputs, err)))
            goto done;
        base = &d->predict.info;
    } else if (o->for_eval) {
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
        if (d->val.opened && !(nn_same_desc(&d->val.info.sample, &d->train.info.sample) &&
                               nn_same_desc(&d->val.info.target, &d->train.info.target))) {
            rc = nn_error_set(err, NN_ESHAPE, "%s: the validation dataset's samples or targets "
                              "differ in shape or type from the training dataset's", vorigin);
            goto done;
        }
        if ((rc = make_parts(d, dp, err)))
            goto done;
        base = &d->train.info;
    }
    d->info = *base;
    d->raw_sample = base->sample;
    d->raw_sample.dl.shape = d->raw_sample.shape;
    d->raw_sample.dl.strides = d->raw_sample.strides;
    nn_tensor_describe(&d->info.target, (nn_dtype)nn_tensor_dtype(&base->target),
                       base->target.dl.ndim, base->target.shape);
    if ((rc = nn_chain_make(d, reg, cfg, &base->sample, err)))
        goto done;
    if (o->fit && !o->for_eval)
        rc = nn_chain_fit(d, err);
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
    src_free(&d->predict);
    for (int p = 0; p < NN_PART_COUNT; p++)
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
    if (!nn_same_desc(&d->test.info.sample, &d->train.info.sample))
        return nn_error_set(err, NN_ESHAPE, "%s: test samples differ in shape or type from the "
                            "training samples", d->test.origin);
    if (!(d->idx[NN_PART_TEST] = iota(d->test.info.length)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n[NN_PART_TEST] = d->test.info.length;
    d->src[NN_PART_TEST] = &d->test;
    return NN_OK;
}

int nn_data_open_predict(nn_data *d, const char *const *inputs, int n, nn_error *err)
{
    if (d->predict.opened)
        return nn_error_set(err, NN_EINVAL, "%s: the prediction inputs are already open",
                            d->predict.origin);
    int rc = open_predict_part(d, inputs, n, err);
    if (rc)
        return rc;
    if (!nn_same_desc(&d->predict.info.sample, &d->raw_sample)) {
        char a[64], b[64];
        d->src[NN_PART_PREDICT] = NULL;
        return nn_error_set(err, NN_ESHAPE, "%s: the input files' samples are %s, the model "
                            "was made for %s", d->predict.origin,
                            nn_shape_str(&d->predict.info.sample, a, sizeof a),
                            nn_shape_str(&d->raw_sample, b, sizeof b));
    }
    return NN_OK;
}

void nn_data_describe(const nn_data *d, nn_part part, int64_t index, char *buf, size_t cap)
{
    const data_src *s = (unsigned)part < NN_PART_COUNT ? d->src[part] : NULL;
    if (!cap)
        return;
    buf[0] = 0;
    if (s && s->vt->struct_size > offsetof(nn_dataset_vtable, describe) && s->vt->describe &&
        NN_PLUGIN_CALL(&s->inst, "describe",
                       s->vt->describe(s->inst.self, index, buf, cap)) == NN_OK) {
        buf[cap - 1] = 0;
        if (buf[0])
            return;
    }
    snprintf(buf, cap, "%lld", (long long)index);
}

int64_t nn_data_size(const nn_data *d, nn_part part)
{
    if ((unsigned)part >= NN_PART_COUNT)
        return NN_EINVAL;
    if ((part == NN_PART_TEST || part == NN_PART_PREDICT) && !d->src[part])
        return NN_ENOTFOUND;
    return d->n[part];
}

const int64_t *nn_data_indices(const nn_data *d, nn_part part, int64_t *n)
{
    *n = 0;
    if ((unsigned)part >= NN_PART_COUNT || !d->src[part])
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

