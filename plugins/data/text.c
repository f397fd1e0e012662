/* text.c: the `text` dataset: `label<TAB>text` lines, whitespace + lower-case tokens, a
 * vocabulary built on the training split (saved as state_dir/vocab.txt when fitting, loaded from
 * it otherwise), and I32 token ids padded/truncated to max_len. open() encodes every line;
 * get() copies one row and is safe on many threads. Ids: 0 = <pad>, 1 = <unk>.
 * Prediction (NN_SPLIT_PREDICT): each input is a text file of one sample per non-blank line,
 * without a label, encoded with the run's vocabulary (state_dir/vocab.txt); classes come from
 * the training file as for the test split; samples are named FILE:LINE. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/dataset.h>

#include "nn_datafile.h"
#include "nn_dsutil.h"

/* open-addressing string -> (id, count) table */
typedef struct tx_vocab {
    char **key;
    int64_t *count;
    int32_t *id;
    size_t cap, n;
} tx_vocab;

typedef struct tx_line {
    char *label, *text; /* label NULL for a prediction input */
    int line;
} tx_line;

typedef struct tx_ds {
    const char *path, *test_path, *classes_key;
    int64_t max_len, min_freq, max_size;
    int64_t n;
    int32_t *ids;    /* n * max_len */
    int32_t *labels; /* n */
    nnd_names names;
    int32_t vocab_size;
    nnd_origins from; /* NN_SPLIT_PREDICT: the file and line of each sample */
} tx_ds;

static uint64_t tx_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void tx_vocab_free(tx_vocab *v)
{
    for (size_t i = 0; i < v->cap; i++)
        free(v->key[i]);
    free(v->key);
    free(v->count);
    free(v->id);
    memset(v, 0, sizeof *v);
}

/* returns the slot of s (inserted with count 0 and id -1 when new), or -1 out of memory */
static int64_t tx_vocab_slot(tx_vocab *v, const char *s, int insert)
{
    if (insert && (v->n + 1) * 2 > v->cap) {
        tx_vocab old = *v;
        size_t cap = old.cap ? old.cap * 2 : 1024;
        v->key = calloc(cap, sizeof *v->key);
        v->count = calloc(cap, sizeof *v->count);
        v->id = calloc(cap, sizeof *v->id);
        v->cap = cap;
        v->n = 0;
        if (!v->key || !v->count || !v->id) {
            free(v->key);
            free(v->count);
            free(v->id);
            *v = old;
            return -1;
        }
        for (size_t i = 0; i < old.cap; i++)
            if (old.key[i]) {
                size_t j = tx_hash(old.key[i]) & (cap - 1);
                while (v->key[j])
                    j = (j + 1) & (cap - 1);
                v->key[j] = old.key[i];
                v->count[j] = old.count[i];
                v->id[j] = old.id[i];
                v->n++;
            }
        free(old.key);
        free(old.count);
        free(old.id);
    }
    if (!v->cap)
        return -2;
    size_t j = tx_hash(s) & (v->cap - 1);
    while (v->key[j]) {
        if (!strcmp(v->key[j], s))
            return (int64_t)j;
        j = (j + 1) & (v->cap - 1);
    }
    if (!insert)
        return -2;
    if (!(v->key[j] = strdup(s)))
        return -1;
    v->count[j] = 0;
    v->id[j] = -1;
    v->n++;
    return (int64_t)j;
}

/* Splits a file into lines of `label<TAB>text` (no_label: the whole line is the text, for
 * prediction), appended to *out / *n; text is modified in place (lower-cased). */
