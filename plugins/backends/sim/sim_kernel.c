/* sim_kernel.c: what every kernel of the sim pack starts with (finding its device, turning a
 * tensor into checked bytes) and the small pieces dense and conv2d share (activations, keys).
 * A kernel never touches a device address itself: it always goes through sim_tensor(). */
#define _DEFAULT_SOURCE /* M_SQRT1_2 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

sim_dev *sim_dev_from(const nn_device *dev, const char *who, nn_error *err)
{
    if (!dev || dev->backend != &sim_backend_vtable || !dev->backend_self) {
        nn_error_set(err, NN_EINVAL, "%s: a sim plugin was run on device '%s', which is not a "
                     "sim device of this pack", who, dev && dev->name ? dev->name : "cpu");
        return NULL;
    }
    sim_dev *d = dev->backend_self;
    if (d->index < 0 || d->index != dev->dl.device_id) {
        nn_error_set(err, NN_EINVAL, "%s: device '%s' is not open", who, dev->name);
        return NULL;
    }
    return d;
}

void *sim_tensor(sim_dev *d, const nn_tensor *t, int dt, const char *who, const char *role,
                 nn_error *err)
{
    char shape[96];
    if (!t) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor is missing", who, role);
        return NULL;
    }
    int tdt = nn_tensor_dtype(t);
    if (dt >= 0 && tdt != dt) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor %s has dtype code %d/%d bits, expected %s",
                     who, role, nn_shape_str(t, shape, sizeof shape), t->dl.dtype.code,
                     t->dl.dtype.bits, dt == NN_F32 ? "F32" : dt == NN_I32 ? "I32" : "another");
        return NULL;
    }
    if (t->dl.device.device_type != kDLCPU &&
        (t->dl.device.device_type != SIM_DEVICE_TYPE || t->dl.device.device_id != d->index)) {
        nn_error_set(err, NN_EINVAL, "%s: %s tensor is marked as on device type %d index %d, "
                     "but this is %s", who, role, (int)t->dl.device.device_type,
                     (int)t->dl.device.device_id, d->name);
        return NULL;
    }
    int64_t expect = 1;
    for (int i = t->dl.ndim - 1; i >= 0; i--) {
        /* the struct's own array: dl.strides of a tensor copied by value may be stale */
        if (t->shape[i] != 1 && t->strides[i] != expect) {
            nn_error_set(err, NN_ENOTSUP, "%s: %s tensor %s is not contiguous", who, role,
                         nn_shape_str(t, shape, sizeof shape));
            return NULL;
        }
        expect *= t->shape[i];
    }
    sim_flush(d);
    void *p = sim_mem_bytes(d, (const char *)t->dl.data + t->dl.byte_offset,
                            nn_tensor_nbytes(t), role, err);
    if (!p) /* the sentence is made only now: this runs for every tensor of every kernel */
        nn_error_prefix(err, "%s: %s tensor %s", who, role, nn_shape_str(t, shape, sizeof shape));
    return p;
}

/* ---- activations: the CPU plugins' oneDNN eltwise functions ---------------------------- */

void sim_act_forward(int kind, const float *z, float *y, int64_t n)
{
    switch (kind) {
    case SIM_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = z[i] > 0.0f ? z[i] : 0.0f;
        break;
    case SIM_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(z[i]);
        break;
    case SIM_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(1.0 / (1.0 + exp(-(double)z[i])));
        break;
    case SIM_ACT_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(0.5 * z[i] * (1.0 + erf(z[i] * M_SQRT1_2)));
        break;
    default:
        if (y != z)
            memmove(y, z, sizeof *y * (size_t)n);
    }
}

void sim_act_backward(int kind, const float *z, const float *dy, float *dz, int64_t n)
{
    switch (kind) {
    case SIM_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            dz[i] = z[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case SIM_ACT_TANH:
        for (int64_t i = 0; i < n; i++) {
            double t = tanh((double)z[i]);
            dz[i] = (float)(dy[i] * (1.0 - t * t));
        }
        break;
    case SIM_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            double s = 1.0 / (1.0 + exp(-(double)z[i]));
            dz[i] = (float)(dy[i] * s * (1.0 - s));
        }
        break;
    case SIM_ACT_GELU:
        for (int64_t i = 0; i < n; i++) {
            double x = z[i];
            double cdf = 0.5 * (1.0 + erf(x * M_SQRT1_2));
            double pdf = exp(-0.5 * x * x) * 0.3989422804014327;
            dz[i] = (float)(dy[i] * (cdf + x * pdf));
        }
        break;
    default:
        if (dz != dy)
            memmove(dz, dy, sizeof *dz * (size_t)n);
    }
}

