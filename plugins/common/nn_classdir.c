/* nn_classdir.c: class folders and file tables for the folder datasets (see nn_classdir.h).
 * It lists and probes at open() only (the probes on one thread per core); it must never
 * decode a sample or keep a file open. */
#define _POSIX_C_SOURCE 200809L
#include "nn_classdir.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- a split's files: listed first, probed at once on every core, then taken in order ---- */

/* One file of a split, or a name in a folder the plugin does not read (accepted = 0) */
typedef struct pend {
    char *path;      /* owned until it moves into the table */
    int32_t label;
    int accepted;
    int status;      /* the probe's */
    char *why;       /* its message, when status is not NN_OK */
} pend;

/* The folders (and named inputs) the files came from, in order: [first, end) of the list */
typedef struct group {
    char *dir;         /* NULL: a file named by the user, which may not be skipped */
    const char *where; /* "class folder", "directory" */
    int64_t first, end;
} group;

typedef struct pend_list {
    pend *v;
    int64_t n, cap;
    group *g;
    int ng, gcap;
    unsigned char *extra; /* n * extra_size, filled by the probes */
    const nnd_folder_spec *s;
    _Atomic int64_t next; /* the next file a probing thread takes */
} pend_list;

static void pend_free(pend_list *l)
{
    for (int64_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].why);
    }
    for (int k = 0; k < l->ng; k++)
        free(l->g[k].dir);
    free(l->v);
    free(l->g);
    free(l->extra);
}

static int pend_group(pend_list *l, const char *dir, const char *where, nn_error *err)
{
    if (l->ng == l->gcap) {
        int cap = l->gcap ? l->gcap * 2 : 16;
        group *ng = realloc(l->g, (size_t)cap * sizeof *ng);
        if (!ng)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", l->s->plugin);
        l->g = ng;
        l->gcap = cap;
    }
    group *g = &l->g[l->ng];
    *g = (group){.where = where, .first = l->n, .end = l->n};
    if (dir && !(g->dir = strdup(dir)))
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", l->s->plugin);
    l->ng++;
    return NN_OK;
}

/* file dir/name (dir NULL: name is the path) into the last group */
static int pend_add(pend_list *l, const char *dir, const char *name, int32_t label, int accepted,
                    nn_error *err)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 256;
        pend *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory for %lld files",
                                l->s->plugin, (long long)cap);
        l->v = nv;
        l->cap = cap;
    }
    size_t pl = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *p = malloc(pl);
    if (!p)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", l->s->plugin);
    snprintf(p, pl, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    l->v[l->n++] = (pend){.path = p, .label = label, .accepted = accepted};
    l->g[l->ng - 1].end = l->n;
    return NN_OK;
}

/* the files of dir, a group of their own: those the plugin reads, and the others to report */
static int pend_dir(pend_list *l, const char *dir, int32_t label, const char *where,
                    nn_error *err)
{
    char **files;
    int nfiles;
    int rc = nnd_list(dir, 0, NULL, &files, &nfiles, err);
    if (rc)
        return rc;
    rc = pend_group(l, dir, where, err);
    for (int i = 0; i < nfiles && !rc; i++)
        rc = pend_add(l, dir, files[i], label, l->s->accept(files[i]), err);
    nnd_list_free(files, nfiles);
    return rc;
}

static int pend_walk(pend_list *l, const nnd_table *t, const char *root, const char *split_root,
                     nn_error *err)
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
            rc = pend_dir(l, cdir, id, "class folder", err);
    }
    if (cls != t->classes)
        nnd_list_free(cls, ncls);
    return rc;
}

static int pend_inputs(pend_list *l, const char *const *inputs, int n, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < n && !rc; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            /* asked for by name: read whatever its name, never skipped */
            if (!(rc = pend_group(l, NULL, NULL, err)))
                rc = pend_add(l, NULL, inputs[i], -1, 1, err);
            continue;
        }
        char *dir = strdup(inputs[i]);
        if (!dir)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (size_t len = strlen(dir); len > 1 && dir[len - 1] == '/';)
            dir[--len] = 0;
        rc = pend_dir(l, dir, -1, "directory", err);
        free(dir);
    }
    return rc;
}

/* a probing thread: takes the next file until none is left; each file's status and message
 * are its own, so the order the threads take them in changes nothing */
static void *probe_some(void *arg)
{
    pend_list *l = arg;
    const nnd_folder_spec *s = l->s;
    for (int64_t i; (i = l->next++) < l->n;) {
        pend *e = &l->v[i];
        if (!e->accepted)
            continue;
        nn_error why = {0};
        e->status = s->probe(s->ctx, e->path, l->extra + (size_t)i * s->extra_size, &why);
        if (e->status != NN_OK && !(e->why = strdup(why.msg[0] ? why.msg : e->path)))
            e->status = NN_ENOMEM;
    }
    return NULL;
}

/* Probes every file the plugin reads, on up to one thread per core: decoding each file once
 * at open costs about an epoch's decoding, which one thread made a long wait before the
 * first step of a large folder. */
static void probe_all(pend_list *l)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t want = l->n / 16 + 1; /* a thread for every 16 files at least */
    int n = (int)(cores < 1 ? 1 : cores > 64 ? 64 : cores);
    n = want < n ? (int)want : n;
    pthread_t th[64];
    int started = 0;
    for (int k = 1; k < n; k++) /* the caller probes too; fewer threads if some cannot start */
        started += pthread_create(&th[started], NULL, probe_some, l) == 0;
    probe_some(l);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
}

