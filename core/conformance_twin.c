/* conformance_twin.c: tensors the conformance run holds twice, once in host memory for the CPU
 * plugin and once on the device under test for the pack's, and their comparison. The device
 * copy is only ever reached through core/device.h (upload, download), never dereferenced. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "conformance_internal.h"

/* canary bytes around each device tensor: a write past its end lands in them */
#define TWIN_FRONT 256
#define TWIN_BACK 4096

int nn_conf_fail(nn_conf_result *res, const char *fmt, ...)
{
    if (res->status != NN_CONF_FAIL) { /* the first failure is the one worth reading */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->msg, sizeof res->msg, fmt, ap);
        va_end(ap);
    }
    res->status = NN_CONF_FAIL;
    return NN_CONF_FAIL;
}

int nn_conf_agree(const nn_conf_check *c, const char *stage, int rc_cpu, const nn_error *e_cpu,
                  int rc_pack, const nn_error *e_pack, nn_conf_result *res)
{
    if (!rc_cpu && !rc_pack)
        return 1;
    if (rc_cpu && rc_pack) {
        res->status = c->probe ? NN_CONF_SKIP : NN_CONF_PASS;
        snprintf(res->msg, sizeof res->msg, "both refuse at %s; cpu: %s", stage, e_cpu->msg);
        return 0;
    }
    if (rc_cpu)
        nn_conf_fail(res, "%s: the CPU plugin refuses (%s) but the pack's accepts", stage,
                     e_cpu->msg);
    else
        nn_conf_fail(res, "%s: the pack's plugin refuses (%s: %s) what the CPU plugin "
                     "accepts", stage, nn_strerror(rc_pack), e_pack->msg);
    return 0;
}

