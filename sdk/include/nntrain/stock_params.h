/* nntrain/stock_params.h: the keys of the stock layers, losses and optimizers, as
 * initialiser lists for an nn_param_spec array. The CPU plugins, the sim pack and the CUDA
 * pack all declare their schemas from here, so that a model file means the same on every
 * device; a backend pack implementing a stock op should do the same (`nntrain devices test`
 * compares a pack's schema with the CPU plugin's key by key). Each macro expands to entries
 * only: end the array yourself, e.g.
 *     static const nn_param_spec dense_params[] = {NN_STOCK_DENSE_PARAMS, {.name = NULL}};
 * Header-only (macros and two inline readers), ABI 0.5. Changing a key here changes every
 * device's plugin at once. */
#ifndef NNTRAIN_STOCK_PARAMS_H
#define NNTRAIN_STOCK_PARAMS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/params.h>
#include <nntrain/status.h>

/* ---- shared pieces ----------------------------------------------------------------------- */

#define NN_STOCK_ACT_CHOICES "none|relu|tanh|sigmoid|gelu"
#define NN_STOCK_ACT_DOC                                                                   \
    "activation applied to the output, fused into the layer's kernel where the device " \
    "allows it; gelu is the exact erf form, as PyTorch's nn.GELU()"
#define NN_STOCK_WEIGHT_INIT_CHOICES "torch|he_uniform|he_normal|xavier_uniform|xavier_normal"
#define NN_STOCK_WEIGHT_INIT_DOC                                                           \
    "initialisation of the weights: torch = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's " \
    "Linear/Conv default; he_* use gain sqrt(2) on fan_in; xavier_* use fan_in + fan_out"
#define NN_STOCK_LR(DEF)                                                                   \
    {.name = "lr", .type = NN_PARAM_FLOAT, .def = DEF, .range = "[0, inf)",                \
     .doc = "base learning rate; the scheduler and each parameter's lr_mult scale it"}
#define NN_STOCK_L2                                                                        \
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",      \
     .doc = "L2 penalty added to the gradient (times each parameter's weight_decay_mult)"}
#define NN_STOCK_EPS(DEF)                                                                  \
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = DEF, .range = "(0, inf)",               \
     .doc = "added to the denominator for numerical stability; never 0: a weight whose "  \
            "gradient is 0 would divide 0 by 0 and become NaN"}

/* ---- layers ------------------------------------------------------------------------------ */

#define NN_STOCK_DENSE_PARAMS                                                              \
    {.name = "units", .type = NN_PARAM_INT, .range = "[1, 16777216]", .required = 1,       \
     .doc = "number of output features"},                                                  \
    {.name = "bias", .type = NN_PARAM_BOOL, .def = "true", .doc = "add a learned bias"},   \
    {.name = "bias_init", .type = NN_PARAM_ENUM, .def = "fan_in", .choices = "fan_in|zeros", \
     .doc = "bias initialisation: fan_in = U(-1/sqrt(in), 1/sqrt(in)) as PyTorch, or zeros"}, \
    {.name = "activation", .type = NN_PARAM_ENUM, .def = "none",                           \
     .choices = NN_STOCK_ACT_CHOICES, .doc = NN_STOCK_ACT_DOC},                            \
    {.name = "weight_init", .type = NN_PARAM_ENUM, .def = "torch",                         \
     .choices = NN_STOCK_WEIGHT_INIT_CHOICES, .doc = NN_STOCK_WEIGHT_INIT_DOC}

