/* image_folder.c: the `image_folder` dataset: one sub-directory per class holding PNG files,
 * decoded with libpng to F32 [C, H, W] (gray or RGB), resized bilinearly or checked against a
 * declared size. open() lists the folders and reads every PNG header, so a bad file fails
 * early; get() decodes one file and may run on many threads. It never writes to shared state
 * except its mutex-guarded pool of decode buffers.
 * Prediction (NN_SPLIT_PREDICT): each input is a PNG file or a directory of PNG files (sorted,
 * not recursive), resized or checked like training images; classes are the sub-directories of
 * dir; a sample is named by its file's path. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nntrain/dataset.h>

#define IF_POOL 32

typedef struct if_file {
    char *path;
    int32_t label;
    int w, h;
} if_file;

typedef struct if_ds {
    const char *dir, *test_dir;
    int channels, check;
    int64_t want_h, want_w;
    double scale;
    if_file *files;
    int32_t *labels;
    int64_t n, cap;
    char **names;
    int n_names;
    size_t max_bytes; /* largest decoded image */
    pthread_mutex_t mu;
    uint8_t *pool[IF_POOL];
    int pool_busy[IF_POOL];
} if_ds;

static int if_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir: sub-directories (dirs = 1) or files ending in .png (dirs = 0). */
static int if_list(const char *dir, int dirs, char ***out, int *n, nn_error *err)
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
        size_t l = strlen(e->d_name);
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        DIR *sub = opendir(p);
        int is_dir = sub != NULL;
        if (sub)
            closedir(sub);
        if (dirs ? !is_dir : (is_dir || l < 5 || strcasecmp(e->d_name + l - 4, ".png")))
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
        qsort(v, (size_t)cnt, sizeof *v, if_cmp);
    *out = v;
    *n = cnt;
    return NN_OK;
}

static void if_free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int if_create(const nn_params *p, void **self, nn_error *err)
{
    if_ds *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    d->dir = nn_params_str(p, "dir");
    d->test_dir = nn_params_str(p, "test_dir");
    d->channels = nn_params_enum(p, "mode") == 0 ? 1 : 3;
    d->check = nn_params_enum(p, "resize") == 1;
    d->want_h = nn_params_int(p, "height");
    d->want_w = nn_params_int(p, "width");
    d->scale = nn_params_float(p, "scale");
    if ((d->want_h == 0) != (d->want_w == 0)) {
        free(d);
        return nn_error_set(err, NN_EINVAL, "keys 'height' and 'width': give both or neither");
    }
    pthread_mutex_init(&d->mu, NULL);
    *self = d;
    return NN_OK;
}

