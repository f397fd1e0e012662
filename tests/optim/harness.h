/* harness.h: drives optimizer and scheduler plugins the way core/optim does, for the tests:
 * find a plugin, make an instance from "key", "value" pairs, run an optimizer on the reference
 * quadratic, record a scheduler's rate sequence, and check rejections and docs. */
#ifndef OPTIM_TEST_HARNESS_H
#define OPTIM_TEST_HARNESS_H

#include "core/instance.h"
#include "core/registry.h"
#include "ref_values.h"

/* the build directory of plugins/optim, and a registry of the plugins in it (process-wide) */
const char *h_plugin_dir(void);
nn_registry *h_registry(void);

/* kv: "key", "value", ..., NULL (may be NULL itself) */
int h_instance(nn_instance *inst, int kind, const char *name, const char *const *kv,
               nn_error *err);

/* Runs optimizer `name` for REF_STEPS steps at rate lr on f(p) = 1/2 sum a p^2 over the two
 * reference parameters (lr_mult 1 and 0.5, weight_decay_mult 1 and 2); out[t][i] holds the 7
 * values after step t+1. n_slots (may be NULL) gets the number of slots it declared. */
void h_run_optimizer(const char *name, const char *const *kv, double lr,
                     double out[REF_STEPS][REF_N], int *n_slots);

/* Records a scheduler's rates: lr[0] from start(), then lr[k] after the k-th step (epoch k or
 * batch k, as the plugin asks). metrics (may be NULL) feed step k with metrics[k-1]. */
void h_sched_sequence(const char *name, const char *const *kv, double base_lr,
                      int64_t steps_per_epoch, int64_t epochs, const double *metrics, int n,
                      double *lr, int *per_batch);

/* asserts |got - want| <= atol + rtol*|want| for each, naming what and the index */
void h_expect_close(const double *got, const double *want, int n, double rtol, double atol,
                    const char *what);

/* asserts that making the plugin fails with a message that names key */
void h_expect_rejected(int kind, const char *name, const char *const *kv, const char *key);

/* asserts that `$NNTRAIN_EXE plugins show name` succeeds and prints each of the words */
void h_expect_docs(const char *name, const char *const *words);

#endif
