/* graph.h: a model as a DAG of layer plugins, its parameters, and plans compiled from it.
 * The model owns parameters, their gradients and persistent layer state; a plan (one per
 * batch size and mode) owns layer instances and one arena for activations, gradients,
 * saved buffers and workspaces. After compile, forward/backward never allocate. */
#ifndef NN_GRAPH_H
#define NN_GRAPH_H

#include "config.h"
#include "nntrain/layer.h"
#include "nntrain/rng.h"
#include "registry.h"

typedef struct nn_model nn_model;
typedef struct nn_plan nn_plan;

struct nn_dev;
/* returns an owned model whose layers come from dev's device type and whose memory lives
 * there (dev is borrowed and must outlive the model; NULL = the host) */
nn_model *nn_model_new(nn_registry *reg, struct nn_dev *dev);
void nn_model_free(nn_model *m);

/* Adds a layer. kvs are the plugin's keys (core keys already taken out); inputs NULL or
 * n_inputs 0 = the previous layer (the data input for the first); "input" names the data.
 * lr_mult/weight_decay_mult apply to its parameters. origin is used in messages. */
int nn_model_add(nn_model *m, const char *name, const char *type, const nn_kv *kvs, int n,
                 const char *const *inputs, int n_inputs, double lr_mult, double wd_mult,
                 const char *origin, nn_error *err);

/* Adds every [layer.NAME] section in file order: `type` selects the plugin; `inputs`,
 * `lr_mult`, `weight_decay_mult` are the core's keys, the rest goes to the plugin. */
int nn_model_from_config(nn_model *m, const nn_config *cfg, nn_error *err);

/* Compiles for samples of the given shape (no batch dim) and dtype. The first compile
 * creates and initialises parameters from seed; later compiles reuse them (and must agree).
 * training = 1 allocates gradients and saved buffers. The plan stays owned by the model:
 * asking again for the same (batch, training) returns the same plan. */
int nn_model_plan(nn_model *m, int sample_ndim, const int64_t *sample_shape, nn_dtype dtype,
                  int64_t batch, int training, uint64_t seed, nn_plan **out, nn_error *err);

/* Plans compiled from now on keep every tensor between layers plain strided, refusing the
 * opaque layouts (oneDNN's blocked formats) that two layers may otherwise agree on: for tests
 * and for bisecting a numerical difference. */
void nn_model_set_plain_layouts(nn_model *m, int on);
/* The compute type plans compiled from now on ask their layers for (nn_layer_setup.precision):
 * NN_F32 (the default) or NN_BF16 ([train] precision = bf16). */
void nn_model_set_precision(nn_model *m, nn_dtype dt);

int nn_model_layer_count(const nn_model *m);
const char *nn_model_layer_name(const nn_model *m, int i);
/* the plugin name of layer i ("softmax"); borrowed from the registry */
const char *nn_model_layer_type(const nn_model *m, int i);
/* the index of the layer whose output is the model's (the last in topological order) */
int nn_model_output_layer(const nn_model *m);
int nn_model_param_count(const nn_model *m);
/* i-th trainable parameter (model-owned), its gradient, multipliers and flags */
nn_tensor *nn_model_param(const nn_model *m, int i, nn_tensor **grad, double *lr_mult,
                          double *wd_mult, uint32_t *flags);
/* persistent state buffers (batchnorm running stats): saved in checkpoints with params */
int nn_model_state_count(const nn_model *m);
nn_tensor *nn_model_state(const nn_model *m, int i);
/* Host copies of the parameters (with their gradients) and states: the same tensors on the
 * host; on another device refreshed by nn_model_to_host (grads too when asked) and written
 * back by nn_model_to_device. */
