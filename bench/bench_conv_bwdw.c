/* bench_conv_bwdw.c: one convolution's passes alone, on the channel-blocked layout (nChw8c)
 * that the stock conv2d keeps between layers: oneDNN's forward, data gradient and weight
 * gradient, and libnn_dnnl's own weight gradient (nn_conv_bwdw_nchwc.c), which the layer
 * picks in their place where it applies. Prints, per pass, the median and the fastest of the
 * timed runs and GFLOP/s counting only the taps that fall inside the image (both kernels skip
 * the padding). Default shape: the Fashion-MNIST CNN's second layer.
 *   OMP_NUM_THREADS=1 build/bench/bench_conv_bwdw [N IC OC H K PAD [RUNS]]
 * A benchmark, not a test: it fails only when oneDNN refuses the shape or when the two
 * weight gradients disagree. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nn_conv_bwdw_nchwc.h"

#define TRY(x) BENCH_TRY("bench_conv_bwdw", x)

/* output positions times taps that land inside the input, along one dimension */
static double inside(long n, long k, long pad)
{
    double s = 0;
    for (long o = 0; o < n + 2 * pad - k + 1; o++)
        for (long t = 0; t < k; t++)
            s += o - pad + t >= 0 && o - pad + t < n;
    return s;
}

typedef struct pass {
    const char *name;
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[4];
} pass;

