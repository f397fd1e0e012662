/* test_optim_driver.c: core/optim's driver from a model file: steps through the plugin with
 * lr_mult and decay_bias_and_norm, linear warm-up on top of a scheduler (or none), per-batch
 * and per-epoch scheduling with validation metrics, clipping inside a step, non-finite
 * gradients, bit-exact resume from saved slots and state text, and every configuration error
 * naming file:line, section and key. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/optim/optim.h"
#include "core/optim/split.h"
#include "core/registry.h"
#include "nntrain/layer.h"
#include "harness.h"

static nn_registry *reg;

static void setup_reg(void)
{
    reg = h_registry();
}

TestSuite(optim, .init = setup_reg);

/* a 2x3 weight and a 3-element bias with their gradients */
typedef struct model {
    nn_tensor *w, *b, *gw, *gb;
    nn_optim_target t[2];
} model;

static void model_init(model *m, double w_lr_mult)
{
    int64_t ws[2] = {2, 3}, bs[1] = {3};
    m->w = nn_tensor_new(NN_F32, 2, ws);
    m->gw = nn_tensor_new(NN_F32, 2, ws);
    m->b = nn_tensor_new(NN_F32, 1, bs);
    m->gb = nn_tensor_new(NN_F32, 1, bs);
    cr_assert(m->w && m->gw && m->b && m->gb);
    for (int i = 0; i < 6; i++)
        NN_F32P(m->w)[i] = 0.5f * (float)(i + 1) * (i % 2 ? -1.0f : 1.0f);
    for (int i = 0; i < 3; i++)
        NN_F32P(m->b)[i] = 0.1f * (float)(i + 1);
    m->t[0] = (nn_optim_target){"fc.weight", m->w, m->gw, w_lr_mult, 1.0, 0};
    m->t[1] = (nn_optim_target){"fc.bias", m->b, m->gb, 1.0, 1.0, NN_TENSOR_BIAS};
}

static void model_free(model *m)
{
    nn_tensor_free(m->w);
    nn_tensor_free(m->gw);
    nn_tensor_free(m->b);
    nn_tensor_free(m->gb);
}

/* gradient of 1/2 |p|^2 weighted by position, so every step differs */
static void model_grads(model *m)
{
    for (int i = 0; i < 6; i++)
        NN_F32P(m->gw)[i] = NN_F32P(m->w)[i] * (1.0f + 0.25f * (float)i);
    for (int i = 0; i < 3; i++)
        NN_F32P(m->gb)[i] = NN_F32P(m->b)[i] * 2.0f - 0.05f;
}

static nn_config *cfg_of(const char *text)
{
    nn_config *c;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse(text, "model.ini", &c, &err), NN_OK, "%s", err.msg);
    return c;
}

static nn_optim *optim_of(const char *text, model *m, int64_t spe, int64_t epochs)
{
    nn_config *c = cfg_of(text);
    nn_optim *o;
    nn_error err = {0};
    cr_assert_eq(nn_optim_new(reg, c, NULL, m->t, 2, spe, epochs, &o, &err), NN_OK, "%s", err.msg);
    nn_config_free(c);
    return o;
}

/* asserts that the model file is rejected with a message containing each fragment */
static void expect_config_error(const char *text, const char *frag1, const char *frag2)
{
    model m;
    model_init(&m, 1);
    nn_config *c = cfg_of(text);
    nn_optim *o = NULL;
    nn_error err = {0};
    int rc = nn_optim_new(reg, c, NULL, m.t, 2, 10, 5, &o, &err);
    nn_config_free(c);
    model_free(&m);
    cr_assert_neq(rc, NN_OK, "accepted:\n%s", text);
    cr_assert_null(o);
    cr_assert(strstr(err.msg, frag1), "'%s' not in: %s", frag1, err.msg);
    cr_assert(!frag2 || strstr(err.msg, frag2), "'%s' not in: %s", frag2, err.msg);
}

