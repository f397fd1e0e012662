/* test_optimizers.c: each optimizer plugin against independent numbers: a hand-worked case and
 * the double-precision reference of reference.py (torch.optim's algorithms) on a quadratic,
 * with weight decay, momentum, Nesterov, AMSGrad, centered and per-parameter multipliers;
 * plus slot declarations, parameter rejections that name the key, and the docs. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"

/* float32 updates against a double reference over 5 steps */
#define RTOL 2e-5
#define ATOL 2e-6

static void expect_reference(const char *name, const char *const *kv, double lr,
                             const double ref[REF_STEPS][REF_N], int slots)
{
    double got[REF_STEPS][REF_N];
    int n_slots = -1;
    h_run_optimizer(name, kv, lr, got, &n_slots);
    cr_assert_eq(n_slots, slots, "%s declared %d slots, expected %d", name, n_slots, slots);
    h_expect_close(&got[0][0], &ref[0][0], REF_STEPS * REF_N, RTOL, ATOL, name);
}

/* ---------------- sgd ---------------- */

Test(sgd, momentum_matches_hand_computed_steps)
{
    /* p0 = 1, grad = a*p with a = 1, lr 0.1, momentum 0.9 (lr_mult 1):
     * t1: b = g = 1,                p = 1 - 0.1*1     = 0.9
     * t2: g = 0.9,  b = 0.9+0.9 = 1.8,  p = 0.9 - 0.18  = 0.72
     * t3: g = 0.72, b = 1.62+0.72 = 2.34, p = 0.72 - 0.234 = 0.486 */
    const char *kv[] = {"momentum", "0.9", NULL};
    double got[REF_STEPS][REF_N];
    h_run_optimizer("sgd", kv, 0.1, got, NULL);
    double first[3] = {got[0][0], got[1][0], got[2][0]}, want[3] = {0.9, 0.72, 0.486};
    h_expect_close(first, want, 3, 1e-6, 1e-7, "sgd momentum p0[0]");
}

Test(sgd, plain_matches_reference_with_lr_mult)
{
    expect_reference("sgd", NULL, 0.1, ref_sgd_plain, 0);
}

Test(sgd, momentum_dampening_and_weight_decay_match_reference)
{
    const char *kv[] = {"momentum", "0.9", "dampening", "0.1", "weight_decay", "0.01", NULL};
    expect_reference("sgd", kv, 0.1, ref_sgd_momentum_wd, 1);
}

Test(sgd, nesterov_with_weight_decay_matches_reference)
{
    const char *kv[] = {"momentum", "0.9", "nesterov", "true", "weight_decay", "0.05", NULL};
    expect_reference("sgd", kv, 0.1, ref_sgd_nesterov_wd, 1);
}

Test(sgd, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"momentum", "-0.5", NULL}, *b[] = {"dampening", "2", NULL},
               *c[] = {"nesterov", "true", NULL}, *d[] = {"lr", "fast", NULL},
               *e[] = {"weight_decay", "-1", NULL}, *f[] = {"momentun", "0.9", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", a, "momentum");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", b, "dampening");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", c, "nesterov");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", d, "lr");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", e, "weight_decay");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", f, "momentum"); /* did you mean */
}

Test(sgd, momentum_of_one_or_more_is_refused_as_it_never_forgets)
{
    const char *a[] = {"momentum", "1", NULL}, *b[] = {"momentum", "1.5", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", a, "momentum");
    h_expect_rejected(NN_KIND_OPTIMIZER, "sgd", b, "momentum");
    const char *c[] = {"momentum", "0.999", NULL};
    nn_instance inst;
    nn_error err = {0};
    cr_assert_eq(h_instance(&inst, NN_KIND_OPTIMIZER, "sgd", c, &err), NN_OK, "%s", err.msg);
    nn_instance_destroy(&inst);
}

Test(sgd, docs_show_every_key)
{
    const char *w[] = {"optimizer sgd", "lr", "momentum", "dampening", "nesterov",
                       "weight_decay", "L2 penalty", NULL};
    h_expect_docs("sgd", w);
}

/* ---------------- adam ---------------- */

Test(adam, defaults_match_reference_with_bias_correction)
{
    expect_reference("adam", NULL, 0.1, ref_adam_default, 2);
}

Test(adam, l2_weight_decay_matches_reference)
{
    const char *kv[] = {"weight_decay", "0.1", NULL};
    expect_reference("adam", kv, 0.05, ref_adam_l2, 2);
}

Test(adam, amsgrad_keeps_the_running_max_as_reference)
{
    const char *kv[] = {"betas", "0.8, 0.5", "weight_decay", "0.1", "amsgrad", "true", NULL};
    expect_reference("adam", kv, 0.1, ref_adam_amsgrad_l2, 3);
}

Test(adam, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"betas", "0.9", NULL}, *b[] = {"betas", "0.9, 1.0", NULL},
               *c[] = {"betas", "0.9, 0.99, 0.5", NULL}, *d[] = {"eps", "-1e-8", NULL},
               *e[] = {"amsgrad", "maybe", NULL}, *f[] = {"lr", "-0.1", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", a, "betas");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", b, "betas");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", c, "betas");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", d, "eps");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", e, "amsgrad");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adam", f, "lr");
}

