/* tensorboard.c: the `tensorboard` logger: TensorBoard event files (TFRecord framing with
 * masked CRC32C; Event/Summary/HistogramProto encoded by hand) with per-step and per-epoch
 * scalars and parameter/gradient histograms. Buffers records; never writes a partial one. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

#include "logger_util.h"
#include "nn_pb.h"

#define WHO "logger 'tensorboard'"
#define MAX_BUFFERED_BYTES (1u << 20)

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses ---- */
static uint32_t crc_table[256];

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* TFRecord's mask: rotate right by 15 and add a constant, so CRCs of CRCs stay useful */
static uint32_t masked_crc(const void *data, size_t n)
{
    uint32_t c = crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* a singular proto3 double: +0.0 is the default and is not written, as protobuf does */
static void pb_double_field(nn_pb_buf *b, int field, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    if (u)
        nn_pb_double(b, field, v);
}

/* Field numbers of tensorflow/core/util/event.proto and framework/summary.proto */
enum {
    EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5,
    SUMMARY_VALUE = 1,
    VALUE_TAG = 1, VALUE_SIMPLE = 2, VALUE_HISTO = 5,
    HISTO_MIN = 1, HISTO_MAX = 2, HISTO_NUM = 3, HISTO_SUM = 4, HISTO_SUM_SQUARES = 5,
    HISTO_BUCKET_LIMIT = 6, HISTO_BUCKET = 7,
};

typedef struct tb {
    char *dir_key;
    int64_t histogram_every;
    char *dir, *path;
    FILE *f;
    nn_pb_buf out;                  /* framed records waiting to be written */
    nn_pb_buf event, summary, value; /* scratch for nested messages */
    double *limits, *counts;     /* default histogram buckets */
    int n_limits;
    double *compact_limits, *compact_counts;
} tb;

static int file_counter; /* the <n> of file names: distinct files within one process */

/* TensorFlow's default histogram buckets (histogram.cc, InitDefaultBucketsInner):
 * -DBL_MAX, -v_k .. -1e-12, 0, 1e-12 .. v_k, DBL_MAX with v growing by 1.1 below 1e20.
 * bucket i counts values in [limit[i-1], limit[i]). */
static int make_buckets(tb *t)
{
    int n = 0;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1)
        n++;
    t->n_limits = 2 * (n + 1) + 1;
    t->limits = malloc((size_t)t->n_limits * sizeof *t->limits);
    t->counts = malloc((size_t)t->n_limits * sizeof *t->counts);
    t->compact_limits = malloc((size_t)t->n_limits * sizeof *t->limits);
    t->compact_counts = malloc((size_t)t->n_limits * sizeof *t->counts);
    if (!t->limits || !t->counts || !t->compact_limits || !t->compact_counts)
        return -1;
    int mid = n + 1; /* index of 0 */
    t->limits[mid] = 0.0;
    int i = 0;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1, i++) {
        t->limits[mid + 1 + i] = v;
        t->limits[mid - 1 - i] = -v;
    }
    t->limits[t->n_limits - 1] = DBL_MAX;
    t->limits[0] = -DBL_MAX;
    return 0;
}

static void tb_destroy(void *self)
{
    tb *t = self;
    if (t->f)
        fclose(t->f);
    free(t->dir_key);
    free(t->dir);
    free(t->path);
    nn_pb_free(&t->out);
    nn_pb_free(&t->event);
    nn_pb_free(&t->summary);
    nn_pb_free(&t->value);
    free(t->limits);
    free(t->counts);
    free(t->compact_limits);
    free(t->compact_counts);
    free(t);
}

static int tb_create(const nn_params *params, void **self, nn_error *err)
{
    tb *t = calloc(1, sizeof *t);
    if (!t)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    t->dir_key = strdup(nn_params_str(params, "dir"));
    t->histogram_every = nn_params_int(params, "histogram_every");
    if (!t->dir_key || make_buckets(t) != 0) {
        tb_destroy(t);
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    }
    crc32c_init();
    *self = t;
    return NN_OK;
}

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Frames t->event as one TFRecord: uint64 length, masked CRC of the length bytes, data,
 * masked CRC of the data (all little-endian). */
