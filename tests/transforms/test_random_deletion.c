/* test_random_deletion.c: random_deletion keeps the surviving tokens in order, shifted left
 * and padded with 0, and never deletes every token. */
#include "tf_fixture.h"

static const int32_t seq[12] = {5, 9, 2, 7, 7, 3, 8, 0, 0, 0, 0, 0};

static void make(tf *t, const char *p)
{
    const char *kv[] = {"p", p};
    tf_make_ok(t, "random_deletion", kv, 1);
    int64_t shape[1] = {12};
    tf_setup_ok(t, NN_I32, 1, shape);
    memcpy(NN_I32P(t->in), seq, sizeof seq);
}

/* returns the number of tokens in out; asserts out = an in-order subsequence of seq's tokens,
 * then only padding */
static int check_subsequence(const tf *t)
{
    const int32_t *y = NN_I32P(t->out);
    int n = 0;
    while (n < 12 && y[n] != 0)
        n++;
    for (int i = n; i < 12; i++)
        cr_assert_eq(y[i], 0, "a token after the padding at %d", i);
    int j = 0;
    for (int i = 0; i < n; i++) {
        while (j < 7 && seq[j] != y[i])
            j++;
        cr_assert(j < 7, "output is not an in-order subsequence of the input");
        j++;
    }
    return n;
}

Test(random_deletion, p_1_never_deletes_every_token)
{
    tf t;
    make(&t, "1");
    int survived[7] = {0};
    for (uint64_t k = 0; k < 700; k++) {
        tf_apply(&t, 2, k);
        cr_assert_eq(check_subsequence(&t), 1, "sample %lu", k);
        for (int i = 0; i < 7; i++)
            survived[i] += NN_I32P(t.out)[0] == seq[i];
    }
    /* any token may be the survivor (7 appears twice in the input) */
    for (int i = 0; i < 7; i++)
        cr_assert_gt(survived[i], 40, "token %d survived %d times", seq[i], survived[i]);
    tf_free(&t);
}

Test(random_deletion, deleted_tokens_close_up_and_the_end_is_padded)
{
    tf t;
    make(&t, "0.5");
    long kept = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        tf_apply(&t, 3, k);
        int n = check_subsequence(&t);
        cr_assert(n >= 1 && n <= 7);
        kept += n;
    }
    /* about half of 7 tokens survive (a little more: an empty result keeps one) */
    cr_assert(kept > 3400 && kept < 3800, "%ld tokens kept over 1000 samples", kept);
    tf_free(&t);
}

Test(random_deletion, p_0_is_the_identity_and_padding_alone_stays_padding)
{
    tf t;
    make(&t, "0");
    tf_apply(&t, 1, 1);
    cr_assert_eq(memcmp(NN_I32P(t.out), seq, sizeof seq), 0);
    memset(t.in->dl.data, 0, nn_tensor_nbytes(t.in));
    tf_apply(&t, 1, 1);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(NN_I32P(t.out)[i], 0);
    tf_free(&t);
}

Test(random_deletion, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "0.3");
    int diff = tf_count_stream_differences(&t);
    cr_assert_geq(diff, 6, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_deletion, float_input_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "random_deletion", NULL, 0);
    nn_error e = {0};
    int64_t shape[2] = {1, 400};
    cr_assert_eq(tf_setup(&t, NN_F32, 2, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_deletion") && strstr(e.msg, "F32 [1, 400]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_deletion, bad_parameters_are_rejected_naming_the_key)
{
    const char *big[] = {"p", "1.5"};
    tf_assert_rejects("random_deletion", big, 1, "p");
    const char *word[] = {"p", "half"};
    tf_assert_rejects("random_deletion", word, 1, "p");
}

Test(random_deletion, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_deletion");
}
