/* conformance_ops.c: the backend's own checks in the device conformance run: memory, copies
 * (blocking and asynchronous, with events, and later work after an
 * asynchronous copy), host buffers, and each nn_device_ops function
 * against the host implementation in core/device.c on inputs with NaN, infinities, ties and
 * class ids out of range. The device is reached only through core/device.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_internal.h"

static void special_values(float *x, int64_t n, nn_rng *r, int nasty)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(3.0 * nn_rng_normal(r));
    if (nasty && n > 40) {
        x[3] = NAN;
        x[11] = INFINITY;
        x[29] = -INFINITY;
        x[n - 1] = -0.0f;
    }
}

/* copies n bytes of device memory back and compares them with want */
static int expect_bytes(nn_dev *dev, const void *dptr, const void *want, size_t n,
                        const char *what, nn_conf_result *res)
{
    unsigned char *got = malloc(n ? n : 1);
    nn_error err = {0};
    if (!got)
        return nn_conf_fail(res, "out of memory");
    int rc = nn_dev_copy(dev, got, dptr, n, NN_COPY_DEVICE_TO_HOST, &err);
    if (rc)
        nn_conf_fail(res, "%s: copy back failed: %s", what, err.msg);
    else
        for (size_t i = 0; i < n; i++)
            if (got[i] != ((const unsigned char *)want)[i]) {
                nn_conf_fail(res, "%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, i,
                             n, got[i], ((const unsigned char *)want)[i]);
                break;
            }
    free(got);
    return res->status;
}

/* backend.h's ordering rule for copy_async: device work issued after it sees the copied bytes
 * whether or not anyone waited for its event. A device op (scale) and then a memset over part
 * of the bytes are issued right after a copy_async host to device, and the result is read back
 * with the blocking copy; the event is waited for only then, before the source is reused. */
static int async_then_work(nn_dev *dev, void *ev, nn_conf_result *res)
{
    const int64_t n = 1000;
    const size_t bytes = (size_t)n * sizeof(float), lo = 400 * sizeof(float), span = 1000;
    nn_tensor x = {0}, want = {0};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0b4, 0, 0, 0);
    nn_tensor_describe(&x, NN_F32, 1, &n);
    nn_tensor_describe(&want, NN_F32, 1, &n);
    x.dl.device = nn_dev_public(dev)->dl;
    float *src = malloc(bytes);
    want.dl.data = malloc(bytes);
    if (!src || !want.dl.data || !(x.dl.data = nn_dev_alloc(dev, bytes, &err))) {
        nn_conf_fail(res, "cannot allocate %zu bytes: %s", bytes, err.msg[0] ? err.msg :
                     "out of memory");
        goto done;
    }
    special_values(src, n, &r, 0);
    for (int step = 0; step < 2 && res->status == NN_CONF_PASS; step++) {
        const char *work = step ? "a memset of bytes 1600..2599" : "scale(x, -2) on them";
        memcpy(want.dl.data, src, bytes);
        nn_conf_phase("the device's backend: copy_async host to device, then %s", work);
        int rc = nn_dev_copy_async(dev, x.dl.data, src, bytes, NN_COPY_HOST_TO_DEVICE, ev, &err);
        if (!rc && step == 0) {
            nn_dev_scale(nn_dev_host(), &want, -2.0f, &err);
            rc = nn_dev_scale(dev, &x, -2.0f, &err);
        } else if (!rc) {
            memset((char *)want.dl.data + lo, 0, span);
            rc = nn_dev_memset(dev, (char *)x.dl.data + lo, 0, span, &err);
        }
        char what[300];
        snprintf(what, sizeof what, "%s, issued right after a copy_async host to device "
                 "without waiting for its event, ran before the copy (backend.h's ordering "
                 "rule: later device work sees the copied bytes)", work);
        if (rc)
            nn_conf_fail(res, "copy_async, then %s failed: %s", work, err.msg);
        else
            expect_bytes(dev, x.dl.data, want.dl.data, bytes, what, res);
        nn_conf_phase("the device's backend: event_wait");
        if (nn_dev_event_wait(dev, ev, &err) != NN_OK && res->status == NN_CONF_PASS)
            nn_conf_fail(res, "event_wait failed: %s", err.msg);
    }
done:
    nn_dev_free(dev, x.dl.data);
    free(want.dl.data);
    free(src);
    return res->status;
}

