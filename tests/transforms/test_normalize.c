/* test_normalize.c: normalize applies (x - mean) / std per channel, fits mean/std on a source
 * of training samples, keeps them through state_save/state_load, and runs on every split. */
#include "tf_fixture.h"

#include <math.h>

static void fill(tf *t)
{
    float *x = NN_F32P(t->in);
    for (int64_t i = 0; i < nn_tensor_numel(t->in); i++)
        x[i] = (float)sin(0.37 * (double)i) + 0.1f * (float)(i % 7);
}

Test(normalize, given_mean_and_std_follow_the_formula_per_channel)
{
    tf t;
    const char *kv[] = {"mean", "0.5, 0.4, 0.3", "std", "0.2, 0.25, 0.5"};
    tf_make_ok(&t, "normalize", kv, 2);
    int64_t shape[3] = {3, 4, 5};
    tf_setup_ok(&t, NN_F32, 3, shape);
    cr_assert_eq(t.s.train_only, 0, "normalize must also run on evaluation and prediction");
    fill(&t);
    tf_apply(&t, 1, 1);
    const double m[3] = {0.5, 0.4, 0.3}, s[3] = {0.2, 0.25, 0.5};
    for (int64_t i = 0; i < 60; i++) {
        double want = ((double)NN_F32P(t.in)[i] - m[i / 20]) / s[i / 20];
        cr_assert_float_eq(NN_F32P(t.out)[i], want, 1e-5, "element %ld", i);
    }
    tf_free(&t);
}

Test(normalize, one_value_applies_to_every_channel)
{
    tf t;
    const char *kv[] = {"mean", "2", "std", "4"};
    tf_make_ok(&t, "normalize", kv, 2);
    int64_t shape[2] = {3, 2};
    tf_setup_ok(&t, NN_F32, 2, shape);
    for (int i = 0; i < 6; i++)
        NN_F32P(t.in)[i] = (float)(2 + 4 * i); /* normalises to 0, 1, ..., 5 exactly */
    tf_apply(&t, 1, 1);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(NN_F32P(t.out)[i], (float)i);
    tf_free(&t);
}

/* A training split of n samples [2, 3, 3]; sample k element i is a fixed formula. */
typedef struct source {
    int64_t n;
    int bad_shape_at; /* index whose sample comes back [1, 3, 3], or -1 */
} source;

static double value(int64_t k, int64_t c, int64_t i)
{
    return (c ? 10.0 : -3.0) + (double)(c + 1) * sin(1.3 * (double)k + 0.7 * (double)i);
}

static int source_get(void *ctx, int64_t k, nn_tensor *sample, nn_error *err)
{
    const source *s = ctx;
    cr_assert(k >= 0 && k < s->n);
    cr_assert(sample->dl.data, "normalize must pass a buffer for the sample");
    cr_assert(nn_tensor_numel(sample) == 18);
    if (k == s->bad_shape_at) {
        int64_t small[3] = {1, 3, 3};
        nn_tensor_describe(sample, NN_F32, 3, small);
    }
    float *x = NN_F32P(sample);
    for (int64_t c = 0; c < sample->shape[0]; c++)
        for (int64_t i = 0; i < 9; i++)
            x[c * 9 + i] = (float)value(k, c, i);
    (void)err;
    return NN_OK;
}

static void make_fitted(tf *t, source *src)
{
    const char *kv[] = {"from_data", "true"};
    tf_make_ok(t, "normalize", kv, 1);
    int64_t shape[3] = {2, 3, 3};
    tf_setup_ok(t, NN_F32, 3, shape);
    cr_assert_eq(t->s.train_only, 0);
    nn_sample_source s = {.length = src->n, .ctx = src, .get = source_get};
    nn_error e = {0};
    cr_assert_eq(t->vt->fit(t->inst.self, &s, &e), NN_OK, "fit: %s", e.msg);
}

/* reads "key=a,b\n" from a saved state */
static void read_state(const char *text, const char *key, double v[2])
{
    const char *p = strstr(text, key);
    cr_assert(p, "no %s in state '%s'", key, text);
    cr_assert_eq(sscanf(p + strlen(key), "=%lf,%lf", &v[0], &v[1]), 2, "state '%s'", text);
}

