/* test_color_jitter.c: color_jitter scales brightness and contrast as torchvision does, with
 * factors drawn from the configured ranges, reproducibly. */
#include "tf_fixture.h"

static const int64_t rgb[3] = {3, 4, 5};

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
}

Test(color_jitter, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("color_jitter");
}
