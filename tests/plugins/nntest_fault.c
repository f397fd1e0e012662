/* nntest_fault.c: one plugin of each kind the trainer runs (dataset, transform, layer, loss,
 * optimizer, logger), all named nntest_fault, that crash on purpose in the call named by
 * `crash_in`, in the way named by `how`. With crash_in = none they form a tiny working run,
 * so the crash tests change one key per case. The layer also fails without a message where
 * `fail_in` says (forward or backward), returning `fail_status`, which need not be a valid
 * status. Test fixture only: never installed. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nntrain/nntrain.h>

typedef struct fault {
    const char *crash_in; /* points into the params, which outlive the instance */
    int how;              /* 0 segv, 1 abort, 2 stack, 3 exit(0), 4 _exit(0) */
    const char *fail_in;  /* layer only: the call that returns fail_status, message empty */
    int fail_status;
    int64_t length, features;
    int classes, label;  /* dataset: the n_classes it declares; >= 0: every sample's class */
    int publish_labels;  /* dataset: fill info->labels */
    int32_t *labels;
} fault;

/* never true at run time, but the compiler cannot know: keeps the recursion from being
 * turned into a loop or called infinite */
static volatile int64_t recursion_limit = INT64_MAX;

static int64_t deep(volatile char *up, int64_t n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = up ? up[0] : 0;
    if (n >= recursion_limit)
        return frame[0];
    return deep(frame, n + 1) + frame[511];
}

static void crash(int how)
{
    if (how == 1)
        abort();
    if (how == 3)
        exit(0); /* the success status: nntrain must not pass it on */
    if (how == 4)
        _exit(0); /* no atexit handler runs */
    if (how == 2) {
        deep(NULL, 0);
        return;
    }
    /* a member read through a NULL struct pointer, as real plugin bugs look; not NULL itself,
     * so UBSan's null check stays out of it and the fault is a plain SIGSEGV */
    volatile uintptr_t near_null = 64;
    *(volatile int *)near_null = 1;
}

static void maybe_crash(const fault *f, const char *call)
{
    if (f && f->crash_in && strcmp(f->crash_in, call) == 0)
        crash(f->how);
}

static int fault_create(const nn_params *p, void **self, nn_error *err)
{
    fault *f = calloc(1, sizeof *f);
    if (!f)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    f->crash_in = nn_params_str(p, "crash_in");
    f->how = nn_params_enum(p, "how");
    f->length = nn_params_has(p, "length") ? nn_params_int(p, "length") : 0;
    f->features = nn_params_has(p, "features") ? nn_params_int(p, "features") : 0;
    f->fail_in = nn_params_has(p, "fail_in") ? nn_params_str(p, "fail_in") : NULL;
    f->fail_status = nn_params_has(p, "fail_status") ? (int)nn_params_int(p, "fail_status") : 0;
    f->classes = nn_params_has(p, "classes") ? (int)nn_params_int(p, "classes") : 0;
    f->label = nn_params_has(p, "label") ? (int)nn_params_int(p, "label") : -1;
    f->publish_labels = nn_params_has(p, "publish_labels") && nn_params_bool(p, "publish_labels");
    maybe_crash(f, "create");
    *self = f;
    return NN_OK;
}

static void fault_destroy(void *self)
{
    maybe_crash(self, "destroy");
    if (self)
        free(((fault *)self)->labels);
    free(self);
}

#define FAULT_HOW                                                                          \
    {.name = "how", .type = NN_PARAM_ENUM, .def = "segv", .choices = "segv|abort|stack|exit|_exit", \
     .doc = "invalid memory access, abort(), unbounded recursion, exit(0) or _exit(0)"}
#define FAULT_PARAMS(calls)                                                                \
    {{.name = "crash_in", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|" calls,  \
      .doc = "the call that crashes"},                                                     \
     FAULT_HOW,                                                                            \
     {.name = NULL}}

#define FAULT_DESC(k, vtab, pars, extra_caps)                                              \
    NN_DESCRIPTOR(.kind = (k), .name = "nntest_fault", .version = "1.0.0", .license = "MIT", \
                  .summary = "crashes in the call named by crash_in", .caps = (extra_caps),  \
                  .params = (pars), .vtable = &(vtab))

/* ---- layer: y = x ---- */
static int layer_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)err;
    maybe_crash(self, "setup");
    const nn_tensor *in = s->inputs[0];
    nn_tensor_describe(&s->output, NN_F32, in->dl.ndim, in->shape);
    return NN_OK;
}