Test(normalize, from_data_fits_the_mean_and_std_of_the_training_split)
{
    source src = {.n = 7, .bad_shape_at = -1};
    tf t;
    make_fitted(&t, &src);
    /* reference: two passes in double over the same float values */
    double mean[2], std[2];
    for (int64_t c = 0; c < 2; c++) {
        double s = 0, q = 0;
        for (int64_t k = 0; k < 7; k++)
            for (int64_t i = 0; i < 9; i++)
                s += (float)value(k, c, i);
        mean[c] = s / 63;
        for (int64_t k = 0; k < 7; k++)
            for (int64_t i = 0; i < 9; i++)
                q += ((float)value(k, c, i) - mean[c]) * ((float)value(k, c, i) - mean[c]);
        std[c] = sqrt(q / 63);
    }
    char text[512];
    nn_error e = {0};
    int n = t.vt->state_save(t.inst.self, text, sizeof text, &e);
    cr_assert(n > 0 && n < (int)sizeof text, "state_save: %d %s", n, e.msg);
    double m[2], s[2];
    read_state(text, "mean", m);
    read_state(text, "std", s);
    for (int c = 0; c < 2; c++) {
        cr_assert_float_eq(m[c], mean[c], 1e-9, "mean of channel %d", c);
        cr_assert_float_eq(s[c], std[c], 1e-9, "std of channel %d", c);
    }
    /* and apply uses them */
    for (int64_t i = 0; i < 18; i++)
        NN_F32P(t.in)[i] = (float)value(3, i / 9, i % 9);
    tf_apply(&t, 0, 0);
    for (int64_t i = 0; i < 18; i++)
        cr_assert_float_eq(NN_F32P(t.out)[i], (NN_F32P(t.in)[i] - mean[i / 9]) / std[i / 9],
                           1e-5, "element %ld", i);
    tf_free(&t);
}

static int two_samples_get(void *ctx, int64_t k, nn_tensor *sample, nn_error *err)
{
    (void)ctx;
    (void)err;
    NN_F32P(sample)[0] = (float)(2 * k + 1); /* {1, 2} and {3, 4} */
    NN_F32P(sample)[1] = (float)(2 * k + 2);
    return NN_OK;
}

Test(normalize, from_data_on_two_hand_made_samples_gives_mean_2_5_and_std_sqrt_1_25)
{
    tf t;
    const char *kv[] = {"from_data", "yes"};
    tf_make_ok(&t, "normalize", kv, 1);
    int64_t shape[2] = {1, 2};
    tf_setup_ok(&t, NN_F32, 2, shape);
    nn_sample_source s = {.length = 2, .ctx = NULL, .get = two_samples_get};
    nn_error e = {0};
    cr_assert_eq(t.vt->fit(t.inst.self, &s, &e), NN_OK, "fit: %s", e.msg);
    NN_F32P(t.in)[0] = 2.5f;
    NN_F32P(t.in)[1] = 2.5f + (float)sqrt(1.25);
    tf_apply(&t, 0, 0);
    cr_assert_float_eq(NN_F32P(t.out)[0], 0.0f, 1e-6);
    cr_assert_float_eq(NN_F32P(t.out)[1], 1.0f, 1e-6);
    tf_free(&t);
}

Test(normalize, fitted_state_round_trips_through_state_save_and_state_load)
{
    source src = {.n = 5, .bad_shape_at = -1};
    tf a, b;
    make_fitted(&a, &src);
    char text[512];
    nn_error e = {0};
    int need = a.vt->state_save(a.inst.self, NULL, 0, &e);
    cr_assert(need > 0 && need < (int)sizeof text, "bytes needed: %d %s", need, e.msg);
    cr_assert_eq(a.vt->state_save(a.inst.self, text, sizeof text, &e), need);
    cr_assert_eq(strlen(text), (size_t)need);

    const char *kv[] = {"from_data", "true"};
    tf_make_ok(&b, "normalize", kv, 1);
    int64_t shape[3] = {2, 3, 3};
    tf_setup_ok(&b, NN_F32, 3, shape);
    cr_assert_eq(b.vt->state_load(b.inst.self, text, &e), NN_OK, "state_load: %s", e.msg);
    fill(&a);
    fill(&b);
    tf_apply(&a, 0, 0);
    tf_apply(&b, 0, 0);
    cr_assert_eq(memcmp(a.out->dl.data, b.out->dl.data, nn_tensor_nbytes(a.out)), 0,
                 "a reloaded normalize computes something else");
    char again[512];
    b.vt->state_save(b.inst.self, again, sizeof again, &e);
    cr_assert_str_eq(again, text);
    tf_free(&a);
    tf_free(&b);
}