static void frame_event(tb *t)
{
    uint8_t len[8];
    uint64_t n = t->event.len;
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    if (t->event.oom)
        t->out.oom = 1; /* the record is incomplete: write_out reports it lost */
    nn_pb_raw(&t->out, len, 8);
    nn_pb_le(&t->out, masked_crc(len, 8), 4);
    nn_pb_raw(&t->out, t->event.p, t->event.len);
    nn_pb_le(&t->out, masked_crc(t->event.p, t->event.len), 4);
}

/* Starts an Event {wall_time, step}; values are then added to t->summary. */
static void begin_event(tb *t)
{
    nn_pb_reset(&t->summary);
}

static void add_scalar(tb *t, const char *prefix, const char *name, double v)
{
    char tag[256];
    snprintf(tag, sizeof tag, "%s%s", prefix, name);
    nn_pb_reset(&t->value);
    nn_pb_bytes(&t->value, VALUE_TAG, tag, strlen(tag));
    nn_pb_float(&t->value, VALUE_SIMPLE, (float)v);
    nn_pb_message(&t->summary, SUMMARY_VALUE, &t->value);
}

static void end_event(tb *t, int64_t step)
{
    if (!t->summary.len)
        return;
    nn_pb_reset(&t->event);
    nn_pb_double(&t->event, EVENT_WALL_TIME, wall_time());
    if (step)
        nn_pb_int64(&t->event, EVENT_STEP, step);
    nn_pb_message(&t->event, EVENT_SUMMARY, &t->summary);
    frame_event(t);
}

static int write_out(tb *t, nn_error *err)
{
    if (!t->f || !t->out.len)
        return NN_OK;
    int rc = NN_OK;
    if (t->out.oom)
        rc = nn_error_set(err, NN_ENOMEM, WHO ": out of memory; records for '%s' were lost",
                          t->path);
    else if (fwrite(t->out.p, 1, t->out.len, t->f) != t->out.len || fflush(t->f) != 0)
        rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", t->path, strerror(errno));
    nn_pb_reset(&t->out);
    return rc;
}

static int tb_open(void *self, const nn_logger_open *o, nn_error *err)
{
    tb *t = self;
    free(t->dir);
    free(t->path);
    t->path = NULL;
    int rc = lg_run_path(o->run_dir, t->dir_key, WHO, &t->dir, err);
    if (rc != NN_OK)
        return rc;
    rc = lg_mkdirs(t->dir, WHO, err);
    if (rc != NN_OK)
        return rc;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    size_t cap = strlen(t->dir) + strlen(host) + 96;
    t->path = malloc(cap);
    if (!t->path)
        return nn_error_set(err, NN_ENOMEM, WHO ": out of memory");
    snprintf(t->path, cap, "%s/events.out.tfevents.%lld.%s.%ld.%d", t->dir,
             (long long)time(NULL), host, (long)getpid(), file_counter++);
    t->f = fopen(t->path, "wb");
    if (!t->f)
        return nn_error_set(err, NN_EIO, WHO ": cannot create '%s': %s", t->path,
                            strerror(errno));
    /* the first record names the format: Event {wall_time, file_version} */
    nn_pb_reset(&t->event);
    nn_pb_double(&t->event, EVENT_WALL_TIME, wall_time());
    nn_pb_bytes(&t->event, EVENT_FILE_VERSION, "brain.Event:2", 13);
    frame_event(t);
    return write_out(t, err);
}

/* value of element i (row-major order over the shape) as a double; 0 = unsupported dtype */
static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

static int tensor_readable(const nn_tensor *x)
{
    if (!x || !x->dl.data || x->dl.device.device_type != kDLCPU)
        return 0;
    int dt = nn_tensor_dtype(x);
    return dt == NN_F32 || dt == NN_F64 || dt == NN_F16 || dt == NN_BF16;
}

