/* test_graph.c: the DAG, plans, memory and autograd of core/graph.c, on the naive tg_* layers.
 * Gradients are checked against central differences of the whole graph in double. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "graph.h"
#include "graph_internal.h"
#include "layers/harness.h"
#include "registry.h"

/* Counting allocator: every malloc-family call in this process goes through here, which is
 * how the test proves that steady-state steps allocate nothing. ASan owns malloc itself, so
 * the count is only taken in plain builds. */
#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile long n_allocs;
static volatile int counting;
void *malloc(size_t n)
{
    if (counting)
        n_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (counting)
        n_allocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (counting)
        n_allocs++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n)
{
    if (counting)
        n_allocs++;
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
    if (counting)
        n_allocs++;
    *out = __libc_memalign(al, n);
    return *out ? 0 : 12;
}
#define COUNTING_ALLOCATOR 1
#endif

static nn_registry *reg;

static void setup_reg(void)
{
    reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_add_file(reg, TG_PLUGIN, &err), NN_OK, "%s", err.msg);
}

static void teardown_reg(void)
{
    nn_registry_free(reg);
}

TestSuite(graph, .init = setup_reg, .fini = teardown_reg);

static nn_model *model_from(const char *ini, nn_error *err)
{
    nn_config *cfg = NULL;
    cr_assert_eq(nn_config_parse(ini, "m.ini", &cfg, err), NN_OK, "%s", err->msg);
    nn_model *m = nn_model_new(reg, NULL);
    int rc = nn_model_from_config(m, cfg, err);
    nn_config_free(cfg);
    if (rc) {
        nn_model_free(m);
        return NULL;
    }
    return m;
}

static void fill(nn_tensor *t, uint64_t seed)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    float *x = NN_F32P(t);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        x[i] = (float)(2 * nn_rng_uniform(&r) - 1);
}

Test(graph, sequential_forward_matches_a_hand_computation)
{
    nn_error err = {0};
    nn_model *m = model_from("[layer.fc1]\ntype = tg_linear\nunits = 3\n"
                             "[layer.act]\ntype = tg_relu\n"
                             "[layer.fc2]\ntype = tg_linear\nunits = 2\n", &err);
    cr_assert(m, "%s", err.msg);
    nn_plan *p;
    int64_t shape[1] = {5};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 4, 0, 7, &p, &err), NN_OK, "%s", err.msg);
    fill(nn_plan_input(p), 1);
    cr_assert_eq(nn_plan_forward(p, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_model_param_count(m), 4);
    const float *W1 = NN_F32P(nn_model_param(m, 0, NULL, NULL, NULL, NULL));
    const float *B1 = NN_F32P(nn_model_param(m, 1, NULL, NULL, NULL, NULL));
    const float *W2 = NN_F32P(nn_model_param(m, 2, NULL, NULL, NULL, NULL));
    const float *B2 = NN_F32P(nn_model_param(m, 3, NULL, NULL, NULL, NULL));
    const float *X = NN_F32P(nn_plan_input(p)), *Y = NN_F32P(nn_plan_output(p));
    for (int r = 0; r < 4; r++) {
        double h[3];
        for (int o = 0; o < 3; o++) {
            h[o] = B1[o];
            for (int i = 0; i < 5; i++)
                h[o] += (double)X[r * 5 + i] * W1[o * 5 + i];
            h[o] = h[o] > 0 ? h[o] : 0;
        }
        for (int o = 0; o < 2; o++) {
            double y = B2[o];
            for (int i = 0; i < 3; i++)
                y += h[i] * W2[o * 3 + i];
            cr_assert_float_eq(Y[r * 2 + o], y, 1e-5, "row %d out %d", r, o);
        }
    }
    nn_model_free(m);
}

