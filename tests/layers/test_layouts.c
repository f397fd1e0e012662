/* test_layouts.c: the opaque layouts (oneDNN's blocked formats) that consecutive oneDNN layers
 * agree on in a plan give the same outputs and parameter gradients as the same model kept
 * plain strided everywhere (nn_model_set_plain_layouts), and [train] precision = bf16 either
 * computes close to f32 or is refused with a sentence naming the layer and the CPU. Runs the
 * stock plugins through the real graph (core/plan.c negotiates the layouts). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "graph.h"
#include "graph_internal.h"
#include "harness.h"
#include "registry.h"

static nn_registry *reg;

static void setup_reg(void)
{
    nn_error err = {0};
    reg = nn_registry_new(NULL);
    cr_assert_eq(nn_registry_scan(reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
}

static void teardown_reg(void) { nn_registry_free(reg); }

TestSuite(layouts, .init = setup_reg, .fini = teardown_reg);

/* conv -> maxpool -> conv -> avgpool: three oneDNN edges that can stay blocked; flatten
 * reads plain; dense -> dense may keep its own layout. Channels in multiples of 16: with AVX-512
 * oneDNN blocks channels by 16 and runs a convolution of 8 input channels on a plain input, so
 * an edge of 8 channels stays plain there (it is blocked by 8 on AVX2) */
static const char *cnn_ini =
    "[layer.conv1]\ntype = conv2d\nfilters = 16\nkernel = 3\npadding = 1\nactivation = relu\n"
    "[layer.pool1]\ntype = maxpool2d\nkernel = 2\n"
    "[layer.conv2]\ntype = conv2d\nfilters = 32\nkernel = 3\npadding = 1\nactivation = relu\n"
    "[layer.pool2]\ntype = avgpool2d\nkernel = 2\n"
    "[layer.flatten]\ntype = flatten\n"
    "[layer.fc1]\ntype = dense\nunits = 7\nactivation = relu\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n";

typedef struct run {
    nn_model *m;
    nn_plan *p;
    int training;
} run;

/* the model of `ini` planned for batches of `batch` samples of c x hw x hw */
static int open_model(run *r, const char *ini, int64_t c, int64_t hw, int64_t batch,
                      int training, int plain, nn_dtype precision, nn_error *err)
{
    nn_config *cfg = NULL;
    cr_assert_eq(nn_config_parse(ini, "cnn.ini", &cfg, err), NN_OK, "%s", err->msg);
    r->m = nn_model_new(reg, NULL);
    r->training = training;
    cr_assert_eq(nn_model_from_config(r->m, cfg, err), NN_OK, "%s", err->msg);
    nn_config_free(cfg);
    nn_model_set_plain_layouts(r->m, plain);
    nn_model_set_precision(r->m, precision);
    const int64_t shape[3] = {c, hw, hw};
    int rc = nn_model_plan(r->m, 3, shape, NN_F32, batch, training, 7, &r->p, err);
    if (rc)
        return rc;
    nnt_fill_uniform(nn_plan_input(r->p), 3, -1, 1);
    return NN_OK;
}

static int open_run(run *r, int plain, nn_dtype precision, nn_error *err)
{
    return open_model(r, cnn_ini, 2, 12, 4, 1, plain, precision, err);
}

static void step(run *r)
{
    nn_error err = {0};
    cr_assert_eq(nn_plan_forward(r->p, r->training, &err), NN_OK, "%s", err.msg);
    if (!r->training)
        return;
    /* backward consumes the output gradient (the plan may reuse its memory), as the loss
     * writes it anew each step */
    nnt_fill_uniform(nn_plan_grad_output(r->p), 4, -1, 1);
    cr_assert_eq(nn_plan_backward(r->p, &err), NN_OK, "%s", err.msg);
}

/* largest |a - b| over the largest |b| (both as many floats) */
static double rel_diff(const float *a, const float *b, int64_t n)
{
    double d = 0, s = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return d / s;
}

/* ||a - b|| / ||b||: mixed precision moves a few values a lot (an argmax or a ReLU that a
 * bf16 rounding flips routes that gradient elsewhere), so bf16 is held to the whole tensor */
