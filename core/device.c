/* device.c: opens a backend plugin's device and routes memory, copies and the core's device
 * math to it, or does the same on the host. It never reads device memory itself: every byte
 * the core needs from a device comes back through the backend's copy(). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "device.h"
#include "instance.h"

struct nn_dev {
    nn_device pub;
    char type[48], name[80];
    nn_instance inst; /* the backend; inst.desc NULL on the host */
    const nn_backend_vtable *vt;
    const nn_device_ops *ops;
};

static nn_dev host_dev = {
    .pub = {.struct_size = sizeof(nn_device), .dl = {kDLCPU, 0}, .name = "cpu"},
    .type = "cpu",
    .name = "cpu",
};

nn_dev *nn_dev_host(void) { return &host_dev; }

static int list_types(const nn_registry *reg, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "cpu");
    int n = 0;
    for (int i = 0; i < nn_registry_count(reg) && used < cap; i++) {
        const nn_plugin_entry *e = nn_registry_entry(reg, i);
        if (e->desc->kind == NN_KIND_BACKEND) {
            used += (size_t)snprintf(buf + used, cap - used, ", %s", e->device);
            n++;
        }
    }
    return n;
}

int nn_dev_type_missing(const nn_registry *reg, const char *subject, const char *type,
                        nn_error *err)
{
    const nn_plugin_problem *refused = nn_registry_refused(reg, NN_KIND_BACKEND, type);
    if (refused)
        return nn_error_set(err, NN_ENOTFOUND, "%s: the backend plugin for device type '%s' "
                            "was refused: %s failed to load: %s", subject, type, refused->path,
                            refused->reason);
    char types[400];
    list_types(reg, types, sizeof types);
    return nn_error_set(err, NN_ENOTFOUND, "%s: no backend plugin for device type '%s' was "
                        "found (device types: %s); a backend pack is loaded with --plugin-dir "
                        "DIR", subject, type, types);
}

int nn_dev_spec_parse(const char *spec, char *type, size_t cap, int *index)
{
    const char *colon = strchr(spec, ':');
    size_t tl = colon ? (size_t)(colon - spec) : strlen(spec);
    int ok = tl > 0 && tl < cap;
    for (size_t i = 0; ok && i < tl; i++)
        ok = islower((unsigned char)spec[i]) || isdigit((unsigned char)spec[i]) || spec[i] == '_';
    long n = 0;
    if (ok && colon) {
        char *end;
        n = strtol(colon + 1, &end, 10);
        ok = end != colon + 1 && !*end && isdigit((unsigned char)colon[1]) && n < 1000000;
    }
    if (!ok)
        return -1;
    memcpy(type, spec, tl);
    type[tl] = 0;
    *index = (int)n;
    return 0;
}

