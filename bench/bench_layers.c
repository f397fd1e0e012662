/* bench_layers.c: forward+backward time per batch of the stock oneDNN layers, driven through
 * the registry exactly as the graph drives them (setup, allocate, bind once, then steps):
 * dense 784->256 and conv5x5(1->32, pad 2, relu)+maxpool2 at batch 128. Prints medians.
 * A benchmark, not a test: it never fails on a slow machine, only on a broken plugin. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "bench_util.h"
#include "instance.h"
#include "nntrain/nntrain.h"
#include "registry.h"

typedef struct layer {
    nn_instance inst;
    const nn_layer_vtable *vt;
    nn_layer_setup setup;
    nn_layer_io io;
    nn_tensor *owned[64];
    int n_owned;
} layer;

static nn_tensor *own(layer *l, nn_tensor *t)
{
    if (!t || l->n_owned >= 64) {
        fprintf(stderr, "bench_layers: out of memory\n");
        exit(1);
    }
    return l->owned[l->n_owned++] = t;
}

static void fill(nn_tensor *t, uint64_t seed, double scale)
{
    nn_rng r;
    nn_rng_init(&r, seed, 0, 0, 0);
    float *p = NN_F32P(t);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        p[i] = (float)((2 * nn_rng_uniform(&r) - 1) * scale);
}

/* Opens plugin `name` on input x (borrowed). grad_x may be NULL (a first layer). */
static void layer_open(layer *l, const nn_registry *reg, const char *name, const nn_kv *kv, int nkv,
                       const nn_tensor *x, nn_tensor *grad_x)
{
    nn_error err = {0};
    const nn_plugin_entry *e = nn_registry_find(reg, NN_KIND_LAYER, name, NULL, &err);
    if (!e || nn_instance_create(&l->inst, e->desc, kv, nkv, name, &err)) {
        fprintf(stderr, "bench_layers: %s: %s\n", name, err.msg);
        exit(1);
    }
    l->vt = l->inst.vt;
    l->setup.struct_size = sizeof l->setup;
    l->setup.layer_name = name;
    l->setup.training = 1;
    l->setup.n_inputs = 1;
    l->setup.inputs[0] = x;
    if (l->vt->setup(l->inst.self, &l->setup, &err)) {
        fprintf(stderr, "bench_layers: %s setup: %s\n", name, err.msg);
        exit(1);
    }
    nn_layer_io *io = &l->io;
    io->struct_size = sizeof *io;
    io->training = 1;
    io->n_inputs = 1;
    io->inputs[0] = x;
    io->grad_inputs[0] = grad_x;
    const nn_tensor *o = &l->setup.output;
    io->output = own(l, nn_tensor_new(NN_F32, o->dl.ndim, o->shape));
    io->grad_output = own(l, nn_tensor_new(NN_F32, o->dl.ndim, o->shape));
    fill((nn_tensor *)io->grad_output, 7, 1e-2);
    for (int i = 0; i < l->setup.n_params; i++) {
        const nn_param_decl *d = &l->setup.params[i];
        io->params[i] = own(l, nn_tensor_new(NN_F32, d->ndim, d->shape));
        fill(io->params[i], 11 + (uint64_t)i, 1 / sqrt((double)(d->fan_in > 0 ? d->fan_in : 1)));
        io->param_grads[i] = own(l, nn_tensor_new(NN_F32, d->ndim, d->shape));
    }
    for (int i = 0; i < l->setup.n_buffers; i++) {
        const nn_buffer_decl *d = &l->setup.buffers[i];
        io->buffers[i] = own(l, nn_tensor_new(d->dtype, d->ndim, d->shape));
    }
    if (l->vt->bind && l->vt->bind(l->inst.self, io, &err)) {
        fprintf(stderr, "bench_layers: %s bind: %s\n", name, err.msg);
        exit(1);
    }
}

static void layer_close(layer *l)
{
    nn_instance_destroy(&l->inst);
    for (int i = 0; i < l->n_owned; i++)
        nn_tensor_free(l->owned[i]);
}

static void step(layer *l, int fwd)
{
    nn_error err = {0};
    int rc = fwd ? l->vt->forward(l->inst.self, &l->io, &err)
                 : l->vt->backward(l->inst.self, &l->io, &err);
    if (rc) {
        fprintf(stderr, "bench_layers: %s: %s\n", l->setup.layer_name, err.msg);
        exit(1);
    }
}

/* runs a chain of layers forward then backward (in reverse) `runs` times after `warmup`;
 * prints median, min and max per batch, and GFLOP/s of fwd+bwd at the median (backward counted
 * as 2x forward with an input gradient, 1x without: weights only) */