Test(optim, sgd_momentum_steps_every_parameter_with_its_lr_mult)
{
    model m;
    model_init(&m, 2.0);
    nn_optim *o = optim_of("[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n", &m, 10, 1);
    cr_assert_float_eq(nn_optim_lr(o), 0.1, 1e-15);
    float w0 = NN_F32P(m.w)[0], b0 = NN_F32P(m.b)[0];
    float gw1 = w0 * 1.0f, gb1 = b0 * 2.0f - 0.05f;
    model_grads(&m);
    cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
    float w1 = w0 - 0.2f * gw1, b1 = b0 - 0.1f * gb1; /* first step: buffer = gradient */
    cr_assert_float_eq(NN_F32P(m.w)[0], w1, 1e-6);
    cr_assert_float_eq(NN_F32P(m.b)[0], b1, 1e-6);
    model_grads(&m);
    cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
    float bw = 0.9f * gw1 + w1, bb = 0.9f * gb1 + (b1 * 2.0f - 0.05f);
    cr_assert_float_eq(NN_F32P(m.w)[0], w1 - 0.2f * bw, 1e-6);
    cr_assert_float_eq(NN_F32P(m.b)[0], b1 - 0.1f * bb, 1e-6);
    /* slots: one momentum buffer per parameter, shaped like it, named for checkpoints */
    cr_assert_eq(nn_optim_tensor_count(o), 2);
    const char *name;
    nn_tensor *s = nn_optim_tensor(o, 0, &name);
    cr_assert_str_eq(name, "optim.fc.weight.momentum_buffer");
    cr_assert(nn_shape_equal(s, m.w));
    nn_optim_tensor(o, 1, &name);
    cr_assert_str_eq(name, "optim.fc.bias.momentum_buffer");
    cr_assert_null(nn_optim_tensor(o, 2, &name));
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, decay_bias_and_norm_false_spares_bias_from_weight_decay)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[train]\ndecay_bias_and_norm = false\n"
                           "[optimizer]\ntype = sgd\nlr = 0.1\nweight_decay = 0.5\n", &m, 1, 1);
    float w0 = NN_F32P(m.w)[1], b0 = NN_F32P(m.b)[1];
    cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK); /* zero gradients: decay only */
    cr_assert_float_eq(NN_F32P(m.w)[1], w0 * (1 - 0.05f), 1e-7);
    cr_assert_eq(NN_F32P(m.b)[1], b0);
    nn_optim_free(o);
    model_free(&m);

    model_init(&m, 1.0); /* default: everything decays, as in PyTorch */
    o = optim_of("[optimizer]\ntype = sgd\nlr = 0.1\nweight_decay = 0.5\n", &m, 1, 1);
    cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
    cr_assert_float_eq(NN_F32P(m.b)[1], b0 * (1 - 0.05f), 1e-7);
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, warmup_steps_multiply_the_scheduled_rate_linearly)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[optimizer]\ntype = sgd\nlr = 0.1\n"
                           "[scheduler]\ntype = step\nstep_size = 1\ngamma = 0.5\n"
                           "warmup_steps = 4\nwarmup_start_factor = 0.2\n", &m, 2, 3);
    /* rate before each batch: 0.1 * 0.5^epoch * (0.2 + 0.8 * min(step, 4) / 4) */
    const double want[6] = {0.02, 0.04, 0.03, 0.04, 0.025, 0.025};
    for (int s = 0; s < 6; s++) {
        cr_assert_float_eq(nn_optim_lr(o), want[s], 1e-15, "batch %d: %g", s, nn_optim_lr(o));
        cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
        if (s % 2 == 1)
            cr_assert_eq(nn_optim_epoch_end(o, s / 2, 0, NULL, NULL, NULL), NN_OK);
    }
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, warmup_epochs_work_without_a_scheduler)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[optimizer]\ntype = adam\nlr = 0.1\n"
                           "[scheduler]\nwarmup_epochs = 2\nwarmup_start_factor = 0.5\n", &m, 3,
                           4);
    const double want[4] = {0.05, 0.075, 0.1, 0.1};
    for (int e = 0; e < 4; e++) {
        for (int b = 0; b < 3; b++) {
            cr_assert_float_eq(nn_optim_lr(o), want[e], 1e-15, "epoch %d", e);
            model_grads(&m);
            cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
        }
        cr_assert_eq(nn_optim_epoch_end(o, e, 0, NULL, NULL, NULL), NN_OK);
    }
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, per_batch_scheduler_advances_on_steps_not_epochs)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[optimizer]\ntype = sgd\nlr = 0.5\n[scheduler]\ntype = onecycle\n",
                           &m, 5, 4);
    for (int k = 0; k < 20; k++) {
        cr_assert_float_eq(nn_optim_lr(o), ref_onecycle_cos[k], 1e-12, "batch %d", k);
        cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
        if (k % 5 == 4)
            cr_assert_eq(nn_optim_epoch_end(o, k / 5, 0, NULL, NULL, NULL), NN_OK);
    }
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, plateau_reads_its_metric_from_epoch_end)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[optimizer]\ntype = sgd\nlr = 0.1\n"
                           "[scheduler]\ntype = reduce_on_plateau\npatience = 1\ncooldown = 2\n"
                           "threshold = 1e-3\n", &m, 1, 20);
    const char *names[2] = {"val_accuracy", "val_loss"};
    int n = (int)(sizeof ref_plateau_metrics / sizeof *ref_plateau_metrics);
    for (int e = 0; e < n; e++) {
        cr_assert_float_eq(nn_optim_lr(o), ref_plateau_min_rel[e], 1e-15, "epoch %d", e);
        double vals[2] = {0.5, ref_plateau_metrics[e]};
        cr_assert_eq(nn_optim_epoch_end(o, e, 2, names, vals, NULL), NN_OK);
    }
    nn_error err = {0};
    const char *other[1] = {"val_acc"};
    double v = 1;
    cr_assert_eq(nn_optim_epoch_end(o, n, 1, other, &v, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "model.ini:4: [scheduler] monitor 'val_loss'") &&
              strstr(err.msg, "val_acc"), "%s", err.msg);
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, clip_norm_scales_gradients_and_reports_the_pre_clip_norm)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[train]\nclip_norm = 1\n[optimizer]\ntype = sgd\nlr = 1\n", &m, 1, 1);
    float g[9], p[9];
    model_grads(&m);
    double sq = 0;
    for (int i = 0; i < 9; i++) {
        g[i] = i < 6 ? NN_F32P(m.gw)[i] : NN_F32P(m.gb)[i - 6];
        p[i] = i < 6 ? NN_F32P(m.w)[i] : NN_F32P(m.b)[i - 6];
        sq += (double)g[i] * g[i];
    }
    double norm = 0;
    cr_assert_eq(nn_optim_update(o, 0, &norm, NULL), NN_OK);
    cr_assert_float_eq(norm, sqrt(sq), 1e-6 * sqrt(sq));
    cr_assert(norm > 1.5, "the test needs a norm above the limit");
    double c = 1.0 / (sqrt(sq) + 1e-6);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(NN_F32P(m.w)[i], p[i] - g[i] * c, 1e-6);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(NN_F32P(m.b)[i], p[6 + i] - g[6 + i] * c, 1e-6);
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, clip_by_inf_norm_and_by_value_in_a_step)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[train]\nclip_norm = 0.5\nclip_norm_type = inf\nclip_value = 0.2\n"
                           "[optimizer]\ntype = sgd\nlr = 1\n", &m, 1, 1);
    model_grads(&m);
    float gmax = 0;
    for (int i = 0; i < 6; i++)
        gmax = fmaxf(gmax, fabsf(NN_F32P(m.gw)[i]));
    for (int i = 0; i < 3; i++)
        gmax = fmaxf(gmax, fabsf(NN_F32P(m.gb)[i]));
    float w5 = NN_F32P(m.w)[5], g5 = NN_F32P(m.gw)[5], w0 = NN_F32P(m.w)[0],
          g0 = NN_F32P(m.gw)[0];
    double norm;
    cr_assert_eq(nn_optim_update(o, 0, &norm, NULL), NN_OK);
    cr_assert_float_eq(norm, gmax, 1e-6);
    double c = 0.5 / (gmax + 1e-6);
    /* scaled by the norm, then clamped to [-0.2, 0.2] */
    cr_assert_float_eq(NN_F32P(m.w)[5], w5 - fmax(-0.2, fmin(0.2, g5 * c)), 1e-6);
    cr_assert_float_eq(NN_F32P(m.w)[0], w0 - fmax(-0.2, fmin(0.2, g0 * c)), 1e-6);
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, norm_is_measured_on_request_and_nan_otherwise)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[optimizer]\ntype = sgd\nlr = 0\n", &m, 1, 1);
    NN_F32P(m.gw)[0] = 3;
    NN_F32P(m.gb)[2] = -4;
    double norm = 0;
    cr_assert_eq(nn_optim_update(o, 1, &norm, NULL), NN_OK);
    cr_assert_float_eq(norm, 5.0, 1e-9);
    cr_assert_eq(NN_F32P(m.gw)[0], 3.0f); /* measured, not clipped */
    cr_assert_eq(nn_optim_update(o, 0, &norm, NULL), NN_OK);
    cr_assert(isnan(norm));
    nn_optim_free(o);
    model_free(&m);
}