static int layer_bind(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)io;
    (void)err;
    maybe_crash(self, "bind");
    return NN_OK;
}

/* the status the layer returns from call without a message, or 0 */
static int silent_failure(const fault *f, const char *call)
{
    return f->fail_in && strcmp(f->fail_in, call) == 0 ? f->fail_status : 0;
}

static int layer_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    maybe_crash(self, "forward");
    if (silent_failure(self, "forward"))
        return silent_failure(self, "forward");
    memcpy(io->output->dl.data, io->inputs[0]->dl.data, nn_tensor_nbytes(io->output));
    return NN_OK;
}

static int layer_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)err;
    maybe_crash(self, "backward");
    if (silent_failure(self, "backward"))
        return silent_failure(self, "backward");
    if (io->grad_inputs[0])
        memcpy(io->grad_inputs[0]->dl.data, io->grad_output->dl.data,
               nn_tensor_nbytes(io->grad_inputs[0]));
    return NN_OK;
}

static const nn_layer_vtable layer_vt = {
    .struct_size = sizeof(nn_layer_vtable), .create = fault_create, .destroy = fault_destroy,
    .setup = layer_setup, .bind = layer_bind, .forward = layer_forward,
    .backward = layer_backward,
};
static const nn_param_spec layer_params[] = {
    {.name = "crash_in", .type = NN_PARAM_ENUM, .def = "none",
     .choices = "none|create|setup|bind|forward|backward|destroy",
     .doc = "the call that crashes"},
    FAULT_HOW,
    {.name = "fail_in", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|forward|backward",
     .doc = "the call that returns fail_status without setting a message"},
    {.name = "fail_status", .type = NN_PARAM_INT, .def = "-1",
     .doc = "what fail_in's call returns (any int, valid status or not)"},
    {.name = NULL}};

/* ---- loss: the mean of the predictions ---- */
static int loss_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    (void)s;
    (void)err;
    maybe_crash(self, "setup");
    return NN_OK;
}

static int loss_forward(void *self, nn_loss_io *io, nn_error *err)
{
    (void)err;
    maybe_crash(self, "forward");
    int64_t n = nn_tensor_numel(io->pred);
    const float *p = NN_F32P(io->pred);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += p[i];
    io->loss = sum / (double)n;
    if (io->grad_pred)
        for (int64_t i = 0; i < n; i++)
            NN_F32P(io->grad_pred)[i] = (float)(1.0 / (double)n);
    return NN_OK;
}

static const nn_loss_vtable loss_vt = {
    .struct_size = sizeof(nn_loss_vtable), .create = fault_create, .destroy = fault_destroy,
    .setup = loss_setup, .forward = loss_forward,
};
static const nn_param_spec loss_params[] = FAULT_PARAMS("create|setup|forward");

/* ---- optimizer: plain SGD ---- */
static int opt_setup(void *self, nn_optim_setup *s, nn_error *err)
{
    (void)err;
    maybe_crash(self, "setup");
    s->n_slots = 0;
    return NN_OK;
}

static int opt_step(void *self, const nn_optim_step *st, nn_error *err)
{
    (void)err;
    maybe_crash(self, "step");
    for (int k = 0; k < st->n_params; k++) {
        float *w = NN_F32P(st->params[k].value);
        const float *g = NN_F32P(st->params[k].grad);
        for (int64_t i = 0; i < nn_tensor_numel(st->params[k].value); i++)
            w[i] -= (float)st->lr * g[i];
    }
    return NN_OK;
}

static const nn_optimizer_vtable opt_vt = {
    .struct_size = sizeof(nn_optimizer_vtable), .create = fault_create,
    .destroy = fault_destroy, .setup = opt_setup, .step = opt_step,
};
static const nn_param_spec opt_params[] = {
    {.name = "crash_in", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|setup|step",
     .doc = "the call that crashes"},
    FAULT_HOW,
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.01", .range = "(0, inf)",
     .doc = "learning rate"},
    {.name = NULL}};

/* ---- logger: says nothing ---- */
static int log_open(void *self, const nn_logger_open *o, nn_error *err)
{
    (void)o;
    (void)err;
    maybe_crash(self, "open");
    return NN_OK;
}

static int log_event(void *self, const nn_event *ev, nn_error *err)
{
    (void)ev;
    (void)err;
    maybe_crash(self, "event");
    return NN_OK;
}

static const nn_logger_vtable log_vt = {
    .struct_size = sizeof(nn_logger_vtable), .create = fault_create, .destroy = fault_destroy,
    .open = log_open, .event = log_event,
};
static const nn_param_spec log_params[] = FAULT_PARAMS("create|open|event");

