/* test_color_jitter.c: color_jitter scales brightness and contrast as torchvision does (bit for
 * bit as version 1.0 did while saturation and hue are off), blends saturation with each
 * pixel's luma, turns hue in HSV (checked against a colorsys-style transcription), and runs
 * the four in the documented random order, reproducibly. */
#include "tf_fixture.h"

#include <math.h>

static const int64_t rgb[3] = {3, 4, 5};

static void make4(tf *t, const char *brightness, const char *contrast, const char *saturation,
                  const char *hue, const int64_t *shape)
{
    const char *kv[] = {"brightness", brightness, "contrast", contrast, "saturation", saturation,
                        "hue", hue};
    tf_make_ok(t, "color_jitter", kv, 4);
    tf_setup_ok(t, NN_F32, 3, shape);
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)((i * 37) % 61) / 60.0f; /* in [0, 1] */
}

static void make(tf *t, const char *brightness, const char *contrast, const int64_t *shape)
{
    const char *kv[] = {"brightness", brightness, "contrast", contrast};
    tf_make_ok(t, "color_jitter", kv, 2);
    tf_setup_ok(t, NN_F32, 3, shape);
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)((i * 37) % 61) / 60.0f; /* in [0, 1] */
}

Test(color_jitter, factor_1_is_the_identity)
{
    tf t;
    make(&t, "1, 1", "1, 1", rgb);
    for (uint64_t s = 0; s < 10; s++) {
        tf_apply(&t, s, 0);
        cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    }
    tf_free(&t);
    make(&t, "0", "0", rgb); /* the defaults: [max(0, 1 - 0), 1 + 0] = [1, 1] */
    tf_apply(&t, 3, 3);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

Test(color_jitter, brightness_factor_scales_and_clamps_to_1)
{
    tf t;
    make(&t, "2, 2", "1, 1", rgb);
    tf_apply(&t, 1, 1);
    for (int64_t i = 0; i < 60; i++) {
        float x = NN_F32P(t.in)[i], want = 2 * x > 1 ? 1.0f : 2 * x;
        cr_assert_float_eq(NN_F32P(t.out)[i], want, 1e-6, "element %ld", i);
    }
    tf_free(&t);
}

/* mean grey level of an RGB image, ITU-R 601 luma as torchvision's rgb_to_grayscale */
static double luma_mean(const float *x, int64_t plane)
{
    double m = 0;
    for (int64_t i = 0; i < plane; i++)
        m += 0.299 * x[i] + 0.587 * x[plane + i] + 0.114 * x[2 * plane + i];
    return m / (double)plane;
}

Test(color_jitter, contrast_blends_with_the_mean_grey_level)
{
    tf t;
    make(&t, "1, 1", "0.5, 0.5", rgb);
    tf_apply(&t, 1, 1);
    double m = luma_mean(NN_F32P(t.in), 20);
    for (int64_t i = 0; i < 60; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], 0.5 * NN_F32P(t.in)[i] + 0.5 * m, 1e-6);
    tf_free(&t);

    make(&t, "1, 1", "0, 0", rgb); /* contrast 0: a flat grey image */
    tf_apply(&t, 1, 1);
    m = luma_mean(NN_F32P(t.in), 20);
    for (int64_t i = 0; i < 60; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], m, 1e-6);
    tf_free(&t);

    const int64_t gray[3] = {1, 3, 3}; /* one channel: the plain mean */
    make(&t, "1, 1", "3, 3", gray);
    tf_apply(&t, 1, 1);
    double s = 0;
    for (int64_t i = 0; i < 9; i++)
        s += NN_F32P(t.in)[i];
    for (int64_t i = 0; i < 9; i++) {
        double v = 3 * NN_F32P(t.in)[i] - 2 * s / 9;
        cr_assert_float_eq(NN_F32P(t.out)[i], v < 0 ? 0 : v > 1 ? 1 : v, 1e-6);
    }
    tf_free(&t);
}

Test(color_jitter, one_value_v_draws_brightness_from_1_minus_v_to_1_plus_v)
{
    tf t;
    const int64_t one[3] = {1, 1, 1};
    make(&t, "0.5", "0", one);
    NN_F32P(t.in)[0] = 0.4f;
    double lo = 9, hi = -9;
    for (uint64_t k = 0; k < 500; k++) {
        tf_apply(&t, 6, k);
        double f = NN_F32P(t.out)[0] / 0.4;
        lo = f < lo ? f : lo;
        hi = f > hi ? f : hi;
    }
    cr_assert(lo >= 0.5 - 1e-6 && lo < 0.52, "lowest factor %g", lo);
    cr_assert(hi <= 1.5 + 1e-6 && hi > 1.48, "highest factor %g", hi);
    tf_free(&t);
}

Test(color_jitter, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "0.4", "0.4", rgb);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

/* ---- references, written independently of the plugin ---- */

