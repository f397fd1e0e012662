/* onecycle.c: the "onecycle" scheduler plugin: the 1cycle policy, warming up from
 * max_lr/div_factor to max_lr over pct_start of the run and annealing to
 * max_lr/(div_factor*final_div_factor), per batch, as torch.optim.lr_scheduler.OneCycleLR
 * (two phases; momentum is not cycled). Closed form in the batch count; no state. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

#define ONECYCLE_PI 3.14159265358979323846

typedef struct onecycle {
    double max_lr; /* NAN: the optimizer's lr */
    double pct_start, div_factor, final_div_factor;
    int linear;
    /* from start() */
    double total, peak, initial, final;
} onecycle;

static int onecycle_create(const nn_params *p, void **self, nn_error *err)
{
    onecycle *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->max_lr = nn_params_has(p, "max_lr") ? nn_params_float(p, "max_lr") : NAN;
    s->pct_start = nn_params_float(p, "pct_start");
    s->div_factor = nn_params_float(p, "div_factor");
    s->final_div_factor = nn_params_float(p, "final_div_factor");
    s->linear = nn_params_enum(p, "anneal") == 1;
    *self = s;
    return NN_OK;
}

static void onecycle_destroy(void *self)
{
    free(self);
}

static double anneal(const onecycle *s, double from, double to, double pct)
{
    if (s->linear)
        return (to - from) * pct + from;
    return to + (from - to) / 2.0 * (cos(ONECYCLE_PI * pct) + 1.0);
}

/* PyTorch's phases end at steps pct_start*total - 1 and total - 1; past the end of the run the
 * rate stays at its final value (PyTorch would raise an error there) */
static double onecycle_lr(const onecycle *s, int64_t step)
{
    double t = (double)step;
    double end1 = s->pct_start * s->total - 1.0, end2 = s->total - 1.0;
    if (t > s->total)
        t = s->total;
    if (t <= end1)
        return anneal(s, s->initial, s->peak, t / end1);
    return anneal(s, s->peak, s->final, (t - end1) / (end2 - end1));
}

static int onecycle_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                          nn_error *err)
{
    onecycle *s = self;
    int64_t total = c->steps_per_epoch * c->total_epochs;
    if (c->steps_per_epoch <= 0 || c->total_epochs <= 0)
        return nn_error_set(err, NN_EINVAL, "needs the run's length (batches per epoch times "
                            "epochs), which the trainer did not give");
    double end1 = s->pct_start * (double)total - 1.0;
    if (end1 <= 0 || (double)total - 1.0 - end1 <= 0)
        return nn_error_set(err, NN_EINVAL, "key 'pct_start' = %g leaves an empty phase over %lld "
                            "batches; each phase needs at least one batch", s->pct_start,
                            (long long)total);
    s->total = (double)total;
    s->peak = isnan(s->max_lr) ? c->base_lr : s->max_lr;
    s->initial = s->peak / s->div_factor;
    s->final = s->initial / s->final_div_factor;
    info->per_batch = 1;
    info->monitor = NULL;
    *lr = onecycle_lr(s, c->step);
    return NN_OK;
}

static int onecycle_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    *lr = onecycle_lr(self, c->step);
    return NN_OK;
}

static const nn_param_spec onecycle_params[] = {
    {.name = "max_lr", .type = NN_PARAM_FLOAT, .range = "(0, inf)",
     .doc = "peak rate; default: the optimizer's lr"},
    {.name = "pct_start", .type = NN_PARAM_FLOAT, .def = "0.3", .range = "(0, 1)",
     .doc = "fraction of the run spent increasing the rate"},
    {.name = "anneal", .type = NN_PARAM_ENUM, .def = "cos", .choices = "cos|linear",
     .doc = "shape of both phases: cosine or straight line"},
    {.name = "div_factor", .type = NN_PARAM_FLOAT, .def = "25", .range = "(0, inf)",
     .doc = "the starting rate is max_lr / div_factor"},
    {.name = "final_div_factor", .type = NN_PARAM_FLOAT, .def = "1e4", .range = "(0, inf)",
     .doc = "the final rate is the starting rate / final_div_factor"},
    {.name = NULL},
};

static const nn_scheduler_vtable onecycle_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = onecycle_create,
    .destroy = onecycle_destroy,
    .start = onecycle_start,
    .step = onecycle_step,
};

static const nn_plugin_desc onecycle_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "onecycle", .version = "1.0.0", .license = "MIT",
    .summary = "per batch: the 1cycle policy, up to max_lr and down below the start (OneCycleLR)",
    .params = onecycle_params, .vtable = &onecycle_vtable);

NN_PLUGIN_EXPORT(&onecycle_desc);