#define TRY_DEV(call, what)                                                                   \
    do {                                                                                      \
        nn_conf_phase("the device's backend: %s", what);                                      \
        if ((call) != NN_OK) {                                                                \
            nn_conf_fail(res, "%s failed: %s", what, err.msg);                                \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

int nn_conf_run_backend(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    (void)c;
    enum { N = 300000 };
    nn_error err = {0};
    unsigned char *pat = malloc(N), *back = malloc(N), *host = NULL;
    void *a = NULL, *b = NULL, *ev = NULL;
    if (!pat || !back) {
        nn_conf_fail(res, "out of memory");
        goto done;
    }
    for (int i = 0; i < N; i++)
        pat[i] = (unsigned char)(i * 7 + 3);
    nn_conf_phase("the device's backend: alloc");
    if (!(a = nn_dev_alloc(dev, N, &err)) || !(b = nn_dev_alloc(dev, N, &err))) {
        nn_conf_fail(res, "alloc of %d bytes failed: %s", N, err.msg);
        goto done;
    }
    if ((uintptr_t)a % NN_TENSOR_ALIGN || (uintptr_t)b % NN_TENSOR_ALIGN) {
        nn_conf_fail(res, "alloc returned %p and %p, not %d-byte aligned", a, b,
                     NN_TENSOR_ALIGN);
        goto done;
    }
    memset(back, 0, N);
    if (expect_bytes(dev, a, back, N, "fresh memory after the core's memset to 0", res))
        goto done;
    TRY_DEV(nn_dev_copy(dev, a, pat, N, NN_COPY_HOST_TO_DEVICE, &err), "copy host to device");
    TRY_DEV(nn_dev_copy(dev, b, a, N, NN_COPY_DEVICE_TO_DEVICE, &err), "copy device to device");
    if (expect_bytes(dev, b, pat, N, "after copies host->device->device", res))
        goto done;
    TRY_DEV(nn_dev_memset(dev, (char *)b + 1000, 0x5a, 777, &err), "memset");
    memcpy(back, pat, N);
    memset(back + 1000, 0x5a, 777);
    if (expect_bytes(dev, b, back, N, "after memset of bytes 1000..1776", res))
        goto done;
    nn_conf_phase("the device's backend: event_new");
    if (!(ev = nn_dev_event_new(dev, &err))) {
        nn_conf_fail(res, "event_new failed: %s", err.msg);
        goto done;
    }
    nn_conf_phase("the device's backend: host_alloc");
    if (!(host = nn_dev_host_alloc(dev, N, &err))) {
        nn_conf_fail(res, "host_alloc failed: %s", err.msg);
        goto done;
    }
    for (int i = 0; i < N; i++)
        host[i] = (unsigned char)(255 - pat[i]);
    TRY_DEV(nn_dev_copy_async(dev, a, host, N, NN_COPY_HOST_TO_DEVICE, ev, &err),
            "copy_async host to device");
    TRY_DEV(nn_dev_event_wait(dev, ev, &err), "event_wait");
    memcpy(back, host, N);
    memset(host, 0, N); /* the event completed: the host buffer is free again */
    TRY_DEV(nn_dev_copy_async(dev, host, a, N, NN_COPY_DEVICE_TO_HOST, ev, &err),
            "copy_async device to host");
    TRY_DEV(nn_dev_event_wait(dev, ev, &err), "event_wait");
    TRY_DEV(nn_dev_sync(dev, &err), "sync");
    if (memcmp(host, back, N) != 0) {
        nn_conf_fail(res, "copy_async host->device->host did not give the bytes back after "
                     "event_wait");
        goto done;
    }
    async_then_work(dev, ev, res);
done:
    nn_conf_phase("the device's backend: free");
    if (ev)
        nn_dev_event_free(dev, ev);
    nn_dev_host_free(dev, host);
    nn_dev_free(dev, a);
    nn_dev_free(dev, b);
    free(pat);
    free(back);
    return res->status;
}

/* ---- device ops ------------------------------------------------------------------------- */

static nn_twin *twin_of(nn_dev *dev, nn_twin *t, const char *name, nn_dtype dt, int ndim,
                        const int64_t *shape, nn_conf_result *res)
{
    nn_error err = {0};
    if (nn_twin_new(dev, t, dt, ndim, shape, name, &err)) {
        nn_conf_fail(res, "cannot allocate: %s", err.msg);
        return NULL;
    }
    return t;
}

/* runs op on host and device copies of x (and y) and compares x afterwards */
static int elementwise(int op, nn_dev *dev, nn_conf_result *res)
{
    const int64_t n = 1000;
    nn_twin x = {0}, y = {0};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0b5, (uint64_t)op, 0, 0);
    for (int nasty = 0; nasty < 2 && res->status == NN_CONF_PASS; nasty++) {
        if (!twin_of(dev, &x, "x", NN_F32, 1, &n, res) ||
            !twin_of(dev, &y, "y", NN_F32, 1, &n, res))
            break;
        special_values(NN_F32P(&x.h), n, &r, nasty);
        special_values(NN_F32P(&y.h), n, &r, nasty);
        int rc = nn_twin_upload(dev, &x, &err) || nn_twin_upload(dev, &y, &err), hrc = 0;
        nn_conf_phase("the device's ops");
        nn_conf_kernel_phase();
        if (!rc && op == 0) {
            hrc = nn_dev_add(nn_dev_host(), &x.h, &y.h, &err);
            rc = nn_dev_add(dev, &x.d, &y.d, &err);
        } else if (!rc && op == 1) {
            hrc = nn_dev_scale(nn_dev_host(), &x.h, -1.5f, &err);
            rc = nn_dev_scale(dev, &x.d, -1.5f, &err);
        } else if (!rc) {
            hrc = nn_dev_clamp(nn_dev_host(), &x.h, -0.5f, 0.75f, &err);
            rc = nn_dev_clamp(dev, &x.d, -0.5f, 0.75f, &err);
        }
        nn_conf_phase("the conformance run");
        if (rc || hrc)
            nn_conf_fail(res, "the op failed: %s", err.msg);
        else if (nn_twin_compare(dev, &x, nasty ? "result with NaN and infinities" : "result",
                                 0, res, &err) < 0)
            nn_conf_fail(res, "cannot read the result back: %s", err.msg);
        nn_twin_free(dev, &x, res);
        nn_twin_free(dev, &y, res);
    }
    return res->status;
}

static int norms(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    const int64_t n = 1000;
    nn_twin x = {0};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0b6, 0, 0, 0);
    double *acc = nn_dev_alloc(dev, sizeof(double), &err);
    if (!acc || !twin_of(dev, &x, "x", NN_F32, 1, &n, res)) {
        nn_dev_free(dev, acc);
        return nn_conf_fail(res, "cannot allocate: %s", err.msg);
    }
    /* (values, inf): finite sums and maxima, then NaN and infinities that must propagate */
    for (int k = 0; k < 6 && res->status == NN_CONF_PASS; k++) {
        int inf = k % 2;
        special_values(NN_F32P(&x.h), n, &r, 0);
        if (k >= 2)
            NN_F32P(&x.h)[17] = k >= 4 ? INFINITY : NAN;
        double want = 0.25, got = 0.25;
        nn_conf_phase("the device's ops: norm_acc");
        nn_conf_kernel_phase();
        if (nn_twin_upload(dev, &x, &err) ||
            nn_dev_copy(dev, acc, &got, sizeof got, NN_COPY_HOST_TO_DEVICE, &err) ||
            nn_dev_norm_acc(dev, &x.d, inf, acc, &err) ||
            nn_dev_copy(dev, &got, acc, sizeof got, NN_COPY_DEVICE_TO_HOST, &err) ||
            nn_dev_norm_acc(nn_dev_host(), &x.h, inf, &want, &err)) {
            nn_conf_fail(res, "norm_acc failed: %s", err.msg);
            break;
        }
        nn_conf_phase("the conformance run");
        double e = isnan(want) || isnan(got) ? (isnan(want) && isnan(got) ? 0 : INFINITY)
                   : isinf(want) || isinf(got) ? (want == got ? 0 : INFINITY)
                                               : fabs(got - want) / fabs(want);
        if (e > res->worst)
            res->worst = e;
        if (e > c->tol)
            nn_conf_fail(res, "norm_acc(inf = %d) from 0.25 over 1000 values%s: host %.17g, "
                         "%s %.17g", inf, k >= 4 ? " with +inf" : k >= 2 ? " with a NaN" : "",
                         want, nn_dev_name(dev), got);
    }
    nn_dev_free(dev, acc);
    nn_twin_free(dev, &x, res);
    return res->status;
}

