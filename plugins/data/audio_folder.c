/* audio_folder.c: the `audio_folder` dataset: one sub-directory per class holding WAV/FLAC
 * files, read with libsndfile, mixed down to mono, resampled by linear interpolation (or checked
 * against a declared rate) and cropped/zero-padded to a fixed length: F32 [1, length].
 * open() opens every file once so a bad one fails early; get() streams one file through a
 * stack buffer (no heap) and may run on many threads. It never keeps a file open.
 * Prediction (NN_SPLIT_PREDICT): each input is a WAV/FLAC file or a directory of them (sorted,
 * not recursive), read like training files; classes are the sub-directories of dir; a sample
 * is named by its file's path. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nntrain/dataset.h>

#define AF_CHUNK 4096 /* interleaved samples read per sf_readf_float */

typedef struct af_file {
    char *path;
    int32_t label;
    int rate, channels;
} af_file;

typedef struct af_ds {
    const char *dir, *test_dir;
    int64_t rate, length;
    int check;
    af_file *files;
    int32_t *labels;
    int64_t n, cap;
    char **names;
    int n_names;
} af_ds;

static int af_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int af_is_audio(const char *name)
{
    size_t l = strlen(name);
    return (l > 4 && !strcasecmp(name + l - 4, ".wav")) ||
           (l > 5 && !strcasecmp(name + l - 5, ".flac"));
}

/* Sorted entries of dir: sub-directories (dirs = 1) or .wav/.flac files (dirs = 0). */
static int af_list(const char *dir, int dirs, char ***out, int *n, nn_error *err)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return nn_error_set(err, NN_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        DIR *sub = opendir(p);
        int is_dir = sub != NULL;
        if (sub)
            closedir(sub);
        if (dirs ? !is_dir : (is_dir || !af_is_audio(e->d_name)))
            continue;
        char **nv = cnt < cap ? v : realloc(v, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *nv);
        char *name = nv ? strdup(e->d_name) : NULL;
        if (nv)
            v = nv;
        if (!name) {
            closedir(dp);
            for (int i = 0; i < cnt; i++)
                free(v[i]);
            free(v);
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory listing the directory", dir);
        }
        v[cnt++] = name;
    }
    closedir(dp);
    if (cnt)
        qsort(v, (size_t)cnt, sizeof *v, af_cmp);
    *out = v;
    *n = cnt;
    return NN_OK;
}

static void af_free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int af_create(const nn_params *p, void **self, nn_error *err)
{
    af_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->dir = nn_params_str(p, "dir");
    d->test_dir = nn_params_str(p, "test_dir");
    d->rate = nn_params_int(p, "rate");
    d->length = nn_params_int(p, "length");
    d->check = nn_params_enum(p, "resample") == 1;
    *self = d;
    return NN_OK;
}

static void af_destroy(void *self)
{
    af_ds *d = self;
    for (int64_t i = 0; i < d->n; i++)
        free(d->files[i].path);
    free(d->files);
    free(d->labels);
    af_free_list(d->names, d->n_names);
    free(d);
}

static void af_resolve(char *buf, size_t cap, const char *base, const char *f)
{
    if (f[0] == '/' || !base)
        snprintf(buf, cap, "%s", f);
    else
        snprintf(buf, cap, "%s/%s", base, f);
}

static int af_probe(af_ds *d, af_file *f, nn_error *err)
{
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open(f->path, SFM_READ, &si);
    if (!sf)
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable audio file: %s", f->path,
                            sf_strerror(NULL));
    sf_close(sf);
    if (si.channels < 1 || si.channels > AF_CHUNK || si.samplerate < 1)
        return nn_error_set(err, NN_EFORMAT, "%s: %d channels at %d Hz is not usable", f->path,
                            si.channels, si.samplerate);
    if (d->check && si.samplerate != d->rate)
        return nn_error_set(err, NN_EFORMAT, "%s: sample rate %d Hz, expected %lld Hz "
                            "(resample = check)", f->path, si.samplerate, (long long)d->rate);
    f->rate = si.samplerate;
    f->channels = si.channels;
    return NN_OK;
}

