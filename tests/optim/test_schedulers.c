/* test_schedulers.c: each scheduler plugin's rate sequence against reference.py's numbers,
 * which follow torch.optim.lr_scheduler's recursive forms (the plugins use closed forms),
 * across milestones, restarts and plateaus; its unit (per batch or per epoch); its state
 * round trip where it has one; rejections that name the key; and the docs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "nntrain/scheduler.h"

#define NOF(a) ((int)(sizeof(a) / sizeof *(a)))

static void expect_sequence(const char *name, const char *const *kv, double base,
                            int64_t spe, int64_t epochs, const double *metrics,
                            const double *ref, int n, int per_batch)
{
    double got[64];
    int pb = -1;
    cr_assert(n <= 64);
    h_sched_sequence(name, kv, base, spe, epochs, metrics, n, got, &pb);
    cr_assert_eq(pb, per_batch, "%s: per_batch is %d, expected %d", name, pb, per_batch);
    h_expect_close(got, ref, n, 1e-12, 1e-15, name);
}

Test(step, decays_by_gamma_every_step_size_epochs)
{
    const char *kv[] = {"step_size", "3", "gamma", "0.5", NULL};
    expect_sequence("step", kv, 0.1, 10, 12, NULL, ref_step, NOF(ref_step), 0);
}

Test(step, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"step_size", "0", NULL}, *b[] = {"step_size", "2", "gamma", "0", NULL},
               *c[] = {"gamma", "0.5", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "step", a, "step_size");
    h_expect_rejected(NN_KIND_SCHEDULER, "step", b, "gamma");
    h_expect_rejected(NN_KIND_SCHEDULER, "step", c, "step_size"); /* required */
}

Test(step, docs_show_every_key)
{
    const char *w[] = {"scheduler step", "step_size", "gamma", "required", NULL};
    h_expect_docs("step", w);
}

Test(multistep, decays_at_each_milestone)
{
    const char *kv[] = {"milestones", "2, 5, 6", "gamma", "0.1", NULL};
    expect_sequence("multistep", kv, 0.1, 10, 10, NULL, ref_multistep, NOF(ref_multistep), 0);
}

Test(multistep, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"milestones", "5, 3", NULL}, *b[] = {"milestones", "0", NULL},
               *c[] = {"milestones", "", NULL}, *d[] = {"milestones", "2, 2", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "multistep", a, "milestones");
    h_expect_rejected(NN_KIND_SCHEDULER, "multistep", b, "milestones");
    h_expect_rejected(NN_KIND_SCHEDULER, "multistep", c, "milestones");
    h_expect_rejected(NN_KIND_SCHEDULER, "multistep", d, "milestones");
}

Test(multistep, docs_show_every_key)
{
    const char *w[] = {"scheduler multistep", "milestones", "gamma", NULL};
    h_expect_docs("multistep", w);
}

Test(exponential, multiplies_by_gamma_every_epoch)
{
    const char *kv[] = {"gamma", "0.9", NULL};
    expect_sequence("exponential", kv, 0.1, 10, 8, NULL, ref_exponential,
                    NOF(ref_exponential), 0);
}

Test(exponential, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"gamma", "-0.9", NULL}, *b[] = {"gama", "0.9", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "exponential", a, "gamma");
    h_expect_rejected(NN_KIND_SCHEDULER, "exponential", b, "gamma");
}

Test(exponential, docs_show_every_key)
{
    const char *w[] = {"scheduler exponential", "gamma", NULL};
    h_expect_docs("exponential", w);
}

Test(cosine, anneals_to_eta_min_and_back_past_t_max)
{
    const char *kv[] = {"t_max", "6", "eta_min", "0.001", NULL};
    expect_sequence("cosine", kv, 0.1, 10, 20, NULL, ref_cosine, NOF(ref_cosine), 0);
}

Test(cosine, batch_unit_defaults_t_max_to_the_run_length)
{
    /* 2 batches x 3 epochs = 6 batches: the same curve as t_max = 6 in batches */
    const char *kv[] = {"unit", "batch", "eta_min", "0.001", NULL};
    expect_sequence("cosine", kv, 0.1, 2, 3, NULL, ref_cosine, 7, 1);
}

