/* csv.c: the `csv` dataset: numeric feature columns plus one label column, for classification
 * (label text -> class id, names kept) or regression (F32 [1] target). open() parses and checks the
 * whole file; get() copies one row and is safe on many threads. Never accept a ragged row.
 * Prediction (NN_SPLIT_PREDICT): each input is a CSV with the training feature columns, the
 * label column optional; classes come from the training file; samples are named FILE:LINE.
 * With a header, test and input columns are matched to training's by name, else by position. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/dataset.h>

#include "nn_datafile.h"
#include "nn_dsutil.h"
#include "nn_nameidx.h"

/* A parsed table: the text buffer tokenised in place, rows x cols field pointers. */
typedef struct csv_table {
    char *text;
    char **cells;
    int *line_of; /* file line of each row, for messages */
    int64_t rows;
    int cols;
    char **head; /* header names, or NULL */
    char **cells_base;
    int *lines_base;
} csv_table;

typedef struct csv_ds {
    const char *path, *test_path, *label_key, *features_key, *classes_key;
    char delim;
    int header, regression;
    int64_t n;
    int nf;
    float *x;        /* n * nf */
    float *yreg;     /* regression targets */
    int32_t *labels; /* class ids */
    nnd_names names;
    nnd_origins from; /* NN_SPLIT_PREDICT: the file and line of each row */
} csv_ds;

static char *csv_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        s[--l] = 0;
    if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
        s[l - 1] = 0;
        s++;
    }
    return s;
}

static void csv_table_free(csv_table *t)
{
    free(t->text);
    free(t->cells_base);
    free(t->lines_base);
    memset(t, 0, sizeof *t);
}

/* Splits text (taken over by the table) into rows of fields; blank lines are skipped. Every
 * row must have as many fields as the first one. */
static int csv_table_parse(char *text, size_t len, const char *file, char delim, int header,
                           csv_table *t, nn_error *err)
{
    memset(t, 0, sizeof *t);
    t->text = text;
    text[len] = 0;
    int64_t cap = 0;
    int line = 0, first_line = 0;
    nnd_lines it;
    nnd_lines_init(&it, text, len);
    size_t l;
    for (char *s; (s = nnd_lines_next(&it, &l));) {
        line = it.line;
        const char *nul = memchr(s, 0, l);
        if (nul) {
            int field = 1;
            for (const char *c = s; c < nul; c++)
                field += *c == delim;
            return nn_error_set(err, NN_EFORMAT, "%s:%d: column %d holds a NUL byte (byte %zu "
                                "of the line): this looks like a binary file, not CSV text",
                                file, line, field, (size_t)(nul - s) + 1);
        }
        const char *q = s;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (!*q)
            continue;
        int nfield = 1;
        for (const char *c = s; *c; c++)
            nfield += *c == delim;
        if (t->cols == 0) {
            t->cols = nfield;
            first_line = line;
        } else if (nfield != t->cols) {
            return nn_error_set(err, NN_EFORMAT, "%s:%d: %d fields, expected %d as in line %d",
                                file, line, nfield, t->cols, first_line);
        }
        if (t->rows + 1 > cap) {
            cap = cap ? cap * 2 : 256;
            char **nc = realloc(t->cells, (size_t)cap * (size_t)t->cols * sizeof *nc);
            int *nlines = realloc(t->line_of, (size_t)cap * sizeof *nlines);
            if (nc)
                t->cells = t->cells_base = nc;
            if (nlines)
                t->line_of = t->lines_base = nlines;
            if (!nc || !nlines)
                return nn_error_set(err, NN_ENOMEM, "%s:%d: out of memory", file, line);
        }
        char **row = t->cells + t->rows * t->cols;
        int f = 0;
        for (char *c = s;; c++) {
            char *end = strchr(c, delim);
            if (end)
                *end = 0;
            row[f++] = csv_trim(c);
            if (!end)
                break;
            c = end;
        }
        t->line_of[t->rows++] = line;
    }
    if (t->cols == 0)
        return nn_error_set(err, NN_EFORMAT, "%s: no rows", file);
    if (header) {
        t->head = t->cells;
        t->cells += t->cols;
        t->line_of++;
        t->rows--;
    }
    return NN_OK;
}

