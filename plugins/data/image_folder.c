/* image_folder.c: the `image_folder` dataset: one sub-directory per class holding PNG and JPEG
 * files, decoded to 8-bit gray or RGB whatever the file holds, then resized to a fixed size
 * with a chosen filter (or checked against it): F32 [C, H, W]. open() lists the folders and
 * decodes every file once, so a bad one (a corrupt IDAT, a JPEG cut short) is skipped and
 * reported there, never met mid-run; get() decodes one file and may run on many threads. It
 * never writes to shared state except its mutex-guarded pool of decode buffers and, when the
 * split fits in cache_mb, the sample it decoded into that sample's own place of the cache
 * (nnd_cache), which later get()s of it copy instead of decoding.
 * Prediction (NN_SPLIT_PREDICT): each input is an image file or a directory of them (sorted,
 * not recursive), resized or checked like training images; classes are the sub-directories of
 * dir; a sample is named by its file's path. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nntrain/dataset.h>

#include "nn_classdir.h"
#include "nn_image.h"
#include "nn_resize.h"

#define IF_POOL 32

enum { IF_CHECK = 4 }; /* resize = check; 0..3 are the nn_rs_filter values */

typedef struct if_ds {
    const char *dir, *test_dir;
    int channels, resize, antialias;
    int64_t want_h, want_w;
    double scale, max_skipped;
    int64_t max_pixels, cache_mb;
    nnd_table t; /* extra: each file's nn_img_header */
    nnd_cache cache;
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
    d->resize = nn_params_enum(p, "resize");
    d->antialias = nn_params_bool(p, "antialias");
    d->want_h = nn_params_int(p, "height");
    d->want_w = nn_params_int(p, "width");
    d->scale = nn_params_float(p, "scale");
    d->max_skipped = nn_params_float(p, "max_skipped");
    d->max_pixels = nn_params_int(p, "max_pixels");
    d->cache_mb = nn_params_int(p, "cache_mb");
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
    nnd_cache_free(&d->cache);
    for (int i = 0; i < IF_POOL; i++)
        free(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int if_accept(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".jpe", ".jfif"};
    size_t l = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (l > e && !strcasecmp(name + l - e, ext[i]))
            return 1;
    }
    return 0;
}

/* A decode buffer: a slot of the pool (grown to `bytes` when smaller), or a fresh one when all
 * slots are busy (slot -1). The nn_img_buffer_fn of get(). */
typedef struct if_buf {
    if_ds *d;
    int slot;
    uint8_t *px;
} if_buf;

static uint8_t *if_buf_get(void *ctx, size_t bytes)
{
    if_buf *b = ctx;
    if_ds *d = b->d;
    int i = 0;
    pthread_mutex_lock(&d->mu);
    while (i < IF_POOL && d->pool_busy[i])
        i++;
    if (i < IF_POOL)
        d->pool_busy[i] = 1;
    pthread_mutex_unlock(&d->mu);
    b->slot = i < IF_POOL ? i : -1;
    if (i == IF_POOL)
        return b->px = malloc(bytes);
    if (d->pool_cap[i] < bytes) {
        uint8_t *n = realloc(d->pool[i], bytes);
        if (!n)
            return NULL; /* the slot stays taken until if_buf_put */
        d->pool[i] = n;
        d->pool_cap[i] = bytes;
    }
    return b->px = d->pool[i];
}

static void if_buf_put(if_buf *b)
{
    if (b->slot < 0) {
        free(b->px);
        return;
    }
    pthread_mutex_lock(&b->d->mu);
    b->d->pool_busy[b->slot] = 0;
    pthread_mutex_unlock(&b->d->mu);
}

/* Decodes the whole file once (and drops the pixels): a file whose header reads but whose
 * data does not (a bad IDAT CRC, a JPEG cut short) is found at open() and skipped, so that
 * get() never meets it in the middle of a run, and a resume sees the same table. */
