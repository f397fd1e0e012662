/* normalize.c: transform plugin computing (x - mean[c]) / std[c] per channel of an F32 sample
 * [C, ...], with mean/std given or fitted on the training split (and kept in checkpoints).
 * It runs on every split. apply() never allocates, never writes self, and is deterministic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/export.h>
#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct norm {
    int from_data;
    int ready;      /* mean/std hold usable values for c channels */
    int n_given;    /* 1 (broadcast) or C values from the parameters */
    double *given_mean, *given_std;
    int64_t c, inner; /* channels, elements per channel */
    double *mean, *std; /* c entries each, after setup */
    nn_tensor in;       /* the sample layout setup saw, for fit() */
} norm;

static void norm_destroy(void *self)
{
    norm *n = self;
    free(n->given_mean);
    free(n->given_std);
    free(n->mean);
    free(n->std);
    free(n);
}

static int norm_create(const nn_params *params, void **self, nn_error *err)
{
    int from_data = nn_params_bool(params, "from_data");
    int has_mean = nn_params_has(params, "mean"), has_std = nn_params_has(params, "std");
    if (from_data && (has_mean || has_std))
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': key 'from_data' = true computes the "
                            "statistics, so key '%s' must not be given", has_mean ? "mean" : "std");
    if (!from_data && !(has_mean && has_std))
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': key '%s' is missing: give both 'mean' and "
                            "'std', or set 'from_data = true'", has_mean ? "std" : "mean");
    int nm = 0, ns = 0;
    const double *m = has_mean ? nn_params_floats(params, "mean", &nm) : NULL;
    const double *s = has_std ? nn_params_floats(params, "std", &ns) : NULL;
    if (!from_data && nm != ns)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': key 'std' has %d values but key 'mean' has %d; "
                            "give one value per channel (or one for all) to both", ns, nm);
    norm *n = calloc(1, sizeof *n);
    if (!n)
        return nn_error_set(err, NN_ENOMEM, "normalize: out of memory");
    n->from_data = from_data;
    if (!from_data) {
        n->n_given = nm;
        n->given_mean = malloc((size_t)nm * sizeof(double));
        n->given_std = malloc((size_t)nm * sizeof(double));
        if (!n->given_mean || !n->given_std) {
            norm_destroy(n);
            return nn_error_set(err, NN_ENOMEM, "normalize: out of memory");
        }
        memcpy(n->given_mean, m, (size_t)nm * sizeof(double));
        memcpy(n->given_std, s, (size_t)nm * sizeof(double));
    }
    *self = n;
    return NN_OK;
}

static int norm_setup(void *self, nn_transform_setup *s, nn_error *err)
{
    norm *n = self;
    char sh[128];
    if (nn_tensor_dtype(s->in) != NN_F32 || s->in->dl.ndim < 1 || nn_tensor_numel(s->in) < 1)
        return nn_error_set(err, NN_ESHAPE,
                            "transform 'normalize' expects an F32 sample [C, ...], but the sample "
                            "is %s %s", tf_dtype_name(s->in), nn_shape_str(s->in, sh, sizeof sh));
    int64_t c = s->in->shape[0];
    if (!n->from_data && n->n_given != 1 && n->n_given != c)
        return nn_error_set(err, NN_ESHAPE,
                            "transform 'normalize': keys 'mean' and 'std' have %d values, but the "
                            "sample %s has %lld channels (give %lld values, or one for all)",
                            n->n_given, nn_shape_str(s->in, sh, sizeof sh), (long long)c,
                            (long long)c);
    double *mean = calloc((size_t)c, sizeof *mean), *std = calloc((size_t)c, sizeof *std);
    if (!mean || !std) {
        free(mean);
        free(std);
        return nn_error_set(err, NN_ENOMEM, "normalize: out of memory");
    }
    free(n->mean);
    free(n->std);
    n->mean = mean;
    n->std = std;
    n->c = c;
    n->inner = nn_tensor_numel(s->in) / c;
    n->in = *s->in;
    n->in.dl.shape = n->in.shape;
    n->in.dl.strides = n->in.strides;
    n->in.dl.data = NULL;
    n->in.name = NULL;
    n->ready = 0;
    if (!n->from_data) {
        for (int64_t i = 0; i < c; i++) {
            n->mean[i] = n->given_mean[n->n_given == 1 ? 0 : i];
            n->std[i] = n->given_std[n->n_given == 1 ? 0 : i];
        }
        n->ready = 1;
    }
    s->train_only = 0; /* evaluation and prediction must see the same scaling */
    return NN_OK;
}

/* Mean and population standard deviation of each channel over every element of every sample
 * (two passes over the data would double the decoding work, so sums are kept in double with
 * shifted data: each channel is offset by the first sample's mean for numerical stability). */