/* Resolves a column given by header name (found in idx, the index of t's header; NULL for a
 * table without one) or by index (negative counts from the end). */
static int csv_column(const csv_table *t, const nnd_nameidx *idx, const char *key,
                      const char *file, nn_error *err)
{
    char *end;
    long v = strtol(key, &end, 10);
    if (*key && !*end) {
        if (v < 0)
            v += t->cols;
        if (v < 0 || v >= t->cols)
            return nn_error_set(err, NN_EINVAL, "%s: column %s does not exist (%d columns)", file,
                                key, t->cols);
        return (int)v;
    }
    int c = idx ? nnd_nameidx_find(idx, key) : -1;
    if (c >= 0)
        return c;
    return nn_error_set(err, NN_EINVAL, "%s: no column named '%s'%s", file, key,
                        t->head ? " in the header" : " (the file has no header: use an index)");
}

static int csv_int_text(const char *s)
{
    if (!*s)
        return 0;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c))
            return 0;
    return 1;
}

static int csv_name_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    if (csv_int_text(x) && csv_int_text(y)) {
        size_t lx = strlen(x), ly = strlen(y);
        if (lx != ly)
            return lx < ly ? -1 : 1;
    }
    return strcmp(x, y);
}

/* Class names: the `classes` list when given, else the sorted distinct labels of the training
 * file (numerically when all are integers), so train and test agree on ids. */
static int csv_build_classes(csv_ds *d, const csv_table *t, int lc, nn_error *err)
{
    if (d->classes_key && d->classes_key[0])
        return nnd_names_parse(&d->names, d->classes_key, "classes", err);
    for (int64_t r = 0; r < t->rows; r++) {
        int rc = nnd_names_add(&d->names, t->cells[r * t->cols + lc], err);
        if (rc)
            return rc;
        if (d->names.n > 100000)
            return nn_error_set(err, NN_EINVAL, "label column has over 100000 distinct values: "
                                "use task = regression for a numeric target");
    }
    if (d->names.n)
        qsort(d->names.v, (size_t)d->names.n, sizeof *d->names.v, csv_name_cmp);
    return NN_OK;
}

static int csv_number(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = (float)v;
    return 0;
}

/* The feature columns of a table, in sample order, into fc (t->cols entries): the `features`
 * list (names or indices) or every column but the label lc. */
static int csv_features(const csv_ds *d, const csv_table *t, const nnd_nameidx *idx,
                        const char *file, int lc, int *fc, int *nf, nn_error *err)
{
    *nf = 0;
    if (d->features_key && d->features_key[0]) {
        char *copy = strdup(d->features_key), *save = NULL;
        if (!copy)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        int rc = NN_OK;
        for (char *s = strtok_r(copy, ",", &save); s && !rc; s = strtok_r(NULL, ",", &save)) {
            int c = csv_column(t, idx, csv_trim(s), file, err);
            if (c < 0)
                rc = c;
            else if (*nf < t->cols)
                fc[(*nf)++] = c;
        }
        free(copy);
        if (rc)
            return rc;
    } else {
        for (int c = 0; c < t->cols; c++)
            if (c != lc)
                fc[(*nf)++] = c;
    }
    return *nf ? NN_OK : nn_error_set(err, NN_EINVAL, "%s: no feature columns", file);
}

/* What the training file fixes for the test file and prediction inputs: its table, label
 * column and feature columns (by name when there is a header). */
typedef struct csv_train {
    const csv_table *t;
    int lc, nf;
    int *fc;
    int every; /* no `features` list: every column but the label is a feature */
    nnd_nameidx idx; /* the training header's names (empty without a header) */
} csv_train;