/* Appends file dir/name (dir NULL: name is the path) with its label, opening it once. */
static int af_add(af_ds *d, const char *dir, const char *name, int32_t label, nn_error *err)
{
    if (d->n == d->cap) {
        af_file *nf = realloc(d->files, (size_t)(d->cap = d->cap ? d->cap * 2 : 256) * sizeof *nf);
        if (!nf)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        d->files = nf;
    }
    af_file *f = &d->files[d->n];
    size_t pl = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    if (!(f->path = malloc(pl)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    snprintf(f->path, pl, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    f->label = label;
    d->n++;
    return af_probe(d, f, err);
}

/* The user's audio files and directories of audio files, label -1. */
static int af_open_inputs(af_ds *d, const nn_dataset_open *o, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < o->n_inputs && !rc; i++) {
        const char *in = o->inputs[i];
        DIR *dp = opendir(in);
        if (!dp) {
            rc = af_add(d, NULL, in, -1, err);
            continue;
        }
        closedir(dp);
        char **files;
        int nfiles;
        if ((rc = af_list(in, 0, &files, &nfiles, err)))
            break;
        if (nfiles == 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: directory has no .wav or .flac files", in);
        size_t l = strlen(in);
        char *dir = strdup(in);
        if (!dir && !rc)
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        while (dir && l > 1 && dir[l - 1] == '/')
            dir[--l] = 0;
        for (int k = 0; k < nfiles && !rc; k++)
            rc = af_add(d, dir, files[k], -1, err);
        free(dir);
        af_free_list(files, nfiles);
    }
    return rc;
}

static int af_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    af_ds *d = self;
    if (o->split == NN_SPLIT_VAL)
        return nn_error_set(err, NN_ENOTSUP, "audio_folder has no explicit validation split; "
                            "use [data] val_split or val_type = audio_folder with val_dir");
    if (o->split == NN_SPLIT_TEST && !d->test_dir)
        return nn_error_set(err, NN_ENOTFOUND, "audio_folder: no test folder: set 'test_dir'");
    char root[4096], troot[4096];
    af_resolve(root, sizeof root, o->base_dir, d->dir);
    int rc = af_list(root, 1, &d->names, &d->n_names, err);
    if (rc)
        return rc;
    if (d->n_names == 0)
        return nn_error_set(err, NN_EFORMAT, "%s: no class sub-directories", root);
    char **cls = d->names;
    int ncls = d->n_names;
    if (o->split == NN_SPLIT_PREDICT) {
        if (o->struct_size < sizeof *o || o->n_inputs < 1 || !o->inputs)
            return nn_error_set(err, NN_EINVAL, "audio_folder: predict needs at least one "
                                "WAV/FLAC file or directory");
        if ((rc = af_open_inputs(d, o, err)))
            return rc;
        ncls = 0; /* no class folders to walk */
    } else if (o->split == NN_SPLIT_TEST) {
        af_resolve(troot, sizeof troot, o->base_dir, d->test_dir);
        if ((rc = af_list(troot, 1, &cls, &ncls, err)))
            return rc;
    } else {
        snprintf(troot, sizeof troot, "%s", root);
    }
    for (int c = 0; c < ncls && !rc; c++) {
        int id = -1;
        for (int k = 0; k < d->n_names && id < 0; k++)
            if (!strcmp(d->names[k], cls[c]))
                id = k;
        char cdir[4400];
        snprintf(cdir, sizeof cdir, "%s/%s", troot, cls[c]);
        if (id < 0) {
            rc = nn_error_set(err, NN_EFORMAT, "%s: class '%s' is not a class of %s", cdir,
                              cls[c], root);
            break;
        }
        char **files;
        int nfiles;
        if ((rc = af_list(cdir, 0, &files, &nfiles, err)))
            break;
        if (nfiles == 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: class folder has no .wav or .flac files",
                              cdir);
        for (int i = 0; i < nfiles && !rc; i++)
            rc = af_add(d, cdir, files[i], id, err);
        af_free_list(files, nfiles);
    }
    if (cls != d->names)
        af_free_list(cls, ncls);
    if (rc)
        return rc;
    d->labels = malloc((size_t)(d->n ? d->n : 1) * sizeof *d->labels);
    if (!d->labels)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < d->n; i++)
        d->labels[i] = d->files[i].label;
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->length = d->n;
    nn_tensor_describe(&info->sample, NN_F32, 2, (const int64_t[]){1, d->length});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = d->n_names;
    info->class_names = (const char *const *)d->names;
    info->labels = o->split == NN_SPLIT_PREDICT ? NULL : d->labels;
    return NN_OK;
}

/* Streams the file: mixdown to mono, then output sample j reads source position
 * j * rate_in / rate_out by linear interpolation between its two neighbouring frames (the last
 * frame is held; positions past the end are zero padding). No anti-alias filter: a downsampled
 * signal keeps aliasing above the new Nyquist frequency. */
static int af_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    af_ds *d = self;
    if (index < 0 || index >= d->n)
        return nn_error_set(err, NN_EINVAL, "audio_folder: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->n);
    const af_file *f = &d->files[index];
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open(f->path, SFM_READ, &si);
    if (!sf)
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable audio file: %s", f->path,
                            sf_strerror(NULL));
    if (si.channels != f->channels || si.samplerate != f->rate) {
        sf_close(sf);
        return nn_error_set(err, NN_EFORMAT, "%s: changed since the dataset was opened",
                            f->path);
    }
    float inter[AF_CHUNK], mono[AF_CHUNK];
    int ch = si.channels;
    sf_count_t per = AF_CHUNK / ch;
    int64_t start = 0, len = 0; /* global frame index of mono[0], frames in mono */
    float prev = 0;
    int eof = 0;
    double ratio = (double)f->rate / (double)d->rate;
    float *out = NN_F32P(sample);
    for (int64_t j = 0; j < d->length; j++) {
        double t = (double)j * ratio;
        int64_t i0 = (int64_t)t;
        float frac = (float)(t - (double)i0);
        while (!eof && i0 + 1 >= start + len) {
            if (len)
                prev = mono[len - 1];
            start += len;
            sf_count_t got = sf_readf_float(sf, inter, per);
            if (got <= 0) {
                len = 0;
                eof = 1;
                break;
            }
            for (sf_count_t k = 0; k < got; k++) {
                float s = 0;
                for (int c = 0; c < ch; c++)
                    s += inter[k * ch + c];
                mono[k] = s / (float)ch;
            }
            len = got;
        }
        int64_t have_end = start + len; /* frames [start - 1, have_end) are readable */
        if (i0 >= have_end) {
            out[j] = 0;
            continue;
        }
        float a = i0 == start - 1 ? prev : mono[i0 - start];
        float b = i0 + 1 < have_end ? mono[i0 + 1 - start] : a;
        out[j] = a + (b - a) * frac;
    }
    int bad = sf_error(sf);
    sf_close(sf);
    if (bad)
        return nn_error_set(err, NN_EFORMAT, "%s: read error: %s", f->path,
                            sf_error_number(bad));
    NN_I32P(target)[0] = f->label;
    return NN_OK;
}