int nn_dev_open(nn_registry *reg, const char *spec, nn_dev **out, nn_error *err)
{
    *out = NULL;
    if (!spec || !*spec)
        spec = "cpu";
    char type[48];
    int index = 0;
    if (nn_dev_spec_parse(spec, type, sizeof type, &index) != 0)
        return nn_error_set(err, NN_EINVAL, "--device '%s': " NN_DEV_SPEC_RULE, spec);
    if (strcmp(type, "cpu") == 0) {
        if (index != 0)
            return nn_error_set(err, NN_EINVAL, "--device '%s': the host is device cpu:0 only",
                                spec);
        *out = &host_dev;
        return NN_OK;
    }
    const nn_plugin_entry *be = NULL;
    for (int i = 0; i < nn_registry_count(reg) && !be; i++) {
        const nn_plugin_entry *e = nn_registry_entry(reg, i);
        if (e->desc->kind == NN_KIND_BACKEND && strcmp(e->device, type) == 0)
            be = e;
    }
    if (!be) {
        char subject[80];
        snprintf(subject, sizeof subject, "--device '%s'", spec);
        return nn_dev_type_missing(reg, subject, type, err);
    }
    const nn_backend_vtable *vt = be->desc->vtable;
    if (be->desc->abi_minor < 4 || vt->struct_size < NN_BACKEND_VTABLE_SIZE_0_3 ||
        !vt->device_count || !vt->memset || !vt->ops ||
        (vt->copy_async && (!vt->event_new || !vt->event_wait || !vt->event_free)))
        return nn_error_set(err, NN_EABI, "--device '%s': the backend plugin %s was built for "
                            "ABI %u.%u, which lacks device_count, memset and ops; rebuild it "
                            "against this SDK (ABI %d.%d)", spec, be->path, be->desc->abi_major,
                            be->desc->abi_minor, NN_ABI_MAJOR, NN_ABI_MINOR);
    nn_dev *d = calloc(1, sizeof *d);
    if (!d)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    char origin[600];
    snprintf(origin, sizeof origin, "--device %s", spec);
    int rc = nn_instance_create(&d->inst, be->desc, NULL, 0, origin, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->vt = vt;
    d->ops = vt->ops;
    nn_error berr = {0};
    int count = NN_PLUGIN_CALL(&d->inst, "device_count", vt->device_count(d->inst.self, &berr));
    char buf[96];
    const char *msg;
    if (count < 0) {
        rc = nn_plugin_failure(count, &berr, &msg, buf, sizeof buf);
        rc = nn_error_set(err, rc, "--device '%s': backend %s cannot count its devices: "
                          "device_count(): %s", spec, be->path, msg);
    } else if (index >= count) {
        if (count == 0)
            rc = nn_error_set(err, NN_ENOTFOUND, "--device '%s': the %s backend (%s) finds no "
                              "device on this machine", spec, type, be->path);
        else
            rc = nn_error_set(err, NN_ENOTFOUND, "--device '%s': the %s backend has %d "
                              "device%s (%s:0 .. %s:%d)", spec, type, count,
                              count == 1 ? "" : "s", type, type, count - 1);
    } else if ((rc = NN_PLUGIN_CALL(&d->inst, "open",
                                    vt->open(d->inst.self, (int)index, &berr))) != NN_OK) {
        rc = nn_plugin_failure(rc, &berr, &msg, buf, sizeof buf);
        rc = nn_error_set(err, rc, "--device '%s': %s: open(): %s", spec, be->path, msg);
    }
    if (rc) {
        nn_instance_destroy(&d->inst);
        free(d);
        return rc;
    }
    snprintf(d->type, sizeof d->type, "%s", type);
    snprintf(d->name, sizeof d->name, "%s:%d", type, index);
    d->pub = (nn_device){
        .struct_size = sizeof(nn_device),
        .dl = {(DLDeviceType)vt->device_type, (int32_t)index},
        .name = d->name,
        .backend = vt,
        .backend_self = d->inst.self,
    };
    *out = d;
    return NN_OK;
}

void nn_dev_close(nn_dev *d)
{
    if (!d || d == &host_dev)
        return;
    nn_instance_destroy(&d->inst);
    free(d);
}

const nn_device *nn_dev_public(const nn_dev *d) { return &d->pub; }
const char *nn_dev_type(const nn_dev *d) { return d->type; }
const char *nn_dev_name(const nn_dev *d) { return d->name; }
int nn_dev_is_host(const nn_dev *d) { return d == &host_dev; }

void nn_dev_describe(const nn_dev *d, char *buf, size_t cap)
{
    if (cap)
        buf[0] = 0;
    if (d != &host_dev && d->vt->describe)
        NN_PLUGIN_CALL(&d->inst, "describe", d->vt->describe(d->inst.self, buf, cap));
}

static size_t round64(size_t n)
{
    return (n + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
}

void *nn_dev_alloc(nn_dev *d, size_t bytes, nn_error *err)
{
    size_t n = round64(bytes ? bytes : 1);
    if (d == &host_dev) {
        void *p = aligned_alloc(NN_TENSOR_ALIGN, n);
        if (!p)
            nn_error_set(err, NN_ENOMEM, "out of memory for %zu bytes", bytes);
        else
            memset(p, 0, n);
        return p;
    }
    nn_error berr = {0};
    nn_crash_enter(&d->inst, "alloc");
    void *p = d->vt->alloc(d->inst.self, n, NN_TENSOR_ALIGN, &berr);
    nn_crash_leave();
    if (!p) {
        nn_error_set(err, NN_ENOMEM, "device %s: cannot allocate %zu bytes: %s", d->name, bytes,
                     berr.msg[0] ? berr.msg : "out of device memory");
        return NULL;
    }
    if (nn_dev_memset(d, p, 0, n, err) != NN_OK) {
        nn_dev_free(d, p);
        return NULL;
    }
    return p;
}

void nn_dev_free(nn_dev *d, void *p)
{
    if (!p)
        return;
    if (d == &host_dev)
        free(p);
    else
        NN_PLUGIN_VOID(&d->inst, "free", d->vt->free(d->inst.self, p));
}

int nn_dev_mem_live(nn_dev *d, int64_t *blocks, int64_t *bytes)
{
    *blocks = *bytes = 0;
    if (!d || d == &host_dev || !d->ops->mem_live)
        return -1;
    nn_crash_enter(&d->inst, "mem_live");
    int rc = d->ops->mem_live(d->inst.self, blocks, bytes);
    nn_crash_leave();
    return rc == NN_OK ? 0 : -1;
}

void *nn_dev_host_alloc(nn_dev *d, size_t bytes, nn_error *err)
{
    size_t n = round64(bytes ? bytes : 1);
    if (d == &host_dev || !d->ops->host_alloc || !d->ops->host_free) {
        void *p = aligned_alloc(NN_TENSOR_ALIGN, n);
        if (!p)
            nn_error_set(err, NN_ENOMEM, "out of memory for %zu bytes", bytes);
        return p;
    }
    nn_error berr = {0};
    nn_crash_enter(&d->inst, "host_alloc");
    void *p = d->ops->host_alloc(d->inst.self, n, &berr);
    nn_crash_leave();
    if (!p)
        nn_error_set(err, NN_ENOMEM, "device %s: cannot allocate %zu bytes of host memory: %s",
                     d->name, bytes, berr.msg);
    return p;
}

void nn_dev_host_free(nn_dev *d, void *p)
{
    if (!p)
        return;
    if (d == &host_dev || !d->ops->host_alloc || !d->ops->host_free)
        free(p);
    else
        NN_PLUGIN_VOID(&d->inst, "host_free", d->ops->host_free(d->inst.self, p));
}

/* calls a backend slot (marked for the crash report) and turns its failure into a message
 * naming the device */
#define BACKEND_CALL(d, err, what, call)                                                       \
    do {                                                                                       \
        nn_error be_ = {0};                                                                    \
        char buf_[96];                                                                         \
        const char *msg_;                                                                      \
        int rc_ = NN_PLUGIN_CALL(&(d)->inst, what, (call));                                    \
        if (rc_ == NN_OK)                                                                      \
            return NN_OK;                                                                      \
        rc_ = nn_plugin_failure(rc_, &be_, &msg_, buf_, sizeof buf_);                          \
        return nn_error_set(err, rc_, "device %s: %s: %s", (d)->name, what, msg_);             \
    } while (0)

int nn_dev_memset(nn_dev *d, void *p, int value, size_t bytes, nn_error *err)
{
    if (d == &host_dev) {
        memset(p, value, bytes);
        return NN_OK;
    }
    BACKEND_CALL(d, err, "memset", d->vt->memset(d->inst.self, p, value, bytes, &be_));
}

int nn_dev_copy(nn_dev *d, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                nn_error *err)
{
    if (d == &host_dev) {
        if (bytes)
            memcpy(dst, src, bytes);
        return NN_OK;
    }
    BACKEND_CALL(d, err, "copy", d->vt->copy(d->inst.self, dst, src, bytes, kind, &be_));
}

static char dummy_event;

void *nn_dev_event_new(nn_dev *d, nn_error *err)
{
    if (d == &host_dev || !d->vt->copy_async)
        return &dummy_event;
    nn_error berr = {0};
    nn_crash_enter(&d->inst, "event_new");
    void *ev = d->vt->event_new(d->inst.self, &berr);
    nn_crash_leave();
    if (!ev)
        nn_error_set(err, NN_ENOMEM, "device %s: cannot create an event: %s", d->name,
                     berr.msg);
    return ev;
}

int nn_dev_event_wait(nn_dev *d, void *ev, nn_error *err)
{
    if (d == &host_dev || !d->vt->copy_async || ev == &dummy_event || !ev)
        return NN_OK;
    BACKEND_CALL(d, err, "event_wait", d->vt->event_wait(d->inst.self, ev, &be_));
}

void nn_dev_event_free(nn_dev *d, void *ev)
{
    if (ev && ev != &dummy_event && d && d != &host_dev && d->vt->copy_async)
        NN_PLUGIN_VOID(&d->inst, "event_free", d->vt->event_free(d->inst.self, ev));
}

int nn_dev_copy_async(nn_dev *d, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                      void *ev, nn_error *err)
{
    if (d == &host_dev || !d->vt->copy_async)
        return nn_dev_copy(d, dst, src, bytes, kind, err);
    BACKEND_CALL(d, err, "copy_async",
                 d->vt->copy_async(d->inst.self, dst, src, bytes, kind,
                                   ev == &dummy_event ? NULL : ev, &be_));
}

int nn_dev_sync(nn_dev *d, nn_error *err)
{
    if (d == &host_dev)
        return NN_OK;
    BACKEND_CALL(d, err, "sync", d->vt->sync(d->inst.self, &be_));
}

static void *tensor_ptr(const nn_tensor *t)
{
    return (char *)t->dl.data + t->dl.byte_offset;
}

int nn_dev_upload(nn_dev *d, nn_tensor *dst, const nn_tensor *host_src, nn_error *err)
{
    return nn_dev_copy(d, tensor_ptr(dst), tensor_ptr(host_src), nn_tensor_nbytes(dst),
                       NN_COPY_HOST_TO_DEVICE, err);
}

int nn_dev_download(nn_dev *d, nn_tensor *host_dst, const nn_tensor *src, nn_error *err)
{
    return nn_dev_copy(d, tensor_ptr(host_dst), tensor_ptr(src), nn_tensor_nbytes(src),
                       NN_COPY_DEVICE_TO_HOST, err);
}

/* ---- device math: the backend's ops, or the same on the host ---- */

int nn_dev_add(nn_dev *d, nn_tensor *y, const nn_tensor *x, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "add", d->ops->add(d->inst.self, y, x, &be_));
    float *Y = NN_F32P(y);
    const float *X = NN_F32P(x);
    for (int64_t i = 0, n = nn_tensor_numel(y); i < n; i++)
        Y[i] += X[i];
    return NN_OK;
}

int nn_dev_scale(nn_dev *d, nn_tensor *x, float s, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "scale", d->ops->scale(d->inst.self, x, s, &be_));
    float *X = NN_F32P(x);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        X[i] *= s;
    return NN_OK;
}