static void if_destroy(void *self)
{
    if_ds *d = self;
    for (int64_t i = 0; i < d->n; i++)
        free(d->files[i].path);
    free(d->files);
    free(d->labels);
    if_free_list(d->names, d->n_names);
    for (int i = 0; i < IF_POOL; i++)
        free(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Reads one PNG header; fills w/h or names the file and libpng's reason. */
static int if_probe(const char *path, int *w, int *h, nn_error *err)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", path, im.message);
        png_image_free(&im);
        return NN_EFORMAT;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    png_image_free(&im);
    return NN_OK;
}

static void if_resolve(char *buf, size_t cap, const char *base, const char *f)
{
    if (f[0] == '/' || !base)
        snprintf(buf, cap, "%s", f);
    else
        snprintf(buf, cap, "%s/%s", base, f);
}

/* Appends file dir/name (dir NULL: name is the path) with its label, reading its header. */
static int if_add(if_ds *d, const char *dir, const char *name, int32_t label, nn_error *err)
{
    if (d->n == d->cap) {
        if_file *nf = realloc(d->files, (size_t)(d->cap = d->cap ? d->cap * 2 : 256) * sizeof *nf);
        if (!nf)
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        d->files = nf;
    }
    if_file *f = &d->files[d->n];
    size_t pl = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    if (!(f->path = malloc(pl)))
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    snprintf(f->path, pl, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    f->label = label;
    d->n++;
    int rc = if_probe(f->path, &f->w, &f->h, err);
    if (rc)
        return rc;
    if (d->want_h == 0) {
        d->want_h = f->h;
        d->want_w = f->w;
    }
    if (d->check && (f->h != d->want_h || f->w != d->want_w))
        return nn_error_set(err, NN_ESHAPE, "%s: image is %dx%d (HxW), expected %lldx%lld "
                            "(resize = check)", f->path, f->h, f->w, (long long)d->want_h,
                            (long long)d->want_w);
    size_t bytes = (size_t)f->w * (size_t)f->h * (size_t)d->channels;
    if (bytes > d->max_bytes)
        d->max_bytes = bytes;
    return NN_OK;
}

/* Without height/width, training samples take the size of the first training image (first
 * file of the first class folder): prediction must use the same. */
static int if_training_size(if_ds *d, const char *root, nn_error *err)
{
    char cdir[4400];
    for (int c = 0; c < d->n_names && d->want_h == 0; c++) {
        snprintf(cdir, sizeof cdir, "%s/%s", root, d->names[c]);
        char **files;
        int nfiles, w, h;
        int rc = if_list(cdir, 0, &files, &nfiles, err);
        if (rc)
            return rc;
        if (nfiles == 0) {
            if_free_list(files, nfiles);
            return nn_error_set(err, NN_EFORMAT, "%s: class folder has no .png files", cdir);
        }
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", cdir, files[0]);
        if_free_list(files, nfiles);
        if ((rc = if_probe(path, &w, &h, err)))
            return rc;
        d->want_h = h;
        d->want_w = w;
    }
    return NN_OK;
}

/* The user's PNG files and directories of PNG files, label -1. */
static int if_open_inputs(if_ds *d, const nn_dataset_open *o, nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < o->n_inputs && !rc; i++) {
        const char *in = o->inputs[i];
        DIR *dp = opendir(in);
        if (!dp) {
            rc = if_add(d, NULL, in, -1, err);
            continue;
        }
        closedir(dp);
        char **files;
        int nfiles;
        if ((rc = if_list(in, 0, &files, &nfiles, err)))
            break;
        if (nfiles == 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: directory has no .png files", in);
        size_t l = strlen(in);
        char *dir = strdup(in);
        if (!dir && !rc)
            rc = nn_error_set(err, NN_ENOMEM, "out of memory");
        while (dir && l > 1 && dir[l - 1] == '/')
            dir[--l] = 0;
        for (int k = 0; k < nfiles && !rc; k++)
            rc = if_add(d, dir, files[k], -1, err);
        free(dir);
        if_free_list(files, nfiles);
    }
    return rc;
}

static int if_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    if_ds *d = self;
    if (o->split == NN_SPLIT_VAL)
        return nn_error_set(err, NN_ENOTSUP, "image_folder has no explicit validation split; "
                            "use [data] val_split or val_type = image_folder with val_dir");
    if (o->split == NN_SPLIT_TEST && !d->test_dir)
        return nn_error_set(err, NN_ENOTFOUND, "image_folder: no test folder: set 'test_dir'");
    char root[4096], troot[4096];
    if_resolve(root, sizeof root, o->base_dir, d->dir);
    int rc = if_list(root, 1, &d->names, &d->n_names, err);
    if (rc)
        return rc;
    if (d->n_names == 0)
        return nn_error_set(err, NN_EFORMAT, "%s: no class sub-directories", root);
    char **cls = d->names;
    int ncls = d->n_names;
    if (o->split == NN_SPLIT_PREDICT) {
        if (o->struct_size < sizeof *o || o->n_inputs < 1 || !o->inputs)
            return nn_error_set(err, NN_EINVAL, "image_folder: predict needs at least one PNG "
                                "file or directory");
        if ((rc = if_training_size(d, root, err)) || (rc = if_open_inputs(d, o, err)))
            return rc;
        ncls = 0; /* no class folders to walk */
    } else if (o->split == NN_SPLIT_TEST) {
        if_resolve(troot, sizeof troot, o->base_dir, d->test_dir);
        if ((rc = if_list(troot, 1, &cls, &ncls, err)))
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
        if ((rc = if_list(cdir, 0, &files, &nfiles, err)))
            break;
        if (nfiles == 0)
            rc = nn_error_set(err, NN_EFORMAT, "%s: class folder has no .png files", cdir);
        for (int i = 0; i < nfiles && !rc; i++)
            rc = if_add(d, cdir, files[i], id, err);
        if_free_list(files, nfiles);
    }
    if (cls != d->names)
        if_free_list(cls, ncls);
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
    nn_tensor_describe(&info->sample, NN_F32, 3,
                       (const int64_t[]){d->channels, d->want_h, d->want_w});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = d->n_names;
    info->class_names = (const char *const *)d->names;
    info->labels = o->split == NN_SPLIT_PREDICT ? NULL : d->labels;
    return NN_OK;
}

/* A decode buffer of max_bytes from the pool (allocated once per slot), or a fresh one when all
 * slots are busy; *slot is -1 for the fresh one. */
static uint8_t *if_buf_get(if_ds *d, int *slot)
{
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < IF_POOL; i++)
        if (!d->pool_busy[i]) {
            if (!d->pool[i])
                d->pool[i] = malloc(d->max_bytes);
            if (d->pool[i]) {
                d->pool_busy[i] = 1;
                pthread_mutex_unlock(&d->mu);
                *slot = i;
                return d->pool[i];
            }
        }
    pthread_mutex_unlock(&d->mu);
    *slot = -1;
    return malloc(d->max_bytes);
}

static void if_buf_put(if_ds *d, uint8_t *b, int slot)
{
    if (slot < 0) {
        free(b);
        return;
    }
    pthread_mutex_lock(&d->mu);
    d->pool_busy[slot] = 0;
    pthread_mutex_unlock(&d->mu);
}

