/* test_gaussian_blur.c: gaussian_blur against a direct 2D convolution with torchvision's kernel
 * and mirrored borders (also for a kernel wider than the image), sigma drawn from its range,
 * the probability p, determinism and parameter checks. */
#include "tf_fixture.h"

#include <math.h>

static void make(tf *t, const char *kernel, const char *sigma, const char *p,
                 const int64_t *shape)
{
    const char *kv[] = {"kernel_size", kernel, "sigma", sigma, "p", p};
    tf_make_ok(t, "gaussian_blur", kv, 3);
    tf_setup_ok(t, NN_F32, 3, shape);
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)((i * 53) % 89) / 88.0f;
}

/* mirror i into [0, n) one bounce at a time, the edge not repeated */
static int64_t mirror(int64_t i, int64_t n)
{
    while (n > 1 && (i < 0 || i >= n))
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return n > 1 ? i : 0;
}

/* out(c, i, j) = sum over the 2D kernel g(u) g(v) / (sum g)^2 of the mirrored input */
static void reference(const float *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                      double sigma, float *y)
{
    double sh = 0, sw = 0;
    for (int64_t u = 0; u < kh; u++)
        sh += exp(-pow((u - (kh - 1) / 2.0) / sigma, 2) / 2);
    for (int64_t v = 0; v < kw; v++)
        sw += exp(-pow((v - (kw - 1) / 2.0) / sigma, 2) / 2);
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                double acc = 0;
                for (int64_t u = 0; u < kh; u++)
                    for (int64_t v = 0; v < kw; v++) {
                        double g = exp(-pow((u - (kh - 1) / 2.0) / sigma, 2) / 2) *
                                   exp(-pow((v - (kw - 1) / 2.0) / sigma, 2) / 2) / (sh * sw);
                        acc += g * x[(c * H + mirror(i + u - kh / 2, H)) * W +
                                     mirror(j + v - kw / 2, W)];
                    }
                y[(c * H + i) * W + j] = (float)acc;
            }
}

static void check(const char *kernel, int64_t kh, int64_t kw, const int64_t *shape)
{
    tf t;
    make(&t, kernel, "1.3, 1.3", "1", shape);
    tf_apply(&t, 7, 1);
    int64_t n = nn_tensor_numel(t.in);
    float *want = malloc((size_t)n * sizeof *want);
    reference(NN_F32P(t.in), shape[0], shape[1], shape[2], kh, kw, 1.3, want);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabsf(NN_F32P(t.out)[i] - want[i]) < 1e-5f, "kernel %s element %lld: %g, "
                  "want %g", kernel, (long long)i, NN_F32P(t.out)[i], want[i]);
    free(want);
    tf_free(&t);
}

Test(gaussian_blur, matches_a_direct_convolution_with_mirrored_borders)
{
    const int64_t shape[3] = {2, 7, 9};
    check("5, 3", 5, 3, shape);
    check("3", 3, 3, shape);
}

Test(gaussian_blur, a_kernel_wider_than_the_image_mirrors_again)
{
    const int64_t tiny[3] = {1, 3, 2};
    check("9, 7", 9, 7, tiny);
    const int64_t line[3] = {1, 1, 4}; /* a single row: every row offset reads row 0 */
    check("5", 5, 5, line);
}

Test(gaussian_blur, rows_wider_than_its_row_buffer_blur_alike_in_one_pass)
{
    const int64_t wide[3] = {1, 3, 8200};
    check("3, 5", 3, 5, wide);
}

Test(gaussian_blur, kernel_size_1_is_the_identity)
{
    tf t;
    const int64_t shape[3] = {3, 4, 5};
    make(&t, "1", "0.1, 2", "1", shape);
    tf_apply(&t, 1, 2);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

Test(gaussian_blur, sigma_is_drawn_uniformly_from_its_range)
{
    /* a unit impulse: kx[3] / kx[2] = exp(-1 / (2 sigma^2)) tells the sigma used */
    tf t;
    const int64_t shape[3] = {1, 9, 9};
    make(&t, "5", "0.5, 1.5", "1", shape);
    memset(t.in->dl.data, 0, nn_tensor_nbytes(t.in));
    NN_F32P(t.in)[4 * 9 + 4] = 1.0f;
    double lo = 9, hi = 0, mean = 0;
    for (uint64_t k = 0; k < 300; k++) {
        tf_apply(&t, 12, k);
        double ratio = NN_F32P(t.out)[4 * 9 + 5] / NN_F32P(t.out)[4 * 9 + 4];
        double sigma = sqrt(-0.5 / log(ratio));
        cr_assert(sigma > 0.5 - 1e-3 && sigma < 1.5 + 1e-3, "sigma %g", sigma);
        lo = sigma < lo ? sigma : lo;
        hi = sigma > hi ? sigma : hi;
        mean += sigma / 300;
    }
    cr_assert(lo < 0.52 && hi > 1.48 && fabs(mean - 1.0) < 0.06, "lo %g hi %g mean %g", lo, hi,
              mean);
    tf_free(&t);
}

Test(gaussian_blur, p_is_the_probability_of_blurring)
{
    tf t;
    const int64_t shape[3] = {1, 5, 5};
    make(&t, "3", "1", "0.3", shape);
    int blurred = 0;
    for (uint64_t k = 0; k < 400; k++) {
        tf_apply(&t, 2, k);
        blurred += memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)) != 0;
    }
    cr_assert(blurred > 90 && blurred < 150, "%d of 400 blurred at p = 0.3", blurred);
    tf_free(&t);
    make(&t, "3", "1", "0", shape);
    tf_apply(&t, 2, 0);
    cr_assert_eq(memcmp(t.in->dl.data, t.out->dl.data, nn_tensor_nbytes(t.in)), 0);
    tf_free(&t);
}

Test(gaussian_blur, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    const int64_t shape[3] = {3, 6, 6};
    make(&t, "5", "0.1, 2", "1", shape);
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(gaussian_blur, bad_parameters_are_rejected_naming_the_key)
{
    const char *even[] = {"kernel_size", "4"};
    tf_assert_rejects("gaussian_blur", even, 1, "kernel_size");
    const char *even2[] = {"kernel_size", "3, 4"};
    tf_assert_rejects("gaussian_blur", even2, 1, "kernel_size");
    const char *three[] = {"kernel_size", "3, 3, 3"};
    tf_assert_rejects("gaussian_blur", three, 1, "kernel_size");
    const char *zero[] = {"kernel_size", "0"};
    tf_assert_rejects("gaussian_blur", zero, 1, "kernel_size");
    const char *s0[] = {"kernel_size", "3", "sigma", "0, 1"};
    tf_assert_rejects("gaussian_blur", s0, 2, "sigma");
    const char *order[] = {"kernel_size", "3", "sigma", "2, 1"};
    tf_assert_rejects("gaussian_blur", order, 2, "sigma");
    const char *p[] = {"kernel_size", "3", "p", "1.5"};
    tf_assert_rejects("gaussian_blur", p, 2, "p");
}

Test(gaussian_blur, a_waveform_is_rejected_naming_the_shape)
{
    const char *kv[] = {"kernel_size", "3"};
    tf t;
    tf_make_ok(&t, "gaussian_blur", kv, 1);
    nn_error e = {0};
    int64_t wave[2] = {1, 16000};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, wave, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "gaussian_blur") && strstr(e.msg, "[1, 16000]"), "%s", e.msg);
    tf_free(&t);
}

Test(gaussian_blur, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("gaussian_blur");
}