Test(graph, parameters_initialise_from_the_seed_alone)
{
    nn_error err = {0};
    const char *ini = "[layer.fc]\ntype = tg_linear\nunits = 8\n";
    nn_model *a = model_from(ini, &err), *b = model_from(ini, &err), *c = model_from(ini, &err);
    nn_plan *p;
    int64_t shape[1] = {16};
    cr_assert_eq(nn_model_plan(a, 1, shape, NN_F32, 2, 1, 42, &p, &err), NN_OK);
    cr_assert_eq(nn_model_plan(b, 1, shape, NN_F32, 9, 0, 42, &p, &err), NN_OK);
    cr_assert_eq(nn_model_plan(c, 1, shape, NN_F32, 2, 1, 43, &p, &err), NN_OK);
    nn_tensor *wa = nn_model_param(a, 0, NULL, NULL, NULL, NULL);
    nn_tensor *wb = nn_model_param(b, 0, NULL, NULL, NULL, NULL);
    nn_tensor *wc = nn_model_param(c, 0, NULL, NULL, NULL, NULL);
    cr_assert_eq(memcmp(wa->dl.data, wb->dl.data, nn_tensor_nbytes(wa)), 0);
    cr_assert_neq(memcmp(wa->dl.data, wc->dl.data, nn_tensor_nbytes(wa)), 0);
    /* fan-in uniform: every weight within 1/sqrt(16) */
    for (int i = 0; i < 128; i++)
        cr_assert_leq(fabsf(NN_F32P(wa)[i]), 0.25f);
    nn_model_free(a);
    nn_model_free(b);
    nn_model_free(c);
}

static const char *residual_ini =
    "[layer.fc1]\ntype = tg_linear\nunits = 6\n"
    "[layer.act]\ntype = tg_relu\n"
    "[layer.fc2]\ntype = tg_linear\nunits = 6\n"
    "[layer.sum]\ntype = tg_add\ninputs = fc1, fc2\n"
    "[layer.head]\ntype = tg_linear\nunits = 3\n";

/* Every parameter gradient of a training plan of batch 3 with 3 outputs against central
 * differences of the whole graph; the tg layers accumulate in double: eps 1e-2. Float32
 * storage, relu kinks away from zero with these seeds: 1e-3 relative. */
static void check_gradients(nn_model *m, nn_plan *p, const char *what)
{
    nn_error err = {0};
    fill(nn_plan_input(p), 11);
    float R[9];
    nn_rng r;
    nn_rng_init(&r, 5, 0, 0, 0);
    for (int i = 0; i < 9; i++)
        R[i] = (float)(2 * nn_rng_uniform(&r) - 1);
    char where[160] = "";
    double worst = nnt_plan_gradcheck(m, p, R, 1e-2, 1e-2, 0, where, sizeof where, &err);
    cr_assert_geq(worst, 0, "%s: %s", what, err.msg);
    cr_assert_lt(worst, 1e-3, "%s: worst relative gradient error %g at %s", what, worst, where);
}

Test(graph, residual_block_gradients_match_finite_differences)
{
    nn_error err = {0};
    nn_model *m = model_from(residual_ini, &err);
    cr_assert(m, "%s", err.msg);
    nn_plan *p;
    int64_t shape[1] = {5};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 3, 1, 3, &p, &err), NN_OK, "%s", err.msg);
    /* fc1's weight gets gradient through two paths (act->fc2->sum and sum directly):
     * a wrong fan-out sum shows up here */
    check_gradients(m, p, "residual");
    nn_model_free(m);
}

/* fc1 -> a ReLU offering a layout (tg_offer) -> the identity taking it (tg_take) -> head */
static nn_model *offer_take(const char *offer_kv, const char *take_kv, nn_plan **p, int *rc,
                            nn_error *err)
{
    char ini[400];
    snprintf(ini, sizeof ini,
             "[layer.fc1]\ntype = tg_linear\nunits = 6\n"
             "[layer.act]\ntype = tg_offer\n%s\n"
             "[layer.take]\ntype = tg_take\n%s\n"
             "[layer.head]\ntype = tg_linear\nunits = 3\n",
             offer_kv, take_kv);
    nn_model *m = model_from(ini, err);
    cr_assert(m, "%s", err->msg);
    int64_t shape[1] = {5};
    *rc = nn_model_plan(m, 1, shape, NN_F32, 3, 1, 3, p, err);
    return m;
}

Test(graph, a_relu_derivative_applied_by_the_consumer_is_skipped_by_the_producer)
{
    /* mask = false: the ReLU (act) applies its own derivative; mask = true: take does, and the
     * core tells act, which skips it. Both must match central differences. */
    for (int mask = 0; mask < 2; mask++) {
        nn_error err = {0};
        nn_plan *p;
        int rc;
        nn_model *m = offer_take("", mask ? "mask = true" : "mask = false", &p, &rc, &err);
        cr_assert_eq(rc, NN_OK, "%s", err.msg);
        int act = 1, take = 2;
        cr_assert_not_null(p->outputs[act].layout, "the offer was taken");
        cr_assert_eq(p->setups[take].grad_input_masked, (uintptr_t)mask);
        cr_assert_eq(p->setups[act].output_grad_masked, (uintptr_t)mask,
                     "the producer was told whether its consumer applies the derivative");
        check_gradients(m, p, mask ? "take applies the derivative" : "act applies it");
        nn_model_free(m);
    }
}