static float clamp1(double v)
{
    return (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
}

/* version 1.0 of the plugin: draws order, brightness, contrast; the same float operations */
static void ref_v1(const float *x, float *y, int64_t c, int64_t plane, double b0, double b1,
                   double c0, double c1, nn_rng *r)
{
    int contrast_first = nn_rng_uniform(r) < 0.5;
    double fb = b0 + (b1 - b0) * nn_rng_uniform(r), fc = c0 + (c1 - c0) * nn_rng_uniform(r);
    memcpy(y, x, (size_t)(c * plane) * sizeof *y);
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0) != contrast_first) { /* brightness */
            for (int64_t i = 0; i < c * plane; i++)
                y[i] = clamp1(fb * (double)y[i]);
            continue;
        }
        double mean = 0.0;
        if (c == 3) {
            for (int64_t i = 0; i < plane; i++)
                mean += 0.299 * y[i] + 0.587 * y[plane + i] + 0.114 * y[2 * plane + i];
            mean /= (double)plane;
        } else {
            for (int64_t i = 0; i < c * plane; i++)
                mean += y[i];
            mean /= (double)(c * plane);
        }
        for (int64_t i = 0; i < c * plane; i++)
            y[i] = clamp1(fc * (double)y[i] + (1.0 - fc) * mean);
    }
}

/* Python's colorsys.rgb_to_hsv / hsv_to_rgb */
static void rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v)
{
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b));
    *v = mx;
    if (mn == mx) {
        *h = *s = 0.0;
        return;
    }
    *s = (mx - mn) / mx;
    double rc = (mx - r) / (mx - mn), gc = (mx - g) / (mx - mn), bc = (mx - b) / (mx - mn);
    double hh = r == mx ? bc - gc : g == mx ? 2.0 + rc - bc : 4.0 + gc - rc;
    hh = hh / 6.0 - floor(hh / 6.0);
    *h = hh;
}

static void hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b)
{
    int i = (int)(h * 6.0);
    double f = h * 6.0 - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch (i % 6) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

static void ref_hue(float *y, int64_t plane, double shift)
{
    for (int64_t i = 0; i < plane; i++) {
        double h, s, v, r, g, b;
        rgb_to_hsv(y[i], y[plane + i], y[2 * plane + i], &h, &s, &v);
        h = h + shift - floor(h + shift);
        hsv_to_rgb(h, s, v, &r, &g, &b);
        y[i] = clamp1(r);
        y[plane + i] = clamp1(g);
        y[2 * plane + i] = clamp1(b);
    }
}

static void ref_saturation(float *y, int64_t plane, double f)
{
    for (int64_t i = 0; i < plane; i++) {
        double gray = 0.299 * y[i] + 0.587 * y[plane + i] + 0.114 * y[2 * plane + i];
        for (int c = 0; c < 3; c++)
            y[c * plane + i] = clamp1(f * y[c * plane + i] + (1.0 - f) * gray);
    }
}

Test(color_jitter, brightness_and_contrast_stay_bit_identical_to_version_1_0)
{
    for (int v = 0; v < 2; v++) {
        tf t;
        if (v == 0)
            make(&t, "0.4", "0.1, 1.7", rgb);
        else /* saturation and hue given but off */
            make4(&t, "0.4", "0.1, 1.7", "1, 1", "0", rgb);
        float want[60];
        for (uint64_t k = 0; k < 30; k++) {
            tf_apply(&t, 21, k);
            nn_rng r;
            nn_rng_init(&r, 21, 0, k, 0);
            ref_v1(NN_F32P(t.in), want, 3, 20, 0.6, 1.4, 0.1, 1.7, &r);
            cr_assert_eq(memcmp(NN_F32P(t.out), want, sizeof want), 0, "stream %llu",
                         (unsigned long long)k);
        }
        tf_free(&t);
    }
}

Test(color_jitter, saturation_blends_each_pixel_with_its_luma)
{
    tf t;
    make4(&t, "1, 1", "1, 1", "0.3, 0.3", "0", rgb);
    tf_apply(&t, 4, 4);
    float want[60];
    memcpy(want, NN_F32P(t.in), sizeof want);
    ref_saturation(want, 20, 0.3);
    for (int i = 0; i < 60; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], want[i], 1e-6, "element %d", i);
    tf_free(&t);
    make4(&t, "1, 1", "1, 1", "0, 0", "0", rgb); /* saturation 0: each channel is the luma */
    tf_apply(&t, 4, 4);
    for (int i = 0; i < 20; i++)
        cr_assert(NN_F32P(t.out)[i] == NN_F32P(t.out)[20 + i] &&
                  NN_F32P(t.out)[i] == NN_F32P(t.out)[40 + i], "pixel %d keeps colour", i);
    tf_free(&t);
}

