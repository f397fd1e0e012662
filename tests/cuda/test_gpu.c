/* test_gpu.c: the CUDA pack on a GPU, end to end through the nntrain binary: the examples and
 * models using every other layer train on cuda as on the CPU (per-step losses, test
 * accuracy); CUDA graphs change nothing but speed and are really replayed; the steady state
 * calls cudaMalloc no more; dropout runs repeat exactly. Without a device (or without the
 * Fashion-MNIST files) each test is skipped with the reason. NNTRAIN_FMNIST_DIR points at the
 * IDX files (default: the examples' /usr/share/datasets/fashion-mnist). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <nntrain/nntrain.h>

#include "instance.h"
#include "registry.h"
#include "trainer/cli_fixture.h"

static char data[512];

static void setup(void)
{
    cli_setup("cuda-gpu");
    nn_registry *reg = nn_registry_new(NULL);
    nn_error err = {0};
    cr_assert_eq(nn_registry_scan(reg, NULL, 0, NULL, &err), NN_OK, "%s", err.msg);
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_BACKEND, "cuda", "cuda", &err);
    cr_assert_not_null(e, "%s", err.msg);
    nn_instance be;
    cr_assert_eq(nn_instance_create(&be, e->desc, NULL, 0, "test", &err), NN_OK, "%s", err.msg);
    int n = ((const nn_backend_vtable *)e->desc->vtable)->device_count(be.self, &err);
    nn_instance_destroy(&be);
    nn_registry_free(reg);
    if (n <= 0)
        cr_skip_test("%s", n < 0 ? err.msg : "no CUDA device: cudaGetDeviceCount found none");
    const char *d = getenv("NNTRAIN_FMNIST_DIR");
    snprintf(data, sizeof data, "%s", d && *d ? d : "/usr/share/datasets/fashion-mnist");
    char probe[600];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", data);
    if (access(probe, R_OK) != 0)
        cr_skip_test("no Fashion-MNIST at %s (set NNTRAIN_FMNIST_DIR)", data);
}

TestSuite(cuda_gpu, .init = setup, .fini = cli_teardown, .timeout = 600);

static const char *src(const char *rel)
{
    static char p[2][1024];
    static int k;
    snprintf(p[k & 1], sizeof p[0], "%s/%s", getenv("NNTRAIN_SOURCE_ROOT"), rel);
    return p[k++ & 1];
}

/* the losses of the step records of a run's metrics.jsonl, as written (text compares exactly) */
static int step_losses(const char *run, char out[][40], int cap)
{
    char name[300];
    snprintf(name, sizeof name, "%s/metrics.jsonl", run);
    char *t = slurp(name);
    cr_assert_not_null(t, "no %s", name);
    int n = 0;
    for (char *line = strtok(t, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        if (strstr(line, "\"kind\":\"step\"")) {
            char *l = strstr(line, "\"loss\":");
            cr_assert_not_null(l, "%s", line);
            snprintf(out[n++], 40, "%.*s", (int)strcspn(l + 7, ",}"), l + 7);
        }
    free(t);
    return n;
}

/* trains MODEL (--set options in extra) on DEVICE into run directory RUN; returns the output */
static char *train(const char *model, const char *run, const char *device, const char *env,
                   const char *extra)
{
    int rc = nntrain("train %s --run-dir %s --threads 1 --device %s --set data.dir=%s "
                     "--set logger.j.type=jsonl %s", model, run, device, data, extra);
    char *out = slurp("out.txt");
    cr_assert_eq(rc, 0, "%s %s on %s (%s) failed:\n%s", model, extra, device, env, out);
    return out;
}

static double test_accuracy(const char *out)
{
    const char *t = strstr(out, "test: loss");
    cr_assert_not_null(t, "%s", out);
    double loss, acc;
    cr_assert_eq(sscanf(t, "test: loss %lf accuracy %lf%%", &loss, &acc), 2, "%s", t);
    return acc;
}

/* a number after `key` in the "device cuda:0: ..." line */
static long long device_count_of(const char *out, const char *key)
{
    const char *d = strstr(out, "device cuda:0: ");
    cr_assert_not_null(d, "%s", out);
    const char *k = strstr(d, key);
    cr_assert_not_null(k, "no '%s' in %s", key, d);
    while (k > d && (k[-1] == ' ' || (k[-1] >= '0' && k[-1] <= '9')))
        k--;
    return strtoll(k, NULL, 10);
}

/* cpu and cuda runs of one model: the first `steps` losses within tol (relative), test
 * accuracy within acc_tol points */
static void compare(const char *model, const char *extra, int steps, double tol, double acc_tol)
{
    char a[2048][40], b[2048][40];
    char *oc = train(model, "cpu", "cpu", "", extra), *og = train(model, "gpu", "cuda", "", extra);
    int na = step_losses("cpu", a, 2048), nb = step_losses("gpu", b, 2048);
    cr_assert_eq(na, nb);
    cr_assert_geq(na, steps, "%s: only %d steps", model, na);
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        double x = strtod(a[i], NULL), y = strtod(b[i], NULL);
        worst = fmax(worst, fabs(x - y) / fmax(fabs(x), 1e-6));
    }
    cr_assert_lt(worst, tol, "%s: per-step losses of cpu and cuda differ by %g relative", model,
                 worst);
    double ac = test_accuracy(oc), ag = test_accuracy(og);
    cr_assert_leq(fabs(ac - ag), acc_tol, "%s: test accuracy cpu %.2f%%, cuda %.2f%%", model, ac,
                  ag);
    free(oc);
    free(og);
}

Test(cuda_gpu, the_mlp_example_trains_on_cuda_as_on_the_cpu)
{
    compare(src("examples/fashion_mnist_mlp.ini"), "--set train.epochs=1", 50, 1e-3, 0.5);
}

Test(cuda_gpu, the_cnn_example_trains_on_cuda_as_on_the_cpu)
{
    compare(src("examples/fashion_mnist_cnn.ini"),
            "--set train.epochs=1 --set data.limit=4096 --set data.test_limit=2000", 16, 1e-3,
            1.0);
}

Test(cuda_gpu, a_residual_block_with_layernorm_trains_on_cuda_as_on_the_cpu)
{
    compare(src("examples/residual_mlp.ini"),
            "--set train.epochs=1 --set data.limit=4096 --set data.test_limit=2000", 16, 1e-3,
            1.0);
}

/* reshape, conv1d with asymmetric 'same' padding and gelu, avgpool2d, batchnorm, elu, dropout,
 * sigmoid, leaky_relu, label smoothing and adamw: the layers the examples leave out */
static const char *coverage_model =
    "[train]\nepochs = 1\nbatch_size = 64\nseed = 5\n[data]\ntype = idx\n"
    "[loss]\ntype = cross_entropy\nlabel_smoothing = 0.1\n"
    "[optimizer]\ntype = adamw\nlr = 0.002\n"
    "[layer.rows]\ntype = reshape\nshape = 28, 28\n"
    "[layer.c1]\ntype = conv1d\nfilters = 8\nkernel = 4\npadding = same\nactivation = gelu\n"
    "[layer.img]\ntype = reshape\nshape = 8, 1, 28\n"
    "[layer.pool]\ntype = avgpool2d\nkernel = 1, 2\n"
    "[layer.bn]\ntype = batchnorm\n"
    "[layer.e]\ntype = elu\n"
    "[layer.f]\ntype = flatten\n"
    "[layer.drop]\ntype = dropout\np = 0.3\n"
    "[layer.fc]\ntype = dense\nunits = 32\nactivation = sigmoid\n"
    "[layer.lr]\ntype = leaky_relu\nnegative_slope = 0.1\n"
    "[layer.out]\ntype = dense\nunits = 10\n";

Test(cuda_gpu, the_other_layers_train_on_cuda_as_on_the_cpu_and_dropout_repeats_exactly)
{
    write_file("cov.ini", coverage_model);
    compare(path_in("cov.ini"), "--set data.limit=2048 --set data.test_limit=1000", 16, 1e-3,
            1.0);
    char a[2048][40], b[2048][40];
    free(train(path_in("cov.ini"), "again", "cuda", "", "--set data.limit=2048 "
               "--set data.test_limit=1000"));
    int na = step_losses("gpu", a, 2048), nb = step_losses("again", b, 2048);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++)
        cr_assert_str_eq(a[i], b[i], "step %d: a second run differs", i);
}