Test(normalize, malformed_state_is_rejected_and_leaves_the_instance_unfitted)
{
    const char *kv[] = {"from_data", "true"};
    tf t;
    tf_make_ok(&t, "normalize", kv, 1);
    int64_t shape[3] = {2, 3, 3};
    tf_setup_ok(&t, NN_F32, 3, shape);
    nn_error e = {0};
    cr_assert_neq(t.vt->state_load(t.inst.self, "mean=1\nstd=1\n", &e), NN_OK);
    cr_assert(strstr(e.msg, "'mean'") && strstr(e.msg, "2 values"), "%s", e.msg);
    cr_assert_neq(t.vt->state_load(t.inst.self, "mean=1,2\nstd=1,0\n", &e), NN_OK);
    cr_assert(strstr(e.msg, "'std'"), "%s", e.msg);
    cr_assert_neq(t.vt->state_load(t.inst.self, "mean=1,2\n", &e), NN_OK);
    cr_assert(strstr(e.msg, "'std="), "%s", e.msg);
    nn_rng r;
    nn_rng_init(&r, 1, 0, 0, 0);
    cr_assert_neq(t.vt->apply(t.inst.self, t.in, t.out, &r, &e), NN_OK);
    cr_assert(strstr(e.msg, "fit"), "%s", e.msg);
    tf_free(&t);
}

Test(normalize, a_training_sample_of_another_shape_fails_the_fit_naming_it)
{
    source src = {.n = 4, .bad_shape_at = 2};
    const char *kv[] = {"from_data", "true"};
    tf t;
    tf_make_ok(&t, "normalize", kv, 1);
    int64_t shape[3] = {2, 3, 3};
    tf_setup_ok(&t, NN_F32, 3, shape);
    nn_sample_source s = {.length = src.n, .ctx = &src, .get = source_get};
    nn_error e = {0};
    cr_assert_eq(t.vt->fit(t.inst.self, &s, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "sample 2") && strstr(e.msg, "[1, 3, 3]") &&
              strstr(e.msg, "[2, 3, 3]"), "%s", e.msg);
    tf_free(&t);
}

Test(normalize, output_does_not_depend_on_the_stream)
{
    tf t;
    const char *kv[] = {"mean", "0.1", "std", "3"};
    tf_make_ok(&t, "normalize", kv, 2);
    int64_t shape[3] = {3, 4, 4};
    tf_setup_ok(&t, NN_F32, 3, shape);
    fill(&t);
    cr_assert_eq(tf_count_stream_differences(&t), 0);
    tf_free(&t);
}

Test(normalize, a_mean_list_that_does_not_fit_the_channels_is_rejected_at_setup)
{
    tf t;
    const char *kv[] = {"mean", "0.1, 0.2", "std", "1, 2"};
    tf_make_ok(&t, "normalize", kv, 2);
    nn_error e = {0};
    int64_t shape[3] = {3, 4, 4};
    cr_assert_eq(tf_setup(&t, NN_F32, 3, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "'mean'") && strstr(e.msg, "[3, 4, 4]"), "%s", e.msg);
    tf_free(&t);
    tf_make_ok(&t, "normalize", kv, 2);
    int64_t text[1] = {16};
    cr_assert_eq(tf_setup(&t, NN_I32, 1, text, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "normalize") && strstr(e.msg, "I32 [16]"), "%s", e.msg);
    tf_free(&t);
}

Test(normalize, bad_parameters_are_rejected_naming_the_key)
{
    const char *zero[] = {"mean", "0", "std", "0"};
    tf_assert_rejects("normalize", zero, 2, "std");
    const char *nostd[] = {"mean", "0.5"};
    tf_assert_rejects("normalize", nostd, 1, "std");
    const char *nomean[] = {"std", "0.5"};
    tf_assert_rejects("normalize", nomean, 1, "mean");
    const char *nothing[] = {"from_data", "false"};
    tf_assert_rejects("normalize", nothing, 1, "mean");
    const char *both[] = {"from_data", "true", "mean", "0.5"};
    tf_assert_rejects("normalize", both, 2, "mean");
    const char *counts[] = {"mean", "0.5, 0.5", "std", "1, 1, 1"};
    tf_assert_rejects("normalize", counts, 2, "std");
    const char *flag[] = {"from_data", "maybe"};
    tf_assert_rejects("normalize", flag, 1, "from_data");
}

Test(normalize, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("normalize");
}