static double norm_diff(const float *a, const float *b, int64_t n)
{
    double d = 0, s = 1e-12;
    for (int64_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / s);
}

static int layer_index(const nn_model *m, const char *name)
{
    for (int i = 0; i < nn_model_layer_count(m); i++)
        if (strcmp(nn_model_layer_name(m, i), name) == 0)
            return i;
    cr_assert_fail("no layer '%s'", name);
    return -1;
}

/* outputs and parameter gradients of a and b within tol: of the largest element, or as
 * norm_diff when by_norm */
static void compare(run *a, run *b, double tol, int by_norm)
{
    double (*diff)(const float *, const float *, int64_t) = by_norm ? norm_diff : rel_diff;
    const char *of = by_norm ? "of its norm" : "of its largest element";
    const nn_tensor *ya = nn_plan_output(a->p), *yb = nn_plan_output(b->p);
    cr_assert_null(ya->layout, "the model's output is always plain");
    double worst = diff(NN_F32P(ya), NN_F32P(yb), nn_tensor_numel(yb));
    cr_assert_lt(worst, tol, "output differs by %g %s", worst, of);
    cr_assert_eq(nn_model_param_count(a->m), nn_model_param_count(b->m));
    for (int k = 0; a->training && k < nn_model_param_count(a->m); k++) {
        nn_tensor *ga, *gb;
        nn_model_param(a->m, k, &ga, NULL, NULL, NULL);
        nn_model_param(b->m, k, &gb, NULL, NULL, NULL);
        worst = diff(NN_F32P(ga), NN_F32P(gb), nn_tensor_numel(gb));
        cr_assert_lt(worst, tol, "gradient of parameter %d differs by %g %s", k, worst, of);
    }
}