Test(optim, non_finite_gradient_skips_the_step)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of("[train]\nclip_norm = 1\n[optimizer]\ntype = adam\n", &m, 1, 1);
    model_grads(&m);
    NN_F32P(m.gb)[1] = INFINITY;
    float w[6];
    memcpy(w, NN_F32P(m.w), sizeof w);
    nn_error err = {0};
    double norm;
    cr_assert_eq(nn_optim_update(o, 0, &norm, &err), NN_ENONFINITE);
    cr_assert(isinf(norm));
    cr_assert(strstr(err.msg, "skipped"), "%s", err.msg);
    cr_assert_eq(memcmp(w, NN_F32P(m.w), sizeof w), 0);
    char buf[512];
    nn_optim_state_save(o, buf, sizeof buf);
    cr_assert(strstr(buf, "\nt 0\n"), "%s", buf);
    nn_optim_free(o);
    model_free(&m);
}

/* Runs `total` steps with epoch ends (and metrics) every 3 steps; when cut > 0, stops after
 * cut steps, saves, rebuilds everything from the saved bytes and continues. Returns the
 * weights and the rate of the final state in out[0..9]. */
static void run_resumable(const char *text, int total, int cut, float out[9], double *lr)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *o = optim_of(text, &m, 3, 10);
    const char *names[1] = {"val_loss"};
    for (int s = 0; s < total; s++) {
        if (s == cut) {
            /* checkpoint: weights, slots and text, then a fresh optimizer in a fresh model */
            char state[1024];
            int len = nn_optim_state_save(o, state, sizeof state);
            cr_assert(len > 0 && len < (int)sizeof state);
            cr_assert_eq(nn_optim_state_save(o, NULL, 0), len, "size query differs");
            int ns = nn_optim_tensor_count(o);
            float *saved = calloc((size_t)ns * 6 + 9, sizeof(float));
            cr_assert(saved);
            for (int i = 0; i < ns; i++) {
                nn_tensor *t = nn_optim_tensor(o, i, NULL);
                memcpy(saved + i * 6, NN_F32P(t), nn_tensor_nbytes(t));
            }
            memcpy(saved + ns * 6, NN_F32P(m.w), 6 * sizeof(float));
            memcpy(saved + ns * 6 + 6, NN_F32P(m.b), 3 * sizeof(float));
            nn_optim_free(o);
            model_free(&m);

            model_init(&m, 1.0);
            o = optim_of(text, &m, 3, 10);
            memcpy(NN_F32P(m.w), saved + ns * 6, 6 * sizeof(float));
            memcpy(NN_F32P(m.b), saved + ns * 6 + 6, 3 * sizeof(float));
            cr_assert_eq(nn_optim_tensor_count(o), ns);
            for (int i = 0; i < ns; i++) {
                nn_tensor *t = nn_optim_tensor(o, i, NULL);
                memcpy(NN_F32P(t), saved + i * 6, nn_tensor_nbytes(t));
            }
            nn_error err = {0};
            cr_assert_eq(nn_optim_state_load(o, state, 0, &err), NN_OK, "%s", err.msg);
            free(saved);
        }
        model_grads(&m);
        cr_assert_eq(nn_optim_update(o, 0, NULL, NULL), NN_OK);
        if (s % 3 == 2) {
            double v = ref_plateau_metrics[s / 3];
            cr_assert_eq(nn_optim_epoch_end(o, s / 3, 1, names, &v, NULL), NN_OK);
        }
    }
    memcpy(out, NN_F32P(m.w), 6 * sizeof(float));
    memcpy(out + 6, NN_F32P(m.b), 3 * sizeof(float));
    *lr = nn_optim_lr(o);
    nn_optim_free(o);
    model_free(&m);
}

