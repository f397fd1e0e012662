/* test_global_avgpool.c: the spatial mean [N, C, H, W] -> [N, C] against a naive loop (batch
 * 1, odd and 1x1 planes), its backward (dx = dy / (H W)) against finite differences, and its
 * error messages. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"

static const int64_t shapes[][NN_MAX_DIMS] = {
    {1, 1, 1, 1}, {1, 3, 5, 7}, {4, 2, 1, 9}, {2, 64, 7, 7}, {3, 5, 13, 11}};

Test(global_avgpool, forward_matches_the_mean_of_each_plane)
{
    const int nd = 4;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(nnt_layer_open(&L, "global_avgpool", NULL, 1, &nd, &shapes[k], NULL, 0, 0,
                                    &err),
                     NN_OK, "%s", err.msg);
        cr_assert_eq(L.output->dl.ndim, 2);
        cr_assert_eq(L.output->shape[0], shapes[k][0]);
        cr_assert_eq(L.output->shape[1], shapes[k][1]);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        int64_t hw = shapes[k][2] * shapes[k][3];
        for (int64_t p = 0; p < shapes[k][0] * shapes[k][1]; p++) {
            double s = 0;
            for (int64_t i = 0; i < hw; i++)
                s += NN_F32P(L.inputs[0])[p * hw + i];
            double got = NN_F32P(L.output)[p];
            cr_assert(fabs(got - s / (double)hw) <= 1e-6, "shape %zu plane %lld: %.7g, want %.7g",
                      k, (long long)p, got, s / (double)hw);
        }
        nnt_layer_close(&L);
    }
}

Test(global_avgpool, backward_matches_finite_differences)
{
    const int nd = 4;
    for (size_t k = 0; k < 3; k++) {
        nnt_layer L;
        nn_error err = {0};
        char worst[256];
        cr_assert_eq(nnt_layer_open(&L, "global_avgpool", NULL, 1, &nd, &shapes[k + 1], NULL, 1,
                                    1, &err),
                     NN_OK, "%s", err.msg);
        /* linear: only float rounding over 2 eps (~1e-5 with eps 1e-2); floor 1e-2; bound 1e-3 */
        double e = nnt_gradcheck(&L, 1e-2, 1e-2, worst, sizeof worst);
        cr_assert_lt(e, 1e-3, "shape %zu: %s", k, worst);
        nnt_layer_close(&L);
    }
}

Test(global_avgpool, rejects_unknown_keys_and_non_image_inputs)
{
    const int64_t flat[][NN_MAX_DIMS] = {{3, 10}};
    const int nd2 = 2, nd4 = 4;
    const char *kv[] = {"kernel=2", NULL};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_neq(nnt_layer_open(&L, "global_avgpool", kv, 1, &nd4, shapes, NULL, 0, 0, &err),
                  NN_OK);
    cr_assert(nnt_msg_has(&err, (const char *[]){"kernel", NULL}), "%s", err.msg);
    cr_assert_eq(nnt_layer_open(&L, "global_avgpool", NULL, 1, &nd2, flat, NULL, 0, 0, &err),
                 NN_ESHAPE);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[3, 10]", NULL}), "%s", err.msg);
}

Test(global_avgpool, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "global_avgpool", why, sizeof why),
              "%s", why);
}
