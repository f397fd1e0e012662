/* audio_folder.c: the `audio_folder` dataset: one sub-directory per class holding WAV/FLAC
 * files, read with libsndfile, mixed down to mono, resampled by linear interpolation (or checked
 * against a declared rate) and cropped/zero-padded to a fixed length: F32 [1, length].
 * open() reads every file once, so a bad one (corrupt data after a valid header too) is
 * skipped and reported there, never met mid-run; get() streams one file through a
 * stack buffer (no heap) and may run on many threads, or copies the sample it kept after its
 * first read when the split fits in cache_mb (nnd_cache). It never keeps a file open.
 * Prediction (NN_SPLIT_PREDICT): each input is a WAV/FLAC file or a directory of them (sorted,
 * not recursive), read like training files; classes are the sub-directories of dir; a sample
 * is named by its file's path. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nntrain/dataset.h>
#include <nntrain/file.h>

#include "nn_classdir.h"
#include "nn_datafile.h"

#define AF_CHUNK 4096 /* interleaved samples read per sf_readf_float */

/* what open() learns of each file */
typedef struct af_file {
    int rate, channels;
} af_file;

typedef struct af_ds {
    const char *dir, *test_dir;
    int64_t rate, length, cache_mb;
    int check;
    double max_skipped;
    nnd_table t;
    nnd_cache cache;
} af_ds;

static int af_accept(const char *name)
{
    size_t l = strlen(name);
    return (l > 4 && !strcasecmp(name + l - 4, ".wav")) ||
           (l > 5 && !strcasecmp(name + l - 5, ".flac"));
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
    d->max_skipped = nn_params_float(p, "max_skipped");
    d->cache_mb = nn_params_int(p, "cache_mb");
    *self = d;
    return NN_OK;
}

static void af_destroy(void *self)
{
    af_ds *d = self;
    nnd_table_free(&d->t);
    nnd_cache_free(&d->cache);
    free(d);
}

/* Opens the audio file at path (through nn_file_open: a FIFO or device is refused); *sf is
 * closed by the caller with sf_close, which closes the descriptor too. */
static int af_sf_open(const char *path, SF_INFO *si, SNDFILE **sf, nn_error *err)
{
    int fd = nn_file_open(path, "audio file", err);
    if (fd < 0)
        return fd;
    memset(si, 0, sizeof *si);
    /* with close_desc = 1, libsndfile closes fd on failure too (its error path closes the file
     * whatever close_desc says), so fd is never closed here */
    if (!(*sf = sf_open_fd(fd, SFM_READ, si, 1)))
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable audio file: %s", path,
                            sf_strerror(NULL));
    return NN_OK;
}

/* nnd_folder_spec.probe: reads the file once for its rate and channel count, and decodes it */
static int af_probe(void *ctx, const char *path, void *extra, nn_error *err)
{
    const af_ds *d = ctx;
    af_file *f = extra;
    SF_INFO si;
    SNDFILE *sf;
    if (af_sf_open(path, &si, &sf, err))
        return NND_UNREADABLE;
    /* every frame is decoded once (a FLAC file can be corrupt after a valid header), so that
     * such a file is skipped here rather than failing get() in the middle of a run */
    float buf[AF_CHUNK];
    sf_count_t per = si.channels >= 1 && si.channels <= AF_CHUNK ? AF_CHUNK / si.channels : 0;
    while (per && sf_readf_float(sf, buf, per) > 0)
        ;
    int bad = sf_error(sf);
    sf_close(sf);
    if (bad) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable audio data: %s", path,
                     sf_error_number(bad));
        return NND_UNREADABLE;
    }
    if (si.channels < 1 || si.channels > AF_CHUNK || si.samplerate < 1) {
        nn_error_set(err, NN_EFORMAT, "%s: %d channels at %d Hz is not usable", path,
                     si.channels, si.samplerate);
        return NND_UNREADABLE;
    }
    if (d->check && si.samplerate != d->rate)
        return nn_error_set(err, NN_EFORMAT, "%s: sample rate %d Hz, expected %lld Hz "
                            "(resample = check)", path, si.samplerate, (long long)d->rate);
    f->rate = si.samplerate;
    f->channels = si.channels;
    return NN_OK;
}

static int af_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    af_ds *d = self;
    nnd_folder_spec spec = {.plugin = "audio_folder", .exts = ".wav or .flac", .dir = d->dir,
                            .test_dir = d->test_dir, .accept = af_accept, .probe = af_probe,
                            .ctx = d, .extra_size = sizeof(af_file),
                            .max_skipped = d->max_skipped};
    int rc = nnd_folder_open(&d->t, &spec, o, err);
    if (rc)
        return rc;
    nnd_table_info(&d->t, o->split, info);
    nn_tensor_describe(&info->sample, NN_F32, 2, (const int64_t[]){1, d->length});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    nnd_cache_open(&d->cache, d->t.n, nn_tensor_nbytes(&info->sample), d->cache_mb);
    return NN_OK;
}

/* Streams the file: mixdown to mono, then output sample j reads source position
 * j * rate_in / rate_out by linear interpolation between its two neighbouring frames (the last
 * frame is held; positions past the end are zero padding). No anti-alias filter: a downsampled
 * signal keeps aliasing above the new Nyquist frequency. */
static int af_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    af_ds *d = self;
    if (index < 0 || index >= d->t.n)
        return nn_error_set(err, NN_EINVAL, "audio_folder: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->t.n);
    NN_I32P(target)[0] = d->t.label[index];
    if (nnd_cache_get(&d->cache, index, NN_F32P(sample)))
        return NN_OK;
    const af_file *f = nnd_table_extra(&d->t, index);
    const char *path = d->t.path[index];
    SF_INFO si;
    SNDFILE *sf;
    int rc = af_sf_open(path, &si, &sf, err);
    if (rc)
        return rc;
    if (si.channels != f->channels || si.samplerate != f->rate) {
        sf_close(sf);
        return nn_error_set(err, NN_EFORMAT, "%s: changed since the dataset was opened",
                            path);
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
        return nn_error_set(err, NN_EFORMAT, "%s: read error: %s", path,
                            sf_error_number(bad));
    nnd_cache_put(&d->cache, index, out);
    return NN_OK;
}

static int af_describe(void *self, int64_t index, char *buf, size_t cap)
{
    return nnd_table_describe(&((const af_ds *)self)->t, index, buf, cap);
}

static const nn_param_spec af_params[] = {
    NND_FOLDER_PARAMS(".wav/.flac files"),
    {.name = "rate", .type = NN_PARAM_INT, .def = "16000", .range = "[1, 768000]",
     .doc = "sample rate of the samples, in Hz"},
    {.name = "resample", .type = NN_PARAM_ENUM, .def = "linear", .choices = "linear|check",
     .doc = "linear: resample by linear interpolation (no anti-alias filter); check: reject "
            "files at another rate"},
    {.name = "length", .type = NN_PARAM_INT, .def = "16000", .range = "[1, 100000000]",
     .doc = "samples per example: longer clips keep their start, shorter ones are zero-padded"},
    NND_CACHE_PARAM("length"),
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
    .kind = NN_KIND_DATASET, .name = "audio_folder", .version = "1.1.0", .license = "MIT",
    .summary = "WAV/FLAC files in one folder per class: mono F32 [1, length], I32 class ids; "
               "predict --input takes WAV/FLAC files or directories of them",
    .caps = NN_CAP_THREAD_SAFE, .params = af_params, .vtable = &af_vt);

NN_PLUGIN_EXPORT(&af_desc);
