/* conformance_internal.h: the pieces of the device conformance run: the checks it makes,
 * the tensors it holds twice (host for the CPU plugin, device for the pack's), how it compares
 * them, and the cases it derives from the plugins' schemas. Used only by conformance_*.c. */
#ifndef NN_CONFORMANCE_INTERNAL_H
#define NN_CONFORMANCE_INTERNAL_H

#include "conformance.h"
#include "device.h"
#include "instance.h"
#include "nntrain/nntrain.h"

enum { NN_CONF_PASS = 0, NN_CONF_FAIL, NN_CONF_SKIP };

typedef struct nn_conf_result {
    int status;     /* NN_CONF_* */
    double worst;   /* the worst normalised error of the compared tensors (0 when none) */
    char msg[1024]; /* why it failed or was skipped */
} nn_conf_result;

#define NN_CONF_MAX_KV 6

/* One check: a row of the table. Made in the parent, run in a child. */
typedef struct nn_conf_check {
    int kind;                   /* NN_KIND_LAYER, _LOSS, _OPTIMIZER, or 0 for backend/ops */
    const char *name;           /* plugin or op name */
    char label[160];            /* what the row checks */
    const nn_plugin_entry *pack, *cpu;
    int (*run)(const struct nn_conf_check *c, nn_dev *dev, nn_conf_result *res);
    int n_kv;
    char kv_text[NN_CONF_MAX_KV][2][64]; /* key, value: see nn_conf_kvs */
    int ndim;
    int64_t shape[NN_MAX_DIMS]; /* layer input, loss predictions */
    int variant;                /* check-specific: no input gradient, a bad target, an op case */
    int expect_refusal;         /* the CPU plugin refuses this case: the pack must too */
    int probe;                  /* a guessed case: both refusing it is a skip, not a failure */
    double tol;                 /* the largest normalised error that passes */
} nn_conf_check;

enum { NN_CONF_NO_INPUT_GRAD = 1, NN_CONF_BAD_TARGET = 2, NN_CONF_IGNORED = 3,
       NN_CONF_SOFT_TARGET = 4, NN_CONF_TIED_INPUT = 5 };

/* ---- the check list (conformance_cases.c) --------------------------------------------- */

/* Appends the checks of one pack plugin (schema, then cases) to *list; returns NN_OK or
 * NN_ENOMEM. The schema row is decided here, in the parent: it runs no plugin code. */
int nn_conf_plugin_checks(const nn_plugin_entry *pack, const nn_plugin_entry *cpu,
                          nn_conf_check **list, int *n, int *cap);
/* Appends the backend and device-op checks. */
int nn_conf_device_checks(nn_conf_check **list, int *n, int *cap);
/* The check's keys as the core hands them to nn_instance_create (pointing into c). */
int nn_conf_kvs(const nn_conf_check *c, nn_kv *out);
/* Compares the two plugins' schemas (and layer capabilities). */
int nn_conf_run_schema(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);

/* ---- running plugin code (conformance_kernels.c, conformance_ops.c) ------------------- */

int nn_conf_run_layer(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);
int nn_conf_run_loss(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);
int nn_conf_run_optimizer(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);
int nn_conf_run_backend(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);
int nn_conf_run_op(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res);

/* Says what the child is doing now, so a crash can be blamed on the right code. */
void nn_conf_phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the phase just set as a call of the device's own kernels (a pack's layer, loss or
 * optimizer, a device op): only there does a SIGSEGV suggest device memory read on the host. */
void nn_conf_kernel_phase(void);

/* ---- twin tensors (conformance_twin.c) ------------------------------------------------ */

/* The same tensor on the host (h) and on the device under test (d). Never copy one by value:
 * its DLPack shape pointers point into itself. */
typedef struct nn_twin {
    nn_tensor h, d;
    int fenced;     /* nn_twin_new made d between canary zones (a twin of other memory is not) */
    int zones_read; /* nn_twin_compare read those zones back */
} nn_twin;

/* Allocates both (zeroed; d between canary zones of its device allocation); returns NN_OK
 * or an error naming `name`. */
int nn_twin_new(nn_dev *dev, nn_twin *t, nn_dtype dt, int ndim, const int64_t *shape,
                const char *name, nn_error *err);
/* Frees both. With res, first reads back the canary zones of a fenced twin that no
 * nn_twin_compare read (the case's inputs, which the pack must only read): a write past
 * either end fails res naming the tensor. res may be NULL (a twin never handed to the pack). */
void nn_twin_free(nn_dev *dev, nn_twin *t, nn_conf_result *res);
/* Makes the device copy equal to the host copy. */
int nn_twin_upload(nn_dev *dev, nn_twin *t, nn_error *err);
/* F32: normal(0, scale) (uniform(-scale, scale) when uniform), then uploaded */
int nn_twin_random(nn_dev *dev, nn_twin *t, nn_rng *r, double scale, int uniform,
                   nn_error *err);
/* Downloads d and compares it with h; raises res->worst. A tensor beyond tol (or a NaN where
 * the other has a number) fails res with "WHAT: element I: cpu X, DEVICE Y"; so does a write
 * past either end of d (its canary zones, nn_twin_new). returns 0 when equal within tol, 1
 * when not, or a negative status when the download failed. */
int nn_twin_compare(nn_dev *dev, nn_twin *t, const char *what, double tol,
                    nn_conf_result *res, nn_error *err);
/* Decides a check when the CPU plugin and the pack's did not both succeed at `stage`:
 * returns 1 when both did (go on), else 0 with res passed (both refused, the same answer;
 * a skip for guessed cases) or failed (only one refused). */
int nn_conf_agree(const nn_conf_check *c, const char *stage, int rc_cpu, const nn_error *e_cpu,
                  int rc_pack, const nn_error *e_pack, nn_conf_result *res);
/* Fails res with a sentence; returns NN_CONF_FAIL. */
int nn_conf_fail(nn_conf_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