static int if_decode_check(if_ds *d, const char *path, const nn_img_header *f, nn_error *err)
{
    if_buf b = {.d = d, .slot = -1};
    nn_img_header hd;
    int rc = nn_img_decode(path, d->channels, f, if_buf_get, &b, &hd, err);
    if (b.px || b.slot >= 0)
        if_buf_put(&b);
    return rc;
}

/* nnd_folder_spec.probe: the header, within max_pixels, and data that decodes */
static int if_probe(void *ctx, const char *path, void *extra, nn_error *err)
{
    if_ds *d = ctx;
    nn_img_header *f = extra;
    if (nn_img_header_read(path, f, err))
        return NND_UNREADABLE;
    if ((double)f->w * (double)f->h > (double)d->max_pixels) {
        nn_error_set(err, NN_EFORMAT, "%s: %dx%d (HxW) is more than max_pixels = %lld pixels",
                     path, f->h, f->w, (long long)d->max_pixels);
        return NND_UNREADABLE;
    }
    if (if_decode_check(d, path, f, err))
        return NND_UNREADABLE;
    return NN_OK;
}

/* nnd_folder_spec.admit, in the split's order: the sample size (the first image's without
 * height and width) and, for resize = check, the size rule */
static int if_admit(void *ctx, const char *path, const void *extra, nn_error *err)
{
    if_ds *d = ctx;
    const nn_img_header *f = extra;
    if (d->want_h == 0) {
        d->want_h = f->h;
        d->want_w = f->w;
    }
    if (d->resize == IF_CHECK && (f->h != d->want_h || f->w != d->want_w))
        return nn_error_set(err, NN_ESHAPE, "%s: image is %dx%d (HxW), expected %lldx%lld "
                            "(resize = check)", path, f->h, f->w, (long long)d->want_h,
                            (long long)d->want_w);
    if (d->resize != IF_CHECK &&
        (nn_rs_taps_needed((nn_rs_filter)d->resize, d->antialias, f->h, d->want_h) >
             NN_RS_MAX_TAPS ||
         nn_rs_taps_needed((nn_rs_filter)d->resize, d->antialias, f->w, d->want_w) >
             NN_RS_MAX_TAPS))
        return nn_error_set(err, NN_EINVAL, "%s: %dx%d (HxW) is too large to shrink to %lldx%lld "
                            "with this filter (over %d source pixels per output pixel)", path,
                            f->h, f->w, (long long)d->want_h, (long long)d->want_w,
                            NN_RS_MAX_TAPS);
    return NN_OK;
}

static int if_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    if_ds *d = self;
    /* without height/width, samples of every split take the first training image's size */
    nn_img_header first;
    nnd_folder_spec spec = {.plugin = "image_folder", .exts = ".png or .jpg", .dir = d->dir,
                            .test_dir = d->test_dir, .accept = if_accept, .probe = if_probe,
                            .admit = if_admit, .ctx = d, .extra_size = sizeof(nn_img_header),
                            .max_skipped = d->max_skipped, .first = d->want_h ? NULL : &first};
    int rc = nnd_folder_open(&d->t, &spec, o, err);
    if (rc)
        return rc;
    nnd_table_info(&d->t, o->split, info);
    nn_tensor_describe(&info->sample, NN_F32, 3,
                       (const int64_t[]){d->channels, d->want_h, d->want_w});
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    nnd_cache_open(&d->cache, d->t.n, nn_tensor_nbytes(&info->sample), d->cache_mb);
    return NN_OK;
}