/* Indexes a header (none: an empty index); two columns of one name are refused, as no column
 * could be told from the other by name */
static int csv_index_header(const csv_table *t, const char *file, nnd_nameidx *idx,
                            nn_error *err)
{
    int a, b;
    memset(idx, 0, sizeof *idx);
    if (!t->head)
        return NN_OK;
    int rc = nnd_nameidx_build(idx, t->head, t->cols, &a, &b, err);
    if (rc == NN_OK && a >= 0)
        rc = nn_error_set(err, NN_EFORMAT, "%s: the header names column '%s' twice (columns %d "
                          "and %d): give each column its own name", file, t->head[a], a + 1,
                          b + 1);
    return rc;
}

static int csv_train_columns(const csv_ds *d, const csv_table *t, const char *file,
                             csv_train *tr, nn_error *err)
{
    memset(tr, 0, sizeof *tr);
    tr->t = t;
    tr->every = !d->features_key || !d->features_key[0];
    int rc = csv_index_header(t, file, &tr->idx, err);
    if (rc)
        return rc;
    tr->lc = csv_column(t, &tr->idx, d->label_key, file, err);
    if (tr->lc < 0)
        return tr->lc;
    if (!(tr->fc = malloc((size_t)t->cols * sizeof *tr->fc)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    return csv_features(d, t, &tr->idx, file, tr->lc, tr->fc, &tr->nf, err);
}

/* appends 'name' to a comma-separated list; a name that does not fit ends it with "..." */
static void csv_list_add(char *list, size_t cap, const char *name)
{
    size_t l = strlen(list);
    if (l >= 3 && !strcmp(list + l - 3, "..."))
        return;
    if (l + strlen(name) + 8 < cap)
        snprintf(list + l, cap - l, "%s'%s'", l ? ", " : "", name);
    else
        snprintf(list + l, cap - l, "%s...", l ? ", " : "");
}

/* A test file or prediction input with a header: each training feature is taken from the
 * column of its name, wherever it stands; the label column is found by name too (required in a
 * test file, ignored in an input). Without a `features` list, where every column is a feature,
 * a column the training file lacks is refused; with one, other columns are ignored. */
static int csv_match_header(const csv_train *tr, const csv_table *u, const char *file,
                            int predict, int *fc, int *lc, nn_error *err)
{
    const csv_table *t = tr->t;
    nnd_nameidx ui;
    int rc = csv_index_header(u, file, &ui, err);
    if (rc) {
        nnd_nameidx_free(&ui);
        return rc;
    }
    char missing[160] = "", unknown[160] = "", expected[160] = "";
    int numbers = 0; /* header names that are numbers: a file without its header line */
    for (int j = 0; j < tr->nf; j++) {
        const char *name = t->head[tr->fc[j]];
        csv_list_add(expected, sizeof expected, name);
        if ((fc[j] = nnd_nameidx_find(&ui, name)) < 0)
            csv_list_add(missing, sizeof missing, name);
    }
    const char *label = t->head[tr->lc];
    *lc = nnd_nameidx_find(&ui, label);
    if (*lc < 0 && !predict)
        csv_list_add(missing, sizeof missing, label);
    for (int c = 0; c < u->cols; c++) {
        float v;
        numbers += !csv_number(u->head[c], &v);
        if (nnd_nameidx_find(&tr->idx, u->head[c]) < 0 && tr->every)
            csv_list_add(unknown, sizeof unknown, u->head[c]);
    }
    nnd_nameidx_free(&ui);
    if (!*missing && !*unknown)
        return NN_OK;
    return nn_error_set(err, NN_ESHAPE, "%s: the header does not match the training file's "
                        "columns:%s%s%s%s%s%s expected the feature columns %s %s'%s'%s%s",
                        file, *missing ? " missing " : "", missing, *missing ? ";" : "",
                        *unknown ? " unknown " : "", unknown, *unknown ? ";" : "", expected,
                        predict ? "(the label column " : "and the label column ", label,
                        predict ? " is optional and ignored)" : "",
                        numbers == u->cols ? "; its first line holds numbers: it lacks the "
                                             "header line" : "");
}

/* The label column of a headerless prediction input, or *lc = -1 when it has none: without a
 * `features` list the file has either the training file's columns or those less the label. */
static int csv_predict_label(const csv_ds *d, const csv_table *u, const char *file, int train_nf,
                             int *lc, nn_error *err)
{
    *lc = -1;
    if (d->features_key && d->features_key[0]) {
        nn_error scratch = {0};
        int c = csv_column(u, NULL, d->label_key, file, &scratch);
        *lc = c < 0 ? -1 : c;
        return NN_OK;
    }
    if (u->cols == train_nf)
        return NN_OK;
    if (u->cols == train_nf + 1)
        return (*lc = csv_column(u, NULL, d->label_key, file, err)) < 0 ? *lc : NN_OK;
    return nn_error_set(err, NN_ESHAPE, "%s: %d columns, expected the training file's %d "
                        "feature columns (and optionally its label column)", file, u->cols,
                        train_nf);
}

/* A headerless test file or prediction input: columns by position, as in the training file. */
static int csv_match_position(const csv_ds *d, const csv_train *tr, const csv_table *u,
                              const char *file, int predict, int *fc, int *lc, nn_error *err)
{
    int rc = predict ? csv_predict_label(d, u, file, tr->nf, lc, err) : NN_OK;
    if (!predict && (*lc = csv_column(u, NULL, d->label_key, file, err)) < 0)
        rc = *lc;
    int nf = 0;
    if (!rc)
        rc = csv_features(d, u, NULL, file, *lc, fc, &nf, err);
    if (!rc && nf != tr->nf)
        rc = nn_error_set(err, NN_ESHAPE, "%s: %d feature columns, the training file has %d",
                          file, nf, tr->nf);
    return rc;
}

/* Appends a table's rows: features from columns fc (nf of them), the target from column lc;
 * predict: targets are unknown and each row's origin is kept. */
static int csv_rows(csv_ds *d, const csv_table *t, const char *file, int lc, const int *fc,
                    int nf, int predict, nn_error *err)
{
    d->nf = nf;
    int64_t at = d->n;
    size_t rows = (size_t)(at + t->rows ? at + t->rows : 1);
    float *x = realloc(d->x, rows * (size_t)nf * sizeof *d->x);
    d->x = x ? x : d->x;
    float *yreg = realloc(d->yreg, rows * sizeof *d->yreg);
    d->yreg = yreg ? yreg : d->yreg;
    int32_t *labels = realloc(d->labels, rows * sizeof *d->labels);
    d->labels = labels ? labels : d->labels;
    if (!x || !yreg || !labels)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->n = at + t->rows;
    for (int64_t r = 0; r < t->rows; r++) {
        char *const *row = t->cells + r * t->cols;
        int64_t o = at + r;
        if (predict) {
            int rc = nnd_origins_row(&d->from, t->line_of[r], err);
            if (rc)
                return rc;
            d->labels[o] = -1;
            d->yreg[o] = 0;
        }
        for (int j = 0; j < nf; j++)
            if (csv_number(row[fc[j]], &d->x[o * nf + j])) {
                const char *cn = t->head ? t->head[fc[j]] : "";
                return nn_error_set(err, NN_EFORMAT,
                                    "%s:%d: column %d%s%s%s: '%s' is not a number", file,
                                    t->line_of[r], fc[j] + 1, *cn ? " ('" : "", cn,
                                    *cn ? "')" : "", row[fc[j]]);
            }
        if (predict)
            continue;
        const char *lv = row[lc];
        if (d->regression) {
            if (csv_number(lv, &d->yreg[o]))
                return nn_error_set(err, NN_EFORMAT,
                                    "%s:%d: label column %d: '%s' is not a number (task = "
                                    "regression)", file, t->line_of[r], lc + 1, lv);
            continue;
        }
        int id = nnd_names_find(&d->names, lv);
        if (id < 0)
            return nn_error_set(err, NN_EFORMAT, "%s:%d: label '%s' is not one of the %d "
                                "classes of the training file", file, t->line_of[r], lv,
                                d->names.n);
        d->labels[o] = id;
    }
    return NN_OK;
}

/* Appends the rows of a test file or a prediction input, its columns matched to training's. */
static int csv_load_other(csv_ds *d, const csv_train *tr, const csv_table *u, const char *file,
                          int predict, nn_error *err)
{
    int *fc = malloc((size_t)(u->cols > tr->nf ? u->cols : tr->nf) * sizeof *fc), lc = -1;
    if (!fc)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = d->header ? csv_match_header(tr, u, file, predict, fc, &lc, err)
                       : csv_match_position(d, tr, u, file, predict, fc, &lc, err);
    if (!rc)
        rc = csv_rows(d, u, file, lc, fc, tr->nf, predict, err);
    free(fc);
    return rc;
}

static int csv_create(const nn_params *p, void **self, nn_error *err)
{
    const char *delim = nn_params_str(p, "delimiter");
    if (!strcmp(delim, "\\t") || !strcmp(delim, "tab"))
        delim = "\t";
    if (strlen(delim) != 1 || delim[0] == '"' || delim[0] == '\n')
        return nn_error_set(err, NN_EINVAL, "key 'delimiter': '%s' must be one character "
                            "(or 'tab')", delim);
    csv_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->delim = delim[0];
    d->path = nn_params_str(p, "path");
    d->test_path = nn_params_str(p, "test_path");
    d->label_key = nn_params_str(p, "label");
    d->features_key = nn_params_str(p, "features");
    d->classes_key = nn_params_str(p, "classes");
    d->header = nn_params_bool(p, "header");
    d->regression = nn_params_enum(p, "task") == 1;
    *self = d;
    return NN_OK;
}

static void csv_destroy(void *self)
{
    csv_ds *d = self;
    nnd_names_free(&d->names);
    nnd_origins_free(&d->from);
    free(d->x);
    free(d->yreg);
    free(d->labels);
    free(d);
}

static int csv_open_file(csv_ds *d, const char *path, csv_table *t, nn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    memset(t, 0, sizeof *t);
    int rc = nnd_read_all(path, "CSV file", &text, &len, err);
    if (rc)
        return rc;
    return csv_table_parse(text, len, path, d->delim, d->header, t, err);
}

static int csv_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    csv_ds *d = self;
    int predict = o->split == NN_SPLIT_PREDICT;
    char train[4096], path[4096];
    csv_table t;
    memset(&t, 0, sizeof t);
    int rc = nnd_split_check(o, "csv", "test_path", d->test_path, "val_path",
                             "a CSV file with the training feature columns", err);
    if (!rc)
        rc = nnd_resolve(train, sizeof train, o->base_dir, d->path, err);
    if (!rc)
        rc = nnd_resolve(path, sizeof path, o->base_dir,
                         o->split == NN_SPLIT_TEST ? d->test_path : d->path, err);
    csv_train tr = {0};
    if (!rc)
        rc = csv_open_file(d, train, &t, err);
    if (!rc)
        rc = csv_train_columns(d, &t, train, &tr, err);
    if (!rc && !d->regression)
        rc = csv_build_classes(d, &t, tr.lc, err);
    if (!rc && o->split == NN_SPLIT_TRAIN)
        rc = csv_rows(d, &t, train, tr.lc, tr.fc, tr.nf, 0, err);
    /* the test file or each prediction input, matched to the training file's columns */
    for (int f = 0; !rc && o->split != NN_SPLIT_TRAIN && f < (predict ? o->n_inputs : 1); f++) {
        const char *file = predict ? o->inputs[f] : path;
        csv_table u;
        memset(&u, 0, sizeof u);
        if (predict)
            rc = nnd_origins_file(&d->from, file, err);
        if (!rc)
            rc = csv_open_file(d, file, &u, err);
        if (!rc)
            rc = csv_load_other(d, &tr, &u, file, predict, err);
        csv_table_free(&u);
    }
    free(tr.fc);
    nnd_nameidx_free(&tr.idx);
    csv_table_free(&t);
    if (rc)
        return rc;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->n;
    nn_tensor_describe(&info->sample, NN_F32, 1, (const int64_t[]){d->nf});
    if (d->regression) {
        /* [1], not a scalar: batches of [N, 1] meet a 1-unit dense layer's [N, 1] output in
         * mse, l1 and huber, which take predictions and targets of one shape (as PyTorch's) */
        nn_tensor_describe(&info->target, NN_F32, 1, (const int64_t[]){1});
    } else {
        nn_tensor_describe(&info->target, NN_I32, 0, NULL);
        info->n_classes = d->names.n;
        info->class_names = (const char *const *)d->names.v;
        info->labels = predict ? NULL : d->labels;
    }
    return NN_OK;
}

static int csv_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    csv_ds *d = self;
    if (index < 0 || index >= d->n)
        return nn_error_set(err, NN_EINVAL, "csv: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->n);
    memcpy(NN_F32P(sample), d->x + index * d->nf, (size_t)d->nf * sizeof(float));
    if (d->regression)
        NN_F32P(target)[0] = d->yreg[index];
    else
        NN_I32P(target)[0] = d->labels[index];
    return NN_OK;
}

static int csv_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const csv_ds *d = self;
    return nnd_origins_describe(&d->from, d->n, index, buf, cap);
}

