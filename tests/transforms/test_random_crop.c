/* test_random_crop.c: random_crop cuts windows of the (padded) image exactly, reproducibly. */
#include "tf_fixture.h"

static void fill_distinct(tf *t)
{
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)(i + 1); /* all > 0, so a fill of -1 never looks like content */
}

Test(random_crop, padding_0_and_full_size_is_the_identity)
{
    tf t;
    const char *kv[] = {"size", "5, 6"};
    tf_make_ok(&t, "random_crop", kv, 1);
    int64_t shape[3] = {3, 5, 6};
    tf_setup_ok(&t, NN_F32, 3, shape);
    cr_assert(nn_shape_equal(t.out, t.in));
    fill_distinct(&t);
    for (uint64_t s = 0; s < 10; s++) {
        tf_apply(&t, s, 2);
        cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    }
    tf_free(&t);
}

/* true when out is the input shifted down by dy and right by dx, -1 where nothing shows */
static int is_shift(const tf *t, int64_t dy, int64_t dx)
{
    const float *x = NN_F32P(t->in), *y = NN_F32P(t->out);
    int64_t C = t->in->shape[0], H = t->in->shape[1], W = t->in->shape[2];
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                int64_t si = i - dy, sj = j - dx;
                float want = si >= 0 && si < H && sj >= 0 && sj < W ? x[(c * H + si) * W + sj]
                                                                    : -1.0f;
                if (y[(c * H + i) * W + j] != want)
                    return 0;
            }
    return 1;
}

Test(random_crop, padding_keeps_the_content_shifted_and_fills_the_rest)
{
    tf t;
    const char *kv[] = {"size", "5, 6", "padding", "2", "fill", "-1"};
    tf_make_ok(&t, "random_crop", kv, 3);
    int64_t shape[3] = {3, 5, 6};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill_distinct(&t);
    int seen[5][5] = {{0}}, distinct = 0;
    for (uint64_t k = 0; k < 200; k++) {
        tf_apply(&t, 17, k);
        int matches = 0;
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                if (is_shift(&t, dy, dx)) {
                    matches++;
                    distinct += !seen[dy + 2][dx + 2]++;
                }
        cr_assert_eq(matches, 1, "sample %lu is not a shifted copy of the input", k);
    }
    /* 200 draws over 25 equally likely shifts: all of them appear */
    cr_assert_eq(distinct, 25, "only %d of 25 shifts were drawn", distinct);
    tf_free(&t);
}

Test(random_crop, a_smaller_window_is_a_block_of_the_input)
{
    tf t;
    const char *kv[] = {"size", "3"};
    tf_make_ok(&t, "random_crop", kv, 1);
    int64_t shape[3] = {2, 5, 6};
    tf_setup_ok(&t, NN_F32, 3, shape);
    cr_assert_eq(t.out->shape[0], 2);
    cr_assert_eq(t.out->shape[1], 3);
    cr_assert_eq(t.out->shape[2], 3);
    fill_distinct(&t);
    const float *x = NN_F32P(t.in), *y = NN_F32P(t.out);
    for (uint64_t k = 0; k < 30; k++) {
        tf_apply(&t, 5, k);
        /* the top-left value locates the window; every other value must follow from it */
        int64_t v = (int64_t)y[0] - 1, oy = v / 6, ox = v % 6;
        cr_assert(oy <= 2 && ox <= 3, "window at (%ld, %ld) leaves the image", oy, ox);
        for (int64_t c = 0; c < 2; c++)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 3; j++)
                    cr_assert_eq(y[(c * 3 + i) * 3 + j], x[(c * 5 + oy + i) * 6 + ox + j]);
    }
    tf_free(&t);
}

Test(random_crop, reflect_padding_mirrors_without_repeating_the_edge)
{
    tf t;
    const char *kv[] = {"size", "5", "padding", "1", "padding_mode", "reflect"};
    tf_make_ok(&t, "random_crop", kv, 3);
    int64_t shape[3] = {1, 3, 3};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill_distinct(&t); /* 1 2 3 / 4 5 6 / 7 8 9 */
    tf_apply(&t, 1, 1);
    static const float want[25] = {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5,
                                   8, 7, 8, 9, 8, 5, 4, 5, 6, 5};
    for (int i = 0; i < 25; i++)
        cr_assert_eq(NN_F32P(t.out)[i], want[i], "element %d", i);
    tf_free(&t);
}

Test(random_crop, constant_padding_uses_the_fill_value)
{
    tf t;
    const char *kv[] = {"size", "4, 5", "padding", "1", "fill", "7"};
    tf_make_ok(&t, "random_crop", kv, 3);
    int64_t shape[3] = {1, 2, 3};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill_distinct(&t); /* 1 2 3 / 4 5 6 */
    tf_apply(&t, 1, 1);
    static const float want[20] = {7, 7, 7, 7, 7, 7, 1, 2, 3, 7, 7, 4, 5, 6, 7, 7, 7, 7, 7, 7};
    for (int i = 0; i < 20; i++)
        cr_assert_eq(NN_F32P(t.out)[i], want[i], "element %d", i);
    tf_free(&t);
}

Test(random_crop, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    const char *kv[] = {"size", "4", "padding", "3"};
    tf_make_ok(&t, "random_crop", kv, 2);
    int64_t shape[3] = {2, 6, 6};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill_distinct(&t);
    int diff = tf_count_stream_differences(&t);
    cr_assert_geq(diff, 6, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_crop, a_window_larger_than_the_padded_image_is_rejected)
{
    tf t;
    const char *kv[] = {"size", "9", "padding", "1"};
    tf_make_ok(&t, "random_crop", kv, 2);
    nn_error e = {0};
    int64_t shape[3] = {3, 6, 8};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_crop") && strstr(e.msg, "'size'") &&
              strstr(e.msg, "[3, 6, 8]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_crop, reflect_padding_as_large_as_the_image_is_rejected)
{
    tf t;
    const char *kv[] = {"size", "3", "padding", "3", "padding_mode", "reflect"};
    tf_make_ok(&t, "random_crop", kv, 3);
    nn_error e = {0};
    int64_t shape[3] = {1, 3, 8};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "'padding'") && strstr(e.msg, "[1, 3, 8]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_crop, a_text_sample_is_rejected_naming_the_shape)
{
    tf t;
    const char *kv[] = {"size", "3"};
    tf_make_ok(&t, "random_crop", kv, 1);
    nn_error e = {0};
    int64_t shape[1] = {12};
    cr_assert_eq(tf_setup(&t, NN_I32, 1, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_crop") && strstr(e.msg, "I32 [12]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_crop, bad_parameters_are_rejected_naming_the_key)
{
    const char *none[] = {"padding", "1"};
    tf_assert_rejects("random_crop", none, 1, "size");
    const char *zero[] = {"size", "0"};
    tf_assert_rejects("random_crop", zero, 1, "size");
    const char *three[] = {"size", "1, 2, 3"};
    tf_assert_rejects("random_crop", three, 1, "size");
    const char *pad[] = {"size", "3", "padding", "-1"};
    tf_assert_rejects("random_crop", pad, 2, "padding");
    const char *mode[] = {"size", "3", "padding_mode", "wrap"};
    tf_assert_rejects("random_crop", mode, 2, "padding_mode");
    const char *fill[] = {"size", "3", "fill", "grey"};
    tf_assert_rejects("random_crop", fill, 2, "fill");
}

Test(random_crop, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_crop");
}
