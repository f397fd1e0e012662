/* tf_mix.h: what the batch transforms mixup and cutmix share: their keys (alpha, p,
 * label_smoothing), the target checks at setup (class ids with the number of classes known, or
 * F32 targets), the Beta(alpha, alpha) draw, and mixing each row's target with the one of the
 * row before it (torchvision's roll by one). Static inline only: no exported symbol, no state. */
#ifndef NN_TF_MIX_H
#define NN_TF_MIX_H

#include <math.h>
#include <string.h>

#include <nntrain/transform.h>

#include "tf_common.h"

typedef struct tf_mix {
    const char *who;       /* the plugin, for messages */
    double alpha, p, smoothing;
    int ids;               /* targets in are I32 class ids (else F32, mixed as they are) */
    int64_t width;         /* floats in one target out */
    int64_t classes;       /* C for label smoothing; 0 when the targets are not classes */
    int64_t sample_numel;  /* floats in one sample */
} tf_mix;

#define TF_MIX_PARAMS(p_doc)                                                                \
    {.name = "alpha", .type = NN_PARAM_FLOAT, .def = "1.0", .range = "(0, inf)",          \
     .doc = "lambda is drawn from Beta(alpha, alpha) once per batch; small alpha keeps most " \
            "pairs close to one of the two samples"},                                       \
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1]", .doc = p_doc},   \
    {.name = "label_smoothing", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",      \
     .doc = "mixes the mixed targets with the uniform distribution, (1 - e) t + e / C, as "  \
            "cross_entropy's label_smoothing does (on training batches only; the loss's " \
            "label_smoothing must then stay 0); class targets only"}

static inline void tf_mix_init(tf_mix *m, const char *who, const nn_params *params)
{
    memset(m, 0, sizeof *m);
    m->who = who;
    m->alpha = nn_params_float(params, "alpha");
    m->p = nn_params_float(params, "p");
    m->smoothing = nn_params_float(params, "label_smoothing");
}

/* Checks the sample (F32) and the targets: I32 class ids with n_classes known become F32 [C]
 * probabilities; F32 targets (probabilities from an earlier batch transform, regression values)
 * keep their shape. Asks for one sample of scratch (the row the roll overwrites first). */
static inline int tf_mix_setup(tf_mix *m, nn_transform_setup *s, nn_error *err)
{
    char sh[128];
    if (!s->target || !s->target_out) /* a host older than ABI 0.5 leaves them NULL */
        return nn_error_set(err, NN_EINVAL, "transform '%s' is a batch transform: it needs "
                            "nntrain 0.5 or newer, which runs it on whole training batches",
                            m->who);
    if (nn_tensor_dtype(s->in) != NN_F32)
        return nn_error_set(err, NN_ESHAPE, "transform '%s' mixes F32 samples, but the sample "
                            "is %s %s", m->who, tf_dtype_name(s->in),
                            nn_shape_str(s->in, sh, sizeof sh));
    const nn_tensor *t = s->target;
    m->ids = nn_tensor_dtype(t) == NN_I32 && t->dl.ndim == 0 && s->n_classes > 0;
    if (!m->ids && (nn_tensor_dtype(t) != NN_F32 || nn_tensor_numel(t) < 1))
        return nn_error_set(err, NN_ESHAPE, "transform '%s' needs I32 class ids from a dataset "
                            "that knows its number of classes, or F32 targets, but the target "
                            "is %s %s with %lld classes", m->who, tf_dtype_name(t),
                            nn_shape_str(t, sh, sizeof sh), (long long)s->n_classes);
    if (m->ids)
        m->classes = m->width = (int64_t)s->n_classes;
    else
        m->width = nn_tensor_numel(t);
    if (!m->ids && t->dl.ndim == 1 && t->shape[0] == s->n_classes)
        m->classes = t->shape[0]; /* probabilities over the dataset's classes */
    if (m->smoothing > 0 && !m->classes)
        return nn_error_set(err, NN_EINVAL, "transform '%s': key 'label_smoothing' needs class "
                            "targets (I32 class ids, or F32 [C] over the dataset's C classes), "
                            "but the target is %s %s with %lld classes", m->who,
                            tf_dtype_name(t), nn_shape_str(t, sh, sizeof sh),
                            (long long)s->n_classes);
    m->sample_numel = nn_tensor_numel(s->in);
    if (m->ids)
        nn_tensor_describe(s->target_out, NN_F32, 1, &m->classes);
    else
        nn_tensor_describe(s->target_out, NN_F32, t->dl.ndim, t->shape);
    s->batch_scratch = (size_t)m->sample_numel * sizeof(float);
    return NN_OK;
}