static double element(const nn_tensor *x, int dt, int64_t off)
{
    const char *base = (const char *)x->dl.data + x->dl.byte_offset;
    switch (dt) {
    case NN_F32: return ((const float *)base)[off];
    case NN_F64: return ((const double *)base)[off];
    case NN_F16: return half_to_double(((const uint16_t *)base)[off]);
    default: {
        uint32_t u = (uint32_t)((const uint16_t *)base)[off] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    }
}

/* Adds a HistogramProto of x's finite values (non-finite ones are left out) as tag. */
static void add_histogram(tb *t, const char *tag, const nn_tensor *x)
{
    int dt = nn_tensor_dtype(x), nd = x->dl.ndim;
    int64_t numel = nn_tensor_numel(x), idx[NN_MAX_DIMS] = {0};
    const int64_t *strides = x->dl.strides ? x->dl.strides : x->strides;
    memset(t->counts, 0, (size_t)t->n_limits * sizeof *t->counts);
    double mn = DBL_MAX, mx = -DBL_MAX, num = 0, sum = 0, sumsq = 0;
    for (int64_t i = 0; i < numel; i++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++)
            off += idx[d] * strides[d];
        for (int d = nd - 1; d >= 0; d--) { /* next multi-index */
            if (++idx[d] < x->dl.shape[d])
                break;
            idx[d] = 0;
        }
        double v = element(x, dt, off);
        if (!isfinite(v))
            continue;
        /* upper_bound: the first limit > v */
        int lo = 0, hi = t->n_limits - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (t->limits[mid] > v)
                hi = mid;
            else
                lo = mid + 1;
        }
        t->counts[lo] += 1;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        num += 1;
        sum += v;
        sumsq += v * v;
    }
    if (num == 0)
        mn = mx = 0;
    /* runs of empty buckets merge into one (TensorFlow's EncodeToProto without
     * preserve_zero_buckets): each kept limit is the right edge of what it counts */
    int nc = 0;
    for (int i = 0; i < t->n_limits;) {
        double end = t->limits[i], count = t->counts[i];
        int j = i + 1;
        while (count <= 0 && j < t->n_limits && t->counts[j] <= 0) {
            end = t->limits[j];
            count = t->counts[j];
            j++;
        }
        t->compact_limits[nc] = end;
        t->compact_counts[nc++] = count;
        i = j;
    }
    nn_pb_buf h = {0};
    pb_double_field(&h, HISTO_MIN, mn);
    pb_double_field(&h, HISTO_MAX, mx);
    pb_double_field(&h, HISTO_NUM, num);
    pb_double_field(&h, HISTO_SUM, sum);
    pb_double_field(&h, HISTO_SUM_SQUARES, sumsq);
    nn_pb_packed_doubles(&h, HISTO_BUCKET_LIMIT, t->compact_limits, (size_t)nc);
    nn_pb_packed_doubles(&h, HISTO_BUCKET, t->compact_counts, (size_t)nc);
    nn_pb_reset(&t->value);
    nn_pb_bytes(&t->value, VALUE_TAG, tag, strlen(tag));
    nn_pb_message(&t->value, VALUE_HISTO, &h);
    nn_pb_message(&t->summary, SUMMARY_VALUE, &t->value);
    if (h.oom)
        t->out.oom = 1;
    nn_pb_free(&h);
}

static void histograms(tb *t, const nn_event *ev)
{
    for (int i = 0; i < ev->n_params; i++) {
        for (int g = 0; g < 2; g++) {
            const nn_tensor *x = g ? (ev->grads ? ev->grads[i] : NULL)
                                   : (ev->params ? ev->params[i] : NULL);
            if (!tensor_readable(x))
                continue;
            const nn_tensor *named = ev->params && ev->params[i] ? ev->params[i] : x;
            char tag[256], num[24];
            snprintf(num, sizeof num, "param%d", i);
            snprintf(tag, sizeof tag, "%s/%s", g ? "grads" : "params",
                     named->name ? named->name : num);
            begin_event(t);
            add_histogram(t, tag, x);
            end_event(t, ev->global_step);
        }
    }
}