Test(color_jitter, hue_turns_colours_in_hsv_as_colorsys_does)
{
    tf t;
    const int64_t px[3] = {3, 1, 4};
    make4(&t, "1, 1", "1, 1", "1, 1", "0.3333333333333333, 0.3333333333333333", px);
    /* pure red, green, blue and a gray: a third of a turn makes them green, blue, red, gray */
    const float in[12] = {1, 0, 0, 0.5f, 0, 1, 0, 0.5f, 0, 0, 1, 0.5f};
    memcpy(NN_F32P(t.in), in, sizeof in);
    tf_apply(&t, 1, 1);
    const float want[12] = {0, 0, 1, 0.5f, 1, 0, 0, 0.5f, 0, 1, 0, 0.5f};
    for (int i = 0; i < 12; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], want[i], 1e-6, "element %d", i);
    tf_free(&t);
    make4(&t, "1, 1", "1, 1", "1, 1", "-0.17, -0.17", rgb);
    tf_apply(&t, 2, 9);
    float ref[60];
    memcpy(ref, NN_F32P(t.in), sizeof ref);
    ref_hue(ref, 20, -0.17);
    for (int i = 0; i < 60; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], ref[i], 1e-5, "element %d", i);
    tf_free(&t);
}

Test(color_jitter, all_four_run_in_the_documented_random_order)
{
    tf t;
    make4(&t, "0.5", "0.5", "0.8", "0.2", rgb);
    int seen[24] = {0}, orders = 0;
    for (uint64_t k = 0; k < 60; k++) {
        tf_apply(&t, 8, k);
        nn_rng r;
        nn_rng_init(&r, 8, 0, k, 0);
        (void)nn_rng_uniform(&r); /* the order bit of version 1.0, unused here */
        double fb = 0.5 + nn_rng_uniform(&r), fc = 0.5 + nn_rng_uniform(&r);
        double fs = 0.2 + 1.6 * nn_rng_uniform(&r), fh = -0.2 + 0.4 * nn_rng_uniform(&r);
        int order[4] = {0, 1, 2, 3};
        for (int q = 3; q > 0; q--) {
            int m = (int)nn_rng_below(&r, (uint64_t)q + 1), sw = order[q];
            order[q] = order[m];
            order[m] = sw;
        }
        orders += !seen[order[0] * 6 + order[1] * 2 + (order[2] > order[3])]++;
        float y[60];
        memcpy(y, NN_F32P(t.in), sizeof y);
        for (int q = 0; q < 4; q++) {
            if (order[q] == 0) {
                for (int i = 0; i < 60; i++)
                    y[i] = clamp1(fb * y[i]);
            } else if (order[q] == 1) {
                double m = 0;
                for (int i = 0; i < 20; i++)
                    m += (0.299 * y[i] + 0.587 * y[20 + i] + 0.114 * y[40 + i]) / 20;
                for (int i = 0; i < 60; i++)
                    y[i] = clamp1(fc * y[i] + (1 - fc) * m);
            } else if (order[q] == 2) {
                ref_saturation(y, 20, fs);
            } else {
                ref_hue(y, 20, fh);
            }
        }
        for (int i = 0; i < 60; i++)
            cr_assert_float_eq(NN_F32P(t.out)[i], y[i], 1e-5, "stream %llu element %d",
                               (unsigned long long)k, i);
    }
    cr_assert_geq(orders, 15, "only %d of the 24 orders in 60 samples", orders);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(color_jitter, saturation_and_hue_leave_a_gray_image_to_brightness_and_contrast)
{
    tf t;
    const int64_t gray[3] = {1, 3, 3};
    make4(&t, "1, 1", "1, 1", "0, 2", "0.5", gray);
    for (uint64_t k = 0; k < 10; k++) {
        tf_apply(&t, 3, k);
        cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    }
    tf_free(&t);
    const char *kv[] = {"hue", "0.1"};
    tf_make_ok(&t, "color_jitter", kv, 1);
    nn_error e = {0};
    const int64_t two[3] = {2, 3, 3};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, two, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "saturation and hue") && strstr(e.msg, "[2, 3, 3]"), "%s", e.msg);
    tf_free(&t);
}

Test(color_jitter, a_waveform_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "color_jitter", NULL, 0);
    nn_error e = {0};
    int64_t wave[2] = {1, 16000};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, wave, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "color_jitter") && strstr(e.msg, "[1, 16000]"), "%s", e.msg);
    tf_free(&t);
}

Test(color_jitter, bad_parameters_are_rejected_naming_the_key)
{
    const char *neg[] = {"brightness", "-0.5"};
    tf_assert_rejects("color_jitter", neg, 1, "brightness");
    const char *order[] = {"contrast", "2, 1"};
    tf_assert_rejects("color_jitter", order, 1, "contrast");
    const char *three[] = {"contrast", "1, 2, 3"};
    tf_assert_rejects("color_jitter", three, 1, "contrast");
    const char *word[] = {"brightness", "bright"};
    tf_assert_rejects("color_jitter", word, 1, "brightness");
    const char *clamp[] = {"clamp", "perhaps"};
    tf_assert_rejects("color_jitter", clamp, 1, "clamp");
    const char *sat[] = {"saturation", "-0.1"};
    tf_assert_rejects("color_jitter", sat, 1, "saturation");
    const char *wide[] = {"hue", "0.6"};
    tf_assert_rejects("color_jitter", wide, 1, "hue");
    const char *negh[] = {"hue", "-0.2"};
    tf_assert_rejects("color_jitter", negh, 1, "hue");
    const char *back[] = {"hue", "0.3, 0.1"};
    tf_assert_rejects("color_jitter", back, 1, "hue");
}

Test(color_jitter, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("color_jitter");
}
