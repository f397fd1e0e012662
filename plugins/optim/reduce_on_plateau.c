/* reduce_on_plateau.c: the "reduce_on_plateau" scheduler plugin: the rate is multiplied by
 * factor when a validation metric stops improving, as torch.optim.lr_scheduler.ReduceLROnPlateau.
 * Its counters and current rate are not a function of the epoch, so they round-trip through
 * state_save/state_load; doubles are written in hex so that resume is exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <nntrain/scheduler.h>

#define PLATEAU_EPS 1e-8 /* a reduction smaller than this is skipped, as in PyTorch */

typedef struct plateau {
    const char *monitor; /* borrowed from the params */
    int mode_max, abs_mode;
    double factor, threshold, min_lr;
    int64_t patience, cooldown;
    /* state */
    double best, lr;
    int64_t num_bad_epochs, cooldown_counter;
} plateau;

static int plateau_create(const nn_params *p, void **self, nn_error *err)
{
    plateau *s = calloc(1, sizeof *s);
    if (!s)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    s->monitor = nn_params_str(p, "monitor");
    s->mode_max = nn_params_enum(p, "mode") == 1;
    s->abs_mode = nn_params_enum(p, "threshold_mode") == 1;
    s->factor = nn_params_float(p, "factor");
    s->threshold = nn_params_float(p, "threshold");
    s->min_lr = nn_params_float(p, "min_lr");
    s->patience = nn_params_int(p, "patience");
    s->cooldown = nn_params_int(p, "cooldown");
    if (!s->monitor || !*s->monitor) {
        free(s);
        return nn_error_set(err, NN_EINVAL, "key 'monitor' is empty; name a validation metric "
                            "such as val_loss");
    }
    *self = s;
    return NN_OK;
}

static void plateau_destroy(void *self)
{
    free(self);
}

static int plateau_better(const plateau *s, double a)
{
    double b = s->best;
    if (!s->mode_max)
        return s->abs_mode ? a < b - s->threshold : a < b * (1.0 - s->threshold);
    return s->abs_mode ? a > b + s->threshold : a > b * (1.0 + s->threshold);
}

static int plateau_start(void *self, const nn_sched_ctx *c, nn_sched_info *info, double *lr,
                         nn_error *err)
{
    (void)err;
    plateau *s = self;
    s->best = s->mode_max ? -INFINITY : INFINITY;
    s->num_bad_epochs = s->cooldown_counter = 0;
    s->lr = c->base_lr;
    info->per_batch = 0;
    info->monitor = s->monitor;
    *lr = s->lr;
    return NN_OK;
}

static int plateau_step(void *self, const nn_sched_ctx *c, double *lr, nn_error *err)
{
    (void)err;
    plateau *s = self;
    if (!isnan(c->metric)) { /* an epoch without validation leaves everything as it was */
        if (plateau_better(s, c->metric)) {
            s->best = c->metric;
            s->num_bad_epochs = 0;
        } else {
            s->num_bad_epochs++;
        }
        if (s->cooldown_counter > 0) {
            s->cooldown_counter--;
            s->num_bad_epochs = 0;
        }
        if (s->num_bad_epochs > s->patience) {
            double nl = fmax(s->lr * s->factor, s->min_lr);
            if (s->lr - nl > PLATEAU_EPS)
                s->lr = nl;
            s->cooldown_counter = s->cooldown;
            s->num_bad_epochs = 0;
        }
    }
    *lr = s->lr;
    return NN_OK;
}

static int plateau_save(void *self, char *buf, size_t cap, nn_error *err)
{
    const plateau *s = self;
    int n = snprintf(buf, cap, "best %a\nlr %a\nnum_bad_epochs %lld\ncooldown_counter %lld\n",
                     s->best, s->lr, (long long)s->num_bad_epochs,
                     (long long)s->cooldown_counter);
    if (n < 0)
        return nn_error_set(err, NN_EINTERNAL, "cannot format the plateau state");
    return n;
}

static int plateau_load(void *self, const char *text, nn_error *err)
{
    plateau *s = self;
    double best, lr;
    long long bad, cool;
    if (sscanf(text, "best %la lr %la num_bad_epochs %lld cooldown_counter %lld", &best, &lr,
               &bad, &cool) != 4 || bad < 0 || cool < 0 || !(lr >= 0))
        return nn_error_set(err, NN_EFORMAT, "reduce_on_plateau state is malformed: expected "
                            "'best X lr X num_bad_epochs N cooldown_counter N', got \"%.80s\"",
                            text);
    s->best = best;
    s->lr = lr;
    s->num_bad_epochs = bad;
    s->cooldown_counter = cool;
    return NN_OK;
}

static const nn_param_spec plateau_params[] = {
    {.name = "monitor", .type = NN_PARAM_STRING, .def = "val_loss",
     .doc = "the validation metric to watch, as the trainer names it (val_loss, val_accuracy)"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "min", .choices = "min|max",
     .doc = "min: lower is better (losses); max: higher is better (accuracies)"},
    {.name = "factor", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "(0, 1)",
     .doc = "the rate is multiplied by this when the metric stalls"},
    {.name = "patience", .type = NN_PARAM_INT, .def = "10", .range = "[0, inf)",
     .doc = "epochs without improvement tolerated before the rate is reduced"},
    {.name = "threshold", .type = NN_PARAM_FLOAT, .def = "1e-4", .range = "[0, inf)",
     .doc = "how much better than the best a value must be to count as an improvement"},
    {.name = "threshold_mode", .type = NN_PARAM_ENUM, .def = "rel", .choices = "rel|abs",
     .doc = "rel: better than best*(1 -/+ threshold); abs: better than best -/+ threshold"},
    {.name = "cooldown", .type = NN_PARAM_INT, .def = "0", .range = "[0, inf)",
     .doc = "epochs after a reduction during which bad epochs are not counted"},
    {.name = "min_lr", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",
     .doc = "the rate is never reduced below this"},
    {.name = NULL},
};

static const nn_scheduler_vtable plateau_vtable = {
    .struct_size = sizeof(nn_scheduler_vtable),
    .create = plateau_create,
    .destroy = plateau_destroy,
    .start = plateau_start,
    .step = plateau_step,
    .state_save = plateau_save,
    .state_load = plateau_load,
};

static const nn_plugin_desc plateau_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_SCHEDULER, .name = "reduce_on_plateau", .version = "1.0.0",
    .license = "MIT", .caps = NN_CAP_STATEFUL,
    .summary = "per epoch: reduce the rate when a validation metric stalls (ReduceLROnPlateau)",
    .params = plateau_params, .vtable = &plateau_vtable);

NN_PLUGIN_EXPORT(&plateau_desc);
