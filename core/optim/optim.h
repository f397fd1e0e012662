/* optim.h: the optimisation driver the trainer calls (core only): it builds the optimizer and
 * scheduler plugins from the model file, owns the optimizer's slot tensors, clips gradients,
 * steps, composes linear warm-up on the scheduled rate, and saves/restores all of it.
 * Nothing here allocates after nn_optim_new(); nothing here knows an optimizer by name. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nntrain/params.h"
#include "nntrain/tensor.h"
#include "registry.h"

typedef struct nn_optim nn_optim;

/* One trainable parameter. Pointers are borrowed and must outlive the nn_optim. */
typedef struct nn_optim_target {
    const char *name;       /* "fc1.weight"; copied */
    nn_tensor *value;       /* contiguous F32, updated in place */
    nn_tensor *grad;        /* same shape; clipping scales it in place */
    double lr_mult, weight_decay_mult;
    uint32_t flags;         /* NN_TENSOR_BIAS, NN_TENSOR_NORM */
} nn_optim_target;

/* Reads [optimizer] (`type` is the plugin; every other key, lr included, goes to the plugin),
 * [scheduler] (optional: `type` = plugin or none; `warmup_steps` | `warmup_epochs` and
 * `warmup_start_factor` (default 1/3, as PyTorch's LinearLR) are the core's and multiply any
 * scheduler's rate by a factor rising linearly to 1), and from [train]: clip_norm (> 0
 * enables), clip_norm_type = 2|inf, clip_value (> 0 enables), decay_bias_and_norm (default
 * true; false gives NN_TENSOR_BIAS|NN_TENSOR_NORM parameters weight_decay_mult = 0).
 * steps_per_epoch and epochs (0 when unknown) go to the scheduler. reg must outlive *out.
 * On failure err names the file, line, section and key. *out is owned: nn_optim_free(). */
/* The keys of [scheduler] that the core reads itself (type and the warm-up keys), as the
 * schema that validates them; borrowed, static. For documentation. */
const nn_param_spec *nn_optim_scheduler_core_keys(void);

struct nn_dev;
/* dev (NULL = the host) is where targets live: the optimizer plugin is the one of its device
 * type, and the slots are allocated there (with host copies for checkpoints). */
int nn_optim_new(nn_registry *reg, const nn_config *cfg, struct nn_dev *dev,
                 const nn_optim_target *targets, int n, int64_t steps_per_epoch, int64_t epochs,
                 nn_optim **out, nn_error *err);
void nn_optim_free(nn_optim *o); /* NULL is allowed */

/* Device runs measure the global gradient norm with the step's other results, in one
 * synchronisation: enqueue its accumulation into a device double (sum of squares, or the
 * max-abs for clip_norm_type inf), then hand the value read back to nn_optim_norm_known
 * before nn_optim_update. Without it, nn_optim_update reads the norm itself. */
int nn_optim_norm_enqueue(nn_optim *o, double *dev_acc, nn_error *err);
void nn_optim_norm_known(nn_optim *o, double acc);
/* [train] replicas measure the sum of the squares of every gradient while they sum them:
 * the next nn_optim_update takes it for the 2-norm instead of reading the gradients again
 * (clip_norm_type inf still measures its own). */
void nn_optim_norm_sumsq(nn_optim *o, double sumsq);

/* [train] replicas: run(ctx, n, fn, arg, err) calls fn(arg, part, err) for every part < n at
 * once (on the replicas' threads) and returns the lowest failing part's status. With it, an
 * optimizer that declares NN_CAP_ELEMENTWISE steps n slices of the parameters at once, each
 * element getting the bits one step over all would give it; any other optimizer, or n < 2,
 * keeps one call. Call after nn_optim_new (it allocates the slices); ctx is borrowed. */
typedef int (*nn_optim_part_fn)(void *arg, int part, nn_error *err);
typedef int (*nn_optim_runner)(void *ctx, int n, nn_optim_part_fn fn, void *arg,
                               nn_error *err);
struct nn_optim_owned; /* split.h */
/* own[0..n_own) (may be NULL, 0): parameters (by target index) whose slices go to given parts,
 * the part whose thread computed their gradient (split.h) */
int nn_optim_set_runner(nn_optim *o, int n, nn_optim_runner run, void *ctx,
                        const struct nn_optim_owned *own, int n_own, nn_error *err);

/* the learning rate the next step uses: scheduled rate times the warm-up factor */
double nn_optim_lr(const nn_optim *o);

/* Clips (norm first, then value, when configured) and steps every parameter, then advances a
 * per-batch scheduler. *grad_norm (may be NULL) gets the pre-clip global norm when clip_norm
 * is set or want_norm is true, else NAN. A non-finite norm returns NN_ENONFINITE and leaves
 * parameters, slots and counters untouched. No allocation. */
int nn_optim_update(nn_optim *o, int want_norm, double *grad_norm, nn_error *err);

/* End of epoch `epoch` (0-based) with the validation metrics of that epoch (n_metrics may be 0
 * when no validation ran: a plateau scheduler then keeps its state). Advances per-epoch
 * schedulers and epoch-based warm-up. */
int nn_optim_epoch_end(nn_optim *o, int64_t epoch, int n_metrics, const char *const *names,
                       const double *values, nn_error *err);

/* Checkpoints: the slot tensors, named "optim.<param name>.<slot>" (borrowed, valid until
 * nn_optim_free), and a text blob with the step counters and the scheduler's state. */
int nn_optim_tensor_count(const nn_optim *o);
nn_tensor *nn_optim_tensor(const nn_optim *o, int i, const char **name);
/* Host copies of the slot tensors (the slots themselves on the CPU), refreshed from the device
 * by nn_optim_to_host and written back by nn_optim_to_device. */
nn_tensor *nn_optim_host_tensor(const nn_optim *o, int i, const char **name);
int nn_optim_to_host(nn_optim *o, nn_error *err);
int nn_optim_to_device(nn_optim *o, nn_error *err);
/* the metric a plateau scheduler monitors ("val_loss"), or NULL */
const char *nn_optim_monitor(const nn_optim *o);
/* returns the bytes needed (excluding the NUL), like snprintf, or < 0 on a plugin error */
int nn_optim_state_save(const nn_optim *o, char *buf, size_t cap);
/* A base learning rate ([optimizer] lr) changed since the state was saved scales the saved
 * rate by new/old, and a scheduler of another type starts afresh; with print, each is said
 * on stderr ("changed on resume: ..."). */
int nn_optim_state_load(nn_optim *o, const char *text, int print, nn_error *err);

/* Standalone clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
 * Returns the pre-clip global norm (2-norm, or max-abs with norm_type_inf) and scales every
 * gradient by max_norm / (norm + 1e-6) when that is below 1; max_norm <= 0 only measures. */
double nn_clip_grad_norm(nn_tensor *const *grads, int n, double max_norm, int norm_type_inf);
/* clamps every gradient element into [-clip, clip] */
void nn_clip_grad_value(nn_tensor *const *grads, int n, double clip);

#endif