static int tx_parse_lines(char *buf, size_t len, const char *file, int no_label, tx_line **out,
                          int64_t *n, nn_error *err)
{
    int64_t cap = *n, cnt = *n;
    tx_line *v = *out;
    nnd_lines it;
    nnd_lines_init(&it, buf, len);
    size_t l;
    for (char *s; (s = nnd_lines_next(&it, &l));) {
        int line = it.line;
        if (l == 0)
            continue;
        const char *nul = memchr(s, 0, l);
        if (nul) {
            free(v);
            *out = NULL;
            return nn_error_set(err, NN_EFORMAT, "%s:%d: a NUL byte at byte %zu of the line: this "
                                "looks like a binary file, not text", file, line,
                                (size_t)(nul - s) + 1);
        }
        char *tab = no_label ? s - 1 : strchr(s, '\t');
        if (!no_label && (!tab || tab == s)) {
            free(v);
            *out = NULL;
            return nn_error_set(err, NN_EFORMAT, "%s:%d: expected 'label<TAB>text', found %s",
                                file, line, tab ? "an empty label" : "no tab");
        }
        if (!no_label)
            *tab = 0;
        if (cnt == cap) {
            tx_line *nv = realloc(v, (size_t)(cap = cap ? cap * 2 : 256) * sizeof *nv);
            if (!nv) {
                free(v);
                *out = NULL;
                return nn_error_set(err, NN_ENOMEM, "%s:%d: out of memory", file, line);
            }
            v = nv;
        }
        for (char *c = tab + 1; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        v[cnt++] = (tx_line){no_label ? NULL : s, tab + 1, line};
    }
    *out = v;
    if (cnt == *n)
        return nn_error_set(err, NN_EFORMAT, "%s: no lines", file);
    *n = cnt;
    return NN_OK;
}

static int tx_parse(char *buf, size_t len, const char *file, tx_line **out, int64_t *n,
                    nn_error *err)
{
    *out = NULL;
    *n = 0;
    int rc = tx_parse_lines(buf, len, file, 0, out, n, err);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Calls fn on each whitespace-separated token of text (text is cut in place and restored). */
#define TX_FOR_TOKENS(text, tok, body)                                                         \
    for (char *p_ = (text); *p_;) {                                                            \
        while (*p_ && isspace((unsigned char)*p_))                                             \
            p_++;                                                                              \
        if (!*p_)                                                                              \
            break;                                                                             \
        char *e_ = p_;                                                                         \
        while (*e_ && !isspace((unsigned char)*e_))                                            \
            e_++;                                                                              \
        char save_ = *e_;                                                                      \
        *e_ = 0;                                                                               \
        char *tok = p_;                                                                        \
        body;                                                                                  \
        *e_ = save_;                                                                           \
        p_ = e_;                                                                               \
    }

typedef struct tx_rank {
    const char *tok;
    int64_t count;
    size_t slot;
} tx_rank;

static int tx_rank_cmp(const void *a, const void *b)
{
    const tx_rank *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->tok, y->tok);
}

/* Counts tokens, keeps those seen min_freq times, most frequent first (ties by text), at most
 * max_size entries including <pad> and <unk>. */
static int tx_build_vocab(tx_ds *d, tx_line *lines, int64_t n, tx_vocab *v, nn_error *err)
{
    for (int64_t i = 0; i < n; i++) {
        int bad = 0;
        TX_FOR_TOKENS(lines[i].text, tok, {
            int64_t s = tx_vocab_slot(v, tok, 1);
            if (s < 0)
                bad = 1;
            else
                v->count[s]++;
        });
        if (bad)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
    }
    tx_rank *r = malloc((v->n ? v->n : 1) * sizeof *r);
    if (!r)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < v->cap; i++)
        if (v->key[i] && v->count[i] >= d->min_freq)
            r[m++] = (tx_rank){v->key[i], v->count[i], i};
    qsort(r, m, sizeof *r, tx_rank_cmp);
    int32_t next = 2;
    for (size_t i = 0; i < m && next < d->max_size; i++)
        v->id[r[i].slot] = next++;
    free(r);
    d->vocab_size = next;
    return NN_OK;
}

static int tx_save_vocab(tx_ds *d, const tx_vocab *v, const char *path, nn_error *err)
{
    const char **byid = calloc((size_t)d->vocab_size, sizeof *byid);
    if (!byid)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (size_t i = 0; i < v->cap; i++)
        if (v->key[i] && v->id[i] >= 2)
            byid[v->id[i]] = v->key[i];
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f;
    int rc = nnd_fcreate(tmp, "vocabulary", &f, err);
    if (rc) {
        free(byid);
        return rc;
    }
    fprintf(f, "<pad>\n<unk>\n");
    for (int32_t i = 2; i < d->vocab_size; i++)
        fprintf(f, "%s\n", byid[i]);
    free(byid);
    int bad = ferror(f);
    if (fclose(f) || bad || rename(tmp, path))
        return nn_error_set(err, NN_EIO, "%s: cannot write: %s", path, strerror(errno));
    return NN_OK;
}

