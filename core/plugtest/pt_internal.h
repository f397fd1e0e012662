/* pt_internal.h: the pieces of the plugin conformance runner (core/plugtest/) that its files
 * share: tensor specs and cases, plans that drive one layer or loss on host or device memory,
 * and the finite-difference engine. Never seen by plugins; the CLI and tests use plugtest.h. */
#ifndef NN_PT_INTERNAL_H
#define NN_PT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "instance.h"
#include "nntrain/gradcheck.h"
#include "nntrain/nntrain.h"
#include "crash.h"

#include <stdio.h>

/* a plugin's call whose failure gets a message even when the plugin left none: "returned
 * status 7 without a message", as training says (errp: the nn_error the call was given) */
static inline int pt_said(int rc, nn_error *errp)
{
    if (rc && errp && !errp->msg[0]) {
        char buf[96];
        const char *msg;
        nn_plugin_failure(rc, errp, &msg, buf, sizeof buf);
        snprintf(errp->msg, sizeof errp->msg, "%s", msg);
    }
    return rc;
}
#define PT_CALL(inst, call, expr, errp) pt_said(NN_PLUGIN_CALL(inst, call, expr), (errp))

/* ---- cases (pt_spec.c) ---------------------------------------------------------------- */

#define PT_MAX_KV 32
#define PT_TEXT 512

/* One tensor of a case: "2x3x8x8 f32 [-1, 1]" */
typedef struct pt_tensor_spec {
    nn_dtype dtype;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    double lo, hi;  /* values drawn uniformly: floats in [lo, hi], integers in [lo, hi) */
    int has_range;  /* RANGE was written (else lo/hi are the dtype's default) */
} pt_tensor_spec;

/* What one check runs a plugin on: parameters and tensors. */
typedef struct pt_case {
    char params[PT_TEXT];   /* "k=v; k=v", as in nn_test_case.params */
    int n_inputs;
    pt_tensor_spec in[NN_MAX_INPUTS];
    int has_target;
    pt_tensor_spec target;
    int (*fixture)(const char *dir, nn_error *err);
    char label[160];        /* "2x3x8x8; filters=2" for tables */
} pt_case;

/* Parses "SHAPE [DTYPE] [RANGE]; ..." into out[max]; *n gets the count. */
int pt_parse_tensors(const char *text, pt_tensor_spec *out, int max, int *n, nn_error *err);
/* Writes a spec back as text ("2x3 i32 [0, 5)") */
void pt_tensor_spec_str(const pt_tensor_spec *t, char *buf, size_t cap);
/* A case from a test spec's entry (params and tensors parsed and checked). */
int pt_case_from_test(const nn_test_case *tc, int kind, pt_case *c, nn_error *err);
/* Fills c->label from its tensors and params. */
void pt_case_label(pt_case *c);

/* "k=v; k=v" (sep ';') or NULL-terminated arrays into nn_kv entries pointing into *text, which
 * the caller frees. extra (may be NULL) are "k=v" overrides that replace keys of the same name. */
int pt_kv_from_text(const char *params, const char *const *extra, nn_kv *out, int max, int *n,
                    char **text, nn_error *err);

/* Creates an instance of desc from "k=v; ..." params (+ extra overrides). */
int pt_instance(nn_instance *inst, const nn_plugin_desc *desc, const char *params,
                const char *const *extra, nn_error *err);

/* ---- host/device tensors and plans (pt_plan.c) ----------------------------------------- */

/* ---- fenced host tensors (pt_guard.c) ------------------------------------------------- */

/* canary bytes after a fenced tensor's data, at least (a page before it); inaccessible pages
 * lie beyond both zones on the host. Off the host, PT_DEV_FRONT bytes before and
 * PT_GUARD_AFTER after, in the same device allocation. */
#define PT_GUARD_AFTER (32 * 1024)
#define PT_DEV_FRONT 4096

/* A host tensor as nn_tensor_new() makes it (zeroed, aligned), its data fenced by canaries;
 * NULL when out of memory. Free it with pt_guarded_free(), never nn_tensor_free(). */
nn_tensor *pt_guarded_new(nn_dtype dt, int ndim, const int64_t *shape);
void pt_guarded_free(nn_tensor *t);
/* NN_OK when both canaries of fenced tensor t (NULL allowed) are intact; else NN_EINVAL with
 * "CALL() wrote past the end of NAME (...): bytes A to B after its end changed ..." */
int pt_guard_check(const nn_tensor *t, const char *call, const char *name, nn_error *err);
/* NN_OK when t holds the bytes of kept (either NULL: NN_OK); else NN_EINVAL with "CALL()
 * changed NAME, which it must only read (element ...)" */
int pt_unchanged(const nn_tensor *t, const void *kept, const char *call, const char *name,
                 nn_error *err);

