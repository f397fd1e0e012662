/* nn_classdir.h: the class-folder layout of the folder datasets (image_folder, audio_folder):
 * one sub-directory per class under a root (sorted names = class ids) and the table of one
 * split's files with their labels. A plugin supplies only which file names it reads and a
 * probe that checks one file. Part of libnn_datautil.a; never prints, holds no global state. */
#ifndef NN_CLASSDIR_H
#define NN_CLASSDIR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nntrain/dataset.h>

/* What a folder plugin reads. */
typedef struct nnd_folder_spec {
    const char *plugin; /* the plugin's name, for messages */
    const char *exts;   /* its extensions as a user reads them: ".wav or .flac" */
    const char *dir, *test_dir; /* the values of its keys `dir` and `test_dir` (NULL: unset) */
    int (*accept)(const char *name); /* 1: a file name this plugin reads (by its extension) */
    /* checks the file at path and fills `extra` (extra_size bytes, zeroed); returns NN_OK,
     * NND_UNREADABLE for a file it cannot read (a folder's file is then skipped and reported,
     * an input named by the user is an error), or a negative status that fails the open; err
     * names the file and says why. Called on several threads at once, for files in any
     * order: it may read ctx, never write it. */
    int (*probe)(void *ctx, const char *path, void *extra, nn_error *err);
    /* optional: then called for each file the probe took, one at a time and in the split's
     * order, with what the probe filled in; it may keep state in ctx (the first file's size)
     * and returns NN_OK, or a negative status that fails the open */
    int (*admit)(void *ctx, const char *path, const void *extra, nn_error *err);
    void *ctx;
    size_t extra_size;
    double max_skipped; /* the key: the largest fraction of a split's files it may skip */
    /* test and prediction: when not NULL, the first training file is probed into this first,
     * so that what training derives from it (an image size) is derived alike */
    void *first;
} nnd_folder_spec;

#define NND_UNREADABLE 1 /* probe(): this file cannot be read; skip it */
#define NND_SHOWN 3      /* skipped files named in a report */

/* The schema entries of the keys the helper reads; `files` names them: "WAV/FLAC files". */
#define NND_FOLDER_PARAMS(files)                                                               \
    {.name = "dir", .type = NN_PARAM_STRING, .required = 1,                                    \
     .doc = "root folder with one sub-directory of " files " per class (sorted names = class " \
            "ids); relative to the model file"},                                               \
    {.name = "test_dir", .type = NN_PARAM_STRING,                                              \
     .doc = "test root for `nntrain eval`, with class folders named as in dir"},               \
    {.name = "max_skipped", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1]",           \
     .doc = "files of a split that cannot be read (other types, corrupt files) are skipped "   \
            "and reported with the first names; more than this fraction of them is an error "  \
            "(0: any unreadable file is)"}

/* The `cache_mb` key of the folder datasets: what nnd_cache keeps. */
#define NND_CACHE_PARAM(what)                                                                   \
    {.name = "cache_mb", .type = NN_PARAM_INT, .def = "1024", .range = "[0, inf)",             \
     .doc = "when a split's samples all fit in this many MiB (files x " what " x 4 bytes), "  \
            "each is kept after its first read, so later epochs skip decoding (the same "     \
            "bytes); 0 keeps none"}

/* Samples kept after their first get(): one lazily mapped arena of n samples (untouched pages
 * cost nothing) and a state per sample, claimed atomically by the get() that decoded it, so
 * get() may run on many threads. Empty (keeps nothing) when n samples exceed the budget. */
typedef struct nnd_cache {
    unsigned char *arena;
    _Atomic unsigned char *state; /* 0 not kept, 1 being written, 2 kept */
    size_t bytes;                 /* of one sample */
} nnd_cache;

/* n samples of `bytes` each, kept when n * bytes <= budget_mb MiB and the memory for them
 * can be had (else none is kept, as with budget 0) */
void nnd_cache_open(nnd_cache *c, int64_t n, size_t bytes, int64_t budget_mb);
void nnd_cache_free(nnd_cache *c);
/* 1 when sample i is kept (copied into out), else 0 */
int nnd_cache_get(const nnd_cache *c, int64_t i, void *out);
/* keeps sample i (the first caller for i does; others return at once) */
void nnd_cache_put(nnd_cache *c, int64_t i, const void *sample);

/* One split: the classes of the root and the files of the split, in order. */
typedef struct nnd_table {
    char **classes; /* sorted sub-directory names of the root */
    int n_classes;
    char **path;    /* n file paths */
    int32_t *label; /* n class ids; -1 for prediction inputs */
    unsigned char *extra; /* n * extra_size bytes filled by the probe */
    size_t extra_size;
    int64_t n;
    int64_t seen, skipped; /* files looked at, and those skipped */
    char skips[700];       /* why, for the first NND_SHOWN skipped */
    char last_why[NN_ERROR_MSG_MAX];
    char notice[1280];     /* nn_dataset_info.notice when files were skipped */
} nnd_table;

/* Sorted names in dir that do not start with '.': its sub-directories (dirs = 1), or the
 * other entries that accept() takes (dirs = 0; accept NULL takes all). *out is freed with
 * nnd_list_free. */
int nnd_list(const char *dir, int dirs, int (*accept)(const char *name), char ***out, int *n,
             nn_error *err);
void nnd_list_free(char **v, int n);

/* Opens split o->split into t: the classes are the sub-directories of dir; the files are those
 * of each class folder of dir (training) or test_dir (test, whose folders must be classes of
 * dir), or prediction's inputs (each a file, or a directory of files, sorted, not recursive;
 * label -1). Every file is probed. A folder's files that the plugin does not read (by name or
 * by its probe) are skipped and told in t->notice, unless they are more than max_skipped of
 * all: then the open fails naming the first ones. Relative keys resolve against
 * o->base_dir. */
int nnd_folder_open(nnd_table *t, const nnd_folder_spec *s, const nn_dataset_open *o,
                    nn_error *err);

static inline void *nnd_table_extra(const nnd_table *t, int64_t i)
{
    return t->extra + (size_t)i * t->extra_size;
}

/* Fills length, n_classes, class_names and (except for prediction) labels of info, after
 * zeroing it; the plugin describes sample and target. */
void nnd_table_info(const nnd_table *t, nn_split split, nn_dataset_info *info);

/* dataset describe(): the file's path */
int nnd_table_describe(const nnd_table *t, int64_t index, char *buf, size_t cap);

void nnd_table_free(nnd_table *t);

#endif