/* ---- dataset: `length` samples of `features` floats, class = index % 2 (or `label`) ---- */
static int32_t data_label(const fault *f, int64_t index)
{
    return f->label >= 0 ? f->label : (int32_t)(index % 2);
}

static int data_open(void *self, const nn_dataset_open *o, nn_dataset_info *info, nn_error *err)
{
    (void)o;
    fault *f = self;
    maybe_crash(f, "open");
    info->length = f->length;
    nn_tensor_describe(&info->sample, NN_F32, 1, &f->features);
    nn_tensor_describe(&info->target, NN_I32, 0, NULL);
    info->n_classes = f->classes;
    if (f->publish_labels) {
        free(f->labels);
        if (!(f->labels = malloc((size_t)f->length * sizeof *f->labels)))
            return nn_error_set(err, NN_ENOMEM, "out of memory");
        for (int64_t i = 0; i < f->length; i++)
            f->labels[i] = data_label(f, i);
        info->labels = f->labels;
    }
    return NN_OK;
}

static int data_get(void *self, int64_t index, nn_tensor *sample, nn_tensor *target,
                    nn_error *err)
{
    (void)err;
    const fault *f = self;
    maybe_crash(f, "get");
    for (int64_t i = 0; i < f->features; i++)
        NN_F32P(sample)[i] = (float)((index + i) % 3) - 1.0f;
    *(int32_t *)target->dl.data = data_label(f, index);
    return NN_OK;
}

static const nn_dataset_vtable data_vt = {
    .struct_size = sizeof(nn_dataset_vtable), .create = fault_create,
    .destroy = fault_destroy, .open = data_open, .get = data_get,
};
static const nn_param_spec data_params[] = {
    {.name = "crash_in", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|open|get",
     .doc = "the call that crashes"},
    FAULT_HOW,
    {.name = "length", .type = NN_PARAM_INT, .def = "32", .range = "[1, 100000]",
     .doc = "number of samples in every split"},
    {.name = "features", .type = NN_PARAM_INT, .def = "4", .range = "[1, 4294967296]",
     .doc = "floats per sample (huge values let the size checks be tested without data)"},
    {.name = "classes", .type = NN_PARAM_INT, .def = "2", .range = "[-3, 1000]",
     .doc = "the n_classes it declares (a wrong one tests the core's checks)"},
    {.name = "label", .type = NN_PARAM_INT, .def = "-1", .range = "[-1, 1000]",
     .doc = "every sample's class id; -1: index % 2"},
    {.name = "publish_labels", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "describe the class ids in info->labels (for stratified splits)"},
    {.name = NULL}};

/* ---- transform: identity ---- */
static int tf_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    (void)err;
    maybe_crash(self, "setup");
    s->train_only = 0;
    return NN_OK;
}

static int tf_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng, nn_error *err)
{
    (void)rng;
    (void)err;
    maybe_crash(self, "apply");
    memcpy(out->dl.data, in->dl.data, nn_tensor_nbytes(in));
    return NN_OK;
}

static const nn_transform_vtable tf_vt = {
    .struct_size = sizeof(nn_transform_vtable), .create = fault_create,
    .destroy = fault_destroy, .setup = tf_setup, .apply = tf_apply,
};
static const nn_param_spec tf_params[] = FAULT_PARAMS("setup|apply");

static const nn_plugin_desc layer_desc = FAULT_DESC(NN_KIND_LAYER, layer_vt, layer_params,
                                                    NN_CAP_BACKWARD);
static const nn_plugin_desc loss_desc = FAULT_DESC(NN_KIND_LOSS, loss_vt, loss_params, 0);
static const nn_plugin_desc opt_desc = FAULT_DESC(NN_KIND_OPTIMIZER, opt_vt, opt_params, 0);
static const nn_plugin_desc log_desc = FAULT_DESC(NN_KIND_LOGGER, log_vt, log_params, 0);
static const nn_plugin_desc data_desc = FAULT_DESC(NN_KIND_DATASET, data_vt, data_params,
                                                   NN_CAP_THREAD_SAFE);
static const nn_plugin_desc tf_desc = FAULT_DESC(NN_KIND_TRANSFORM, tf_vt, tf_params,
                                                 NN_CAP_THREAD_SAFE);

NN_PLUGIN_EXPORT(&layer_desc, &loss_desc, &opt_desc, &log_desc, &data_desc, &tf_desc);
