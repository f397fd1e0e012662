/* test_random_flip.c: random_flip mirrors exactly, with the drawn probability, reproducibly. */
#include "tf_fixture.h"

static const int64_t shape[3] = {2, 3, 5};

static float pix(int64_t c, int64_t i, int64_t j)
{
    return (float)(c * 100 + i * 10 + j);
}

static void fill(tf *t)
{
    float *x = NN_F32P(t->in);
    for (int64_t c = 0; c < 2; c++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 5; j++)
                x[(c * 3 + i) * 5 + j] = pix(c, i, j);
}

static float at(const tf *t, int64_t c, int64_t i, int64_t j)
{
    return NN_F32P(t->out)[(c * 3 + i) * 5 + j];
}

static void make(tf *t, const char *mode, const char *p)
{
    const char *kv[] = {"mode", mode, "p", p};
    tf_make_ok(t, "random_flip", kv, 2);
    tf_setup_ok(t, NN_F32, 3, shape);
    fill(t);
}

Test(random_flip, horizontal_with_p_1_mirrors_every_row_exactly)
{
    tf t;
    make(&t, "horizontal", "1");
    for (uint64_t s = 0; s < 5; s++) {
        tf_apply(&t, s, 0);
        for (int64_t c = 0; c < 2; c++)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 5; j++)
                    cr_assert_eq(at(&t, c, i, j), pix(c, i, 4 - j), "c%ld i%ld j%ld", c, i, j);
    }
    tf_free(&t);
}

Test(random_flip, vertical_with_p_1_mirrors_every_column_exactly)
{
    tf t;
    make(&t, "vertical", "1");
    tf_apply(&t, 3, 1);
    for (int64_t c = 0; c < 2; c++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 5; j++)
                cr_assert_eq(at(&t, c, i, j), pix(c, 2 - i, j), "c%ld i%ld j%ld", c, i, j);
    tf_free(&t);
}

Test(random_flip, both_with_p_1_turns_the_image_upside_down)
{
    tf t;
    make(&t, "both", "1");
    tf_apply(&t, 3, 1);
    for (int64_t c = 0; c < 2; c++)
        for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 5; j++)
                cr_assert_eq(at(&t, c, i, j), pix(c, 2 - i, 4 - j), "c%ld i%ld j%ld", c, i, j);
    tf_free(&t);
}

Test(random_flip, p_0_is_the_identity)
{
    tf t;
    make(&t, "both", "0");
    for (uint64_t s = 0; s < 20; s++) {
        tf_apply(&t, s, s);
        cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    }
    tf_free(&t);
}

Test(random_flip, half_of_the_samples_flip_with_p_one_half)
{
    tf t;
    make(&t, "horizontal", "0.5");
    int flipped = 0, n = 1000;
    for (int k = 0; k < n; k++) {
        tf_apply(&t, 99, (uint64_t)k);
        int is_flip = at(&t, 0, 0, 0) == pix(0, 0, 4);
        int is_same = at(&t, 0, 0, 0) == pix(0, 0, 0);
        cr_assert(is_flip || is_same);
        flipped += is_flip;
    }
    /* binomial(1000, 0.5): sd 15.8, so 440..560 is beyond 3.7 sd */
    cr_assert(flipped > 440 && flipped < 560, "%d of %d flipped", flipped, n);
    tf_free(&t);
}

Test(random_flip, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "both", "0.5");
    int diff = tf_count_stream_differences(&t);
    cr_assert_geq(diff, 4, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_flip, bad_parameters_are_rejected_naming_the_key)
{
    const char *p[] = {"p", "1.5"};
    tf_assert_rejects("random_flip", p, 1, "p");
    const char *m[] = {"mode", "diagonal"};
    tf_assert_rejects("random_flip", m, 1, "mode");
}

Test(random_flip, a_non_image_sample_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "random_flip", NULL, 0);
    nn_error e = {0};
    int64_t flat[2] = {4, 4};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, flat, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_flip") && strstr(e.msg, "[4, 4]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_flip, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_flip");
}
