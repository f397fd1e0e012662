/* test_mixup.c: the batch transform mixup against an independent transcription of torchvision's
 * RandomMixup (the p draw, lambda ~ Beta(alpha, alpha), the batch rolled by one, one-hot
 * targets mixed and smoothed) on the same stream, the distribution of lambda, partial batches,
 * F32 targets, and the parameter and setup checks. */
#include "tfb_fixture.h"

enum { C = 5 };
static const int64_t shape[2] = {3, 4};

static void make(tfb *b, const char *alpha, const char *p, const char *smoothing, int64_t rows)
{
    const char *kv[] = {"alpha", alpha, "p", p, "label_smoothing", smoothing};
    tf_make_ok(&b->t, "mixup", kv, 3);
    nn_error e = {0};
    cr_assert_eq(tfb_setup(b, NN_F32, 2, shape, NN_I32, 0, NULL, C, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(nn_tensor_dtype(&b->tout), NN_F32);
    cr_assert_eq(b->tout.dl.ndim, 1);
    cr_assert_eq(b->tout.shape[0], C, "class ids become probabilities over the C classes");
    tfb_alloc(b, rows);
}

/* row i of x: 100 i + j, never equal across rows; class ids in a pattern with neighbours that
 * differ and some that match */
static void fill(tfb *b, float *x0, int32_t *y0)
{
    const int64_t d = 12;
    for (int64_t i = 0; i < b->rows; i++) {
        for (int64_t j = 0; j < d; j++)
            x0[i * d + j] = NN_F32P(b->x)[i * d + j] = (float)(100 * i + j) * 0.01f;
        y0[i] = NN_I32P(b->y)[i] = (int32_t)((i * 3 + i / 4) % C);
    }
}

/* torchvision's RandomMixup on (x0, y0) with the stream of batch `index`; returns lambda (1
 * when the batch is left alone) and writes the expected batch and targets */
static double reference(const float *x0, const int32_t *y0, int64_t n, double alpha, double p,
                        double e, uint64_t seed, uint64_t index, float *x, float *t)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, index, 2);
    double lam = 1;
    if (nn_rng_uniform(&r) < p) /* torch.rand(1).item() >= p returns unchanged */
        lam = ref_beta(&r, alpha);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = (i + n - 1) % n; /* batch.roll(1, 0)[i] = batch[i - 1] */
        for (int64_t k = 0; k < 12; k++)
            x[i * 12 + k] = (float)lam * x0[i * 12 + k] + (float)(1 - lam) * x0[j * 12 + k];
        for (int64_t c = 0; c < C; c++)
            t[i * C + c] = (float)((1 - e) * (lam * (y0[i] == c) + (1 - lam) * (y0[j] == c)) +
                                   e / C);
    }
    return lam;
}

static void check_batches(const char *alpha, double a, double p, double e, int64_t rows)
{
    tfb b;
    char ps[32], es[32];
    snprintf(ps, sizeof ps, "%g", p);
    snprintf(es, sizeof es, "%g", e);
    make(&b, alpha, ps, es, rows);
    static float x0[64 * 12], x[64 * 12], t[64 * C];
    static int32_t y0[64];
    int mixed = 0;
    for (uint64_t k = 0; k < 60; k++) {
        fill(&b, x0, y0);
        tfb_apply(&b, 77, k);
        double lam = reference(x0, y0, rows, a, p, e, 77, k, x, t);
        mixed += lam != 1;
        for (int64_t i = 0; i < rows * 12; i++)
            cr_assert_float_eq(NN_F32P(b.x)[i], x[i], 2e-6, "batch %llu element %lld: %g vs %g",
                               (unsigned long long)k, (long long)i, NN_F32P(b.x)[i], x[i]);
        for (int64_t i = 0; i < rows * C; i++)
            cr_assert_float_eq(NN_F32P(b.yout)[i], t[i], 1e-6, "batch %llu target %lld: %g vs %g",
                               (unsigned long long)k, (long long)i, NN_F32P(b.yout)[i], t[i]);
    }
    if (p > 0 && p < 1)
        cr_assert(mixed > 5 && mixed < 55, "p = %g mixed %d of 60 batches", p, mixed);
    tfb_free(&b);
}

