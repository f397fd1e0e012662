/* nn_seq_ops.c: oneDNN linear (inner product), batched matmul and eltwise ops of libnn_seq.a,
 * bound once to tensors or views (see nn_seq.h). Primitives are made in bind; running them
 * allocates nothing of ours. */
#define _POSIX_C_SOURCE 200809L
#include "nn_seq.h"

#include <string.h>

/* ---- linear ---------------------------------------------------------------------------- */

void nn_seq_lin_destroy(nn_seq_lin *l)
{
    nn_dnnl_op_destroy(&l->fwd);
    nn_dnnl_op_destroy(&l->bd);
    nn_dnnl_op_destroy(&l->bw);
    nn_dnnl_pd_free(&l->fwd_pd);
    nn_dnnl_pd_free(&l->bd_pd);
    nn_dnnl_pd_free(&l->bw_pd);
}

int nn_seq_lin_bind(nn_seq_lin *l, int training, int64_t M, int64_t IC, int64_t OC,
                    const nn_tensor *x, const nn_tensor *w, const nn_tensor *b,
                    const nn_tensor *y, const nn_tensor *dy, const nn_tensor *dx,
                    const nn_tensor *dw, const nn_tensor *db, const char *L, nn_error *err)
{
    nn_seq_lin_destroy(l);
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    int64_t sd[2] = {M, IC}, wd[2] = {OC, IC}, dd[2] = {M, OC};
    nn_dnnl_md_dims(&src_md, 2, sd);
    nn_dnnl_md_dims(&w_md, 2, wd);
    nn_dnnl_md_dims(&b_md, 1, &OC);
    nn_dnnl_md_dims(&dst_md, 2, dd);
    dnnl_inner_product_desc_t d;
    NN_DNNL_TRY(err, L, "inner product forward descriptor",
                dnnl_inner_product_forward_desc_init(
                    &d, training ? dnnl_forward_training : dnnl_forward_inference, &src_md,
                    &w_md, b ? &b_md : NULL, &dst_md));
    NN_DNNL_TRY(err, L, "inner product forward",
                nn_dnnl_pd_create(&l->fwd_pd, &d, NULL, NULL));
    if ((rc = nn_dnnl_op_create(&l->fwd, l->fwd_pd, "inner product forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->fwd, l->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->fwd, l->fwd_pd, DNNL_ARG_WEIGHTS, w, L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->fwd, l->fwd_pd, DNNL_ARG_DST, y, L, err)))
        return rc;
    if (b && (rc = nn_dnnl_op_tensor(&l->fwd, l->fwd_pd, DNNL_ARG_BIAS, b, L, err)))
        return rc;
    if (!training || !dy)
        return NN_OK;
    if (dx) {
        NN_DNNL_TRY(err, L, "inner product backward-data descriptor",
                    dnnl_inner_product_backward_data_desc_init(&d, &src_md, &w_md, &dst_md));
        NN_DNNL_TRY(err, L, "inner product backward-data",
                    nn_dnnl_pd_create(&l->bd_pd, &d, NULL, l->fwd_pd));
        if ((rc = nn_dnnl_op_create(&l->bd, l->bd_pd, "inner product backward-data", L, err)) ||
            (rc = nn_dnnl_op_tensor(&l->bd, l->bd_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
            (rc = nn_dnnl_op_tensor(&l->bd, l->bd_pd, DNNL_ARG_WEIGHTS, w, L, err)) ||
            (rc = nn_dnnl_op_tensor(&l->bd, l->bd_pd, DNNL_ARG_DIFF_SRC, dx, L, err)))
            return rc;
    }
    NN_DNNL_TRY(err, L, "inner product backward-weights descriptor",
                dnnl_inner_product_backward_weights_desc_init(&d, &src_md, &w_md,
                                                              b ? &b_md : NULL, &dst_md));
    NN_DNNL_TRY(err, L, "inner product backward-weights",
                nn_dnnl_pd_create(&l->bw_pd, &d, NULL, l->fwd_pd));
    if ((rc = nn_dnnl_op_create(&l->bw, l->bw_pd, "inner product backward-weights", L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->bw, l->bw_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->bw, l->bw_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&l->bw, l->bw_pd, DNNL_ARG_DIFF_WEIGHTS, dw, L, err)))
        return rc;
    if (b && (rc = nn_dnnl_op_tensor(&l->bw, l->bw_pd, DNNL_ARG_DIFF_BIAS, db, L, err)))
        return rc;
    return NN_OK;
}

int nn_seq_lin_forward(nn_seq_lin *l, const char *L, nn_error *err)
{
    return nn_dnnl_op_run(&l->fwd, L, err);
}

int nn_seq_lin_backward(nn_seq_lin *l, int want_dx, const char *L, nn_error *err)
{
    int rc;
    if (!l->bw.prim)
        return nn_error_set(err, NN_EINVAL,
                            "layer '%s': backward on a plan bound without gradients", L);
    if (want_dx && l->bd.prim && (rc = nn_dnnl_op_run(&l->bd, L, err)))
        return rc;
    return nn_dnnl_op_run(&l->bw, L, err);
}

/* ---- batched matmul -------------------------------------------------------------------- */

/* [B, R, C] stored row-major, or transposed ([B, C, R] in memory) */
static void mm_md(dnnl_memory_desc_t *md, int64_t B, int64_t R, int64_t C, int trans,
                  int64_t bstride)
{
    dnnl_dims_t d = {B, R, C}, s = {bstride, trans ? 1 : C, trans ? R : 1};
    (void)dnnl_memory_desc_init_by_strides(md, 3, d, dnnl_f32, s);
}

int nn_seq_bmm_bind(nn_dnnl_op *op, int64_t B, int64_t M, int64_t K, int64_t N,
                    const nn_tensor *a, int ta, const nn_tensor *b, int tb, int bb,
                    const nn_tensor *c, float alpha, int accumulate, const char *L,
                    nn_error *err)
{
    nn_dnnl_op_destroy(op);
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    dnnl_memory_desc_t a_md, b_md, c_md;
    mm_md(&a_md, B, M, K, ta, M * K);
    mm_md(&b_md, bb ? B : 1, K, N, tb, K * N);
    mm_md(&c_md, B, M, N, 0, M * N);
    dnnl_matmul_desc_t d;
    NN_DNNL_TRY(err, L, "matmul descriptor", dnnl_matmul_desc_init(&d, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr;
    NN_DNNL_TRY(err, L, "primitive attributes", nn_dnnl_attr(&attr, NN_ACT_NONE));
    dnnl_status_t st = dnnl_success;
    if (alpha != 1.0f)
        st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
    if (st == dnnl_success && accumulate) {
        dnnl_post_ops_t po;
        st = dnnl_post_ops_create(&po);
        if (st == dnnl_success) {
            st = dnnl_post_ops_append_sum(po, 1.0f);
            if (st == dnnl_success)
                st = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = nn_dnnl_pd_create(&pd, &d, attr, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nn_dnnl_fail(err, st, L, "matmul");
    if (!(rc = nn_dnnl_op_create(op, pd, "matmul", L, err)) &&
        !(rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_SRC, a, L, err)) &&
        !(rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_WEIGHTS, b, L, err)))
        rc = nn_dnnl_op_tensor(op, pd, DNNL_ARG_DST, c, L, err);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* ---- eltwise activation ---------------------------------------------------------------- */

void nn_seq_act_destroy(nn_seq_act *a)
{
    nn_dnnl_op_destroy(&a->fwd);
    nn_dnnl_op_destroy(&a->bwd);
    nn_dnnl_pd_free(&a->fwd_pd);
    nn_dnnl_pd_free(&a->bwd_pd);
}

int nn_seq_act_bind(nn_seq_act *a, int kind, int training, int64_t n, const nn_tensor *x,
                    const nn_tensor *y, const nn_tensor *dy, const nn_tensor *dx,
                    const char *L, nn_error *err)
{
    nn_seq_act_destroy(a);
    int rc = nn_dnnl_init(L, err);
    if (rc)
        return rc;
    dnnl_memory_desc_t md;
    nn_dnnl_md_dims(&md, 1, &n);
    dnnl_alg_kind_t alg = nn_dnnl_act_alg(kind);
    dnnl_eltwise_desc_t d;
    NN_DNNL_TRY(err, L, "eltwise forward descriptor",
                dnnl_eltwise_forward_desc_init(
                    &d, training ? dnnl_forward_training : dnnl_forward_inference, alg, &md,
                    0.f, 0.f));
    NN_DNNL_TRY(err, L, "eltwise forward",
                nn_dnnl_pd_create(&a->fwd_pd, &d, NULL, NULL));
    if ((rc = nn_dnnl_op_create(&a->fwd, a->fwd_pd, "eltwise forward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&a->fwd, a->fwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&a->fwd, a->fwd_pd, DNNL_ARG_DST, y, L, err)))
        return rc;
    if (!training || !dy || !dx)
        return NN_OK;
    NN_DNNL_TRY(err, L, "eltwise backward descriptor",
                dnnl_eltwise_backward_desc_init(&d, alg, &md, &md, 0.f, 0.f));
    NN_DNNL_TRY(err, L, "eltwise backward",
                nn_dnnl_pd_create(&a->bwd_pd, &d, NULL, a->fwd_pd));
    if ((rc = nn_dnnl_op_create(&a->bwd, a->bwd_pd, "eltwise backward", L, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, DNNL_ARG_SRC, x, L, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, DNNL_ARG_DIFF_DST, dy, L, err)) ||
        (rc = nn_dnnl_op_tensor(&a->bwd, a->bwd_pd, DNNL_ARG_DIFF_SRC, dx, L, err)))
        return rc;
    return NN_OK;
}