static void bench(const char *label, layer *chain, int n, int warmup, int runs)
{
    double *t = malloc(sizeof *t * (size_t)runs);
    if (!t)
        exit(1);
    uint64_t flops = 0;
    for (int i = 0; i < n; i++)
        flops += chain[i].setup.flops * (chain[i].io.grad_inputs[0] ? 3u : 2u);
    for (int r = -warmup; r < runs; r++) {
        double t0 = 1e3 * bench_now();
        for (int i = 0; i < n; i++)
            step(&chain[i], 1);
        for (int i = n - 1; i >= 0; i--)
            step(&chain[i], 0);
        if (r >= 0)
            t[r] = 1e3 * bench_now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, bench_cmp_double);
    double med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
    printf("%-46s median %8.3f ms  min %8.3f  max %8.3f  %6.1f GFLOP/s\n", label, med, t[0],
           t[runs - 1], (double)flops / (med * 1e6));
    free(t);
}

int main(int argc, char **argv)
{
    int threads = 2, runs = 51, warmup = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_layers [--threads N] [--runs N] [--warmup N]\n"
                            "  plugins come from NNTRAIN_PLUGIN_PATH (meson devenv sets it)\n");
            return 2;
        }
    }
    if (threads < 1 || runs < 1 || warmup < 0) {
        fprintf(stderr, "bench_layers: --threads and --runs must be >= 1\n");
        return 2;
    }
    /* oneDNN's OpenMP reads these once, when libdnnl is loaded by the first plugin; passive
     * waiting keeps a shared machine from collapsing (TOOLCHAIN.md) */
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    setenv("OMP_NUM_THREADS", nt, 1);
    setenv("OMP_WAIT_POLICY", "passive", 0);

    nn_error err = {0};
    nn_registry *reg = nn_registry_new(NULL);
    if (!reg || nn_registry_scan(reg, NULL, 0, NULL, &err)) {
        fprintf(stderr, "bench_layers: %s\n", err.msg);
        return 1;
    }
    printf("bench_layers: batch 128, %d threads (OMP_WAIT_POLICY=%s), %d warm-up + %d timed "
           "steps, forward+backward per batch\n",
           threads, getenv("OMP_WAIT_POLICY"), warmup, runs);

    /* dense 784 -> 256 (+ fused relu): as the MLP's first layer (no dx) and as a hidden one */
    int64_t xs[2] = {128, 784};
    nn_tensor *x = nn_tensor_new(NN_F32, 2, xs), *dx = nn_tensor_new(NN_F32, 2, xs);
    if (!x || !dx)
        return 1;
    fill(x, 1, 1.0);
    nn_kv dkv[] = {{"units", "256", NULL, 0}, {"activation", "relu", NULL, 0}};
    for (int with_dx = 0; with_dx < 2; with_dx++) {
        layer d;
        memset(&d, 0, sizeof d);
        layer_open(&d, reg, "dense", dkv, 2, x, with_dx ? dx : NULL);
        bench(with_dx ? "dense 784->256 relu, with dx" : "dense 784->256 relu, first layer (no dx)",
              &d, 1, warmup, runs);
        layer_close(&d);
    }
    nn_tensor_free(x);
    nn_tensor_free(dx);

    /* conv 5x5 1->32 pad 2 (+ fused relu) on 28x28, then maxpool 2: the CNN's first block */
    int64_t is[4] = {128, 1, 28, 28};
    nn_tensor *img = nn_tensor_new(NN_F32, 4, is);
    if (!img)
        return 1;
    fill(img, 2, 1.0);
    nn_kv ckv[] = {{"filters", "32", NULL, 0}, {"kernel", "5", NULL, 0},
                   {"padding", "2", NULL, 0}, {"activation", "relu", NULL, 0}};
    nn_kv pkv[] = {{"kernel", "2", NULL, 0}};
    layer cp[2];
    memset(cp, 0, sizeof cp);
    layer_open(&cp[0], reg, "conv2d", ckv, 4, img, NULL);
    /* the pool's dx is the conv's dy */
    layer_open(&cp[1], reg, "maxpool2d", pkv, 1, cp[0].io.output,
               (nn_tensor *)cp[0].io.grad_output);
    bench("conv5x5 1->32 relu + maxpool2 (no dx)", cp, 2, warmup, runs);
    bench("  conv5x5 1->32 relu alone", cp, 1, warmup, runs);
    bench("  maxpool2 alone (with dx)", cp + 1, 1, warmup, runs);
    layer_close(&cp[1]);
    layer_close(&cp[0]);
    nn_tensor_free(img);
    nn_registry_free(reg);
    return 0;
}
