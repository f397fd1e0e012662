/* test_synonym_replacement.c: synonym_replacement only ever writes synonyms from the file that
 * are in the vocabulary, never touches padding, replaces n words or each with probability p. */
#include "tf_fixture.h"

#include <unistd.h>

/* id:            0      1      2      3     4       5    6        7    8      9    10   11  12 */
static const char vocab_txt[] = "<pad>\n<unk>\nhappy\nglad\njoyful\nsad\nunhappy\nbig\nlarge\n"
                                "car\nthe\na\nhouse\nhuge\n"; /* 13 */
static const char syn_txt[] = "happy, glad,joyful , cheerful\n" /* cheerful: not in vocab */
                              "sad,unhappy\r\n"
                              "# a comment line, big, car\n"
                              "big, large, huge\n"
                              "large, great\n" /* great is unknown: no group of two */
                              "tiny, small\n";

/* synonyms of each id per the files above (0-terminated) */
static const int32_t expect[14][3] = {
    [2] = {3, 4}, [3] = {2, 4}, [4] = {2, 3}, [5] = {6}, [6] = {5},
    [7] = {8, 13}, [8] = {7, 13}, [13] = {7, 8},
};

static char dir[64], vocab_path[128], syn_path[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static void files_up(void)
{
    strcpy(dir, "/tmp/nntrain_synrep_XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    snprintf(syn_path, sizeof syn_path, "%s/synonyms.txt", dir);
    write_file(vocab_path, vocab_txt);
    write_file(syn_path, syn_txt);
}

static void files_down(void)
{
    unlink(vocab_path);
    unlink(syn_path);
    rmdir(dir);
}

TestSuite(synonym_replacement, .init = files_up, .fini = files_down);

static void make(tf *t, const char *key, const char *value, int64_t len)
{
    const char *kv[] = {"vocab", vocab_path, "synonyms", syn_path, key, value};
    tf_make_ok(t, "synonym_replacement", kv, 3);
    int64_t shape[1] = {len};
    tf_setup_ok(t, NN_I32, 1, shape);
}

static int is_synonym(int32_t of, int32_t w)
{
    for (int k = 0; k < 3 && expect[of][k]; k++)
        if (expect[of][k] == w)
            return 1;
    return 0;
}

/* the, happy, car, sad, <pad>, big, a, 99 (out of the vocabulary), huge, <pad>, <pad> */
static const int32_t sentence[11] = {10, 2, 9, 5, 0, 7, 11, 99, 13, 0, 0};

Test(synonym_replacement, only_synonyms_from_the_file_replace_words_and_padding_stays)
{
    tf t;
    make(&t, "p", "1", 11);
    memcpy(NN_I32P(t.in), sentence, sizeof sentence);
    int seen[14][14] = {{0}};
    for (uint64_t k = 0; k < 300; k++) {
        tf_apply(&t, 4, k);
        const int32_t *y = NN_I32P(t.out);
        for (int i = 0; i < 11; i++) {
            int32_t x = sentence[i];
            if (x > 0 && x < 14 && expect[x][0]) {
                cr_assert(is_synonym(x, y[i]), "position %d: %d became %d", i, x, y[i]);
                seen[x][y[i]]++;
            } else {
                cr_assert_eq(y[i], x, "position %d (%d) has no synonym but became %d", i, x,
                             y[i]);
            }
        }
    }
    /* with p = 1 every synonym gets its turn */
    for (int x = 2; x < 14; x++)
        for (int k = 0; k < 3 && expect[x][0] && expect[x][k]; k++)
            if (x == 2 || x == 5 || x == 7 || x == 13)
                cr_assert_gt(seen[x][expect[x][k]], 50, "%d -> %d drawn %d times", x,
                             expect[x][k], seen[x][expect[x][k]]);
    tf_free(&t);
}

static int changed(const tf *t)
{
    int n = 0;
    for (int64_t i = 0; i < t->in->shape[0]; i++)
        n += NN_I32P(t->in)[i] != NN_I32P(t->out)[i];
    return n;
}

Test(synonym_replacement, n_replaces_exactly_n_distinct_words)
{
    tf t;
    make(&t, "n", "2", 11);
    memcpy(NN_I32P(t.in), sentence, sizeof sentence);
    int at[11] = {0};
    for (uint64_t k = 0; k < 400; k++) {
        tf_apply(&t, 7, k);
        cr_assert_eq(changed(&t), 2, "sample %lu", k);
        for (int i = 0; i < 11; i++)
            at[i] += NN_I32P(t.in)[i] != NN_I32P(t.out)[i];
    }
    /* 4 candidates (happy, sad, big, huge), 2 picked: each about half of the time */
    const int cand[4] = {1, 3, 5, 8};
    for (int c = 0; c < 4; c++)
        cr_assert(at[cand[c]] > 150 && at[cand[c]] < 250, "position %d replaced %d/400",
                  cand[c], at[cand[c]]);
    tf_free(&t);
    make(&t, "n", "10", 11); /* more than the candidates: all four */
    memcpy(NN_I32P(t.in), sentence, sizeof sentence);
    tf_apply(&t, 7, 0);
    cr_assert_eq(changed(&t), 4);
    tf_free(&t);
}

Test(synonym_replacement, p_0_is_the_identity)
{
    tf t;
    make(&t, "p", "0", 11);
    memcpy(NN_I32P(t.in), sentence, sizeof sentence);
    tf_apply(&t, 1, 1);
    cr_assert_eq(changed(&t), 0);
    tf_free(&t);
}

Test(synonym_replacement, same_stream_gives_same_output_and_other_streams_differ)
{
    tf t;
    make(&t, "p", "0.5", 11);
    memcpy(NN_I32P(t.in), sentence, sizeof sentence);
    int diff = tf_count_stream_differences(&t);
    cr_assert_geq(diff, 6, "only %d of 8 other streams changed the output", diff);
    tf_free(&t);
}

Test(synonym_replacement, an_image_is_rejected_naming_the_shape)
{
    tf t;
    const char *kv[] = {"vocab", vocab_path, "synonyms", syn_path};
    tf_make_ok(&t, "synonym_replacement", kv, 2);
    nn_error e = {0};
    int64_t shape[1] = {20};
    cr_assert_eq(tf_setup(&t, NN_F32, 1, shape, &e), NN_ESHAPE);
    cr_assert(strstr(e.msg, "synonym_replacement") && strstr(e.msg, "F32 [20]"), "%s", e.msg);
    tf_free(&t);
}

Test(synonym_replacement, bad_parameters_are_rejected_naming_the_key)
{
    const char *nosyn[] = {"vocab", vocab_path};
    tf_assert_rejects("synonym_replacement", nosyn, 1, "synonyms");
    const char *novocab[] = {"synonyms", syn_path};
    tf_assert_rejects("synonym_replacement", novocab, 1, "vocab");
    const char *missing_vocab[] = {"vocab", "/nonexistent/vocab.txt", "synonyms", syn_path};
    tf_assert_rejects("synonym_replacement", missing_vocab, 2, "vocab");
    const char *missing_syn[] = {"vocab", vocab_path, "synonyms", "/nonexistent/syn.txt"};
    tf_assert_rejects("synonym_replacement", missing_syn, 2, "synonyms");
    const char *both[] = {"vocab", vocab_path, "synonyms", syn_path, "n", "2", "p", "0.5"};
    tf_assert_rejects("synonym_replacement", both, 4, "p");
    tf_assert_rejects("synonym_replacement", both, 4, "n");
    const char *p[] = {"vocab", vocab_path, "synonyms", syn_path, "p", "2"};
    tf_assert_rejects("synonym_replacement", p, 3, "p");
    const char *n[] = {"vocab", vocab_path, "synonyms", syn_path, "n", "-1"};
    tf_assert_rejects("synonym_replacement", n, 3, "n");
    /* a synonym file that matches nothing in the vocabulary is a mistake worth reporting */
    const char *useless[] = {"vocab", vocab_path, "synonyms", vocab_path};
    tf_assert_rejects("synonym_replacement", useless, 2, "synonyms");
}

Test(synonym_replacement, docs_show_in_plugins_show)
{
    tf_assert_docs_shown("synonym_replacement");
}
