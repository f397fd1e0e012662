/* test_embedding.c: embedding copies table rows for I32 ids, zeros for padding_idx; rejects
 * out-of-range ids naming the row and position; its table gradient is a scatter-add (checked
 * by hand and by finite differences); parameter and input checks; docs. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static int open_emb(nnt_layer *L, const char *const *kv, int nd, const int64_t *shape, int train,
                    nn_error *err)
{
    const nn_dtype i32 = NN_I32;
    int64_t s[1][NN_MAX_DIMS] = {{0}};
    memcpy(s[0], shape, sizeof(int64_t) * (size_t)nd);
    return nnt_layer_open(L, "embedding", kv, 1, &nd, (const int64_t(*)[NN_MAX_DIMS])s, &i32,
                          train, 0, err);
}

Test(embedding, forward_copies_the_table_row_of_each_id)
{
    static const struct {
        const char *v, *d;
        int nd;
        int64_t shape[NN_MAX_DIMS];
        int64_t vocab;
    } cases[] = {
        {"num_embeddings=1", "embedding_dim=1", 2, {1, 1}, 1},
        {"num_embeddings=11", "embedding_dim=4", 2, {3, 7}, 11},
        {"num_embeddings=50", "embedding_dim=9", 2, {2, 5}, 50},
        {"num_embeddings=6", "embedding_dim=3", 1, {5}, 6},
    };
    for (int k = 0; k < 4; k++) {
        const char *kv[] = {cases[k].v, cases[k].d, NULL};
        nnt_layer L;
        nn_error err = {0};
        cr_assert_eq(open_emb(&L, kv, cases[k].nd, cases[k].shape, 0, &err), NN_OK, "%s", err.msg);
        int64_t dim = L.params[0]->shape[1];
        cr_assert_eq(L.output->dl.ndim, cases[k].nd + 1);
        cr_assert_eq(L.output->shape[cases[k].nd], dim);
        nnt_fill_uniform(L.inputs[0], 40 + (uint64_t)k, 0, (double)cases[k].vocab);
        cr_assert_eq(nnt_forward(&L, 0, &err), NN_OK, "%s", err.msg);
        for (int64_t t = 0; t < nn_tensor_numel(L.inputs[0]); t++) {
            int32_t id = NN_I32P(L.inputs[0])[t];
            for (int64_t j = 0; j < dim; j++)
                cr_assert_eq(NN_F32P(L.output)[t * dim + j], NN_F32P(L.params[0])[id * dim + j],
                             "case %d token %lld (id %d) component %lld", k, (long long)t, id,
                             (long long)j);
        }
        nnt_layer_close(&L);
    }
}

Test(embedding, declares_a_normal_one_initialised_table)
{
    const char *kv[] = {"num_embeddings=7", "embedding_dim=5", NULL};
    const int64_t shape[] = {2, 3};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_emb(&L, kv, 2, shape, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(L.setup.n_params, 1);
    cr_assert_str_eq(L.setup.params[0].name, "weight");
    cr_assert_eq(L.setup.params[0].shape[0], 7);
    cr_assert_eq(L.setup.params[0].shape[1], 5);
    cr_assert_eq(L.setup.params[0].init, NN_INIT_NORMAL);
    cr_assert_eq(L.setup.params[0].init_arg, 1.0);
    nnt_layer_close(&L);
}

Test(embedding, out_of_range_ids_are_errors_naming_row_and_position)
{
    const char *kv[] = {"num_embeddings=10", "embedding_dim=2", NULL};
    const int64_t shape[] = {3, 4};
    const int32_t bad[] = {10, -1, 1 << 30};
    for (int k = 0; k < 3; k++) {
        nnt_layer L;
        nn_error err = {0};
        char id[32];
        cr_assert_eq(open_emb(&L, kv, 2, shape, 1, &err), NN_OK, "%s", err.msg);
        NN_I32P(L.inputs[0])[1 * 4 + 3] = bad[k];
        cr_assert_eq(nnt_forward(&L, 1, &err), NN_EINVAL, "id %d accepted", bad[k]);
        snprintf(id, sizeof id, "%d", bad[k]);
        cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", id, "row 1", "position 3",
                                                     "[0, 10)", NULL}),
                  "%s", err.msg);
        nnt_layer_close(&L);
    }
}

Test(embedding, backward_scatter_adds_into_the_table_and_overwrites_it)
{
    const char *kv[] = {"num_embeddings=4", "embedding_dim=2", NULL};
    const int64_t shape[] = {2, 3};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_emb(&L, kv, 2, shape, 1, &err), NN_OK, "%s", err.msg);
    const int32_t ids[] = {1, 1, 2, 3, 1, 2};
    memcpy(NN_I32P(L.inputs[0]), ids, sizeof ids);
    for (int t = 0; t < 6; t++) {
        NN_F32P(L.grad_output)[2 * t] = (float)(t + 1);
        NN_F32P(L.grad_output)[2 * t + 1] = (float)(10 * (t + 1));
    }
    for (int i = 0; i < 8; i++)
        NN_F32P(L.param_grads[0])[i] = 99.0f; /* stale: backward must overwrite, not add */
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nnt_backward(&L, &err), NN_OK, "%s", err.msg);
    /* row 0: no token; row 1: tokens 0, 1, 4; row 2: tokens 2, 5; row 3: token 3 */
    const float want[] = {0, 0, 1 + 2 + 5, 10 + 20 + 50, 3 + 6, 30 + 60, 4, 40};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(NN_F32P(L.param_grads[0])[i], want[i], "element %d", i);
    nnt_layer_close(&L);
}

