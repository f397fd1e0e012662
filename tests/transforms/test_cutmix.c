/* test_cutmix.c: the batch transform cutmix against an independent transcription of
 * torchvision's RandomCutmix (the p draw, lambda ~ Beta(alpha, alpha), the box centre, its
 * half-sides int(0.5 sqrt(1 - lambda) W or H) cut at the edges, the box pasted from the image
 * before, lambda then the area left) on the same stream; partial batches, the area rule, and
 * the parameter and setup checks (images [C, H, W] only). */
#include "tfb_fixture.h"

enum { K = 4 }; /* classes */

typedef struct box {
    int64_t x1, y1, x2, y2;
    double lam;
    int applied;
} box;

/* torchvision: r_x = randint(W), r_y = randint(H); r = 0.5 sqrt(1 - lam); r_w_half = int(r W)
 * ...; x1 = clamp(r_x - r_w_half, min 0), x2 = clamp(r_x + r_w_half, max W); lam = 1 -
 * (x2 - x1)(y2 - y1) / (W H) */
static box ref_box(uint64_t seed, uint64_t index, double alpha, double p, int64_t H, int64_t W)
{
    box b = {0, 0, 0, 0, 1.0, 0};
    nn_rng r;
    nn_rng_init(&r, seed, 0, index, 2);
    if (nn_rng_uniform(&r) >= p)
        return b;
    b.applied = 1;
    double lam = ref_beta(&r, alpha);
    int64_t rx = (int64_t)nn_rng_below(&r, (uint64_t)W);
    int64_t ry = (int64_t)nn_rng_below(&r, (uint64_t)H);
    double rr = 0.5 * sqrt(1.0 - lam);
    int64_t rw = (int64_t)(rr * (double)W), rh = (int64_t)(rr * (double)H);
    b.x1 = rx - rw < 0 ? 0 : rx - rw;
    b.y1 = ry - rh < 0 ? 0 : ry - rh;
    b.x2 = rx + rw > W ? W : rx + rw;
    b.y2 = ry + rh > H ? H : ry + rh;
    b.lam = 1.0 - (double)((b.x2 - b.x1) * (b.y2 - b.y1)) / (double)(W * H);
    return b;
}