static void metric_scalars(tb *t, const char *prefix, const nn_event *ev)
{
    for (int i = 0; i < ev->n_metrics; i++)
        if (ev->metrics[i].name)
            add_scalar(t, prefix, ev->metrics[i].name, ev->metrics[i].value);
}

static int tb_event(void *self, const nn_event *ev, nn_error *err)
{
    tb *t = self;
    if (!t->f)
        return NN_OK;
    switch (ev->kind) {
    case NN_EV_BATCH_END:
        begin_event(t);
        metric_scalars(t, "batch/", ev);
        add_scalar(t, "batch/", "lr", ev->lr);
        if (!isnan(ev->grad_norm))
            add_scalar(t, "batch/", "grad_norm", ev->grad_norm);
        end_event(t, ev->global_step);
        if (t->out.len >= MAX_BUFFERED_BYTES)
            return write_out(t, err);
        return NN_OK;
    case NN_EV_EPOCH_END:
        begin_event(t);
        metric_scalars(t, "epoch/", ev);
        end_event(t, ev->global_step);
        if (t->histogram_every > 0 && (ev->epoch + 1) % t->histogram_every == 0)
            histograms(t, ev);
        return write_out(t, err);
    case NN_EV_VALIDATION_END:
        begin_event(t);
        metric_scalars(t, "epoch/", ev);
        end_event(t, ev->global_step);
        return write_out(t, err);
    case NN_EV_EVAL_END: /* message holds the split: test, or val (`nntrain eval --split val`) */
        begin_event(t);
        metric_scalars(t, ev->message && strcmp(ev->message, "val") == 0 ? "eval_val/" : "eval/",
                       ev);
        end_event(t, ev->global_step);
        return write_out(t, err);
    case NN_EV_TRAIN_END:
        return write_out(t, err);
    default:
        return NN_OK;
    }
}

static int tb_flush(void *self, nn_error *err)
{
    return write_out(self, err);
}

static int tb_close(void *self, nn_error *err)
{
    tb *t = self;
    if (!t->f)
        return NN_OK;
    int rc = write_out(t, err);
    if (fclose(t->f) != 0 && rc == NN_OK)
        rc = nn_error_set(err, NN_EIO, WHO ": cannot write '%s': %s", t->path, strerror(errno));
    t->f = NULL;
    return rc;
}

static const nn_param_spec tb_params[] = {
    {.name = "dir", .type = NN_PARAM_STRING, .def = "tb",
     .doc = "directory of the event file, relative to the run directory (created if missing); "
            "point `tensorboard --logdir` at it. Tags: batch/<metric>, batch/lr, "
            "batch/grad_norm every optimizer step (batch/loss and batch/accuracy are that "
            "step's own, over its whole batch, not running epoch figures); epoch/<metric> "
            "(loss, accuracy, val_loss, ...) every epoch; params/<name> and grads/<name> "
            "histograms; `nntrain eval`: eval/<metric> (loss, accuracy, topK) for the test "
            "split and eval_val/<metric> for `--split val`, at the checkpoint's step; x axis = "
            "global step"},
    {.name = "histogram_every", .type = NN_PARAM_INT, .def = "1", .range = "[0, inf)",
     .doc = "write parameter and gradient histograms every N epochs (TensorFlow's default "
            "buckets; non-finite values left out); 0 = never"},
    {.name = NULL},
};

static const nn_logger_vtable tb_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = tb_create,
    .destroy = tb_destroy,
    .open = tb_open,
    .event = tb_event,
    .flush = tb_flush, /* optional */
    .close = tb_close, /* optional */
};

static const nn_plugin_desc tb_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "tensorboard", .version = "1.0.0", .license = "MIT",
    .summary = "TensorBoard event files: step and epoch scalars, parameter/gradient histograms",
    .params = tb_params, .vtable = &tb_vtable);

NN_PLUGIN_EXPORT(&tb_desc);