Test(mixup, matches_torchvision_draws_and_results)
{
    check_batches("1.0", 1.0, 1.0, 0, 8);
    check_batches("0.2", 0.2, 0.5, 0, 8);
    check_batches("2.5", 2.5, 0.7, 0.1, 5);
}

Test(mixup, p_zero_keeps_the_batch_and_gives_one_hot_targets)
{
    tfb b;
    make(&b, "1", "0", "0.2", 6);
    static float x0[6 * 12];
    static int32_t y0[6];
    fill(&b, x0, y0);
    tfb_apply(&b, 3, 9);
    cr_assert_eq(memcmp(NN_F32P(b.x), x0, sizeof x0), 0, "an unmixed batch is left as it is");
    for (int64_t i = 0; i < 6; i++)
        for (int64_t c = 0; c < C; c++)
            cr_assert_float_eq(NN_F32P(b.yout)[i * C + c], (y0[i] == c ? 0.8 : 0) + 0.2 / C,
                               1e-7);
    tfb_free(&b);
}

/* lambda read back from the targets follows Beta(alpha, alpha): mean 1/2, variance
 * 1 / (4 (2 alpha + 1)), and for alpha = 1 the uniform distribution (Kolmogorov-Smirnov) */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

Test(mixup, lambda_follows_beta_alpha_alpha)
{
    const char *alphas[] = {"0.2", "1", "4"};
    const double av[] = {0.2, 1, 4};
    enum { DRAWS = 4000 };
    static double lam[DRAWS];
    for (int a = 0; a < 3; a++) {
        tfb b;
        make(&b, alphas[a], "1", "0", 2);
        double m = 0, v = 0;
        for (int k = 0; k < DRAWS; k++) {
            NN_I32P(b.y)[0] = 0;
            NN_I32P(b.y)[1] = 1;
            tfb_apply(&b, 5, (uint64_t)k);
            lam[k] = NN_F32P(b.yout)[0]; /* row 0: lam of class 0, 1 - lam of class 1 */
            cr_assert(lam[k] >= 0 && lam[k] <= 1);
            m += lam[k];
        }
        m /= DRAWS;
        for (int k = 0; k < DRAWS; k++)
            v += (lam[k] - m) * (lam[k] - m);
        v /= DRAWS - 1;
        double want_v = 1 / (4 * (2 * av[a] + 1));
        cr_assert(fabs(m - 0.5) < 4 * sqrt(want_v / DRAWS), "alpha %s: mean %g", alphas[a], m);
        cr_assert(fabs(v / want_v - 1) < 0.1, "alpha %s: variance %g, Beta's %g", alphas[a], v,
                  want_v);
        if (av[a] == 1) {
            qsort(lam, DRAWS, sizeof *lam, cmp_double);
            double ks = 0;
            for (int k = 0; k < DRAWS; k++)
                ks = fmax(ks, fmax(fabs((k + 1.0) / DRAWS - lam[k]),
                                   fabs(lam[k] - (double)k / DRAWS)));
            cr_assert_lt(ks, 1.63 / sqrt(DRAWS), "KS distance %g from the uniform (1%% level)", ks);
        }
        tfb_free(&b);
    }
}

Test(mixup, a_one_row_batch_is_its_own_partner)
{
    tfb b;
    make(&b, "1", "1", "0", 1);
    static float x0[12];
    static int32_t y0[1];
    fill(&b, x0, y0);
    tfb_apply(&b, 8, 2);
    for (int64_t i = 0; i < 12; i++)
        cr_assert_float_eq(NN_F32P(b.x)[i], x0[i], 1e-6);
    for (int64_t c = 0; c < C; c++)
        cr_assert_float_eq(NN_F32P(b.yout)[c], y0[0] == c, 1e-6);
    tfb_free(&b);
}