/* the *_DOC strings say how many values each list key takes */
#define NN_STOCK_CONV_PARAMS(KERNEL_DOC, STRIDE_DOC, PADDING_DOC, DILATION_DOC)            \
    {.name = "filters", .type = NN_PARAM_INT, .range = "[1, 1048576]", .required = 1,      \
     .doc = "number of output channels"},                                                  \
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .required = 1,    \
     .doc = KERNEL_DOC},                                                                   \
    {.name = "stride", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",       \
     .doc = STRIDE_DOC},                                                                   \
    {.name = "padding", .type = NN_PARAM_STRING, .def = "0",                               \
     .doc = "zeros added on each side: " PADDING_DOC ", or 'valid' (= 0), or 'same' "      \
            "(output size = ceil(input / stride); an odd total puts the extra zero at "    \
            "the end, as PyTorch and TensorFlow)"},                                        \
    {.name = "dilation", .type = NN_PARAM_INT_LIST, .def = "1", .range = "[1, 65536]",     \
     .doc = DILATION_DOC},                                                                 \
    {.name = "groups", .type = NN_PARAM_INT, .def = "1", .range = "[1, 1048576]",          \
     .doc = "channel groups; must divide both the input channels and 'filters'"},          \
    {.name = "bias", .type = NN_PARAM_BOOL, .def = "true",                                 \
     .doc = "add a learned bias per filter"},                                              \
    {.name = "bias_init", .type = NN_PARAM_ENUM, .def = "fan_in",                          \
     .choices = "fan_in|zeros",                                                            \
     .doc = "bias initialisation: fan_in = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as "         \
            "PyTorch, or zeros"},                                                          \
    {.name = "activation", .type = NN_PARAM_ENUM, .def = "none",                           \
     .choices = NN_STOCK_ACT_CHOICES, .doc = NN_STOCK_ACT_DOC},                            \
    {.name = "weight_init", .type = NN_PARAM_ENUM, .def = "torch",                         \
     .choices = NN_STOCK_WEIGHT_INIT_CHOICES, .doc = NN_STOCK_WEIGHT_INIT_DOC}
#define NN_STOCK_CONV1D_PARAMS                                                             \
    NN_STOCK_CONV_PARAMS("kernel length", "step between windows: 1 value", "1 value",      \
                         "spacing between kernel taps: 1 value")
#define NN_STOCK_CONV2D_PARAMS                                                             \
    NN_STOCK_CONV_PARAMS("kernel size: 1 value (square) or 2 values (height, width)",      \
                         "step between windows: 1 or 2 values (height, width)",            \
                         "1 or 2 values (height, width)",                                  \
                         "spacing between kernel taps: 1 or 2 values (height, width)")

/* Reads an integer-list key of the conv and pooling layers (kernel, stride, dilation, a
 * pool's padding) for sp (1 or 2) spatial dimensions: 1 value for every dimension or sp values
 * into out[0 .. sp - 1]. kind names the plugin in the error. */
static inline int nn_stock_int_list(const nn_params *p, const char *key, int sp, int64_t *out,
                                    const char *kind, nn_error *err)
{
    int n = 0;
    const int64_t *v = nn_params_ints(p, key, &n);
    if (!v || (n != 1 && n != sp))
        return nn_error_set(err, NN_EINVAL, "%s: %s: key '%s' takes 1%s value%s, got %d",
                            nn_params_origin(p), kind, key, sp > 1 ? " or 2" : "",
                            sp > 1 ? "s" : "", n);
    for (int i = 0; i < sp; i++)
        out[i] = v[n == 1 ? 0 : i];
    return NN_OK;
}

/* Reads the conv layers' `padding` key (NN_STOCK_CONV_PARAMS) for sp (1 or 2) spatial
 * dimensions: "same" sets *same = 1 (the amounts depend on the input: resolve them in
 * setup); "valid" is 0; else 1 value for every dimension or sp comma-separated values into
 * pad[0 .. sp - 1]. kind names the plugin in the error. */
static inline int nn_stock_conv_padding(const nn_params *p, int sp, const char *kind, int *same,
                                        int64_t pad[2], nn_error *err)
{
    const char *s = nn_params_str(p, "padding");
    if (!s)
        s = "0";
    *same = strcmp(s, "same") == 0;
    pad[0] = pad[1] = 0;
    if (*same || strcmp(s, "valid") == 0)
        return NN_OK;
    int64_t v[2] = {0, 0};
    int n = 0;
    for (const char *q = s; *q;) {
        char *end;
        errno = 0;
        long long x = strtoll(q, &end, 10);
        if (end == q || errno || x < 0 || x > 1000000 || n >= sp)
            goto bad;
        v[n++] = x;
        while (*end == ' ')
            end++;
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        while (*end == ' ')
            end++;
        q = end;
    }
    if (n == 0)
        goto bad;
    for (int i = 0; i < sp; i++)
        pad[i] = v[n == 1 ? 0 : i];
    return NN_OK;
bad:
    return nn_error_set(err, NN_EINVAL, "%s: %s: key 'padding' = \"%s\": expected 'same', "
                        "'valid' or %s non-negative integer%s", nn_params_origin(p), kind, s,
                        sp > 1 ? "1 or 2 comma-separated" : "one", sp > 1 ? "s" : "");
}

#define NN_STOCK_POOL2D_PARAMS(PAD_WHAT)                                                   \
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]", .required = 1,    \
     .doc = "window size: 1 value (square) or 2 values (height, width)"},                  \
    {.name = "stride", .type = NN_PARAM_INT_LIST, .range = "[1, 65536]",                   \
     .doc = "step between windows: 1 or 2 values; default = kernel"},                      \
    {.name = "padding", .type = NN_PARAM_INT_LIST, .def = "0", .range = "[0, 65536]",      \
     .doc = "implicit " PAD_WHAT " padding on each side: 1 or 2 values, at most half the "  \
            "kernel"}