static int if_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target, nn_error *err)
{
    if_ds *d = self;
    if (index < 0 || index >= d->t.n)
        return nn_error_set(err, NN_EINVAL, "image_folder: sample %lld out of range [0, %lld)",
                            (long long)index, (long long)d->t.n);
    NN_I32P(target)[0] = d->t.label[index];
    if (nnd_cache_get(&d->cache, index, NN_F32P(sample)))
        return NN_OK;
    const nn_img_header *f = nnd_table_extra(&d->t, index);
    const char *path = d->t.path[index];
    int C = d->channels;
    if_buf b = {.d = d, .slot = -1};
    nn_img_header hd;
    int rc = nn_img_decode(path, C, f, if_buf_get, &b, &hd, err);
    if (!rc) {
        int64_t H = d->want_h, W = d->want_w, sw = hd.w, sh = hd.h;
        float *out = NN_F32P(sample), s = (float)d->scale;
        if (sw == W && sh == H) {
            for (int c = 0; c < C; c++)
                for (int64_t p = 0; p < H * W; p++)
                    out[c * H * W + p] = (float)b.px[p * C + c] * s;
        } else {
            nn_rs_src src = {.base = b.px, .u8 = 1, .cs = 1, .ys = sw * C, .xs = C, .c = C};
            if (nn_resize(&src, 0, 0, sh, sw, out, H, W, (nn_rs_filter)d->resize, d->antialias,
                          s))
                rc = nn_error_set(err, NN_EINVAL, "%s: too large to resize", path);
        }
    }
    if (b.px || b.slot >= 0)
        if_buf_put(&b);
    if (rc)
        return rc;
    nnd_cache_put(&d->cache, index, NN_F32P(sample));
    return NN_OK;
}

static int if_describe(void *self, int64_t index, char *buf, size_t cap)
{
    return nnd_table_describe(&((const if_ds *)self)->t, index, buf, cap);
}

static const nn_param_spec if_params[] = {
    NND_FOLDER_PARAMS("image files (PNG or JPEG: .png, .jpg, .jpeg)"),
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "rgb", .choices = "gray|rgb",
     .doc = "channels of a sample: gray [1, H, W] or rgb [3, H, W]; gray and colour files of "
            "either format convert (palette, alpha and 16-bit PNGs and CMYK JPEGs too; gray "
            "from colour is libpng's or libjpeg's luma)"},
    {.name = "height", .type = NN_PARAM_INT, .def = "0", .range = "[0, 65535]",
     .doc = "sample height; 0 = the first image's height"},
    {.name = "width", .type = NN_PARAM_INT, .def = "0", .range = "[0, 65535]",
     .doc = "sample width; 0 = the first image's width"},
    {.name = "resize", .type = NN_PARAM_ENUM, .def = "bilinear", .choices = NN_RS_CHOICES "|check",
     .doc = "how an image of another size becomes height x width: nearest (the pixel under "
            "each output pixel's centre), bilinear (half-pixel centres, as OpenCV and PyTorch), "
            "bicubic (Keys a = -0.75, as PyTorch), area (each output pixel averages the source "
            "area it covers: best for shrinking); check rejects other sizes instead"},
    {.name = "antialias", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "bilinear and bicubic: when shrinking, widen the filter by the shrink factor as "
            "Pillow does (bicubic then uses a = -0.5)"},
    {.name = "scale", .type = NN_PARAM_FLOAT, .def = "0.00392156862745098", .range = "(0, inf)",
     .doc = "each 8-bit value is multiplied by this (default 1/255)"},
    {.name = "max_pixels", .type = NN_PARAM_INT, .def = "89478485", .range = "[1, inf)",
     .doc = "an image whose header claims more pixels (width x height) is not decoded but "
            "skipped as unreadable, like a corrupt one (a decompression bomb guard; the default "
            "is Pillow's)"},
    NND_CACHE_PARAM("C x H x W"),
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
    .kind = NN_KIND_DATASET, .name = "image_folder", .version = "1.2.0", .license = "MIT",
    .summary = "PNG and JPEG files in one folder per class: F32 [C, H, W] (gray or RGB, resized "
               "with a chosen filter), I32 class ids; predict --input takes image files or "
               "directories of them",
    .caps = NN_CAP_THREAD_SAFE, .params = if_params, .vtable = &if_vt);

NN_PLUGIN_EXPORT(&if_desc);