static const nn_param_spec csv_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .required = 1,
     .doc = "training file; relative paths are resolved from the model file"},
    {.name = "test_path", .type = NN_PARAM_STRING, .doc = "test file for `nntrain eval`"},
    {.name = "delimiter", .type = NN_PARAM_STRING, .def = ",",
     .doc = "field separator: one character, or 'tab' (fields may be wrapped in double "
            "quotes, but a quoted field may not contain the separator)"},
    {.name = "header", .type = NN_PARAM_BOOL, .def = "true",
     .doc = "the first non-blank line names the columns; the test file and predict inputs "
            "are then matched to the training columns by name, in any order"},
    {.name = "label", .type = NN_PARAM_STRING, .def = "-1",
     .doc = "label column: a header name or a 0-based index (negative counts from the end)"},
    {.name = "features", .type = NN_PARAM_STRING,
     .doc = "comma-separated feature columns (names or indices); default: all but the label"},
    {.name = "task", .type = NN_PARAM_ENUM, .def = "classification",
     .choices = "classification|regression",
     .doc = "classification: labels become I32 class ids; regression: an F32 [1] target, "
            "compared with a 1-unit output"},
    {.name = "classes", .type = NN_PARAM_STRING,
     .doc = "comma-separated class names fixing the id order; default: the distinct labels "
            "of the training file, sorted (numerically when all are integers)"},
    {0}};

static const nn_dataset_vtable csv_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = csv_create,
    .destroy = csv_destroy,
    .open = csv_open,
    .get = csv_get,
    .describe = csv_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc csv_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "csv", .version = "1.0.0", .license = "MIT",
    .summary = "CSV tables: F32 [features] rows, class ids or an F32 regression target; "
               "predict --input takes CSVs with the training feature columns (by header name, "
               "label optional)",
    .caps = NN_CAP_THREAD_SAFE, .params = csv_params, .vtable = &csv_vt);

NN_PLUGIN_EXPORT(&csv_desc);