#define NN_STOCK_MAXPOOL2D_PARAMS NN_STOCK_POOL2D_PARAMS("-inf")
#define NN_STOCK_AVGPOOL2D_PARAMS                                                          \
    NN_STOCK_POOL2D_PARAMS("zero"),                                                        \
    {.name = "count_include_pad", .type = NN_PARAM_BOOL, .def = "true",                    \
     .doc = "divide by the whole window (true) or by the number of real input elements in it " \
            "(false)"}

#define NN_STOCK_BATCHNORM_PARAMS                                                          \
    {.name = "momentum", .type = NN_PARAM_FLOAT, .def = "0.1", .range = "[0, 1]",          \
     .doc = "running statistics update, PyTorch's convention: running = (1 - momentum) * "  \
            "running + momentum * batch (unbiased variance)"},                             \
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-5", .range = "(0, inf)",            \
     .doc = "added to the variance before the square root"},                               \
    {.name = "affine", .type = NN_PARAM_BOOL, .def = "true",                               \
     .doc = "learn a per-channel scale (weight, init 1) and shift (bias, init 0)"},        \
    {.name = "sync", .type = NN_PARAM_BOOL, .def = "false",                                \
     .doc = "data-parallel runs: normalise with the statistics of the whole global batch, " \
            "summed across processes (synchronised batchnorm, exact as one process); false: " \
            "each process uses its own slice's statistics, as PyTorch DDP"}

#define NN_STOCK_LAYERNORM_PARAMS                                                          \
    {.name = "eps", .type = NN_PARAM_FLOAT, .def = "1e-5", .range = "(0, inf)",            \
     .doc = "added to the variance before the square root"},                               \
    {.name = "elementwise_affine", .type = NN_PARAM_BOOL, .def = "true",                   \
     .doc = "learn a scale (weight, init 1) and shift (bias, init 0) per element of the last " \
            "dim"}

#define NN_STOCK_DROPOUT_PARAMS                                                            \
    {.name = "p", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1)",                 \
     .doc = "probability that an element is zeroed in training (the rest are scaled by "   \
            "1 / (1 - p)); evaluation is the identity"}

#define NN_STOCK_EMBEDDING_PARAMS                                                          \
    {.name = "num_embeddings", .type = NN_PARAM_INT, .range = "[1, 2147483647]",           \
     .required = 1,                                                                        \
     .doc = "size of the vocabulary: token ids run from 0 to num_embeddings - 1"},          \
    {.name = "embedding_dim", .type = NN_PARAM_INT, .range = "[1, 16777216]", .required = 1, \
     .doc = "length of each embedding vector (the output's last dimension)"},               \
    {.name = "padding_idx", .type = NN_PARAM_INT, .def = "-1", .range = "[-1, inf)",       \
     .doc = "a token id that embeds as zeros and whose row gets no gradient; -1 = none"}

