/* test_maxpool2d.c: max pooling against a naive loop (kernel, stride incl. overlapping windows,
 * padding, batch 1, odd sizes), its backward against a naive argmax scatter and finite
 * differences, its SAVED argmax buffer, and its error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

typedef struct pool_case {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case cases[] = {
    /* n  c  h   w  kh kw sh sw ph pw */
    {1, 1, 2, 2, 2, 2, 2, 2, 0, 0},
    {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},   /* overlapping, padded, odd */
    {3, 2, 8, 5, 2, 3, 1, 2, 1, 0},   /* stride 1: heavy overlap */
    {2, 32, 28, 28, 2, 2, 2, 2, 0, 0}, /* the CNN's pool */
    {1, 4, 5, 11, 3, 2, 3, 1, 0, 1},
};

static int open_pool(nnt_layer *L, const pool_case *c, int training, nn_error *err)
{
    char k[3][48];
    snprintf(k[0], sizeof k[0], "kernel=%lld,%lld", (long long)c->kh, (long long)c->kw);
    snprintf(k[1], sizeof k[1], "stride=%lld,%lld", (long long)c->sh, (long long)c->sw);
    snprintf(k[2], sizeof k[2], "padding=%lld,%lld", (long long)c->ph, (long long)c->pw);
    const char *kv[] = {k[0], k[1], k[2], NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{c->n, c->c, c->h, c->w}};
    const int nd = 4;
    return nnt_layer_open(L, "maxpool2d", kv, 1, &nd, shape, NULL, training, 1, err);
}

/* distinct values 0.01 apart, shuffled: no ties, and a step of 1e-3 never changes an argmax */
static void fill_distinct(nn_tensor *t, uint64_t seed)
{
    float *x = NN_F32P(t);
    int64_t n = nn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.01 * (double)(i - n / 2));
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nn_rng_below(&r, (uint64_t)i + 1);
        float tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
}

/* index of the max of window (i, j) of plane (n, ch), or -1 when it lies in padding only */
static int64_t argmax_ref(const pool_case *c, const float *x, int64_t plane, int64_t i, int64_t j)
{
    int64_t best = -1;
    for (int64_t u = 0; u < c->kh; u++)
        for (int64_t v = 0; v < c->kw; v++) {
            int64_t hi = i * c->sh - c->ph + u, wi = j * c->sw - c->pw + v;
            if (hi < 0 || hi >= c->h || wi < 0 || wi >= c->w)
                continue;
            int64_t idx = plane * c->h * c->w + hi * c->w + wi;
            if (best < 0 || x[idx] > x[best])
                best = idx;
        }
    return best;
}

Test(maxpool2d, forward_and_backward_match_a_naive_loop)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const pool_case *c = &cases[k];
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_pool(&L, c, 1, &err), NN_OK, "case %zu: %s", k, err.msg);
        fill_distinct(L.inputs[0], 5 + k);
        int64_t oh = (c->h + 2 * c->ph - c->kh) / c->sh + 1;
        int64_t ow = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
        cr_assert_eq(L.output->shape[2], oh);
        cr_assert_eq(L.output->shape[3], ow);
        cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
        nnt_fill_uniform(L.grad_output, 8, -1, 1);
        cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
        const float *x = NN_F32P(L.inputs[0]), *y = NN_F32P(L.output);
        const float *gy = NN_F32P(L.grad_output), *gx = NN_F32P(L.grad_inputs[0]);
        static double want_gx[2 * 32 * 28 * 28];
        memset(want_gx, 0, sizeof want_gx);
        for (int64_t p = 0; p < c->n * c->c; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int64_t a = argmax_ref(c, x, p, i, j), o = (p * oh + i) * ow + j;
                    cr_assert_eq(y[o], x[a], "case %zu: y[%lld] = %g, want %g", k, (long long)o,
                                 y[o], x[a]);
                    want_gx[a] += gy[o];
                }
        for (int64_t i = 0; i < nn_tensor_numel(L.inputs[0]); i++)
            cr_assert(fabs(gx[i] - want_gx[i]) <= 1e-6 * (1 + fabs(want_gx[i])),
                      "case %zu: dx[%lld] = %g, want %g", k, (long long)i, gx[i], want_gx[i]);
        nnt_layer_close(&L);
    }
}

