/* nn_dnnl_out.c: the output side shared by dense and the convolutions (nn_dnnl.h,
 * nn_dnnl_out): activation, offered layout, reorders where the output stays plain, dLoss/dz.
 * Never allocates in forward/backward. */
#define _POSIX_C_SOURCE 200809L
#include "nn_dnnl.h"

int nn_dnnl_out_setup(nn_dnnl_out *o, const dnnl_memory_desc_t *yp, int training,
                      nn_layer_setup *s, nn_error *err)
{
    const char *L = s->layer_name ? s->layer_name : "?";
    int act = o->act.kind != NN_ACT_NONE, rc;
    o->yp_md = *yp;
    nn_dnnl_md_dims(&o->y_md, s->output.dl.ndim, s->output.shape);
    if (!dnnl_memory_desc_equal(yp, &o->y_md)) {
        nn_dnnl_layout_init(&o->offer, &o->yp_md);
        if (o->act.kind == NN_ACT_RELU)
            o->offer.props |= NN_LAYOUT_RELU;
        s->output.layout = &o->offer;
        if (s->output_layout_taken)
            o->y_md = *yp;
    }
    if ((rc = nn_dnnl_act_plan(&o->act, yp, L, err)))
        return rc;
    size_t bytes = dnnl_memory_desc_get_size(yp);
    int direct = nn_dnnl_out_direct(o);
    o->b_z = o->b_pre = o->b_dyz = -1;
    /* the consumer took the offer and applies the ReLU's derivative itself */
    o->grad_masked = training && s->output_grad_masked && o->act.kind == NN_ACT_RELU && direct;
    int act_bwd = act && !o->grad_masked; /* backward runs the activation's derivative */
    /* the activation's derivative applied to grad_output itself when the plan allows it */
    o->in_place = training && act_bwd && direct && s->grad_output_scratch;
    if ((!direct && (o->b_z = nn_dnnl_add_buffer(s, "output_blocked",
                                        training && act ? NN_BUF_SAVED : NN_BUF_WORKSPACE,
                                        bytes)) < 0) ||
        (o->act.from_pre &&
         (o->b_pre = nn_dnnl_add_buffer(s, "pre_activation", NN_BUF_SAVED, bytes)) < 0) ||
        (training && (act_bwd || !direct) && !o->in_place &&
         (o->b_dyz = nn_dnnl_add_buffer(s, "grad_pre_activation", NN_BUF_WORKSPACE, bytes)) < 0))
        return nn_error_set(err, NN_EINTERNAL, "layer '%s': too many buffers declared", L);
    return NN_OK;
}

int nn_dnnl_out_direct(const nn_dnnl_out *o)
{
    return dnnl_memory_desc_equal(&o->yp_md, &o->y_md) != 0;
}

static const nn_tensor *buf(const nn_layer_io *io, int b)
{
    return b >= 0 ? io->buffers[b] : NULL;
}

/* the activated output in yp */
static const nn_tensor *y_in_yp(const nn_dnnl_out *o, const nn_layer_io *io)
{
    return o->b_z >= 0 ? io->buffers[o->b_z] : io->output;
}

const nn_tensor *nn_dnnl_out_dst(const nn_dnnl_out *o, const nn_layer_io *io)
{
    return o->act.from_pre ? buf(io, o->b_pre) : y_in_yp(o, io);
}

const nn_tensor *nn_dnnl_out_dz(const nn_dnnl_out *o, const nn_layer_io *io)
{
    return o->b_dyz >= 0 ? io->buffers[o->b_dyz] : io->grad_output;
}

int nn_dnnl_out_bind(nn_dnnl_out *o, const nn_layer_io *io, const char *layer, nn_error *err)
{
    const int bufs[] = {o->b_z, o->b_pre, o->b_dyz};
    for (int i = 0; i < 3; i++)
        if (bufs[i] >= 0 && !io->buffers[bufs[i]])
            return nn_error_set(err, NN_EINVAL, "layer '%s': the plan gave no buffer %d", layer,
                                bufs[i]);
    const nn_tensor *y = y_in_yp(o, io), *dy = NULL, *dyz = nn_dnnl_out_dz(o, io);
    int rc;
    if (io->grad_output && (o->b_dyz >= 0 || o->in_place)) {
        dy = io->grad_output;
        if (!nn_dnnl_out_direct(o)) {
            if ((rc = nn_dnnl_reorder_op(&o->r_dy, &o->y_md, io->grad_output, &o->yp_md, dyz,
                                         layer, err)))
                return rc;
            dy = dyz; /* the activation's backward then runs in place on it */
        }
    }
    if ((rc = nn_dnnl_act_bind(&o->act, y, buf(io, o->b_pre), dy, dyz, layer, err)))
        return rc;
    if (y != io->output &&
        (rc = nn_dnnl_reorder_op(&o->r_y, &o->yp_md, y, &o->y_md, io->output, layer, err)))
        return rc;
    return NN_OK;
}

int nn_dnnl_out_forward(nn_dnnl_out *o, const char *layer, nn_error *err)
{
    int rc = nn_dnnl_act_forward(&o->act, layer, err);
    if (rc == NN_OK && o->r_y.prim)
        rc = nn_dnnl_op_run(&o->r_y, layer, err);
    return rc;
}

const nn_tensor *nn_dnnl_out_backward(nn_dnnl_out *o, const nn_layer_io *io, const char *layer,
                                      nn_error *err)
{
    if (o->b_dyz < 0 && !o->in_place)
        return io->grad_output;
    if (!o->r_dy.prim && !nn_dnnl_out_direct(o) &&
        nn_dnnl_reorder_op(&o->r_dy, &o->y_md, io->grad_output, &o->yp_md,
                           io->buffers[o->b_dyz], layer, err) < 0)
        return NULL;
    if ((o->r_dy.prim && nn_dnnl_op_run(&o->r_dy, layer, err) < 0) ||
        nn_dnnl_act_backward(&o->act, layer, err) < 0)
        return NULL;
    return nn_dnnl_out_dz(o, io);
}

void nn_dnnl_out_destroy(nn_dnnl_out *o)
{
    nn_dnnl_act_destroy(&o->act);
    nn_dnnl_op_destroy(&o->r_y);
    nn_dnnl_op_destroy(&o->r_dy);
}