static void expect_bit_exact_resume(const char *text)
{
    float a[9], b[9];
    double la, lb;
    run_resumable(text, 24, -1, a, &la);
    for (int cut = 1; cut < 24; cut += 4) {
        run_resumable(text, 24, cut, b, &lb);
        cr_assert_eq(memcmp(a, b, sizeof a), 0, "weights differ after resuming at step %d", cut);
        cr_assert_eq(memcmp(&la, &lb, sizeof la), 0, "rate differs after resuming at %d", cut);
    }
}

Test(optim, resume_is_bit_exact_with_adam_plateau_and_warmup)
{
    expect_bit_exact_resume("[optimizer]\ntype = adam\nlr = 0.05\namsgrad = true\n"
                            "[scheduler]\ntype = reduce_on_plateau\npatience = 1\n"
                            "warmup_steps = 5\n[train]\nclip_norm = 2\n");
}

Test(optim, resume_is_bit_exact_with_rmsprop_and_onecycle)
{
    expect_bit_exact_resume("[optimizer]\ntype = rmsprop\nlr = 0.05\ncentered = true\n"
                            "momentum = 0.5\n[scheduler]\ntype = onecycle\n");
}

Test(optim, state_load_refuses_another_optimizer_or_malformed_text)
{
    model m;
    model_init(&m, 1.0);
    nn_optim *a = optim_of("[optimizer]\ntype = sgd\n", &m, 1, 1);
    nn_optim *b = optim_of("[optimizer]\ntype = adam\n", &m, 1, 1);
    char state[512];
    nn_optim_state_save(a, state, sizeof state);
    nn_error err = {0};
    cr_assert_eq(nn_optim_state_load(b, state, 0, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "[optimizer] type is 'adam'") && strstr(err.msg, "'sgd'"), "%s",
              err.msg);
    cr_assert_eq(nn_optim_state_load(a, "nntrain-optim 1\noptimizer sgd\nt x\n", 0, &err),
                 NN_EFORMAT);
    nn_optim_free(a);
    nn_optim_free(b);
    model_free(&m);
}