/* A tensor as the plugin sees it (dev) with its host copy (h). On the host they share data,
 * and h is fenced (pt_guard.c); off it, dev's data sits between canary zones of its device
 * allocation (PT_DEV_FRONT before, PT_GUARD_AFTER after), read back after each call. */
typedef struct pt_t {
    nn_tensor *h;
    nn_tensor dev;
    void *mem;  /* device data (nn_canary_dev_alloc), NULL on the host */
    nn_dev *on; /* its device, when mem */
    void *kept; /* what a call that must only read it found there (pt_t_keep) */
    int kept_ok;
    unsigned char *back; /* off the host: room to read back the data or the zones */
} pt_t;

/* A host tensor and, off the host, its device twin (zeroed); name is borrowed. */
int pt_t_alloc(nn_dev *dev, pt_t *t, nn_dtype dt, int ndim, const int64_t *shape,
               const char *name, nn_error *err);
void pt_t_free(nn_dev *dev, pt_t *t);
/* Before a plugin call that must only read t: remember what it holds. After the call,
 * pt_t_kept() says whether it still does and pt_t_fenced() whether the call wrote outside it
 * (NN_OK, or NN_EINVAL naming the call and `name`): the plugin's memory, on the host or read
 * back from the device; a t without a tensor passes. */
void pt_t_keep(pt_t *t);
int pt_t_kept(const pt_t *t, const char *call, const char *name, nn_error *err);
int pt_t_fenced(const pt_t *t, const char *call, const char *name, nn_error *err);
/* host -> device and back; no-ops on the host */
int pt_t_up(nn_dev *dev, pt_t *t, nn_error *err);
int pt_t_down(nn_dev *dev, pt_t *t, nn_error *err);

typedef struct pt_layer {
    nn_dev *dev;
    nn_instance inst;
    const nn_layer_vtable *vt;
    nn_layer_setup su;
    nn_layer_io io;
    int n_inputs, training;
    pt_t in[NN_MAX_INPUTS], gin[NN_MAX_INPUTS];
    /* every parameter a layer may declare (ABI 0.5: 64); those past the first 8 are declared
     * in decls_more and reach the layer through io.params_more / io.param_grads_more */
    pt_t par[NN_MAX_LAYER_PARAMS_ALL], gpar[NN_MAX_LAYER_PARAMS_ALL];
    nn_param_decl decls_more[NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS];
    nn_tensor *par_more[NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS];
    nn_tensor *gpar_more[NN_MAX_LAYER_PARAMS_ALL - NN_MAX_LAYER_PARAMS];
    pt_t buf[NN_MAX_LAYER_BUFFERS];
    pt_t out, gout;
} pt_layer;

/* Opens a plan of layer desc for case c: parameters from c->params + extra, inputs filled from
 * their specs (stream seed), parameters U(-0.5, 0.5), STATE buffers per their declaration.
 * training = 1 allocates the output gradient, parameter gradients, SAVED buffers and the input
 * gradients whose bit is set in need_grad. dev NULL = the host. On failure L is closed. */
int pt_layer_open(pt_layer *L, nn_dev *dev, const nn_plugin_desc *desc, const pt_case *c,
                  const char *const *extra, int training, unsigned need_grad, uint64_t seed,
                  nn_error *err);
/* Uploads inputs and parameters, runs forward, downloads the output. */
int pt_layer_forward(pt_layer *L, int training, nn_error *err);
/* Uploads grad_output, runs backward, downloads the gradients. */
int pt_layer_backward(pt_layer *L, nn_error *err);
void pt_layer_close(pt_layer *L);
/* After a plugin call `call` on L: NN_OK, or NN_EINVAL naming the first tensor it wrote
 * outside of, or (kept: forward and backward, after the keep they make) the first one it
 * must only read (inputs, parameters, grad_output) that it changed. */
int pt_layer_check_call(const pt_layer *L, const char *call, int kept, nn_error *err);

typedef struct pt_loss {
    nn_dev *dev;
    nn_instance inst;
    const nn_loss_vtable *vt;
    nn_loss_setup su;
    nn_loss_io io;
    pt_t pred, target, grad, buf[NN_MAX_LAYER_BUFFERS], loss;
} pt_loss;

int pt_loss_open(pt_loss *L, nn_dev *dev, const nn_plugin_desc *desc, const pt_case *c,
                 const char *const *extra, uint64_t seed, nn_error *err);
/* Runs the loss; *value gets it; with_grad writes (and downloads) grad_pred. */
int pt_loss_forward(pt_loss *L, int with_grad, double *value, nn_error *err);
void pt_loss_close(pt_loss *L);
/* As pt_layer_check_call; pred and target are the read-only ones. */
int pt_loss_check_call(const pt_loss *L, const char *call, int kept, nn_error *err);

/* Fills a host tensor uniformly per spec-like bounds from stream (seed, stream). */
void pt_fill(nn_tensor *t, double lo, double hi, uint64_t seed, uint64_t stream);

/* ---- gradients (gradcheck.c) ---------------------------------------------------------- */

