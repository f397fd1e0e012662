/* test_dnnl_ops.c: libnn_dnnl's bound primitives and their scratchpads. Every primitive runs
 * with a user-managed scratchpad, so that a primitive made on one thread runs on another
 * ([train] replicas bind plans on the main thread and run them on theirs; oneDNN 2.6 keeps a
 * library-managed scratchpad per creating thread, and another thread ran with none). A
 * descriptor made the library's way is refused on every CPU alike. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "nn_dnnl.h"

/* one LSTM layer, forward inference: oneDNN's RNN books a scratchpad for its gates on every
 * CPU */
enum { T = 3, N = 2, C = 4, H = 5, G = 4 };

typedef struct lstm {
    float src[T * N * C], wl[C * G * H], wi[H * G * H], bias[G * H], dst[T * N * H];
    nn_tensor t_src, t_wl, t_wi, t_bias, t_dst;
    dnnl_primitive_desc_t pd;
    nn_dnnl_op op;
} lstm;

static void tensor(nn_tensor *t, float *data, int64_t n)
{
    nn_tensor_describe(t, NN_F32, 1, &n);
    t->dl.data = data;
}

static void fill(float *x, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
    }
}

static dnnl_status_t lstm_desc(dnnl_rnn_desc_t *d)
{
    dnnl_memory_desc_t src, dst, wl, wi, b;
    dnnl_dims_t sd = {T, N, C}, dd = {T, N, H}, wld = {1, 1, C, G, H}, wid = {1, 1, H, G, H},
                bd = {1, 1, G, H};
    dnnl_memory_desc_init_by_tag(&src, 3, sd, dnnl_f32, dnnl_tnc);
    dnnl_memory_desc_init_by_tag(&dst, 3, dd, dnnl_f32, dnnl_tnc);
    dnnl_memory_desc_init_by_tag(&wl, 5, wld, dnnl_f32, dnnl_ldigo);
    dnnl_memory_desc_init_by_tag(&wi, 5, wid, dnnl_f32, dnnl_ldigo);
    dnnl_memory_desc_init_by_tag(&b, 4, bd, dnnl_f32, dnnl_ldgo);
    return dnnl_lstm_forward_desc_init(d, dnnl_forward_inference,
                                       dnnl_unidirectional_left2right, &src, NULL, NULL, &wl,
                                       &wi, &b, &dst, NULL, NULL, 0);
}

static void lstm_open(lstm *l)
{
    memset(l, 0, sizeof *l);
    nn_error err = {0};
    cr_assert_eq(nn_dnnl_init("lstm", &err), NN_OK, "%s", err.msg);
    fill(l->src, T * N * C, 1);
    fill(l->wl, C * G * H, 2);
    fill(l->wi, H * G * H, 3);
    fill(l->bias, G * H, 4);
    tensor(&l->t_src, l->src, T * N * C);
    tensor(&l->t_wl, l->wl, C * G * H);
    tensor(&l->t_wi, l->wi, H * G * H);
    tensor(&l->t_bias, l->bias, G * H);
    tensor(&l->t_dst, l->dst, T * N * H);
    dnnl_rnn_desc_t d;
    cr_assert_eq(lstm_desc(&d), dnnl_success);
    cr_assert_eq(nn_dnnl_pd_create(&l->pd, &d, NULL, NULL), dnnl_success);
    cr_assert_gt(nn_dnnl_scratchpad_size(l->pd), 0, "an RNN without a scratchpad?");
    cr_assert_eq(nn_dnnl_op_create(&l->op, l->pd, "LSTM forward", "lstm", &err), NN_OK, "%s",
                 err.msg);
    const struct {
        int arg;
        const nn_tensor *t;
    } args[] = {{DNNL_ARG_SRC_LAYER, &l->t_src},
                {DNNL_ARG_WEIGHTS_LAYER, &l->t_wl},
                {DNNL_ARG_WEIGHTS_ITER, &l->t_wi},
                {DNNL_ARG_BIAS, &l->t_bias},
                {DNNL_ARG_DST_LAYER, &l->t_dst}};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        cr_assert_eq(nn_dnnl_op_tensor(&l->op, l->pd, args[i].arg, args[i].t, "lstm", &err),
                     NN_OK, "%s", err.msg);
}

static void lstm_close(lstm *l)
{
    nn_dnnl_op_destroy(&l->op);
    nn_dnnl_pd_free(&l->pd);
}

typedef struct run_arg {
    lstm *l;
    int rc;
    nn_error err;
} run_arg;

static void *run_there(void *p)
{
    run_arg *a = p;
    a->rc = nn_dnnl_op_run(&a->l->op, "lstm", &a->err);
    return NULL;
}