/* log of a Gamma(a, 1) draw (Marsaglia and Tsang; a < 1 through Gamma(a + 1) U^(1/a), in logs
 * so that a tiny a cannot underflow to 0). Draws: per try one normal, then one uniform; for
 * a < 1 one more uniform at the end. */
static inline double tf_log_gamma_draw(nn_rng *r, double a)
{
    double boost = 0;
    int small = a < 1;
    if (small)
        a += 1;
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    double v;
    for (;;) {
        double x = nn_rng_normal(r);
        v = 1 + c * x;
        if (v <= 0) {
            (void)nn_rng_uniform(r); /* every try draws a normal and a uniform */
            continue;
        }
        v = v * v * v;
        double u = 1 - nn_rng_uniform(r); /* (0, 1] */
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            break;
    }
    if (small)
        boost = log(1 - nn_rng_uniform(r)) / (a - 1);
    return log(d * v) + boost;
}

/* lambda ~ Beta(a, a) = X / (X + Y) with X, Y ~ Gamma(a), X drawn first */
static inline double tf_beta_draw(nn_rng *r, double a)
{
    double lx = tf_log_gamma_draw(r, a), ly = tf_log_gamma_draw(r, a);
    return 1.0 / (1.0 + exp(ly - lx));
}

/* every class id is in [0, C); otherwise an error naming the sample */
static inline int tf_mix_check_ids(const tf_mix *m, const nn_transform_batch *b, nn_error *err)
{
    const int32_t *y = NN_I32P(b->target);
    for (int64_t i = 0; i < b->rows; i++)
        if (y[i] < 0 || y[i] >= m->classes)
            return nn_error_set(err, NN_EINVAL, "transform '%s': sample %lld (row %lld of the "
                                "batch) has class id %d, outside [0, %lld)", m->who,
                                (long long)(b->indices ? b->indices[i] : i), (long long)i,
                                (int)y[i], (long long)m->classes);
    return NN_OK;
}

/* element k of row i's target: its one-hot probability, or its F32 value */
static inline double tf_mix_at(const tf_mix *m, const nn_transform_batch *b, int64_t i,
                               int64_t k)
{
    return m->ids ? NN_I32P(b->target)[i] == k : NN_F32P(b->target)[i * m->width + k];
}

/* target_out[i] = lam t[i] + (1 - lam) t[i - 1], the row before row 0 being the last
 * (torchvision's roll by one), then (1 - e) . + e / C with label smoothing; lam = 1 keeps each
 * row's own target */
static inline int tf_mix_targets(const tf_mix *m, const nn_transform_batch *b, double lam,
                                 nn_error *err)
{
    const int64_t n = b->rows, w = m->width;
    const double e = m->smoothing, u = m->classes ? e / (double)m->classes : 0;
    int rc = m->ids ? tf_mix_check_ids(m, b, err) : NN_OK;
    if (rc)
        return rc;
    float *out = NN_F32P(b->target_out);
    for (int64_t i = 0; i < n; i++) {
        const int64_t j = i ? i - 1 : n - 1;
        for (int64_t k = 0; k < w; k++)
            out[i * w + k] = (float)((1 - e) * (lam * tf_mix_at(m, b, i, k) +
                                                (1 - lam) * tf_mix_at(m, b, j, k)) + u);
    }
    return NN_OK;
}

#endif
