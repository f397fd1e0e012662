/* pointwise_check.h: the gradient test the pointwise losses (mse, l1, huber) share, through
 * the SDK's checker (<nntrain/gradcheck.h>, the one `nntrain plugins test` runs) with a tight
 * tolerance: these losses are summed in double, so the differences carry almost no rounding
 * and the analytic gradient only its float32 rounding. Kinks (l1 at 0, huber at delta) are met
 * with one-sided differences. Test code. */
#ifndef NNT_POINTWISE_CHECK_H
#define NNT_POINTWISE_CHECK_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "harness.h"

/* shapes 1x1, 3x5 and 2x3x4, mean and sum, predictions and targets U(-3, 3) */
static inline void pointwise_gradient(const char *name, const char *extra)
{
    nnt_loss L;
    nn_error err = {0};
    const int64_t one[] = {1, 1};
    cr_assert_eq(nnt_loss_open(&L, name, NULL, 2, one, NN_F32, 2, one, &err), NN_OK, "%s",
                 err.msg);
    const char *const shapes[] = {"1x1", "3x5", "2x3x4"};
    nn_gradcheck_opts o = {.struct_size = sizeof o, .rtol = 1e-5};
    for (int k = 0; k < 3; k++)
        for (int sum = 0; sum < 2; sum++) {
            const char *kv[] = {sum ? "reduction=sum" : "reduction=mean", extra, NULL};
            char pred[64], target[64];
            snprintf(pred, sizeof pred, "%s f32 [-3, 3]", shapes[k]);
            snprintf(target, sizeof target, "%s f32 [-3, 3]", shapes[k]);
            for (uint64_t seed = 1; seed <= 3; seed++) {
                nn_gradcheck_result res;
                o.seed = seed;
                cr_assert_eq(nn_gradcheck_loss(L.inst.desc, kv, pred, target, &o, &res, &err),
                             NN_OK, "%s on %s, %s, seed %llu: %s", name, pred, kv[0],
                             (unsigned long long)seed, err.msg);
            }
        }
    nnt_loss_close(&L);
}

#endif