Test(cosine, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"t_max", "0", NULL}, *b[] = {"unit", "week", NULL},
               *c[] = {"eta_min", "-1", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine", a, "t_max");
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine", b, "unit");
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine", c, "eta_min");
    /* without t_max and without the run's length, start() names t_max */
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(h_instance(&inst, NN_KIND_SCHEDULER, "cosine", NULL, &err), NN_OK);
    const nn_scheduler_vtable *vt = inst.vt;
    nn_sched_ctx ctx = {.struct_size = sizeof ctx, .base_lr = 0.1, .metric = NAN};
    nn_sched_info info = {.struct_size = sizeof info};
    double lr;
    cr_assert_eq(vt->start(inst.self, &ctx, &info, &lr, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "'t_max'"), "%s", err.msg);
    nn_instance_destroy(&inst);
}

/* start() with base rate lr: the status, with the message in err */
static int start_with_lr(const char *name, const char *const *kv, double lr, nn_error *err)
{
    nn_instance inst;
    cr_assert_eq(h_instance(&inst, NN_KIND_SCHEDULER, name, kv, err), NN_OK, "%s", err->msg);
    const nn_scheduler_vtable *vt = inst.vt;
    nn_sched_ctx ctx = {.struct_size = sizeof ctx, .base_lr = lr, .steps_per_epoch = 4,
                        .total_epochs = 3, .metric = NAN};
    nn_sched_info info = {.struct_size = sizeof info};
    double got;
    int rc = vt->start(inst.self, &ctx, &info, &got, err);
    nn_instance_destroy(&inst);
    return rc;
}

