/* test_time_shift.c: time_shift moves a known impulse by the drawn number of samples; roll
 * wraps it around, zero mode drops it and fills with silence. */
#include "tf_fixture.h"

static void make(tf *t, const char *max, const char *mode, int64_t c, int64_t len)
{
    const char *kv[] = {"max", max, "mode", mode};
    tf_make_ok(t, "time_shift", kv, 2);
    int64_t shape[2] = {c, len};
    tf_setup_ok(t, NN_F32, 2, shape);
}

/* the shift the plugin documents: uniform over [-floor(max*T), floor(max*T)] from the stream */
static int64_t drawn_shift(uint64_t seed, uint64_t index, int64_t m)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, index, 0);
    return (int64_t)nn_rng_below(&r, (uint64_t)(2 * m + 1)) - m;
}

/* position of the single non-zero sample of channel c, -1 if none; asserts there is one at most */
static int64_t impulse_at(const tf *t, int64_t c, float height)
{
    int64_t len = t->out->shape[1], at = -1;
    for (int64_t i = 0; i < len; i++) {
        float v = NN_F32P(t->out)[c * len + i];
        if (v != 0.0f) {
            cr_assert_eq(v, height, "sample %ld holds %g", i, v);
            cr_assert_eq(at, -1, "two impulses after the shift");
            at = i;
        }
    }
    return at;
}

Test(time_shift, an_impulse_moves_by_the_drawn_amount)
{
    tf t;
    make(&t, "0.3", "zero", 2, 100);
    NN_F32P(t.in)[50] = 1.0f;
    NN_F32P(t.in)[100 + 50] = 2.0f;
    int seen[61] = {0}, distinct = 0;
    for (uint64_t k = 0; k < 300; k++) {
        tf_apply(&t, 11, k);
        int64_t s = drawn_shift(11, k, 30);
        cr_assert(s >= -30 && s <= 30);
        cr_assert_eq(impulse_at(&t, 0, 1.0f), 50 + s, "sample %lu", k);
        cr_assert_eq(impulse_at(&t, 1, 2.0f), 50 + s, "channels must shift together");
        distinct += !seen[s + 30]++;
    }
    cr_assert_gt(distinct, 50, "only %d of 61 shifts were drawn", distinct);
    tf_free(&t);
}

Test(time_shift, roll_wraps_around_and_zero_mode_fills_with_silence)
{
    tf roll, zero;
    make(&roll, "0.1", "roll", 1, 100);
    make(&zero, "0.1", "zero", 1, 100);
    NN_F32P(roll.in)[96] = 1.0f;
    NN_F32P(zero.in)[96] = 1.0f;
    int wrapped = 0;
    for (uint64_t k = 0; k < 100; k++) {
        tf_apply(&roll, 3, k);
        tf_apply(&zero, 3, k);
        int64_t s = drawn_shift(3, k, 10);
        if (96 + s >= 100) {
            wrapped++;
            cr_assert_eq(impulse_at(&roll, 0, 1.0f), 96 + s - 100, "roll must wrap");
            cr_assert_eq(impulse_at(&zero, 0, 1.0f), -1, "zero mode must drop the impulse");
        } else {
            cr_assert_eq(impulse_at(&roll, 0, 1.0f), 96 + s);
            cr_assert_eq(impulse_at(&zero, 0, 1.0f), 96 + s);
        }
    }
    cr_assert_gt(wrapped, 5, "only %d shifts wrapped", wrapped);
    tf_free(&roll);
    tf_free(&zero);
}

Test(time_shift, zero_mode_fills_the_vacated_samples_with_zeros)
{
    tf t;
    make(&t, "0.5", "zero", 1, 20);
    for (int i = 0; i < 20; i++)
        NN_F32P(t.in)[i] = (float)(i + 1);
    for (uint64_t k = 0; k < 20; k++) {
        tf_apply(&t, 9, k);
        int64_t s = drawn_shift(9, k, 10);
        for (int64_t i = 0; i < 20; i++) {
            int64_t j = i - s;
            float want = j >= 0 && j < 20 ? (float)(j + 1) : 0.0f;
            cr_assert_eq(NN_F32P(t.out)[i], want, "shift %ld sample %ld", s, i);
        }
    }
    tf_free(&t);
}

Test(time_shift, max_0_is_the_identity)
{
    tf t;
    make(&t, "0", "roll", 1, 50);
    for (int i = 0; i < 50; i++)
        NN_F32P(t.in)[i] = (float)i;
    tf_apply(&t, 1, 1);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

Test(time_shift, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "0.5", "roll", 1, 1000);
    for (int i = 0; i < 1000; i++)
        NN_F32P(t.in)[i] = (float)i;
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(time_shift, an_image_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "time_shift", NULL, 0);
    nn_error e = {0};
    int64_t img[3] = {3, 4, 5};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, img, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "time_shift") && strstr(e.msg, "[3, 4, 5]"), "%s", e.msg);
    tf_free(&t);
}

Test(time_shift, bad_parameters_are_rejected_naming_the_key)
{
    const char *big[] = {"max", "1.5"};
    tf_assert_rejects("time_shift", big, 1, "max");
    const char *neg[] = {"max", "-0.1"};
    tf_assert_rejects("time_shift", neg, 1, "max");
    const char *mode[] = {"mode", "wrap"};
    tf_assert_rejects("time_shift", mode, 1, "mode");
}

Test(time_shift, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("time_shift");
}