static int tx_load_vocab(tx_ds *d, tx_vocab *v, const char *path, nn_error *err)
{
    char *buf;
    size_t len;
    int rc = nnd_read_all(path, "vocabulary", &buf, &len, err);
    if (rc) {
        nn_error_prefix(err, "vocabulary saved by training with this state directory");
        return rc;
    }
    int32_t id = 0;
    nnd_lines it;
    nnd_lines_init(&it, buf, len);
    size_t l;
    for (char *s; (s = nnd_lines_next(&it, &l)) && l;) {
        if (id >= 2) {
            int64_t slot = tx_vocab_slot(v, s, 1);
            if (slot < 0) {
                free(buf);
                return nn_error_set(err, NN_ENOMEM, "out of memory");
            }
            if (v->id[slot] >= 0) {
                free(buf);
                return nn_error_set(err, NN_EFORMAT, "%s:%d: token '%s' appears twice", path,
                                    it.line, s);
            }
            v->id[slot] = id;
        }
        id++;
    }
    free(buf);
    if (id < 2)
        return nn_error_set(err, NN_EFORMAT, "%s: expected <pad> and <unk> first", path);
    d->vocab_size = id;
    return NN_OK;
}

static int tx_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Class names: the `classes` list, else the sorted distinct labels of the training file. */
static int tx_build_classes(tx_ds *d, const tx_line *lines, int64_t n, nn_error *err)
{
    if (d->classes_key && d->classes_key[0])
        return nnd_names_parse(&d->names, d->classes_key, "classes", err);
    for (int64_t i = 0; i < n; i++) {
        int rc = nnd_names_add(&d->names, lines[i].label, err);
        if (rc)
            return rc;
    }
    if (d->names.n)
        qsort(d->names.v, (size_t)d->names.n, sizeof *d->names.v, tx_name_cmp);
    return NN_OK;
}

/* Turns lines into labels and padded token ids. */
static int tx_encode(tx_ds *d, const tx_line *lines, int64_t n, tx_vocab *v, const char *file,
                     nn_error *err)
{
    d->n = n;
    d->ids = calloc((size_t)n * (size_t)d->max_len, sizeof *d->ids);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    if (!d->ids || !d->labels)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int id = lines[i].label ? nnd_names_find(&d->names, lines[i].label) : -1;
        if (id < 0 && lines[i].label)
            return nn_error_set(err, NN_EFORMAT, "%s:%d: label '%s' is not one of the %d "
                                "classes of the training file", file, lines[i].line,
                                lines[i].label, d->names.n);
        d->labels[i] = id;
        int32_t *row = d->ids + i * d->max_len;
        int64_t k = 0;
        TX_FOR_TOKENS(lines[i].text, tok, {
            if (k < d->max_len) {
                int64_t s = tx_vocab_slot(v, tok, 0);
                row[k++] = s >= 0 && v->id[s] >= 0 ? v->id[s] : 1;
            }
        });
    }
    return NN_OK;
}

static int tx_create(const nn_params *p, void **self, nn_error *err)
{
    tx_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->path = nn_params_str(p, "path");
    d->test_path = nn_params_str(p, "test_path");
    d->classes_key = nn_params_str(p, "classes");
    d->max_len = nn_params_int(p, "max_len");
    d->min_freq = nn_params_int(p, "min_freq");
    d->max_size = nn_params_int(p, "max_size");
    *self = d;
    return NN_OK;
}

static void tx_destroy(void *self)
{
    tx_ds *d = self;
    nnd_names_free(&d->names);
    free(d->ids);
    free(d->labels);
    nnd_origins_free(&d->from);
    free(d);
}

/* Reads the user's files (one unlabelled sample per non-blank line) into *lines; bufs gets
 * each file's text, which the lines point into. */
static int tx_read_inputs(tx_ds *d, const nn_dataset_open *o, char **bufs, tx_line **lines,
                          int64_t *n, nn_error *err)
{
    for (int f = 0; f < o->n_inputs; f++) {
        size_t len;
        int64_t first = *n;
        int rc = nnd_origins_file(&d->from, o->inputs[f], err);
        if (!rc)
            rc = nnd_read_all(o->inputs[f], "input file", &bufs[f], &len, err);
        if (!rc)
            rc = tx_parse_lines(bufs[f], len, o->inputs[f], 1, lines, n, err);
        for (int64_t i = first; !rc && i < *n; i++)
            rc = nnd_origins_row(&d->from, (*lines)[i].line, err);
        if (rc)
            return rc;
    }
    return NN_OK;
}