Test(layouts, blocked_edges_match_the_plain_model)
{
    nn_error err = {0};
    run blocked, plain;
    cr_assert_eq(open_run(&blocked, 0, NN_F32, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(open_run(&plain, 1, NN_F32, &err), NN_OK, "%s", err.msg);
    /* the oneDNN edges were negotiated (else this test compares plain with plain) */
    const char *kept[] = {"conv1", "pool1", "conv2"};
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(blocked.p->outputs[layer_index(blocked.m, kept[i])].layout,
                           "%s's output was not kept in a blocked layout", kept[i]);
        cr_assert_null(plain.p->outputs[layer_index(plain.m, kept[i])].layout);
    }
    cr_assert_null(blocked.p->outputs[layer_index(blocked.m, "pool2")].layout,
                   "flatten reads plain tensors only");
    /* the max pool applies conv1's ReLU derivative (NN_LAYOUT_RELU), and conv1 was told; the
     * average pool cannot, so conv2 applies its own: the comparison below covers both */
    int c1 = layer_index(blocked.m, "conv1"), p1 = layer_index(blocked.m, "pool1");
    cr_assert(blocked.p->outputs[c1].layout->props & NN_LAYOUT_RELU);
    cr_assert_eq(blocked.p->setups[p1].grad_input_masked, 1);
    cr_assert_eq(blocked.p->setups[c1].output_grad_masked, 1);
    cr_assert_eq(blocked.p->setups[layer_index(blocked.m, "pool2")].grad_input_masked, 0);
    cr_assert_eq(blocked.p->setups[layer_index(blocked.m, "conv2")].output_grad_masked, 0);
    cr_assert_eq(plain.p->setups[p1].grad_input_masked, 0);
    for (int s = 0; s < 2; s++) { /* twice: the second step reuses every primitive */
        step(&blocked);
        step(&plain);
        compare(&blocked, &plain, 1e-5, 0);
    }
    nn_model_free(blocked.m);
    nn_model_free(plain.m);
}

Test(layouts, bf16_computes_close_to_f32_or_is_refused_with_the_reason)
{
    nn_error err = {0};
    run f32, bf16;
    cr_assert_eq(open_run(&f32, 0, NN_F32, &err), NN_OK, "%s", err.msg);
    int rc = open_run(&bf16, 0, NN_BF16, &err);
    __builtin_cpu_init();
    int native = __builtin_cpu_supports("avx512bf16");
    if (!__builtin_cpu_supports("avx512bw") || (rc && !native)) {
        /* oneDNN 2.6 has no bf16 kernels below AVX-512 */
        cr_assert_eq(rc, NN_ENOTSUP, "bf16 on a CPU without AVX-512 gave %d: %s", rc, err.msg);
        cr_assert(nnt_msg_has(&err, (const char *[]){"conv1", "precision = bf16",
                                                       "use precision = f32", NULL}),
                  "%s", err.msg);
        cr_log_info("bf16 refused here, as expected: %s", err.msg);
        nn_model_free(bf16.m);
        nn_model_free(f32.m);
        return;
    }
    cr_assert_eq(rc, NN_OK, "%s", err.msg);
    step(&f32);
    step(&bf16);
    /* bf16 keeps 8 bits of mantissa: activations and gradients within a few percent of
     * their norm (measured on an AVX-512-BF16/AMX Xeon: 4.5% for conv1's weights, below the
     * max pool and two ReLUs, 2% or less for the others; against the largest element conv1's
     * worst is 7%) */
    compare(&bf16, &f32, 8e-2, 1);
    nn_model_free(bf16.m);
    nn_model_free(f32.m);
}

/* The Fashion-MNIST CNN's convolutions keep oneDNN's fast kernels in every plan: blocked
 * outputs (never the plain f32 gemm fallback) in training and in inference, and bf16 outputs
 * under precision = bf16; its max pools run our own loops on those layouts. oneDNN 2.6 picks `brgconv` kernels on AVX-512 and AMX for the
 * 32->64 5x5 convolution (bf16 training, f32 inference); a check that took only `jit` kernels
 * for fast ran those all plain in f32, bf16 training 4x slower than with them */
static const char *fmnist_ini =
    "[layer.conv1]\ntype = conv2d\nfilters = 32\nkernel = 5\npadding = 2\nactivation = relu\n"
    "[layer.pool1]\ntype = maxpool2d\nkernel = 2\n"
    "[layer.conv2]\ntype = conv2d\nfilters = 64\nkernel = 5\npadding = 2\nactivation = relu\n"
    "[layer.pool2]\ntype = maxpool2d\nkernel = 2\n"
    "[layer.flatten]\ntype = flatten\n"
    "[layer.fc1]\ntype = dense\nunits = 10\n";

static void check_conv_plans(nn_dtype precision, int training)
{
    nn_error err = {0};
    const char *how = training ? "training" : "inference";
    run fast, plain;
    cr_assert_eq(open_model(&fast, fmnist_ini, 1, 28, 16, training, 0, precision, &err), NN_OK,
                 "%s", err.msg);
    cr_assert_eq(open_model(&plain, fmnist_ini, 1, 28, 16, training, 1, NN_F32, &err), NN_OK,
                 "%s", err.msg);
    const char *convs[] = {"conv1", "conv2"};
    for (int i = 0; i < 2; i++) {
        const nn_layout *lo = fast.p->outputs[layer_index(fast.m, convs[i])].layout;
        cr_assert_not_null(lo, "%s (%s, %s) ran plain: oneDNN's fast kernel was refused",
                           convs[i], precision == NN_BF16 ? "bf16" : "f32", how);
        cr_assert_eq(lo->stored_dtype, precision, "%s (%s) computes in another type", convs[i],
                     how);
    }
    /* both max pools run our loops on that layout (nn_maxpool_blk.c), which fold the
     * ReLU's derivative into their backward: oneDNN's pooling cannot */
    for (int i = 0; training && i < 2; i++) {
        const char *pool = i ? "pool2" : "pool1";
        cr_assert_eq(fast.p->setups[layer_index(fast.m, pool)].grad_input_masked, 1,
                     "%s (%s) does not run nn_maxpool_blk on its input's layout", pool,
                     precision == NN_BF16 ? "bf16" : "f32");
    }
    /* and computes what the plain f32 model does. bf16 by the norm, as above; conv1's weight
     * gradient, below two max pools and ReLUs, is 9-10% off (measured on an AMX Xeon: 9.0%
     * with conv2 kept in f32, 9.7% with it in bf16; conv2's weights 5%, every other tensor 4.2% or less) */
    step(&fast);
    step(&plain);
    compare(&fast, &plain, precision == NN_BF16 ? 0.15 : 1e-5, precision == NN_BF16);
    nn_model_free(fast.m);
    nn_model_free(plain.m);
}

Test(layouts, convolutions_keep_fast_kernels_in_training_and_inference)
{
    check_conv_plans(NN_F32, 1);
    check_conv_plans(NN_F32, 0);
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        cr_log_info("no AVX512-BF16 here: bf16 plans not checked");
        return;
    }
    check_conv_plans(NN_BF16, 1);
    check_conv_plans(NN_BF16, 0);
}