static int af_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const af_ds *d = self;
    if (index < 0 || index >= d->n)
        return NN_EINVAL;
    snprintf(buf, cap, "%s", d->files[index].path);
    return NN_OK;
}

static const nn_param_spec af_params[] = {
    {.name = "dir", .type = NN_PARAM_STRING, .required = 1,
     .doc = "root folder with one sub-directory of .wav/.flac files per class (sorted = ids)"},
    {.name = "test_dir", .type = NN_PARAM_STRING,
     .doc = "test root for `nntrain eval`, with class folders named as in dir"},
    {.name = "rate", .type = NN_PARAM_INT, .def = "16000", .range = "[1, 768000]",
     .doc = "sample rate of the samples, in Hz"},
    {.name = "resample", .type = NN_PARAM_ENUM, .def = "linear", .choices = "linear|check",
     .doc = "linear: resample by linear interpolation (no anti-alias filter); check: reject "
            "files at another rate"},
    {.name = "length", .type = NN_PARAM_INT, .def = "16000", .range = "[1, 100000000]",
     .doc = "samples per example: longer clips keep their start, shorter ones are zero-padded"},
    {0}};

static const nn_dataset_vtable af_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = af_create,
    .destroy = af_destroy,
    .open = af_open,
    .get = af_get,
    .describe = af_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc af_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "audio_folder", .version = "1.0.0", .license = "MIT",
    .summary = "WAV/FLAC files in one folder per class: mono F32 [1, length], I32 class ids; "
               "predict --input takes WAV/FLAC files or directories of them",
    .caps = NN_CAP_THREAD_SAFE, .params = af_params, .vtable = &af_vt);

NN_PLUGIN_EXPORT(&af_desc);
