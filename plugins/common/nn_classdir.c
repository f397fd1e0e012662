/* nn_classdir.c: class folders and file tables for the folder datasets (see nn_classdir.h).
 * It lists and probes at open() only; it must never decode a sample or keep a file open. */
#define _POSIX_C_SOURCE 200809L
#include "nn_classdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn_datafile.h"
#include "nn_dsutil.h"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *kind_of(mode_t m)
{
    return S_ISREG(m)    ? "a regular file"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a directory";
}

void nnd_list_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int nnd_list(const char *dir, int dirs, int (*accept)(const char *name), char ***out, int *n,
             nn_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *dp = opendir(dir); /* O_DIRECTORY | O_NONBLOCK: never waits on a FIFO */
    if (!dp) {
        int e = errno;
        struct stat st;
        if (e == ENOTDIR && stat(dir, &st) == 0)
            return nn_error_set(err, NN_EIO, "%s is %s, not a directory", dir, kind_of(st.st_mode));
        return nn_error_set(err, NN_EIO, "%s: cannot open directory: %s", dir, strerror(e));
    }
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        /* follows links; an entry that cannot be stat'ed is a file (its probe says why) */
        int is_dir = fstatat(dirfd(dp), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        if (dirs ? !is_dir : (is_dir || (accept && !accept(e->d_name))))
            continue;
        char **nv = cnt < cap ? v : realloc(v, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *nv);
        char *name = nv ? strdup(e->d_name) : NULL;
        if (nv)
            v = nv;
        if (!name) {
            closedir(dp);
            nnd_list_free(v, cnt);
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory listing the directory", dir);
        }
        v[cnt++] = name;
    }
    closedir(dp);
    if (cnt)
        qsort(v, (size_t)cnt, sizeof *v, name_cmp);
    *out = v;
    *n = cnt;
    return NN_OK;
}

static int table_classes(nnd_table *t, const char *root, nn_error *err)
{
    int rc = nnd_list(root, 1, NULL, &t->classes, &t->n_classes, err);
    if (!rc && t->n_classes == 0)
        rc = nn_error_set(err, NN_EFORMAT, "%s: no class sub-directories", root);
    return rc;
}

/* Counts a skipped file and keeps why: the first NND_SHOWN reasons for the report. */
static void note_skip(nnd_table *t, const char *why)
{
    snprintf(t->last_why, sizeof t->last_why, "%s", why);
    if (t->skipped++ < NND_SHOWN) {
        size_t l = strlen(t->skips);
        snprintf(t->skips + l, sizeof t->skips - l, "%s%.200s", l ? "; " : "", why);
    }
}

/* Appends file dir/name (dir NULL: name is the path) with its label, then probes it. An
 * unreadable file is taken out again: skipped and noted when may_skip, else an error. */
static int table_add(nnd_table *t, const nnd_folder_spec *s, const char *dir, const char *name,
                     int32_t label, int may_skip, nn_error *err)
{
    if (t->n == t->cap) {
        int64_t cap = t->cap ? t->cap * 2 : 256;
        char **np = realloc(t->path, (size_t)cap * sizeof *np);
        if (np)
            t->path = np;
        int32_t *nl = realloc(t->label, (size_t)cap * sizeof *nl);
        if (nl)
            t->label = nl;
        unsigned char *ne = realloc(t->extra, (size_t)cap * (s->extra_size ? s->extra_size : 1));
        if (ne)
            t->extra = ne;
        if (!np || !nl || !ne)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory for %lld files", s->plugin,
                                (long long)cap);
        t->cap = cap;
    }
    t->extra_size = s->extra_size;
    size_t pl = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *p = malloc(pl);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", s->plugin);
    snprintf(p, pl, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    void *extra = nnd_table_extra(t, t->n);
    memset(extra, 0, s->extra_size);
    t->path[t->n] = p;
    t->label[t->n] = label;
    t->n++;
    t->seen++;
    nn_error why = {0};
    int rc = s->probe(s->ctx, p, extra, &why);
    if (rc == NND_UNREADABLE) {
        t->n--;
        if (may_skip)
            note_skip(t, why.msg);
        else
            nn_error_set(err, NN_EFORMAT, "%s", why.msg);
        free(p);
        return may_skip ? NN_OK : NN_EFORMAT;
    }
    if (rc && err)
        *err = why;
    return rc;
}

/* Adds the files of dir that the plugin reads, skipping (and noting) the others; none left is
 * an error saying what `where` is and what was skipped. */
static int add_dir(nnd_table *t, const nnd_folder_spec *s, const char *dir, int32_t label,
                   const char *where, nn_error *err)
{
    char **files;
    int nfiles;
    int rc = nnd_list(dir, 0, NULL, &files, &nfiles, err);
    if (rc)
        return rc;
    int64_t n0 = t->n, skipped0 = t->skipped;
    char first[NN_ERROR_MSG_MAX] = ""; /* why the first file skipped here was */
    for (int i = 0; i < nfiles && !rc; i++) {
        if (s->accept(files[i])) {
            rc = table_add(t, s, dir, files[i], label, 1, err);
        } else {
            char why[NN_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "%s/%s: not a %s file", dir, files[i], s->exts);
            t->seen++;
            note_skip(t, why);
        }
        if (!first[0] && t->skipped > skipped0)
            snprintf(first, sizeof first, "%s", t->last_why);
    }
    nnd_list_free(files, nfiles);
    if (!rc && t->n == n0 && first[0])
        rc = nn_error_set(err, NN_EFORMAT, "%s: %s has no %s files it can read (%lld skipped, "
                          "the first: %s)", dir, where, s->exts,
                          (long long)(t->skipped - skipped0), first);
    else if (!rc && t->n == n0)
        rc = nn_error_set(err, NN_EFORMAT, "%s: %s has no %s files", dir, where, s->exts);
    return rc;
}

