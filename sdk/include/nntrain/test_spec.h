/* test_spec.h: what a plugin may tell `nntrain plugins test` about how to exercise it (ABI 0.4,
 * nn_plugin_desc.test): the parameters and tensors of each case to check, and the gradient
 * tolerance when its maths needs a looser one. Plain data; the runner calls nothing in it but
 * a dataset's fixture hook. Without a spec the runner derives cases from the schema. */
#ifndef NNTRAIN_TEST_SPEC_H
#define NNTRAIN_TEST_SPEC_H

#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One configuration to check.
 * Tensors are written "SHAPE [DTYPE] [RANGE]", several separated by ';':
 *   "2x3x8x8"   "4x6 i32 [0, 10)"   "2x5 f32 [0.5, 2]"
 * DTYPE is f32 (the default), f64, i32, i64 or u8; RANGE is where values are drawn uniformly
 * (default [-1, 1] for floats, [0, 256) for u8, [0, 2) for other integers; ')' excludes the
 * bound). Layer inputs include the batch dimension; a transform's sample has none. */
typedef struct nn_test_case {
    /* "key=value" entries separated by ';' ("filters=4; kernel=3,3"); NULL = the defaults */
    const char *params;
    /* layer: its inputs; loss: the prediction; transform: one sample; dataset: unused */
    const char *inputs;
    /* loss only: the target. An integer target without a RANGE holds class ids in [0, C),
     * C = the prediction's last dimension */
    const char *target;
    /* dataset only: writes tiny data files into dir, then passed to open() as base_dir so
     * params may name them relatively. returns NN_OK or a status with err filled. */
    int (*fixture)(const char *dir, nn_error *err);
    const void *reserved[4];
} nn_test_case;

typedef struct nn_test_spec {
    uint32_t struct_size; /* sizeof(nn_test_spec) */
    int n_cases;
    const nn_test_case *cases;
    /* gradient check: |analytic - numeric| <= rtol * max(|analytic|, |numeric|) + atol, plus
     * the measured float32 rounding noise of the finite differences. 0 = the defaults (rtol
     * 1e-3, atol 0); loosen only for a reason, such as a derivative that is approximated.
     * Each must lie in [0, 1): `plugins test` fails the schema row of a spec with any other
     * value, judges no gradient under it, and says so in the table when a valid spec loosens
     * either beyond its default. */
    double rtol, atol;
    const void *reserved[8];
} nn_test_spec;

#ifdef __cplusplus
}
#endif
#endif
