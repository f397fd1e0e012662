/* harness.h: drives one layer or loss plugin exactly as the core graph does (registry lookup,
 * parameters, setup, allocation, bind, forward, backward), plus finite-difference checks.
 * Test code only: it may allocate freely, but it must never hide a plugin's error. */
#ifndef NNT_HARNESS_H
#define NNT_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "instance.h"
#include "nntrain/nntrain.h"
#include "registry.h"

/* Everything public so that tests can poke at the tensors. Zero-initialise before open. */
typedef struct nnt_layer {
    nn_registry *reg;
    nn_instance inst;
    const nn_layer_vtable *vt;
    nn_layer_setup setup;
    nn_layer_io io;
    int n_inputs;
    nn_tensor *inputs[NN_MAX_INPUTS], *output, *grad_output, *grad_inputs[NN_MAX_INPUTS];
    /* every parameter, including those past NN_MAX_LAYER_PARAMS (ABI 0.5) */
    nn_tensor *params[NN_MAX_LAYER_PARAMS_ALL], *param_grads[NN_MAX_LAYER_PARAMS_ALL];
    nn_param_decl decls_more[NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS];
    nn_tensor *buffers[NN_MAX_LAYER_BUFFERS];
    /* optional, test-only: called by nnt_gradcheck right after the analytic backward, so a
     * test can corrupt the analytic gradients and prove that the checker notices */
    void (*after_backward)(struct nnt_layer *L, void *ctx);
    void *after_backward_ctx;
} nnt_layer;

/* Opens `plugin` (a layer) with kv, a NULL-terminated list of "key=value" strings (may be
 * NULL). dtypes may be NULL (all F32). training=1 allocates grad_output, param grads, SAVED
 * buffers and grad_inputs for the inputs whose bit is set in need_grad (bit i = input i).
 * F32 inputs are filled U(-1, 1) from seed 2 + i, other inputs are zero; param i is filled
 * U(-0.5, 0.5) from seed 1 + 100 i (its decl.init is not used: tests want O(1) values);
 * STATE buffers per their decl.init (zeros, ones, normal, uniform; fan-based ones read as
 * zeros). setup sees layer_name "test_layer". io.seed is 42.
 * Returns NN_OK, or the plugin's/core's status with its message in err (L is then closed). */
int nnt_layer_open(nnt_layer *L, const char *plugin, const char *const *kv, int n_inputs,
                   const int *ndims, const int64_t shapes[][NN_MAX_DIMS], const nn_dtype *dtypes,
                   int training, unsigned need_grad, nn_error *err);
/* Frees everything; safe on a zeroed or already closed L. */
void nnt_layer_close(nnt_layer *L);

/* F32: uniform in [lo, hi); I32: integers in [lo, hi). Deterministic in seed. */
void nnt_fill_uniform(nn_tensor *t, uint64_t seed, double lo, double hi);

int nnt_forward(nnt_layer *L, int training, nn_error *err);
/* grad_output must be filled by the caller (or by nnt_gradcheck) */
int nnt_backward(nnt_layer *L, nn_error *err);

/* As [train] replicas run a plan bound on another thread: fills grad_output (when there is
 * one) U(-1, 1), runs a training forward and backward here, then again on a new thread, and
 * checks that the output, the input gradients and the parameter gradients are the same bits.
 * Returns NN_OK, or the failure with the first tensor that differs named in err. */
int nnt_same_on_another_thread(nnt_layer *L, nn_error *err);

/* Central finite differences, in double, of loss = sum(output .* R) (R fixed, U(-1, 1)) with
 * respect to every input that has a grad_input and every parameter. Each perturbation
 * re-runs a training forward with the same io.seed. The step actually taken is measured
 * after rounding to float, so the step's rounding error does not pollute the check.
 * Returns the max of |analytic - numeric| / max(|analytic|, |numeric|, floor) and describes
 * the worst element in worst (may be NULL); INFINITY when forward/backward fails.
 * Leaves the inputs and parameters as they were and grad_output = R. */
double nnt_gradcheck(nnt_layer *L, double eps, double floor, char *worst, size_t cap);

/* A whole training plan of model m (graph.h) against central differences of
 * loss = sum(output .* R): one backward with R as the output gradient, then each parameter
 * element (every one, or about `samples` per tensor when that is > 0) moved by +-eps. Returns
 * the worst |numeric - analytic| / max(floor, |numeric| + |analytic|) and says where in
 * `worst`; a negative value, with err set, when a pass fails. */
struct nn_plan;
struct nn_model;
double nnt_plan_gradcheck(struct nn_model *m, struct nn_plan *p, const float *R, double eps,
                          double floor, int64_t samples, char *worst, size_t cap, nn_error *err);

typedef struct nnt_loss {
    nn_registry *reg;
    nn_instance inst;
    const nn_loss_vtable *vt;
    nn_loss_setup setup;
    nn_loss_io io;
    nn_tensor *pred, *target, *grad_pred, *buffers[NN_MAX_LAYER_BUFFERS];
} nnt_loss;

/* Opens loss `plugin`; pred is F32 filled U(-1, 1) from seed 2, target (target_dtype) zero. */
int nnt_loss_open(nnt_loss *L, const char *plugin, const char *const *kv, int pred_ndim,
                  const int64_t *pred_shape, nn_dtype target_dtype, int target_ndim,
                  const int64_t *target_shape, nn_error *err);
void nnt_loss_close(nnt_loss *L);
/* the value lands in L->io.loss; with_grad=1 also writes L->grad_pred */
int nnt_loss_forward(nnt_loss *L, int with_grad, nn_error *err);
/* as nnt_gradcheck, for dLoss/dPred */
double nnt_loss_gradcheck(nnt_loss *L, double eps, double floor, char *worst, size_t cap);

/* Runs `$NNTRAIN_EXE plugins show NAME --kind KIND` and checks that it exits 0 and that the
 * output holds the plugin's summary and every parameter's name and doc string.
 * Returns 1 when all are there; otherwise 0 with the first missing thing in why. */
int nnt_plugins_show_lists_docs(int kind, const char *name, char *why, size_t cap);

/* 1 when err->msg contains every one of the NULL-terminated needles */
int nnt_msg_has(const nn_error *err, const char *const *needles);

#endif