typedef struct pt_gc_opts {
    double rtol, atol;
    uint64_t seed;
    int max_elements;
} pt_gc_opts;

#define PT_GC_DEFAULT_RTOL 1e-3
#define PT_GC_TOL_MAX 1.0 /* rtol and atol lie in [0, PT_GC_TOL_MAX) (gradcheck.h) */

/* 0 when rtol and atol are tolerances the gradient check takes; else 1 with why ("WHOSE:
 * rtol ... must ...") in why */
int pt_gc_tol_problem(double rtol, double atol, const char *whose, char *why, size_t cap);
/* 1 with note ("the test spec loosens the default tolerance: rtol 0.05 (default 1e-03)")
 * when valid tolerances are looser than the defaults, else 0 and "" */
int pt_gc_tol_loosened(double rtol, double atol, char *note, size_t cap);

/* Checks every F32 input that has a gradient tensor and every parameter of an open training
 * plan. returns NN_OK when all match, NN_EINVAL on a mismatch (res says where), or the
 * plugin's status when it fails. */
int pt_gradcheck_layer(pt_layer *L, const pt_gc_opts *o, nn_gradcheck_result *res,
                       nn_error *err);
int pt_gradcheck_loss(pt_loss *L, const pt_gc_opts *o, nn_gradcheck_result *res, nn_error *err);

/* ---- the runner (plugtest.c) and its checks ------------------------------------------- */

#include "plugtest.h"

#define PT_MAX_CASES 6
#define PT_MAX_ROWS 8

enum { PT_PASS = 0, PT_FAIL, PT_SKIP };

/* One row of the table. */
typedef struct pt_row {
    int status;
    char check[24];   /* "gradient" */
    char worst[24];   /* "4.2e-03", "0", "-" */
    char limit[24];   /* "2.3e-02" */
    char detail[1200];
} pt_row;

/* What one check sends back from its child: rows, and (the cases check) the cases. */
typedef struct pt_report {
    int n_rows;
    pt_row rows[PT_MAX_ROWS];
    int n_cases;
    pt_case cases[PT_MAX_CASES];
} pt_report;

typedef struct pt_ctx {
    nn_registry *reg;
    const nn_plugin_entry *e;
    const nn_plugin_desc *d;
    const nn_plugtest_opts *o;
    uint64_t seed;
    nn_dev *dev;                 /* opened in each child */
    int n_cases;                 /* from the cases check */
    pt_case cases[PT_MAX_CASES];
    double rtol, atol;           /* the test spec's, or 0 */
    char tol_refused[300];       /* why the test spec's tolerances are refused, or "" */
} pt_ctx;

/* Appends a row; detail is printf-like. */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
void pt_add(pt_report *r, int status, const char *check, const char *worst, const char *limit,
            const char *fmt, ...);

typedef void (*pt_check_fn)(pt_ctx *c, pt_report *r);

/* pt_static.c: every kind */
void pt_check_schema(pt_ctx *c, pt_report *r);
void pt_check_exports(pt_ctx *c, pt_report *r);
void pt_check_lifecycle(pt_ctx *c, pt_report *r);
/* "k=v; ..." giving each required key that `given` ("k=v" list, may be NULL) lacks its first
 * candidate value; returns 0, or -1 with the first key that cannot be guessed in buf */
int pt_required_params(const nn_plugin_desc *d, const char *const *given, char *buf,
                       size_t cap);
/* 1 when "key=..." is among given ("k=v" list, may be NULL) */
int pt_given_key(const char *const *given, const char *key);
/* candidate values of a key, most likely to work first; returns their number */
int pt_candidates(const nn_param_spec *s, char vals[][24], int max);

/* pt_derive.c: the cases of layers, losses and transforms (test spec, else derived) */
void pt_check_cases(pt_ctx *c, pt_report *r);

/* pt_layer.c */
void pt_check_gradient(pt_ctx *c, pt_report *r);
void pt_check_determinism(pt_ctx *c, pt_report *r);
/* pt_reduction.c: a loss's value reduces rows as its setup declares */
void pt_check_reduction(pt_ctx *c, pt_report *r);
void pt_check_null_grads(pt_ctx *c, pt_report *r);
void pt_check_alloc(pt_ctx *c, pt_report *r);

/* pt_optim.c */
void pt_check_optim_state(pt_ctx *c, pt_report *r);
void pt_check_schedule(pt_ctx *c, pt_report *r);
void pt_check_sched_state(pt_ctx *c, pt_report *r);

/* pt_data.c */
void pt_check_dataset(pt_ctx *c, pt_report *r);
void pt_check_transform(pt_ctx *c, pt_report *r);
void pt_check_logger(pt_ctx *c, pt_report *r);
/* pt_batch.c: a batch transform's row for one case (pt_check_transform calls it) */
void pt_batch_transform_case(pt_ctx *c, const pt_case *k, pt_report *r);

#endif
