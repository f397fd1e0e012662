/* test_random_resized_crop.c: random_resized_crop against an independent transcription of
 * torchvision's RandomResizedCrop.get_params (same draws from the same stream) and of the
 * resize filters (PyTorch's bilinear, Pillow's antialiased triangle, nearest), its fallback
 * box, the identity case, and its parameter checks. */
#include "tf_fixture.h"

#include <math.h>

typedef struct box {
    int64_t i, j, h, w;
} box;

/* torchvision's get_params, drawn from r as the plugin documents: per try a uniform for the
 * area and one for the log aspect ratio, then the row and the column */
static box ref_box(nn_rng *r, int64_t H, int64_t W, const double s[2], const double q[2])
{
    for (int t = 0; t < 10; t++) {
        double target = (double)(H * W) * (s[0] + (s[1] - s[0]) * nn_rng_uniform(r));
        double la = log(q[0]), lb = log(q[1]);
        double aspect = exp(la + (lb - la) * nn_rng_uniform(r));
        int64_t w = (int64_t)rint(sqrt(target * aspect)), h = (int64_t)rint(sqrt(target / aspect));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            int64_t i = (int64_t)nn_rng_below(r, (uint64_t)(H - h + 1));
            int64_t j = (int64_t)nn_rng_below(r, (uint64_t)(W - w + 1));
            return (box){i, j, h, w};
        }
    }
    double in_ratio = (double)W / (double)H;
    int64_t w = W, h = H;
    if (in_ratio < q[0])
        h = (int64_t)rint((double)W / q[0]);
    else if (in_ratio > q[1])
        w = (int64_t)rint((double)H * q[1]);
    return (box){(H - h) / 2, (W - w) / 2, h, w};
}

enum { NEAREST, BILINEAR, BILINEAR_AA };

/* weights of source pixel k (0 <= k < n) for output o of an axis n -> m */
static double ref_weight(int mode, int64_t n, int64_t m, int64_t o, int64_t k)
{
    double scale = (double)n / (double)m, centre = (o + 0.5) * scale;
    if (mode == NEAREST) {
        int64_t s = (int64_t)floor(centre);
        return k == (s < n ? s : n - 1);
    }
    if (mode == BILINEAR) { /* PyTorch: source point clamped at 0, neighbours repeated */
        double s = centre - 0.5 < 0 ? 0 : centre - 0.5, t = s - floor(s);
        int64_t a = (int64_t)floor(s), b = a + 1 < n ? a + 1 : n - 1;
        return (k == a) * (1 - t) + (k == b) * t;
    }
    double support = scale > 1 ? scale : 1, sum = 0, mine = 0; /* Pillow's triangle */
    for (int64_t q = 0; q < n; q++) {
        double d = fabs((q + 0.5 - centre) / support);
        double v = d < 1 ? 1 - d : 0;
        sum += v;
        mine += q == k ? v : 0;
    }
    return mine / sum;
}

/* the expected output of one apply on the image x [C, H, W] into [C, oh, ow] */
static void ref_apply(const float *x, int64_t C, int64_t H, int64_t W, box b, int mode,
                      int64_t oh, int64_t ow, float *y)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t u = 0; u < oh; u++)
            for (int64_t v = 0; v < ow; v++) {
                double acc = 0;
                for (int64_t p = 0; p < b.h; p++)
                    for (int64_t q = 0; q < b.w; q++)
                        acc += ref_weight(mode, b.h, oh, u, p) * ref_weight(mode, b.w, ow, v, q) *
                               x[(c * H + b.i + p) * W + b.j + q];
                y[(c * oh + u) * ow + v] = (float)acc;
            }
}

static void fill(tf *t)
{
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
}

/* applies for several samples and compares with the reference */
static void check_against_reference(const char *interp, const char *aa, int mode)
{
    const double s[2] = {0.2, 0.9}, q[2] = {0.5, 2.0};
    const char *kv[] = {"size", "4, 3", "scale", "0.2, 0.9", "ratio", "0.5, 2",
                        "interpolation", interp, "antialias", aa};
    tf t;
    tf_make_ok(&t, "random_resized_crop", kv, 5);
    const int64_t shape[3] = {2, 9, 11};
    tf_setup_ok(&t, NN_F32, 3, shape);
    cr_assert(t.out->shape[0] == 2 && t.out->shape[1] == 4 && t.out->shape[2] == 3);
    fill(&t);
    float want[2 * 4 * 3];
    for (uint64_t k = 0; k < 40; k++) {
        tf_apply(&t, 99, k);
        nn_rng r;
        nn_rng_init(&r, 99, 0, k, 0);
        box b = ref_box(&r, 9, 11, s, q);
        ref_apply(NN_F32P(t.in), 2, 9, 11, b, mode, 4, 3, want);
        for (int e = 0; e < 24; e++)
            cr_assert(fabsf(NN_F32P(t.out)[e] - want[e]) < 1e-5f, "%s aa=%s sample %llu element "
                      "%d (box %lld,%lld %lldx%lld): %g, want %g", interp, aa,
                      (unsigned long long)k, e, (long long)b.i, (long long)b.j, (long long)b.h,
                      (long long)b.w, NN_F32P(t.out)[e], want[e]);
    }
    tf_free(&t);
}