static void make(tfb *b, const char *alpha, const char *p, const char *smoothing,
                 const int64_t chw[3], int64_t rows)
{
    const char *kv[] = {"alpha", alpha, "p", p, "label_smoothing", smoothing};
    tf_make_ok(&b->t, "cutmix", kv, 3);
    nn_error e = {0};
    cr_assert_eq(tfb_setup(b, NN_F32, 3, chw, NN_I32, 0, NULL, K, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(b->tout.shape[0], K);
    tfb_alloc(b, rows);
}

static void fill(tfb *b, float *x0, int32_t *y0, int64_t d)
{
    for (int64_t i = 0; i < b->rows; i++) {
        for (int64_t j = 0; j < d; j++)
            x0[i * d + j] = NN_F32P(b->x)[i * d + j] = (float)(1000 * i + j);
        y0[i] = NN_I32P(b->y)[i] = (int32_t)((i * 3 + 1) % K);
    }
}

static void check(const char *alpha, double a, double p, double e, const int64_t chw[3],
                  int64_t rows, int *pasted)
{
    tfb b;
    char ps[32], es[32];
    snprintf(ps, sizeof ps, "%g", p);
    snprintf(es, sizeof es, "%g", e);
    make(&b, alpha, ps, es, chw, rows);
    const int64_t C = chw[0], H = chw[1], W = chw[2], d = C * H * W;
    float *x0 = malloc(sizeof(float) * (size_t)(rows * d));
    int32_t y0[16];
    cr_assert(x0 && rows <= 16);
    for (uint64_t k = 0; k < 80; k++) {
        fill(&b, x0, y0, d);
        tfb_apply(&b, 21, k);
        box r = ref_box(21, k, a, p, H, W);
        *pasted += r.applied && r.x2 > r.x1 && r.y2 > r.y1;
        for (int64_t i = 0; i < rows; i++) {
            int64_t j = (i + rows - 1) % rows;
            for (int64_t c = 0; c < C; c++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++) {
                        int in = r.applied && y >= r.y1 && y < r.y2 && x >= r.x1 && x < r.x2;
                        int64_t at = (c * H + y) * W + x;
                        float want = x0[(in ? j : i) * d + at];
                        cr_assert_eq(NN_F32P(b.x)[i * d + at], want, "batch %llu image %lld "
                                     "(%lld, %lld, %lld)", (unsigned long long)k, (long long)i,
                                     (long long)c, (long long)y, (long long)x);
                    }
            for (int64_t c = 0; c < K; c++) {
                double want = (1 - e) * (r.lam * (y0[i] == c) + (1 - r.lam) * (y0[j] == c)) +
                              e / K;
                cr_assert_float_eq(NN_F32P(b.yout)[i * K + c], want, 1e-6, "batch %llu target "
                                   "%lld class %lld", (unsigned long long)k, (long long)i,
                                   (long long)c);
            }
        }
    }
    free(x0);
    tfb_free(&b);
}

Test(cutmix, matches_torchvision_draws_and_results)
{
    int pasted = 0;
    check("1.0", 1.0, 1.0, 0, (const int64_t[]){3, 8, 8}, 6, &pasted);
    cr_assert_gt(pasted, 50, "p = 1 should paste a box in most batches (%d of 80)", pasted);
    pasted = 0;
    check("0.4", 0.4, 0.5, 0.1, (const int64_t[]){2, 5, 9}, 4, &pasted);
    cr_assert(pasted > 10 && pasted < 70, "p = 0.5 pasted %d of 80", pasted);
    pasted = 0;
    check("3", 3.0, 0.9, 0, (const int64_t[]){1, 7, 3}, 1, &pasted);
}

/* the target weight of the image itself is exactly the share of its pixels it kept */
Test(cutmix, the_target_weight_is_the_area_kept)
{
    tfb b;
    const int64_t chw[3] = {1, 10, 10};
    make(&b, "1", "1", "0", chw, 2);
    int checked = 0;
    for (uint64_t k = 0; k < 200; k++) {
        for (int64_t j = 0; j < 100; j++) {
            NN_F32P(b.x)[j] = 0;
            NN_F32P(b.x)[100 + j] = 1;
        }
        NN_I32P(b.y)[0] = 0;
        NN_I32P(b.y)[1] = 1;
        tfb_apply(&b, 6, k);
        double kept = 0;
        for (int64_t j = 0; j < 100; j++)
            kept += NN_F32P(b.x)[j] == 0;
        cr_assert_float_eq(NN_F32P(b.yout)[0], kept / 100, 1e-6, "batch %llu",
                           (unsigned long long)k);
        checked += kept < 100;
    }
    cr_assert_gt(checked, 100);
    tfb_free(&b);
}

Test(cutmix, rejects_bad_parameters_naming_the_key)
{
    tf_assert_rejects("cutmix", (const char *[]){"alpha", "0"}, 1, "alpha");
    tf_assert_rejects("cutmix", (const char *[]){"p", "-0.5"}, 1, "p");
    tf_assert_rejects("cutmix", (const char *[]){"label_smoothing", "2"}, 1, "label_smoothing");
    tf_assert_rejects("cutmix", (const char *[]){"beta", "1"}, 1, "beta");
}

Test(cutmix, setup_takes_images_c_h_w_only)
{
    const int64_t flat[1] = {12}, chw[3] = {1, 4, 4}, hw[2] = {4, 4};
    struct {
        nn_dtype dt;
        int ndim;
        const int64_t *shape;
        const char *needle;
    } bad[] = {{NN_F32, 1, flat, "F32 [12]"}, {NN_F32, 2, hw, "F32 [4, 4]"},
               {NN_U8, 3, chw, "U8 [1, 4, 4]"}};
    for (int k = 0; k < 3; k++) {
        tfb b;
        memset(&b, 0, sizeof b);
        tf_make_ok(&b.t, "cutmix", NULL, 0);
        nn_error e = {0};
        cr_assert_neq(tfb_setup(&b, bad[k].dt, bad[k].ndim, bad[k].shape, NN_I32, 0, NULL, K, &e),
                      NN_OK, "case %d accepted", k);
        cr_assert(strstr(e.msg, "cutmix") && strstr(e.msg, "[C, H, W]") &&
                      strstr(e.msg, bad[k].needle), "%s", e.msg);
        tf_free(&b.t);
    }
}

Test(cutmix, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("cutmix");
}
