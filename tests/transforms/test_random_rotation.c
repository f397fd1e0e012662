/* test_random_rotation.c: random_rotation is exact at 0/90/180 degrees, interpolates linear
 * ramps exactly at other angles, fills uncovered corners, and is reproducible. */
#include "tf_fixture.h"

#include <math.h>

static void make(tf *t, const char *degrees, const char *interp, int64_t c, int64_t n)
{
    const char *kv[] = {"degrees", degrees, "interpolation", interp, "fill", "-7"};
    tf_make_ok(t, "random_rotation", kv, 3);
    int64_t shape[3] = {c, n, n};
    tf_setup_ok(t, NN_F32, 3, shape);
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)(i + 1);
}

static float in_at(const tf *t, int64_t c, int64_t i, int64_t j)
{
    int64_t n = t->in->shape[1];
    return NN_F32P(t->in)[(c * n + i) * n + j];
}

static float out_at(const tf *t, int64_t c, int64_t i, int64_t j)
{
    int64_t n = t->out->shape[1];
    return NN_F32P(t->out)[(c * n + i) * n + j];
}

Test(random_rotation, rotation_by_0_degrees_is_the_identity)
{
    tf t;
    make(&t, "0", "bilinear", 2, 5);
    tf_apply(&t, 4, 4);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

/* counter-clockwise by 90 degrees (row 0 at the top): the right column becomes the top row */
static void check_rot90(const char *interp, int64_t n)
{
    tf t;
    make(&t, "90, 90", interp, 2, n);
    tf_apply(&t, 1, 1);
    for (int64_t c = 0; c < 2; c++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                cr_assert_eq(out_at(&t, c, i, j), in_at(&t, c, j, n - 1 - i),
                             "%s n=%ld c%ld i%ld j%ld", interp, n, c, i, j);
    tf_free(&t);
}

Test(random_rotation, rotation_by_90_degrees_of_a_square_image_is_exact)
{
    check_rot90("bilinear", 5);
    check_rot90("bilinear", 4);
    check_rot90("nearest", 5);
    check_rot90("nearest", 4);
}

Test(random_rotation, rotation_by_minus_90_and_180_degrees_is_exact)
{
    tf t;
    make(&t, "-90, -90", "bilinear", 1, 4);
    tf_apply(&t, 1, 1);
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 4; j++)
            cr_assert_eq(out_at(&t, 0, i, j), in_at(&t, 0, 3 - j, i));
    tf_free(&t);
    make(&t, "180, 180", "bilinear", 1, 5);
    tf_apply(&t, 1, 1);
    for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 5; j++)
            cr_assert_eq(out_at(&t, 0, i, j), in_at(&t, 0, 4 - i, 4 - j));
    tf_free(&t);
}

Test(random_rotation, bilinear_sampling_reproduces_a_linear_ramp_at_30_degrees)
{
    tf t;
    const int64_t n = 9;
    make(&t, "30, 30", "bilinear", 1, n);
    float *x = NN_F32P(t.in);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            x[i * n + j] = (float)(2 * j + 3 * i + 1);
    tf_apply(&t, 2, 2);
    double a = 30.0 * 3.14159265358979323846 / 180.0, cx = 4.0, cy = 4.0;
    int inside = 0, outside = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            /* the source point of output pixel (j, i), rotated back by -30 degrees */
            double dx = (double)j - cx, dy = (double)i - cy;
            double sx = cx + dx * cos(a) - dy * sin(a), sy = cy + dx * sin(a) + dy * cos(a);
            if (sx >= 0 && sx <= n - 1 && sy >= 0 && sy <= n - 1) {
                cr_assert_float_eq(out_at(&t, 0, i, j), 2 * sx + 3 * sy + 1, 1e-4, "i%ld j%ld",
                                   i, j);
                inside++;
            } else if (sx < -1 || sx > n || sy < -1 || sy > n) {
                cr_assert_eq(out_at(&t, 0, i, j), -7.0f, "corner i%ld j%ld not filled", i, j);
                outside++;
            }
        }
    cr_assert(inside > 40 && outside > 0, "inside %d outside %d", inside, outside);
    tf_free(&t);
}

Test(random_rotation, angles_are_drawn_from_the_range)
{
    tf t;
    /* a bright 3x3 blob right of the centre moves along a circle: its angle is the draw */
    make(&t, "20, 60", "bilinear", 1, 41);
    float *x = NN_F32P(t.in);
    memset(x, 0, nn_tensor_nbytes(t.in));
    for (int i = -1; i <= 1; i++)
        for (int j = -1; j <= 1; j++)
            x[(20 + i) * 41 + 20 + 15 + j] = 1.0f;
    double lo = 1e9, hi = -1e9;
    for (uint64_t k = 0; k < 200; k++) {
        tf_apply(&t, 8, k);
        double sx = 0, sy = 0, m = 0;
        for (int64_t i = 0; i < 41; i++)
            for (int64_t j = 0; j < 41; j++) {
                double v = out_at(&t, 0, i, j);
                if (v <= 0)
                    continue; /* background, or corners filled with -7 */
                sx += v * (double)(j - 20);
                sy += v * (double)(20 - i); /* up is positive */
                m += v;
            }
        cr_assert(m > 8.0 && m < 10.0, "the blob's mass changed to %g", m);
        double deg = atan2(sy, sx) * 180.0 / 3.14159265358979323846;
        lo = deg < lo ? deg : lo;
        hi = deg > hi ? deg : hi;
    }
    /* bilinear sampling keeps the blob's centroid within a fraction of a pixel (< 2 degrees) */
    cr_assert(lo > 18 && hi < 62, "angles %g..%g outside 20..60", lo, hi);
    cr_assert(lo < 25 && hi > 55, "angles %g..%g do not cover 20..60", lo, hi);
    tf_free(&t);
}

Test(random_rotation, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "45", "bilinear", 3, 8);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_rotation, a_text_sample_is_rejected_naming_the_shape)
{
    tf t;
    const char *kv[] = {"degrees", "10"};
    tf_make_ok(&t, "random_rotation", kv, 1);
    nn_error e = {0};
    int64_t shape[1] = {8};
    cr_assert_eq(tf_setup(&t, NN_I32, 1, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_rotation") && strstr(e.msg, "I32 [8]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_rotation, bad_parameters_are_rejected_naming_the_key)
{
    const char *none[] = {"fill", "0"};
    tf_assert_rejects("random_rotation", none, 1, "degrees");
    const char *three[] = {"degrees", "1, 2, 3"};
    tf_assert_rejects("random_rotation", three, 1, "degrees");
    const char *order[] = {"degrees", "20, 10"};
    tf_assert_rejects("random_rotation", order, 1, "degrees");
    const char *neg[] = {"degrees", "-5"};
    tf_assert_rejects("random_rotation", neg, 1, "degrees");
    const char *interp[] = {"degrees", "5", "interpolation", "bicubic"};
    tf_assert_rejects("random_rotation", interp, 2, "interpolation");
    const char *fill[] = {"degrees", "5", "fill", "x"};
    tf_assert_rejects("random_rotation", fill, 2, "fill");
}

Test(random_rotation, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_rotation");
}