Test(adam, docs_show_every_key)
{
    const char *w[] = {"optimizer adam", "lr", "betas", "eps", "weight_decay", "amsgrad",
                       "default 0.9, 0.999", NULL};
    h_expect_docs("adam", w);
}

/* ---------------- adamw ---------------- */

Test(adamw, decoupled_decay_default_matches_reference)
{
    expect_reference("adamw", NULL, 0.1, ref_adamw_default, 2);
}

Test(adamw, amsgrad_with_decay_matches_reference)
{
    const char *kv[] = {"betas", "0.8, 0.5", "weight_decay", "0.1", "amsgrad", "true", NULL};
    expect_reference("adamw", kv, 0.1, ref_adamw_amsgrad, 3);
}

Test(adamw, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"betas", "1.5, 0.9", NULL}, *b[] = {"weight_decay", "x", NULL},
               *c[] = {"betas", "", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "adamw", a, "betas");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adamw", b, "weight_decay");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adamw", c, "betas");
}

Test(adamw, docs_show_every_key)
{
    const char *w[] = {"optimizer adamw", "lr", "betas", "eps", "weight_decay", "amsgrad",
                       "default 0.01", "decoupled", NULL};
    h_expect_docs("adamw", w);
}

/* ---------------- rmsprop ---------------- */

Test(rmsprop, defaults_match_reference)
{
    expect_reference("rmsprop", NULL, 0.01, ref_rmsprop_default, 1);
}

Test(rmsprop, centered_with_momentum_and_decay_matches_reference)
{
    const char *kv[] = {"alpha", "0.9", "weight_decay", "0.1", "momentum", "0.5", "centered",
                        "true", NULL};
    expect_reference("rmsprop", kv, 0.01, ref_rmsprop_centered_momentum_wd, 3);
}

Test(rmsprop, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"alpha", "1", NULL}, *b[] = {"momentum", "-1", NULL},
               *c[] = {"centered", "2", NULL}, *d[] = {"eps", "nan", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "rmsprop", a, "alpha");
    h_expect_rejected(NN_KIND_OPTIMIZER, "rmsprop", b, "momentum");
    h_expect_rejected(NN_KIND_OPTIMIZER, "rmsprop", c, "centered");
    h_expect_rejected(NN_KIND_OPTIMIZER, "rmsprop", d, "eps");
}

Test(rmsprop, momentum_of_one_is_refused)
{
    const char *a[] = {"momentum", "1", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "rmsprop", a, "momentum");
}

Test(rmsprop, docs_show_every_key)
{
    const char *w[] = {"optimizer rmsprop", "lr", "alpha", "eps", "weight_decay", "momentum",
                       "centered", NULL};
    h_expect_docs("rmsprop", w);
}

/* ---------------- adagrad ---------------- */

Test(adagrad, defaults_match_reference)
{
    expect_reference("adagrad", NULL, 0.1, ref_adagrad_default, 1);
}

Test(adagrad, lr_decay_decay_and_initial_accumulator_match_reference)
{
    const char *kv[] = {"lr_decay", "0.1", "weight_decay", "0.1", "initial_accumulator_value",
                        "0.5", NULL};
    expect_reference("adagrad", kv, 0.1, ref_adagrad_all, 1);
}

Test(adagrad, rejects_bad_parameters_naming_the_key)
{
    const char *a[] = {"lr_decay", "-0.1", NULL}, *b[] = {"initial_accumulator_value", "-1", NULL},
               *c[] = {"eps", "", NULL};
    h_expect_rejected(NN_KIND_OPTIMIZER, "adagrad", a, "lr_decay");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adagrad", b, "initial_accumulator_value");
    h_expect_rejected(NN_KIND_OPTIMIZER, "adagrad", c, "eps");
}

Test(adagrad, docs_show_every_key)
{
    const char *w[] = {"optimizer adagrad", "lr", "lr_decay", "weight_decay",
                       "initial_accumulator_value", "eps", NULL};
    h_expect_docs("adagrad", w);
}

/* ---------------- every optimizer with an eps ---------------- */

/* eps = 0 divides 0 by 0 for a weight whose gradient is 0 (NaN at the second step); the
 * schema refuses it, and the docs say why */
Test(eps, zero_is_refused_by_every_optimizer_that_has_one)
{
    const char *names[] = {"adam", "adamw", "rmsprop", "adagrad"};
    const char *zero[] = {"eps", "0", NULL}, *tiny[] = {"eps", "1e-30", NULL};
    for (int i = 0; i < 4; i++) {
        h_expect_rejected(NN_KIND_OPTIMIZER, names[i], zero, "eps");
        nn_instance inst;
        nn_error err = {0};
        cr_assert_eq(h_instance(&inst, NN_KIND_OPTIMIZER, names[i], tiny, &err), NN_OK, "%s: %s",
                     names[i], err.msg);
        nn_instance_destroy(&inst);
        const char *w[] = {"(0, inf)", "never 0", NULL};
        h_expect_docs(names[i], w);
    }
}
