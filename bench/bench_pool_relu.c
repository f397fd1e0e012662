/* bench_pool_relu.c: the backward of a ReLU followed by a 2x2 max pool on nChw8c, as the stock
 * layers ran it before ABI 0.8 (libnn_dnnl's pooling backward, then oneDNN's ReLU backward in
 * place on its result) and as they run it now (the pooling backward applying the ReLU's
 * derivative itself, NN_LAYOUT_RELU). Prints the median and fastest of the timed runs of each
 * (interleaved) and fails if the two gradients differ. Default shape: the Fashion-MNIST CNN's
 * first pool; its second is 64 14.
 *   OMP_NUM_THREADS=1 build/bench/bench_pool_relu [C H [RUNS]]
 * A benchmark, not a test. */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nn_maxpool_blk.h"

#define TRY(x) BENCH_TRY("bench_pool_relu", x)

int main(int argc, char **argv)
{
    const long N = 128, C = argc > 1 ? atol(argv[1]) : 32, H = argc > 2 ? atol(argv[2]) : 28;
    const int runs = argc > 3 ? atoi(argv[3]) : 31;
    if (C < 8 || C % 8 || H < 2 || H % 2 || runs < 1) {
        fprintf(stderr, "usage: bench_pool_relu [C H [RUNS]]: C a multiple of 8, H even\n");
        return 2;
    }
    nn_maxpool_geom g = {.planes = N * C / 8, .ih = H, .iw = H, .oh = H / 2, .ow = H / 2,
                         .kh = 2, .kw = 2, .sh = 2, .sw = 2, .lanes = 8};
    size_t nx = (size_t)(N * C * H * H), ny = nx / 4;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    float *dx = malloc(nx * sizeof *dx), *fused = malloc(nx * sizeof *fused);
    double *t_two = malloc((size_t)runs * sizeof *t_two);
    double *t_one = malloc((size_t)runs * sizeof *t_one);
    if (!x || !dy || !dx || !fused || !t_two || !t_one) {
        fprintf(stderr, "bench_pool_relu: out of memory\n");
        return 1;
    }
    /* a ReLU's output: about half zeros, so that many windows hold no positive value */
    srand(1);
    for (size_t i = 0; i < nx; i++) {
        float v = (float)rand() / (float)RAND_MAX - 0.55f;
        x[i] = v > 0 ? v : 0.0f;
    }
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)rand() / (float)RAND_MAX - 0.5f;

    dnnl_engine_t eng;
    dnnl_stream_t stream;
    TRY(dnnl_engine_create(&eng, dnnl_cpu, 0));
    TRY(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {N, C, H, H};
    TRY(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, dnnl_nChw8c));
    dnnl_eltwise_desc_t fd, bd;
    dnnl_primitive_desc_t fpd, bpd;
    TRY(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training,
                                       dnnl_eltwise_relu_use_dst_for_bwd, &md, 0.f, 0.f));
    TRY(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    TRY(dnnl_eltwise_backward_desc_init(&bd, dnnl_eltwise_relu_use_dst_for_bwd, &md, &md, 0.f,
                                        0.f));
    TRY(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
    dnnl_primitive_t relu_bwd;
    TRY(dnnl_primitive_create(&relu_bwd, bpd));
    dnnl_memory_t m_y, m_d;
    TRY(dnnl_memory_create(&m_y, &md, eng, x));
    TRY(dnnl_memory_create(&m_d, &md, eng, dx));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_DST, m_y}, {DNNL_ARG_DIFF_DST, m_d},
                               {DNNL_ARG_DIFF_SRC, m_d}};
    const char *impl = "?";
    dnnl_primitive_desc_query(bpd, dnnl_query_impl_info_str, 0, &impl);

    for (int r = -2; r < runs; r++) { /* two warm-up runs of each */
        double t = bench_now();
        nn_maxpool_blk_backward(&g, x, dy, dx, 0);
        TRY(dnnl_primitive_execute(relu_bwd, stream, 3, args));
        TRY(dnnl_stream_wait(stream));
        double t1 = bench_now();
        nn_maxpool_blk_backward(&g, x, dy, fused, 1);
        double t2 = bench_now();
        if (r >= 0) {
            t_two[r] = t1 - t;
            t_one[r] = t2 - t1;
        }
    }
    for (size_t i = 0; i < nx; i++)
        if (dx[i] != fused[i]) {
            fprintf(stderr, "bench_pool_relu: the gradients differ at %zu: %g against %g\n", i,
                    (double)fused[i], (double)dx[i]);
            return 1;
        }
    qsort(t_two, (size_t)runs, sizeof *t_two, bench_cmp_double);
    qsort(t_one, (size_t)runs, sizeof *t_one, bench_cmp_double);
    printf("bench_pool_relu: ReLU then 2x2 max pool, %ldx%ldx%ldx%ld nChw8c, backward; oneDNN "
           "ReLU backward %s; %d runs each, interleaved\n", N, C, H, H, impl, runs);
    printf("pool backward + ReLU backward   median %7.2f ms  fastest %7.2f ms\n",
           t_two[runs / 2] * 1e3, t_two[0] * 1e3);
    printf("pool backward applying the ReLU median %7.2f ms  fastest %7.2f ms\n",
           t_one[runs / 2] * 1e3, t_one[0] * 1e3);
    printf("the two gradients are identical\n");
    dnnl_primitive_destroy(relu_bwd);
    dnnl_primitive_desc_destroy(bpd);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_memory_destroy(m_y);
    dnnl_memory_destroy(m_d);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    free(x);
    free(dy);
    free(dx);
    free(fused);
    free(t_two);
    free(t_one);
    return 0;
}