#define NN_STOCK_LEAKY_RELU_PARAMS                                                         \
    {.name = "negative_slope", .type = NN_PARAM_FLOAT, .def = "0.01", .range = "[0, inf)", \
     .doc = "slope of the line for x <= 0 (PyTorch's LeakyReLU negative_slope)"}
#define NN_STOCK_ELU_PARAMS                                                                \
    {.name = "alpha", .type = NN_PARAM_FLOAT, .def = "1.0", .range = "[0, inf)",           \
     .doc = "value the output approaches for very negative x: y = alpha * (exp(x) - 1)"}
#define NN_STOCK_GELU_PARAMS                                                               \
    {.name = "approximate", .type = NN_PARAM_ENUM, .def = "none", .choices = "none|tanh",  \
     .doc = "none: exact x * Phi(x) with erf (PyTorch's default); tanh: the tanh approximation"}

/* ---- losses ------------------------------------------------------------------------------ */

#define NN_STOCK_CLASS_LOSS_REDUCTION                                                      \
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",     \
     .doc = "mean: sum over samples divided by the summed weights of their classes (the "  \
            "count without weights), or by the count N for probability targets [N, C], as " \
            "PyTorch does; sum: plain sum"}
#define NN_STOCK_CLASS_LOSS_WEIGHT_AND_IGNORE                                              \
    {.name = "weight", .type = NN_PARAM_FLOAT_LIST, .range = "[0, inf)",                   \
     .doc = "optional weight of each class, C values, e.g. \"1, 2.5, 1\"; unset = all 1"}, \
    {.name = "ignore_index", .type = NN_PARAM_INT, .def = "-100", .range = "(-inf, inf)",  \
     .doc = "a target value that contributes neither loss nor gradient (e.g. padding); "  \
            "class ids only: with probability targets it must stay unset, as in PyTorch"}
