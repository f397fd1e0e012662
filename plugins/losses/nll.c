/* nll.c: the loss plugin "nll", negative log-likelihood from log-probabilities [N, C] (e.g. a
 * log_softmax output) and I32 class ids [N], with PyTorch's class weights, ignore_index and
 * weighted mean. A class id out of range is an error naming the sample. Never allocates in
 * forward. */
#include <nntrain/nntrain.h>
#include <stdlib.h>
#include <string.h>

typedef struct nll {
    int sum;           /* reduction: 0 mean, 1 sum */
    int64_t ignore_index;
    int n_weights;     /* 0: unweighted */
    double *weight;    /* [n_weights], owned */
    int64_t n, c;
} nll;

static int nll_create(const nn_params *params, void **self, nn_error *err)
{
    nll *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "nll: out of memory");
    l->sum = nn_params_enum(params, "reduction") == 1;
    l->ignore_index = nn_params_int(params, "ignore_index");
    if (nn_params_has(params, "weight")) {
        int n = 0;
        const double *w = nn_params_floats(params, "weight", &n);
        l->weight = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!l->weight) {
            free(l);
            return nn_error_set(err, NN_ENOMEM, "nll: out of memory");
        }
        memcpy(l->weight, w, sizeof(double) * (size_t)n);
        l->n_weights = n;
    }
    *self = l;
    return NN_OK;
}

static void nll_destroy(void *self)
{
    nll *l = self;
    free(l->weight);
    free(l);
}

static int nll_setup(void *self, nn_loss_setup *s, nn_error *err)
{
    nll *l = self;
    char ps[128], ts[128];
    const nn_tensor *p = s->pred, *t = s->target;
    nn_shape_str(p, ps, sizeof ps);
    nn_shape_str(t, ts, sizeof ts);
    if (nn_tensor_dtype(p) != NN_F32 || p->dl.ndim != 2)
        return nn_error_set(err, NN_ESHAPE,
                            "nll: predictions %s must be F32 log-probabilities [N, C]", ps);
    if (nn_tensor_dtype(t) != NN_I32 || t->dl.ndim != 1 || t->shape[0] != p->shape[0])
        return nn_error_set(err, NN_ESHAPE,
                            "nll: targets %s must be I32 class ids [N] for predictions %s", ts,
                            ps);
    l->n = p->shape[0];
    l->c = p->shape[1];
    if (l->n_weights && l->n_weights != l->c)
        return nn_error_set(err, NN_ESHAPE,
                            "nll: key 'weight' has %d values but predictions %s have %lld "
                            "classes",
                            l->n_weights, ps, (long long)l->c);
    return NN_OK;
}

/* loss_n = -w[y] x[n, y]; mean divides by sum_n w[y_n] over the samples not ignored */
static int nll_forward(void *self, nn_loss_io *io, nn_error *err)
{
    const nll *l = self;
    const float *x = NN_F32P(io->pred);
    const int32_t *y = NN_I32P(io->target);
    const double *w = l->n_weights ? l->weight : NULL;
    double denom = 0, total = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (y[i] == l->ignore_index)
            continue;
        if (y[i] < 0 || y[i] >= l->c)
            return nn_error_set(err, NN_EINVAL,
                                "nll: sample %lld has class id %d, outside [0, %lld) (and not "
                                "ignore_index %lld)",
                                (long long)i, (int)y[i], (long long)l->c,
                                (long long)l->ignore_index);
        double wy = w ? w[y[i]] : 1.0;
        denom += wy;
        total -= wy * x[i * l->c + y[i]];
    }
    /* every sample ignored (or weighted 0): loss 0 and no gradient rather than PyTorch's NaN */
    const double scale = l->sum ? 1.0 : (denom > 0 ? 1.0 / denom : 0.0);
    io->loss = total * scale;
    if (io->grad_pred) {
        float *g = NN_F32P(io->grad_pred);
        memset(g, 0, nn_tensor_nbytes(io->grad_pred));
        for (int64_t i = 0; i < l->n; i++)
            if (y[i] != l->ignore_index)
                g[i * l->c + y[i]] = (float)(-(w ? w[y[i]] : 1.0) * scale);
    }
    return NN_OK;
}

static const nn_loss_vtable nll_vtable = {
    .struct_size = sizeof(nn_loss_vtable),
    .create = nll_create,
    .destroy = nll_destroy,
    .setup = nll_setup,
    .forward = nll_forward,
};

static const nn_param_spec nll_params[] = {
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",
     .doc = "mean: sum over samples divided by the summed weights of their classes (the count "
            "without weights); sum: plain sum"},
    {.name = "weight", .type = NN_PARAM_FLOAT_LIST, .range = "[0, inf)",
     .doc = "optional weight of each class, C values, e.g. \"1, 2.5, 1\"; unset = all 1"},
    {.name = "ignore_index", .type = NN_PARAM_INT, .def = "-100",
     .doc = "a target value that contributes neither loss nor gradient (e.g. padding)"},
    {.name = NULL},
};

static const nn_plugin_desc nll_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOSS, .name = "nll", .version = "1.0.0", .license = "MIT",
    .summary = "Negative log-likelihood from log-probabilities [N, C] and class ids [N]",
    .params = nll_params, .vtable = &nll_vtable);

NN_PLUGIN_EXPORT(&nll_desc);
