/* init_from.c: `[train] init_from` / `nntrain train --init-from FILE`: a new run starts from
 * weights saved elsewhere (a PyTorch state dict in safetensors, another run's checkpoint),
 * renamed by init_map, with strict = false leaving what the file lacks at its initial values.
 * It only ever writes model tensors whose name, dtype and shape all match; it never touches
 * the optimizer, the data state or the run's counters: the run is a fresh one. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "export_internal.h"
#include "init_from.h"

#define MAP_MAX 64

typedef struct rename {
    char *from, *to;
} rename_t;

/* "a.=b., c.=" -> pairs (each side trimmed); NN_EINVAL naming the pair otherwise */
static int parse_map(const char *text, const char *where, rename_t *m, int *n, char **buf,
                     nn_error *err)
{
    *n = 0;
    *buf = strdup(text ? text : "");
    if (!*buf)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (char *save = NULL, *item = strtok_r(*buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (!*item)
            continue;
        char *eq = strchr(item, '=');
        if (!eq || eq == item || *n == MAP_MAX)
            return nn_error_set(err, NN_EINVAL, "%s: init_map entry '%s': expected "
                                "FILE_PREFIX=MODEL_PREFIX (at most %d, comma-separated), e.g. "
                                "'features.0.=conv1., module.='", where, item, MAP_MAX);
        *eq = 0;
        char *to = eq + 1, *fe = eq;
        while (fe > item && (fe[-1] == ' ' || fe[-1] == '\t'))
            *--fe = 0;
        while (*to == ' ' || *to == '\t')
            to++;
        m[(*n)++] = (rename_t){item, to};
    }
    return NN_OK;
}

/* the model's name for file tensor `name`: the first init_map prefix that matches, renamed */
static void map_name(const rename_t *m, int n, const char *name, char *out, size_t cap)
{
    for (int i = 0; i < n; i++) {
        size_t l = strlen(m[i].from);
        if (strncmp(name, m[i].from, l) == 0) {
            snprintf(out, cap, "%s%s", m[i].to, name + l);
            return;
        }
    }
    snprintf(out, cap, "%s", name);
}

/* appends ", name" to a list printed later; the list says how many it left out */
static void list_add(char *list, size_t cap, int *count, const char *name)
{
    size_t l = strlen(list);
    if (l + strlen(name) + 8 < cap)
        snprintf(list + l, cap - l, "%s%s", *count ? ", " : "", name);
    else if (l + 5 < cap && !strstr(list, ", ..."))
        snprintf(list + l, cap - l, ", ...");
    (*count)++;
}

static int finite_f32(const nn_tensor *v, int64_t *at)
{
    const char *p = (const char *)v->dl.data;
    for (int64_t k = 0, m = nn_tensor_numel(v); k < m; k++) {
        float x;
        memcpy(&x, p + 4 * k, 4); /* the view may be unaligned */
        if (!isfinite(x)) {
            *at = k;
            return 0;
        }
    }
    return 1;
}

int nn_init_from(nn_session *s, const nn_init_opts *o, nn_init_report *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    rename_t map[MAP_MAX];
    int n_map = 0, rc;
    char *map_buf = NULL, **extras = NULL;
    nn_checkpoint *c = NULL;
    int ns = nn_session_tensor_count(s);
    char *loaded = calloc((size_t)ns + 1, 1);
    if (!loaded)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    if ((rc = parse_map(o->map, o->where, map, &n_map, &map_buf, err)))
        goto done;
    if ((rc = nn_checkpoint_read(o->path, &c, err))) {
        nn_error_prefix(err, "%s", o->where); /* which option or key named the file */
        goto done;
    }
    if ((rc = nn_export_torch_extras(s, &extras, err)))
        goto done;
    for (int i = 0; i < nn_checkpoint_count(c) && rc == NN_OK; i++) {
        const char *fname = nn_checkpoint_name(c, i);
        char mname[512];
        map_name(map, n_map, fname, mname, sizeof mname);
        int k = 0;
        while (k < ns && strcmp(nn_session_tensor(s, k)->name, mname) != 0)
            k++;
        if (k == ns) {
            int bookkeeping = 0; /* PyTorch's own counters (num_batches_tracked) */
            for (int e = 0; extras && extras[e] && !bookkeeping; e++)
                bookkeeping = strcmp(extras[e], mname) == 0;
            if (bookkeeping) {
                r->bookkeeping++;
            } else if (strncmp(fname, "optim.", 6) == 0) {
                r->optimizer++; /* an nntrain checkpoint's optimizer slots: a fresh run */
            } else {
                char both[1100];
                if (strcmp(fname, mname) != 0)
                    snprintf(both, sizeof both, "%s (as %s)", fname, mname);
                else
                    snprintf(both, sizeof both, "%s", fname);
                list_add(r->unused, sizeof r->unused, &r->n_unused, both);
            }
            continue;
        }
        if (loaded[k]) {
            rc = nn_error_set(err, NN_EINVAL, "%s: two of its tensors map to the model's '%s' "
                              "(the second: '%s'); see init_map", o->path, mname, fname);
            break;
        }
        const nn_tensor *v = nn_checkpoint_tensor(c, fname);
        int64_t at;
        if (nn_tensor_dtype(v) == NN_F32 && !o->allow_nonfinite && !finite_f32(v, &at)) {
            rc = nn_error_set(err, NN_EINVAL, "%s: tensor '%s' holds a non-finite value at "
                              "element %lld: it cannot start a model (--allow-nonfinite loads "
                              "it anyway)", o->path, fname, (long long)at);
            break;
        }
        /* dtype and shape must match exactly, strict or not (as PyTorch's load_state_dict) */
        if ((rc = nn_checkpoint_load(c, fname, nn_session_host_tensor(s, k), err))) {
            if (strcmp(fname, mname) != 0)
                nn_error_prefix(err, "%s: '%s' (mapped to '%s')", o->path, fname, mname);
            else
                nn_error_prefix(err, "%s", o->path);
            break;
        }
        loaded[k] = 1;
        r->loaded++;
    }
    for (int k = 0; k < ns && rc == NN_OK; k++)
        if (!loaded[k])
            list_add(r->missing, sizeof r->missing, &r->n_missing, nn_session_tensor(s, k)->name);
    if (rc == NN_OK && o->strict && (r->n_missing || r->n_unused)) {
        rc = nn_error_set(err, NN_EINVAL, "%s: %s%s%s%s%s%s", o->where,
                          r->n_missing ? "the file has no tensor for " : "",
                          r->n_missing ? r->missing : "", r->n_missing && r->n_unused ? "; " : "",
                          r->n_unused ? "the model has no tensor for " : "",
                          r->n_unused ? r->unused : "",
                          "; rename with init_map = FILE_PREFIX=MODEL_PREFIX, or set "
                          "init_strict = false to start those from their initial values");
        goto done;
    }
    if (rc == NN_OK && r->loaded == 0)
        rc = nn_error_set(err, NN_EINVAL, "%s: no tensor of %s matches this model (its first: "
                          "'%s'); see init_map", o->where, o->path,
                          nn_checkpoint_count(c) ? nn_checkpoint_name(c, 0) : "none");
    if (rc == NN_OK)
        rc = nn_session_to_device(s, err);
done:
    for (int e = 0; extras && extras[e]; e++)
        free(extras[e]);
    free(extras);
    nn_checkpoint_free(c);
    free(map_buf);
    free(loaded);
    return rc;
}

void nn_init_report_print(FILE *f, const char *path, const nn_init_report *r, int total)
{
    fprintf(f, "init-from %s: loaded %d of the model's %d tensors", path, r->loaded, total);
    if (r->bookkeeping || r->optimizer)
        fprintf(f, " (skipped %d PyTorch bookkeeping and %d optimizer tensors)", r->bookkeeping,
                r->optimizer);
    fputc('\n', f);
    if (r->n_missing)
        fprintf(f, "  not loaded, kept their initial values (%d): %s\n", r->n_missing,
                r->missing);
    if (r->n_unused)
        fprintf(f, "  in the file but not in the model, ignored (%d): %s\n", r->n_unused,
                r->unused);
}