#define NN_STOCK_CROSS_ENTROPY_PARAMS                                                      \
    NN_STOCK_CLASS_LOSS_REDUCTION,                                                         \
    {.name = "label_smoothing", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",     \
     .doc = "mixes the target with the uniform distribution: (1 - e) one_hot + e / C, or "  \
            "(1 - e) t + e / C for probability targets t (as PyTorch)"},                   \
    NN_STOCK_CLASS_LOSS_WEIGHT_AND_IGNORE
#define NN_STOCK_NLL_PARAMS NN_STOCK_CLASS_LOSS_REDUCTION, NN_STOCK_CLASS_LOSS_WEIGHT_AND_IGNORE

/* nll takes log-probabilities: a softmax layer straight before it gives probabilities, and
 * -p is a loss below zero that trains nothing sensible, silently. Refused in every pack's
 * nll setup from nn_loss_setup's pred_layer and pred_layer_type (ABI 0.10; NULL from an
 * older core or a harness: not checked). returns NN_OK or NN_EINVAL with the way out. */
static inline int nn_stock_nll_check_input(const char *layer, const char *type, nn_error *err)
{
    if (!type || strcmp(type, "softmax") != 0)
        return NN_OK;
    return nn_error_set(err, NN_EINVAL, "nll: its input is layer '%s' (softmax), whose outputs "
                        "are probabilities, but nll takes log-probabilities (it would train on "
                        "-p, a loss below zero); make that layer type = log_softmax, or remove "
                        "it and use the loss cross_entropy on the logits", layer ? layer : "?");
}

/* mse and l1 have this key alone */
#define NN_STOCK_POINTWISE_REDUCTION                                                       \
    {.name = "reduction", .type = NN_PARAM_ENUM, .def = "mean", .choices = "mean|sum",     \
     .doc = "mean: divide the summed loss by the number of elements; sum: plain sum"}
#define NN_STOCK_HUBER_PARAMS                                                              \
    NN_STOCK_POINTWISE_REDUCTION,                                                          \
    {.name = "delta", .type = NN_PARAM_FLOAT, .def = "1.0", .range = "(0, inf)",           \
     .doc = "where the loss turns from 0.5 d^2 to delta * (|d| - 0.5 delta) (PyTorch's "   \
            "HuberLoss)"}
#define NN_STOCK_BCE_WITH_LOGITS_PARAMS                                                    \
    NN_STOCK_POINTWISE_REDUCTION,                                                          \
    {.name = "pos_weight", .type = NN_PARAM_FLOAT_LIST, .range = "[0, inf)",               \
     .doc = "optional weight of the positive term, one value for all or one per class (last " \
            "dimension); > 1 favours recall"}

/* ---- optimizers -------------------------------------------------------------------------- */

#define NN_STOCK_SGD_PARAMS                                                                \
    NN_STOCK_LR("0.01"),                                                                   \
    {.name = "momentum", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",            \
     .doc = "momentum factor (the buffer is momentum * buffer + gradient, as PyTorch's); " \
            "0 turns momentum (and its slot) off; below 1, as at 1 the buffer never "      \
            "forgets a gradient and above it grows without bound"},                        \
    {.name = "dampening", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1]",           \
     .doc = "dampening for momentum: the new gradient enters the buffer times (1 - "       \
            "dampening)"},                                                                 \
    {.name = "nesterov", .type = NN_PARAM_BOOL, .def = "false",                            \
     .doc = "Nesterov momentum (needs momentum > 0 and dampening = 0)"},                   \
    NN_STOCK_L2

/* adam and adamw differ only in weight_decay's default and meaning */
#define NN_STOCK_ADAM_FAMILY(WD_DEFAULT, WD_DOC)                                           \
    NN_STOCK_LR("0.001"),                                                                  \
    {.name = "betas", .type = NN_PARAM_FLOAT_LIST, .def = "0.9, 0.999", .range = "[0, 1)", \
     .doc = "two numbers: decay rates of the running mean of the gradient and of its "     \
            "square"},                                                                     \
    NN_STOCK_EPS("1e-8"),                                                                  \
    {.name = "weight_decay", .type = NN_PARAM_FLOAT, .def = WD_DEFAULT, .range = "[0, inf)", \
     .doc = WD_DOC},                                                                       \
    {.name = "amsgrad", .type = NN_PARAM_BOOL, .def = "false",                             \
     .doc = "use the running maximum of the squared-gradient average (AMSGrad); adds a slot"}
#define NN_STOCK_ADAM_PARAMS                                                               \
    NN_STOCK_ADAM_FAMILY("0", "L2 penalty added to the gradient (times each parameter's "  \
                              "weight_decay_mult); for decoupled decay use the adamw optimizer")
#define NN_STOCK_ADAMW_PARAMS                                                              \
    NN_STOCK_ADAM_FAMILY("0.01", "decoupled weight decay: weights shrink by lr*weight_decay " \
                                 "(times each parameter's lr_mult and weight_decay_mult) "   \
                                 "before each update")

#define NN_STOCK_RMSPROP_PARAMS                                                            \
    NN_STOCK_LR("0.01"),                                                                   \
    {.name = "alpha", .type = NN_PARAM_FLOAT, .def = "0.99", .range = "[0, 1)",            \
     .doc = "smoothing constant of the running mean of the squared gradient"},             \
    NN_STOCK_EPS("1e-8"),                                                                  \
    NN_STOCK_L2,                                                                           \
    {.name = "momentum", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, 1)",            \
     .doc = "momentum factor applied to the normalised step; > 0 adds a slot; below 1, " \
            "as at 1 the buffer never forgets a step"},                                    \
    {.name = "centered", .type = NN_PARAM_BOOL, .def = "false",                            \
     .doc = "normalise by the estimated variance (square mean minus squared mean); adds a " \
            "slot"}

#define NN_STOCK_ADAGRAD_PARAMS                                                            \
    NN_STOCK_LR("0.01"),                                                                   \
    {.name = "lr_decay", .type = NN_PARAM_FLOAT, .def = "0", .range = "[0, inf)",          \
     .doc = "the rate at step t is lr / (1 + (t - 1) * lr_decay)"},                        \
    NN_STOCK_L2,                                                                           \
    {.name = "initial_accumulator_value", .type = NN_PARAM_FLOAT, .def = "0",              \
     .range = "[0, inf)", .doc = "starting value of the sum of squared gradients"},        \
    NN_STOCK_EPS("1e-10")

#endif