nn_tensor *nn_model_host_param(const nn_model *m, int i, nn_tensor **grad);
nn_tensor *nn_model_host_state(const nn_model *m, int i);
int nn_model_to_host(nn_model *m, int grads, nn_error *err);
int nn_model_to_device(nn_model *m, nn_error *err);
struct nn_dev *nn_model_device(const nn_model *m);
/* total trainable scalars */
int64_t nn_model_numel(const nn_model *m);
/* Gradient accumulation over micro-batches: after each backward, adds weight x the gradients
 * into an accumulator (first = 1 starts it anew); finish writes scale x the accumulator back
 * into the gradients for the optimizer. On the model's device, allocated at the first call. */
int nn_model_accumulate(nn_model *m, float weight, int first, nn_error *err);
int nn_model_accumulate_finish(nn_model *m, float scale, nn_error *err);

/* re-initialise parameters and state from seed (cross-validation folds start fresh) */
int nn_model_reinit(nn_model *m, uint64_t seed, nn_error *err);

/* Adds to dst a copy of src's layer i (its plugin, keys, multipliers and origin) with key `key`
 * set to `value`, fed by dst's data input (replica_head.c) */
int nn_model_add_copy(nn_model *dst, const nn_model *src, int i, const char *key,
                      const char *value, nn_error *err);
/* layer i's plugin descriptor */
const nn_plugin_desc *nn_model_layer_desc(const nn_model *m, int i);

/* While set (fn not NULL), a training forward or a backward of plan p runs fn(ctx, p, backward,
 * err) in place of layer `layer`'s own call (replica_head.c computes that layer over the
 * replicas). Evaluation forwards call the layer. */
typedef int (*nn_layer_hook)(void *ctx, nn_plan *p, int backward, nn_error *err);
void nn_plan_set_layer_hook(nn_plan *p, int layer, nn_layer_hook fn, void *ctx);
/* layer i's io block in plan p (its inputs, output and gradients), and the plan's replica */
const nn_layer_io *nn_plan_layer_io(const nn_plan *p, int i);
int nn_plan_replica(const nn_plan *p);

/* A model whose parameters are views of memory the caller owns (replica_head.c: one layer's
 * rows of another model's parameters): the first plan asks fn for parameter k's value and
 * gradient (decl holds its declared shape), and the model never initialises them. Set before
 * the first plan; host models. An error from fn fails that plan. */
typedef int (*nn_param_source)(void *ctx, int k, const nn_tensor *decl, float **value,
                               float **grad, nn_error *err);
void nn_model_set_param_source(nn_model *m, nn_param_source fn, void *ctx);

/* Data-parallel runs (dist.c). The hook runs after each layer's backward (in backward order),
 * once that layer's parameter gradients are final; an error stops backward. info goes to
 * every plan's layers as nn_layer_io.dist (NULL: one process). Both may be NULL. */
typedef int (*nn_backward_hook)(void *ctx, int layer, nn_error *err);
void nn_model_set_backward_hook(nn_model *m, nn_backward_hook fn, void *ctx);
void nn_model_set_dist(nn_model *m, const struct nn_dist_info *info);
/* the layer (as nn_model_layer_name counts) that declared parameter i */
int nn_model_param_layer(const nn_model *m, int i);

/* In-process data parallelism (replicas.c runs the replicas' steps at once, one thread each).
 * Plans of replica r > 0 read the model's parameters but write gradients and state buffers of
 * their own, and take arenas of their own; replica 0 is the model itself. Host models only.
 * set_replicas(n) with n in [1, NN_MAX_REPLICAS], before any plan of a replica > 0; info[r]
 * goes to the layers of replica r's plans as nn_layer_io.dist (may be NULL). */
#define NN_MAX_REPLICAS 16
int nn_model_set_replicas(nn_model *m, int n, const struct nn_dist_info *const *info,
                          nn_error *err);
int nn_model_replicas(const nn_model *m);
/* nn_model_plan for replica r (r = 0 is nn_model_plan) */
int nn_model_plan_replica(nn_model *m, int sample_ndim, const int64_t *sample_shape,
                          nn_dtype dtype, int64_t batch, int training, uint64_t seed, int replica,
                          nn_plan **out, nn_error *err);