/* annealing "down" to a rate above lr would raise it; eta_min = lr (a constant) is fine */
Test(cosine, eta_min_above_lr_is_refused_at_start_naming_both_keys)
{
    const char *kv[] = {"eta_min", "5", NULL}, *same[] = {"eta_min", "0.1", NULL};
    nn_error err = {0};
    cr_assert_eq(start_with_lr("cosine", kv, 0.1, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "key 'eta_min' = 5 is above the optimizer's key 'lr' = 0.1, so "
                              "the annealing would raise the rate; give eta_min <= lr");
    cr_assert_eq(start_with_lr("cosine", same, 0.1, &err), NN_OK, "%s", err.msg);
    const char *w[] = {"at most the optimizer's lr", NULL};
    h_expect_docs("cosine", w);
}

Test(cosine_warm_restarts, eta_min_above_lr_is_refused_at_start_naming_both_keys)
{
    const char *kv[] = {"t_0", "2", "eta_min", "0.5", NULL};
    nn_error err = {0};
    cr_assert_eq(start_with_lr("cosine_warm_restarts", kv, 0.1, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "key 'eta_min' = 0.5 is above the optimizer's key 'lr' = 0.1"),
              "%s", err.msg);
    cr_assert_eq(start_with_lr("cosine_warm_restarts", kv, 0.5, &err), NN_OK, "%s", err.msg);
}

Test(cosine, docs_show_every_key)
{
    const char *w[] = {"scheduler cosine", "t_max", "eta_min", "unit", "epoch|batch", NULL};
    h_expect_docs("cosine", w);
}

Test(cosine_warm_restarts, restarts_every_t_0_epochs)
{
    const char *kv[] = {"t_0", "3", "eta_min", "0.01", NULL};
    expect_sequence("cosine_warm_restarts", kv, 0.1, 10, 10, NULL, ref_warm_restarts_1,
                    NOF(ref_warm_restarts_1), 0);
}

Test(cosine_warm_restarts, periods_grow_by_t_mult)
{
    const char *kv[] = {"t_0", "2", "t_mult", "2", NULL};
    expect_sequence("cosine_warm_restarts", kv, 0.1, 10, 16, NULL, ref_warm_restarts_2,
                    NOF(ref_warm_restarts_2), 0);
}

Test(cosine_warm_restarts, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"t_0", "0", NULL}, *b[] = {"t_0", "2", "t_mult", "0", NULL},
               *c[] = {"t_mult", "2", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine_warm_restarts", a, "t_0");
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine_warm_restarts", b, "t_mult");
    h_expect_rejected(NN_KIND_SCHEDULER, "cosine_warm_restarts", c, "t_0");
}

Test(cosine_warm_restarts, docs_show_every_key)
{
    const char *w[] = {"scheduler cosine_warm_restarts", "t_0", "t_mult", "eta_min", NULL};
    h_expect_docs("cosine_warm_restarts", w);
}

Test(reduce_on_plateau, min_rel_with_cooldown_matches_reference)
{
    const char *kv[] = {"patience", "1", "cooldown", "2", "threshold", "1e-3", NULL};
    expect_sequence("reduce_on_plateau", kv, 0.1, 10, 20, ref_plateau_metrics,
                    ref_plateau_min_rel, NOF(ref_plateau_min_rel), 0);
}

Test(reduce_on_plateau, min_abs_with_floor_matches_reference)
{
    const char *kv[] = {"patience", "2", "threshold", "0.02", "threshold_mode", "abs",
                        "factor", "0.5", "min_lr", "0.03", NULL};
    expect_sequence("reduce_on_plateau", kv, 0.1, 10, 20, ref_plateau_metrics,
                    ref_plateau_min_abs, NOF(ref_plateau_min_abs), 0);
}

Test(reduce_on_plateau, max_mode_matches_reference)
{
    const char *kv[] = {"mode", "max", "monitor", "val_accuracy", "patience", "1", "cooldown",
                        "1", "threshold", "0.02", "factor", "0.5", NULL};
    expect_sequence("reduce_on_plateau", kv, 0.2, 10, 20, ref_plateau_acc, ref_plateau_max_rel,
                    NOF(ref_plateau_max_rel), 0);
}

Test(reduce_on_plateau, state_round_trip_continues_identically)
{
    const char *kv[] = {"patience", "1", "cooldown", "2", "threshold", "1e-3", NULL};
    nn_instance a, b;
    nn_error err = {0};
    cr_assert_eq(h_instance(&a, NN_KIND_SCHEDULER, "reduce_on_plateau", kv, &err), NN_OK);
    cr_assert_eq(h_instance(&b, NN_KIND_SCHEDULER, "reduce_on_plateau", kv, &err), NN_OK);
    const nn_scheduler_vtable *vt = a.vt;
    cr_assert(a.desc->caps & NN_CAP_STATEFUL);
    nn_sched_ctx c = {.struct_size = sizeof c, .base_lr = 0.1, .metric = NAN};
    nn_sched_info info = {.struct_size = sizeof info};
    double la, lb;
    cr_assert_eq(vt->start(a.self, &c, &info, &la, &err), NN_OK);
    cr_assert_str_eq(info.monitor, "val_loss");
    cr_assert_eq(vt->start(b.self, &c, &info, &lb, &err), NN_OK);
    int n = NOF(ref_plateau_metrics), cut = 6;
    for (int k = 1; k <= cut; k++) {
        c.epoch = k;
        c.metric = ref_plateau_metrics[k - 1];
        cr_assert_eq(vt->step(a.self, &c, &la, &err), NN_OK);
    }
    char buf[256];
    int len = vt->state_save(a.self, buf, sizeof buf, &err);
    cr_assert(len > 0 && len < (int)sizeof buf);
    cr_assert_eq(vt->state_save(a.self, NULL, 0, &err), len, "size query differs");
    cr_assert_eq(vt->state_load(b.self, buf, &err), NN_OK, "%s", err.msg);
    for (int k = cut + 1; k <= n; k++) {
        c.epoch = k;
        c.metric = ref_plateau_metrics[k - 1];
        cr_assert_eq(vt->step(a.self, &c, &la, &err), NN_OK);
        cr_assert_eq(vt->step(b.self, &c, &lb, &err), NN_OK);
        cr_assert_eq(la, lb, "epoch %d: %g after restore, %g uninterrupted", k, lb, la);
        cr_assert_eq(la, ref_plateau_min_rel[k]);
    }
    cr_assert_eq(vt->state_load(b.self, "best x", &err), NN_EFORMAT);
    nn_instance_destroy(&a);
    nn_instance_destroy(&b);
}

Test(reduce_on_plateau, epoch_without_metric_changes_nothing)
{
    const double metrics[] = {1.0, NAN, NAN, NAN, 2.0, 3.0};
    double got[7], want[7] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01};
    int pb;
    const char *kv[] = {"patience", "1", NULL};
    h_sched_sequence("reduce_on_plateau", kv, 0.1, 10, 10, metrics, 7, got, &pb);
    h_expect_close(got, want, 7, 1e-12, 0, "plateau with NaN epochs");
}

