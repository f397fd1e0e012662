/* fuzz_image_seeds.c: writes the seed corpus of fuzz_image into the directory given: an RGB
 * PNG, a gray baseline JPEG and a progressive RGB JPEG, made by libpng and libjpeg themselves.
 * Fuzzing only (tests/fuzz/run.sh builds and runs it). */
#include <stdio.h>

#include <jpeglib.h>
#include <png.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    unsigned char px[4 * 3 * 3];
    for (int i = 0; i < 36; i++)
        px[i] = (unsigned char)(i * 7);
    png_image im = {.version = PNG_IMAGE_VERSION, .width = 4, .height = 3,
                    .format = PNG_FORMAT_RGB};
    char p[4096];
    snprintf(p, sizeof p, "%s/rgb.png", argv[1]);
    if (!png_image_write_to_file(&im, p, 0, px, 0, NULL))
        return 1;
    for (int comps = 1; comps <= 3; comps += 2) {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr e;
        c.err = jpeg_std_error(&e);
        jpeg_create_compress(&c);
        snprintf(p, sizeof p, "%s/%d.jpg", argv[1], comps);
        FILE *f = fopen(p, "wb");
        if (!f)
            return 1;
        jpeg_stdio_dest(&c, f);
        c.image_width = 4;
        c.image_height = 3;
        c.input_components = comps;
        c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
        jpeg_set_defaults(&c);
        if (comps == 3)
            jpeg_simple_progression(&c);
        jpeg_start_compress(&c, TRUE);
        while (c.next_scanline < 3) {
            JSAMPROW row = px + c.next_scanline * 4 * (unsigned)comps;
            jpeg_write_scanlines(&c, &row, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        fclose(f);
    }
    return 0;
}