static int tx_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    tx_ds *d = self;
    int predict = o->split == NN_SPLIT_PREDICT;
    int rc = nnd_split_check(o, "text", "test_path", d->test_path, "val_path",
                             "a text file of one sample a line", err);
    if (rc)
        return rc;
    if (predict && o->fit)
        return nn_error_set(err, NN_EINVAL, "text: prediction inputs cannot build a vocabulary");
    char **in_bufs = predict ? calloc((size_t)o->n_inputs, sizeof *in_bufs) : NULL;
    if (predict && !in_bufs)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    char train[4096], path[4096], vpath[4200] = "";
    if (o->state_dir)
        snprintf(vpath, sizeof vpath, "%s/vocab.txt", o->state_dir);
    char *tbuf = NULL, *buf = NULL;
    tx_line *tl = NULL, *lines = NULL;
    int64_t tn = 0, n = 0;
    tx_vocab v = {0};
    size_t len;
    /* the training file gives the class ids always, and the vocabulary when fitting or when
     * there is no state directory to load it from */
    rc = nnd_resolve(train, sizeof train, o->base_dir, d->path, err);
    if (!rc)
        rc = nnd_resolve(path, sizeof path, o->base_dir,
                         o->split == NN_SPLIT_TEST ? d->test_path : d->path, err);
    if (!rc)
        rc = nnd_read_all(train, "training file", &tbuf, &len, err);
    if (!rc)
        rc = tx_parse(tbuf, len, train, &tl, &tn, err);
    if (!rc)
        rc = tx_build_classes(d, tl, tn, err);
    if (!rc && (o->fit || !o->state_dir)) {
        rc = tx_build_vocab(d, tl, tn, &v, err);
        if (!rc && o->fit && o->state_dir)
            rc = tx_save_vocab(d, &v, vpath, err);
    } else if (!rc) {
        rc = tx_load_vocab(d, &v, vpath, err);
    }
    if (!rc && predict) {
        rc = tx_read_inputs(d, o, in_bufs, &lines, &n, err);
        snprintf(path, sizeof path, "%s", o->inputs[0]);
    } else if (!rc && o->split == NN_SPLIT_TEST) {
        rc = nnd_read_all(path, "test file", &buf, &len, err);
        if (!rc)
            rc = tx_parse(buf, len, path, &lines, &n, err);
    } else {
        lines = tl;
        n = tn;
        tl = NULL;
    }
    if (!rc)
        rc = tx_encode(d, lines, n, &v, path, err);
    tx_vocab_free(&v);
    free(tl);
    free(lines);
    free(tbuf);
    free(buf);
    for (int f = 0; in_bufs && f < o->n_inputs; f++)
        free(in_bufs[f]);
    free(in_bufs);
    if (rc)
        return rc;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->n;
    nn_tensor_describe(&info->sample, NN_I32, 1, (const int64_t[]){d->max_len});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = d->names.n;
    info->class_names = (const char *const *)d->names.v;
    info->labels = predict ? NULL : d->labels;
    return NN_OK;
}

static int tx_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    tx_ds *d = self;
    if (index < 0 || index >= d->n)
        return nn_error_set(err, NN_EINVAL, "text: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->n);
    memcpy(NN_I32P(sample), d->ids + index * d->max_len, (size_t)d->max_len * sizeof(int32_t));
    NN_I32P(target)[0] = d->labels[index];
    return NN_OK;
}

static int tx_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const tx_ds *d = self;
    return nnd_origins_describe(&d->from, d->n, index, buf, cap);
}

static const nn_param_spec tx_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .required = 1,
     .doc = "training file of `label<TAB>text` lines (blank lines are skipped)"},
    {.name = "test_path", .type = NN_PARAM_STRING, .doc = "test file for `nntrain eval`"},
    {.name = "max_len", .type = NN_PARAM_INT, .def = "64", .range = "[1, 1048576]",
     .doc = "tokens per sample: longer texts are truncated, shorter padded with 0 (<pad>)"},
    {.name = "min_freq", .type = NN_PARAM_INT, .def = "1", .range = "[1, inf)",
     .doc = "a token enters the vocabulary when seen this often in the training split"},
    {.name = "max_size", .type = NN_PARAM_INT, .def = "20000", .range = "[2, inf)",
     .doc = "vocabulary size including <pad> (0) and <unk> (1); most frequent tokens win"},
    {.name = "classes", .type = NN_PARAM_STRING,
     .doc = "comma-separated class names fixing the id order; default: the training file's "
            "distinct labels, sorted"},
    {0}};

static const nn_dataset_vtable tx_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = tx_create,
    .destroy = tx_destroy,
    .open = tx_open,
    .get = tx_get,
    .describe = tx_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc tx_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "text", .version = "1.0.0", .license = "MIT",
    .summary = "label<TAB>text lines: I32 [max_len] token ids (vocabulary saved with the run), "
               "I32 class ids; predict --input takes text files of one sample a line",
    .caps = NN_CAP_THREAD_SAFE, .params = tx_params, .vtable = &tx_vt);

NN_PLUGIN_EXPORT(&tx_desc);