Test(embedding, backward_matches_finite_differences)
{
    const char *kv[] = {"num_embeddings=9", "embedding_dim=3", NULL};
    const int64_t shape[] = {3, 5};
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_emb(&L, kv, 2, shape, 1, &err), NN_OK, "%s", err.msg);
    nnt_fill_uniform(L.inputs[0], 8, 0, 9);
    /* linear in the table: only float rounding of y (~1e-7 / eps) separates the two */
    double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    nnt_layer_close(&L);
}

Test(embedding, padding_idx_embeds_as_zeros_and_gets_no_gradient)
{
    const char *kv[] = {"num_embeddings=5", "embedding_dim=3", "padding_idx=0", NULL};
    const int64_t shape[] = {2, 3};
    nnt_layer L;
    nn_error err = {0};
    char worst[256];
    cr_assert_eq(open_emb(&L, kv, 2, shape, 1, &err), NN_OK, "%s", err.msg);
    const int32_t ids[] = {0, 3, 0, 4, 0, 1};
    memcpy(NN_I32P(L.inputs[0]), ids, sizeof ids);
    cr_assert_eq(nnt_forward(&L, 1, &err), NN_OK, "%s", err.msg);
    for (int t = 0; t < 6; t++)
        for (int j = 0; j < 3; j++) {
            float want = ids[t] == 0 ? 0.0f : NN_F32P(L.params[0])[ids[t] * 3 + j];
            cr_assert_eq(NN_F32P(L.output)[t * 3 + j], want, "token %d", t);
        }
    double e = nnt_gradcheck(&L, 1e-2, 1e-3, worst, sizeof worst);
    cr_assert_lt(e, 1e-4, "%s", worst);
    for (int j = 0; j < 3; j++)
        cr_assert_eq(NN_F32P(L.param_grads[0])[j], 0.0f);
    nnt_layer_close(&L);
}

static void expect_error(const char *const *kv, int status, const char *const *needles)
{
    const int64_t shape[] = {2, 3};
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(open_emb(&L, kv, 2, shape, 0, &err), status, "%s", err.msg);
    cr_assert(nnt_msg_has(&err, needles), "%s", err.msg);
}

Test(embedding, rejects_bad_parameters_naming_the_key)
{
    expect_error((const char *[]){"embedding_dim=4", NULL}, NN_EINVAL,
                 (const char *[]){"missing required key 'num_embeddings'", NULL});
    expect_error((const char *[]){"num_embeddings=10", NULL}, NN_EINVAL,
                 (const char *[]){"missing required key 'embedding_dim'", NULL});
    expect_error((const char *[]){"num_embeddings=0", "embedding_dim=4", NULL}, NN_EINVAL,
                 (const char *[]){"'num_embeddings'", "0", NULL});
    expect_error((const char *[]){"num_embeddings=10", "embedding_dim=0", NULL}, NN_EINVAL,
                 (const char *[]){"'embedding_dim'", "0", NULL});
    expect_error((const char *[]){"num_embeddings=10", "embedding_dim=4", "padding_idx=10", NULL},
                 NN_EINVAL, (const char *[]){"'padding_idx'", "10", "num_embeddings", NULL});
    expect_error((const char *[]){"num_embeddings=10", "embedding_dim=4", "padding_idx=-2", NULL},
                 NN_EINVAL, (const char *[]){"'padding_idx'", "-2", NULL});
    expect_error((const char *[]){"num_embeddings=10", "embeding_dim=4", NULL}, NN_EINVAL,
                 (const char *[]){"'embeding_dim'", "did you mean 'embedding_dim'", NULL});
}

Test(embedding, rejects_float_input_naming_its_shape)
{
    const char *kv[] = {"num_embeddings=10", "embedding_dim=4", NULL};
    static const int64_t s[][NN_MAX_DIMS] = {{2, 3}};
    const int nd = 2;
    nnt_layer L;
    nn_error err = {0};
    cr_assert_eq(nnt_layer_open(&L, "embedding", kv, 1, &nd, s, NULL, 0, 0, &err), NN_EINVAL);
    cr_assert(nnt_msg_has(&err, (const char *[]){"test_layer", "[2, 3]", "I32", NULL}), "%s",
              err.msg);
}

Test(embedding, docs_show_in_plugins_show)
{
    char why[512];
    cr_assert(nnt_plugins_show_lists_docs(NN_KIND_LAYER, "embedding", why, sizeof why), "%s",
              why);
}
