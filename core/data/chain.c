/* chain.c: the [transform.NAME] chain: setup in file order with shape checks, fitting, decoding
 * one sample through dataset and per-sample transforms (batch.c runs the batch ones), and the
 * fitted state as checkpoint text. Decoding only reads nn_data: loader threads share it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "data_private.h"

/* Creates every [transform.NAME] in file order and chains their setup. */
int nn_chain_make(nn_data *d, nn_registry *reg, const nn_config *cfg, const nn_tensor *in,
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
    d->train_target = d->info.target;
    d->train_target.dl.shape = d->train_target.shape;
    d->train_target.dl.strides = d->train_target.strides;
    for (int i = 0; i < nsec; i++) {
        const nn_config_section *s = nn_config_at(cfg, i);
        if (strncmp(s->name, "transform.", 10))
            continue;
        char origin[300];
        nn_config_origin(origin, sizeof origin, cfg, s, NULL);
        const nn_kv *type = NULL;
        nn_kv *kvs = malloc((size_t)(s->n ? s->n : 1) * sizeof *kvs);
        if (!kvs)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        int n = 0;
        for (int k = 0; k < s->n; k++)
            if (!strcmp(s->kvs[k].key, "type"))
                type = &s->kvs[k];
            else
                kvs[n++] = s->kvs[k];
        if (!type) {
            free(kvs);
            return nn_error_set(err, NN_EINVAL, "%s: missing key 'type' (the transform plugin)",
                                origin);
        }
        const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_TRANSFORM, type->value, NULL, err);
        if (!e) {
            free(kvs);
            char loc[400];
            nn_error_prefix(err, "%s key 'type' = '%s'", nn_kv_where(loc, sizeof loc, type, origin),
                            type->value);
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
        int batch = nn_tf_is_batch(t);
        if (!batch && d->nbatch)
            return nn_error_set(err, NN_EINVAL, "%s: a per-sample transform after a batch "
                                "transform; batch transforms (mixup, cutmix) work on whole "
                                "batches after every per-sample transform, so their "
                                "[transform.*] sections come last", origin);
        nn_tensor tout = d->train_target;
        tout.dl.shape = tout.shape;
        tout.dl.strides = tout.strides;
        nn_transform_setup st = {.struct_size = sizeof st, .in = &t->in, .out = cur,
                                 .train_only = 1, .target = &d->train_target,
                                 .target_out = batch ? &tout : NULL,
                                 .n_classes = d->info.n_classes};
        st.out.dl.shape = st.out.shape;
        st.out.dl.strides = st.out.strides;
        rc = NN_PLUGIN_CALL(&t->inst, "setup", t->vt->setup(t->inst.self, &st, err));
        if (rc)
            return nn_instance_blame(e->desc, s->kvs, s->n, origin, NULL, rc, err);
        if (batch && ((rc = nn_batch_tf_check(d, t, &st, origin, err)) ||
                      (rc = nn_batch_tf_smoothing(s, cfg, origin, err))))
            return rc;
        t->out = st.out;
        t->out.dl.shape = t->out.shape;
        t->out.dl.strides = t->out.strides;
        t->train_only = st.train_only;
        char a[96], b[96];
        if (nn_tensor_dtype(&t->out) < 0)
            return nn_error_set(err, NN_EINTERNAL, "%s: setup gave an unknown dtype", origin);
        if (t->train_only && !nn_same_desc(&t->in, &t->out))
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

int nn_chain_fit(nn_data *d, nn_error *err)
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
        int rc = c.a && c.b && c.tgt
                     ? NN_PLUGIN_CALL(&t->inst, "fit", t->vt->fit(t->inst.self, &src, err))
                     : NN_ENOMEM;
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
        if (!d->tf[i].batch && (augment || !d->tf[i].train_only))
            last = i;
    nn_tensor cur = s->info.sample;
    cur.dl.shape = cur.shape;
    cur.dl.strides = cur.strides;
    cur.dl.data = last < 0 ? sample->dl.data : sa;
    int rc = NN_PLUGIN_CALL(&s->inst, "get", s->vt->get(s->inst.self, index, &cur, target, err));
    char name[512];
    if (rc && part == NN_PART_PREDICT) {
        nn_data_describe(d, part, index, name, sizeof name);
        nn_error_prefix(err, "%s input %s", s->origin, name);
        return rc < 0 ? rc : NN_EINTERNAL;
    }
    if (rc) {
        nn_error_prefix(err, "%s sample %lld", s->origin, (long long)index);
        return rc < 0 ? rc : NN_EINTERNAL;
    }
    if (part != NN_PART_PREDICT && s->info.n_classes > 0 &&
        nn_tensor_dtype(&s->info.target) == NN_I32 && s->info.target.dl.ndim == 0 &&
        NN_I32P(target)[0] >= s->info.n_classes) { /* negative: an ignore_index, the loss's */
        nn_data_describe(d, part, index, name, sizeof name);
        return nn_error_set(err, NN_EINVAL, "%s sample %lld (%s): class id %d, but the dataset "
                            "plugin declared %d classes (ids 0 to %d)", s->origin,
                            (long long)index, name, (int)NN_I32P(target)[0], s->info.n_classes,
                            s->info.n_classes - 1);
    }
    nn_rng r;
    nn_rng_init(&r, d->o.seed, (uint64_t)epoch, (uint64_t)index, 0);
    for (int i = 0; i <= last; i++) {
        const data_tf *t = &d->tf[i];
        if (t->batch || (t->train_only && !augment))
            continue;
        nn_tensor o = t->out;
        o.dl.shape = o.shape;
        o.dl.strides = o.strides;
        o.dl.data = i == last ? sample->dl.data : (cur.dl.data == sa ? sb : sa);
        rc = NN_PLUGIN_CALL(&t->inst, "apply", t->vt->apply(t->inst.self, &cur, &o, &r, err));
        if (rc && part == NN_PART_PREDICT) {
            nn_data_describe(d, part, index, name, sizeof name);
            nn_error_prefix(err, "[transform.%s] on input %s", t->name, name);
            return rc < 0 ? rc : NN_EINTERNAL;
        }
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
        int need = NN_PLUGIN_CALL(&t->inst, "state_save",
                                  t->vt->state_save(t->inst.self, NULL, 0, &e));
        if (need < 0)
            return need;
        if (need == 0)
            continue; /* nothing fitted (e.g. statistics given in the model file) */
        char head[256];
        int hl = snprintf(head, sizeof head, "transform %s %d\n", t->name, need);
        if (used + (size_t)hl + (size_t)need + 2 <= cap) {
            memcpy(buf + used, head, (size_t)hl);
            int got = NN_PLUGIN_CALL(&t->inst, "state_save",
                                     t->vt->state_save(t->inst.self, buf + used + hl,
                                                       cap - used - hl, &e));
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
        int rc = NN_PLUGIN_CALL(&t->inst, "state_load",
                                t->vt->state_load(t->inst.self, copy, err));
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