int nn_twin_new(nn_dev *dev, nn_twin *t, nn_dtype dt, int ndim, const int64_t *shape,
                const char *name, nn_error *err)
{
    memset(t, 0, sizeof *t);
    if (nn_tensor_describe(&t->h, dt, ndim, shape) != 0 ||
        nn_tensor_describe(&t->d, dt, ndim, shape) != 0)
        return nn_error_set(err, NN_EINVAL, "tensor '%s': rank %d out of range", name, ndim);
    t->h.name = t->d.name = name;
    t->d.dl.device = nn_dev_public(dev)->dl;
    size_t bytes = nn_tensor_nbytes(&t->h);
    size_t padded = (bytes + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
    t->h.dl.data = aligned_alloc(NN_TENSOR_ALIGN, padded ? padded : NN_TENSOR_ALIGN);
    if (!t->h.dl.data)
        return nn_error_set(err, NN_ENOMEM, "out of memory for tensor '%s'", name);
    memset(t->h.dl.data, 0, padded ? padded : NN_TENSOR_ALIGN);
    /* the device data between canary zones, which nn_twin_compare reads back */
    t->d.dl.data = nn_canary_dev_alloc(dev, bytes, TWIN_FRONT, TWIN_BACK, err);
    if (!t->d.dl.data) {
        free(t->h.dl.data);
        t->h.dl.data = NULL;
        nn_error_prefix(err, "tensor '%s'", name);
        return err ? err->status : NN_ENOMEM;
    }
    t->fenced = 1;
    return NN_OK;
}

/* the canary zones of t's device data, read back: 0 when intact, 1 when the pack wrote
 * outside the data (res fails saying where), or a negative status when they cannot be read */
static int twin_zones(nn_dev *dev, const nn_twin *t, const char *what, nn_conf_result *res,
                      nn_error *err)
{
    unsigned char zones[TWIN_FRONT + TWIN_BACK];
    int rc = nn_canary_dev_read(dev, t->d.dl.data, nn_tensor_nbytes(&t->d), TWIN_FRONT,
                                TWIN_BACK, zones, err);
    if (rc)
        return rc;
    nn_error zerr = {0};
    if (nn_canary_check(&t->h, zones, TWIN_FRONT, zones + TWIN_FRONT, TWIN_BACK, "the pack",
                        what, &zerr) == NN_OK)
        return 0;
    nn_conf_fail(res, "%s", zerr.msg);
    return 1;
}

void nn_twin_free(nn_dev *dev, nn_twin *t, nn_conf_result *res)
{
    if (res && t->fenced && !t->zones_read && t->d.dl.data) {
        char what[160];
        nn_error err = {0};
        snprintf(what, sizeof what, "tensor '%s', which it was given to read", t->h.name);
        if (twin_zones(dev, t, what, res, &err) < 0)
            nn_conf_fail(res, "cannot read back the canary zones of tensor '%s': %s", t->h.name,
                         err.msg);
    }
    free(t->h.dl.data);
    nn_canary_dev_free(dev, t->d.dl.data, t->fenced ? TWIN_FRONT : 0);
    memset(t, 0, sizeof *t);
}

int nn_twin_upload(nn_dev *dev, nn_twin *t, nn_error *err)
{
    return nn_dev_upload(dev, &t->d, &t->h, err);
}

int nn_twin_random(nn_dev *dev, nn_twin *t, nn_rng *r, double scale, int uniform,
                   nn_error *err)
{
    float *x = NN_F32P(&t->h);
    for (int64_t i = 0, n = nn_tensor_numel(&t->h); i < n; i++)
        x[i] = (float)(scale * (uniform ? 2.0 * nn_rng_uniform(r) - 1.0 : nn_rng_normal(r)));
    return nn_twin_upload(dev, t, err);
}

/* |a - b| / scale, with NaN matching NaN and an infinity matching the same infinity */
static double elem_error(double h, double d, double scale)
{
    if (isnan(h) || isnan(d))
        return isnan(h) && isnan(d) ? 0.0 : INFINITY;
    if (isinf(h) || isinf(d))
        return h == d ? 0.0 : INFINITY;
    return fabs(d - h) / scale;
}

static double value_at(const nn_tensor *t, const void *data, int64_t i)
{
    switch (nn_tensor_dtype(t)) {
    case NN_F32: return ((const float *)data)[i];
    case NN_F64: return ((const double *)data)[i];
    case NN_I32: return ((const int32_t *)data)[i];
    case NN_I64: return (double)((const int64_t *)data)[i];
    case NN_U8: return ((const uint8_t *)data)[i];
    default: return NAN;
    }
}

int nn_twin_compare(nn_dev *dev, nn_twin *t, const char *what, double tol,
                    nn_conf_result *res, nn_error *err)
{
    size_t bytes = nn_tensor_nbytes(&t->h);
    void *got = malloc(bytes ? bytes : 1);
    if (!got)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    int rc = nn_dev_copy(dev, got, t->d.dl.data, bytes, NN_COPY_DEVICE_TO_HOST, err);
    if (rc) {
        free(got);
        return rc;
    }
    int64_t n = nn_tensor_numel(&t->h), worst_at = -1;
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = fabs(value_at(&t->h, t->h.dl.data, i));
        if (isfinite(v) && v > scale)
            scale = v;
    }
    if (!(scale > 1e-30))
        scale = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double e = elem_error(value_at(&t->h, t->h.dl.data, i), value_at(&t->h, got, i), scale);
        if (e > worst || (worst_at < 0 && e > 0)) {
            worst = e;
            worst_at = i;
        }
    }
    if (worst > res->worst)
        res->worst = worst;
    int bad = worst > tol;
    if (bad)
        nn_conf_fail(res, "%s: element %lld of %lld: cpu %.9g, %s %.9g (error %.2g > %.2g, "
                     "relative to the largest |value| %.3g)", what, (long long)worst_at,
                     (long long)n, value_at(&t->h, t->h.dl.data, worst_at),
                     nn_dev_name(dev), value_at(&t->h, got, worst_at), worst, tol, scale);
    free(got);
    int outside = bad || !t->fenced ? 0 : twin_zones(dev, t, what, res, err);
    t->zones_read |= !bad && t->fenced;
    return outside < 0 ? outside : bad || outside;
}