Test(random_resized_crop, nearest_matches_torchvisions_box_and_the_pixel_under_each_centre)
{
    check_against_reference("nearest", "true", NEAREST);
}

Test(random_resized_crop, bilinear_without_antialias_matches_pytorch)
{
    check_against_reference("bilinear", "false", BILINEAR);
}

Test(random_resized_crop, the_default_bilinear_antialias_matches_pillows_triangle)
{
    check_against_reference("bilinear", "true", BILINEAR_AA);
}

Test(random_resized_crop, whole_image_at_its_own_size_is_the_identity)
{
    const char *f[] = {"nearest", "bilinear", "bicubic", "area"};
    for (int k = 0; k < 4; k++) {
        const char *kv[] = {"size", "6, 6", "scale", "1", "ratio", "1", "interpolation", f[k]};
        tf t;
        tf_make_ok(&t, "random_resized_crop", kv, 4);
        const int64_t shape[3] = {3, 6, 6};
        tf_setup_ok(&t, NN_F32, 3, shape);
        fill(&t);
        tf_apply(&t, 5, 7);
        cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0, "%s",
                     f[k]);
        tf_free(&t);
    }
}

Test(random_resized_crop, no_fitting_box_falls_back_to_the_central_one)
{
    /* the whole area at a ratio of 2 to 3 never fits a square: ten tries, then w = 8 and
     * h = round(8 / 2) = 4 at the centre */
    const char *kv[] = {"size", "4, 8", "scale", "1", "ratio", "2, 3", "interpolation",
                        "nearest"};
    tf t;
    tf_make_ok(&t, "random_resized_crop", kv, 4);
    const int64_t shape[3] = {1, 8, 8};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill(&t);
    for (uint64_t k = 0; k < 5; k++) {
        tf_apply(&t, 3, k);
        cr_assert_eq(memcmp(NN_F32P(t.out), NN_F32P(t.in) + 2 * 8, 4 * 8 * sizeof(float)), 0);
    }
    tf_free(&t);
}

Test(random_resized_crop, same_stream_gives_same_output_and_other_streams_differ)
{
    const char *kv[] = {"size", "5"};
    tf t;
    tf_make_ok(&t, "random_resized_crop", kv, 1);
    const int64_t shape[3] = {3, 40, 36};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill(&t);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_resized_crop, bad_parameters_are_rejected_naming_the_key)
{
    const char *three[] = {"size", "1, 2, 3"};
    tf_assert_rejects("random_resized_crop", three, 1, "size");
    const char *zero[] = {"size", "0"};
    tf_assert_rejects("random_resized_crop", zero, 1, "size");
    const char *order[] = {"size", "4", "scale", "0.9, 0.2"};
    tf_assert_rejects("random_resized_crop", order, 2, "scale");
    const char *big[] = {"size", "4", "scale", "0.5, 1.5"};
    tf_assert_rejects("random_resized_crop", big, 2, "scale");
    const char *none[] = {"size", "4", "scale", "0, 1"};
    tf_assert_rejects("random_resized_crop", none, 2, "scale");
    const char *ratio[] = {"size", "4", "ratio", "0, 2"};
    tf_assert_rejects("random_resized_crop", ratio, 2, "ratio");
    const char *interp[] = {"size", "4", "interpolation", "lanczos"};
    tf_assert_rejects("random_resized_crop", interp, 2, "interpolation");
    tf t;
    nn_error e = {0};
    cr_assert_neq(tf_make(&t, "random_resized_crop", NULL, 0, &e), NN_OK, "size is required");
    tf_free(&t);
}

Test(random_resized_crop, a_waveform_is_rejected_naming_the_shape)
{
    const char *kv[] = {"size", "4"};
    tf t;
    tf_make_ok(&t, "random_resized_crop", kv, 1);
    nn_error e = {0};
    int64_t wave[2] = {1, 16000};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, wave, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_resized_crop") && strstr(e.msg, "[1, 16000]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_resized_crop, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_resized_crop");
}