Test(maxpool2d, eval_plan_matches_training_plan_and_keeps_no_saved_buffer)
{
    nnt_layer T, E;
    nn_error err = {0};
    cr_assert_eq(open_pool(&T, &cases[1], 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(open_pool(&E, &cases[1], 0, &err), NN_OK, "%s", err.msg);
    /* the only buffer kept from forward to backward is the argmax; the others (a blocked copy
     * of a plain input, oneDNN's scratchpad) live during one call */
    int saved = 0, eval_saved = 0;
    for (int b = 0; b < T.setup.n_buffers; b++)
        if (T.setup.buffers[b].kind == NN_BUF_SAVED) {
            saved++;
            cr_assert_str_eq(T.setup.buffers[b].name, "argmax");
        }
    for (int b = 0; b < E.setup.n_buffers; b++)
        eval_saved += E.setup.buffers[b].kind == NN_BUF_SAVED;
    cr_assert_eq(saved, 1);
    cr_assert_eq(eval_saved, 0);
    cr_assert_eq(nnt_forward(&T, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_forward(&E, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(NN_F32P(T.output), NN_F32P(E.output), nn_tensor_nbytes(E.output)), 0);
    nnt_layer_close(&T);
    nnt_layer_close(&E);
}

Test(maxpool2d, backward_matches_finite_differences)
{
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_pool(&L, &cases[2], 1, &err), NN_OK, "%s", err.msg);
    /* bound here, run on another thread as [train] replicas run it */
    cr_assert_eq(nnt_same_on_another_thread(&L, &err), NN_OK, "%s", err.msg);
    fill_distinct(L.inputs[0], 3);
    /* values are 0.01 apart, so a 1e-3 step never moves an argmax: the function is locally
     * linear and the only error is float rounding of sum(y .* R) over 2 eps (~1e-4) */
    double e = nnt_gradcheck(&L, 1e-3, 1e-2, worst, sizeof worst);
    cr_assert_lt(e, 1e-3, "%s", worst);
    nnt_layer_close(&L);
}

Test(maxpool2d, stride_defaults_to_the_kernel)
{
    const char *kv[] = {"kernel=3", NULL};
    const int64_t shape[][NN_MAX_DIMS] = {{1, 2, 10, 7}};
    const int nd = 4;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "maxpool2d", kv, 1, &nd, shape, NULL, 0, 0, &err), NN_OK,
                 "%s", err.msg);
    cr_assert_eq(L.output->shape[2], 3);
    cr_assert_eq(L.output->shape[3], 2);
    nnt_layer_close(&L);
}

Test(maxpool2d, each_bad_parameter_is_rejected_naming_its_key)
{
    static const struct {
        const char *kv[3];
        const char *key;
    } bad[] = {{{"kernel=0", NULL}, "kernel"},
               {{"kernel=2,2,2", NULL}, "kernel"},
               {{"kernel=2", "stride=0"}, "stride"},
               {{"kernel=2", "padding=-1"}, "padding"},
               {{"kernel=2", "padding=2"}, "padding"},
               {{"kernel=2", "size=2"}, "size"},
               {{NULL}, "kernel"}};
    const int64_t shape[][NN_MAX_DIMS] = {{1, 2, 8, 8}};
    const int nd = 4;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_neq(nnt_layer_open(&L, "maxpool2d", bad[i].kv, 1, &nd, shape, NULL, 0, 0, &err),
                      NN_OK, "case %zu accepted", i);
        cr_assert(nnt_msg_has(&err, (const char *[]){bad[i].key, NULL}), "%zu: %s", i, err.msg);
    }
}

Test(maxpool2d, shape_errors_name_the_input_shape)
{
    const char *kv[] = {"kernel=5", NULL};
    const int64_t small[][NN_MAX_DIMS] = {{1, 2, 4, 8}}, flat[][NN_MAX_DIMS] = {{3, 10}};
    const int nd4 = 4, nd2 = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "maxpool2d", kv, 1, &nd4, small, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[1, 2, 4, 8]", NULL}), "%s",
              err.msg);
    cr_assert_eq(nnt_layer_open(&L, "maxpool2d", kv, 1, &nd2, flat, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[3, 10]", "[N, C, H, W]", NULL}), "%s",
              err.msg);
}

Test(maxpool2d, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "maxpool2d", why, sizeof why), "%s",
              why);
}