static int if_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    if_ds *d = self;
    if (index < 0 || index >= d->n)
        return nn_error_set(err, NN_EINVAL, "image_folder: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->n);
    const if_file *f = &d->files[index];
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, f->path)) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", f->path, im.message);
        png_image_free(&im);
        return NN_EFORMAT;
    }
    int C = d->channels;
    if ((int)im.width != f->w || (int)im.height != f->h) {
        png_image_free(&im);
        return nn_error_set(err, NN_EFORMAT, "%s: changed size since the dataset was opened",
                            f->path);
    }
    im.format = C == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    int slot;
    uint8_t *px = if_buf_get(d, &slot);
    if (!px) {
        png_image_free(&im);
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory", f->path);
    }
    if (!png_image_finish_read(&im, NULL, px, 0, NULL)) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", f->path, im.message);
        png_image_free(&im);
        if_buf_put(d, px, slot);
        return NN_EFORMAT;
    }
    int sw = f->w, sh = f->h;
    int64_t H = d->want_h, W = d->want_w;
    float *out = NN_F32P(sample), s = (float)d->scale;
    if (sw == W && sh == H) {
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < H * W; p++)
                out[c * H * W + p] = (float)px[p * C + c] * s;
    } else {
        /* bilinear with half-pixel centres (as OpenCV's INTER_LINEAR, align_corners = false) */
        float fy = (float)sh / (float)H, fx = (float)sw / (float)W;
        for (int64_t y = 0; y < H; y++) {
            float sy = ((float)y + 0.5f) * fy - 0.5f;
            if (sy < 0)
                sy = 0;
            int y0 = (int)sy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
            float wy = sy - (float)y0;
            for (int64_t x = 0; x < W; x++) {
                float sx = ((float)x + 0.5f) * fx - 0.5f;
                if (sx < 0)
                    sx = 0;
                int x0 = (int)sx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
                float wx = sx - (float)x0;
                for (int c = 0; c < C; c++) {
                    float a = px[((size_t)y0 * sw + x0) * C + c];
                    float b = px[((size_t)y0 * sw + x1) * C + c];
                    float cc = px[((size_t)y1 * sw + x0) * C + c];
                    float dd = px[((size_t)y1 * sw + x1) * C + c];
                    float v = (a * (1 - wx) + b * wx) * (1 - wy) + (cc * (1 - wx) + dd * wx) * wy;
                    out[(c * H + y) * W + x] = v * s;
                }
            }
        }
    }
    if_buf_put(d, px, slot);
    NN_I32P(target)[0] = f->label;
    return NN_OK;
}

static int if_describe(void *self, int64_t index, char *buf, size_t cap)
{
    const if_ds *d = self;
    if (index < 0 || index >= d->n)
        return NN_EINVAL;
    snprintf(buf, cap, "%s", d->files[index].path);
    return NN_OK;
}

static const nn_param_spec if_params[] = {
    {.name = "dir", .type = NN_PARAM_STRING, .required = 1,
     .doc = "root folder with one sub-directory of .png files per class (sorted names = ids)"},
    {.name = "test_dir", .type = NN_PARAM_STRING,
     .doc = "test root for `nntrain eval`, with class folders named as in dir"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "rgb", .choices = "gray|rgb",
     .doc = "gray: [1, H, W]; rgb: [3, H, W] (libpng converts palette, alpha and 16-bit)"},
    {.name = "height", .type = NN_PARAM_INT, .def = "0", .range = "[0, 65535]",
     .doc = "sample height; 0 = the first image's height"},
    {.name = "width", .type = NN_PARAM_INT, .def = "0", .range = "[0, 65535]",
     .doc = "sample width; 0 = the first image's width"},
    {.name = "resize", .type = NN_PARAM_ENUM, .def = "bilinear", .choices = "bilinear|check",
     .doc = "bilinear: resize every image to height x width; check: reject other sizes"},
    {.name = "scale", .type = NN_PARAM_FLOAT, .def = "0.00392156862745098", .range = "(0, inf)",
     .doc = "each 8-bit value is multiplied by this (default 1/255)"},
    {0}};

static const nn_dataset_vtable if_vt = {
    .struct_size = sizeof(nn_dataset_vtable),
    .create = if_create,
    .destroy = if_destroy,
    .open = if_open,
    .get = if_get,
    .describe = if_describe, /* optional: names predicted samples */
};

static const nn_plugin_desc if_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_DATASET, .name = "image_folder", .version = "1.0.0", .license = "MIT",
    .summary = "PNG files in one folder per class: F32 [C, H, W], I32 class ids; predict "
               "--input takes PNG files or directories of PNG files",
    .caps = NN_CAP_THREAD_SAFE, .params = if_params, .vtable = &if_vt);

NN_PLUGIN_EXPORT(&if_desc);