Test(graph, a_relu_derivative_claimed_wrongly_or_inconsistently_is_refused)
{
    /* the offer says no ReLU; the offer not taken; then a layer answering otherwise when set
     * up again; then no offer at all (the data input) */
    static const char *cases[][2] = {{"relu = false", "mask = true"},
                                     {"", "mask = true\naccept = false"}};
    for (int c = 0; c < 2; c++) {
        nn_error err = {0};
        nn_plan *p;
        int rc;
        nn_model *m = offer_take(cases[c][0], cases[c][1], &p, &rc, &err);
        cr_assert_eq(rc, NN_EINTERNAL, "case %d: %s", c, err.msg);
        cr_assert(strstr(err.msg, "layer 'take' (tg_take) says it applies the ReLU's derivative "
                                  "to the gradient of its input 0") &&
                      strstr(err.msg, "a bug in the plugin"),
                  "%s", err.msg);
        nn_model_free(m);
    }
    /* a layer set up again for its own taken offer must answer for its inputs as before */
    nn_error err = {0};
    nn_plan *p;
    int rc;
    nn_model *m = offer_take("", "fickle = true\n[layer.take2]\ntype = tg_take\nmask = false",
                             &p, &rc, &err);
    cr_assert_eq(rc, NN_EINTERNAL, "%s", err.msg);
    cr_assert(strstr(err.msg, "layer 'take' (tg_take) took other input layouts, or applied other "
                              "ReLU derivatives, when set up again"),
              "%s", err.msg);
    nn_model_free(m);
    m = model_from("[layer.take]\ntype = tg_take\n", &err);
    cr_assert(m, "%s", err.msg);
    int64_t shape[1] = {5};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 3, 1, 3, &p, &err), NN_EINTERNAL);
    cr_assert(strstr(err.msg, "its input 0, which is not a ReLU output"), "%s", err.msg);
    nn_model_free(m);
}

Test(graph, a_layer_may_declare_more_parameters_than_the_fixed_arrays_hold)
{
    /* 12 and then 64 scalars: past NN_MAX_LAYER_PARAMS they travel in params_more (ABI 0.5);
     * y = x * prod(p), so every dLoss/dp_k = sum(g .* x) * prod(p) / p_k */
    static const int counts[] = {12, NN_MAX_LAYER_PARAMS_ALL};
    for (size_t c = 0; c < 2; c++) {
        nn_error err = {0};
        char ini[128];
        snprintf(ini, sizeof ini, "[layer.many]\ntype = tg_many\ncount = %d\n", counts[c]);
        nn_model *m = model_from(ini, &err);
        cr_assert(m, "%s", err.msg);
        nn_plan *p, *eval;
        int64_t shape[1] = {3};
        cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 1, 9, &p, &err), NN_OK, "%s",
                     err.msg);
        cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 5, 0, 9, &eval, &err), NN_OK, "%s",
                     err.msg);
        cr_assert_eq(nn_model_param_count(m), counts[c]);
        double prod = 1;
        for (int k = 0; k < counts[c]; k++) {
            nn_tensor *w = nn_model_param(m, k, NULL, NULL, NULL, NULL);
            char want[32];
            snprintf(want, sizeof want, "many.p%d", k);
            cr_assert_str_eq(w->name, want);
            NN_F32P(w)[0] = 1.0f + 0.01f * (float)k; /* distinct, so a mix-up shows */
            prod *= NN_F32P(w)[0];
        }
        fill(nn_plan_input(p), 4);
        cr_assert_eq(nn_plan_forward(p, 1, &err), NN_OK, "%s", err.msg);
        const float *x = NN_F32P(nn_plan_input(p)), *y = NN_F32P(nn_plan_output(p));
        double gx = 0;
        for (int i = 0; i < 6; i++) {
            cr_assert_float_eq(y[i], x[i] * prod, 1e-5 * (1 + fabs(x[i] * prod)));
            NN_F32P(nn_plan_grad_output(p))[i] = (float)(i + 1);
            gx += (i + 1) * (double)x[i];
        }
        cr_assert_eq(nn_plan_backward(p, &err), NN_OK, "%s", err.msg);
        for (int k = 0; k < counts[c]; k++) {
            nn_tensor *g;
            nn_tensor *w = nn_model_param(m, k, &g, NULL, NULL, NULL);
            double want = gx * prod / NN_F32P(w)[0];
            cr_assert_float_eq(NN_F32P(g)[0], want, 1e-4 * (1 + fabs(want)), "p%d", k);
        }
        nn_model_free(m);
    }
}