static void run_on_new_thread(lstm *l)
{
    run_arg a = {.l = l};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_there, &a), 0);
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, NN_OK, "%s", a.err.msg);
}

Test(dnnl_ops, a_primitive_made_here_runs_on_other_threads_with_their_own_scratchpad)
{
    static lstm l;
    nn_error err = {0};
    lstm_open(&l);
    cr_assert_eq(nn_dnnl_op_run(&l.op, "lstm", &err), NN_OK, "%s", err.msg);
    float here[T * N * H];
    memcpy(here, l.dst, sizeof here);
    for (int round = 0; round < 3; round++) { /* each thread a new one, then here again */
        memset(l.dst, 0, sizeof l.dst);
        run_on_new_thread(&l);
        cr_assert_eq(memcmp(here, l.dst, sizeof here), 0, "round %d: other bits", round);
        memset(l.dst, 0, sizeof l.dst);
        cr_assert_eq(nn_dnnl_op_run(&l.op, "lstm", &err), NN_OK, "%s", err.msg);
        cr_assert_eq(memcmp(here, l.dst, sizeof here), 0, "round %d: other bits", round);
    }
    lstm_close(&l);
}

typedef struct many_arg {
    lstm *l;
    const float *want;
    int rounds, bad, rc;
    nn_error err;
} many_arg;

static void *run_many(void *p)
{
    many_arg *a = p;
    for (int r = 0; r < a->rounds && a->rc == NN_OK; r++) {
        memset(a->l->dst, 0, sizeof a->l->dst);
        a->rc = nn_dnnl_op_run(&a->l->op, "lstm", &a->err);
        a->bad += memcmp(a->want, a->l->dst, sizeof a->l->dst) != 0;
    }
    return NULL;
}

