/* test_sequence_pool.c: mean, max, last and first over time against a direct computation,
 * with padding from token ids, an F32 mask and lengths (and an all-padding sample),
 * gradients against finite differences, and the error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char *const modes[] = {"mean", "max", "last", "first"};

/* pad: 0 none, 1 I32 ids (pad_id 9), 2 F32 mask, 3 I64 lengths; sample n has n % (T + 1)
 * padded positions at the end (sample T has none real), plus position 0 padded for n == 1 */
static int open_sp(nnt_layer *L, int mode, int pad, int64_t N, int64_t T, int64_t C,
                   int training, nn_error *err)
{
    char km[32];
    snprintf(km, sizeof km, "mode=%s", modes[mode]);
    const char *kv[] = {km, "pad_id=9", NULL};
    const int64_t sh[2][NN_MAX_DIMS] = {{N, T, C}, {N, T}};
    const int nds[2] = {3, pad == 3 ? 1 : 2};
    const nn_dtype dts[2] = {NN_F32, pad == 2 ? NN_F32 : pad == 3 ? NN_I64 : NN_I32};
    int rc = nnt_layer_open(L, "sequence_pool", kv, pad ? 2 : 1, nds, sh, dts, training, 1, err);
    if (rc || !pad)
        return rc;
    for (int64_t n = 0; n < N; n++) {
        int64_t len = T - n % (T + 1);
        if (pad == 3)
            NN_I64P(L->inputs[1])[n] = len;
        for (int64_t t = 0; pad != 3 && t < T; t++) {
            int padded = t >= len || (n == 1 && t == 0);
            if (pad == 1)
                NN_I32P(L->inputs[1])[n * T + t] = padded ? 9 : 4;
            else
                NN_F32P(L->inputs[1])[n * T + t] = padded ? 1.0f : 0.0f;
        }
    }
    return rc;
}

static int padded(int pad, int64_t n, int64_t t, int64_t T)
{
    return pad && (t >= T - n % (T + 1) || (pad != 3 && n == 1 && t == 0));
}

Test(sequence_pool, every_mode_pools_the_real_positions_only)
{
    const int64_t N = 6, T = 5, C = 3;
    for (int mode = 0; mode < 4; mode++)
        for (int pad = 0; pad < 4; pad++) {
            nnt_layer L;
            nn_error err = {0};
            cr_assert_eq(open_sp(&L, mode, pad, N, T, C, 0, &err), NN_OK, "%s", err.msg);
            cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
            const float *x = NN_F32P(L.inputs[0]), *y = NN_F32P(L.output);
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < C; c++) {
                    double sum = 0, mx = -INFINITY, last = 0, first = NAN;
                    int count = 0;
                    for (int64_t t = 0; t < T; t++) {
                        if (padded(pad, n, t, T))
                            continue;
                        double v = x[(n * T + t) * C + c];
                        sum += v;
                        mx = fmax(mx, v);
                        last = v;
                        if (isnan(first))
                            first = v;
                        count++;
                    }
                    double want = count == 0      ? 0
                                  : mode == 0     ? sum / count
                                  : mode == 1     ? mx
                                  : mode == 2     ? last
                                                  : first;
                    cr_assert_float_eq(y[n * C + c], want, 1e-6, "%s pad %d n %lld c %lld",
                                       modes[mode], pad, (long long)n, (long long)c);
                }
            nnt_layer_close(&L);
        }
}

Test(sequence_pool, backward_matches_finite_differences)
{
    for (int mode = 0; mode < 4; mode++)
        for (int pad = 0; pad < 4; pad += 3) {
            nnt_layer L;
            nn_error err = {0};
            char worst[256];
            cr_assert_eq(open_sp(&L, mode, pad, 7, 6, 2, 1, &err), NN_OK, "%s", err.msg);
            /* values 0.1 apart over time (5 is prime to T = 6), so no step of eps = 1e-2
             * changes which position is the maximum */
            for (int64_t n = 0; n < 7; n++)
                for (int64_t t = 0; t < 6; t++)
                    for (int64_t c = 0; c < 2; c++)
                        NN_F32P(L.inputs[0])[(n * 6 + t) * 2 + c] =
                            0.1f * (float)((t * 5 + n + 2 * c) % 6) - 0.3f;
            /* piecewise linear away from ties: float rounding only; floor 1e-2, bound 1e-3 */
            double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
            cr_assert_lt(e, 1e-3, "%s pad %d: %s", modes[mode], pad, worst);
            nnt_layer_close(&L);
        }
}

Test(sequence_pool, shape_errors_name_the_layer)
{
    nnt_layer L;
    nn_error err = {0};
    const int64_t sh[2][NN_MAX_DIMS] = {{2, 3, 4}, {2, 4}};
    const int nds[2] = {3, 2};
    const nn_dtype dts[2] = {NN_F32, NN_I32};
    cr_assert_eq(nnt_layer_open(&L, "sequence_pool", NULL, 2, nds, sh, dts, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "padding input", "[2, 4]",
                                                 "[2, 3]", NULL}),
              "%s", err.msg);
    const int nd2[1] = {2};
    cr_assert_eq(nnt_layer_open(&L, "sequence_pool", NULL, 1, nd2, sh, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"[batch, time, channels]", NULL}), "%s",
              err.msg);
    const char *bad[] = {"mode=median", NULL};
    cr_assert_neq(nnt_layer_open(&L, "sequence_pool", bad, 1, nds, sh, NULL, 0, 0, &err), NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"mode", NULL}), "%s", err.msg);
}

Test(sequence_pool, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "sequence_pool", why, sizeof why), "%s",
              why);
}
