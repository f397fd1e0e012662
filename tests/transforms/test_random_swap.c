/* test_random_swap.c: random_swap exchanges tokens only, so the multiset of tokens and the
 * padding positions are preserved; n = 1 moves exactly two tokens. */
#include "tf_fixture.h"

static const int32_t seq[10] = {4, 0, 8, 15, 16, 23, 42, 0, 0, 0}; /* padding inside too */

static void make(tf *t, const char *n)
{
    const char *kv[] = {"n", n};
    tf_make_ok(t, "random_swap", kv, 1);
    int64_t shape[1] = {10};
    tf_setup_ok(t, NN_I32, 1, shape);
    memcpy(NN_I32P(t->in), seq, sizeof seq);
}

static int cmp(const void *a, const void *b)
{
    return *(const int32_t *)a - *(const int32_t *)b;
}

Test(random_swap, the_multiset_of_tokens_and_the_padding_are_preserved)
{
    tf t;
    make(&t, "3");
    int32_t want[10], got[10];
    memcpy(want, seq, sizeof want);
    qsort(want, 10, sizeof *want, cmp);
    int moved = 0;
    for (uint64_t k = 0; k < 300; k++) {
        tf_apply(&t, 12, k);
        memcpy(got, NN_I32P(t.out), sizeof got);
        for (int i = 0; i < 10; i++)
            cr_assert_eq(got[i] == 0, seq[i] == 0, "padding moved at %d", i);
        moved += memcmp(got, seq, sizeof got) != 0;
        qsort(got, 10, sizeof *got, cmp);
        cr_assert_eq(memcmp(got, want, sizeof got), 0, "tokens changed in sample %lu", k);
    }
    cr_assert_gt(moved, 250, "only %d of 300 samples changed", moved);
    tf_free(&t);
}

Test(random_swap, one_swap_moves_exactly_two_tokens)
{
    tf t;
    make(&t, "1");
    int hits[10] = {0};
    for (uint64_t k = 0; k < 600; k++) {
        tf_apply(&t, 13, k);
        int d[2], nd = 0;
        for (int i = 0; i < 10; i++)
            if (NN_I32P(t.out)[i] != seq[i]) {
                cr_assert_lt(nd, 2, "more than two positions changed");
                d[nd++] = i;
                hits[i]++;
            }
        cr_assert_eq(nd, 2, "sample %lu changed %d positions", k, nd);
        cr_assert_eq(NN_I32P(t.out)[d[0]], seq[d[1]]);
        cr_assert_eq(NN_I32P(t.out)[d[1]], seq[d[0]]);
    }
    /* each of the 6 tokens is in a swap with probability 1/3 */
    const int tok[6] = {0, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++)
        cr_assert(hits[tok[i]] > 150 && hits[tok[i]] < 250, "position %d swapped %d/600",
                  tok[i], hits[tok[i]]);
    tf_free(&t);
}

Test(random_swap, n_0_or_a_single_token_leaves_the_sequence_alone)
{
    tf t;
    make(&t, "0");
    tf_apply(&t, 1, 1);
    cr_assert_eq(memcmp(NN_I32P(t.out), seq, sizeof seq), 0);
    tf_free(&t);
    make(&t, "5");
    static const int32_t one[10] = {0, 0, 7};
    memcpy(NN_I32P(t.in), one, sizeof one);
    tf_apply(&t, 1, 1);
    cr_assert_eq(memcmp(NN_I32P(t.out), one, sizeof one), 0);
    tf_free(&t);
}

Test(random_swap, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "2");
    int diff = tf_count_stream_differences(&t);
    cr_assert_geq(diff, 6, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(random_swap, float_input_is_rejected_naming_the_shape)
{
    tf t;
    tf_make_ok(&t, "random_swap", NULL, 0);
    nn_error e = {0};
    int64_t shape[1] = {10};
    cr_assert_eq(tf_setup(&t, NN_F32, 1, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "random_swap") && strstr(e.msg, "F32 [10]"), "%s", e.msg);
    tf_free(&t);
}

Test(random_swap, bad_parameters_are_rejected_naming_the_key)
{
    const char *neg[] = {"n", "-1"};
    tf_assert_rejects("random_swap", neg, 1, "n");
    const char *frac[] = {"n", "1.5"};
    tf_assert_rejects("random_swap", frac, 1, "n");
}

Test(random_swap, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("random_swap");
}