Test(graph, shape_mismatch_names_both_layers_and_shapes)
{
    nn_error err = {0};
    nn_model *m = model_from("[layer.a]\ntype = tg_linear\nunits = 4\n"
                             "[layer.b]\ntype = tg_linear\nunits = 5\ninputs = input\n"
                             "[layer.s]\ntype = tg_add\ninputs = a, b\n", &err);
    cr_assert(m, "%s", err.msg);
    nn_plan *p;
    int64_t shape[1] = {3};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 0, 1, &p, &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "m.ini:8"), "%s", err.msg);
    cr_assert(strstr(err.msg, "'a' [2, 4]"), "%s", err.msg);
    cr_assert(strstr(err.msg, "'b' [2, 5]"), "%s", err.msg);
    nn_model_free(m);
}

Test(graph, bad_wiring_is_reported_with_the_section)
{
    nn_error err = {0};
    int64_t shape[1] = {3};
    nn_plan *p;
    nn_model *m = model_from("[layer.a]\ntype = tg_linear\nunits = 4\ninputs = nope\n", &err);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 0, 1, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "input 'nope' is not a layer name"), "%s", err.msg);
    nn_model_free(m);

    m = model_from("[layer.a]\ntype = tg_relu\ninputs = b\n[layer.b]\ntype = tg_relu\ninputs = a\n",
                   &err);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 0, 1, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "cycle"), "%s", err.msg);
    nn_model_free(m);

    m = model_from("[layer.a]\ntype = tg_relu\n[layer.b]\ntype = tg_relu\ninputs = input\n", &err);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 0, 1, &p, &err), NN_EINVAL);
    cr_assert(strstr(err.msg, "output of layer 'a' is not used"), "%s", err.msg);
    nn_model_free(m);

    cr_assert_null(model_from("[layer.a]\ntype = tg_lineer\nunits = 4\n", &err));
    cr_assert(strstr(err.msg, "did you mean 'tg_linear'"), "%s", err.msg);
    cr_assert_null(model_from("[layer.a]\ntype = tg_linear\nunit = 4\n", &err));
    cr_assert(strstr(err.msg, "m.ini:3") && strstr(err.msg, "did you mean 'units'"), "%s",
              err.msg);
    cr_assert_null(model_from("[layer.a]\ntype = tg_linear\nunits = 4\nlr_mult = -1\n", &err));
    cr_assert(strstr(err.msg, "lr_mult"), "%s", err.msg);
}

Test(graph, eval_plans_keep_no_gradients_and_share_parameters)
{
    nn_error err = {0};
    nn_model *m = model_from(residual_ini, &err);
    nn_plan *train, *eval, *again;
    int64_t shape[1] = {5};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 8, 1, 1, &train, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 8, 0, 1, &eval, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 8, 1, 1, &again, &err), NN_OK);
    cr_assert_eq(train, again);
    cr_assert_null(nn_plan_grad_output(eval));
    cr_assert_lt(nn_plan_arena_bytes(eval), nn_plan_arena_bytes(train));
    /* the eval plan runs in the training plan's arena: no memory of its own */
    cr_assert_eq(nn_model_arena_bytes(m), nn_plan_arena_bytes(train));
    /* so a plan's activations last until another plan runs: keep the training output */
    float in[8 * 5], want[8 * 3];
    fill(nn_plan_input(train), 3);
    memcpy(in, nn_plan_input(train)->dl.data, sizeof in);
    cr_assert_eq(nn_plan_forward(train, 1, &err), NN_OK);
    cr_assert_eq(nn_tensor_nbytes(nn_plan_output(train)), sizeof want);
    memcpy(want, nn_plan_output(train)->dl.data, sizeof want);
    memcpy(nn_plan_input(eval)->dl.data, in, sizeof in);
    cr_assert_eq(nn_plan_forward(eval, 0, &err), NN_OK);
    cr_assert_eq(memcmp(want, nn_plan_output(eval)->dl.data, sizeof want), 0);
    cr_assert_eq(nn_plan_backward(eval, &err), NN_EINVAL);
    nn_model_free(m);
}

static const char *chain_ini =
    "[layer.a]\ntype = tg_linear\nunits = 32\n[layer.b]\ntype = tg_relu\n"
    "[layer.c]\ntype = tg_linear\nunits = 32\n[layer.d]\ntype = tg_relu\n"
    "[layer.e]\ntype = tg_linear\nunits = 32\n[layer.f]\ntype = tg_linear\nunits = 32\n";

