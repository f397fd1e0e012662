/* image_folder.c: the `image_folder` dataset: one sub-directory per class holding PNG files,
 * decoded with libpng to F32 [C, H, W] (gray or RGB), resized bilinearly or checked against a
 * declared size. open() lists the folders and reads every PNG header, so a bad file fails
 * early; get() decodes one file and may run on many threads. It never writes to shared state
 * except its mutex-guarded pool of decode buffers.
 * Prediction (NN_SPLIT_PREDICT): each input is a PNG file or a directory of PNG files (sorted,
 * not recursive), resized or checked like training images; classes are the sub-directories of
 * dir; a sample is named by its file's path. */
#define _POSIX_C_SOURCE 200809L
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nntrain/dataset.h>

#include "nn_classdir.h"
#include "nn_datafile.h"

#define IF_POOL 32

/* what open() learns of each file */
typedef struct if_file {
    int w, h;
} if_file;

typedef struct if_ds {
    const char *dir, *test_dir;
    int channels, check;
    int64_t want_h, want_w;
    double scale, max_skipped;
    int64_t max_pixels;
    nnd_table t;
    /* decode buffers, each grown to the largest image it held; a busy slot belongs to the
     * thread that took it */
    pthread_mutex_t mu;
    uint8_t *pool[IF_POOL];
    size_t pool_cap[IF_POOL];
    int pool_busy[IF_POOL];
} if_ds;

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
    d->max_skipped = nn_params_float(p, "max_skipped");
    d->max_pixels = nn_params_int(p, "max_pixels");
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
    nnd_table_free(&d->t);
    for (int i = 0; i < IF_POOL; i++)
        free(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int if_accept(const char *name)
{
    size_t l = strlen(name);
    return l >= 5 && !strcasecmp(name + l - 4, ".png");
}

/* Opens the PNG at path (through nn_file_open: a FIFO or device is refused) and reads its
 * header into im. On success the caller calls png_image_free(im), then fclose(*fp). */
static int if_png_begin(const char *path, png_image *im, FILE **fp, nn_error *err)
{
    memset(im, 0, sizeof *im);
    im->version = PNG_IMAGE_VERSION;
    int rc = nnd_fopen(path, "image", fp, err);
    if (rc)
        return rc;
    if (!png_image_begin_read_from_stdio(im, *fp)) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", path, im->message);
        png_image_free(im);
        fclose(*fp);
        return NN_EFORMAT;
    }
    return NN_OK;
}

/* Reads one PNG header; fills w/h or names the file and the reason. */
static int if_header(const char *path, int *w, int *h, nn_error *err)
{
    png_image im;
    FILE *fp;
    int rc = if_png_begin(path, &im, &fp, err);
    if (rc)
        return rc;
    *w = (int)im.width;
    *h = (int)im.height;
    png_image_free(&im);
    fclose(fp);
    return NN_OK;
}

/* nnd_folder_spec.probe: the header, within max_pixels; the sample size (the first image's
 * without height and width) and, for resize = check, the size rule */
static int if_probe(void *ctx, const char *path, void *extra, nn_error *err)
{
    if_ds *d = ctx;
    if_file *f = extra;
    if (if_header(path, &f->w, &f->h, err))
        return NND_UNREADABLE;
    if ((double)f->w * (double)f->h > (double)d->max_pixels) {
        nn_error_set(err, NN_EFORMAT, "%s: %dx%d (HxW) is more than max_pixels = %lld pixels",
                     path, f->h, f->w, (long long)d->max_pixels);
        return NND_UNREADABLE;
    }
    if (d->want_h == 0) {
        d->want_h = f->h;
        d->want_w = f->w;
    }
    if (d->check && (f->h != d->want_h || f->w != d->want_w))
        return nn_error_set(err, NN_ESHAPE, "%s: image is %dx%d (HxW), expected %lldx%lld "
                            "(resize = check)", path, f->h, f->w, (long long)d->want_h,
                            (long long)d->want_w);
    return NN_OK;
}

static int if_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    if_ds *d = self;
    if_file first; /* without height/width, samples take the first training image's size */
    nnd_folder_spec spec = {.plugin = "image_folder", .exts = ".png", .dir = d->dir,
                            .test_dir = d->test_dir, .accept = if_accept, .probe = if_probe,
                            .ctx = d, .extra_size = sizeof(if_file),
                            .max_skipped = d->max_skipped, .first = d->want_h ? NULL : &first};
    int rc = nnd_folder_open(&d->t, &spec, o, err);
    if (rc)
        return rc;
    nnd_table_info(&d->t, o->split, info);
    nn_tensor_describe(&info->sample, NN_F32, 3,
                       (const int64_t[]){d->channels, d->want_h, d->want_w});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    return NN_OK;
}

/* A decode buffer of `bytes` from the pool (a slot grows to the largest image it holds), or a
 * fresh one when all slots are busy; *slot is -1 for the fresh one. NULL: out of memory. */
static uint8_t *if_buf_get(if_ds *d, size_t bytes, int *slot)
{
    int i = 0;
    pthread_mutex_lock(&d->mu);
    while (i < IF_POOL && d->pool_busy[i])
        i++;
    if (i < IF_POOL)
        d->pool_busy[i] = 1;
    pthread_mutex_unlock(&d->mu);
    *slot = i < IF_POOL ? i : -1;
    if (i == IF_POOL)
        return malloc(bytes);
    if (d->pool_cap[i] < bytes) {
        uint8_t *b = realloc(d->pool[i], bytes);
        if (!b) {
            pthread_mutex_lock(&d->mu);
            d->pool_busy[i] = 0;
            pthread_mutex_unlock(&d->mu);
            return NULL;
        }
        d->pool[i] = b;
        d->pool_cap[i] = bytes;
    }
    return d->pool[i];
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
    if (index < 0 || index >= d->t.n)
        return nn_error_set(err, NN_EINVAL, "image_folder: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->t.n);
    const if_file *f = nnd_table_extra(&d->t, index);
    const char *path = d->t.path[index];
    png_image im;
    FILE *fp;
    int rc = if_png_begin(path, &im, &fp, err);
    if (rc)
        return rc;
    int C = d->channels;
    if ((int)im.width != f->w || (int)im.height != f->h) {
        png_image_free(&im);
        fclose(fp);
        return nn_error_set(err, NN_EFORMAT, "%s: changed size since the dataset was opened",
                            path);
    }
    im.format = C == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    int slot;
    size_t bytes = (size_t)f->w * (size_t)f->h * (size_t)C;
    uint8_t *px = if_buf_get(d, bytes, &slot);
    if (!px) {
        png_image_free(&im);
        fclose(fp);
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory for its %dx%d pixels", path, f->h,
                            f->w);
    }
    int ok = png_image_finish_read(&im, NULL, px, 0, NULL);
    if (!ok)
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", path, im.message);
    png_image_free(&im);
    fclose(fp);
    if (!ok) {
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
    NN_I32P(target)[0] = d->t.label[index];
    return NN_OK;
}

static int if_describe(void *self, int64_t index, char *buf, size_t cap)
{
    return nnd_table_describe(&((const if_ds *)self)->t, index, buf, cap);
}

static const nn_param_spec if_params[] = {
    NND_FOLDER_PARAMS(".png files"),
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
    {.name = "max_pixels", .type = NN_PARAM_INT, .def = "89478485", .range = "[1, inf)",
     .doc = "an image whose header claims more pixels (width x height) is not decoded but "
            "skipped as unreadable, like a corrupt one (a decompression bomb guard; the default "
            "is Pillow's)"},
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
