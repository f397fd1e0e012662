/* gradcheck.h: checks a layer's or a loss's backward against central finite differences, the
 * check `nntrain plugins test` runs, for a plugin's own unit tests. Exported by libnncore: link
 * the test with `pkg-config --libs nntrain-sdk` (and an rpath to its libdir, see sdk/README.md).
 *
 * How it judges. The plugin runs in float32; the differences are taken in double around it,
 * with exact steps (inputs and parameters are rounded to 16 significant bits first, so x +- h
 * is representable), Richardson-extrapolated central differences, and one-sided ones next to
 * a kink (relu at 0, a max switching). The float32 rounding noise of the differences is
 * measured (third differences at tiny steps) and allowed for, so rounding never fails a
 * correct plugin. An element passes when
 *     |analytic - numeric| <= rtol * max(|analytic|, |numeric|) + atol + noise
 * and the check passes when every element does. */
#ifndef NNTRAIN_GRADCHECK_H
#define NNTRAIN_GRADCHECK_H

#include <stdint.h>
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options. A value outside its documented range is refused (NN_EINVAL, err names the field
 * and what it must be), never replaced by a default: rtol or atol negative, NaN, infinite or
 * >= 1, max_elements < 0, struct_size other than sizeof(nn_gradcheck_opts). The descriptor's
 * test spec's rtol and atol must lie in [0, 1) as well. */
typedef struct nn_gradcheck_opts {
    uint32_t struct_size; /* sizeof(nn_gradcheck_opts); NULL options = every default */
    double rtol;          /* in [0, 1); 0 = the descriptor's test spec's, else 1e-3 */
    double atol;          /* in [0, 1); 0 = the descriptor's test spec's, else none */
    uint64_t seed;        /* inputs, parameters and output weights are drawn from it; 0 = 1 */
    int max_elements;     /* >= 0: per tensor; a larger tensor is sampled evenly; 0 = 1024 */
    const void *reserved[6];
} nn_gradcheck_opts;

typedef struct nn_gradcheck_result {
    double worst;        /* max over elements of |analytic - numeric| / tolerance (pass <= 1) */
    double worst_rel;    /* at that element: |analytic - numeric| / max(|analytic|, |numeric|) */
    double tolerance;    /* at that element, all terms included */
    double rtol;         /* the relative tolerance used */
    int64_t n_checked;   /* elements compared, over all inputs and parameters */
    int64_t n_one_sided; /* of those, next to a kink: matched a one-sided difference */
    char where[320];     /* the worst element: "input 0 [1, 0, 2]: analytic ..., numeric ..." */
    const void *reserved[4];
} nn_gradcheck_result;

/* Checks the gradients of every F32 input and every parameter of layer `desc` (a descriptor
 * of kind layer, e.g. nn_plugin_descriptors[0] when the plugin is linked into the test),
 * created from `kv` ("key=value" strings, NULL-terminated, may be NULL) and fed the tensors
 * `inputs` describes, in the grammar of test_spec.h: "2x3x8x8", "2x4; 2x4", "4x6 i32 [0, 9)".
 * returns NN_OK when every element matches; NN_EINVAL with the worst element in err and res
 * (res->n_checked > 0) when one does not, or with res->n_checked == 0 for refused options; or
 * the status of a plugin call that failed. res may be NULL. */
int nn_gradcheck_layer(const nn_plugin_desc *desc, const char *const *kv, const char *inputs,
                       const nn_gradcheck_opts *opts, nn_gradcheck_result *res, nn_error *err);

/* The same for a loss: dLoss/dPrediction for a prediction `pred` ("4x5") and a target
 * `target` ("4 i32" holds class ids in [0, 5) here; "4x5 f32 [0, 1]"). */
int nn_gradcheck_loss(const nn_plugin_desc *desc, const char *const *kv, const char *pred,
                      const char *target, const nn_gradcheck_opts *opts,
                      nn_gradcheck_result *res, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