int nn_dev_clamp(nn_dev *d, nn_tensor *x, float lo, float hi, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "clamp", d->ops->clamp(d->inst.self, x, lo, hi, &be_));
    float *X = NN_F32P(x);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        X[i] = X[i] < lo ? lo : (X[i] > hi ? hi : X[i]);
    return NN_OK;
}

int nn_dev_norm_acc(nn_dev *d, const nn_tensor *x, int inf, double *acc, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "norm_acc", d->ops->norm_acc(d->inst.self, x, inf, acc, &be_));
    const float *X = NN_F32P(x);
    double a = *acc;
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++) {
        double v = X[i];
        if (inf)
            a = (fabs(v) > a || isnan(v)) ? fabs(v) : a;
        else
            a += v * v;
    }
    *acc = a;
    return NN_OK;
}

int nn_dev_find_nonfinite(nn_dev *d, const nn_tensor *x, int64_t *index, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "find_nonfinite",
                     d->ops->find_nonfinite(d->inst.self, x, index, &be_));
    *index = -1;
    const float *X = NN_F32P(x);
    for (int64_t i = 0, n = nn_tensor_numel(x); i < n; i++)
        if (!isfinite(X[i])) {
            *index = i;
            break;
        }
    return NN_OK;
}

int nn_dev_count_correct(nn_dev *d, const nn_tensor *pred, const nn_tensor *target,
                         int64_t rows, int top_k, double *out, nn_error *err)
{
    if (d != &host_dev)
        BACKEND_CALL(d, err, "count_correct",
                     d->ops->count_correct(d->inst.self, pred, target, rows, top_k, out, &be_));
    int64_t C = pred->shape[1], correct = 0, in_top = 0;
    const float *P = NN_F32P(pred);
    int soft = nn_tensor_dtype(target) == NN_F32;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = P + r * C;
        int64_t t = soft ? nn_argmax_first(NN_F32P(target) + r * C, C) : NN_I32P(target)[r];
        if (t < 0 || t >= C)
            continue;
        correct += nn_argmax_first(row, C) == t;
        int64_t above = 0;
        for (int64_t c = 0; c < C; c++)
            above += row[c] > row[t];
        in_top += above < top_k;
    }
    out[0] = (double)correct;
    if (top_k > 0)
        out[1] = (double)in_top;
    return NN_OK;
}
