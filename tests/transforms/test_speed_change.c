/* test_speed_change.c: speed_change resamples by the drawn factor (an impulse train's period
 * scales by 1/factor) and keeps the length T by zero-padding or cropping. */
#include "tf_fixture.h"

#include <math.h>

static void make(tf *t, const char *factor, int64_t len)
{
    const char *kv[] = {"factor", factor};
    tf_make_ok(t, "speed_change", kv, 1);
    int64_t shape[2] = {1, len};
    tf_setup_ok(t, NN_F32, 2, shape);
}

/* ones every `period` samples, starting at 0 */
static void impulse_train(tf *t, int64_t period)
{
    for (int64_t i = 0; i < t->in->shape[1]; i++)
        NN_F32P(t->in)[i] = i % period == 0 ? 1.0f : 0.0f;
}

Test(speed_change, factor_2_halves_the_period_of_an_impulse_train)
{
    tf t;
    make(&t, "2", 256);
    impulse_train(&t, 8);
    tf_apply(&t, 1, 1);
    const float *y = NN_F32P(t.out);
    /* the sound now lasts 128 samples with a peak every 4; the rest is silence */
    for (int64_t i = 0; i < 256; i++) {
        float want = i < 128 && i % 4 == 0 ? 1.0f : 0.0f;
        cr_assert_eq(y[i], want, "sample %ld", i);
    }
    tf_free(&t);
}

Test(speed_change, factor_one_half_doubles_the_period_and_interpolates_linearly)
{
    tf t;
    make(&t, "0.5", 256);
    impulse_train(&t, 8);
    tf_apply(&t, 1, 1);
    const float *y = NN_F32P(t.out);
    /* position i reads the input at i/2: peaks every 16, halfway values beside them */
    for (int64_t i = 0; i < 256; i++) {
        int64_t r = i % 16;
        float want = r == 0 ? 1.0f : (r == 1 || r == 15) ? 0.5f : 0.0f;
        cr_assert_float_eq(y[i], want, 1e-7, "sample %ld", i);
    }
    tf_free(&t);
}

Test(speed_change, factor_1_is_the_identity)
{
    tf t;
    make(&t, "1", 100);
    for (int i = 0; i < 100; i++)
        NN_F32P(t.in)[i] = (float)sin(0.1 * i);
    tf_apply(&t, 1, 1);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

Test(speed_change, the_drawn_factor_sets_the_length_of_the_sound)
{
    tf t;
    make(&t, "1.25, 4", 1000);
    for (int i = 0; i < 1000; i++)
        NN_F32P(t.in)[i] = 1.0f; /* a constant: the sound is 1 until it ends */
    int64_t lo = 10000, hi = -1;
    for (uint64_t k = 0; k < 300; k++) {
        tf_apply(&t, 21, k);
        int64_t len = 0;
        while (len < 1000 && NN_F32P(t.out)[len] == 1.0f)
            len++;
        for (int64_t i = len; i < 1000; i++)
            cr_assert_eq(NN_F32P(t.out)[i], 0.0f, "padding must be silence");
        lo = len < lo ? len : lo;
        hi = len > hi ? len : hi;
    }
    /* length T / factor for factor in [1.25, 4]: 250 .. 800 */
    cr_assert(lo >= 250 && lo < 260, "shortest sound %ld", lo);
    cr_assert(hi <= 800 && hi > 780, "longest sound %ld", hi);
    tf_free(&t);
}

Test(speed_change, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "0.8, 1.2", 500);
    for (int i = 0; i < 500; i++)
        NN_F32P(t.in)[i] = (float)sin(0.05 * i);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(speed_change, an_image_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "speed_change", NULL, 0);
    nn_error e = {0};
    int64_t tokens[1] = {30};
    cr_assert_eq(tf_setup(&t, NN_I32, 1, tokens, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "speed_change") && strstr(e.msg, "I32 [30]"), "%s", e.msg);
    tf_free(&t);
}

Test(speed_change, bad_parameters_are_rejected_naming_the_key)
{
    const char *zero[] = {"factor", "0"};
    tf_assert_rejects("speed_change", zero, 1, "factor");
    const char *order[] = {"factor", "1.2, 0.8"};
    tf_assert_rejects("speed_change", order, 1, "factor");
    const char *three[] = {"factor", "1, 2, 3"};
    tf_assert_rejects("speed_change", three, 1, "factor");
}

Test(speed_change, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("speed_change");
}