Test(reduce_on_plateau, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"factor", "1", NULL}, *b[] = {"mode", "lowest", NULL},
               *c[] = {"threshold_mode", "relative", NULL}, *d[] = {"patience", "-1", NULL},
               *e[] = {"cooldown", "1.5", NULL}, *f[] = {"min_lr", "-1", NULL},
               *g[] = {"monitor", "", NULL}, *h[] = {"threshold", "-0.1", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", a, "factor");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", b, "mode");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", c, "threshold_mode");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", d, "patience");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", e, "cooldown");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", f, "min_lr");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", g, "monitor");
    h_expect_rejected(NN_KIND_SCHEDULER, "reduce_on_plateau", h, "threshold");
}

Test(reduce_on_plateau, docs_show_every_key)
{
    const char *w[] = {"scheduler reduce_on_plateau", "stateful", "monitor", "default val_loss",
                       "mode", "factor", "patience", "threshold", "threshold_mode", "rel|abs",
                       "cooldown", "min_lr", NULL};
    h_expect_docs("reduce_on_plateau", w);
}

Test(onecycle, cosine_policy_per_batch_matches_reference)
{
    /* 5 batches x 4 epochs = 20 steps; max_lr defaults to the optimizer's lr */
    expect_sequence("onecycle", NULL, 0.5, 5, 4, NULL, ref_onecycle_cos, NOF(ref_onecycle_cos),
                    1);
}

Test(onecycle, linear_policy_matches_reference)
{
    const char *kv[] = {"max_lr", "0.5", "pct_start", "0.25", "anneal", "linear", "div_factor",
                        "10", "final_div_factor", "100", NULL};
    expect_sequence("onecycle", kv, 0.01, 4, 5, NULL, ref_onecycle_linear,
                    NOF(ref_onecycle_linear), 1);
}

Test(onecycle, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"pct_start", "1.5", NULL}, *b[] = {"anneal", "cosine", NULL},
               *c[] = {"div_factor", "0", NULL}, *d[] = {"max_lr", "-1", NULL};
    h_expect_rejected(NN_KIND_SCHEDULER, "onecycle", a, "pct_start");
    h_expect_rejected(NN_KIND_SCHEDULER, "onecycle", b, "anneal");
    h_expect_rejected(NN_KIND_SCHEDULER, "onecycle", c, "div_factor");
    h_expect_rejected(NN_KIND_SCHEDULER, "onecycle", d, "max_lr");
    /* a phase of no batch at all: 0.01 of 10 batches */
    const char *kv[] = {"pct_start", "0.01", NULL};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(h_instance(&inst, NN_KIND_SCHEDULER, "onecycle", kv, &err), NN_OK);
    const nn_scheduler_vtable *vt = inst.vt;
    nn_sched_ctx ctx = {.struct_size = sizeof ctx, .base_lr = 0.1, .steps_per_epoch = 5,
                      .total_epochs = 2, .metric = NAN};
    nn_sched_info info = {.struct_size = sizeof info};
    double lr;
    cr_assert_eq(vt->start(inst.self, &ctx, &info, &lr, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "'pct_start'"), "%s", err.msg);
    nn_instance_destroy(&inst);
}

Test(onecycle, docs_show_every_key)
{
    const char *w[] = {"scheduler onecycle", "max_lr", "pct_start", "anneal", "cos|linear",
                       "div_factor", "final_div_factor", NULL};
    h_expect_docs("onecycle", w);
}