/* a softmax head under nll and rmsprop; concat of two branches */
static const char *head_model =
    "[train]\nepochs = 1\nbatch_size = 100\nseed = 9\n[data]\ntype = idx\n"
    "[loss]\ntype = nll\n[optimizer]\ntype = rmsprop\nlr = 0.001\nmomentum = 0.5\n"
    "[layer.f]\ntype = flatten\n"
    "[layer.a]\ntype = dense\nunits = 24\nactivation = relu\ninputs = f\n"
    "[layer.b]\ntype = dense\nunits = 16\nactivation = tanh\ninputs = f\n"
    "[layer.cat]\ntype = concat\ninputs = a, b\n"
    "[layer.out]\ntype = dense\nunits = 10\n"
    "[layer.sm]\ntype = softmax\n";

Test(cuda_gpu, concat_softmax_and_nll_train_on_cuda_as_on_the_cpu)
{
    write_file("head.ini", head_model);
    compare(path_in("head.ini"), "--set data.limit=2000 --set data.test_limit=1000", 20, 1e-3,
            1.0);
}

Test(cuda_gpu, graphs_are_replayed_and_change_no_bit_of_the_run)
{
    const char *mlp = src("examples/fashion_mnist_mlp.ini"),
               *lim = "--set train.epochs=1 --set data.limit=8192 --set data.test_limit=1000";
    setenv("NNTRAIN_CUDA_GRAPHS", "0", 1);
    char *off = train(mlp, "off", "cuda", "graphs off", lim);
    unsetenv("NNTRAIN_CUDA_GRAPHS");
    char *on = train(mlp, "on", "cuda", "graphs on", lim);
    cr_assert(strstr(off, "graphs off"), "%s", off);
    cr_assert_gt(device_count_of(on, " replays"), 40, "the steps were not replayed: %s", on);
    char a[2048][40], b[2048][40];
    int na = step_losses("off", a, 2048), nb = step_losses("on", b, 2048);
    cr_assert_eq(na, nb);
    cr_assert_eq(na, 64);
    for (int i = 0; i < na; i++)
        cr_assert_str_eq(a[i], b[i], "step %d: eager %s, graphs %s", i, a[i], b[i]);
    cr_assert_eq(test_accuracy(off), test_accuracy(on));
    free(off);
    free(on);
}

