/* graph_internal.h: the structures behind nn_model and nn_plan, shared by graph.c (the model:
 * layers, DAG, parameters) and plan.c (compiled plans and their execution). */
#ifndef NN_GRAPH_INTERNAL_H
#define NN_GRAPH_INTERNAL_H

#include "device.h"
#include "graph.h"
#include "instance.h"

#define NN_DATA_INPUT (-1)

typedef struct layer_def {
    char *name, *type, *origin;
    const nn_plugin_desc *desc;
    nn_kv *kvs;
    int n_kvs;
    char *input_names[NN_MAX_INPUTS];
    int n_inputs;
    int inputs[NN_MAX_INPUTS]; /* resolved: NN_DATA_INPUT or a layer index */
    double lr_mult, wd_mult;
    int n_params;
    int param_index[NN_MAX_LAYER_PARAMS_ALL]; /* into the model's param table */
    int state_index[NN_MAX_LAYER_BUFFERS]; /* into the model's state table, -1 if not state */
} layer_def;

/* value/grad live on the model's device; host_* are their host copies (the same memory on
 * the CPU) for initialisation, checkpoints and loggers */
typedef struct param_rec {
    char name[2 * NN_NAME_MAX + 2];
    nn_tensor value, grad, host_value, host_grad;
    nn_param_decl decl;
    double lr_mult, wd_mult;
    int layer;
    int external; /* its memory is another model's (nn_model_set_param_source) */
    int owned;    /* nn_model_replica_owned */
} param_rec;

typedef struct state_rec {
    char name[2 * NN_NAME_MAX + 2];
    nn_tensor value, host_value;
    nn_buffer_decl decl;
} state_rec;

/* Replica r > 0 of a model (in-process data parallelism, core/replicas.c): its plans read the
 * model's parameters but write gradients and state buffers of their own, laid out as the
 * model's, so that the replicas' steps can run at once on different threads. */
typedef struct replica_rec {
    void *grad_arena, *state_arena; /* host memory, as the model's grad_arena / state_arena */
    nn_tensor *grads, *states;      /* per parameter, per state buffer */
} replica_rec;

typedef struct edge {
    int consumer, slot; /* consumer layer and which of its inputs */
    nn_tensor grad;     /* own buffer when the producer feeds several consumers */
} edge;

struct nn_plan {
    nn_model *m;
    int64_t batch;
    int training;
    int replica; /* 0: the model's own gradients and state; r > 0: replica r's */
    int sample_ndim;
    int64_t sample_shape[NN_MAX_DIMS];
    nn_dtype dtype;
    nn_instance *inst;
    nn_layer_setup *setups;
    nn_layer_io *ios;
    /* per layer, the ABI 0.5 overflow of params past NN_MAX_LAYER_PARAMS: declarations, and
     * the tensors and gradients io.params_more / io.param_grads_more point at */
    nn_param_decl *decls_more;
    nn_tensor **params_more, **grads_more;
    nn_tensor input;
    nn_tensor *outputs, *grads, *bufs; /* per layer; bufs: NN_MAX_LAYER_BUFFERS per layer */
    int *needs_grad;                   /* per layer: its output gradient is needed */
    int *n_consumers;
    edge *edges;
    int n_edges;
    void *arena; /* device memory: arena_ref's (plan_memory.c), of which it uses arena_bytes */
    struct nn_arena *arena_ref;
    size_t arena_bytes;
    uint64_t step_seed;
    /* nn_plan_set_layer_hook: layer hook_layer's training forward and backward call hook */
    int hook_layer;
    nn_layer_hook hook;
    void *hook_ctx;
    nn_plan *next;
};

struct nn_model {
    nn_registry *reg;
    nn_dev *dev; /* borrowed; the host when created with NULL */
    layer_def *layers;
    int n_layers, cap_layers;
    int *order; /* topological order of layer indices */
    param_rec *params;
    int n_params;
    state_rec *states;
    int n_states;
    void *param_arena, *grad_arena, *state_arena;          /* device */
    void *accum_arena;                                     /* device; gradient accumulation */
    size_t param_bytes;
    void *host_param_arena, *host_grad_arena, *host_state_arena; /* NULL on the host */
    int has_params;
    uint64_t seed;
    nn_plan *plans;
    /* per replica, the arena its next plan takes when it fits (plan_memory.c) */
    struct nn_arena *arena[NN_MAX_REPLICAS];
    int plain_layouts; /* no opaque layouts between layers (nn_model_set_plain_layouts) */
    nn_dtype precision; /* what nn_layer_setup.precision asks of the layers */
    /* data-parallel runs (dist.c): told after each layer's backward; handed to layers */
    nn_backward_hook bwd_hook;
    void *bwd_ctx;
    const struct nn_dist_info *dist;
    /* in-process replicas (nn_model_set_replicas): rep[0] is unused, the model itself */
    int n_replicas;
    replica_rec rep[NN_MAX_REPLICAS];
    const struct nn_dist_info *rep_dist[NN_MAX_REPLICAS];
    nn_param_source psrc; /* nn_model_set_param_source */
    void *psrc_ctx;
};

static inline size_t nn_align64(size_t x)
{
    return (x + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
}

static inline int nn_layer_n_in(const layer_def *l)
{
    return l->n_inputs ? l->n_inputs : 1;
}

/* plan.c */
void nn_plan_free(nn_plan *p);
/* plan_memory.c: offsets of the activation gradients (grad_off per layer, edge_off per edge)
 * in a region of *bytes, by their live intervals in backward order */
int nn_plan_place_grads(const nn_plan *p, size_t *grad_off, size_t *edge_off, size_t *bytes,
                        nn_error *err);
/* plan_memory.c: p->arena of at least `bytes`, zeroed: the model's shared arena, or a new one */
int nn_plan_arena_take(nn_plan *p, size_t bytes, nn_error *err);
void nn_plan_arena_release(nn_plan *p);
void nn_model_arena_release(nn_model *m);
/* graph.c: creates the parameter and state tables from the first plan's declarations */
int nn_model_create_params(nn_model *m, nn_plan *p, nn_error *err);
/* graph.c: a later plan must declare exactly the parameters and state of the first */
int nn_model_check_params(const nn_model *m, const nn_plan *p, nn_error *err);
/* graph.c: replica r's gradients and state buffers (once the model has its parameters) */
int nn_model_replica_alloc(nn_model *m, int r, nn_error *err);
/* graph.c: orders the DAG */
int nn_model_resolve(nn_model *m, nn_error *err);

#endif