/* The table from the probed list, in its order, as if each file had been probed in turn: a
 * file the plugin cannot read is skipped and noted (a file named by the user is an error),
 * the first other failure fails the open, and a folder left without a file is an error. */
static int settle(nnd_table *t, pend_list *l, nn_error *err)
{
    const nnd_folder_spec *s = l->s;
    t->extra_size = s->extra_size;
    t->path = malloc((size_t)(l->n ? l->n : 1) * sizeof *t->path);
    t->label = malloc((size_t)(l->n ? l->n : 1) * sizeof *t->label);
    t->extra = malloc((size_t)(l->n ? l->n : 1) * (s->extra_size ? s->extra_size : 1));
    if (!t->path || !t->label || !t->extra)
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory for %lld files", s->plugin,
                            (long long)l->n);
    for (int k = 0; k < l->ng; k++) {
        group *g = &l->g[k];
        int64_t n0 = t->n, skipped0 = t->skipped;
        char first[NN_ERROR_MSG_MAX] = ""; /* why the first file skipped here was */
        for (int64_t i = g->first; i < g->end; i++) {
            pend *e = &l->v[i];
            t->seen++;
            char why[NN_ERROR_MSG_MAX];
            if (!e->accepted) {
                snprintf(why, sizeof why, "%s: not a %s file", e->path, s->exts);
                note_skip(t, why);
            } else if (e->status == NND_UNREADABLE && g->dir) {
                note_skip(t, e->why);
            } else if (e->status == NND_UNREADABLE) {
                return nn_error_set(err, NN_EFORMAT, "%s", e->why);
            } else if (e->status != NN_OK) {
                return nn_error_set(err, e->status, "%s", e->why);
            } else {
                void *extra = l->extra + (size_t)i * s->extra_size;
                nn_error aerr = {0};
                int rc = s->admit ? s->admit(s->ctx, e->path, extra, &aerr) : NN_OK;
                if (rc) {
                    *err = aerr;
                    return rc;
                }
                memcpy(nnd_table_extra(t, t->n), extra, s->extra_size);
                t->path[t->n] = e->path;
                t->label[t->n++] = e->label;
                e->path = NULL;
            }
            if (!first[0] && t->skipped > skipped0)
                snprintf(first, sizeof first, "%s", t->last_why);
        }
        if (g->dir && t->n == n0 && first[0])
            return nn_error_set(err, NN_EFORMAT, "%s: %s has no %s files it can read (%lld "
                                "skipped, the first: %s)", g->dir, g->where, s->exts,
                                (long long)(t->skipped - skipped0), first);
        if (g->dir && t->n == n0)
            return nn_error_set(err, NN_EFORMAT, "%s: %s has no %s files", g->dir, g->where,
                                s->exts);
    }
    return NN_OK;
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
            if (rc == NN_OK && s->admit)
                rc = s->admit(s->ctx, path, extra, &why);
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
    pend_list l = {.s = s};
    if (o->split == NN_SPLIT_PREDICT) {
        snprintf(sroot, sizeof sroot, "the --input files");
        rc = pend_inputs(&l, o->inputs, o->n_inputs, err);
    } else {
        rc = nnd_resolve(sroot, sizeof sroot, o->base_dir,
                         o->split == NN_SPLIT_TEST ? s->test_dir : s->dir, err);
        if (!rc)
            rc = pend_walk(&l, t, root, sroot, err);
    }
    if (!rc && !(l.extra = calloc((size_t)(l.n ? l.n : 1), s->extra_size ? s->extra_size : 1)))
        rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory for %lld files", s->plugin,
                          (long long)l.n);
    if (!rc)
        probe_all(&l);
    if (!rc)
        rc = settle(t, &l, err);
    pend_free(&l);
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

void nnd_cache_open(nnd_cache *c, int64_t n, size_t bytes, int64_t budget_mb)
{
    nnd_cache_free(c);
    double total = (double)n * (double)bytes;
    if (n <= 0 || bytes == 0 || total > (double)budget_mb * 1048576.0)
        return;
    c->arena = calloc((size_t)n, bytes);
    c->state = calloc((size_t)n, 1);
    c->bytes = bytes;
    if (!c->arena || !c->state)
        nnd_cache_free(c); /* no room for it: every read decodes, as with cache_mb = 0 */
}

void nnd_cache_free(nnd_cache *c)
{
    free(c->arena);
    free((void *)c->state);
    memset(c, 0, sizeof *c);
}

int nnd_cache_get(const nnd_cache *c, int64_t i, void *out)
{
    if (!c->arena || atomic_load_explicit(&c->state[i], memory_order_acquire) != 2)
        return 0;
    memcpy(out, c->arena + (size_t)i * c->bytes, c->bytes);
    return 1;
}

void nnd_cache_put(nnd_cache *c, int64_t i, const void *sample)
{
    unsigned char none = 0;
    if (!c->arena || !atomic_compare_exchange_strong(&c->state[i], &none, 1))
        return;
    memcpy(c->arena + (size_t)i * c->bytes, sample, c->bytes);
    atomic_store_explicit(&c->state[i], 2, memory_order_release);
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
