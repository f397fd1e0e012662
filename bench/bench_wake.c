/* bench_wake.c: what waking the OpenMP pool costs a parallel region after a stretch of work
 * on one thread. Times oneDNN's sgemm on the MLP's first layer (128x784 by 784x256, the
 * forward) right after GAP microseconds of busy work on the calling thread, at 1 and 2
 * threads (set OMP_WAIT_POLICY as the run should have it; nntrain's CLI uses passive).
 *   OMP_WAIT_POLICY=passive build/bench/bench_wake [CALLS]
 * On the 2-core KVM guest of bench/RESULTS.md two threads took 0.41-0.49 ms after gaps of
 * 0-100 us and 0.84 ms after 2 ms, where one thread took 0.76-0.96 ms. A benchmark, not a
 * test. */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

static volatile double sink;

/* busy work on this thread alone for us microseconds */
static void busy(double us)
{
    double t0 = bench_now(), s = 0;
    while ((bench_now() - t0) * 1e6 < us)
        s += 1;
    sink = s;
}

int main(int argc, char **argv)
{
    const int B = 128, I = 784, O = 256, warm = 10;
    int calls = argc > 1 ? atoi(argv[1]) : 300;
    if (calls < 1) {
        fprintf(stderr, "usage: bench_wake [CALLS]\n");
        return 2;
    }
    float *x = malloc(sizeof(float) * (size_t)(B * I));
    float *w = malloc(sizeof(float) * (size_t)(O * I));
    float *y = malloc(sizeof(float) * (size_t)(B * O));
    if (!x || !w || !y)
        return 1;
    for (int i = 0; i < B * I; i++)
        x[i] = (float)(i % 97) / 97.0f;
    for (int i = 0; i < O * I; i++)
        w[i] = (float)(i % 89) / 89.0f - 0.5f;
    const char *policy = getenv("OMP_WAIT_POLICY");
    printf("bench_wake: sgemm 128x784 by 784x256 (51.4 MFLOP) after a gap of one-thread work, "
           "mean of %d calls; OMP_WAIT_POLICY=%s\n", calls, policy ? policy : "(unset)");
    static const double gaps[] = {0, 20, 100, 500, 2000};
    printf("%8s", "gap us");
    for (int nt = 1; nt <= 2; nt++)
        printf("  %d thread%s ms", nt, nt > 1 ? "s" : " ");
    printf("\n");
    for (size_t gi = 0; gi < sizeof gaps / sizeof *gaps; gi++) {
        printf("%8.0f", gaps[gi]);
        for (int nt = 1; nt <= 2; nt++) {
            omp_set_num_threads(nt);
            double total = 0;
            for (int r = 0; r < calls + warm; r++) {
                busy(gaps[gi]);
                double t0 = bench_now();
                if (dnnl_sgemm('N', 'T', B, O, I, 1.0f, x, I, w, I, 0.0f, y, O) != dnnl_success) {
                    fprintf(stderr, "bench_wake: dnnl_sgemm failed\n");
                    return 1;
                }
                if (r >= warm)
                    total += bench_now() - t0;
            }
            printf("  %12.3f", total / calls * 1e3);
        }
        printf("\n");
    }
    free(x);
    free(w);
    free(y);
    return 0;
}