Test(graph, activation_gradients_share_memory_while_not_live_and_plans_share_one_arena)
{
    nn_error err = {0};
    nn_model *m = model_from(chain_ini, &err);
    cr_assert(m, "%s", err.msg);
    nn_plan *train, *eval, *last;
    int64_t shape[1] = {32};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 16, 1, 1, &train, &err), NN_OK, "%s",
                 err.msg);
    /* six outputs of 16 x 32 floats (2 KiB) and the input: every gradient of a chain is live
     * from its consumer's backward to its producer's, so two of them take all the room */
    const size_t act = 16 * 32 * sizeof(float);
    cr_assert_eq(nn_plan_arena_bytes(train), act + 6 * act + 2 * act,
                 "arena %zu bytes, want the input, six outputs and two gradients (%zu)",
                 nn_plan_arena_bytes(train), 9 * act);
    /* validation and the epoch's short last batch run in the same arena */
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 16, 0, 1, &eval, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 5, 1, 1, &last, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_model_arena_bytes(m), nn_plan_arena_bytes(train));
    /* a bigger plan gets an arena of its own, which later plans share */
    nn_plan *big, *after;
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 64, 1, 1, &big, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 40, 0, 1, &after, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_model_arena_bytes(m),
                 nn_plan_arena_bytes(train) + nn_plan_arena_bytes(big));
    /* each still computes what it should, one after the other */
    nn_plan *plans[] = {train, last, big, eval, after};
    for (int k = 0; k < 5; k++) {
        fill(nn_plan_input(plans[k]), 7);
        cr_assert_eq(nn_plan_forward(plans[k], nn_plan_grad_output(plans[k]) != NULL, &err),
                     NN_OK, "%s", err.msg);
        if (nn_plan_grad_output(plans[k])) {
            fill(nn_plan_grad_output(plans[k]), 8);
            cr_assert_eq(nn_plan_backward(plans[k], &err), NN_OK, "%s", err.msg);
        }
    }
    nn_model_free(m);
}

Test(graph, first_non_finite_layer_is_named)
{
    nn_error err = {0};
    nn_model *m = model_from("[layer.fc]\ntype = tg_linear\nunits = 4\n"
                             "[layer.bad]\ntype = tg_nan\npoison = true\n"
                             "[layer.out]\ntype = tg_linear\nunits = 2\n", &err);
    nn_plan *p;
    int64_t shape[1] = {3};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 2, 1, 1, &p, &err), NN_OK, "%s", err.msg);
    fill(nn_plan_input(p), 1);
    cr_assert_eq(nn_plan_forward(p, 1, &err), NN_OK);
    cr_assert_eq(nn_plan_forward_checked(p, 1, &err), NN_ENONFINITE);
    cr_assert(strstr(err.msg, "layer 'bad' (tg_nan) is the first"), "%s", err.msg);
    memset(NN_F32P(nn_plan_grad_output(p)), 0, 4 * sizeof(float));
    NN_F32P(nn_plan_grad_output(p))[0] = 1;
    cr_assert_eq(nn_plan_backward(p, &err), NN_OK);
    cr_assert_eq(nn_plan_check_grads(p, &err), NN_ENONFINITE);
    cr_assert(strstr(err.msg, "out.weight"), "%s", err.msg);
    nn_model_free(m);
}

#ifdef COUNTING_ALLOCATOR
Test(graph, steady_state_steps_make_no_heap_allocations)
{
    nn_error err = {0};
    nn_model *m = model_from(residual_ini, &err);
    nn_plan *p;
    int64_t shape[1] = {5};
    cr_assert_eq(nn_model_plan(m, 1, shape, NN_F32, 16, 1, 1, &p, &err), NN_OK, "%s", err.msg);
    fill(nn_plan_input(p), 2);
    for (int s = 0; s < 2; s++) { /* warm-up */
        nn_plan_forward(p, 1, &err);
        nn_plan_backward(p, &err);
    }
    n_allocs = 0;
    counting = 1;
    for (int s = 0; s < 20; s++) {
        nn_plan_set_step_seed(p, (uint64_t)s);
        nn_plan_forward(p, 1, &err);
        nn_plan_backward(p, &err);
    }
    counting = 0;
    cr_assert_eq(n_allocs, 0, "%ld allocations in 20 steps", n_allocs);
    nn_model_free(m);
}
#endif