static int table_walk(nnd_table *t, const nnd_folder_spec *s, const char *root,
                      const char *split_root, nn_error *err)
{
    char **cls = t->classes;
    int ncls = t->n_classes, rc = NN_OK;
    if (strcmp(split_root, root) && (rc = nnd_list(split_root, 1, NULL, &cls, &ncls, err)))
        return rc;
    if (ncls == 0)
        rc = nn_error_set(err, NN_EFORMAT, "%s: no class sub-directories", split_root);
    for (int c = 0; c < ncls && !rc; c++) {
        int id = -1;
        for (int k = 0; k < t->n_classes && id < 0; k++)
            if (!strcmp(t->classes[k], cls[c]))
                id = k;
        char cdir[4400];
        snprintf(cdir, sizeof cdir, "%s/%s", split_root, cls[c]);
        if (id < 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: class '%s' is not a class of %s", cdir,
                              cls[c], root);
        else
            rc = add_dir(t, s, cdir, id, "class folder", err);
    }
    if (cls != t->classes)
        nnd_list_free(cls, ncls);
    return rc;
}

static int table_inputs(nnd_table *t, const nnd_folder_spec *s, const char *const *inputs,
                        int n, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < n && !rc; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = table_add(t, s, NULL, inputs[i], -1, 0, err); /* asked for by name */
            continue;
        }
        char *dir = strdup(inputs[i]);
        if (!dir)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/';)
            dir[--l] = 0;
        rc = add_dir(t, s, dir, -1, "directory", err);
        free(dir);
    }
    return rc;
}

/* The first file training reads (the first one the probe takes, in class then name order),
 * probed into extra: the file training takes its defaults from. */
static int table_first(const nnd_folder_spec *s, const nnd_table *t, const char *root,
                       void *extra, nn_error *err)
{
    for (int c = 0; c < t->n_classes; c++) {
        char cdir[4400], path[4700];
        snprintf(cdir, sizeof cdir, "%s/%s", root, t->classes[c]);
        char **files;
        int nfiles;
        int rc = nnd_list(cdir, 0, s->accept, &files, &nfiles, err);
        for (int i = 0; i < nfiles && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s", cdir, files[i]);
            memset(extra, 0, s->extra_size);
            nn_error why = {0};
            rc = s->probe(s->ctx, path, extra, &why);
            if (rc == NND_UNREADABLE) {
                rc = NN_OK;
                continue;
            }
            if (rc && err)
                *err = why;
            nnd_list_free(files, nfiles);
            return rc;
        }
        nnd_list_free(files, nfiles);
        if (rc)
            return rc;
    }
    return nn_error_set(err, NN_EFORMAT, "%s: no class folder has a %s file it can read", root,
                        s->exts);
}

int nnd_folder_open(nnd_table *t, const nnd_folder_spec *s, const nn_dataset_open *o,
                    nn_error *err)
{
    char what[128], root[4096], sroot[4096];
    snprintf(what, sizeof what, "a %s file, or a directory of them", s->exts);
    int rc = nnd_split_check(o, s->plugin, "test_dir", s->test_dir, "val_dir", what, err);
    if (!rc)
        rc = nnd_resolve(root, sizeof root, o->base_dir, s->dir, err);
    if (!rc)
        rc = table_classes(t, root, err);
    if (!rc && s->first && o->split != NN_SPLIT_TRAIN)
        rc = table_first(s, t, root, s->first, err);
    if (rc)
        return rc;
    if (o->split == NN_SPLIT_PREDICT) {
        snprintf(sroot, sizeof sroot, "the --input files");
        rc = table_inputs(t, s, o->inputs, o->n_inputs, err);
    } else {
        rc = nnd_resolve(sroot, sizeof sroot, o->base_dir,
                         o->split == NN_SPLIT_TEST ? s->test_dir : s->dir, err);
        if (!rc)
            rc = table_walk(t, s, root, sroot, err);
    }
    if (rc || !t->skipped)
        return rc;
    const char *more = t->skipped > NND_SHOWN ? "; ..." : "";
    if ((double)t->skipped > s->max_skipped * (double)t->seen)
        return nn_error_set(err, NN_EFORMAT, "%s: %lld of the %lld files of %.300s cannot be read, "
                            "more than max_skipped = %g of them: %s%s", s->plugin,
                            (long long)t->skipped, (long long)t->seen, sroot, s->max_skipped,
                            t->skips, more);
    snprintf(t->notice, sizeof t->notice, "%s skipped %lld of the %lld files of %.300s, which it "
             "cannot read: %s%s", s->plugin, (long long)t->skipped, (long long)t->seen, sroot,
             t->skips, more);
    return NN_OK;
}

void nnd_table_info(const nnd_table *t, nn_split split, nn_dataset_info *info)
{
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = t->n;
    info->n_classes = t->n_classes;
    info->class_names = (const char *const *)t->classes;
    info->labels = split == NN_SPLIT_PREDICT ? NULL : t->label;
    info->notice = t->notice[0] ? t->notice : NULL;
}

int nnd_table_describe(const nnd_table *t, int64_t index, char *buf, size_t cap)
{
    if (index < 0 || index >= t->n)
        return NN_EINVAL;
    snprintf(buf, cap, "%s", t->path[index]);
    return NN_OK;
}

void nnd_table_free(nnd_table *t)
{
    for (int64_t i = 0; i < t->n; i++)
        free(t->path[i]);
    free(t->path);
    free(t->label);
    free(t->extra);
    nnd_list_free(t->classes, t->n_classes);
    memset(t, 0, sizeof *t);
}