Test(optim, configuration_errors_name_file_line_section_and_key)
{
    expect_config_error("[train]\nepochs = 1\n", "[optimizer]", "type");
    expect_config_error("[optimizer]\nlr = 0.1\n", "[optimizer] has no 'type'", NULL);
    expect_config_error("[optimizer]\ntype = adan\n", "model.ini:2: [optimizer] key 'type' = "
                        "'adan'", "adam");
    expect_config_error("[optimizer]\ntype = sgd\nlr = -1\n", "model.ini:3: [optimizer] key "
                        "'lr'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\nmomentun = 0.9\n", "model.ini:3: [optimizer] "
                        "unknown key 'momentun'", "'momentum'");
    /* a plugin's own refusal: at the line of the key it names, the plugin named once */
    expect_config_error("[optimizer]\ntype = sgd\nnesterov = true\n", "model.ini:3: "
                        "[optimizer]: optimizer 'sgd': key 'nesterov' = true", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\ntype = step\n",
                        "model.ini:3: [scheduler]", "'step_size'");
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\ntype = cosine\nt_max = 0\n",
                        "model.ini:5: [scheduler] key 't_max'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\nstep_size = 3\n",
                        "model.ini:4: [scheduler] key 'step_size'", "no 'type'");
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\nwarmup_steps = -2\n",
                        "model.ini:4: [scheduler] key 'warmup_steps'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\nwarmup_steps = 1.5\n",
                        "model.ini:4: [scheduler] key 'warmup_steps'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\nwarmup_steps = 2\n"
                        "warmup_epochs = 1\n", "model.ini:5: [scheduler] key 'warmup_epochs'",
                        "not both");
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\nwarmup_start_factor = 0\n",
                        "model.ini:4: [scheduler] key 'warmup_start_factor'", "(0, 1]");
    expect_config_error("[optimizer]\ntype = sgd\n[train]\nclip_norm = -1\n",
                        "model.ini:4: [train] key 'clip_norm'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[train]\nclip_norm_type = 3\n",
                        "model.ini:4: [train] key 'clip_norm_type'", "2 or inf");
    expect_config_error("[optimizer]\ntype = sgd\n[train]\nclip_value = abc\n",
                        "model.ini:4: [train] key 'clip_value'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[train]\ndecay_bias_and_norm = maybe\n",
                        "model.ini:4: [train] key 'decay_bias_and_norm'", NULL);
    expect_config_error("[optimizer]\ntype = sgd\n[scheduler]\ntype = step\n",
                        "model.ini:3: [scheduler]", "'step_size'");
}

