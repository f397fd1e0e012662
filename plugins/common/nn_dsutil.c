/* nn_dsutil.c: split checks, class names and sample origins for the stock datasets (see
 * nn_dsutil.h). Plain bookkeeping: it must never read a file. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nnd_split_check(const nn_dataset_open *o, const char *plugin, const char *test_key,
                    const char *test_value, const char *val_key, const char *inputs,
                    nn_error *err)
{
    if (o->split == NN_SPLIT_VAL)
        return nn_error_set(err, NN_ENOTSUP, "%s has no explicit validation split; use [data] "
                            "val_split, or val_type = %s with %s", plugin, plugin, val_key);
    if (o->split == NN_SPLIT_TEST && !test_value)
        return nn_error_set(err, NN_ENOTFOUND, "%s: no test split: set key '%s'", plugin,
                            test_key);
    if (o->split == NN_SPLIT_PREDICT && (o->struct_size < sizeof *o || o->n_inputs < 1 ||
                                         !o->inputs))
        return nn_error_set(err, NN_EINVAL, "%s: predict needs at least one --input: %s",
                            plugin, inputs);
    return NN_OK;
}

static int names_push(nnd_names *c, const char *s, size_t len, nn_error *err)
{
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        char **v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v)
            return nn_error_set(err, NN_ENOMEM, "out of memory for %d class names", cap);
        c->v = v;
        c->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    memcpy(copy, s, len);
    copy[len] = 0;
    c->v[c->n++] = copy;
    return NN_OK;
}

int nnd_names_parse(nnd_names *c, const char *list, const char *key, nn_error *err)
{
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        for (int i = 0; len && i < c->n; i++)
            if (strlen(c->v[i]) == len && !memcmp(c->v[i], s, len))
                return nn_error_set(err, NN_EINVAL, "key '%s': class '%s' is listed twice", key,
                                    c->v[i]);
        int rc = len ? names_push(c, s, len, err) : NN_OK;
        if (rc)
            return rc;
        if (!e)
            break;
        s = e + 1;
    }
    return NN_OK;
}

int nnd_names_find(const nnd_names *c, const char *s)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->v[i], s))
            return i;
    return -1;
}

int nnd_names_add(nnd_names *c, const char *s, nn_error *err)
{
    return nnd_names_find(c, s) >= 0 ? NN_OK : names_push(c, s, strlen(s), err);
}

void nnd_names_free(nnd_names *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

int nnd_origins_file(nnd_origins *o, const char *path, nn_error *err)
{
    char **f = realloc(o->file, (size_t)(o->n_files + 1) * sizeof *f);
    if (!f)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    o->file = f;
    if (!(f[o->n_files] = strdup(path)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    o->n_files++;
    return NN_OK;
}

int nnd_origins_row(nnd_origins *o, int line, nn_error *err)
{
    if (o->n == o->cap) {
        int64_t cap = o->cap ? o->cap * 2 : 256;
        int *rf = realloc(o->row_file, (size_t)cap * sizeof *rf);
        if (rf)
            o->row_file = rf;
        int *rl = realloc(o->row_line, (size_t)cap * sizeof *rl);
        if (rl)
            o->row_line = rl;
        if (!rf || !rl)
            return nn_error_set(err, NN_ENOMEM, "out of memory for %lld rows", (long long)cap);
        o->cap = cap;
    }
    o->row_file[o->n] = o->n_files - 1;
    o->row_line[o->n++] = line;
    return NN_OK;
}

int nnd_origins_describe(const nnd_origins *o, int64_t n, int64_t index, char *buf, size_t cap)
{
    if (index < 0 || index >= n)
        return NN_EINVAL;
    if (o->n_files && index < o->n)
        snprintf(buf, cap, "%s:%d", o->file[o->row_file[index]], o->row_line[index]);
    else
        snprintf(buf, cap, "%lld", (long long)index);
    return NN_OK;
}

void nnd_origins_free(nnd_origins *o)
{
    for (int i = 0; i < o->n_files; i++)
        free(o->file[i]);
    free(o->file);
    free(o->row_file);
    free(o->row_line);
    memset(o, 0, sizeof *o);
}
