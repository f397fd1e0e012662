/* image_fixtures.h: tiny image files written on the fly for the image_folder tests: PNGs with
 * libpng's simplified API and JPEGs with libjpeg (gray, RGB or CMYK). Test-only. */
#ifndef NN_TEST_DATA_IMAGE_FIXTURES_H
#define NN_TEST_DATA_IMAGE_FIXTURES_H

#include <stdio.h>

#include <jpeglib.h>
#include <png.h>

#include "fixtures.h"

/* channels 1 (gray) or 3 (RGB), rows top to bottom, interleaved */
static inline void ifx_png(const char *rel, int w, int h, int channels, const uint8_t *px)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    cr_assert(png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL), "%s", im.message);
}

/* channels 1 (gray), 3 (RGB) or 4 (CMYK, stored as Adobe writes it: 255 = no ink) */
static inline void ifx_jpeg(const char *rel, int w, int h, int channels, const uint8_t *px,
                            int quality)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(fx_path(rel), "wb");
    cr_assert_not_null(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    for (int i = 0; i < c.num_components; i++) /* 4:4:4: colour keeps its full resolution */
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* Decodes a JPEG the test wrote with libjpeg itself, to out_space (the reference a dataset's
 * decoding must equal); returns the number of bytes written to px. */
static inline size_t ifx_jpeg_decode(const char *rel, J_COLOR_SPACE out_space, uint8_t *px,
                                     size_t cap)
{
    struct jpeg_decompress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_decompress(&c);
    FILE *f = fopen(fx_path(rel), "rb");
    cr_assert_not_null(f);
    jpeg_stdio_src(&c, f);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = out_space;
    jpeg_start_decompress(&c);
    size_t stride = (size_t)c.output_width * (size_t)c.output_components;
    cr_assert_leq(stride * c.output_height, cap);
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = px + c.output_scanline * stride;
        jpeg_read_scanlines(&c, &row, 1);
    }
    size_t n = stride * c.output_height;
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    fclose(f);
    return n;
}

#endif