static int nonfinite(nn_dev *dev, nn_conf_result *res)
{
    static const int64_t where[][2] = {{-1, -1}, {37, -1}, {80, 5}, {999, -1}};
    const int64_t n = 1000;
    nn_twin x = {0};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0b7, 0, 0, 0);
    if (!twin_of(dev, &x, "x", NN_F32, 1, &n, res))
        return res->status;
    for (int k = 0; k < 4 && res->status == NN_CONF_PASS; k++) {
        float *h = NN_F32P(&x.h);
        special_values(h, n, &r, 0);
        if (where[k][0] >= 0)
            h[where[k][0]] = NAN;
        if (where[k][1] >= 0)
            h[where[k][1]] = -INFINITY;
        int64_t want = -2, got = -2;
        nn_conf_phase("the device's ops: find_nonfinite");
        nn_conf_kernel_phase();
        if (nn_twin_upload(dev, &x, &err) || nn_dev_find_nonfinite(dev, &x.d, &got, &err) ||
            nn_dev_find_nonfinite(nn_dev_host(), &x.h, &want, &err))
            nn_conf_fail(res, "find_nonfinite failed: %s", err.msg);
        else if (got != want)
            nn_conf_fail(res, "find_nonfinite: host %lld, %s %lld", (long long)want,
                         nn_dev_name(dev), (long long)got);
    }
    nn_twin_free(dev, &x, res);
    return res->status;
}

