/* cu_gemm.c: cuBLASLt products for the CUDA pack (cu_gemm.h). cuBLASLt is column-major: a
 * row-major C[M, N] is its D[N, M], so C = op(A) op(B) is computed as D = op(B)' op(A)' with
 * the operands swapped; the bias of an epilogue then runs along D's rows, i.e. C's columns. */
#include <string.h>

#include "cu_gemm.h"

#define CU_LT_WORKSPACE ((size_t)32 << 20)
enum { CU_ALGO_LT = 1 };

typedef struct mm_call {
    cu_lt *lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    const void *A, *B;
    void *D, *ws;
    size_t ws_bytes;
    float alpha, beta;
} mm_call;

void cu_mm_free(cu_dev *d, cu_mm *mm)
{
    cu_lt *lt = d ? d->lt : NULL;
    if (lt) {
        if (mm->op)
            lt->cublasLtMatmulDescDestroy(mm->op);
        if (mm->a)
            lt->cublasLtMatrixLayoutDestroy(mm->a);
        if (mm->b)
            lt->cublasLtMatrixLayoutDestroy(mm->b);
        if (mm->c)
            lt->cublasLtMatrixLayoutDestroy(mm->c);
    }
    memset(mm, 0, sizeof *mm);
}

#define LT_TRY(lt, err, who, what, call)                                                 \
    do {                                                                                 \
        cublasStatus_t st_ = (call);                                                     \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                \
            return cu_lt_fail((lt), (err), st_, (who), (what));                          \
    } while (0)

int cu_mm_plan(cu_dev *d, cu_mm *mm, const char *who, int64_t M, int64_t N, int64_t K, int ta,
               int tb, int epilogue, void *bias, nn_error *err)
{
    cu_mm_free(d, mm);
    cu_lt *lt = cu_lt_get(d, err);
    if (!lt)
        return err ? err->status : NN_EDLOPEN;
    cublasComputeType_t ct = d->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtEpilogue_t epi = (cublasLtEpilogue_t)epilogue;
    LT_TRY(lt, err, who, "cublasLtMatmulDescCreate",
           lt->cublasLtMatmulDescCreate(&mm->op, ct, CUDA_R_32F));
    LT_TRY(lt, err, who, "setting TRANSA",
           lt->cublasLtMatmulDescSetAttribute(mm->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa,
                                              sizeof opa));
    LT_TRY(lt, err, who, "setting TRANSB",
           lt->cublasLtMatmulDescSetAttribute(mm->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb,
                                              sizeof opb));
    LT_TRY(lt, err, who, "setting the epilogue",
           lt->cublasLtMatmulDescSetAttribute(mm->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                              sizeof epi));
    if (epilogue != CUBLASLT_EPILOGUE_DEFAULT)
        LT_TRY(lt, err, who, "setting the bias pointer",
               lt->cublasLtMatmulDescSetAttribute(mm->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                  &bias, sizeof bias));
    /* cuBLASLt's A is our B: [N, K] as it reads it (stored [K, N] column-major when tb) */
    LT_TRY(lt, err, who, "cublasLtMatrixLayoutCreate",
           lt->cublasLtMatrixLayoutCreate(&mm->a, CUDA_R_32F, tb ? (uint64_t)K : (uint64_t)N,
                                          tb ? (uint64_t)N : (uint64_t)K, tb ? K : N));
    LT_TRY(lt, err, who, "cublasLtMatrixLayoutCreate",
           lt->cublasLtMatrixLayoutCreate(&mm->b, CUDA_R_32F, ta ? (uint64_t)M : (uint64_t)K,
                                          ta ? (uint64_t)K : (uint64_t)M, ta ? M : K));
    LT_TRY(lt, err, who, "cublasLtMatrixLayoutCreate",
           lt->cublasLtMatrixLayoutCreate(&mm->c, CUDA_R_32F, (uint64_t)N, (uint64_t)M, N));
    mm->epilogue = epilogue;
    int64_t key_v[] = {M, N, K, ta, tb, epilogue, d->tf32};
    cu_algo_key key;
    cu_algo_key_make(&key, CU_ALGO_LT, 7, key_v);
    const cu_algo_entry *hit = cu_algo_find(&d->algos, &key);
    if (hit) {
        memcpy(&mm->algo, hit->value, sizeof mm->algo);
        mm->ws = hit->workspace;
    } else {
        cublasLtMatmulPreference_t pref = NULL;
        cublasLtMatmulHeuristicResult_t res;
        int found = 0;
        size_t ws_max = CU_LT_WORKSPACE;
        LT_TRY(lt, err, who, "cublasLtMatmulPreferenceCreate",
               lt->cublasLtMatmulPreferenceCreate(&pref));
        cublasStatus_t st = lt->cublasLtMatmulPreferenceSetAttribute(
            pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_max, sizeof ws_max);
        if (st == CUBLAS_STATUS_SUCCESS)
            st = lt->cublasLtMatmulAlgoGetHeuristic(lt->handle, mm->op, mm->a, mm->b, mm->c,
                                                    mm->c, pref, 1, &res, &found);
        lt->cublasLtMatmulPreferenceDestroy(pref);
        if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found < 1))
            return nn_error_set(err, NN_ENOTSUP, "%s: cuBLASLt has no algorithm for a %lldx%lldx"
                                "%lld product with epilogue %d", who, (long long)M,
                                (long long)N, (long long)K, epilogue);
        if (st != CUBLAS_STATUS_SUCCESS)
            return cu_lt_fail(lt, err, st, who, "cublasLtMatmulAlgoGetHeuristic");
        mm->algo = res.algo;
        mm->ws = res.workspaceSize;
        cu_algo_put(&d->algos, &key, &res.algo, sizeof res.algo, res.workspaceSize);
    }
    if (mm->ws && !cu_workspace(d, mm->ws, err))
        return err ? err->status : NN_ENOMEM;
    mm->ready = 1;
    return NN_OK;
}

static int mm_exec(void *ctx, const void *payload, nn_error *err)
{
    cu_dev *d = ctx;
    const mm_call *c = payload;
    cublasStatus_t st = c->lt->cublasLtMatmul(c->lt->handle, c->op, &c->alpha, c->A, c->a, c->B,
                                              c->b, &c->beta, c->D, c->c, c->D, c->c, &c->algo,
                                              c->ws, c->ws_bytes, d->stream);
    return st == CUBLAS_STATUS_SUCCESS ? NN_OK
                                       : cu_lt_fail(c->lt, err, st, d->name, "cublasLtMatmul");
}

int cu_mm_run(cu_dev *d, const cu_mm *mm, const char *who, const float *A, const float *B,
              float *C, nn_error *err)
{
    if (!mm->ready)
        return nn_error_set(err, NN_EINTERNAL, "%s: a product was run before it was planned",
                            who);
    /* every byte is compared to recognise the call in a graph: no stray padding */
    mm_call c;
    memset(&c, 0, sizeof c);
    c.lt = d->lt;
    c.op = mm->op;
    c.a = mm->a;
    c.b = mm->b;
    c.c = mm->c;
    c.algo = mm->algo;
    c.A = B; /* operands swapped: cuBLASLt's A is our B (see the top of the file) */
    c.B = A;
    c.D = C;
    c.ws = mm->ws ? d->ws : NULL;
    c.ws_bytes = mm->ws;
    c.alpha = 1.0f;
    c.beta = 0.0f;
    return cu_issue_lib(&d->issue, who, mm_exec, &c, sizeof c, err);
}