/* after another batch transform the targets are probabilities; regression values are mixed
 * as they are */
Test(mixup, f32_targets_are_mixed_as_they_are)
{
    tfb b;
    const char *kv[] = {"p", "1"};
    tf_make_ok(&b.t, "mixup", kv, 1);
    const int64_t two = 2;
    nn_error e = {0};
    cr_assert_eq(tfb_setup(&b, NN_F32, 2, shape, NN_F32, 1, &two, 0, &e), NN_OK, "%s", e.msg);
    cr_assert(nn_shape_equal(&b.tout, &b.target), "F32 [2] stays F32 [2]");
    tfb_alloc(&b, 3);
    const float y[] = {1, 2, 10, 20, 100, 200};
    memcpy(NN_F32P(b.y), y, sizeof y);
    memset(NN_F32P(b.x), 0, 3 * 12 * sizeof(float));
    tfb_apply(&b, 4, 4);
    nn_rng r;
    nn_rng_init(&r, 4, 0, 4, 2);
    (void)nn_rng_uniform(&r);
    double lam = ref_beta(&r, 1.0);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            cr_assert_float_eq(NN_F32P(b.yout)[i * 2 + k],
                               lam * y[i * 2 + k] + (1 - lam) * y[((i + 2) % 3) * 2 + k],
                               1e-4, "row %d", i);
    tfb_free(&b);
}

Test(mixup, a_class_id_out_of_range_names_the_sample)
{
    tfb b;
    make(&b, "1", "1", "0", 4);
    static float x0[4 * 12];
    static int32_t y0[4];
    fill(&b, x0, y0);
    NN_I32P(b.y)[2] = C;
    nn_error e = {0};
    cr_assert_eq(tfb_try(&b, 1, 1, &e), NN_EINVAL);
    cr_assert(strstr(e.msg, "sample 1002") && strstr(e.msg, "class id 5") &&
              strstr(e.msg, "[0, 5)"), "%s", e.msg);
    tfb_free(&b);
}

Test(mixup, rejects_bad_parameters_naming_the_key)
{
    tf_assert_rejects("mixup", (const char *[]){"alpha", "0"}, 1, "alpha");
    tf_assert_rejects("mixup", (const char *[]){"alpha", "-1"}, 1, "alpha");
    tf_assert_rejects("mixup", (const char *[]){"p", "1.5"}, 1, "p");
    tf_assert_rejects("mixup", (const char *[]){"label_smoothing", "1"}, 1, "label_smoothing");
    tf_assert_rejects("mixup", (const char *[]){"lambda", "0.5"}, 1, "lambda");
}

static void expect_setup_error(nn_dtype dt, nn_dtype tdt, int tndim, const int64_t *tshape,
                               int64_t n_classes, const char *smoothing, const char *needle)
{
    tfb b;
    memset(&b, 0, sizeof b);
    const char *kv[] = {"label_smoothing", smoothing};
    tf_make_ok(&b.t, "mixup", kv, 1);
    nn_error e = {0};
    cr_assert_neq(tfb_setup(&b, dt, 2, shape, tdt, tndim, tshape, n_classes, &e), NN_OK,
                  "accepted");
    cr_assert(strstr(e.msg, "mixup") && strstr(e.msg, needle), "%s", e.msg);
    tf_free(&b.t);
}

Test(mixup, setup_rejects_what_it_cannot_mix)
{
    const int64_t one = 1;
    expect_setup_error(NN_U8, NN_I32, 0, NULL, C, "0", "U8 [3, 4]");
    expect_setup_error(NN_F32, NN_I32, 0, NULL, 0, "0", "I32 [] with 0 classes");
    expect_setup_error(NN_F32, NN_I64, 1, &one, C, "0", "I64 [1]");
    expect_setup_error(NN_F32, NN_F32, 1, &one, 0, "0.1", "'label_smoothing'");
}

Test(mixup, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("mixup");
}
