/* nn_class_loss.c: the parameters, shape checks and target checks of the classification
 * losses. A class id out of range or a probability that is negative or not finite is an error
 * naming the sample, never a silent read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_class_loss.h"

static const nn_test_case class_cases[] = {
    {.inputs = "5x4 f32 [-2, 2]", .target = "5 i32"},
    {.params = "weight=0.5,2,1; reduction=sum", .inputs = "4x3 f32 [-3, 3]",
     .target = "4 i32 [0, 3)"},
    {.params = "ignore_index=1", .inputs = "6x3", .target = "6 i32"},
    {.params = "weight=0.5,2,1,3", .inputs = "5x4 f32 [-2, 2]", .target = "5x4 f32 [0, 1]"},
};

const nn_test_spec nn_class_loss_test = {
    .struct_size = sizeof(nn_test_spec),
    .n_cases = (int)(sizeof class_cases / sizeof *class_cases),
    .cases = class_cases,
};

int nn_class_loss_init(nn_class_loss *l, const char *name, const nn_params *p, nn_error *err)
{
    memset(l, 0, sizeof *l);
    l->name = name;
    l->sum = nn_params_enum(p, "reduction") == 1;
    l->ignore_index = nn_params_int(p, "ignore_index");
    if (nn_params_has(p, "weight")) {
        int n = 0;
        const double *w = nn_params_floats(p, "weight", &n);
        l->weight = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!l->weight)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory", name);
        memcpy(l->weight, w, sizeof(double) * (size_t)n);
        l->n_weights = n;
    }
    return NN_OK;
}

void nn_class_loss_free(nn_class_loss *l)
{
    free(l->weight);
    l->weight = NULL;
}

int nn_class_loss_setup(nn_class_loss *l, nn_loss_setup *s, const char *what, nn_error *err)
{
    s->reduction = l->sum ? NN_LOSS_SUM : NN_LOSS_MEAN;
    char ps[128], ts[128];
    const nn_tensor *p = s->pred, *t = s->target;
    nn_shape_str(p, ps, sizeof ps);
    nn_shape_str(t, ts, sizeof ts);
    if (nn_tensor_dtype(p) != NN_F32 || p->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE, "%s: predictions %s must be F32 %s [N, C]", l->name,
                            ps, what);
    l->soft = nn_tensor_dtype(t) == NN_F32 && t->dl.ndim == 2 && nn_shape_equal(t, p);
    if (!l->soft &&
        (nn_tensor_dtype(t) != NN_I32 || t->dl.ndim != 1 || t->shape[0] != p->shape[0]))
        return nn_error_set(err, NN_ESHAPE, "%s: targets %s must be I32 class ids [N] or F32 "
                            "probabilities [N, C] for predictions %s", l->name, ts, ps);
    if (l->soft && l->ignore_index != -100)
        return nn_error_set(err, NN_EINVAL, "%s: key 'ignore_index' = %lld applies to class "
                            "ids, but the targets %s are probabilities (mixup and cutmix make "
                            "them); PyTorch refuses it too: leave it unset", l->name,
                            (long long)l->ignore_index, ts);
    l->n = p->shape[0];
    l->c = p->shape[1];
    if (l->n_weights && l->n_weights != l->c)
        return nn_error_set(err, NN_ESHAPE,
                            "%s: key 'weight' has %d values but predictions %s have %lld classes",
                            l->name, l->n_weights, ps, (long long)l->c);
    l->weight_sum = 0;
    for (int64_t k = 0; k < l->c; k++)
        l->weight_sum += nn_class_loss_w(l, k);
    return NN_OK;
}

int nn_class_loss_scale(const nn_class_loss *l, const int32_t *y, double *scale, nn_error *err)
{
    double denom = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (y[i] == l->ignore_index)
            continue;
        if (y[i] < 0 || y[i] >= l->c)
            return nn_error_set(err, NN_EINVAL,
                                "%s: sample %lld has class id %d, outside [0, %lld) (and not "
                                "ignore_index %lld)",
                                l->name, (long long)i, (int)y[i], (long long)l->c,
                                (long long)l->ignore_index);
        denom += nn_class_loss_w(l, y[i]);
    }
    *scale = l->sum ? 1.0 : (denom > 0 ? 1.0 / denom : 0.0);
    return NN_OK;
}

int nn_class_loss_soft_scale(const nn_class_loss *l, const float *t, double *scale,
                             nn_error *err)
{
    for (int64_t i = 0; i < l->n * l->c; i++)
        if (!(t[i] >= 0) || !isfinite(t[i]))
            return nn_error_set(err, NN_EINVAL, "%s: sample %lld has probability %g for class "
                                "%lld; probability targets must be finite and >= 0", l->name,
                                (long long)(i / l->c), (double)t[i], (long long)(i % l->c));
    *scale = l->sum ? 1.0 : (l->n > 0 ? 1.0 / (double)l->n : 0.0);
    return NN_OK;
}
