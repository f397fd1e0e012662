/* nntest_badoptim.c: optimizers and schedulers that break what their kind needs: one has no
 * `lr` key, one keeps state outside its slots, one scheduler keeps state without saving it,
 * and one of each refuses every step. `plugins check` and `plugins test` must say so. Test
 * code; never installed. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

typedef struct st {
    long calls;
} st;

static int st_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    st *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    *self = s;
    return NN_OK;
}

static void st_destroy(void *self)
{
    free(self);
}

static int no_slots(void *self, nn_optim_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    s->n_slots = 0;
    return NN_OK;
}

/* sgd whose step shrinks with a private count of calls: not in any slot */
static int hidden_step(void *self, const nn_optim_step *s, nn_error *err)
{
    (void)err;
    st *o = self;
    double lr = s->lr / (double)(++o->calls);
    for (int k = 0; k < s->n_params; k++) {
        float *w = NN_F32P(s->params[k].value);
        const float *g = NN_F32P(s->params[k].grad);
        for (int64_t i = 0, n = nn_tensor_numel(s->params[k].value); i < n; i++)
            w[i] -= (float)lr * g[i];
    }
    return NN_OK;
}

static int refused_step(void *self, const nn_optim_step *s, nn_error *err)
{
    (void)self;
    return nn_error_set(err, NN_EINVAL, "refuses step %lld", (long long)s->t);
}

static const nn_optimizer_vtable refusing_vt = {.struct_size = sizeof(nn_optimizer_vtable),
                                                .create = st_create, .destroy = st_destroy,
                                                .setup = no_slots, .step = refused_step};
static const nn_optimizer_vtable opt_vt = {.struct_size = sizeof(nn_optimizer_vtable),
                                           .create = st_create, .destroy = st_destroy,
                                           .setup = no_slots, .step = hidden_step};

static const nn_param_spec with_lr[] = {
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, inf)", .doc = "rate"},
    {.name = NULL},
};
static const nn_param_spec without_lr[] = {
    {.name = "rate", .type = NN_PARAM_FLOAT, .def = "0.1", .doc = "called rate, not lr"},
    {.name = NULL},
};

static const nn_plugin_desc hidden_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "hidden_state", .version = "1.0.0", .license = "MIT",
    .summary = "keeps a step count outside its slots", .params = with_lr, .vtable = &opt_vt);
static const nn_plugin_desc refusing_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "refusing_optim", .version = "1.0.0", .license = "MIT",
    .summary = "refuses every step", .params = with_lr, .vtable = &refusing_vt);
static const nn_plugin_desc nolr_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_OPTIMIZER, .name = "no_lr", .version = "1.0.0", .license = "MIT",
    .summary = "its schema names the rate 'rate'", .params = without_lr, .vtable = &opt_vt);

/* halves the rate every 3 calls, counting calls itself, with no state_save */
static int sched_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                       nn_error *err)
{
    (void)self;
    (void)err;
    info->per_batch = 1;
    *lr = c->base_lr;
    return NN_OK;
}

static int sched_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    st *s = self;
    s->calls++;
    *lr = c->base_lr / (double)(1L << (s->calls / 3));
    return NN_OK;
}

/* steps like counting_sched for 3 calls, then refuses */
static int refused_sched_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    st *s = self;
    if (s->calls >= 3)
        return nn_error_set(err, NN_EINVAL, "refuses step %lld", (long long)c->step);
    return sched_step(self, c, lr, err);
}

static const nn_scheduler_vtable refusing_sched_vt = {
    .struct_size = sizeof(nn_scheduler_vtable), .create = st_create, .destroy = st_destroy,
    .start = sched_start, .step = refused_sched_step};
static const nn_scheduler_vtable sched_vt = {.struct_size = sizeof(nn_scheduler_vtable),
                                             .create = st_create, .destroy = st_destroy,
                                             .start = sched_start, .step = sched_step};
static const nn_plugin_desc sched_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "counting_sched", .version = "1.0.0", .license = "MIT",
    .summary = "counts its calls without saving the count", .vtable = &sched_vt);

static const nn_plugin_desc refusing_sched_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "refusing_sched", .version = "1.0.0", .license = "MIT",
    .summary = "refuses its fourth step", .vtable = &refusing_sched_vt);

NN_PLUGIN_EXPORT(&hidden_desc, &nolr_desc, &sched_desc, &refusing_desc, &refusing_sched_desc);
