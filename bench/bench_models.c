/* bench_models.c: forward+backward time per batch of whole models from model files (the
 * examples' MLP and CNN by default), through the graph as training runs them. Prints the
 * median and minimum over timed steps after a warm-up. A benchmark: it never fails on a slow
 * machine. Usage: bench_models [--threads N] [--batch B] [--steps S] MODEL.ini... */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "graph.h"
#include "bench_util.h"
#include "registry.h"

static int bench(nn_registry *reg, const char *path, int64_t batch, int steps)
{
    nn_config *cfg;
    nn_error err = {0};
    if (nn_config_load(path, &cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    nn_model *m = nn_model_new(reg, NULL);
    nn_plan *p;
    int64_t shape[3] = {1, 28, 28}; /* the Fashion-MNIST examples */
    if (nn_model_from_config(m, cfg, &err) ||
        nn_model_plan(m, 3, shape, NN_F32, batch, 1, 1, &p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        nn_model_free(m);
        nn_config_free(cfg);
        return 1;
    }
    nn_rng r;
    nn_rng_init(&r, 1, 0, 0, 0);
    nn_tensor *in = nn_plan_input(p), *g = nn_plan_grad_output(p);
    for (int64_t i = 0; i < nn_tensor_numel(in); i++)
        NN_F32P(in)[i] = (float)nn_rng_uniform(&r);
    for (int64_t i = 0; i < nn_tensor_numel(g); i++)
        NN_F32P(g)[i] = (float)(nn_rng_uniform(&r) - 0.5) / (float)batch;
    double *t = calloc((size_t)steps, sizeof *t);
    for (int s = -10; s < steps; s++) { /* 10 warm-up steps: JIT and first touches */
        double t0 = bench_now();
        if (nn_plan_forward(p, 1, &err) || nn_plan_backward(p, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            break;
        }
        if (s >= 0)
            t[s] = bench_now() - t0;
    }
    qsort(t, (size_t)steps, sizeof *t, bench_cmp_double);
    printf("%-40s batch %lld: forward+backward median %.3f ms, min %.3f ms "
           "(%.0f samples/s at the median)\n", path, (long long)batch, 1e3 * t[steps / 2],
           1e3 * t[0], (double)batch / t[steps / 2]);
    free(t);
    nn_model_free(m);
    nn_config_free(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t batch = 128;
    int steps = 101, rc = 0, n = 0;
    const char *models[16];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            setenv("OMP_NUM_THREADS", argv[++i], 1);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoll(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (n < 16)
            models[n++] = argv[i];
    }
    if (steps < 1 || batch < 1)
        return 2;
    setenv("OMP_WAIT_POLICY", "passive", 0);
    if (n == 0) {
        models[n++] = NNBENCH_SOURCE_ROOT "/examples/fashion_mnist_mlp.ini";
        models[n++] = NNBENCH_SOURCE_ROOT "/examples/fashion_mnist_cnn.ini";
    }
    nn_registry *reg = nn_registry_new(NULL);
    nn_error err = {0};
    nn_registry_scan(reg, NULL, 0, NULL, &err);
    printf("OMP_NUM_THREADS=%s\n", getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(all)");
    for (int i = 0; i < n; i++)
        rc |= bench(reg, models[i], batch, steps);
    nn_registry_free(reg);
    return rc;
}
