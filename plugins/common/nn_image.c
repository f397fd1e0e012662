/* nn_image.c: PNG (libpng's simplified API) and JPEG (libjpeg-turbo) decoding to 8-bit gray or
 * RGB for the image datasets (see nn_image.h). libjpeg reports errors by longjmp: it never
 * leaves this file, and no library ever prints (warnings are kept, not shown). */
#define _POSIX_C_SOURCE 200809L
#include "nn_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "nn_datafile.h"

/* Opens path and tells its format by its first bytes; f is left at offset 0. */
static int img_open(const char *path, FILE **f, nn_img_format *fmt, nn_error *err)
{
    int rc = nnd_fopen(path, "image", f, err);
    if (rc)
        return rc;
    unsigned char b[8] = {0};
    size_t n = fread(b, 1, sizeof b, *f);
    rewind(*f);
    if (n == 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) {
        *fmt = NN_IMG_PNG;
        return NN_OK;
    }
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        *fmt = NN_IMG_JPEG;
        return NN_OK;
    }
    fclose(*f);
    if (n == 0)
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable image: the file is empty", path);
    return nn_error_set(err, NN_EFORMAT, "%s: unreadable image: neither PNG nor JPEG (it starts "
                        "with %02x %02x %02x %02x)", path, b[0], b[1], b[2], b[3]);
}

/* ---- PNG ---- */

static int png_read(FILE *f, const char *path, int channels, const nn_img_header *want,
                    nn_img_buffer_fn buf, void *ctx, nn_img_header *hd, nn_error *err)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&im, f)) {
        nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", path, im.message);
        png_image_free(&im);
        return NN_EFORMAT;
    }
    *hd = (nn_img_header){(int)im.width, (int)im.height, NN_IMG_PNG};
    int rc = NN_OK;
    if (want && (want->w != hd->w || want->h != hd->h)) {
        rc = nn_error_set(err, NN_EFORMAT, "%s: changed size since the dataset was opened",
                          path);
    } else if (buf) {
        im.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
        uint8_t *px = buf(ctx, (size_t)hd->w * (size_t)hd->h * (size_t)channels);
        if (!px)
            rc = nn_error_set(err, NN_ENOMEM, "%s: out of memory for its %dx%d pixels", path,
                              hd->h, hd->w);
        else if (!png_image_finish_read(&im, NULL, px, 0, NULL))
            rc = nn_error_set(err, NN_EFORMAT, "%s: unreadable PNG: %s", path, im.message);
    }
    png_image_free(&im);
    return rc;
}

/* ---- JPEG ---- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_err;

static void jpeg_fail(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

/* A progressive JPEG may hold any number of scans, each a pass over the whole image: past
 * this many the file is refused rather than decoded for minutes (libjpeg-turbo's tools use
 * the same kind of limit). */
#define JPEG_MAX_SCANS 1000

static void jpeg_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (c->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

/* warnings (level -1) are counted, never printed; a premature end is remembered */
static void jpeg_note(j_common_ptr c, int level)
{
    jpeg_err *e = (jpeg_err *)c->err;
    if (level < 0) {
        c->err->num_warnings++;
        if (c->err->msg_code == JWRN_JPEG_EOF)
            e->truncated = 1;
    }
}

/* Adobe writes CMYK JPEGs inverted (0 = full ink); libjpeg hands the stored values over */
static void cmyk_row(const JSAMPLE *in, uint8_t *out, int w, int channels, int inverted)
{
    for (int x = 0; x < w; x++, in += 4) {
        int c = inverted ? in[0] : 255 - in[0], m = inverted ? in[1] : 255 - in[1];
        int y = inverted ? in[2] : 255 - in[2], k = inverted ? in[3] : 255 - in[3];
        int r = (c * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        if (channels == 3) {
            *out++ = (uint8_t)r;
            *out++ = (uint8_t)g;
            *out++ = (uint8_t)b;
        } else { /* ITU-R 601 luma, as libjpeg's own RGB to gray */
            *out++ = (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        }
    }
}

static int jpeg_read(FILE *f, const char *path, int channels, const nn_img_header *want,
                     nn_img_buffer_fn buf, void *ctx, nn_img_header *hd, nn_error *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_err e;
    memset(&ci, 0, sizeof ci); /* jpeg_destroy_decompress is safe on it from here on */
    memset(&e, 0, sizeof e);
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail;
    e.pub.emit_message = jpeg_note;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable JPEG: %s", path, e.msg);
    }
    jpeg_create_decompress(&ci);
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    ci.progress = &progress;
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    *hd = (nn_img_header){(int)ci.image_width, (int)ci.image_height, NN_IMG_JPEG};
    int rc = NN_OK;
    if (want && (want->w != hd->w || want->h != hd->h))
        rc = nn_error_set(err, NN_EFORMAT, "%s: changed size since the dataset was opened",
                          path);
    if (rc || !buf) {
        jpeg_destroy_decompress(&ci);
        return rc;
    }
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    uint8_t *px = buf(ctx, (size_t)hd->w * (size_t)hd->h * (size_t)channels);
    if (!px) {
        jpeg_destroy_decompress(&ci);
        return nn_error_set(err, NN_ENOMEM, "%s: out of memory for its %dx%d pixels", path,
                            hd->h, hd->w);
    }
    JSAMPARRAY row = cmyk ? (*ci.mem->alloc_sarray)((j_common_ptr)&ci, JPOOL_IMAGE,
                                                     ci.output_width * 4, 1)
                          : NULL;
    while (ci.output_scanline < ci.output_height) {
        uint8_t *dst = px + (size_t)ci.output_scanline * (size_t)hd->w * (size_t)channels;
        if (cmyk) {
            jpeg_read_scanlines(&ci, row, 1);
            cmyk_row(row[0], dst, hd->w, channels, ci.saw_Adobe_marker);
        } else {
            JSAMPROW r = dst;
            jpeg_read_scanlines(&ci, &r, 1);
        }
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    if (e.truncated)
        return nn_error_set(err, NN_EFORMAT, "%s: unreadable JPEG: the file ends before the "
                            "image does", path);
    return NN_OK;
}

/* ---- either ---- */

int nn_img_decode(const char *path, int channels, const nn_img_header *want,
                  nn_img_buffer_fn buf, void *ctx, nn_img_header *hd, nn_error *err)
{
    FILE *f;
    nn_img_format fmt = NN_IMG_PNG;
    int rc = img_open(path, &f, &fmt, err);
    if (rc)
        return rc;
    rc = fmt == NN_IMG_PNG ? png_read(f, path, channels, want, buf, ctx, hd, err)
                           : jpeg_read(f, path, channels, want, buf, ctx, hd, err);
    fclose(f);
    return rc;
}

int nn_img_header_read(const char *path, nn_img_header *hd, nn_error *err)
{
    return nn_img_decode(path, 3, NULL, NULL, NULL, hd, err);
}
