/* resume_diff.c: what may change between a checkpoint's model file and the one a resume runs
 * with. A key that changes what the model computes would silently train another model on
 * old weights, so it is refused; a key a user legitimately adjusts (epochs, lr, schedules,
 * loggers, patience, the test split) applies and is reported, never silently ignored. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "train_state.h"

/* 1 when a change of section.key would change the trained function or make the saved state
 * meaningless */
static int refused(const char *section, const char *key, int64_t step_in_epoch)
{
    if (strncmp(section, "layer.", 6) == 0)
        return !key || (strcmp(key, "lr_mult") != 0 && strcmp(key, "weight_decay_mult") != 0);
    if (strcmp(section, "loss") == 0 || strncmp(section, "transform.", 10) == 0)
        return 1;
    if (!key)
        return 0;
    if (strcmp(section, "data") == 0)
        /* the samples trained and validated on and their values (files, split, limit, scale,
         * columns) make the checkpoint's epochs, positions and best metric; the test split
         * comes after training */
        return strncmp(key, "test_", 5) != 0;
    if (strcmp(section, "optimizer") == 0)
        return strcmp(key, "type") == 0;
    if (strcmp(section, "train") == 0 && step_in_epoch > 0)
        /* the position inside the epoch is an index into this epoch's batches */
        return strcmp(key, "batch_size") == 0 || strcmp(key, "shuffle") == 0 ||
               strcmp(key, "drop_last") == 0 || strcmp(key, "accumulate") == 0;
    return 0;
}

typedef struct diff {
    char refused[420], applied[2000];
    size_t nr, na;
    int n_refused;
    const char *only; /* a section to compare alone, or NULL */
} diff;

static void add(diff *d, const char *section, const char *key, const char *a, const char *b,
                int64_t step_in_epoch)
{
    if (d->only && strcmp(section, d->only) != 0)
        return;
    int r = refused(section, key, step_in_epoch);
    char *buf = r ? d->refused : d->applied;
    size_t cap = r ? sizeof d->refused : sizeof d->applied, *used = r ? &d->nr : &d->na;
    if (*used >= cap)
        return;
    if (r)
        d->n_refused++;
    const char *sep = *used ? (r ? "; " : "\n") : "";
    if (key)
        *used += (size_t)snprintf(buf + *used, cap - *used, "%s%s%s.%s %s -> %s",
                                  sep, r ? "" : "nntrain: changed on resume: ", section, key,
                                  a ? a : "(unset)", b ? b : "(unset)");
    else
        *used += (size_t)snprintf(buf + *used, cap - *used, "%s%ssection [%s] %s", sep,
                                  r ? "" : "nntrain: changed on resume: ", section,
                                  a ? "removed" : "added");
}

/* the schema default of section.key, or NULL: a key written out with its default value is
 * no change */
static const char *default_of(const nn_session *s, const nn_config *c, const char *section,
                              const char *key)
{
    const nn_param_spec *spec = NULL;
    if (strcmp(section, "train") == 0) {
        spec = nn_train_schema();
    } else {
        static const struct {
            const char *prefix;
            int kind;
        } kinds[] = {{"layer.", NN_KIND_LAYER},         {"loss", NN_KIND_LOSS},
                     {"optimizer", NN_KIND_OPTIMIZER},  {"scheduler", NN_KIND_SCHEDULER},
                     {"data", NN_KIND_DATASET},         {"transform.", NN_KIND_TRANSFORM},
                     {"logger.", NN_KIND_LOGGER}};
        const nn_kv *type = nn_config_get(c, section, "type");
        for (size_t i = 0; type && !spec && i < sizeof kinds / sizeof *kinds; i++) {
            size_t l = strlen(kinds[i].prefix);
            if (strncmp(section, kinds[i].prefix, l) != 0 ||
                (kinds[i].prefix[l - 1] != '.' && section[l]))
                continue;
            const char *dev = kinds[i].kind == NN_KIND_LAYER ? s->device_type : NULL;
            const nn_plugin_entry *e = nn_registry_find(s->reg, kinds[i].kind, type->value, dev,
                                                        NULL);
            spec = e ? e->desc->params : NULL;
        }
    }
    for (; spec && spec->name; spec++)
        if (strcmp(spec->name, key) == 0)
            return spec->def;
    if (strcmp(section, "data") == 0) /* the core's own [data] keys */
        for (spec = nn_data_schema(); spec->name; spec++)
            if (strcmp(spec->name, key) == 0)
                return spec->def;
    return NULL;
}

