/* bench_allreduce.c: the time of one in-place F32 sum over every process through the
 * communicator plugin, as training's gradient buckets use it, for sizes from 4 KiB to 64 MiB:
 * the latency and bandwidth that docs/distributed.md's cost of a step comes from. Run under
 * a launcher, e.g.
 *   mpirun -np 2 -x NNTRAIN_PLUGIN_PATH build/bench/bench_allreduce [REPEATS]
 * Rank 0 prints median and minimum per size and the bus bandwidth (2 (N-1)/N bytes per
 * process, what a ring allreduce moves). A benchmark, not a test. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"
#include "bench_util.h"
#include "registry.h"

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (reps < 3)
        reps = 3;
    nn_registry *reg = nn_registry_new(NULL);
    nn_error err = {0};
    const char *path = getenv("NNTRAIN_PLUGIN_PATH");
    if (!reg || nn_registry_scan(reg, NULL, 0, NULL, &err)) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        return 1;
    }
    nn_dist *d = NULL;
    nn_dist_opts o = {.name = "mpi"};
    if (nn_dist_open(reg, &o, &d, &err)) {
        fprintf(stderr, "bench_allreduce: %s (NNTRAIN_PLUGIN_PATH=%s)\n", err.msg,
                path ? path : "");
        return 1;
    }
    int n = nn_dist_size(d), rank = nn_dist_rank(d);
    size_t max = (size_t)64 << 20;
    float *buf = malloc(max);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!buf || !t)
        return 1;
    memset(buf, 0, max);
    if (rank == 0) {
        char where[300];
        nn_dist_describe(d, where, sizeof where);
        printf("allreduce (sum, F32, in place) over %s, %d repeats\n", where, reps);
        printf("%12s %12s %12s %14s\n", "bytes", "median_ms", "min_ms", "bus_GB/s");
    }
    for (size_t bytes = 4096; bytes <= max; bytes *= 4) {
        for (int r = -2; r < reps; r++) { /* two warm-up rounds */
            double t0 = bench_now();
            if (nn_dist_allreduce(d, buf, (int64_t)(bytes / 4), NN_F32, NN_REDUCE_SUM,
                                  "bench", &err)) {
                fprintf(stderr, "bench_allreduce: %s\n", err.msg);
                nn_dist_fail(d, 1, err.msg);
            }
            if (r >= 0)
                t[r] = bench_now() - t0;
        }
        /* the slowest process's time is the collective's */
        if (nn_dist_allreduce(d, t, reps, NN_F64, NN_REDUCE_MAX, "bench", &err))
            nn_dist_fail(d, 1, err.msg);
        qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
        double med = t[reps / 2];
        if (rank == 0)
            printf("%12zu %12.3f %12.3f %14.2f\n", bytes, 1e3 * med, 1e3 * t[0],
                   n > 1 ? 2.0 * (n - 1) / n * (double)bytes / med / 1e9 : 0.0);
    }
    free(buf);
    free(t);
    nn_dist_close(d);
    nn_registry_free(reg);
    return 0;
}