Test(cuda_gpu, the_steady_state_calls_cudamalloc_no_more)
{
    const char *mlp = src("examples/fashion_mnist_mlp.ini"),
               *lim = "--set data.limit=4096 --set data.test_limit=1000 --set data.val_split=0.1";
    char o1[400], o3[400];
    snprintf(o1, sizeof o1, "--set train.epochs=1 %s", lim);
    snprintf(o3, sizeof o3, "--set train.epochs=3 %s", lim);
    char *one = train(mlp, "e1", "cuda", "", o1), *three = train(mlp, "e3", "cuda", "", o3);
    long long m1 = device_count_of(one, " cudaMalloc calls"),
              m3 = device_count_of(three, " cudaMalloc calls");
    cr_assert_gt(m1, 0);
    cr_assert_eq(m1, m3, "3 epochs called cudaMalloc %lld times, 1 epoch %lld", m3, m1);
    free(one);
    free(three);
}

Test(cuda_gpu, a_run_synchronised_after_every_call_is_clean)
{
    setenv("NNTRAIN_CUDA_DEBUG", "1", 1);
    free(train(src("examples/fashion_mnist_cnn.ini"), "dbg", "cuda", "debug",
               "--set train.epochs=1 --set data.limit=512 --set data.test_limit=256"));
    unsetenv("NNTRAIN_CUDA_DEBUG");
}