static int norm_fit(void *self, const nn_sample_source *src, nn_error *err)
{
    norm *n = self;
    if (!n->from_data)
        return NN_OK;
    if (!n->mean)
        return nn_error_set(err, NN_EINTERNAL, "transform 'normalize': fit() called before setup()");
    if (src->length < 1)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': from_data = true but the training split is "
                            "empty");
    size_t c = (size_t)n->c;
    double *acc = calloc(3 * c, sizeof *acc); /* shift, sum, sum of squares per channel */
    nn_tensor sample = n->in;
    sample.dl.shape = sample.shape;
    sample.dl.strides = sample.strides;
    sample.dl.data = calloc((size_t)(n->c * n->inner), sizeof(float));
    if (!acc || !sample.dl.data) {
        free(acc);
        free(sample.dl.data);
        return nn_error_set(err, NN_ENOMEM, "normalize: out of memory for fit()");
    }
    int rc = NN_OK;
    for (int64_t k = 0; k < src->length && rc == NN_OK; k++) {
        rc = src->get(src->ctx, k, &sample, err);
        if (rc) {
            nn_error_prefix(err, "transform 'normalize': fit() reading training sample %lld",
                            (long long)k);
            break;
        }
        if (nn_tensor_dtype(&sample) != NN_F32 || !nn_shape_equal(&sample, &n->in)) {
            char a[128], b[128];
            rc = nn_error_set(err, NN_ESHAPE,
                              "transform 'normalize': training sample %lld is %s %s, expected "
                              "F32 %s", (long long)k, tf_dtype_name(&sample),
                              nn_shape_str(&sample, a, sizeof a), nn_shape_str(&n->in, b, sizeof b));
            break;
        }
        const float *x = NN_F32P(&sample);
        for (size_t ch = 0; ch < c; ch++) {
            const float *p = x + ch * (size_t)n->inner;
            if (k == 0) {
                double s0 = 0;
                for (int64_t i = 0; i < n->inner; i++)
                    s0 += p[i];
                acc[3 * ch] = s0 / (double)n->inner;
            }
            double shift = acc[3 * ch], s1 = 0, s2 = 0;
            for (int64_t i = 0; i < n->inner; i++) {
                double d = (double)p[i] - shift;
                s1 += d;
                s2 += d * d;
            }
            acc[3 * ch + 1] += s1;
            acc[3 * ch + 2] += s2;
        }
    }
    if (rc == NN_OK) {
        double count = (double)src->length * (double)n->inner;
        for (size_t ch = 0; ch < c; ch++) {
            double m = acc[3 * ch + 1] / count;
            double var = acc[3 * ch + 2] / count - m * m;
            n->mean[ch] = acc[3 * ch] + m;
            /* a constant channel is only centred: dividing by 0 would make it NaN */
            n->std[ch] = var > 0 ? sqrt(var) : 1.0;
        }
        n->ready = 1;
    }
    free(acc);
    free(sample.dl.data);
    return rc;
}

static int norm_apply(void *self, const nn_tensor *in, nn_tensor *out, nn_rng *rng,
                      nn_error *err)
{
    (void)rng;
    const norm *n = self;
    if (!n->ready)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': from_data = true but neither fit() ran nor a "
                            "checkpoint's state was loaded");
    const float *x = NN_F32P(in);
    float *y = NN_F32P(out);
    for (int64_t c = 0; c < n->c; c++) {
        float m = (float)n->mean[c], inv = (float)(1.0 / n->std[c]);
        const float *p = x + c * n->inner;
        float *q = y + c * n->inner;
        for (int64_t i = 0; i < n->inner; i++)
            q[i] = (p[i] - m) * inv;
    }
    return NN_OK;
}

/* Text form: "mean=<v>,<v>,...\nstd=<v>,...\n" with 17 significant digits (round-trips a
 * double). Given (not fitted) statistics come from the model file, so nothing is saved. */
static int norm_state_save(void *self, char *buf, size_t cap, nn_error *err)
{
    const norm *n = self;
    if (!n->from_data)
        return 0;
    if (!n->ready)
        return nn_error_set(err, NN_EINVAL,
                            "transform 'normalize': no fitted statistics to save (fit() did not run)");
    size_t used = 0;
    for (int part = 0; part < 2; part++) {
        const double *v = part ? n->std : n->mean;
        for (int64_t c = 0; c < n->c; c++) {
            const char *pre = c ? "," : (part ? "std=" : "mean=");
            int k = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0,
                             "%s%.17g%s", pre, v[c], c + 1 == n->c ? "\n" : "");
            if (k < 0)
                return nn_error_set(err, NN_EINTERNAL, "normalize: formatting the state failed");
            used += (size_t)k;
        }
    }
    return (int)used;
}

