/* multistep.c: the "multistep" scheduler plugin: the rate is multiplied by gamma at each
 * milestone epoch, as torch.optim.lr_scheduler.MultiStepLR, in closed form from the epoch
 * count so that a resumed run gets the same rates. No state; no allocation after create. */
#include <math.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

typedef struct multistep {
    const int64_t *milestones; /* borrowed from the params, which outlive the instance */
    int n;
    double gamma;
} multistep;

static int multistep_create(const nn_params *p, void **self, nn_error *err)
{
    int n = 0;
    const int64_t *m = nn_params_ints(p, "milestones", &n);
    if (n == 0)
        return nn_error_set(err, NN_EINVAL, "key 'milestones' needs at least one epoch");
    for (int i = 1; i < n; i++)
        if (m[i] <= m[i - 1])
            return nn_error_set(err, NN_EINVAL, "key 'milestones' must increase: item %d (%lld) "
                                "is not after item %d (%lld)", i + 1, (long long)m[i], i,
                                (long long)m[i - 1]);
    multistep *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->milestones = m;
    s->n = n;
    s->gamma = nn_params_float(p, "gamma");
    *self = s;
    return NN_OK;
}

static void multistep_destroy(void *self)
{
    free(self);
}

/* gamma to the number of milestones reached (bisect_right in PyTorch's closed form) */
static double multistep_lr(const multistep *s, const nn_sched_ctx *c)
{
    int passed = 0;
    while (passed < s->n && s->milestones[passed] <= c->epoch)
        passed++;
    return c->base_lr * pow(s->gamma, passed);
}

static int multistep_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                           nn_error *err)
{
    (void)err;
    info->per_batch = 0;
    info->monitor = NULL;
    *lr = multistep_lr(self, c);
    return NN_OK;
}

static int multistep_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    *lr = multistep_lr(self, c);
    return NN_OK;
}

static const nn_param_spec multistep_params[] = {
    {.name = "milestones", .type = NN_PARAM_INT_LIST, .range = "[1, inf)", .required = 1,
     .doc = "increasing epoch counts after which the rate is multiplied by gamma, e.g. 30, 80"},
    {.name = "gamma", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "(0, inf)",
     .doc = "factor the rate is multiplied by at each milestone"},
    {.name = NULL},
};

static const nn_scheduler_vtable multistep_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = multistep_create,
    .destroy = multistep_destroy,
    .start = multistep_start,
    .step = multistep_step,
};

static const nn_plugin_desc multistep_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "multistep", .version = "1.0.0", .license = "MIT",
    .summary = "per epoch: lr = base * gamma^(milestones reached) (MultiStepLR)",
    .params = multistep_params, .vtable = &multistep_vtable);

NN_PLUGIN_EXPORT(&multistep_desc);
