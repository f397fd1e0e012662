/* nn_image.h: decoding the PNG and JPEG files of image datasets to 8-bit gray or RGB pixels,
 * whatever the file holds (palette, alpha, 16-bit, gray, RGB, CMYK). The format is told by
 * the file's first bytes, not by its name. Part of libnn_datautil.a; files are opened with
 * nn_file_open; it never prints, and holds no state between calls. */
#ifndef NN_IMAGE_H
#define NN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <nntrain/status.h>

typedef enum nn_img_format { NN_IMG_PNG = 1, NN_IMG_JPEG } nn_img_format;

typedef struct nn_img_header {
    int w, h;
    nn_img_format format;
} nn_img_header;

/* Reads the header of the image at path. returns NN_OK, or a negative status with err naming
 * the file and why ("x.jpg: unreadable JPEG: Not a JPEG file: starts with 0x89 0x50"). */
int nn_img_header_read(const char *path, nn_img_header *hd, nn_error *err);

/* Where nn_img_decode puts the pixels, asked once the size is known: `bytes` bytes, or NULL
 * when there is no memory for them. */
typedef uint8_t *(*nn_img_buffer_fn)(void *ctx, size_t bytes);

/* Decodes the image at path to `channels` (1: gray, 3: RGB) interleaved bytes per pixel,
 * rows top to bottom, into the buffer buf(ctx, w * h * channels) gives; its size in *hd.
 * want: the header the file must still have (NULL: any). A JPEG cut short is an error, not a
 * grey-filled image. returns NN_OK or a negative status with err naming the file. */
int nn_img_decode(const char *path, int channels, const nn_img_header *want,
                  nn_img_buffer_fn buf, void *ctx, nn_img_header *hd, nn_error *err);

#endif
