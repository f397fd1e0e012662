/* sim_gemm.c: the one matrix product behind dense and conv2d on the sim device: blocked for
 * the caches (KC x NC panels of B, MC x KC blocks of A, packed once per block) around a 6x16
 * register tile written with GCC vector types, so it vectorises on every x86-64 level the
 * compiler clones it for. It never allocates: the packing scratch belongs to the device. */
#include <string.h>

#include "sim.h"

#if defined(__GNUC__) && !defined(__clang__)
/* a multiply-add per tap, as BLAS does; only this file (the optimizers must round like the
 * CPU plugins, which are built without contraction) */
#pragma GCC optimize("fp-contract=fast")
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SIM_CLONES
#endif

#define MR 6
#define NR 16
#define MC SIM_GEMM_MC
#define KC SIM_GEMM_KC
#define NC SIM_GEMM_NC

/* 8 lanes: one AVX register; GCC splits it for SSE and keeps it whole for AVX-512, while a
 * 16-lane type is lowered through the stack on AVX2 (measured: 10x slower) */
typedef float v8 __attribute__((vector_size(8 * sizeof(float))));

/* c[mr, nr] (=|+=) a_panel[kc, MR]^T b_panel[kc, NR] */
SIM_CLONES
static void tile(int64_t kc, const float *restrict a, const float *restrict b, float *restrict c,
                 int64_t ldc, int mr, int nr, int add)
{
    v8 acc[MR][2];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        v8 b0, b1;
        memcpy(&b0, b + k * NR, sizeof b0);
        memcpy(&b1, b + k * NR + 8, sizeof b1);
        for (int i = 0; i < MR; i++) {
            float ai = a[k * MR + i];
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
    }
    for (int i = 0; i < mr; i++) {
        float row[NR];
        memcpy(row, acc[i], sizeof row);
        float *ci = c + i * ldc;
        if (add)
            for (int j = 0; j < nr; j++)
                ci[j] += row[j];
        else
            for (int j = 0; j < nr; j++)
                ci[j] = row[j];
    }
}

/* op(A)[i0 .. i0+mc, k0 .. k0+kc] into MR-row panels, k-major, zero-padded */
static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                   int64_t kc, float *dst)
{
    for (int64_t ib = 0; ib < mc; ib += MR, dst += kc * MR) {
        int64_t m = mc - ib < MR ? mc - ib : MR;
        if (m < MR)
            memset(dst, 0, sizeof *dst * (size_t)(kc * MR));
        if (ta) {
            for (int64_t k = 0; k < kc; k++)
                memcpy(dst + k * MR, A + (k0 + k) * lda + i0 + ib, sizeof *dst * (size_t)m);
        } else {
            for (int64_t i = 0; i < m; i++) {
                const float *row = A + (i0 + ib + i) * lda + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * MR + i] = row[k];
            }
        }
    }
}

/* op(B)[k0 .. k0+kc, j0 .. j0+nc] into NR-column panels, k-major, zero-padded */
static void pack_b(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                   int64_t nc, float *dst)
{
    for (int64_t jb = 0; jb < nc; jb += NR, dst += kc * NR) {
        int64_t n = nc - jb < NR ? nc - jb : NR;
        if (n < NR)
            memset(dst, 0, sizeof *dst * (size_t)(kc * NR));
        if (!tb) {
            for (int64_t k = 0; k < kc; k++)
                memcpy(dst + k * NR, B + (k0 + k) * ldb + j0 + jb, sizeof *dst * (size_t)n);
        } else {
            for (int64_t j = 0; j < n; j++) {
                const float *col = B + (j0 + jb + j) * ldb + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * NR + j] = col[k];
            }
        }
    }
}

void sim_gemm(sim_dev *d, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
              int64_t lda, const float *B, int64_t ldb, int accumulate, float *C, int64_t ldc)
{
    if (K == 0) {
        for (int64_t i = 0; i < M && !accumulate; i++)
            memset(C + i * ldc, 0, sizeof *C * (size_t)N);
        return;
    }
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(tb, B, ldb, k0, kc, j0, nc, d->pack_b);
            int add = accumulate || k0 > 0;
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(ta, A, lda, i0, mc, k0, kc, d->pack_a);
                for (int64_t jb = 0; jb < nc; jb += NR)
                    for (int64_t ib = 0; ib < mc; ib += MR)
                        tile(kc, d->pack_a + ib * kc, d->pack_b + jb * kc,
                             C + (i0 + ib) * ldc + j0 + jb, ldc,
                             (int)(mc - ib < MR ? mc - ib : MR),
                             (int)(nc - jb < NR ? nc - jb : NR), add);
            }
        }
    }
}