static int parse_list(const char *text, const char *key, double *v, int64_t c, nn_error *err)
{
    size_t kl = strlen(key);
    const char *p = text;
    while (p && (strncmp(p, key, kl) != 0 || p[kl] != '=')) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return nn_error_set(err, NN_EFORMAT, "transform 'normalize': saved state has no '%s=' line",
                            key);
    p += kl + 1;
    for (int64_t i = 0; i < c; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p || !isfinite(v[i]))
            return nn_error_set(err, NN_EFORMAT,
                                "transform 'normalize': saved state '%s' value %lld is not a "
                                "finite number", key, (long long)(i + 1));
        p = end;
        char want = i + 1 == c ? '\n' : ',';
        if (*p != want && !(want == '\n' && *p == 0))
            return nn_error_set(err, NN_EFORMAT,
                                "transform 'normalize': saved state '%s' must have %lld values, one "
                                "per channel", key, (long long)c);
        p++;
    }
    return NN_OK;
}

static int norm_state_load(void *self, const char *text, nn_error *err)
{
    norm *n = self;
    if (!n->from_data) {
        if (text && *text)
            return nn_error_set(err, NN_EINVAL,
                                "transform 'normalize': the checkpoint holds fitted statistics but "
                                "key 'from_data' is false");
        return NN_OK;
    }
    if (!n->mean)
        return nn_error_set(err, NN_EINTERNAL,
                            "transform 'normalize': state_load() called before setup()");
    double *tmp = calloc(2 * (size_t)n->c, sizeof *tmp);
    if (!tmp)
        return nn_error_set(err, NN_ENOMEM, "normalize: out of memory");
    int rc = parse_list(text ? text : "", "mean", tmp, n->c, err);
    if (!rc)
        rc = parse_list(text, "std", tmp + n->c, n->c, err);
    for (int64_t c = 0; !rc && c < n->c; c++)
        if (!(tmp[n->c + c] > 0))
            rc = nn_error_set(err, NN_EFORMAT,
                              "transform 'normalize': saved state 'std' of channel %lld is %g, "
                              "expected > 0", (long long)c, tmp[n->c + c]);
    if (!rc) {
        memcpy(n->mean, tmp, (size_t)n->c * sizeof(double));
        memcpy(n->std, tmp + n->c, (size_t)n->c * sizeof(double));
        n->ready = 1;
    }
    free(tmp);
    return rc;
}

/* ONNX: (x - mean) * (1 / std) with the statistics as [C, 1, ...] constants broadcast over
 * [N, C, ...]: the same float operations as apply(), so the same bits */
static int norm_export(void *self, const nn_transform_export *x, nn_error *err)
{
    const norm *n = self;
    if (!n->ready)
        return nn_error_set(err, NN_EINVAL, "from_data = true but no statistics were fitted "
                            "or loaded from the checkpoint");
    int64_t shape[NN_MAX_DIMS];
    int nd = n->in.dl.ndim;
    shape[0] = n->c;
    for (int d = 1; d < nd; d++)
        shape[d] = 1;
    float *v = malloc(2 * (size_t)n->c * sizeof *v);
    if (!v)
        return nn_error_set(err, NN_ENOMEM, "normalize: out of memory");
    for (int64_t c = 0; c < n->c; c++) {
        v[c] = (float)n->mean[c];
        v[n->c + c] = (float)(1.0 / n->std[c]);
    }
    nn_export *g = x->out;
    const char *mean = nn_export_const_f32(g, "mean", nd, shape, v);
    const char *inv = nn_export_const_f32(g, "inv_std", nd, shape, v + n->c);
    const char *centred = nn_export_value(g, "centred");
    free(v);
    nn_export_op2(g, "Sub", x->input, mean, centred);
    nn_export_op2(g, "Mul", centred, inv, x->output);
    return nn_export_status(g, err);
}

static const nn_param_spec norm_params[] = {
    {.name = "mean", .type = NN_PARAM_FLOAT_LIST,
     .doc = "per-channel mean subtracted (one value per channel, or one for all); not with "
            "from_data"},
    {.name = "std", .type = NN_PARAM_FLOAT_LIST, .range = "(0, inf)",
     .doc = "per-channel standard deviation divided by (as many values as 'mean')"},
    {.name = "from_data", .type = NN_PARAM_BOOL, .def = "false",
     .doc = "compute each channel's mean and population std from the training split before "
            "training (a constant channel gets std 1); saved in checkpoints"},
    {0},
};

static const nn_transform_vtable norm_vtable = {
    .struct_size = sizeof(nn_transform_vtable),
    .create = norm_create,
    .destroy = norm_destroy,
    .setup = norm_setup,
    .fit = norm_fit,               /* optional: only does work with from_data */
    .apply = norm_apply,
    .state_save = norm_state_save, /* optional: the fitted statistics */
    .state_load = norm_state_load,
    .export_as = norm_export,      /* optional: ONNX */
};

static const nn_plugin_desc norm_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_TRANSFORM, .name = "normalize", .version = "1.0.0", .license = "MIT",
    .summary = "Per-channel (x - mean) / std of an F32 sample [C, ...], given or fitted on data",
    .caps = NN_CAP_THREAD_SAFE | NN_CAP_STATEFUL, .params = norm_params, .vtable = &norm_vtable);

NN_PLUGIN_EXPORT(&norm_desc);