/* equal as text, or as numbers ("0.1" and "1e-1") */
static int same_value(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    if (strcmp(a, b) == 0)
        return 1;
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    return ea != a && eb != b && !*ea && !*eb && x == y;
}

static const nn_kv *find_kv(const nn_config_section *s, const char *key)
{
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->kvs[i].key, key) == 0)
            return &s->kvs[i];
    return NULL;
}

/* every difference from a to b (keys of a changed or gone, then keys only in b) */
static void compare(diff *d, const nn_session *s, const nn_config *a, const nn_config *b,
                    int64_t step_in_epoch)
{
    for (int i = 0; i < nn_config_count(a); i++) {
        const nn_config_section *sa = nn_config_at(a, i);
        const nn_config_section *sb = nn_config_find(b, sa->name);
        if (!sb) {
            add(d, sa->name, NULL, "x", NULL, step_in_epoch);
            continue;
        }
        for (int k = 0; k < sa->n; k++) {
            const nn_kv *kb = find_kv(sb, sa->kvs[k].key);
            const char *now = kb ? kb->value : default_of(s, b, sb->name, sa->kvs[k].key);
            if (!same_value(now, sa->kvs[k].value))
                add(d, sa->name, sa->kvs[k].key, sa->kvs[k].value, kb ? kb->value : NULL,
                    step_in_epoch);
        }
        for (int k = 0; k < sb->n; k++)
            if (!find_kv(sa, sb->kvs[k].key) &&
                !same_value(sb->kvs[k].value, default_of(s, a, sa->name, sb->kvs[k].key)))
                add(d, sb->name, sb->kvs[k].key, NULL, sb->kvs[k].value, step_in_epoch);
    }
    for (int i = 0; i < nn_config_count(b); i++)
        if (!nn_config_find(a, nn_config_at(b, i)->name))
            add(d, nn_config_at(b, i)->name, NULL, NULL, "x", step_in_epoch);
}

/* d gets every difference from the model file at path (old_text) to the session's */
static int diff_from(nn_session *s, const char *old_text, const char *path, int64_t step_in_epoch,
                     diff *d, nn_error *err)
{
    nn_config *old = NULL;
    char name[600];
    snprintf(name, sizeof name, "%s (its model file)", path);
    int rc = nn_config_parse(old_text, name, &old, err);
    if (rc)
        return rc;
    compare(d, s, old, s->cfg, step_in_epoch);
    nn_config_free(old);
    return NN_OK;
}

int nn_resume_config_diff(nn_session *s, const char *old_text, const char *path,
                          int64_t step_in_epoch, int print, nn_error *err)
{
    diff d = {0};
    int rc = diff_from(s, old_text, path, step_in_epoch, &d, err);
    if (rc)
        return rc;
    if (d.n_refused)
        return nn_error_set(err, NN_EINVAL, "cannot resume from %s: the model file changes "
                            "what the checkpoint's model computes, how its state is laid out "
                            "or the data it trains on: %s. Undo %s, or start a new run (--run-dir, or a new [train] "
                            "name)", path, d.refused, d.n_refused == 1 ? "this change" :
                            "these changes");
    if (print && d.na)
        fprintf(stderr, "%s\n", d.applied);
    return NN_OK;
}

int nn_val_split_diff(nn_session *s, const char *old_text, const char *path, nn_error *err)
{
    diff d = {.only = "data"};
    int rc = diff_from(s, old_text, path, 0, &d, err);
    if (rc)
        return rc;
    if (d.n_refused)
        return nn_error_set(err, NN_EINVAL, "--split val: this model file holds out another "
                            "validation part than the run of %s did (%s), so it would count "
                            "samples that run trained on; undo %s, or evaluate the test split",
                            path, d.refused, d.n_refused == 1 ? "this change" : "these changes");
    return NN_OK;
}