int main(int argc, char **argv)
{
    long N = 128, IC = 32, OC = 64, H = 14, K = 5, P = 2;
    int runs = 20;
    if (argc >= 7) {
        N = atol(argv[1]), IC = atol(argv[2]), OC = atol(argv[3]);
        H = atol(argv[4]), K = atol(argv[5]), P = atol(argv[6]);
    }
    if (argc >= 8)
        runs = atoi(argv[7]);
    long OH = H + 2 * P - K + 1;
    if (N < 1 || IC < 1 || OC < 1 || H < 1 || K < 1 || P < 0 || OH < 1 || runs < 1) {
        fprintf(stderr, "usage: bench_conv_bwdw [N IC OC H K PAD [RUNS]]\n");
        return 2;
    }
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    TRY(dnnl_engine_create(&eng, dnnl_cpu, 0));
    TRY(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_dims_t sd = {N, IC, H, H}, wd = {OC, IC, K, K}, bd = {OC}, dd = {N, OC, OH, OH};
    dnnl_dims_t stride = {1, 1}, pad = {P, P};
    TRY(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nChw8c));
    TRY(dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_x));
    TRY(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nChw8c));
    dnnl_convolution_desc_t fd, bdd, bwd;
    dnnl_primitive_desc_t fpd, dpd, wpd;
    TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                           &src, &wei, &bia, &dst, stride, pad, pad));
    TRY(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    TRY(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &src, &wei, &dst,
                                                 stride, pad, pad));
    TRY(dnnl_primitive_desc_create(&dpd, &bdd, NULL, eng, fpd));
    TRY(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &src, &wei,
                                                    &bia, &dst, stride, pad, pad));
    TRY(dnnl_primitive_desc_create(&wpd, &bwd, NULL, eng, fpd));
    const char *impl = "?";
    TRY(dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl));

    dnnl_memory_t m_x, m_w, m_wd, m_b, m_y, m_dy, m_dx, m_dw, m_db;
    TRY(dnnl_memory_create(&m_x, &src, eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_w, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0),
                           eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_wd, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0),
                           eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_b, &bia, eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_y, &dst, eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_dy, &dst, eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_dx, &src, eng, DNNL_MEMORY_ALLOCATE));
    const char *wimpl = "?";
    TRY(dnnl_primitive_desc_query(wpd, dnnl_query_impl_info_str, 0, &wimpl));
    TRY(dnnl_memory_create(&m_dw, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0),
                           eng, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_memory_create(&m_db, &bia, eng, DNNL_MEMORY_ALLOCATE));

    float *x, *dy;
    TRY(dnnl_memory_get_data_handle(m_x, (void **)&x));
    TRY(dnnl_memory_get_data_handle(m_dy, (void **)&dy));
    /* blocked buffers hold IC, OC rounded up to 8: fill them whole, padded lanes included */
    size_t nx = dnnl_memory_desc_get_size(&src) / sizeof(float);
    size_t ny = dnnl_memory_desc_get_size(&dst) / sizeof(float);
    unsigned seed = 1;
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(rand_r(&seed) % 1000) / 1000.0f;
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)(rand_r(&seed) % 1000) / 1000.0f - 0.5f;

    pass ps[3] = {{"oneDNN forward", NULL, 4,
                   {{DNNL_ARG_SRC, m_x}, {DNNL_ARG_WEIGHTS, m_w}, {DNNL_ARG_BIAS, m_b},
                    {DNNL_ARG_DST, m_y}}},
                  {"oneDNN data gradient", NULL, 3,
                   {{DNNL_ARG_DIFF_DST, m_dy}, {DNNL_ARG_WEIGHTS, m_wd},
                    {DNNL_ARG_DIFF_SRC, m_dx}}},
                  {"oneDNN weight gradient", NULL, 4,
                   {{DNNL_ARG_SRC, m_x}, {DNNL_ARG_DIFF_DST, m_dy}, {DNNL_ARG_DIFF_WEIGHTS, m_dw},
                    {DNNL_ARG_DIFF_BIAS, m_db}}}};
    TRY(dnnl_primitive_create(&ps[0].prim, fpd));
    TRY(dnnl_primitive_create(&ps[1].prim, dpd));
    TRY(dnnl_primitive_create(&ps[2].prim, wpd));

    nn_conv_bwdw_geom g = {.n = N, .ic = IC, .ih = H, .iw = H, .oc = OC, .oh = OH, .ow = OH,
                           .kh = K, .kw = K, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = P,
                           .pw = P, .lanes = 8};
    int own = nn_conv_bwdw_nchwc_fits(&g);
    float *dw = malloc(sizeof(float) * (size_t)(OC * IC * K * K));
    float *db = malloc(sizeof(float) * (size_t)OC);
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!dw || !db || !t)
        return 1;
    double flop = 2.0 * (double)N * (double)IC * (double)OC * inside(H, K, P) * inside(H, K, P);
    printf("bench_conv_bwdw: %ldx%ldx%ldx%ld -> %ld, %ldx%ld window, pad %ld, nChw8c; oneDNN "
           "forward %s, weight gradient %s; %.3f GFLOP a pass (taps inside the image); %d runs "
           "after 2 warm-up\n",
           N, IC, H, H, OC, K, K, P, impl, wimpl, flop * 1e-9, runs);
    for (int k = 0; k < 4; k++) {
        if (k == 3 && !own) {
            printf("%-24s not run: this CPU or shape is not for it\n", "own weight gradient");
            continue;
        }
        for (int r = -2; r < runs; r++) {
            double t0 = bench_now();
            if (k < 3) {
                TRY(dnnl_primitive_execute(ps[k].prim, stream, ps[k].nargs, ps[k].args));
                TRY(dnnl_stream_wait(stream));
            } else {
                nn_conv_bwdw_nchwc(&g, x, dy, dw, db);
            }
            if (r >= 0)
                t[r] = bench_now() - t0;
        }
        qsort(t, (size_t)runs, sizeof *t, bench_cmp_double);
        double med = t[runs / 2];
        printf("%-24s median %8.2f ms  fastest %8.2f ms  %6.1f GFLOP/s (median)\n",
               k < 3 ? ps[k].name : "own weight gradient", med * 1e3, t[0] * 1e3,
               flop / med * 1e-9);
    }
    if (own) { /* the two weight gradients agree: oneDNN's, reordered to oihw as ours is */
        dnnl_memory_desc_t w_plain;
        TRY(dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_oihw));
        dnnl_memory_t m_dwp;
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t rp;
        TRY(dnnl_memory_create(&m_dwp, &w_plain, eng, DNNL_MEMORY_ALLOCATE));
        TRY(dnnl_reorder_primitive_desc_create(
            &rpd, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), eng,
            &w_plain, eng, NULL));
        TRY(dnnl_primitive_create(&rp, rpd));
        dnnl_exec_arg_t ra[] = {{DNNL_ARG_FROM, m_dw}, {DNNL_ARG_TO, m_dwp}};
        TRY(dnnl_primitive_execute(rp, stream, 2, ra));
        TRY(dnnl_stream_wait(stream));
        const float *ref;
        TRY(dnnl_memory_get_data_handle(m_dwp, (void **)&ref));
        double worst = 0;
        for (long i = 0; i < OC * IC * K * K; i++)
            worst = fmax(worst, fabs((double)dw[i] - ref[i]) / (1.0 + fabs((double)ref[i])));
        if (worst > 1e-3) {
            fprintf(stderr, "bench_conv_bwdw: the two weight gradients differ by %g\n", worst);
            return 1;
        }
        printf("weight gradients agree to %.1e (relative)\n", worst);
        dnnl_primitive_destroy(rp);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(m_dwp);
    }
    return 0;
}