/* two replicas at once, each with its own op: their scratchpads must not be one */
Test(dnnl_ops, threads_running_at_once_do_not_share_a_scratchpad)
{
    static lstm a, b;
    nn_error err = {0};
    lstm_open(&a);
    lstm_open(&b);
    cr_assert_eq(nn_dnnl_op_run(&a.op, "lstm", &err), NN_OK, "%s", err.msg);
    float want[T * N * H];
    memcpy(want, a.dst, sizeof want);
    many_arg ma = {.l = &a, .want = want, .rounds = 3000}, mb = ma;
    mb.l = &b;
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, run_many, &ma), 0);
    cr_assert_eq(pthread_create(&tb, NULL, run_many, &mb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(ma.rc, NN_OK, "%s", ma.err.msg);
    cr_assert_eq(mb.rc, NN_OK, "%s", mb.err.msg);
    cr_assert_eq(ma.bad + mb.bad, 0, "%d and %d of 3000 runs gave other bits", ma.bad, mb.bad);
    lstm_close(&a);
    lstm_close(&b);
}

Test(dnnl_ops, a_scratchpad_of_the_layers_own_replaces_the_threads)
{
    static lstm l;
    static float pad[1 << 16];
    nn_error err = {0};
    lstm_open(&l);
    cr_assert_eq(nn_dnnl_op_run(&l.op, "lstm", &err), NN_OK, "%s", err.msg);
    float want[T * N * H];
    memcpy(want, l.dst, sizeof want);
    size_t need = nn_dnnl_scratchpad_size(l.pd);
    cr_assert_leq(need, sizeof pad);
    nn_tensor small, whole;
    tensor(&small, pad, (int64_t)(need / sizeof(float)) - 1);
    small.name = "tiny";
    tensor(&whole, pad, (int64_t)(sizeof pad / sizeof(float)));
    cr_assert_eq(nn_dnnl_op_scratchpad(&l.op, l.pd, &small, "lstm", &err), NN_ESHAPE);
    cr_assert(strstr(err.msg, "'tiny'") && strstr(err.msg, "scratchpad"), "%s", err.msg);
    err = (nn_error){0};
    cr_assert_eq(nn_dnnl_op_scratchpad(&l.op, l.pd, &whole, "lstm", &err), NN_OK, "%s",
                 err.msg);
    /* the gates go through the layer's buffer now */
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++)
        pad[i] = 12345.0f;
    memset(l.dst, 0, sizeof l.dst);
    cr_assert_eq(nn_dnnl_op_run(&l.op, "lstm", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(want, l.dst, sizeof want), 0);
    size_t touched = 0;
    for (size_t i = 0; i < need / sizeof(float); i++)
        touched += pad[i] != 12345.0f;
    cr_assert_gt(touched, 0, "the layer's scratchpad was not used");
    memset(l.dst, 0, sizeof l.dst);
    run_on_new_thread(&l);
    cr_assert_eq(memcmp(want, l.dst, sizeof want), 0);
    lstm_close(&l);
}

Test(dnnl_ops, a_library_managed_scratchpad_is_refused_naming_the_layer)
{
    nn_error err = {0};
    cr_assert_eq(nn_dnnl_init("lstm", &err), NN_OK, "%s", err.msg);
    dnnl_rnn_desc_t d;
    cr_assert_eq(lstm_desc(&d), dnnl_success);
    dnnl_primitive_desc_t pd = NULL;
    cr_assert_eq(dnnl_primitive_desc_create(&pd, &d, NULL, nn_dnnl_engine(), NULL),
                 dnnl_success);
    nn_dnnl_op op = {0};
    cr_assert_eq(nn_dnnl_op_create(&op, pd, "LSTM forward", "my_rnn", &err), NN_EINTERNAL);
    cr_assert(strstr(err.msg, "'my_rnn'") && strstr(err.msg, "LSTM forward") &&
                  strstr(err.msg, "library-managed scratchpad") &&
                  strstr(err.msg, "nn_dnnl_pd_create"),
              "%s", err.msg);
    cr_assert_null(op.prim);
    nn_dnnl_op_destroy(&op);
    dnnl_primitive_desc_destroy(pd);
}

/* oneDNN 2.6 makes the JIT kernels of a gemm-based primitive at its first run (18 ms for an
 * inner product of the Fashion-MNIST MLP), which fell into a training run's first step:
 * nn_dnnl_op_create runs such a primitive once, on zeroed memory of its own, leaving the
 * layer's tensors alone */
Test(dnnl_ops, a_gemm_primitive_runs_once_when_made_on_memory_of_its_own,
     .init = cr_redirect_stdout)
{
    nn_error err = {0};
    cr_assert_eq(nn_dnnl_init("ip", &err), NN_OK, "%s", err.msg);
    enum { MB = 4, IC = 8, OC = 3 };
    dnnl_memory_desc_t s, w, d;
    dnnl_dims_t sd = {MB, IC}, wd = {OC, IC}, dd = {MB, OC};
    dnnl_memory_desc_init_by_tag(&s, 2, sd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&w, 2, wd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&d, 2, dd, dnnl_f32, dnnl_ab);
    dnnl_inner_product_desc_t id;
    cr_assert_eq(dnnl_inner_product_forward_desc_init(&id, dnnl_forward_training, &s, &w, NULL,
                                                      &d),
                 dnnl_success);
    dnnl_primitive_desc_t pd;
    cr_assert_eq(nn_dnnl_pd_create(&pd, &id, NULL, NULL), dnnl_success);
    cr_assert(nn_dnnl_impl_is(pd, "gemm"), "oneDNN 2.6 computes f32 inner products by gemm");
    float src[MB * IC], wei[OC * IC], dst[MB * OC];
    fill(src, MB * IC, 5);
    fill(wei, OC * IC, 6);
    for (int i = 0; i < MB * OC; i++)
        dst[i] = 7;
    nn_tensor ts, tw, td;
    tensor(&ts, src, MB * IC);
    tensor(&tw, wei, OC * IC);
    tensor(&td, dst, MB * OC);
    nn_dnnl_op op = {0};
    fflush(stdout);
    cr_assert_eq(dnnl_set_verbose(1), dnnl_success);
    cr_assert_eq(nn_dnnl_op_create(&op, pd, "inner product forward", "ip", &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_dnnl_op_tensor(&op, pd, DNNL_ARG_SRC, &ts, "ip", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_dnnl_op_tensor(&op, pd, DNNL_ARG_WEIGHTS, &tw, "ip", &err), NN_OK, "%s",
                 err.msg);
    cr_assert_eq(nn_dnnl_op_tensor(&op, pd, DNNL_ARG_DST, &td, "ip", &err), NN_OK, "%s", err.msg);
    fflush(stdout);
    cr_assert_eq(dnnl_set_verbose(0), dnnl_success);
    for (int i = 0; i < MB * OC; i++)
        cr_assert_eq(dst[i], 7, "the warm-up wrote the layer's output");
    FILE *out = cr_get_redirected_stdout();
    char line[4096];
    int runs = 0;
    while (fgets(line, sizeof line, out))
        runs += strstr(line, ",exec,") && strstr(line, "inner_product");
    cr_assert_eq(runs, 1, "%d runs of the inner product while it was made, not 1", runs);
    /* and the layer's own run computes from its tensors */
    cr_assert_eq(nn_dnnl_op_run(&op, "ip", &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < MB; i++)
        for (int o = 0; o < OC; o++) {
            double z = 0;
            for (int k = 0; k < IC; k++)
                z += (double)src[i * IC + k] * wei[o * IC + k];
            cr_assert_float_eq(dst[i * OC + o], z, 1e-5);
        }
    nn_dnnl_op_destroy(&op);
    nn_dnnl_pd_free(&pd);
}