Test(optim, mismatched_gradient_shape_names_the_parameter)
{
    model m;
    model_init(&m, 1.0);
    int64_t s = 4;
    nn_tensor *bad = nn_tensor_new(NN_F32, 1, &s);
    m.t[1].grad = bad;
    nn_config *c = cfg_of("[optimizer]\ntype = sgd\n");
    nn_optim *o;
    nn_error err = {0};
    cr_assert_eq(nn_optim_new(reg, c, NULL, m.t, 2, 1, 1, &o, &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "'fc.bias'") && strstr(err.msg, "[4]"), "%s", err.msg);
    nn_config_free(c);
    nn_tensor_free(bad);
    model_free(&m);
}

/* [train] replicas: a runner that calls the parts in reverse order, counting them */
typedef struct runner {
    int runs, parts;
} runner;

static int run_reversed(void *ctx, int n, nn_optim_part_fn fn, void *arg, nn_error *err)
{
    runner *r = ctx;
    r->runs++;
    for (int part = n - 1; part >= 0; part--) {
        r->parts++;
        int rc = fn(arg, part, err);
        if (rc)
            return rc;
    }
    return NN_OK;
}

/* parameters of lengths that put the cuts inside tensors, next to a 1-element one */
#define SPLIT_PARAMS 4
static const int64_t split_len[SPLIT_PARAMS] = {1001, 1, 333, 70};

/* parameters 0 and 3 cut where [train] replicas with a split first layer cut them
 * (replica_head.c): whole rows of 16 elements, the last part taking the rest */
static const nn_optim_owned split_owned[] = {{.param = 0, .cut = {0, 320, 640, 1001}},
                                             {.param = 3, .cut = {0, 16, 32, 70}}};