/* The plan's own memory plan (plan_memory.c) through the stock layers: activation gradients
 * share memory by their live intervals, conv and dense apply their activation's derivative
 * in grad_output (grad_output_scratch), the first convolution declares nothing for a data
 * gradient nobody asks for (input_grad_unused). Checked against finite differences of
 * sum(output .* R): tanh everywhere so that every layer's derivative is applied in place. */
static const char *smooth_ini =
    "[layer.conv1]\ntype = conv2d\nfilters = 8\nkernel = 3\npadding = 1\nactivation = tanh\n"
    "[layer.pool1]\ntype = maxpool2d\nkernel = 2\n"
    "[layer.conv2]\ntype = conv2d\nfilters = 16\nkernel = 3\npadding = 1\nactivation = tanh\n"
    "[layer.flatten]\ntype = flatten\n"
    "[layer.fc1]\ntype = dense\nunits = 7\nactivation = tanh\n"
    "[layer.fc2]\ntype = dense\nunits = 3\n";

Test(layouts, shared_gradient_memory_and_in_place_derivatives_match_finite_differences)
{
    nn_error err = {0};
    nn_config *cfg = NULL;
    cr_assert_eq(nn_config_parse(smooth_ini, "smooth.ini", &cfg, &err), NN_OK, "%s", err.msg);
    nn_model *m = nn_model_new(reg, NULL);
    cr_assert_eq(nn_model_from_config(m, cfg, &err), NN_OK, "%s", err.msg);
    nn_config_free(cfg);
    const int64_t shape[3] = {1, 8, 8};
    nn_plan *p;
    cr_assert_eq(nn_model_plan(m, 3, shape, NN_F32, 2, 1, 5, &p, &err), NN_OK, "%s", err.msg);
    /* the first convolution's input gradient is never asked for: no buffer for it */
    const nn_layer_setup *s1 = &p->setups[layer_index(m, "conv1")];
    cr_assert(s1->input_grad_unused & 1u);
    cr_assert_eq(p->setups[layer_index(m, "conv2")].input_grad_unused & 1u, 0);
    for (int b = 0; b < s1->n_buffers; b++)
        cr_assert(strcmp(s1->buffers[b].name, "grad_pre_activation") != 0,
                  "conv1 declared a buffer for dLoss/dz although it may use grad_output");
    nnt_fill_uniform(nn_plan_input(p), 21, -1, 1);
    float R[2 * 3];
    for (int i = 0; i < 6; i++)
        R[i] = (float)(i % 3) - 0.7f;
    /* eps small: a larger step moves some max pool's argmax (1e-2 did, by 0.27); about 40
     * elements of each tensor */
    char where[160] = "";
    double worst = nnt_plan_gradcheck(m, p, R, 3e-4, 3e-2, 40, where, sizeof where, &err);
    cr_assert_geq(worst, 0, "%s", err.msg);
    /* float32 through oneDNN: 2e-2 of the larger (3.6e-2 at eps 1e-3, where pool kinks) */
    cr_assert_lt(worst, 2e-2, "worst relative gradient error %g at %s", worst, where);
    nn_model_free(m);
}
