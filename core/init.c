/* init.c: parameter initialisation schemes (he, xavier, fan-in uniform, ...) from counter-based
 * random streams, so a parameter's initial values depend only on (seed, its name). */
#include <math.h>
#include <stdio.h>

#include "graph.h"
#include "nntrain/rng.h"

static const char *const init_names[] = {
    "zeros", "ones", "he_uniform", "he_normal", "xavier_uniform", "xavier_normal",
    "fan_in_uniform", "normal", "uniform", "constant",
};

const char *nn_init_name(nn_init init)
{
    return (unsigned)init < sizeof init_names / sizeof *init_names ? init_names[init] : NULL;
}

void nn_init_names(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof init_names / sizeof *init_names && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s (%zu)", i ? ", " : "",
                                 init_names[i], i);
}

void nn_init_tensor(nn_tensor *t, nn_init init, double arg, int64_t fan_in, int64_t fan_out,
                    uint64_t seed, uint64_t stream)
{
    int64_t n = nn_tensor_numel(t);
    float *x = NN_F32P(t);
    nn_rng r;
    nn_rng_init(&r, seed, stream, 0x1217, 0);
    double fi = fan_in > 0 ? (double)fan_in : 1.0, fo = fan_out > 0 ? (double)fan_out : 1.0;
    double bound = 0, std = 0;
    int uniform = 1;
    switch (init) {
    case NN_INIT_ZEROS:
    case NN_INIT_ONES:
    case NN_INIT_CONSTANT: {
        const float c = init == NN_INIT_CONSTANT ? (float)arg : (float)(init == NN_INIT_ONES);
        for (int64_t i = 0; i < n; i++)
            x[i] = c;
        return;
    }
    case NN_INIT_HE_UNIFORM: bound = sqrt(6.0 / fi); break;
    case NN_INIT_HE_NORMAL: std = sqrt(2.0 / fi); uniform = 0; break;
    case NN_INIT_XAVIER_UNIFORM: bound = sqrt(6.0 / (fi + fo)); break;
    case NN_INIT_XAVIER_NORMAL: std = sqrt(2.0 / (fi + fo)); uniform = 0; break;
    case NN_INIT_FAN_IN_UNIFORM: bound = 1.0 / sqrt(fi); break;
    case NN_INIT_NORMAL: std = arg; uniform = 0; break;
    case NN_INIT_UNIFORM: bound = arg; break;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = uniform ? (float)((2.0 * nn_rng_uniform(&r) - 1.0) * bound)
                       : (float)(nn_rng_normal(&r) * std);
}