static int counts(nn_dev *dev, nn_conf_result *res)
{
    const int64_t shape[2] = {9, 5};
    nn_twin pred = {0}, ids = {0}, soft = {0};
    nn_error err = {0};
    nn_rng r;
    nn_rng_init(&r, 0x0b8, 0, 0, 0);
    double *out = nn_dev_alloc(dev, 2 * sizeof(double), &err);
    if (!out || !twin_of(dev, &pred, "pred", NN_F32, 2, shape, res) ||
        !twin_of(dev, &ids, "ids", NN_I32, 1, shape, res) ||
        !twin_of(dev, &soft, "soft", NN_F32, 2, shape, res))
        goto done;
    float *p = NN_F32P(&pred.h), *s = NN_F32P(&soft.h);
    int32_t *t = NN_I32P(&ids.h);
    for (int64_t i = 0; i < 45; i++) {
        p[i] = (float)nn_rng_below(&r, 4); /* small integers: many ties */
        s[i] = (float)nn_rng_uniform(&r);
    }
    p[0] = NAN;  /* a NaN at index 0 stays its row's argmax (nothing compares greater) */
    p[12] = NAN; /* a NaN elsewhere never wins */
    s[7] = s[8];
    for (int64_t i = 0; i < 9; i++)
        t[i] = (int32_t)nn_rng_below(&r, 5);
    t[2] = -1;
    t[6] = 5;
    if (nn_twin_upload(dev, &pred, &err) || nn_twin_upload(dev, &ids, &err) ||
        nn_twin_upload(dev, &soft, &err)) {
        nn_conf_fail(res, "upload failed: %s", err.msg);
        goto done;
    }
    for (int k = 0; k < 8 && res->status == NN_CONF_PASS; k++) {
        int top_k = k % 4, use_soft = k >= 4;
        int64_t rows = k % 2 ? 9 : 7;
        double want[2] = {-7, -7}, got[2] = {-7, -7};
        nn_twin *tg = use_soft ? &soft : &ids;
        nn_conf_phase("the device's ops: count_correct");
        nn_conf_kernel_phase();
        if (nn_dev_copy(dev, out, got, sizeof got, NN_COPY_HOST_TO_DEVICE, &err) ||
            nn_dev_count_correct(dev, &pred.d, &tg->d, rows, top_k, out, &err) ||
            nn_dev_copy(dev, got, out, sizeof got, NN_COPY_DEVICE_TO_HOST, &err) ||
            nn_dev_count_correct(nn_dev_host(), &pred.h, &tg->h, rows, top_k, want, &err)) {
            nn_conf_fail(res, "count_correct failed: %s", err.msg);
            break;
        }
        if (got[0] != want[0] || got[1] != want[1])
            nn_conf_fail(res, "count_correct(%s targets, rows %lld, top_k %d): host (%g, %g), "
                         "%s (%g, %g); the argmax is the first index i with x[i] > x[best] "
                         "scanning from best = 0 (a NaN at index 0 stays the argmax, a NaN "
                         "elsewhere never wins; ties go to the lower index), and a class is in "
                         "the top k when fewer than k scores are strictly above its own "
                         "(backend.h, nn_argmax_first)", use_soft ? "F32" : "I32",
                         (long long)rows, top_k, want[0], want[1], nn_dev_name(dev), got[0],
                         got[1]);
    }
done:
    if (!out)
        nn_conf_fail(res, "cannot allocate: %s", err.msg);
    nn_dev_free(dev, out);
    nn_twin_free(dev, &pred, res);
    nn_twin_free(dev, &ids, res);
    nn_twin_free(dev, &soft, res);
    return res->status;
}

int nn_conf_run_op(const nn_conf_check *c, nn_dev *dev, nn_conf_result *res)
{
    switch (c->variant) {
    case 0:
    case 1:
    case 2: return elementwise(c->variant, dev, res);
    case 3: return norms(c, dev, res);
    case 4: return nonfinite(dev, res);
    default: return counts(dev, res);
    }
}