/* After the backward of replicas 0..n-1: adds replicas 1..n-1's gradients into the model's,
 * in replica order, over part `part` of n_parts equal parts of the gradient memory (so that
 * the replicas can sum their parts at once). Returns the sum of the squares of the part's
 * summed gradients (the parts' sums, added in part order, are the norm's square). */
double nn_model_replica_sum_grads(nn_model *m, int n, int part, int n_parts);
/* Parameter k's gradient is whole in the model's memory after each backward (replica_head.c
 * writes it there): the sum adds nothing into it, and part r of n_parts measures its rows
 * [nn_unit_cut(rows, r, n_parts), nn_unit_cut(rows, r + 1, n_parts)) (rows: its first
 * dimension); the other parameters' memory is cut into the equal parts. */
void nn_model_replica_owned(nn_model *m, int k);
/* where part `part` of `parts` of `units` rows starts (a multiple of 16 but for part == parts):
 * how replica_head.c, the sum and the optimizer cut an owned parameter, in rows */
static inline int64_t nn_unit_cut(int64_t units, int part, int parts)
{
    return part >= parts ? units : units * part / parts / 16 * 16;
}
/* Before a step of replica r > 0: its state buffers take the model's values. */
void nn_model_replica_load_states(nn_model *m, int r);
/* After a training step of replicas 0..n-1: the model's F32 state buffers (running statistics)
 * become the mean over the replicas, in replica order. */
void nn_model_replica_average_states(nn_model *m, int n);

/* The plan's data input (fill it, [batch, sample...]) and its output. */
nn_tensor *nn_plan_input(nn_plan *p);
nn_tensor *nn_plan_output(nn_plan *p);
/* dLoss/dOutput, to be written by the loss before nn_plan_backward (training plans) */
nn_tensor *nn_plan_grad_output(nn_plan *p);
/* Seeds this step's random streams (dropout). */
void nn_plan_set_step_seed(nn_plan *p, uint64_t seed);
int nn_plan_forward(nn_plan *p, int training, nn_error *err);
/* Like forward, but checks every layer's output for NaN/Inf and names the first bad one. */
int nn_plan_forward_checked(nn_plan *p, int training, nn_error *err);
int nn_plan_backward(nn_plan *p, nn_error *err);
/* Finds the first layer (in backward order) whose parameter gradients are non-finite. */
int nn_plan_check_grads(nn_plan *p, nn_error *err);

/* For `nntrain summary`: per layer output shape, params, FLOPs, activation bytes. */
typedef struct nn_layer_report {
    const char *name, *type;
    nn_tensor output; /* shape only */
    int64_t params;
    uint64_t flops;
    size_t act_bytes;
} nn_layer_report;
int nn_plan_report(const nn_plan *p, int i, nn_layer_report *r); /* 0 ok, -1 past the end */
/* the bytes of the plan's activations; a model's plans share one arena when it fits them
 * (plan_memory.c), so a plan's activations are valid only until another plan of the model
 * runs, and nn_model_arena_bytes is what the model's plans hold in all */
size_t nn_plan_arena_bytes(const nn_plan *p);
size_t nn_model_arena_bytes(const nn_model *m);

/* Initialises t per an nn_init scheme from an RNG stream (also used for state buffers). */
void nn_init_tensor(nn_tensor *t, nn_init init, double arg, int64_t fan_in, int64_t fan_out,
                    uint64_t seed, uint64_t stream);
/* "he_uniform" for NN_INIT_HE_UNIFORM; NULL for a value that names no scheme */
const char *nn_init_name(nn_init init);
/* "zeros (0), ones (1), ...": every NN_INIT_* scheme and its value, for messages */
void nn_init_names(char *buf, size_t cap);

#endif
