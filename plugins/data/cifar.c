/* cifar.c: the `cifar` dataset: CIFAR-10 and CIFAR-100 binary batch files.
 * open() reads the split's batch files into memory and checks every record; get() converts one
 * record to F32 [3, 32, 32] and is safe on many threads. It must never index past a record.
 * Prediction (NN_SPLIT_PREDICT): each input is a binary batch file of the configured variant;
 * its label bytes are ignored; samples are named "FILE:RECORD". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/dataset.h>

#include "nn_datafile.h"

#define CIFAR_PIXELS 3072

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

typedef struct cifar_ds {
    const char *dir, *train_files, *test_files;
    int variant; /* 0 cifar10, 1 cifar100 */
    int coarse;  /* cifar100: use the coarse (20-class) label */
    double scale;
    uint8_t *pixels; /* n * 3072 */
    int32_t *labels;
    int64_t n, cap;
    char *names_buf;
    const char **names;
    int n_names;
    /* NN_SPLIT_PREDICT: sample i is record i - in_start[f] of in_path[f] */
    int n_in;
    char **in_path;
    int64_t *in_start; /* n_in + 1 entries */
} cifar_ds;

/* Appends the records of one batch file held in memory. Record layout: cifar10 = label byte +
 * 3072 pixels; cifar100 = coarse byte, fine byte + 3072 pixels. */
static int cifar_parse(cifar_ds *d, const uint8_t *b, size_t len, const char *file, int predict,
                       nn_error *err)
{
    size_t hdr = d->variant ? 2 : 1, rec = hdr + CIFAR_PIXELS;
    int nclass = d->variant ? (d->coarse ? 20 : 100) : 10;
    if (len == 0)
        return nn_error_set(err, NN_EFORMAT, "%s: empty batch file", file);
    if (len % rec)
        return nn_error_set(err, NN_EFORMAT,
                            "%s: %zu bytes is not a whole number of %zu-byte records: record %zu "
                            "at offset %zu is truncated", file, len, rec, len / rec,
                            len / rec * rec);
    int64_t m = (int64_t)(len / rec);
    if (d->n + m > d->cap) {
        int64_t nc = (d->n + m) * 2;
        uint8_t *np = realloc(d->pixels, (size_t)nc * CIFAR_PIXELS);
        if (!np)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", file);
        d->pixels = np;
        int32_t *nl = realloc(d->labels, (size_t)nc * sizeof *nl);
        if (!nl)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", file);
        d->labels = nl;
        d->cap = nc;
    }
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *r = b + (size_t)i * rec;
        int lab = predict ? -1 : d->variant ? r[d->coarse ? 0 : 1] : r[0];
        if (lab >= nclass)
            return nn_error_set(err, NN_EFORMAT,
                                "%s: record %lld (offset %zu): label %d is not below %d", file,
                                (long long)i, (size_t)i * rec + (d->variant && !d->coarse),
                                lab, nclass);
        d->labels[d->n] = lab;
        memcpy(d->pixels + (size_t)d->n * CIFAR_PIXELS, r + hdr, CIFAR_PIXELS);
        d->n++;
    }
    return NN_OK;
}

/* Class names from the dataset's own text file when it is there (batches.meta.txt,
 * fine_label_names.txt, coarse_label_names.txt): one name a line. */
static void cifar_load_names(cifar_ds *d, const char *base)
{
    const char *f = d->variant ? (d->coarse ? "coarse_label_names.txt" : "fine_label_names.txt")
                               : "batches.meta.txt";
    char p[4096], *txt;
    size_t len;
    nn_error e = {0};
    if (nnd_join(p, sizeof p, base, d->dir, f, &e) || nnd_read_all(p, NULL, &txt, &len, &e))
        return;
    int want = d->variant ? (d->coarse ? 20 : 100) : 10;
    const char **names = calloc((size_t)want, sizeof *names);
    int n = 0;
    nnd_lines it;
    nnd_lines_init(&it, txt, len);
    size_t l;
    for (char *s; names && n < want && (s = nnd_lines_next(&it, &l));) {
        while (l && s[l - 1] == ' ')
            s[--l] = 0;
        if (l)
            names[n++] = s;
    }
    if (n == want) {
        d->names_buf = txt;
        d->names = names;
        d->n_names = n;
    } else {
        free(txt);
        free(names);
    }
}

static int cifar_create(const nn_params *p, void **self, nn_error *err)
{
    cifar_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->dir = nn_params_str(p, "dir");
    d->variant = nn_params_enum(p, "variant");
    d->coarse = nn_params_enum(p, "label") == 1;
    d->scale = nn_params_float(p, "scale");
    d->train_files = nn_params_str(p, "train_files");
    d->test_files = nn_params_str(p, "test_files");
    if (!d->train_files)
        d->train_files = d->variant ? "train.bin"
                                    : "data_batch_1.bin,data_batch_2.bin,data_batch_3.bin,"
                                      "data_batch_4.bin,data_batch_5.bin";
    if (!d->test_files)
        d->test_files = d->variant ? "test.bin" : "test_batch.bin";
    if (d->coarse && !d->variant) {
        free(d);
        return nn_error_set(err, NN_EINVAL, "key 'label': coarse labels exist only for "
                            "variant = cifar100");
    }
    *self = d;
    return NN_OK;
}

static void cifar_destroy(void *self)
{
    cifar_ds *d = self;
    free(d->pixels);
    free(d->labels);
    free(d->names_buf);
    free(d->names);
    for (int i = 0; i < d->n_in; i++)
        free(d->in_path[i]);
    free(d->in_path);
    free(d->in_start);
    free(d);
}

