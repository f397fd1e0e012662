/* test_add_noise.c: add_noise reaches the requested signal-to-noise ratio over a long signal,
 * adds zero-mean Gaussian noise, leaves silence silent, and is reproducible. */
#include "tf_fixture.h"

#include <math.h>

enum { LEN = 200000 };

static void make(tf *t, const char *snr)
{
    const char *kv[] = {"snr_db", snr};
    tf_make_ok(t, "add_noise", kv, 1);
    int64_t shape[2] = {1, LEN};
    tf_setup_ok(t, NN_F32, 2, shape);
    for (int i = 0; i < LEN; i++)
        NN_F32P(t->in)[i] = (float)(0.7 * sin(0.013 * i) + 0.2 * sin(0.17 * i));
}

/* measured SNR in dB of out against in */
static double snr_db(const tf *t, double *noise_mean)
{
    double ps = 0, pn = 0, mn = 0;
    for (int i = 0; i < LEN; i++) {
        double x = NN_F32P(t->in)[i], d = NN_F32P(t->out)[i] - x;
        ps += x * x;
        pn += d * d;
        mn += d;
    }
    *noise_mean = mn / LEN;
    return 10 * log10(ps / pn);
}

Test(add_noise, a_fixed_snr_is_reached_within_0_05_db_over_a_long_signal)
{
    static const char *const snrs[] = {"0", "10", "25"};
    static const double want[] = {0, 10, 25};
    for (int k = 0; k < 3; k++) {
        tf t;
        make(&t, snrs[k]);
        tf_apply(&t, 5, (uint64_t)k);
        double mean, got = snr_db(&t, &mean);
        /* the noise power of 200000 samples has a relative sd of sqrt(2/200000) = 0.003
         * (0.014 dB) */
        cr_assert_float_eq(got, want[k], 0.05, "asked for %g dB, got %g", want[k], got);
        cr_assert(fabs(mean) < 0.01, "noise mean %g", mean);
        tf_free(&t);
    }
}

Test(add_noise, the_noise_is_gaussian)
{
    tf t;
    make(&t, "6");
    tf_apply(&t, 8, 8);
    double m2 = 0, m4 = 0;
    for (int i = 0; i < LEN; i++) {
        double d = NN_F32P(t.out)[i] - NN_F32P(t.in)[i];
        m2 += d * d;
        m4 += d * d * d * d;
    }
    m2 /= LEN;
    m4 /= LEN;
    double kurtosis = m4 / (m2 * m2); /* 3 for a normal distribution, 1.8 for a uniform one */
    cr_assert_float_eq(kurtosis, 3.0, 0.1, "kurtosis %g", kurtosis);
    tf_free(&t);
}

Test(add_noise, snr_values_are_drawn_from_the_range)
{
    tf t;
    make(&t, "5, 15");
    double lo = 99, hi = -99, mean;
    for (uint64_t k = 0; k < 40; k++) {
        tf_apply(&t, 2, k);
        double s = snr_db(&t, &mean);
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    cr_assert(lo > 4.95 && lo < 6.5, "lowest SNR %g", lo);
    cr_assert(hi < 15.05 && hi > 13.5, "highest SNR %g", hi);
    tf_free(&t);
}

Test(add_noise, silence_stays_silent)
{
    tf t;
    make(&t, "10");
    memset(t.in->dl.data, 0, nn_tensor_nbytes(t.in));
    tf_apply(&t, 1, 1);
    for (int i = 0; i < LEN; i++)
        cr_assert_eq(NN_F32P(t.out)[i], 0.0f);
    tf_free(&t);
}

Test(add_noise, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "20");
    int diff = tf_count_stream_differences(&t);
    cr_assert_eq(diff, 8, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(add_noise, token_ids_are_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "add_noise", NULL, 0);
    nn_error e = {0};
    int64_t tokens[1] = {64};
    cr_assert_eq(tf_setup(&t, NN_I32, 1, tokens, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "add_noise") && strstr(e.msg, "I32 [64]"), "%s", e.msg);
    tf_free(&t);
}

Test(add_noise, bad_parameters_are_rejected_naming_the_key)
{
    const char *order[] = {"snr_db", "30, 10"};
    tf_assert_rejects("add_noise", order, 1, "snr_db");
    const char *three[] = {"snr_db", "1, 2, 3"};
    tf_assert_rejects("add_noise", three, 1, "snr_db");
    const char *word[] = {"snr_db", "loud"};
    tf_assert_rejects("add_noise", word, 1, "snr_db");
}

Test(add_noise, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("add_noise");
}
