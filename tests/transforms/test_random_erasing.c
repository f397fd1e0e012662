/* test_random_erasing.c: random_erasing against an independent transcription of torchvision's
 * RandomErasing (the same draws from the same stream): constant, per-channel and random
 * values, the probability p, the area and ratio of the box, determinism and parameter checks. */
#include "tf_fixture.h"

#include <math.h>

typedef struct ref_box {
    int erased;
    int64_t i, j, h, w;
} ref_box;

/* torchvision's draw: p, then per try an area and a log aspect (height / width); a box must
 * be strictly smaller than the image; then row and column */
static ref_box ref_draw(nn_rng *r, int64_t H, int64_t W, double p, const double s[2],
                        const double q[2])
{
    ref_box b = {0};
    if (nn_rng_uniform(r) >= p)
        return b;
    for (int t = 0; t < 10; t++) {
        double area = (double)(H * W) * (s[0] + (s[1] - s[0]) * nn_rng_uniform(r));
        double la = log(q[0]), lb = log(q[1]);
        double aspect = exp(la + (lb - la) * nn_rng_uniform(r));
        int64_t h = (int64_t)rint(sqrt(area * aspect)), w = (int64_t)rint(sqrt(area / aspect));
        if (h < H && w < W) {
            b.i = (int64_t)nn_rng_below(r, (uint64_t)(H - h + 1));
            b.j = (int64_t)nn_rng_below(r, (uint64_t)(W - w + 1));
            b.h = h;
            b.w = w;
            b.erased = 1;
            return b;
        }
    }
    return b;
}

static const int64_t shape[3] = {3, 10, 12};

static void make(tf *t, const char *p, const char *value)
{
    const char *kv[] = {"p", p, "scale", "0.05, 0.4", "ratio", "0.4, 2.5", "value", value};
    tf_make_ok(t, "random_erasing", kv, 4);
    tf_setup_ok(t, NN_F32, 3, shape);
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = 10.0f + (float)i; /* never equal to a value the tests erase with */
}

/* applies sample k and compares with the transcription; value_of(c) for a constant fill, or
 * normals for random. returns whether the sample was erased. */
static int check_sample(tf *t, uint64_t k, double p, const float *values, int n_values)
{
    const double s[2] = {0.05, 0.4}, q[2] = {0.4, 2.5};
    tf_apply(t, 31, k);
    nn_rng r;
    nn_rng_init(&r, 31, 0, k, 0);
    ref_box b = ref_draw(&r, 10, 12, p, s, q);
    const float *x = NN_F32P(t->in), *y = NN_F32P(t->out);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < 10; i++)
            for (int64_t j = 0; j < 12; j++) {
                int64_t e = (c * 10 + i) * 12 + j;
                int inside = b.erased && i >= b.i && i < b.i + b.h && j >= b.j && j < b.j + b.w;
                float want = !inside ? x[e] : n_values ? values[n_values > 1 ? c : 0]
                                                       : (float)nn_rng_normal(&r);
                cr_assert_eq(y[e], want, "sample %llu element %lld", (unsigned long long)k,
                             (long long)e);
            }
    return b.erased;
}

Test(random_erasing, a_constant_fills_the_box_torchvision_draws)
{
    tf t;
    make(&t, "1", "0");
    const float zero = 0.0f;
    for (uint64_t k = 0; k < 50; k++)
        cr_assert(check_sample(&t, k, 1.0, &zero, 1), "p = 1 erases every sample");
    tf_free(&t);
}

Test(random_erasing, per_channel_values_and_random_noise_fill_alike)
{
    tf t;
    make(&t, "1", "0.485, 0.456, 0.406");
    const float v[3] = {0.485f, 0.456f, 0.406f};
    for (uint64_t k = 0; k < 20; k++)
        check_sample(&t, k, 1.0, v, 3);
    tf_free(&t);
    make(&t, "1", "random");
    for (uint64_t k = 0; k < 20; k++)
        check_sample(&t, k, 1.0, NULL, 0);
    tf_free(&t);
}

Test(random_erasing, p_is_the_probability_of_erasing)
{
    tf t;
    make(&t, "0.5", "-1");
    const float v = -1.0f;
    int erased = 0;
    for (uint64_t k = 0; k < 400; k++)
        erased += check_sample(&t, k, 0.5, &v, 1);
    cr_assert(erased > 160 && erased < 240, "%d of 400 erased at p = 0.5", erased);
    tf_free(&t);
}

Test(random_erasing, the_box_area_and_ratio_stay_in_their_ranges)
{
    tf t;
    make(&t, "1", "-1");
    for (uint64_t k = 0; k < 200; k++) {
        tf_apply(&t, 5, k);
        int64_t n = 0, top = 99, left = 99, bottom = -1, right = -1;
        for (int64_t i = 0; i < 10; i++)
            for (int64_t j = 0; j < 12; j++)
                if (NN_F32P(t.out)[i * 12 + j] == -1.0f) {
                    n++;
                    top = i < top ? i : top;
                    left = j < left ? j : left;
                    bottom = i > bottom ? i : bottom;
                    right = j > right ? j : right;
                }
        if (n == 0)
            continue; /* ten tries without a fit */
        int64_t h = bottom - top + 1, w = right - left + 1;
        cr_assert_eq(n, h * w, "the erased pixels form a box");
        /* rounding each side moves the area and the ratio a little past the drawn ones */
        double area = (double)n / 120.0, ratio = (double)h / (double)w;
        cr_assert(area > 0.05 * 0.5 && area < 0.4 * 1.6, "area fraction %g", area);
        cr_assert(ratio > 0.4 * 0.5 && ratio < 2.5 * 2, "ratio %g", ratio);
    }
    tf_free(&t);
}

Test(random_erasing, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "1", "random");
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_erasing, bad_parameters_are_rejected_naming_the_key)
{
    const char *word[] = {"value", "noise"};
    tf_assert_rejects("random_erasing", word, 1, "value");
    const char *junk[] = {"value", "1, x"};
    tf_assert_rejects("random_erasing", junk, 1, "value");
    const char *p[] = {"p", "1.5"};
    tf_assert_rejects("random_erasing", p, 1, "p");
    const char *order[] = {"scale", "0.4, 0.1"};
    tf_assert_rejects("random_erasing", order, 1, "scale");
    const char *big[] = {"scale", "0.1, 2"};
    tf_assert_rejects("random_erasing", big, 1, "scale");
    const char *ratio[] = {"ratio", "0"};
    tf_assert_rejects("random_erasing", ratio, 1, "ratio");
    /* two values for a three-channel image: refused at setup, naming the key and the shape */
    const char *two[] = {"value", "0.1, 0.2"};
    tf t;
    tf_make_ok(&t, "random_erasing", two, 1);
    nn_error e = {0};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "'value'") && strstr(e.msg, "[3, 10, 12]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_erasing, a_waveform_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "random_erasing", NULL, 0);
    nn_error e = {0};
    int64_t wave[2] = {1, 16000};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, wave, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_erasing") && strstr(e.msg, "[1, 16000]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_erasing, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_erasing");
}