/* The user's batch files (their label bytes ignored). */
static int cifar_open_inputs(cifar_ds *d, const nn_dataset_open *o, nn_error *err)
{
    if (o->struct_size < sizeof *o || o->n_inputs < 1 || !o->inputs)
        return nn_error_set(err, NN_EINVAL, "cifar: predict needs at least one batch file");
    d->in_path = calloc((size_t)o->n_inputs, sizeof *d->in_path);
    d->in_start = calloc((size_t)o->n_inputs + 1, sizeof *d->in_start);
    if (!d->in_path || !d->in_start)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int f = 0; f < o->n_inputs; f++) {
        d->n_in = f + 1;
        if (!(d->in_path[f] = strdup(o->inputs[f])))
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        char *buf;
        size_t len;
        int rc = nnd_read_all(o->inputs[f], "batch file", &buf, &len, err);
        if (rc)
            return rc;
        rc = cifar_parse(d, (const uint8_t *)buf, len, o->inputs[f], 1, err);
        free(buf);
        if (rc)
            return rc;
        d->in_start[f + 1] = d->n;
    }
    return NN_OK;
}

static int cifar_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    cifar_ds *d = self;
    if (o->split == NN_SPLIT_VAL)
        return nn_error_set(err, NN_ENOTSUP, "cifar has no explicit validation split; use "
                            "[data] val_split");
    const char *list = o->split == NN_SPLIT_TEST ? d->test_files : d->train_files;
    if (o->split == NN_SPLIT_PREDICT)
        list = ""; /* the inputs instead of the configured files */
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = NN_OK;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        char p[4096], *buf;
        size_t len;
        rc = nnd_join(p, sizeof p, o->base_dir, d->dir, t, err);
        if (!rc)
            rc = nnd_read_all(p, "batch file", &buf, &len, err);
        if (!rc) {
            rc = cifar_parse(d, (const uint8_t *)buf, len, p, 0, err);
            free(buf);
        }
    }
    free(copy);
    if (!rc && o->split == NN_SPLIT_PREDICT)
        rc = cifar_open_inputs(d, o, err);
    if (rc)
        return rc;
    if (d->n == 0)
        return nn_error_set(err, NN_EINVAL, "cifar: no batch files listed for this split");
    cifar_load_names(d, o->base_dir);
    if (!d->n_names && !d->variant) {
        d->names = calloc(10, sizeof *d->names);
        if (!d->names)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (int i = 0; i < 10; i++)
            d->names[i] = cifar10_names[i];
        d->n_names = 10;
    }
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->n;
    nn_tensor_describe(&info->sample, NN_F32, 3, (const int64_t[]){3, 32, 32});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = d->variant ? (d->coarse ? 20 : 100) : 10;
    info->class_names = d->n_names ? d->names : NULL;
    info->labels = o->split == NN_SPLIT_PREDICT ? NULL : d->labels;
    return NN_OK;
}

static int cifar_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target,
                     nn_error *err)
{
    cifar_ds *d = self;
    if (index < 0 || index >= d->n)
        return nn_error_set(err, NN_EINVAL, "cifar: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->n);
    const uint8_t *src = d->pixels + (size_t)index * CIFAR_PIXELS;
    float *dst = NN_F32P(sample), s = (float)d->scale;
    for (int i = 0; i < CIFAR_PIXELS; i++)
        dst[i] = (float)src[i] * s;
    NN_I32P(target)[0] = d->labels[index];
    return NN_OK;
}

static int cifar_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const cifar_ds *d = self;
    if (index < 0 || index >= d->n)
        return NN_EINVAL;
    if (!d->n_in) {
        snprintf(buf, cap, "%lld", (long long)index);
        return NN_OK;
    }
    int lo = 0, hi = d->n_in - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (d->in_start[mid] <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    snprintf(buf, cap, "%s:%lld", d->in_path[lo], (long long)(index - d->in_start[lo]));
    return NN_OK;
}

static const nn_param_spec cifar_params[] = {
    {.name = "dir", .type = NN_PARAM_STRING, .required = 1,
     .doc = "directory of the binary batch files (cifar-10-batches-bin, cifar-100-binary)"},
    {.name = "variant", .type = NN_PARAM_ENUM, .def = "cifar10", .choices = "cifar10|cifar100",
     .doc = "record layout: cifar10 (1 label byte) or cifar100 (coarse + fine label bytes)"},
    {.name = "label", .type = NN_PARAM_ENUM, .def = "fine", .choices = "fine|coarse",
     .doc = "cifar100 only: the 100 fine classes or the 20 coarse superclasses"},
    {.name = "train_files", .type = NN_PARAM_STRING,
     .doc = "comma-separated training batch files (default data_batch_1..5.bin, or train.bin)"},
    {.name = "test_files", .type = NN_PARAM_STRING,
     .doc = "comma-separated test batch files (default test_batch.bin, or test.bin)"},
    {.name = "scale", .type = NN_PARAM_FLOAT, .def = "0.00392156862745098", .range = "(0, inf)",
     .doc = "each byte is multiplied by this (default 1/255)"},
    {0}};

static const nn_dataset_vtable cifar_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = cifar_create,
    .destroy = cifar_destroy,
    .open = cifar_open,
    .get = cifar_get,
    .describe = cifar_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc cifar_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "cifar", .version = "1.0.0", .license = "MIT",
    .summary = "CIFAR-10/100 binary batches: F32 [3, 32, 32] images, I32 class ids; predict "
               "--input takes batch files of the same variant (labels ignored)",
    .caps = NN_CAP_THREAD_SAFE, .params = cifar_params, .vtable = &cifar_vt);

NN_PLUGIN_EXPORT(&cifar_desc);