static void split_run(const char *text, int parts, int owned, runner *rn,
                      nn_tensor *out[SPLIT_PARAMS], nn_tensor **slots_out)
{
    nn_optim_target t[SPLIT_PARAMS];
    nn_tensor *g[SPLIT_PARAMS];
    for (int k = 0; k < SPLIT_PARAMS; k++) {
        out[k] = nn_tensor_new(NN_F32, 1, &split_len[k]);
        g[k] = nn_tensor_new(NN_F32, 1, &split_len[k]);
        cr_assert(out[k] && g[k]);
        for (int64_t i = 0; i < split_len[k]; i++)
            NN_F32P(out[k])[i] = sinf((float)(i + 37 * k)) * 0.5f;
        t[k] = (nn_optim_target){"p", out[k], g[k], k == 2 ? 0.5 : 1.0, k == 1 ? 0 : 1.0, 0};
    }
    nn_config *c = cfg_of(text);
    nn_optim *o;
    nn_error err = {0};
    cr_assert_eq(nn_optim_new(reg, c, NULL, t, SPLIT_PARAMS, 10, 1, &o, &err), NN_OK, "%s",
                 err.msg);
    nn_config_free(c);
    cr_assert_eq(nn_optim_set_runner(o, parts, run_reversed, rn, owned ? split_owned : NULL,
                                     owned ? 2 : 0, &err),
                 NN_OK, "%s", err.msg);
    for (int step = 0; step < 5; step++) {
        for (int k = 0; k < SPLIT_PARAMS; k++)
            for (int64_t i = 0; i < split_len[k]; i++)
                NN_F32P(g[k])[i] = NN_F32P(out[k])[i] * 0.3f + cosf((float)(i * (step + 1)));
        cr_assert_eq(nn_optim_update(o, 1, NULL, &err), NN_OK, "%s", err.msg);
    }
    /* the slots too: every slot of every parameter, concatenated */
    int n = nn_optim_tensor_count(o);
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        bytes += nn_tensor_nbytes(nn_optim_tensor(o, i, NULL));
    int64_t floats = (int64_t)(bytes / 4) + 1;
    *slots_out = nn_tensor_new(NN_F32, 1, &floats);
    bytes = 0;
    for (int i = 0; i < n; i++) {
        const nn_tensor *s = nn_optim_tensor(o, i, NULL);
        memcpy((char *)(*slots_out)->dl.data + bytes, s->dl.data, nn_tensor_nbytes(s));
        bytes += nn_tensor_nbytes(s);
    }
    nn_optim_free(o);
    for (int k = 0; k < SPLIT_PARAMS; k++)
        nn_tensor_free(g[k]);
}

Test(optim, elementwise_optimizers_step_in_slices_to_the_same_bits)
{
    static const char *const cfgs[] = {
        "[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\nnesterov = true\n"
        "weight_decay = 0.01\n",
        "[optimizer]\ntype = adam\nlr = 0.01\namsgrad = true\nweight_decay = 0.1\n",
        "[optimizer]\ntype = adamw\nlr = 0.01\n",
        "[optimizer]\ntype = rmsprop\nlr = 0.01\nmomentum = 0.5\ncentered = true\n",
        "[optimizer]\ntype = adagrad\nlr = 0.1\n",
    };
    for (size_t c = 0; c < 2 * sizeof cfgs / sizeof *cfgs; c++) {
        runner one = {0}, three = {0};
        nn_tensor *a[SPLIT_PARAMS], *b[SPLIT_PARAMS], *sa, *sb;
        int owned = c >= sizeof cfgs / sizeof *cfgs; /* the second time with owned cuts */
        split_run(cfgs[c % 5], 1, 0, &one, a, &sa);
        split_run(cfgs[c % 5], 3, owned, &three, b, &sb);
        cr_assert_eq(one.runs, 0, "one part: the plugin's own single call");
        cr_assert_eq(three.runs, 5, "%s: %d split steps", cfgs[c % 5], three.runs);
        cr_assert_eq(three.parts, 15);
        for (int k = 0; k < SPLIT_PARAMS; k++) {
            cr_assert_eq(memcmp(a[k]->dl.data, b[k]->dl.data, nn_tensor_nbytes(a[k])), 0,
                         "%s (owned cuts: %d): parameter %d differs", cfgs[c % 5], owned, k);
            nn_tensor_free(a[k]);
            nn_tensor_free(b[k]);
        }
        cr_assert_eq(memcmp(sa->dl.data, sb->dl.data, nn_tensor_nbytes(sa)), 0,
                     "%s (owned cuts: %d): slots differ", cfgs[c % 5], owned);
        nn_tensor_free(sa);
        nn_tensor_free(sb);
    }
}
